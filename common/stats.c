#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const proc_names[TG_STATS_NPROC] = {"tungate", "tunio", "stackd", "relayd"};

const char *tg_stats_proc_name(int proc)
{
	return proc >= 0 && proc < TG_STATS_NPROC ? proc_names[proc] : "?";
}

int tg_stats_create(const char *path)
{
	struct tg_stats_file hdr = {
	        .magic = TG_STATS_MAGIC, .version = TG_STATS_VERSION, .nproc = TG_STATS_NPROC};
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return -1;
	for (int i = 0; i < TG_STATS_NPROC; i++)
		strncpy(hdr.region[i].proc, proc_names[i], sizeof(hdr.region[i].proc) - 1);
	if (write(fd, &hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
		close(fd);
		return -1;
	}
	return fd;
}

struct tg_stats_region *tg_stats_attach(int fd, enum tg_stats_proc proc)
{
	struct tg_stats_file *f;
	struct stat st;

	if (fd < 0 || proc >= TG_STATS_NPROC || fstat(fd, &st) < 0 ||
	    st.st_size < (off_t)sizeof(*f))
		return NULL;
	f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		return NULL;
	if (f->magic != TG_STATS_MAGIC || f->version != TG_STATS_VERSION) {
		munmap(f, sizeof(*f));
		return NULL;
	}
	f->region[proc].pid = (uint32_t)getpid();
	return &f->region[proc];
}

void tg_stats_publish(struct tg_stats_region *r, const struct tg_stat_def *defs, size_t n,
                      const void *counters)
{
	struct timespec ts;

	if (!r)
		return;
	if (n > TG_STATS_ENTRIES)
		n = TG_STATS_ENTRIES;
	for (size_t i = 0; i < n; i++) {
		uint64_t v;

		memcpy(&v, (const uint8_t *)counters + defs[i].offset, sizeof(v));
		strncpy(r->entry[i].name, defs[i].name, TG_STATS_NAME_LEN - 1);
		r->entry[i].name[TG_STATS_NAME_LEN - 1] = '\0';
		r->entry[i].value = v;
	}
	r->count = (uint32_t)n;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->updated_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copies a name out of the file, keeping only printable characters. */
static void safe_name(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i]; i++)
		dst[i] = (src[i] >= 0x21 && src[i] < 0x7f && src[i] != '"' && src[i] != '\\')
		                 ? src[i]
		                 : '?';
	dst[i] = '\0';
}

static void print_region(const struct tg_stats_region *r, FILE *out, bool json, bool *first)
{
	char proc[sizeof(r->proc) + 1], name[TG_STATS_NAME_LEN + 1];
	uint32_t count = r->count > TG_STATS_ENTRIES ? TG_STATS_ENTRIES : r->count;

	safe_name(proc, r->proc, sizeof(proc));
	if (json) {
		fprintf(out, "%s\n  \"%s\": {\"pid\": %u, \"updated_ms\": %llu", *first ? "" : ",",
		        proc, r->pid, (unsigned long long)r->updated_ms);
		for (uint32_t i = 0; i < count; i++) {
			safe_name(name, r->entry[i].name, sizeof(name));
			fprintf(out, ", \"%s\": %llu", name, (unsigned long long)r->entry[i].value);
		}
		fputc('}', out);
	} else {
		fprintf(out, "%s (pid %u)\n", proc, r->pid);
		for (uint32_t i = 0; i < count; i++) {
			safe_name(name, r->entry[i].name, sizeof(name));
			fprintf(out, "  %-28s %20llu\n", name,
			        (unsigned long long)r->entry[i].value);
		}
	}
	*first = false;
}

int tg_stats_print(const char *path, FILE *out, bool json)
{
	struct tg_stats_file f;
	bool first = true;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, &f, sizeof(f));
	close(fd);
	if (n != (ssize_t)sizeof(f) || f.magic != TG_STATS_MAGIC || f.version != TG_STATS_VERSION) {
		errno = EINVAL;
		return -1;
	}
	if (json)
		fputc('{', out);
	for (int i = 0; i < TG_STATS_NPROC; i++)
		if (f.region[i].pid)
			print_region(&f.region[i], out, json, &first);
	if (json)
		fputs("\n}\n", out);
	return 0;
}

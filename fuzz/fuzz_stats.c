/*
 * fuzz_stats: `tungate stats` reading a counters file (common/stats.c, tg_stats_print). The
 * file is written by the children, and a compromised stackd can write anything into it, so its
 * reader is a parser of untrusted input.
 *
 * The input is the file, read twice: as it is (any size: the size check itself is covered) and
 * cut or zero-padded to exactly the size of a counters file, so that mutations of a valid file
 * keep reaching the region printer. Each is printed as a table and as JSON into memory, and
 * the output must be printable text: names come from the file, and a terminal or a JSON
 * consumer must never see a control character, a quote or a backslash from them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "stats.h"

static void check_text(const char *out, size_t len, bool json)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c != '\n' && (c < 0x20 || c > 0x7e))
			fuzz_fail("stats output byte %zu is %#x", i, c);
	}
	/* JSON: an object, opened and closed; names cannot break out of their quotes. */
	if (json && len > 0 && (out[0] != '{' || len < 3 || strcmp(out + len - 2, "}\n") != 0))
		fuzz_fail("stats JSON output is not one object");
}

static void print_file(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfd_path(data, size, path, sizeof(path));

	for (int json = 0; json < 2; json++) {
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		if (!f)
			fuzz_fail("open_memstream failed");
		if (tg_stats_print(path, f, json) < 0)
			len = 0;
		fclose(f);
		if (len)
			check_text(out, len, json);
		free(out);
	}
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_stats", TG_LOG_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tg_stats_file exact;
	size_t n = size < sizeof(exact) ? size : sizeof(exact);

	print_file(data, size);
	memset(&exact, 0, sizeof(exact));
	memcpy(&exact, data, n);
	print_file((const uint8_t *)&exact, sizeof(exact));
	return 0;
}

/*
 * tungate's side of privilege separation. User names are looked up here, once, so that no
 * child reads /etc/passwd or loads an NSS module: each is told its numeric ids.
 */
#include "privsep.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "sandbox.h"

static const char *const user_keys[TG_NRUN_AS] = {"tunio_user", "stackd_user", "relayd_user"};
static const char *const child_names[TG_NRUN_AS] = {"tunio", "stackd", "relayd"};

int tg_privsep_resolve(struct tg_config *cfg, char *err, size_t errlen)
{
	for (int i = 0; i < TG_NRUN_AS; i++) {
		struct tg_run_as *u = &cfg->run_as[i];
		struct passwd *pw = getpwnam(u->name);

		if (!pw) {
			snprintf(err, errlen,
			         "[privsep] %s: no such user \"%s\" (scripts/install-deps.sh "
			         "creates the default users; \"root\" is for tests only)",
			         user_keys[i], u->name);
			return -1;
		}
		u->uid = pw->pw_uid;
		u->gid = pw->pw_gid;
		if (u->uid == 0)
			log_warnx("[privsep] %s = %s: %s runs as root, for tests only (still "
			          "without capabilities, in its sandbox)",
			          user_keys[i], u->name, child_names[i]);
	}
	for (int i = 0; i < TG_NRUN_AS; i++)
		for (int j = i + 1; j < TG_NRUN_AS; j++)
			if (cfg->run_as[i].uid == cfg->run_as[j].uid && cfg->run_as[i].uid != 0)
				log_warnx("[privsep] %s and %s share uid %u: the two processes are "
				          "not kept apart by user",
				          child_names[i], child_names[j],
				          (unsigned)cfg->run_as[i].uid);
	return 0;
}

int tg_privsep_set_test(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	const char *colon = strchr(value, ':');

	for (int i = 0; colon && i < TG_NRUN_AS; i++) {
		size_t len = strlen(child_names[i]);

		if ((size_t)(colon - value) == len && strncmp(value, child_names[i], len) == 0 &&
		    tg_sandbox_test_known(colon + 1) &&
		    strlen(value) < sizeof(cfg->test_forbidden)) {
			snprintf(cfg->test_forbidden, sizeof(cfg->test_forbidden), "%s", value);
			return 0;
		}
	}
	snprintf(err, errlen,
	         "\"%s\" is not CHILD:CALL (tunio, stackd or relayd; open, socket, unix, netlink, "
	         "exec or setuid)",
	         value);
	return -1;
}

const char *tg_privsep_test_call(const struct tg_config *cfg, const char *child)
{
	size_t len = strlen(child);

	if (strncmp(cfg->test_forbidden, child, len) != 0 || cfg->test_forbidden[len] != ':')
		return NULL;
	return cfg->test_forbidden + len + 1;
}

/* mkdir -p, each component 0755. */
static void mkdirs(const char *path)
{
	char buf[TG_CHROOT_MAX];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			fatal("mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		fatal("mkdir %s", buf);
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (!d)
		fatal("opendir %s", path);
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/*
 * The children's root holds nothing and nobody but root can put anything there: a child
 * that could write to it could leave a file for the next one, or a device node.
 */
static void chroot_prepare(const char *dir)
{
	struct stat st;

	if (*dir == '\0') {
		log_warnx("[privsep] chroot is empty: the children see the whole file system");
		return;
	}
	mkdirs(dir);
	if (lstat(dir, &st) < 0)
		fatal("[privsep] chroot %s", dir);
	if (!S_ISDIR(st.st_mode))
		fatalx("[privsep] chroot %s: not a directory", dir);
	if (st.st_uid != 0 || (st.st_mode & 022))
		fatalx("[privsep] chroot %s: must be owned by root and writable by no one else",
		       dir);
	if (!dir_empty(dir))
		fatalx("[privsep] chroot %s: not empty", dir);
}

/*
 * Beyond the five: CAP_NET_ADMIN while auto-route's routes are in place (removing them at exit
 * needs it: netlink checks the sender's capability, not only the socket opener's), CAP_NET_RAW
 * while relayd sets SO_MARK (a relayd started later gets at most what tungate holds).
 */
static uint64_t extra_caps(const struct tg_config *cfg)
{
	uint64_t caps = 0;

	if (cfg->route_auto != TG_ROUTE_NO)
		caps |= 1ull << CAP_NET_ADMIN;
	if (tg_config_relay_mark(cfg))
		caps |= 1ull << CAP_NET_RAW;
	return caps;
}

void tg_privsep_enter(const struct tg_config *cfg)
{
	chroot_prepare(cfg->chroot_dir);
	if (!cfg->seccomp)
		log_warnx("[privsep] seccomp = no: the children run without system call filters");
	tg_sandbox_tungate(extra_caps(cfg));
}

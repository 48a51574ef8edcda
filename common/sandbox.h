/*
 * Privilege separation: all sandbox policy in one place, one function per process role
 * (docs/security.md). A child calls its function once, at the end of its setup (links
 * attached, events set up), right before its event loop; tungate calls its own once the TUN
 * device, the links and the counters file exist, before it starts the children.
 *
 * A child learns its user and chroot from tungate's "--sandbox SPEC" (tg_sandbox_parse):
 * tungate resolves user names, so no child ever reads /etc/passwd or loads an NSS module.
 */
#ifndef TG_SANDBOX_H
#define TG_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TG_SANDBOX_CALL_MAX 16

struct tg_sandbox {
	uid_t uid; /* (uid_t)-1: keep the current user (a child started by hand) */
	gid_t gid;
	unsigned long nofile; /* RLIMIT_NOFILE; 0: the role's own default */
	bool seccomp;         /* false only when the operator said privsep.seccomp = no */
	char root[PATH_MAX];  /* directory to chroot into; "" for none */
	/*
	 * relayd only, not part of SPEC: keep CAP_NET_RAW for SO_MARK (relayd sets it from its
	 * own --mark). Its socket options are then narrowed (docs/security.md).
	 */
	bool keep_net_raw;
	/* Test only (--test-forbidden): a call to attempt once sandboxed; "" for none. */
	char test_call[TG_SANDBOX_CALL_MAX];
};

/* Defaults for a child started without --sandbox: same user, no chroot, seccomp on. */
void tg_sandbox_init(struct tg_sandbox *sb);

/*
 * "uid=U,gid=G,nofile=N,seccomp=0|1,root=DIR", in that order; root comes last and takes the
 * rest of the text, so a directory may contain commas. Returns 0, or -1 if malformed.
 */
int tg_sandbox_parse(struct tg_sandbox *sb, const char *spec);
/* The SPEC for tg_sandbox_parse; returns -1 if it does not fit in len. */
int tg_sandbox_format(const struct tg_sandbox *sb, char *buf, size_t len);

/*
 * Test only: the forbidden calls a child can be told to attempt (--test-forbidden CALL):
 * open, socket, unix, netlink, exec, setuid. Returns 0, or -1 for an unknown name.
 */
int tg_sandbox_set_test(struct tg_sandbox *sb, const char *call);
bool tg_sandbox_test_known(const char *call);

/*
 * Each applies the whole policy of its role, or exits through fatal(): chdir and chroot,
 * resource limits, groups and ids, no capabilities (checked), the parent-death signal
 * re-armed, no_new_privs, then the role's seccomp filter. Then the test call, if any.
 */
void tg_sandbox_tunio(const struct tg_sandbox *sb);
void tg_sandbox_stackd(const struct tg_sandbox *sb);
void tg_sandbox_relayd(const struct tg_sandbox *sb);

/*
 * tungate, once the device and links exist: keeps only the capabilities it and the children
 * it will (re)start need, in its bounding set too, and sets no_new_privs. extra: a mask of
 * 1 << CAP_x kept as well (CAP_NET_ADMIN for auto-route's removal at exit, CAP_NET_RAW for a
 * relayd that sets SO_MARK).
 */
void tg_sandbox_tungate(uint64_t extra);

#endif

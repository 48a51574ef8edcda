/*
 * All sandbox policy (docs/security.md): what each process keeps once it is set up, and the
 * seccomp list of the system calls it may still make. One function per process role.
 *
 * A child applies its policy in this order, each step while it still has the privilege the
 * step needs: resource limits (raising one needs CAP_SYS_RESOURCE), chroot into an empty
 * directory (CAP_SYS_CHROOT), groups, gid, uid (the kernel clears every capability when the
 * last uid leaves 0; we check that none is left), the parent-death signal again (a change of
 * credentials clears it), not dumpable, no_new_privs, and the seccomp filter last, so that
 * none of the calls above has to be on its list.
 *
 * Seccomp's default action is to kill the process (SIGSYS): a call nobody listed is either a
 * bug, which must be loud (tungate logs "killed by signal 31 (SIGSYS)"), or an exploit at
 * work. Opening a file is the exception: it fails with EPERM, as in OpenSSH's sandbox,
 * because a library may try a file lazily (time zone, locale) and a failed open is harmless
 * where a kill takes the gateway down. Sanitizer builds fail every unlisted call with EPERM
 * instead: ASan's reports read /proc and start a symbolizer, and a process killed halfway
 * through its report would tell nothing.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#if defined(__SANITIZE_ADDRESS__)
#define TG_SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_SANDBOX_SANITIZER 1
#endif
#endif

#ifdef TG_SANDBOX_SANITIZER
#include <sanitizer/common_interface_defs.h>
#define DEFAULT_ACTION SCMP_ACT_ERRNO(EPERM)
#else
#define DEFAULT_ACTION SCMP_ACT_KILL_PROCESS
#endif

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* tunio and stackd hold a dozen fds; a new one is only ever a renewed link's. */
#define NOFILE_SMALL 64

/* One seccomp rule: a system call, allowed always or only when one or two arguments match. */
struct call {
	int nr;
	unsigned argc;
	struct scmp_arg_cmp cmp[2];
};

/* clang-format would take the braces of these initializers for blocks. */
/* clang-format off */
#define ANY(name) {SCMP_SYS(name), 0, {{0, 0, 0, 0}}}
#define CMP(n, how, a, b) {.arg = (n), .op = (how), .datum_a = (a), .datum_b = (b)}
#define IF_ARG(name, n, how, a, b) {SCMP_SYS(name), 1, {CMP(n, how, a, b)}}
#define IF_ARGS(name, n1, how1, a1, b1, n2, how2, a2, b2) \
	{SCMP_SYS(name), 2, {CMP(n1, how1, a1, b1), CMP(n2, how2, a2, b2)}}
/* socket(family, type): a stream or datagram socket of that family, whatever its flags */
#define SOCKET_OF(family, type) \
	IF_ARGS(socket, 0, SCMP_CMP_EQ, (family), 0, 1, SCMP_CMP_MASKED_EQ, 0xf, (type))
/* setsockopt(fd, level, ...) at that level, or at that level but for one option */
#define SOCKOPT_LEVEL(level) ARG_EQ(setsockopt, 1, (level))
#define SOCKOPT_LEVEL_BUT(level, opt) \
	IF_ARGS(setsockopt, 1, SCMP_CMP_EQ, (level), 0, 2, SCMP_CMP_NE, (opt), 0)
#define ARG_EQ(name, n, v)       IF_ARG(name, n, SCMP_CMP_EQ, (v), 0)
#define BITS_CLEAR(name, n, bit) IF_ARG(name, n, SCMP_CMP_MASKED_EQ, (bit), 0)
#define BITS_SET(name, n, bit)   IF_ARG(name, n, SCMP_CMP_MASKED_EQ, (bit), (bit))
/* clang-format on */

/*
 * Every child, once set up: libevent's epoll loop and its signal pipe, malloc, the fds it
 * already holds (TUN, doorbells, control socket, stderr), the clock, its pid for log lines and
 * HELLOs, random numbers (lwIP's ISNs and ports, the flow table's seed), and exit.
 */
static const struct call calls_common[] = {
        ANY(epoll_wait),
        ANY(epoll_pwait),
        ANY(epoll_ctl),
        ANY(read),
        ANY(write),
        ANY(close),
        ANY(rt_sigreturn),
        ANY(rt_sigprocmask),
        ANY(rt_sigaction),
        ANY(restart_syscall),
        ANY(brk),
        ANY(munmap),
        ANY(mremap),
        ANY(madvise),
        /* Memory is never made executable: no new code can be mapped in. */
        BITS_CLEAR(mmap, 2, PROT_EXEC),
        BITS_CLEAR(mprotect, 2, PROT_EXEC),
        ANY(clock_gettime),
        ANY(gettimeofday),
        ANY(time),
        ANY(getpid),
        ANY(gettid),
        ANY(getrandom),
        ANY(exit),
        ANY(exit_group),
        /* A renewed link from tungate: a message carrying fds, a size check, a mapping. */
        ANY(recvmsg),
        ANY(fstat),
        BITS_SET(newfstatat, 3, AT_EMPTY_PATH),
        ARG_EQ(fcntl, 1, F_GETFL),
        ARG_EQ(fcntl, 1, F_SETFL),
        ARG_EQ(fcntl, 1, F_GETFD),
        ARG_EQ(fcntl, 1, F_SETFD),
};

/*
 * relayd: outbound IPv4 and IPv6 stream and datagram sockets (TCP, UDP, ping sockets) and
 * nothing else: no unix, netlink or packet socket, no raw socket (refused with EPERM below,
 * so that the ICMP fallback sees what the kernel would say without CAP_NET_RAW), no bind,
 * listen or accept. Socket options are relayd_sockopts (plain) or relayd_sockopts_net_raw.
 */
static const struct call calls_relayd[] = {
        SOCKET_OF(AF_INET, SOCK_STREAM),
        SOCKET_OF(AF_INET, SOCK_DGRAM),
        SOCKET_OF(AF_INET6, SOCK_STREAM),
        SOCKET_OF(AF_INET6, SOCK_DGRAM),
        ANY(connect),
        ANY(shutdown),
        ANY(getsockopt),
        ANY(getsockname),
        ANY(getpeername),
        ANY(sendto),
        ANY(recvfrom),
        ANY(sendmsg),
        ANY(sendmmsg),
        ANY(recvmmsg),
        /* libevent's bufferevents: readv and writev, each read sized with FIONREAD */
        ANY(readv),
        ANY(writev),
        ARG_EQ(ioctl, 1, FIONREAD),
};

/* Any socket option: relayd without capabilities can set none that needs one. */
static const struct call relayd_sockopts[] = {
        ANY(setsockopt),
};

/*
 * relayd that keeps CAP_NET_RAW for SO_MARK ([relay] mark, docs/security.md): the levels its
 * sockets use, but never IP_TRANSPARENT or IPV6_TRANSPARENT, which the capability would allow
 * and which would let it send from addresses that are not the host's. Any other level kills.
 */
static const struct call relayd_sockopts_net_raw[] = {
        SOCKOPT_LEVEL(SOL_SOCKET),
        SOCKOPT_LEVEL(IPPROTO_TCP),
        SOCKOPT_LEVEL(IPPROTO_UDP),
        SOCKOPT_LEVEL(IPPROTO_ICMPV6),
        SOCKOPT_LEVEL_BUT(IPPROTO_IP, IP_TRANSPARENT),
        SOCKOPT_LEVEL_BUT(IPPROTO_IPV6, IPV6_TRANSPARENT),
};

/* Refused with EPERM instead of a kill: see the top of this file. */
static const struct call calls_eperm[] = {
        ANY(open),
        ANY(openat),
        ANY(openat2),
        ANY(creat),
        /* syslog() reconnecting after syslogd or journald restarted: it fails, quietly */
        SOCKET_OF(AF_UNIX, SOCK_DGRAM),
};

/*
 * [log] target = syslog: send() on the socket openlog() connected before the filter. Without a
 * destination address this is no more than write(), which every child has anyway.
 */
static const struct call calls_syslog[] = {
        ARG_EQ(sendto, 4, 0),
};

/* relayd: a raw socket fails as it would without CAP_NET_RAW, even when relayd has it. */
static const struct call relayd_eperm[] = {
        SOCKET_OF(AF_INET, SOCK_RAW),
        SOCKET_OF(AF_INET6, SOCK_RAW),
};

#ifdef TG_SANDBOX_SANITIZER
/*
 * What an ASan or UBSan report needs to be printed whole and to end. Anything else it tries
 * (isatty, /proc, a symbolizer) fails with EPERM, and its frames show module+offset instead
 * of names.
 */
static const struct call calls_sanitizer[] = {
        /* the unwinder's locks, the report itself */
        ANY(futex),
        ANY(writev),
        ANY(sigaltstack),
        ANY(sched_yield),
};

static volatile int lsan_off;

/*
 * LeakSanitizer's exit-time check stops the process: it clones a tracer task that shares our
 * memory, lists our threads in /proc/PID/task and attaches to them with ptrace (after making
 * us dumpable and naming the tracer with PR_SET_PTRACER). The sandbox rightly denies all of
 * it, and /proc is not in the chroot, so by default it is off in a sandboxed process.
 *
 * TG_SANITIZER_LEAK_CHECK=1 in the environment (the e2e suite sets it; tungate's children
 * inherit it) keeps it on, at a price paid in sanitizer builds only: no chroot, room for the
 * tracer under RLIMIT_NPROC, and calls_leak_check below allowed. Release builds have none of
 * this code. docs/security.md, "Sanitizer builds".
 */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return lsan_off;
}

static bool leak_check_wanted(void)
{
	const char *v = getenv("TG_SANITIZER_LEAK_CHECK");

	return v && strcmp(v, "1") == 0;
}

/* What LeakSanitizer's stop-the-world needs, sanitizer builds with the leak check only. */
static const struct call calls_leak_check[] = {
        ANY(clone),
        ANY(ptrace),
        ANY(prctl),
        ANY(wait4),
        ANY(getdents),
        ANY(getdents64),
        ANY(getppid),
        ANY(lseek),
        ANY(pread64),
        /* /proc/PID/task and /proc/self/maps, read only (open on x86-64, openat elsewhere) */
        IF_ARG(open, 1, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDONLY),
        IF_ARG(openat, 2, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDONLY),
};
#define NPROC_LEAK_CHECK 16 /* each child, and a tracer, per user */
#endif

/* What a role gets beyond calls_common, and its descriptor limit. */
struct policy {
	const char *role;
	unsigned long nofile;
	const struct call *extra;
	size_t nextra;
	const struct call *extra2; /* a second allow list (relayd's socket options) */
	size_t nextra2;
	const struct call *eperm; /* refused with EPERM on top of calls_eperm */
	size_t neperm;
	uint64_t keep_caps; /* capabilities kept through the change of user */
};

/* ---- --sandbox SPEC ----------------------------------------------------------------------- */

void tg_sandbox_init(struct tg_sandbox *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->uid = (uid_t)-1;
	sb->gid = (gid_t)-1;
	sb->seccomp = true;
}

/* "KEY=NUMBER," at *p; moves *p past it. */
static int spec_field(const char **p, const char *key, unsigned long max, unsigned long *out)
{
	size_t klen = strlen(key);
	char *end;

	if (strncmp(*p, key, klen) != 0 || (*p)[klen] != '=')
		return -1;
	*p += klen + 1;
	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	*out = strtoul(*p, &end, 10);
	if (errno || *out > max || *end != ',')
		return -1;
	*p = end + 1;
	return 0;
}

int tg_sandbox_parse(struct tg_sandbox *sb, const char *spec)
{
	unsigned long uid, gid, nofile, sc;
	const char *p = spec;
	size_t len;

	if (spec_field(&p, "uid", 0xfffffffeul, &uid) < 0 ||
	    spec_field(&p, "gid", 0xfffffffeul, &gid) < 0 ||
	    spec_field(&p, "nofile", 1ul << 30, &nofile) < 0 ||
	    spec_field(&p, "seccomp", 1, &sc) < 0 || strncmp(p, "root=", 5) != 0)
		return -1;
	p += 5;
	len = strlen(p);
	if (len >= sizeof(sb->root) || (len && *p != '/'))
		return -1;
	sb->uid = (uid_t)uid;
	sb->gid = (gid_t)gid;
	sb->nofile = nofile;
	sb->seccomp = sc != 0;
	memcpy(sb->root, p, len + 1);
	return 0;
}

int tg_sandbox_format(const struct tg_sandbox *sb, char *buf, size_t len)
{
	int n = snprintf(buf, len, "uid=%u,gid=%u,nofile=%lu,seccomp=%d,root=%s", (unsigned)sb->uid,
	                 (unsigned)sb->gid, sb->nofile, sb->seccomp ? 1 : 0, sb->root);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ---- test only: forbidden calls ------------------------------------------------------------ */

static int try_open(void)
{
	return open("/etc/passwd", O_RDONLY | O_CLOEXEC);
}

static int try_socket(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static int try_unix(void)
{
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static int try_netlink(void)
{
	return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

static int try_exec(void)
{
	static char *const argv[] = {"sh", "-c", "exit 0", NULL};
	static char *const envp[] = {NULL};

	return execve("/bin/sh", argv, envp);
}

static int try_setuid(void)
{
	return setresuid(0, 0, 0);
}

static const struct test_call {
	const char *name;
	int (*attempt)(void);
} test_calls[] = {
        {"open", try_open},       {"socket", try_socket}, {"unix", try_unix},
        {"netlink", try_netlink}, {"exec", try_exec},     {"setuid", try_setuid},
};

static const struct test_call *test_call_find(const char *name)
{
	for (size_t i = 0; i < NITEMS(test_calls); i++)
		if (strcmp(test_calls[i].name, name) == 0)
			return &test_calls[i];
	return NULL;
}

bool tg_sandbox_test_known(const char *call)
{
	return test_call_find(call) != NULL;
}

int tg_sandbox_set_test(struct tg_sandbox *sb, const char *call)
{
	if (!test_call_find(call))
		return -1;
	snprintf(sb->test_call, sizeof(sb->test_call), "%s", call);
	return 0;
}

/* The outcome goes to the log, where tests/e2e/test_sandbox.sh looks for it. */
static void test_forbidden(const char *name)
{
	const struct test_call *t = test_call_find(name);
	int rc;

	if (!t)
		return;
	log_warnx("test: attempting forbidden %s()", t->name);
	rc = t->attempt();
	if (rc < 0) {
		log_warn("test: forbidden %s() failed", t->name);
		return;
	}
	log_warnx("test: forbidden %s() succeeded: the sandbox does not hold", t->name);
	if (rc > 2)
		close(rc);
}

/* ---- the steps -------------------------------------------------------------------------- */

static void limit_set(int resource, const char *name, rlim_t want)
{
	struct rlimit rl = {want, want};

	if (setrlimit(resource, &rl) == 0)
		return;
	/* Raising a hard limit needs CAP_SYS_RESOURCE, which a container may withhold. */
	if (errno != EPERM || getrlimit(resource, &rl) < 0 || rl.rlim_max >= want)
		fatal("setrlimit %s %llu", name, (unsigned long long)want);
	log_warnx("%s: %llu wanted, but the hard limit %llu is all there is", name,
	          (unsigned long long)want, (unsigned long long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(resource, &rl) < 0)
		fatal("setrlimit %s %llu", name, (unsigned long long)rl.rlim_max);
}

/*
 * No core files (they would hold packet data), no fork or thread ever (RLIMIT_NPROC counts
 * the user's processes, so 0 stops the next one; the kernel does not enforce it for root),
 * and a descriptor limit that bounds what a compromised process can hold.
 */
static void limits_apply(const struct policy *p, const struct tg_sandbox *sb)
{
	limit_set(RLIMIT_NOFILE, "RLIMIT_NOFILE", sb->nofile ? sb->nofile : p->nofile);
	limit_set(RLIMIT_CORE, "RLIMIT_CORE", 0);
#ifdef TG_SANDBOX_SANITIZER
	if (leak_check_wanted()) {
		limit_set(RLIMIT_NPROC, "RLIMIT_NPROC", NPROC_LEAK_CHECK);
		return;
	}
#endif
	limit_set(RLIMIT_NPROC, "RLIMIT_NPROC", 0);
}

static void root_enter(const struct tg_sandbox *sb)
{
#ifdef TG_SANDBOX_SANITIZER
	/* LeakSanitizer reads /proc/PID/task, which no chroot has. */
	if (sb->root[0] && leak_check_wanted()) {
		log_warnx("sanitizer build, TG_SANITIZER_LEAK_CHECK=1: no chroot to %s", sb->root);
		if (chdir("/") < 0)
			fatal("chdir /");
		return;
	}
#endif
	if (sb->root[0] && chroot(sb->root) < 0)
		fatal("chroot %s", sb->root);
	if (chdir("/") < 0)
		fatal("chdir /");
}

static void user_enter(const struct tg_sandbox *sb)
{
	uid_t r, e, s;

	if (sb->uid == (uid_t)-1) {
		log_warnx("started without --sandbox: keeping uid %u, no chroot",
		          (unsigned)getuid());
		return;
	}
	if (setgroups(0, NULL) < 0)
		fatal("setgroups");
	if (setresgid(sb->gid, sb->gid, sb->gid) < 0)
		fatal("setresgid %u", (unsigned)sb->gid);
	if (setresuid(sb->uid, sb->uid, sb->uid) < 0)
		fatal("setresuid %u", (unsigned)sb->uid);
	if (getresuid(&r, &e, &s) < 0 || r != sb->uid || e != sb->uid || s != sb->uid)
		fatalx("uid is not %u after setresuid", (unsigned)sb->uid);
}

static void caps_get(struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3])
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

	if (syscall(SYS_capget, &hdr, data) < 0)
		fatal("capget");
}

static void caps_set(const struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3])
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

	if (syscall(SYS_capset, &hdr, data) < 0)
		fatal("capset");
	/* Ambient capabilities exist since Linux 4.3; EINVAL before that means there are none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fatal("PR_CAP_AMBIENT_CLEAR_ALL");
}

/*
 * A non-root uid has no capabilities left (unless keep asked the kernel to keep some through
 * the change); "user = root" (tests) would keep them all, so set them either way to exactly
 * keep (effective and permitted, none inheritable or ambient), then check.
 */
static void caps_keep_only(uint64_t keep)
{
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		data[i].effective = data[i].permitted = (uint32_t)(keep >> (32 * i));
	caps_set(data);
	caps_get(data);
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective != (uint32_t)(keep >> (32 * i)) ||
		    data[i].permitted != data[i].effective || data[i].inheritable)
			fatalx("capabilities are not %#llx after the drop",
			       (unsigned long long)keep);
	if (keep && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fatal("PR_SET_KEEPCAPS 0");
}

/* What the kernel allows from here on. */
static void seccomp_apply(const struct policy *p)
{
	const struct {
		uint32_t action;
		const struct call *calls;
		size_t n;
	} lists[] = {
	        {SCMP_ACT_ALLOW, calls_common, NITEMS(calls_common)},
	        {SCMP_ACT_ALLOW, p->extra, p->nextra},
	        {SCMP_ACT_ALLOW, p->extra2, p->nextra2},
	        {SCMP_ACT_ERRNO(EPERM), calls_eperm, NITEMS(calls_eperm)},
	        {SCMP_ACT_ERRNO(EPERM), p->eperm, p->neperm},
#ifdef TG_SANDBOX_SANITIZER
	        {SCMP_ACT_ALLOW, calls_sanitizer, NITEMS(calls_sanitizer)},
	        {SCMP_ACT_ALLOW, calls_leak_check,
	         leak_check_wanted() ? NITEMS(calls_leak_check) : 0},
#endif
	};
	scmp_filter_ctx ctx;
	int rc;

	/* Only the native architecture: a call through another ABI (int 0x80) is killed. */
	ctx = seccomp_init(DEFAULT_ACTION);
	if (!ctx)
		fatalx("seccomp_init failed");
	/* abort() signals itself: it must die of SIGABRT, as it says, not of SIGSYS. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	                      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (rc < 0)
		fatalx("seccomp: rule for tgkill: %s", strerror(-rc));
	for (size_t l = 0; l < NITEMS(lists); l++) {
		/* libseccomp refuses a rule that repeats the default (EPERM, sanitizer builds). */
		if (lists[l].action == DEFAULT_ACTION)
			continue;
		for (size_t i = 0; i < lists[l].n; i++) {
			const struct call *c = &lists[l].calls[i];

			if (c->nr < 0)
				continue; /* not a system call on this architecture */
			rc = seccomp_rule_add_array(ctx, lists[l].action, c->nr, c->argc, c->cmp);
			if (rc < 0)
				fatalx("seccomp: rule for system call %d: %s", c->nr,
				       strerror(-rc));
		}
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		fatalx("seccomp_load: %s", strerror(-rc));
}

static void sandbox_enter(const struct policy *p, const struct tg_sandbox *sb)
{
	pid_t parent = getppid();
	int deathsig = 0;

	if (prctl(PR_GET_PDEATHSIG, &deathsig) < 0)
		fatal("PR_GET_PDEATHSIG");
	limits_apply(p, sb);
	root_enter(sb);
	/* The permitted set survives setresuid only if asked; the effective set is rebuilt. */
	if (p->keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fatal("PR_SET_KEEPCAPS");
	user_enter(sb);
	caps_keep_only(p->keep_caps);
	/* The new credentials cleared it; tungate may have died in between. */
	if (deathsig && prctl(PR_SET_PDEATHSIG, deathsig) < 0)
		fatal("PR_SET_PDEATHSIG");
	if (getppid() != parent)
		fatalx("parent (pid %d) gone during setup", (int)parent);
	/* No ptrace by the same user, no core dump, /proc/PID owned by root. */
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		fatal("PR_SET_DUMPABLE");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("PR_SET_NO_NEW_PRIVS");
#ifdef TG_SANDBOX_SANITIZER
	/* ASan caches /proc/self/maps now, while it can, for the reports to come. */
	__sanitizer_sandbox_on_notify(NULL);
	lsan_off = !leak_check_wanted();
#endif
	if (sb->seccomp)
		seccomp_apply(p);
	else
		log_warnx("seccomp is off (privsep.seccomp = no)");
	log_debug("%s sandbox: uid %d, gid %d, root %s, nofile %lu, seccomp %s", p->role,
	          (int)sb->uid, (int)sb->gid, sb->root[0] ? sb->root : "(none)",
	          sb->nofile ? sb->nofile : p->nofile, sb->seccomp ? "on" : "off");
	if (sb->test_call[0])
		test_forbidden(sb->test_call);
}

/* ---- one function per role ---------------------------------------------------------------- */

/* tunio: the TUN fd and link A. Reads and writes on fds it has; no socket, no file, no exec. */
void tg_sandbox_tunio(const struct tg_sandbox *sb)
{
	static const struct policy p = {.role = "tunio",
	                                .nofile = NOFILE_SMALL,
	                                .extra = calls_syslog,
	                                .nextra = NITEMS(calls_syslog)};

	sandbox_enter(&p, sb);
}

/*
 * stackd parses every packet from the clients, so it is the likeliest to be compromised: it
 * keeps its two links and nothing else. No socket, no file, no exec.
 */
void tg_sandbox_stackd(const struct tg_sandbox *sb)
{
	static const struct policy p = {.role = "stackd",
	                                .nofile = NOFILE_SMALL,
	                                .extra = calls_syslog,
	                                .nextra = NITEMS(calls_syslog)};

	sandbox_enter(&p, sb);
}

/*
 * relayd: link B and outbound sockets; no file (it resolves no names), no exec. With
 * keep_net_raw ([relay] mark) it keeps CAP_NET_RAW, the one capability SO_MARK accepts besides
 * CAP_NET_ADMIN (Linux 5.17), and its socket options are narrowed (docs/security.md).
 */
void tg_sandbox_relayd(const struct tg_sandbox *sb)
{
	static const struct policy plain = {
	        .role = "relayd",
	        .nofile = 65536,
	        .extra = calls_relayd,
	        .nextra = NITEMS(calls_relayd),
	        .extra2 = relayd_sockopts,
	        .nextra2 = NITEMS(relayd_sockopts),
	        .eperm = relayd_eperm,
	        .neperm = NITEMS(relayd_eperm),
	};
	static const struct policy net_raw = {
	        .role = "relayd",
	        .nofile = 65536,
	        .extra = calls_relayd,
	        .nextra = NITEMS(calls_relayd),
	        .extra2 = relayd_sockopts_net_raw,
	        .nextra2 = NITEMS(relayd_sockopts_net_raw),
	        .eperm = relayd_eperm,
	        .neperm = NITEMS(relayd_eperm),
	        .keep_caps = 1ull << CAP_NET_RAW,
	};

	sandbox_enter(sb->keep_net_raw ? &net_raw : &plain, sb);
}

/*
 * tungate stays root: a child has to start as root to chroot and then take its own user. But
 * once the device exists it needs neither CAP_NET_ADMIN (the TUN, its address) nor
 * CAP_SYS_ADMIN (setns) nor anything else, except:
 *   CAP_KILL                      signals to children that run as other users;
 *   CAP_SETUID, CAP_SETGID,       not for tungate itself: a child it (re)starts gets at most
 *   CAP_SYS_CHROOT,               these at exec, and needs them to raise its descriptor
 *   CAP_SYS_RESOURCE              limit, chroot and drop to its user.
 * They go from the bounding set too, so that no exec brings the others back, and
 * no_new_privs caps every exec at what tungate holds even where the bounding set could not
 * be changed (no CAP_SETPCAP).
 */
void tg_sandbox_tungate(uint64_t extra)
{
	static const int keep[] = {CAP_KILL, CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT,
	                           CAP_SYS_RESOURCE};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uint64_t want = extra, have;
	int r;

	for (size_t i = 0; i < NITEMS(keep); i++)
		want |= 1ull << keep[i];
	for (int cap = 0; cap < 64 && (r = prctl(PR_CAPBSET_READ, cap)) >= 0; cap++) {
		if (r == 0 || (want & (1ull << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap) < 0) {
			if (errno != EPERM)
				fatal("PR_CAPBSET_DROP %d", cap);
			log_warnx("no CAP_SETPCAP: the bounding set stays as it is");
			break;
		}
	}
	caps_get(data);
	have = data[0].permitted | (uint64_t)data[1].permitted << 32;
	want &= have;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		data[i].effective = data[i].permitted = (uint32_t)(want >> (32 * i));
		data[i].inheritable = 0;
	}
	caps_set(data);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("PR_SET_NO_NEW_PRIVS");
	log_debug("supervisor capabilities now %#llx", (unsigned long long)want);
}

/*
 * The sandbox policy (common/sandbox.c), applied for real in a forked child per case: what
 * each role may still do once sandboxed (libevent's loop, malloc, a renewed link handed over
 * with SCM_RIGHTS, relayd's outbound sockets), and that every forbidden call either kills the
 * child with SIGSYS or fails with EPERM. As root the child also takes another user (nobody's
 * uid) and a chroot, and the parent checks /proc/PID/status from outside; as another user
 * those steps are skipped and the rest still runs (no_new_privs and seccomp need no
 * privilege).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "log.h"
#include "sandbox.h"

#define NOBODY 65534

/* A child's verdict on one attempt, as its exit status. */
enum {
	R_DENIED = 0, /* failed with EPERM (or the call was allowed and worked, for allowed) */
	R_SUCCEEDED = 10,
	R_OTHER_ERRNO = 11,
	R_BROKEN = 12, /* the check itself went wrong */
};

typedef void (*sandbox_fn)(const struct tg_sandbox *);

static const struct role {
	const char *name;
	sandbox_fn enter;
} roles[] = {
        {"tunio", tg_sandbox_tunio},
        {"stackd", tg_sandbox_stackd},
        {"relayd", tg_sandbox_relayd},
};

static char chroot_dir[64];

static int setup_chroot(void **state)
{
	if (geteuid() != 0)
		return 0;
	snprintf(chroot_dir, sizeof(chroot_dir), "/tmp/tg-test-sandbox.XXXXXX");
	if (!mkdtemp(chroot_dir) || chmod(chroot_dir, 0755) < 0)
		return -1;
	return 0;
}

static int teardown_chroot(void **state)
{
	if (chroot_dir[0])
		rmdir(chroot_dir);
	return 0;
}

/* As root: nobody's uid and an empty chroot; otherwise the current user, no chroot. */
static void sandbox_for_test(struct tg_sandbox *sb)
{
	tg_sandbox_init(sb);
	sb->nofile = 256; /* relayd's default may be above this machine's hard limit */
	if (geteuid() != 0)
		return;
	sb->uid = NOBODY;
	sb->gid = NOBODY;
	snprintf(sb->root, sizeof(sb->root), "%s", chroot_dir);
}

static int verdict(long rc)
{
	if (rc >= 0)
		return R_SUCCEEDED;
	return errno == EPERM ? R_DENIED : R_OTHER_ERRNO;
}

/*
 * Forks; the child runs prep (its "setup", may be NULL), enters the role's sandbox, runs check
 * and exits with its verdict.
 */
static int run_in_sandbox(const struct role *r, int (*prep)(void *), int (*check)(void *),
                          void *arg)
{
	struct tg_sandbox sb;
	int status;
	pid_t pid;

	sandbox_for_test(&sb);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prep && prep(arg) != 0)
			_exit(R_BROKEN);
		r->enter(&sb);
		_exit(check(arg));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* A forbidden call: killed by SIGSYS, or refused with EPERM. */
static void assert_forbidden(const struct role *r, const char *what, int (*check)(void *),
                             void *arg)
{
	int status = run_in_sandbox(r, NULL, check, arg);

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == R_DENIED)
		return;
	fail_msg("%s: %s was not refused (%s %d)", r->name, what,
	         WIFEXITED(status) ? "exit status" : "signal",
	         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static void assert_allowed(const struct role *r, const char *what, int (*prep)(void *),
                           int (*check)(void *), void *arg)
{
	int status = run_in_sandbox(r, prep, check, arg);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	fail_msg("%s: %s failed in the sandbox (%s %d)", r->name, what,
	         WIFEXITED(status) ? "exit status" : "signal",
	         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* ---- forbidden calls ------------------------------------------------------------------ */

static int do_open(void *arg)
{
	return verdict(open("/etc/passwd", O_RDONLY));
}

static int do_openat_create(void *arg)
{
	return verdict(openat(AT_FDCWD, "x", O_WRONLY | O_CREAT, 0600));
}

static int do_exec(void *arg)
{
	char *const argv[] = {"true", NULL};

	return verdict(execve("/bin/true", argv, argv + 1));
}

static int do_fork(void *arg)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return verdict(pid);
}

static int do_setuid_root(void *arg)
{
	return verdict(setresuid(0, 0, 0));
}

static int do_mmap_exec(void *arg)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return verdict(p == MAP_FAILED ? -1 : 0);
}

static int do_mprotect_exec(void *arg)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return R_BROKEN;
	return verdict(mprotect(p, 4096, PROT_READ | PROT_EXEC));
}

static int do_ptrace(void *arg)
{
	return verdict(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static int do_kill_parent(void *arg)
{
	return verdict(kill(getppid(), 0));
}

static int do_socket(void *arg)
{
	const int *family = arg;

	return verdict(socket(*family, family[1], family[2]));
}

static int do_socket_works(void *arg)
{
	return do_socket(arg) == R_SUCCEEDED ? 0 : R_BROKEN;
}

static const int inet_tcp[] = {AF_INET, SOCK_STREAM, 0};
static const int inet6_udp[] = {AF_INET6, SOCK_DGRAM, 0};
static const int unix_stream[] = {AF_UNIX, SOCK_STREAM, 0};
static const int netlink_route[] = {AF_NETLINK, SOCK_RAW, NETLINK_ROUTE};
static const int packet_raw[] = {AF_PACKET, SOCK_RAW, 0};

static void test_forbidden_everywhere(void **state)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		const struct role *r = &roles[i];

		assert_forbidden(r, "open", do_open, NULL);
		assert_forbidden(r, "openat(O_CREAT)", do_openat_create, NULL);
		assert_forbidden(r, "execve", do_exec, NULL);
		assert_forbidden(r, "fork", do_fork, NULL);
		assert_forbidden(r, "setresuid(0)", do_setuid_root, NULL);
		assert_forbidden(r, "mmap(PROT_EXEC)", do_mmap_exec, NULL);
		assert_forbidden(r, "mprotect(PROT_EXEC)", do_mprotect_exec, NULL);
		assert_forbidden(r, "ptrace", do_ptrace, NULL);
		assert_forbidden(r, "kill", do_kill_parent, NULL);
		assert_forbidden(r, "socket(AF_UNIX)", do_socket, (void *)unix_stream);
		assert_forbidden(r, "socket(AF_NETLINK)", do_socket, (void *)netlink_route);
		assert_forbidden(r, "socket(AF_PACKET)", do_socket, (void *)packet_raw);
	}
}

static int do_abort(void *arg)
{
	abort();
}

/* An abort() (lwIP's assertions) still reads as one: SIGABRT, not SIGSYS. */
static void test_abort_is_sigabrt(void **state)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		int status = run_in_sandbox(&roles[i], NULL, do_abort, NULL);

		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
			fail_msg("%s: abort() ended with status %#x, not SIGABRT", roles[i].name,
			         status);
	}
}

static void test_no_inet_socket_but_relayd(void **state)
{
	assert_forbidden(&roles[0], "socket(AF_INET)", do_socket, (void *)inet_tcp);
	assert_forbidden(&roles[1], "socket(AF_INET)", do_socket, (void *)inet_tcp);
	assert_forbidden(&roles[1], "socket(AF_INET6)", do_socket, (void *)inet6_udp);
}

/* ---- [log] target = syslog: send() on a socket connected before the filter ---------------- */

static int syslog_pair[2] = {-1, -1};

static int prep_pair(void *arg)
{
	return socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, syslog_pair) == 0 ? 0 : -1;
}

static int do_send_connected(void *arg)
{
	return send(syslog_pair[0], "<30>x", 5, 0) == 5 ? 0 : R_BROKEN;
}

/* sendto with an address: a way to reach any socket, which tunio and stackd must not have. */
static int do_sendto_address(void *arg)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};

	return verdict(sendto(syslog_pair[0], "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)));
}

static int do_unix_dgram_eperm(void *arg)
{
	return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) < 0 && errno == EPERM ? 0 : R_BROKEN;
}

/* The real thing: openlog() connected (or, without /dev/log, not), then syslog() lives. */
static int prep_openlog(void *arg)
{
	log_init("test_sandbox", TG_LOG_INFO);
	return log_open_syslog();
}

static int do_syslog(void *arg)
{
	for (int i = 0; i < 3; i++)
		log_warnx("syslog from inside the sandbox %d", i);
	return 0;
}

static void test_syslog_in_sandbox(void **state)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		const struct role *r = &roles[i];

		assert_allowed(r, "send() on a connected socket", prep_pair, do_send_connected,
		               NULL);
		assert_allowed(r, "socket(AF_UNIX, SOCK_DGRAM) fails with EPERM", NULL,
		               do_unix_dgram_eperm, NULL);
		assert_allowed(r, "syslog()", prep_openlog, do_syslog, NULL);
	}
	for (size_t i = 0; i < 2; i++) { /* tunio, stackd */
		int status = run_in_sandbox(&roles[i], prep_pair, do_sendto_address, NULL);

		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) &&
		    !(WIFEXITED(status) && WEXITSTATUS(status) == R_DENIED))
			fail_msg("%s: sendto() with an address was not refused (status %#x)",
			         roles[i].name, status);
	}
}

/* ---- relayd with [relay] mark: CAP_NET_RAW for SO_MARK, and no more ----------------------- */

static void enter_relayd_mark(const struct tg_sandbox *sb)
{
	struct tg_sandbox m = *sb;

	m.keep_net_raw = true;
	tg_sandbox_relayd(&m);
}

static const struct role relayd_mark = {"relayd (mark)", enter_relayd_mark};

static const int inet_raw[] = {AF_INET, SOCK_RAW, IPPROTO_ICMP};
static const int inet6_raw[] = {AF_INET6, SOCK_RAW, IPPROTO_ICMPV6};

/* setsockopt(level, opt, 1) on a fresh UDP socket of family arg[0]. */
static int do_sockopt(void *arg)
{
	const int *a = arg;
	int fd = socket(a[0], SOCK_DGRAM, 0), one = a[3];

	if (fd < 0)
		return R_BROKEN;
	return verdict(setsockopt(fd, a[1], a[2], &one, sizeof(one)));
}

static int do_sockopt_works(void *arg)
{
	return do_sockopt(arg) == R_SUCCEEDED ? 0 : R_BROKEN;
}

static const int so_mark[] = {AF_INET, SOL_SOCKET, SO_MARK, 0x99};
static const int so_mark6[] = {AF_INET6, SOL_SOCKET, SO_MARK, 0x99};
static const int ip_transparent[] = {AF_INET, IPPROTO_IP, IP_TRANSPARENT, 1};
static const int ipv6_transparent[] = {AF_INET6, IPPROTO_IPV6, IPV6_TRANSPARENT, 1};
static const int ip_recverr[] = {AF_INET, IPPROTO_IP, IP_RECVERR, 1};

static void test_relayd_mark(void **state)
{
	const struct role *plain = &roles[2];

	/* Without a mark relayd has no capability: the kernel refuses SO_MARK. */
	assert_forbidden(plain, "SO_MARK without CAP_NET_RAW", do_sockopt, (void *)so_mark);
	assert_forbidden(plain, "socket(SOCK_RAW)", do_socket, (void *)inet_raw);
	if (geteuid() != 0)
		skip(); /* keeping a capability needs one to keep */
	assert_allowed(&relayd_mark, "SO_MARK", NULL, do_sockopt_works, (void *)so_mark);
	assert_allowed(&relayd_mark, "SO_MARK (IPv6)", NULL, do_sockopt_works, (void *)so_mark6);
	assert_allowed(&relayd_mark, "IP_RECVERR", NULL, do_sockopt_works, (void *)ip_recverr);
	assert_allowed(&relayd_mark, "socket(AF_INET, SOCK_STREAM)", NULL, do_socket_works,
	               (void *)inet_tcp);
	/* What CAP_NET_RAW would give besides SO_MARK stays closed. */
	assert_forbidden(&relayd_mark, "socket(AF_INET, SOCK_RAW)", do_socket, (void *)inet_raw);
	assert_forbidden(&relayd_mark, "socket(AF_INET6, SOCK_RAW)", do_socket, (void *)inet6_raw);
	assert_forbidden(&relayd_mark, "socket(AF_PACKET)", do_socket, (void *)packet_raw);
	assert_forbidden(&relayd_mark, "IP_TRANSPARENT", do_sockopt, (void *)ip_transparent);
	assert_forbidden(&relayd_mark, "IPV6_TRANSPARENT", do_sockopt, (void *)ipv6_transparent);
	assert_forbidden(&relayd_mark, "execve", do_exec, NULL);
	assert_forbidden(&relayd_mark, "setresuid(0)", do_setuid_root, NULL);
}

/* ---- what each role still does -------------------------------------------------------- */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(*(int *)arg)++;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	char c;

	if (read(fd, &c, 1) == 1)
		(*(int *)arg)++;
}

struct loop_ctx {
	struct event_base *base;
	int pipe[2];
};

/* As in every child, the event base is made before the sandbox. */
static int prep_event_loop(void *arg)
{
	struct loop_ctx *l = arg;

	l->base = event_base_new();
	return l->base && pipe(l->pipe) == 0 ? 0 : -1;
}

/* ... and then runs a timer and a pipe event inside it. */
static int do_event_loop(void *arg)
{
	struct loop_ctx *l = arg;
	struct timeval tv = {0, 1000};
	int ticks = 0, reads = 0;
	struct event *t = evtimer_new(l->base, on_timer, &ticks);
	struct event *r = event_new(l->base, l->pipe[0], EV_READ | EV_PERSIST, on_readable, &reads);
	char *big;

	if (!t || !r || evtimer_add(t, &tv) < 0 || event_add(r, NULL) < 0 ||
	    write(l->pipe[1], "x", 1) != 1)
		return R_BROKEN;
	while (ticks == 0 || reads == 0)
		if (event_base_loop(l->base, EVLOOP_ONCE) < 0)
			return R_BROKEN;
	event_free(t);
	event_free(r);
	/* malloc's large blocks are mappings: map, grow (mremap), unmap. */
	big = malloc(1 << 20);
	if (!big || !(big = realloc(big, 8 << 20)))
		return R_BROKEN;
	memset(big, 1, 8 << 20);
	free(big);
	return 0;
}

static void test_event_loop(void **state)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct loop_ctx l;

		assert_allowed(&roles[i], "libevent loop and malloc", prep_event_loop,
		               do_event_loop, &l);
	}
}

/* tungate hands a renewed link over: a memfd arrives with SCM_RIGHTS and is mapped. */
static int do_take_fd(void *arg)
{
	int sock = *(int *)arg, fd;
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	struct stat st;
	char *p;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1 || !(cm = CMSG_FIRSTHDR(&mh)) ||
	    cm->cmsg_type != SCM_RIGHTS)
		return R_BROKEN;
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	if (fstat(fd, &st) < 0 || st.st_size != 4096)
		return R_BROKEN;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || p[0] != 'L')
		return R_BROKEN;
	munmap(p, 4096);
	return close(fd) == 0 ? 0 : R_BROKEN;
}

static void send_fd(int sock, int fd)
{
	char byte = 'L', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	assert_int_equal(sendmsg(sock, &mh, 0), 1);
}

static void test_link_handover(void **state)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		int sv[2], fd = memfd_create("tg-test", MFD_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 4096), 0);
		assert_int_equal(pwrite(fd, "L", 1, 0), 1);
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		send_fd(sv[0], fd);
		assert_allowed(&roles[i], "a link handed over", NULL, do_take_fd, &sv[1]);
		close(fd);
		close(sv[0]);
		close(sv[1]);
	}
}

/* relayd: an outbound TCP connection on loopback (to a listener set up before the sandbox). */
static int do_connect(void *arg)
{
	const struct sockaddr_in *to = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, err;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return verdict(fd);
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0 ||
	    send(fd, "hi", 2, 0) != 2 || shutdown(fd, SHUT_WR) < 0)
		return R_BROKEN;
	return close(fd) == 0 ? 0 : R_BROKEN;
}

static void test_relayd_connects(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(lfd >= 0);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(lfd);
		skip(); /* no loopback in this namespace */
	}
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	assert_allowed(&roles[2], "connect to loopback", NULL, do_connect, &sin);
	assert_allowed(&roles[2], "socket(AF_INET6, SOCK_DGRAM)", NULL, do_socket_works,
	               (void *)inet6_udp);
	close(lfd);
}

/* ---- seen from outside ------------------------------------------------------------------ */

static int do_wait(void *arg)
{
	int *p = arg;
	char c;

	if (write(p[1], "r", 1) != 1 || read(p[2], &c, 1) != 1)
		return R_BROKEN;
	return 0;
}

/* "Key:\tVALUE" of /proc/PID/status, the first field only. */
static void status_field(pid_t pid, const char *key, char *out, size_t len)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			sscanf(line + klen + 1, "%63s", out);
	fclose(f);
}

static void test_status_from_outside(void **state)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct tg_sandbox sb;
		int ready[2], go[2], p[3], status;
		char v[64];
		pid_t pid;

		assert_int_equal(pipe(ready), 0);
		assert_int_equal(pipe(go), 0);
		p[1] = ready[1];
		p[2] = go[0];
		sandbox_for_test(&sb);
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			roles[i].enter(&sb);
			_exit(do_wait(p));
		}
		/* Only the child holds these now: a child that died is EOF, not a hang. */
		close(ready[1]);
		close(go[0]);
		assert_int_equal(read(ready[0], v, 1), 1);
		status_field(pid, "NoNewPrivs", v, sizeof(v));
		assert_string_equal(v, "1");
		status_field(pid, "Seccomp", v, sizeof(v));
		assert_string_equal(v, "2");
		status_field(pid, "CapEff", v, sizeof(v));
		assert_string_equal(v, "0000000000000000");
		status_field(pid, "CapPrm", v, sizeof(v));
		assert_string_equal(v, "0000000000000000");
		if (geteuid() == 0) {
			char want[16], path[64], root[256];
			ssize_t n;

			snprintf(want, sizeof(want), "%d", NOBODY);
			status_field(pid, "Uid", v, sizeof(v));
			assert_string_equal(v, want);
			status_field(pid, "Gid", v, sizeof(v));
			assert_string_equal(v, want);
			snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
			n = readlink(path, root, sizeof(root) - 1);
			assert_true(n > 0);
			root[n] = '\0';
			assert_string_equal(root, chroot_dir);
		}
		assert_int_equal(write(go[1], "g", 1), 1);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(ready[0]);
		close(go[1]);
	}
}

/* ---- --sandbox SPEC -------------------------------------------------------------------- */

static void test_spec_round_trip(void **state)
{
	struct tg_sandbox a, b;
	char spec[512];

	tg_sandbox_init(&a);
	a.uid = 995;
	a.gid = 994;
	a.nofile = 65536;
	a.seccomp = false;
	snprintf(a.root, sizeof(a.root), "/run/tungate/empty,with,commas");
	assert_int_equal(tg_sandbox_format(&a, spec, sizeof(spec)), 0);
	assert_string_equal(
	        spec, "uid=995,gid=994,nofile=65536,seccomp=0,root=/run/tungate/empty,with,commas");
	tg_sandbox_init(&b);
	assert_int_equal(tg_sandbox_parse(&b, spec), 0);
	assert_int_equal(b.uid, 995);
	assert_int_equal(b.gid, 994);
	assert_int_equal(b.nofile, 65536);
	assert_false(b.seccomp);
	assert_string_equal(b.root, a.root);
	assert_int_equal(tg_sandbox_parse(&b, "uid=0,gid=0,nofile=0,seccomp=1,root="), 0);
	assert_string_equal(b.root, "");
	assert_true(b.seccomp);
	assert_int_equal(tg_sandbox_format(&a, spec, 20), -1);
}

static void test_spec_rejects(void **state)
{
	static const char *const bad[] = {
	        "",
	        "uid=1,gid=1,nofile=64,seccomp=1",                /* no root= */
	        "gid=1,uid=1,nofile=64,seccomp=1,root=",          /* order */
	        "uid=-1,gid=1,nofile=64,seccomp=1,root=",         /* sign */
	        "uid=4294967295,gid=1,nofile=64,seccomp=1,root=", /* (uid_t)-1 */
	        "uid=1,gid=1,nofile=64,seccomp=2,root=",
	        "uid=1,gid=1,nofile=6x,seccomp=1,root=",
	        "uid=1,gid=1,nofile=64,seccomp=1,root=relative",
	        "uid= 1,gid=1,nofile=64,seccomp=1,root=",
	};
	struct tg_sandbox sb;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tg_sandbox_init(&sb);
		if (tg_sandbox_parse(&sb, bad[i]) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void test_test_calls(void **state)
{
	struct tg_sandbox sb;

	tg_sandbox_init(&sb);
	assert_int_equal(tg_sandbox_set_test(&sb, "socket"), 0);
	assert_string_equal(sb.test_call, "socket");
	assert_true(tg_sandbox_test_known("exec"));
	assert_false(tg_sandbox_test_known("reboot"));
	assert_int_equal(tg_sandbox_set_test(&sb, "reboot"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spec_round_trip),
	        cmocka_unit_test(test_spec_rejects),
	        cmocka_unit_test(test_test_calls),
	        cmocka_unit_test(test_forbidden_everywhere),
	        cmocka_unit_test(test_no_inet_socket_but_relayd),
	        cmocka_unit_test(test_abort_is_sigabrt),
	        cmocka_unit_test(test_syslog_in_sandbox),
	        cmocka_unit_test(test_event_loop),
	        cmocka_unit_test(test_link_handover),
	        cmocka_unit_test(test_relayd_connects),
	        cmocka_unit_test(test_relayd_mark),
	        cmocka_unit_test(test_status_from_outside),
	};

	log_init("test_sandbox", TG_LOG_WARN);
	return cmocka_run_group_tests(tests, setup_chroot, teardown_chroot);
}

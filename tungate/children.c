/*
 * The children's command lines, exactly as docs/CONTRACTS.md has them, and the fds each one
 * inherits: tunio gets the TUN and link A, stackd both links, relayd link B. Nothing else
 * crosses exec.
 */
#include "children.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctl.h"
#include "log.h"
#include "privsep.h"
#include "sandbox.h"
#include "spawn.h"

#define ARGV_MAX 64  /* stackd in TAP mode with every option: about 45 */
#define ARG_LEN  320 /* --sandbox SPEC with a chroot path of up to TG_CHROOT_MAX */
#define KEEP_MAX 12

struct cmdline {
	char *argv[ARGV_MAX + 1];
	char text[ARGV_MAX][ARG_LEN];
	int argc;
	int keep[KEEP_MAX];
	size_t nkeep;
};

static const char *const child_names[TG_NCHILD] = {"tunio", "stackd", "relayd"};
static const char *const level_names[] = {"error", "warning", "info", "debug"};

__attribute__((format(printf, 2, 3))) static void arg(struct cmdline *c, const char *fmt, ...)
{
	va_list ap;

	if (c->argc == ARGV_MAX)
		fatalx("too many arguments for a child"); /* a bug in this file */
	va_start(ap, fmt);
	if (vsnprintf(c->text[c->argc], ARG_LEN, fmt, ap) >= ARG_LEN)
		fatalx("argument too long for a child"); /* a bug in this file */
	va_end(ap);
	c->argv[c->argc] = c->text[c->argc];
	c->argv[++c->argc] = NULL;
}

static void keep(struct cmdline *c, int fd)
{
	if (c->nkeep == KEEP_MAX)
		fatalx("too many fds for a child"); /* a bug in this file */
	c->keep[c->nkeep++] = fd;
}

static void keep_link(struct cmdline *c, const struct tg_shm_link *link)
{
	keep(c, link->memfd);
	keep(c, link->bell[0]);
	keep(c, link->bell[1]);
}

static void arg_link(struct cmdline *c, const char *flag, const struct tg_shm_link *link, int side)
{
	char fds[ARG_LEN];

	tg_links_fdarg(link, side, fds, sizeof(fds));
	arg(c, "%s", flag);
	arg(c, "%s", fds);
	keep_link(c, link);
}

static void arg_stats(struct cmdline *c, const struct tg_child_env *env)
{
	if (env->stats_fd < 0)
		return;
	arg(c, "--stats-fd");
	arg(c, "%d", env->stats_fd);
	keep(c, env->stats_fd);
}

/*
 * --rules-fd FD: the routing table and the upstreams with their credentials, in a sealed
 * memfd rather than on the command line, which every local user can read.
 */
static void arg_rules(struct cmdline *c, int fd)
{
	if (fd < 0)
		return;
	arg(c, "--rules-fd");
	arg(c, "%d", fd);
	keep(c, fd);
}

/* tunio --tun-fd FD --link-a MEMFD,BELL_SELF,BELL_PEER [--log-level L] */
static void cmdline_tunio(struct cmdline *c, const struct tg_child_env *env)
{
	arg(c, "--tun-fd");
	arg(c, "%d", env->tun_fd);
	keep(c, env->tun_fd);
	arg_link(c, "--link-a", env->link_a, 0);
	if (env->cfg->tap)
		arg(c, "--tap");
	arg_stats(c, env);
}

/* TAP mode: stackd's identity on the segment (docs/modes.md). */
static void arg_tap(struct cmdline *c, const struct tg_config *cfg)
{
	unsigned char m[6];
	char ip[INET6_ADDRSTRLEN];

	if (!cfg->tap)
		return;
	tg_config_gateway_mac(cfg, m);
	arg(c, "--tap");
	arg(c, "--gateway-mac");
	arg(c, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	arg(c, "--gateway-ipv4");
	arg(c, "%s/%u", inet_ntop(AF_INET, &cfg->gateway_ipv4, ip, sizeof(ip)),
	    cfg->gateway_prefix);
	if (cfg->has_gateway_ipv6) {
		arg(c, "--gateway-ipv6");
		arg(c, "%s", inet_ntop(AF_INET6, &cfg->gateway_ipv6, ip, sizeof(ip)));
	}
	if (cfg->proxy_arp)
		arg(c, "--proxy-arp");
	if (cfg->proxy_ndp)
		arg(c, "--proxy-ndp");
	if (cfg->router_advertisements)
		arg(c, "--router-advertisements");
}

/* stackd --link-a ... --link-b ... --mtu N [--max-flows N] [--log-level L] */
static void cmdline_stackd(struct cmdline *c, const struct tg_child_env *env)
{
	arg_link(c, "--link-a", env->link_a, 1);
	arg_link(c, "--link-b", env->link_b, 0);
	arg(c, "--mtu");
	arg(c, "%u", env->cfg->mtu);
	arg(c, "--max-flows");
	arg(c, "%u", env->cfg->max_flows);
	arg(c, "--flow-table-full");
	arg(c, "%s", env->cfg->evict_when_full ? "evict" : "refuse");
	arg(c, "--handshake");
	arg(c, "%s", env->cfg->handshake ? "consistent" : "fast");
	arg(c, "--tcp-idle-timeout");
	arg(c, "%u", env->cfg->tcp_idle_timeout);
	arg(c, "--tcp-half-close-timeout");
	arg(c, "%u", env->cfg->tcp_half_close_timeout);
	arg(c, "--udp-timeout");
	arg(c, "%u", env->cfg->udp_timeout);
	arg(c, "--connect-timeout");
	arg(c, "%u", env->cfg->connect_timeout);
	arg_tap(c, env->cfg);
	arg_rules(c, env->rules_stackd_fd);
	arg_stats(c, env);
}

void tg_children_make_rules(struct tg_child_env *env, const struct tg_config *cfg)
{
	struct tg_rules *t = malloc(sizeof(*t));
	char err[600];

	if (!t)
		fatal("malloc");
	if (tg_config_rules(cfg, t, err, sizeof(err)) < 0)
		fatalx("%s", err); /* tg_config_check() passed: cannot happen */
	env->rules_stackd_fd = tg_rules_memfd(t, false);
	env->rules_relayd_fd = tg_rules_memfd(t, true);
	if (env->rules_stackd_fd < 0 || env->rules_relayd_fd < 0)
		fatal("rules memfd");
	log_debug("rules: %u (the default included), %u upstreams", t->nrules, t->nupstreams);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

/* relayd --mark N --bind-interface IFNAME: what its outbound sockets carry (docs/routing.md) */
static void arg_outbound(struct cmdline *c, const struct tg_config *cfg)
{
	unsigned mark = tg_config_relay_mark(cfg);

	if (mark) {
		arg(c, "--mark");
		arg(c, "%u", mark);
	}
	if (cfg->bind_interface[0]) {
		arg(c, "--bind-interface");
		arg(c, "%s", cfg->bind_interface);
	}
	if (cfg->allow_local)
		arg(c, "--allow-local");
}

/* relayd --link-b ... [--connect-timeout SEC] [--log-level L] */
static void cmdline_relayd(struct cmdline *c, const struct tg_child_env *env)
{
	arg_link(c, "--link-b", env->link_b, 1);
	arg(c, "--connect-timeout");
	arg(c, "%u", env->cfg->connect_timeout);
	arg(c, "--udp-timeout");
	arg(c, "%u", env->cfg->udp_timeout);
	arg(c, "--dns-timeout");
	arg(c, "%u", env->cfg->dns_timeout);
	arg_rules(c, env->rules_relayd_fd);
	arg_outbound(c, env->cfg);
	arg_stats(c, env);
}

_Static_assert(TG_CHILD_TUNIO == 0 && TG_CHILD_STACKD == 1 && TG_CHILD_RELAYD == 2 &&
                       TG_NCHILD == TG_NRUN_AS,
               "config.h's run_as[] is indexed by enum tg_child_id");

/* --sandbox uid=U,gid=G,nofile=N,seccomp=0|1,root=DIR [--test-forbidden CALL] */
static void arg_sandbox(struct cmdline *c, enum tg_child_id id, const struct tg_config *cfg)
{
	struct tg_sandbox sb;
	char spec[ARG_LEN];
	const char *test = tg_privsep_test_call(cfg, child_names[id]);

	tg_sandbox_init(&sb);
	sb.uid = cfg->run_as[id].uid;
	sb.gid = cfg->run_as[id].gid;
	sb.nofile = id == TG_CHILD_RELAYD ? cfg->relayd_nofile : 0; /* 0: the role's default */
	sb.seccomp = cfg->seccomp;
	snprintf(sb.root, sizeof(sb.root), "%s", cfg->chroot_dir);
	if (tg_sandbox_format(&sb, spec, sizeof(spec)) < 0)
		fatalx("--sandbox for %s: too long", child_names[id]); /* see TG_CHROOT_MAX */
	arg(c, "--sandbox");
	arg(c, "%s", spec);
	if (test) {
		arg(c, "--test-forbidden");
		arg(c, "%s", test);
	}
}

static void cmdline_build(struct cmdline *c, enum tg_child_id id, const struct tg_child_env *env,
                          int ctl)
{
	static void (*const build[TG_NCHILD])(struct cmdline *, const struct tg_child_env *) = {
	        cmdline_tunio, cmdline_stackd, cmdline_relayd};

	memset(c, 0, sizeof(*c));
	arg(c, "%s", child_names[id]);
	build[id](c, env);
	arg_sandbox(c, id, env->cfg);
	arg(c, "--ctl-fd");
	arg(c, "%d", ctl);
	keep(c, ctl);
	arg(c, "--log-level");
	arg(c, "%s", level_names[env->cfg->log_level]);
	if (env->cfg->log_syslog) {
		arg(c, "--log-target");
		arg(c, "syslog");
	}
}

/*
 * In a build tree the children are next to tungate; an installed tungate (sbin) has them in
 * the libexec directory CMake compiles in (TG_LIBEXEC_DIR). That one is used only when dir is
 * tungate's own directory (no --libexec-dir) and holds no tunio: an explicit dir is kept.
 */
static const char *children_dir(const char *dir)
{
#ifdef TG_LIBEXEC_DIR
	char path[PATH_MAX], exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	snprintf(path, sizeof(path), "%s/%s", dir, child_names[TG_CHILD_TUNIO]);
	if (n <= 0 || access(path, F_OK) == 0)
		return dir;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')))
		*slash = '\0';
	if (strcmp(exe, dir) == 0) {
		log_debug("children not next to tungate in %s: using %s", dir, TG_LIBEXEC_DIR);
		return TG_LIBEXEC_DIR;
	}
#endif
	return dir;
}

void tg_children_init(struct tg_children *kids, const char *dir)
{
	dir = children_dir(dir);
	memset(kids, 0, sizeof(*kids));
	for (int i = 0; i < TG_NCHILD; i++) {
		struct tg_child *k = &kids->child[i];

		k->name = child_names[i];
		k->ctl = -1;
		k->kids = kids;
		if (snprintf(k->path, sizeof(k->path), "%s/%s", dir, k->name) >=
		    (int)sizeof(k->path))
			fatalx("libexec dir %s: path too long", dir);
		if (access(k->path, X_OK) < 0)
			fatal("cannot execute %s (see --libexec-dir)", k->path);
	}
}

/* READY is the only message a child sends; anything else is logged and ignored. */
static void on_child_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct tg_child *k = arg;
	struct tg_ctl_msg m;
	int fds[TG_CTL_MAX_FDS], n;

	while ((n = tg_ctl_recv(fd, &m, fds)) >= 0) {
		for (int i = 0; i < n; i++)
			close(fds[i]);
		if (m.type == TG_CTL_READY) {
			k->ready = true;
			log_debug("%s (pid %d) is ready", k->name, (int)k->pid);
			if (k->kids->on_ready)
				k->kids->on_ready(k, k->kids->ready_arg);
		} else {
			log_warnx("%s: unexpected control message %u", k->name, m.type);
		}
	}
	if (n == -2 && k->ev_ctl)
		event_del(k->ev_ctl); /* it is exiting: SIGCHLD follows */
}

int tg_children_start_one(struct tg_children *kids, enum tg_child_id id,
                          const struct tg_child_env *env)
{
	struct tg_child *k = &kids->child[id];
	struct cmdline c;
	int sv[2];
	pid_t pid;

	/* SEQPACKET keeps message boundaries; EOF tells each side the other is gone. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("%s: control socketpair", k->name);
		return -1;
	}
	cmdline_build(&c, id, env, sv[1]);
	pid = tg_spawn(k->path, c.argv, c.keep, c.nkeep);
	close(sv[1]);
	if (pid < 0) {
		log_warn("cannot start %s", k->path);
		close(sv[0]);
		return -1;
	}
	k->pid = pid;
	k->ctl = sv[0];
	k->ready = false;
	clock_gettime(CLOCK_MONOTONIC, &k->last_start);
	if (kids->base) {
		k->ev_ctl = event_new(kids->base, k->ctl, EV_READ | EV_PERSIST, on_child_ctl, k);
		if (!k->ev_ctl || event_add(k->ev_ctl, NULL) < 0)
			log_warnx("%s: cannot watch its control socket", k->name);
	}
	log_debug("started %s, pid %d", k->name, (int)pid);
	return 0;
}

int tg_children_start(struct tg_children *kids, const struct tg_child_env *env)
{
	for (int i = 0; i < TG_NCHILD; i++)
		if (tg_children_start_one(kids, (enum tg_child_id)i, env) < 0)
			return -1;
	return 0;
}

void tg_children_reaped(struct tg_child *k)
{
	if (k->ev_ctl)
		event_free(k->ev_ctl);
	k->ev_ctl = NULL;
	k->pid = 0;
	if (k->ctl >= 0)
		close(k->ctl);
	k->ctl = -1;
}

void tg_children_send_config(struct tg_children *kids, const struct tg_config *cfg)
{
	struct tg_ctl_msg m = {
	        .magic = TG_CTL_MAGIC,
	        .type = TG_CTL_CONFIG,
	        .config = {.log_level = cfg->log_level,
	                   .tcp_idle_timeout = cfg->tcp_idle_timeout,
	                   .tcp_half_close_timeout = cfg->tcp_half_close_timeout,
	                   .udp_timeout = cfg->udp_timeout,
	                   .dns_timeout = cfg->dns_timeout,
	                   .connect_timeout = cfg->connect_timeout},
	};

	for (int i = 0; i < TG_NCHILD; i++) {
		struct tg_child *k = &kids->child[i];

		if (k->pid > 0 && k->ctl >= 0 && tg_ctl_send(k->ctl, &m, NULL, 0) < 0)
			log_warn("%s: cannot send the new settings", k->name);
	}
}

int tg_children_send_link(struct tg_child *k, unsigned which, const struct tg_shm_link *link,
                          int side)
{
	struct tg_ctl_msg m = {.magic = TG_CTL_MAGIC,
	                       .type = TG_CTL_LINK_RESET,
	                       .link = which,
	                       .epoch = link->epoch};
	int fds[3] = {link->memfd, link->bell[side], link->bell[!side]};

	if (k->pid <= 0 || k->ctl < 0)
		return 0;
	if (tg_ctl_send(k->ctl, &m, fds, 3) < 0) {
		log_warn("%s: cannot hand over link %c", k->name,
		         which == TG_CTL_LINK_A ? 'A' : 'B');
		return -1;
	}
	log_info("%s: handed over link %c, epoch %u", k->name, which == TG_CTL_LINK_A ? 'A' : 'B',
	         link->epoch);
	return 0;
}

struct tg_child *tg_children_find(struct tg_children *kids, pid_t pid)
{
	for (int i = 0; i < TG_NCHILD; i++)
		if (kids->child[i].pid == pid && pid > 0)
			return &kids->child[i];
	return NULL;
}

int tg_children_signal(struct tg_children *kids, int sig)
{
	int running = 0;

	for (int i = 0; i < TG_NCHILD; i++) {
		struct tg_child *k = &kids->child[i];

		if (k->pid <= 0)
			continue;
		running++;
		if (kill(k->pid, sig) < 0 && errno != ESRCH)
			log_warn("kill %s (pid %d)", k->name, (int)k->pid);
	}
	return running;
}

int tg_children_running(const struct tg_children *kids)
{
	int running = 0;

	for (int i = 0; i < TG_NCHILD; i++)
		running += kids->child[i].pid > 0;
	return running;
}

/*
 * The children's command lines, exactly as docs/CONTRACTS.md has them, and the fds each one
 * inherits: tunio gets the TUN and link A, stackd both links, relayd link B. Nothing else
 * crosses exec.
 */
#include "children.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

#define ARGV_MAX 40
#define ARG_LEN  64
#define KEEP_MAX 8

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
	vsnprintf(c->text[c->argc], ARG_LEN, fmt, ap);
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

/* tunio --tun-fd FD --link-a MEMFD,BELL_SELF,BELL_PEER [--log-level L] */
static void cmdline_tunio(struct cmdline *c, const struct tg_child_env *env)
{
	arg(c, "--tun-fd");
	arg(c, "%d", env->tun_fd);
	keep(c, env->tun_fd);
	arg_link(c, "--link-a", env->link_a, 0);
	arg_stats(c, env);
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
	arg_stats(c, env);
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
}

static void cmdline_build(struct cmdline *c, enum tg_child_id id, const struct tg_child_env *env)
{
	static void (*const build[TG_NCHILD])(struct cmdline *, const struct tg_child_env *) = {
	        cmdline_tunio, cmdline_stackd, cmdline_relayd};

	memset(c, 0, sizeof(*c));
	arg(c, "%s", child_names[id]);
	build[id](c, env);
	arg(c, "--log-level");
	arg(c, "%s", level_names[env->cfg->log_level]);
}

void tg_children_init(struct tg_children *kids, const char *dir)
{
	memset(kids, 0, sizeof(*kids));
	for (int i = 0; i < TG_NCHILD; i++) {
		struct tg_child *k = &kids->child[i];

		k->name = child_names[i];
		if (snprintf(k->path, sizeof(k->path), "%s/%s", dir, k->name) >=
		    (int)sizeof(k->path))
			fatalx("libexec dir %s: path too long", dir);
		if (access(k->path, X_OK) < 0)
			fatal("cannot execute %s (see --libexec-dir)", k->path);
	}
}

int tg_children_start(struct tg_children *kids, const struct tg_child_env *env)
{
	struct cmdline c;

	for (int i = 0; i < TG_NCHILD; i++) {
		struct tg_child *k = &kids->child[i];
		pid_t pid;

		cmdline_build(&c, (enum tg_child_id)i, env);
		pid = tg_spawn(k->path, c.argv, c.keep, c.nkeep);
		if (pid < 0) {
			log_warn("cannot start %s", k->path);
			return -1;
		}
		k->pid = pid;
		log_debug("started %s, pid %d", k->name, (int)pid);
	}
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

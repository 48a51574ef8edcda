/*
 * tungate's three children: where their binaries are, the command lines of
 * docs/CONTRACTS.md, and which of them still run.
 */
#ifndef TG_CHILDREN_H
#define TG_CHILDREN_H

#include <limits.h>
#include <sys/types.h>
#include <stdbool.h>
#include <time.h>

struct event_base;
struct event;

#include "config.h"
#include "links.h"

enum tg_child_id { TG_CHILD_TUNIO, TG_CHILD_STACKD, TG_CHILD_RELAYD, TG_NCHILD };

struct tg_children;

struct tg_child {
	struct tg_children *kids;
	const char *name;
	char path[PATH_MAX];
	pid_t pid; /* 0 when not running */
	int ctl;   /* our end of its control socket, -1 when not running */
	struct event *ev_ctl;
	bool ready;             /* said READY since its last start */
	unsigned failed_starts; /* in a row: died before READY */
	unsigned restarts;      /* in a row: died soon after starting (drives the backoff) */
	struct timespec last_start;
};

/* What the children are handed: the TUN fd and both links. */
struct tg_child_env {
	const struct tg_config *cfg;
	int tun_fd;
	const struct tg_shm_link *link_a;
	const struct tg_shm_link *link_b;
	int stats_fd; /* -1: no counters file */
	/* sealed memfds of the routing table (docs/rules.md): stackd's has no credentials */
	int rules_stackd_fd;
	int rules_relayd_fd;
};

struct tg_children {
	struct tg_child child[TG_NCHILD];
	struct event_base *base;                         /* for the control sockets' events */
	void (*on_ready)(struct tg_child *k, void *arg); /* a child said READY */
	void *ready_arg;
};

/* Compiles cfg's rules into the two sealed memfds of env; fatal on failure. */
void tg_children_make_rules(struct tg_child_env *env, const struct tg_config *cfg);

/* Finds the binaries in dir; fatal if one is missing or not executable. */
void tg_children_init(struct tg_children *kids, const char *dir);

/* Starts every child in order; returns 0, or -1 after logging which one failed. */
int tg_children_start(struct tg_children *kids, const struct tg_child_env *env);
/* Starts one child (again); returns 0 or -1 after logging why. */
int tg_children_start_one(struct tg_children *kids, enum tg_child_id id,
                          const struct tg_child_env *env);
/* Forgets a dead child: closes its control socket. */
void tg_children_reaped(struct tg_child *k);
/* Sends the live settings of cfg to every running child (after a reload). */
void tg_children_send_config(struct tg_children *kids, const struct tg_config *cfg);

/* Hands a running child the renewed link `which` (TG_CTL_LINK_A/B) for its side. */
int tg_children_send_link(struct tg_child *k, unsigned which, const struct tg_shm_link *link,
                          int side);

/* The running child with this pid, or NULL. */
struct tg_child *tg_children_find(struct tg_children *kids, pid_t pid);

/* Sends sig to every running child; returns how many are running. */
int tg_children_signal(struct tg_children *kids, int sig);

int tg_children_running(const struct tg_children *kids);

#endif

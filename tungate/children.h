/*
 * tungate's three children: where their binaries are, the command lines of
 * docs/CONTRACTS.md, and which of them still run.
 */
#ifndef TG_CHILDREN_H
#define TG_CHILDREN_H

#include <limits.h>
#include <sys/types.h>

#include "config.h"
#include "links.h"

enum tg_child_id { TG_CHILD_TUNIO, TG_CHILD_STACKD, TG_CHILD_RELAYD, TG_NCHILD };

struct tg_child {
	const char *name;
	char path[PATH_MAX];
	pid_t pid; /* 0 when not running */
};

/* What the children are handed: the TUN fd and both links. */
struct tg_child_env {
	const struct tg_config *cfg;
	int tun_fd;
	const struct tg_shm_link *link_a;
	const struct tg_shm_link *link_b;
	int stats_fd; /* -1: no counters file */
};

struct tg_children {
	struct tg_child child[TG_NCHILD];
};

/* Finds the binaries in dir; fatal if one is missing or not executable. */
void tg_children_init(struct tg_children *kids, const char *dir);

/* Starts every child in order; returns 0, or -1 after logging which one failed. */
int tg_children_start(struct tg_children *kids, const struct tg_child_env *env);

/* The running child with this pid, or NULL. */
struct tg_child *tg_children_find(struct tg_children *kids, pid_t pid);

/* Sends sig to every running child; returns how many are running. */
int tg_children_signal(struct tg_children *kids, int sig);

int tg_children_running(const struct tg_children *kids);

#endif

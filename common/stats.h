/*
 * Counters every process publishes to one small file on tmpfs, so that `tungate stats` (a
 * separate process, maybe much later) can read them without talking to anybody.
 *
 * The file holds one region per process; each region is a self-describing list of
 * (name, value) pairs, so the reader needs no knowledge of any process's counter struct.
 * A process keeps its counters in private memory and publishes them periodically and at
 * exit (tg_stats_publish); readers see values at most one period old.
 *
 * The file is informational only: a compromised child could write nonsense into it, so the
 * reader bounds every name and count it reads and nothing else trusts it.
 */
#ifndef TG_STATS_H
#define TG_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TG_STATS_MAGIC    0x53544754u /* "TGTS" */
#define TG_STATS_VERSION  1u
#define TG_STATS_NAME_LEN 40
#define TG_STATS_ENTRIES  64

enum tg_stats_proc {
	TG_STATS_TUNGATE = 0,
	TG_STATS_TUNIO,
	TG_STATS_STACKD,
	TG_STATS_RELAYD,
	TG_STATS_NPROC
};

struct tg_stats_entry {
	char name[TG_STATS_NAME_LEN];
	uint64_t value;
};

struct tg_stats_region {
	char proc[16];
	uint32_t pid;
	uint32_t count;
	uint64_t updated_ms; /* CLOCK_REALTIME, milliseconds */
	struct tg_stats_entry entry[TG_STATS_ENTRIES];
};

struct tg_stats_file {
	uint32_t magic;
	uint32_t version;
	uint32_t nproc;
	uint32_t reserved;
	struct tg_stats_region region[TG_STATS_NPROC];
};

/* One counter of a process's private counter struct: its name and where it is. */
struct tg_stat_def {
	const char *name;
	size_t offset; /* of a uint64_t in the struct */
};

#define TG_STAT(type, field)                                                                       \
	{                                                                                          \
#field, offsetof(type, field)                                                      \
	}

/* Supervisor: creates (truncates) the file; returns an fd children can inherit, or -1. */
int tg_stats_create(const char *path);

/* "tungate", "tunio", "stackd" or "relayd": the name of region proc (< TG_STATS_NPROC). */
const char *tg_stats_proc_name(int proc);
/* A process maps its own region; NULL on error (stats are optional, never fatal). */
struct tg_stats_region *tg_stats_attach(int fd, enum tg_stats_proc proc);
void tg_stats_publish(struct tg_stats_region *r, const struct tg_stat_def *defs, size_t n,
                      const void *counters);
/* Prints every region of the file as a table or JSON; returns 0, or -1 with errno set. */
int tg_stats_print(const char *path, FILE *out, bool json);

#endif

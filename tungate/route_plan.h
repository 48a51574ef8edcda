/*
 * auto-route's plan (docs/routing.md): the routes and rules to add for a configuration, as a
 * list of items, and the state file that records which of them were added, one line each, so
 * that exactly those are removed at exit, or at the next start after a crash. Nothing here
 * talks to the kernel (route.c does), so the unit tests drive it directly.
 */
#ifndef TG_ROUTE_PLAN_H
#define TG_ROUTE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "prefix.h"

/* Rule priorities: the main table without its default route first, then our table. */
#define TG_ROUTE_PREF_SUPPRESS 7474
#define TG_ROUTE_PREF_TABLE    7475

/* exclusions (the proxies too), routes, and at most four rules */
#define TG_ROUTE_ITEMS_MAX                                                                         \
	(TG_ROUTE_EXCLUDE_MAX + 1 + TG_UPSTREAMS_MAX + TG_ROUTE_PREFIXES_MAX + 2 + 4)
#define TG_ROUTE_LINE_MAX 128

enum tg_route_kind {
	TG_ITEM_ROUTE = 1, /* a route in our table: through the TUN, or a throw (an exclusion) */
	TG_ITEM_RULE = 2,  /* a policy rule (ip rule) */
};

struct tg_route_item {
	enum tg_route_kind kind;
	uint8_t family; /* AF_INET or AF_INET6 */
	uint32_t table;
	/* TG_ITEM_ROUTE */
	struct tg_prefix dst;
	bool throw; /* false: "dev TUN" */
	/* TG_ITEM_RULE: "not fwmark M lookup table" or "lookup table suppress_prefixlength 0" */
	uint32_t pref;
	uint32_t fwmark; /* with invert; 0 for the suppress rule */
	bool suppress;
};

/*
 * The items for cfg, in the order they are added (exclusions, routes, then rules; removal
 * goes backwards). The SOCKS5 servers ([relay] socks5_server, [upstream NAME]) are excluded
 * too, and each address only once. Returns the
 * number of items, 0 when auto-route is off.
 */
size_t tg_route_plan(const struct tg_config *cfg, struct tg_route_item *items, size_t max);

/* One line of the state file, without the newline, e.g. "route 198.18.1.9/32 7474 throw". */
const char *tg_route_item_format(const struct tg_route_item *it, char *buf, size_t len);
/* Returns 0, or -1 for a line that is not an item (the file is checked, never trusted). */
int tg_route_item_parse(const char *line, struct tg_route_item *it);

/* Writes the items to path (a temporary file renamed over it). Returns 0 or -1 (errno). */
int tg_route_state_write(const char *path, const struct tg_route_item *items, size_t n);
/*
 * Reads the items of path into items (at most max; bad lines are skipped and counted in
 * *bad). Returns the number read, or -1 (errno; ENOENT: no file, nothing left over).
 */
int tg_route_state_read(const char *path, struct tg_route_item *items, size_t max, size_t *bad);

#endif

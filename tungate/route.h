/*
 * auto-route ([route] auto, docs/routing.md): routes through the TUN in a table of their own
 * and the policy rules that send every unmarked packet there, added over rtnetlink (libmnl)
 * in the namespace where the TUN lives, recorded in a state file, removed at exit.
 */
#ifndef TG_ROUTE_H
#define TG_ROUTE_H

#include "config.h"

struct tg_route;

/*
 * Removes what a previous tungate of the same device left behind (its state file), then adds
 * the plan's routes and rules. NULL when auto-route is off. Errors are fatal, after removing
 * what was added. Needs CAP_NET_ADMIN, and CAP_SYS_ADMIN with a netns; call it while tungate
 * still has both.
 */
struct tg_route *tg_route_setup(const struct tg_config *cfg, const char *ifname);

/* Removes exactly what setup added (needs CAP_NET_ADMIN still) and the state file. */
void tg_route_teardown(struct tg_route *r);

#endif

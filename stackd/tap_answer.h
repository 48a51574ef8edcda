/*
 * TAP mode: what the gateway answers on its segment beyond lwIP's ARP and neighbour discovery
 * for its own addresses (docs/modes.md): proxy ARP, proxy NDP, router advertisements.
 */
#ifndef TG_STACKD_TAP_ANSWER_H
#define TG_STACKD_TAP_ANSWER_H

#include <stdbool.h>

#include "nd_msg.h"

struct pbuf;
struct stackd;

/*
 * tap_answer.c: a frame from the segment (one contiguous pbuf, past filter_frame), before
 * lwIP sees it. Returns true if it was taken (answered or dropped and counted): the caller
 * frees it; false: it goes on to lwIP.
 */
bool tap_answer_input(struct stackd *sd, struct pbuf *p);

/* nd_router.c: router advertisements, when sd->router_advertisements is set. */
int nd_router_init(struct stackd *sd);
/* A valid router solicitation: an RA goes to the asker after RFC 4861's random delay. */
void nd_router_solicited(struct stackd *sd, const struct nd_solicit *s);
/* stackd stops: a last RA with router lifetime 0 withdraws the default route (6.2.5). */
void nd_router_shutdown(void);

#endif

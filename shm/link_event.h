/*
 * Drives one side of a link from a libevent loop: sleeps on the bell, drains in bounded
 * batches (yielding to other events in between), flushes what the handlers queued, and keeps
 * a slow safety timer that catches a peer stalled on a full ring.
 */
#ifndef TG_LINK_EVENT_H
#define TG_LINK_EVENT_H

#include "link.h"

struct event_base;
struct tg_link_event;

/* Handles up to `budget` received descriptors; returns how many it handled. */
typedef unsigned (*tg_link_drain_fn)(struct tg_link_end *end, unsigned budget, void *arg);

struct tg_link_event *tg_link_event_new(struct event_base *base, struct tg_link_end *end,
                                        tg_link_drain_fn drain, void *arg);
void tg_link_event_free(struct tg_link_event *ev);
/* Call after queueing descriptors from outside the drain handler: they go out this loop turn. */
void tg_link_event_kick(struct tg_link_event *ev);

/*
 * Called when a driven link turns out broken (tg_link_broken()): the link must be replaced.
 * The default exits through fatalx(), so that tungate restarts the process on new links;
 * NULL restores it. The handler may free the link's driver (and replace the link).
 */
typedef void (*tg_link_broken_fn)(struct tg_link_end *end);
void tg_link_event_set_broken_handler(tg_link_broken_fn fn);

#endif

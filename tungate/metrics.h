/*
 * [metrics] listen: a Prometheus text endpoint (GET /metrics) served by the supervisor with
 * libevent's evhttp on its own loop. tungate is the one process that is not sandboxed and sees
 * everything: the counters file every child publishes into, the links' rings, and the
 * children's restarts. The socket is bound in tungate's own network namespace (with --netns
 * the TUN lives elsewhere; the endpoint does not).
 */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <event2/event.h>

#include "children.h"
#include "links.h"

struct tg_metrics;

/* What a scrape reads; every pointer stays valid as long as the metrics. */
struct tg_metrics_src {
	int stats_fd; /* the counters file; -1: none */
	const struct tg_shm_link *link_a;
	const struct tg_shm_link *link_b;
	const struct tg_children *kids;
};

/*
 * Binds listen ("A.B.C.D:PORT" or "[v6]:PORT"). Returns NULL with a message in err when the
 * address cannot be bound.
 */
struct tg_metrics *tg_metrics_start(struct event_base *base, const char *listen,
                                    const struct tg_metrics_src *src, char *err, size_t errlen);
/* A child died and will be restarted: tungate_child_restarts_total moves. */
void tg_metrics_child_died(struct tg_metrics *m, enum tg_child_id id);
void tg_metrics_free(struct tg_metrics *m);

#endif

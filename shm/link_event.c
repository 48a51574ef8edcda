#include "link_event.h"

#include <stdlib.h>

#include <event2/event.h>

#include "log.h"

#define DRAIN_BUDGET      256 /* descriptors per turn before other events get a go */
#define SAFETY_TIMER_MSEC 20

struct tg_link_event {
	struct tg_link_end *end;
	tg_link_drain_fn drain;
	void *arg;
	struct event *bell;
	/*
	 * A zero-timeout timer, not event_active(): libevent runs events activated from a
	 * callback in the same pass, so a side that cannot make progress would spin there and
	 * starve I/O, timers and signals. A timer waits for the next pass, after polling.
	 */
	struct event *work;
	struct event *safety; /* periodic: retries pending sends, catches stalls */
};

/*
 * A broken link (a ring header overwritten by the peer, link.c) does nothing any more, so a
 * process has no use for it: it exits, and tungate restarts it on new links, which resets the
 * peer's links too. The message is what the operator sees; stats.resets_requested counted it.
 */
static void exit_for_reset(struct tg_link_end *end)
{
	fatalx("link (epoch %u): the peer overwrote a ring header: exiting so that tungate "
	       "replaces the link",
	       tg_link_epoch(end));
}

static tg_link_broken_fn broken_handler = exit_for_reset;

void tg_link_event_set_broken_handler(tg_link_broken_fn fn)
{
	broken_handler = fn ? fn : exit_for_reset;
}

static void schedule(struct tg_link_event *lev)
{
	static const struct timeval now = {0, 0};

	if (!evtimer_pending(lev->work, NULL))
		evtimer_add(lev->work, &now);
}

static void run(struct tg_link_event *lev)
{
	unsigned done = lev->drain(lev->end, DRAIN_BUDGET, lev->arg);

	tg_link_flush(lev->end);
	if (tg_link_broken(lev->end)) {
		broken_handler(lev->end);
		return;
	}
	if (done >= DRAIN_BUDGET) {
		schedule(lev);
		return;
	}
	/* Drained: announce sleep, unless something arrived in the meantime. */
	if (!tg_link_prepare_sleep(lev->end))
		schedule(lev);
}

static void on_bell(evutil_socket_t fd, short what, void *arg)
{
	struct tg_link_event *lev = arg;

	tg_link_wake(lev->end);
	run(lev);
}

static void on_work(evutil_socket_t fd, short what, void *arg)
{
	run(arg);
}

static void on_safety(evutil_socket_t fd, short what, void *arg)
{
	struct tg_link_event *lev = arg;

	if (tg_link_tx_pending(lev->end) || tg_link_rx_ready(lev->end))
		run(lev);
}

struct tg_link_event *tg_link_event_new(struct event_base *base, struct tg_link_end *end,
                                        tg_link_drain_fn drain, void *arg)
{
	struct tg_link_event *lev = calloc(1, sizeof(*lev));
	struct timeval tv = {0, SAFETY_TIMER_MSEC * 1000};

	if (!lev)
		return NULL;
	lev->end = end;
	lev->drain = drain;
	lev->arg = arg;
	lev->bell = event_new(base, tg_link_bell_fd(end), EV_READ | EV_PERSIST, on_bell, lev);
	lev->work = evtimer_new(base, on_work, lev);
	lev->safety = event_new(base, -1, EV_PERSIST, on_safety, lev);
	if (!lev->bell || !lev->work || !lev->safety || event_add(lev->bell, NULL) < 0 ||
	    event_add(lev->safety, &tv) < 0) {
		tg_link_event_free(lev);
		return NULL;
	}
	/* Whatever the peer queued before we attached is handled at once. */
	schedule(lev);
	return lev;
}

void tg_link_event_free(struct tg_link_event *lev)
{
	if (!lev)
		return;
	if (lev->bell)
		event_free(lev->bell);
	if (lev->work)
		event_free(lev->work);
	if (lev->safety)
		event_free(lev->safety);
	free(lev);
}

void tg_link_event_kick(struct tg_link_event *lev)
{
	schedule(lev);
}

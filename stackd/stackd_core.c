/*
 * What every stackd module shares: the process state, flow ids, and the two calls that end a
 * unit of work (re-arm lwIP's timer, flush both links). Kept apart from stackd.c, which holds
 * the process setup and main loop, so that the fuzzers (fuzz/) link all of stackd but main().
 */
#include <event2/event.h>

#include "lwip/timeouts.h"

#include "offload.h"
#include "stackd.h"
#include "syn_hold.h"
#include "udp_flow.h"

struct stackd stackd;
static uint32_t next_flow_id = 1;

uint32_t stackd_alloc_flow_id(void)
{
	/* Ids are never reused while in use; a wrap after 2^32 flows skips live ones. */
	while (next_flow_id == 0 || tcp_flow_owns(next_flow_id) || udp_flow_owns(next_flow_id) ||
	       syn_hold_owns(next_flow_id))
		next_flow_id++;
	return next_flow_id++;
}

void stackd_lwip_timer_update(void)
{
	u32_t ms = sys_timeouts_sleeptime();
	struct timeval tv;

	if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
		evtimer_del(stackd.lwip_timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(stackd.lwip_timer, &tv);
}

void stackd_flush_links(void)
{
	offload_tx_flush(&stackd); /* the open TCP super-packet, if any, goes with this flush */
	udp_flow_flush_batches();  /* and the open UDP batches (udp_flow.c) */
	tg_link_flush(stackd.link_a);
	tg_link_flush(stackd.link_b);
}

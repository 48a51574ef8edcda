/*
 * Link B's receive side in stackd: checks each message's shape (which types carry a slot),
 * copies slot payloads out of shared memory, and routes the message to its owner: ICMP echo
 * replies, UDP flows, held SYNs (consistent handshake) or TCP flows.
 */
#include <string.h>

#include "icmp.h"
#include "log.h"
#include "proto.h"
#include "stackd.h"
#include "syn_hold.h"
#include "udp_flow.h"

static bool carries_slot(uint16_t type)
{
	return type == TG_MSG_DATA || type == TG_MSG_UDP || type == TG_MSG_UDP_ERROR ||
	       type == TG_MSG_ICMP_ECHO || type == TG_MSG_UDP_BATCH;
}

static void on_echo_reply(struct stackd *sd, const uint8_t *slot, uint32_t len)
{
	struct tg_msg_udp m;

	if (len < sizeof(m)) {
		sd->ctr.drop_bad_msg++;
		return;
	}
	memcpy(&m, slot, sizeof(m));
	icmp_echo_reply(sd, &m, slot + sizeof(m), len - (uint32_t)sizeof(m));
}

static void dispatch(struct stackd *sd, const struct tg_desc *d, const uint8_t *slot)
{
	if (d->type == TG_MSG_ICMP_ECHO) {
		on_echo_reply(sd, slot, d->len);
		return;
	}
	if (udp_flow_dispatch(d, slot))
		return;
	if (d->type == TG_MSG_OPEN_RESULT && syn_hold_result(d->flow, d->arg))
		return;
	if (d->type == TG_MSG_UDP || d->type == TG_MSG_UDP_ERROR || d->type == TG_MSG_UDP_BATCH) {
		/* A datagram for a flow stackd forgot: crossed a CLOSED in flight. */
		return;
	}
	tcp_flow_dispatch(d, slot);
}

unsigned flow_link_drain(struct tg_link_end *end, unsigned budget, void *arg)
{
	struct stackd *sd = arg;
	struct tg_desc d[TG_LINK_BURST];
	unsigned n, total = 0;

	while (total < budget && (n = tg_link_recv(end, d, TG_LINK_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			if (!sd->hello_b) {
				struct tg_msg_hello h;

				if (tg_hello_check(end, &d[i], TG_ROLE_RELAYD, &h) < 0)
					fatalx("link B: relayd's HELLO failed, giving up");
				sd->relay_window = h.window;
				sd->relay_udp_batch = h.version_max >= TG_PROTO_VERSION_UDP_BATCH;
				sd->hello_b = true;
				continue;
			}
			if ((d[i].slot != TG_NO_SLOT) != carries_slot(d[i].type))
				sd->ctr.drop_bad_msg++;
			else
				dispatch(sd, &d[i],
				         d[i].slot != TG_NO_SLOT ? tg_link_peer_slot(end, d[i].slot)
				                                 : NULL);
			if (d[i].slot != TG_NO_SLOT)
				tg_link_release(end, d[i].slot);
		}
		total += n;
	}
	tcp_flow_retry_waiting();
	stackd_flush_links();
	stackd_lwip_timer_update();
	return total;
}

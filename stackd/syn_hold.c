/*
 * Every client SYN passes here first, before lwIP sees it: the routing rules (docs/rules.md)
 * decide whether it is rejected (RST at once, relayd never hears of it) and which handshake
 * mode its flow gets.
 *
 * The consistent handshake: a client's SYN is held here, before lwIP sees it, until relayd
 * reports how its own connect to the destination ended. Success re-injects the SYN, so lwIP
 * answers SYN-ACK only for destinations that really accepted; refusal answers RST|ACK;
 * unreachable answers ICMP unreachable; a timeout answers nothing. Retransmitted SYNs are
 * swallowed while the question is open. No lwIP change is needed for any of it.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"

#include "flow_table.h"
#include "icmp.h"
#include "log.h"
#include "lwip_addr.h"
#include "proto.h"
#include "stackd.h"
#include "syn_hold.h"

#define HOLD_BUCKETS 1024u
/*
 * Held SYNs at once. Beyond, a new SYN drops the oldest one relayd has not answered yet (a SYN
 * flood's, most likely: a real destination answers within a round trip); only when every one
 * is approved is the new SYN refused with RST.
 */
#define HOLD_MAX     4096u
#define SYN_MAX_LEN  512u /* IP + TCP headers with options; a SYN carries no more */
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

struct held_syn {
	uint32_t flow;
	bool approved; /* relayd connected; the SYN went to lwIP; waiting for accept */
	struct tg_addr client;
	struct tg_addr dst;
	uint32_t isn;
	time_t since;
	uint32_t len;
	uint8_t pkt[SYN_MAX_LEN];
	struct held_syn *next;
	struct flow_lru age; /* on pending_head while relayd has not answered */
};

static struct stackd *sd;
static struct held_syn *buckets[HOLD_BUCKETS];
static struct flow_table by_flow; /* flow id -> held SYN, for relayd's answers */
static struct flow_lru pending_head;
static unsigned held_count;

static struct held_syn **find_slot(const struct tg_addr *client, const struct tg_addr *dst)
{
	struct held_syn **pp = &buckets[lwip_addr_pair_hash(client, dst, HOLD_BUCKETS)];

	while (*pp && (memcmp(&(*pp)->client, client, sizeof(*client)) != 0 ||
	               memcmp(&(*pp)->dst, dst, sizeof(*dst)) != 0))
		pp = &(*pp)->next;
	return pp;
}

static struct held_syn *find_flow(uint32_t flow)
{
	return flow_table_get(&by_flow, flow);
}

static void unlink_held(struct held_syn *h)
{
	struct held_syn **pp = find_slot(&h->client, &h->dst);

	if (*pp == h)
		*pp = h->next;
	flow_table_del(&by_flow, h->flow);
	flow_lru_remove(&h->age);
	sd->ctr.syns_held = --held_count;
	free(h);
}

/*
 * The table is full: the oldest SYN still waiting for relayd goes, silently, and relayd drops
 * its connect. False if every held SYN is approved already.
 */
static bool evict_oldest_pending(void)
{
	struct flow_lru *n = flow_lru_oldest(&pending_head);
	struct held_syn *h;
	struct tg_desc d = {.slot = TG_NO_SLOT, .type = TG_MSG_RESET};

	if (!n)
		return false;
	h = (struct held_syn *)(void *)((char *)n - offsetof(struct held_syn, age));
	d.flow = h->flow;
	/* Without a word to relayd its connect would have no owner: keep the SYN instead. */
	if (tg_link_send(sd->link_b, &d) < 0)
		return false;
	sd->ctr.half_open_evicted++;
	unlink_held(h);
	return true;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses a bare SYN (no ACK); returns false for anything else. */
static bool parse_syn(const uint8_t *pkt, uint32_t len, struct tg_addr *client, struct tg_addr *dst,
                      uint32_t *isn)
{
	const uint8_t *tcp;
	unsigned version = pkt[0] >> 4;

	memset(client, 0, sizeof(*client));
	memset(dst, 0, sizeof(*dst));
	if (version == 4) {
		unsigned ihl = (pkt[0] & 0x0f) * 4u;

		if (pkt[9] != 6 || len < ihl + 20 || (pkt[6] & 0x3f) || pkt[7])
			return false;
		client->family = dst->family = TG_AF_INET4;
		memcpy(client->ip, pkt + 12, 4);
		memcpy(dst->ip, pkt + 16, 4);
		tcp = pkt + ihl;
	} else if (version == 6) {
		if (pkt[6] != 6 || len < 40 + 20)
			return false;
		client->family = dst->family = TG_AF_INET6;
		memcpy(client->ip, pkt + 8, 16);
		memcpy(dst->ip, pkt + 24, 16);
		tcp = pkt + 40;
	} else {
		return false;
	}
	if ((tcp[13] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return false;
	client->port = (uint16_t)(tcp[0] << 8 | tcp[1]);
	dst->port = (uint16_t)(tcp[2] << 8 | tcp[3]);
	*isn = rd32(tcp + 4);
	return dst->port != 0;
}

/*
 * A SYN for the four-tuple of a connection lwIP keeps in TIME_WAIT (lwIP closed first, as when
 * the server ends an HTTP/1.0 exchange): lwIP answers it, as RFC 793 says, with an ACK of the
 * old connection; the client resets and its connect() waits for a SYN retransmit, 1 s and more,
 * until TIME_WAIT ends. A client closing many short connections reuses its ports within
 * seconds (wrk -c64 with Connection: close: one SYN in eight). Like the Linux kernel (RFC 1122
 * 4.2.2.13, RFC 6191), a SYN whose sequence number lies beyond the old connection's is a new
 * connection: the TIME_WAIT pcb goes (no segment, no callback: lwIP just frees it), and lwIP
 * takes the SYN like any other.
 *
 * lwIP finds a segment's pcb by walking lists, and every SYN walks the whole TIME_WAIT list
 * (here and in lwIP's input): at thousands of connections a second, 2 s of TIME_WAIT is ~10,000
 * pcbs and the walks became most of stackd's CPU. Like the kernel's tcp_max_tw_buckets, the
 * list is capped: beyond TIME_WAIT_MAX the oldest (at the tail: lwIP adds at the head) go. All
 * that loses is the ACK of a late retransmitted FIN, answered with RST instead.
 */
#define TIME_WAIT_MAX 512u

static void reuse_time_wait(const struct tg_addr *client, const struct tg_addr *dst, uint32_t isn)
{
	ip_addr_t local, remote;
	struct tcp_pcb *pcb, *next;
	unsigned n = 0;

	lwip_addr_from_tg(&local, dst);
	lwip_addr_from_tg(&remote, client);
	for (pcb = tcp_tw_pcbs; pcb; pcb = next) {
		next = pcb->next;
		if (++n > TIME_WAIT_MAX) {
			tcp_abort(pcb);
			sd->ctr.time_wait_dropped++;
			continue;
		}
		if (pcb->local_port != dst->port || pcb->remote_port != client->port ||
		    !ip_addr_cmp(&pcb->local_ip, &local) || !ip_addr_cmp(&pcb->remote_ip, &remote))
			continue;
		if (TCP_SEQ_GT(isn, pcb->rcv_nxt)) {
			tcp_abort(pcb);
			sd->ctr.time_wait_reused++;
		}
		return;
	}
}

static void send_rst(const struct held_syn *h)
{
	ip_addr_t local, remote;

	lwip_addr_from_tg(&local, &h->dst);
	lwip_addr_from_tg(&remote, &h->client);
	/* RST|ACK acknowledging the SYN: the client's connect() fails with ECONNREFUSED. */
	tcp_rst(NULL, 0, h->isn + 1, &local, &remote, h->dst.port, h->client.port);
}

static void reinject(const struct held_syn *h)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)h->len, PBUF_RAM);

	if (!p)
		return;
	memcpy(p->payload, h->pkt, h->len);
	if (sd->netif->input(p, sd->netif) != ERR_OK)
		pbuf_free(p);
	tcp_flow_claim_half_open();
}

static bool send_open(const struct held_syn *h)
{
	struct tg_msg_open m = {.src = h->client, .dst = h->dst, .proto = 6};

	return tg_link_send_copy(sd->link_b, TG_MSG_TCP_OPEN, h->flow, TG_OPEN_CONSISTENT, &m,
	                         sizeof(m)) == 0;
}

/* The rule's mode, or [stack] handshake for a rule that names none. */
static uint32_t rule_mode(const struct tg_rule *r)
{
	if (r->handshake == TG_RULE_HS_FAST)
		return TG_OPEN_FAST;
	if (r->handshake == TG_RULE_HS_CONSISTENT)
		return TG_OPEN_CONSISTENT;
	return sd->handshake;
}

bool syn_hold_input(const uint8_t *pkt, uint32_t len)
{
	struct tg_addr client, dst;
	struct held_syn **pp, *h;
	const struct tg_rule *rule;
	bool table_full;
	uint32_t isn;

	if (!parse_syn(pkt, len, &client, &dst, &isn))
		return false;
	reuse_time_wait(&client, &dst, isn);
	pp = find_slot(&client, &dst);
	if (*pp) {
		if ((*pp)->approved)
			return false; /* lwIP owns the handshake now; it handles duplicates */
		sd->ctr.syn_retransmits_held++;
		return true;
	}
	rule = &sd->rules.rule[tg_rules_match(&sd->rules, IP_PROTO_TCP, &dst)];
	if (rule->action == TG_RULE_REJECT) {
		struct held_syn tmp = {.client = client, .dst = dst, .isn = isn};

		sd->ctr.rule_rejected++;
		send_rst(&tmp);
		return true;
	}
	if (rule_mode(rule) != TG_OPEN_CONSISTENT)
		return false; /* fast: lwIP answers SYN-ACK, tcp_flow.c tells relayd */
	if (len > SYN_MAX_LEN || !sd->hello_b) {
		sd->ctr.drop_malformed++;
		return true;
	}
	/*
	 * A full table refuses here, before any held SYN is given up for this one; with
	 * flow_table_full = evict, room is made only once relayd approves (flow_new), so that a
	 * flood of SYNs that are never approved does not reset idle established flows.
	 */
	table_full = tcp_flow_count() >= sd->max_flows && !sd->evict_when_full;
	if (!table_full && held_count >= HOLD_MAX && evict_oldest_pending())
		pp = find_slot(&client, &dst); /* the chain may have lost its last entry */
	h = table_full || held_count >= HOLD_MAX ? NULL : calloc(1, sizeof(*h));
	if (!h) {
		struct held_syn tmp = {.client = client, .dst = dst, .isn = isn};

		sd->ctr.flows_refused++;
		send_rst(&tmp);
		return true;
	}
	h->flow = stackd_alloc_flow_id();
	h->client = client;
	h->dst = dst;
	h->isn = isn;
	h->since = time(NULL);
	h->len = len;
	memcpy(h->pkt, pkt, len);
	if (flow_table_put(&by_flow, h->flow, h) < 0 || !send_open(h)) {
		flow_table_del(&by_flow, h->flow);
		free(h);
		sd->ctr.flows_refused++;
		return true;
	}
	flow_lru_init(&h->age);
	flow_lru_touch(&pending_head, &h->age);
	h->next = *pp;
	*pp = h;
	sd->ctr.syns_held = ++held_count;
	return true;
}

bool syn_hold_result(uint32_t flow, uint32_t result)
{
	struct held_syn *h = find_flow(flow);

	if (!h || h->approved)
		return h != NULL;
	switch (result) {
	case TG_OPEN_OK:
		if (tcp_flow_prepare(h->flow) < 0) {
			struct tg_desc d = {
			        .slot = TG_NO_SLOT, .flow = h->flow, .type = TG_MSG_RESET};

			tg_link_send(sd->link_b, &d);
			sd->ctr.flows_refused++;
			send_rst(h);
			unlink_held(h);
			return true;
		}
		h->approved = true;
		h->since = time(NULL);
		flow_lru_remove(&h->age);
		reinject(h);
		return true;
	case TG_OPEN_UNREACHABLE:
		icmp_send_unreachable(sd, &h->dst, &h->client, 6, ICMP_UNREACH_HOST, h->isn);
		break;
	case TG_OPEN_TIMEOUT:
		/* Say nothing: the client's own connect timeout decides, as with a dead host. */
		break;
	default:
		send_rst(h);
		break;
	}
	sd->ctr.flows_reset_relay++;
	unlink_held(h);
	return true;
}

uint32_t syn_hold_take(const struct tg_addr *client, const struct tg_addr *dst)
{
	struct held_syn **pp = find_slot(client, dst);
	uint32_t flow;

	if (!*pp || !(*pp)->approved)
		return 0;
	flow = (*pp)->flow;
	unlink_held(*pp);
	return flow;
}

bool syn_hold_owns(uint32_t flow)
{
	return held_count > 0 && find_flow(flow) != NULL;
}

void syn_hold_sweep(time_t now)
{
	/* relayd answers within its connect timeout; a client that never completes the
	   handshake after approval leaves a connected upstream socket that must be reset. */
	time_t limit = (time_t)sd->connect_timeout + 5;

	for (unsigned b = 0; b < HOLD_BUCKETS; b++) {
		struct held_syn *h = buckets[b];

		while (h) {
			struct held_syn *next = h->next;

			if (now - h->since > limit) {
				/*
				 * An approved SYN's flow may be gone already: relayd reset it, or
				 * the TCP idle sweep did and told relayd. Either way relayd knows;
				 * a second RESET would name a flow it has forgotten.
				 */
				if (h->approved && tcp_flow_owns(h->flow)) {
					struct tg_desc d = {.slot = TG_NO_SLOT,
					                    .flow = h->flow,
					                    .type = TG_MSG_RESET};

					tg_link_send(sd->link_b, &d);
					tcp_flow_forget_pending(h->flow);
				}
				unlink_held(h);
			}
			h = next;
		}
	}
}

void syn_hold_clear(void)
{
	for (unsigned b = 0; b < HOLD_BUCKETS; b++)
		while (buckets[b])
			unlink_held(buckets[b]);
}

void syn_hold_init(struct stackd *s)
{
	sd = s;
	if (sd->rules.nrules == 0)
		tg_rules_default(&sd->rules); /* no --rules-fd (or a test harness): all direct */
	flow_lru_init(&pending_head);
	if (flow_table_init(&by_flow, HOLD_MAX) < 0)
		fatalx("syn_hold: out of memory");
}

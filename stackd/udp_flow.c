/*
 * UDP flows: every datagram lwIP's wildcard pcb receives belongs to the flow of its
 * (client address, client port, destination address, destination port); the first datagram
 * creates the flow and its id. Datagrams cross link B whole, as UDP messages; relayd keeps the
 * NAT table with its timeouts and sends CLOSED when it expires a flow, which makes stackd
 * forget it too (a sweep here catches a flow relayd never mentioned again).
 *
 * Batching (udp_batch.h): when relayd speaks UDP_BATCH, the datagrams of one flow that arrive
 * in one pass over link A share the flow's open slot, which goes out when it is full or when
 * the pass ends (stackd_flush_links(), which flushes link B right after): a burst costs one
 * slot per ~46 MTU-sized datagrams instead of one each, and nothing waits for a timer. A lone
 * datagram still leaves as a plain UDP message.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include "flow_table.h"
#include "icmp.h"
#include "log.h"
#include "lwip_addr.h"
#include "proto.h"
#include "stackd.h"
#include "tg_lwip.h"
#include "udp_batch.h"
#include "udp_flow.h"

#define TUPLE_BUCKETS 4096u
/* flow_table_full = evict takes only a flow idle for more than a second (time()'s clock). */
#define EVICT_MIN_IDLE 2

struct udp_flow {
	uint32_t id;
	struct tg_addr client;
	struct tg_addr dst;
	time_t last_used;
	struct udp_flow *tuple_next;
	struct flow_lru lru; /* place among the flows by last use */
	/* The open batch of this pass, if any (batch_open): slot and writer, on the batch list. */
	bool batch_open;
	uint32_t batch_slot;
	struct tg_udp_batch_writer batch;
	struct udp_flow *batch_next;
	struct udp_flow **batch_prev;
};

static struct stackd *sd;
static struct udp_pcb *any_pcb;
static struct flow_table by_id;
static struct udp_flow *by_tuple[TUPLE_BUCKETS];
static struct flow_lru lru_head; /* least recently used first */
/* The flows with an open batch (this pass over link A). */
static struct udp_flow *batch_head;

static void batch_unlink(struct udp_flow *f)
{
	*f->batch_prev = f->batch_next;
	if (f->batch_next)
		f->batch_next->batch_prev = f->batch_prev;
	f->batch_open = false;
}

/* The flow ends before its batch went out: those datagrams are lost. */
static void batch_discard(struct udp_flow *f)
{
	if (!f->batch_open)
		return;
	batch_unlink(f);
	tg_link_unalloc(sd->link_b, f->batch_slot);
	sd->ctr.drop_udp_no_slot += f->batch.count;
}

/* Sends the open batch: a UDP_BATCH, or a plain UDP message if it holds one datagram. */
static void batch_close(struct udp_flow *f)
{
	uint16_t type;

	if (!f->batch_open)
		return;
	batch_unlink(f);
	type = tg_udp_batch_send(sd->link_b, f->id, f->batch_slot, &f->batch);
	if (type == TG_MSG_NONE) {
		sd->ctr.drop_udp_no_slot += f->batch.count;
		return;
	}
	sd->ctr.udp_up += f->batch.count;
	if (type == TG_MSG_UDP_BATCH)
		sd->ctr.udp_batches_up++;
}

void udp_flow_flush_batches(void)
{
	while (batch_head)
		batch_close(batch_head);
}

static struct udp_flow *find_tuple(const struct tg_addr *client, const struct tg_addr *dst)
{
	struct udp_flow *f = by_tuple[lwip_addr_pair_hash(client, dst, TUPLE_BUCKETS)];

	while (f && (memcmp(&f->client, client, sizeof(*client)) != 0 ||
	             memcmp(&f->dst, dst, sizeof(*dst)) != 0))
		f = f->tuple_next;
	return f;
}

static void forget(struct udp_flow *f)
{
	struct udp_flow **pp = &by_tuple[lwip_addr_pair_hash(&f->client, &f->dst, TUPLE_BUCKETS)];

	while (*pp && *pp != f)
		pp = &(*pp)->tuple_next;
	if (*pp)
		*pp = f->tuple_next;
	batch_discard(f);
	flow_table_del(&by_id, f->id);
	flow_lru_remove(&f->lru);
	sd->ctr.udp_flows_open--;
	free(f);
}

static void touch(struct udp_flow *f)
{
	f->last_used = time(NULL);
	flow_lru_touch(&lru_head, &f->lru);
}

/* Room for a new flow: below max_flows, or (evict) the least recently used idle one goes. */
static bool make_room(void)
{
	struct flow_lru *oldest;
	struct udp_flow *f;
	struct tg_desc d = {.slot = TG_NO_SLOT, .type = TG_MSG_CLOSED};

	if (by_id.count < sd->max_flows)
		return true;
	if (!sd->evict_when_full || !(oldest = flow_lru_oldest(&lru_head)))
		return false;
	f = (struct udp_flow *)(void *)((char *)oldest - offsetof(struct udp_flow, lru));
	if (time(NULL) - f->last_used < EVICT_MIN_IDLE)
		return false;
	/* relayd closes its socket for it; the client's next datagram makes a new flow. */
	d.flow = f->id;
	if (tg_link_send(sd->link_b, &d) < 0)
		return false;
	sd->ctr.flows_evicted++;
	forget(f);
	return true;
}

static struct udp_flow *create(const struct tg_addr *client, const struct tg_addr *dst)
{
	struct udp_flow *f;
	uint32_t h;

	if (!make_room() || !(f = calloc(1, sizeof(*f)))) {
		sd->ctr.flows_refused++;
		return NULL;
	}
	f->id = stackd_alloc_flow_id();
	f->client = *client;
	f->dst = *dst;
	flow_lru_init(&f->lru);
	if (flow_table_put(&by_id, f->id, f) < 0) {
		free(f);
		sd->ctr.flows_refused++;
		return NULL;
	}
	h = lwip_addr_pair_hash(client, dst, TUPLE_BUCKETS);
	f->tuple_next = by_tuple[h];
	by_tuple[h] = f;
	sd->ctr.udp_flows_open++;
	sd->ctr.udp_flows_total++;
	return f;
}

/*
 * A new flow's first datagram meets the routing rules (docs/rules.md): a reject rule answers
 * ICMP administratively prohibited, and relayd never hears of the flow.
 */
static bool rule_rejects(const struct tg_addr *client, const struct tg_addr *dst)
{
	uint32_t i = tg_rules_match(&sd->rules, IPPROTO_UDP, dst);

	if (sd->rules.rule[i].action != TG_RULE_REJECT)
		return false;
	sd->ctr.rule_rejected++;
	icmp_send_unreachable(sd, dst, client, IPPROTO_UDP, ICMP_UNREACH_ADMIN, 0);
	return true;
}

static bool dst_is_unicast(const ip_addr_t *dst)
{
	if (IP_IS_V6(dst))
		return !ip6_addr_ismulticast(ip_2_ip6(dst));
	return !ip4_addr_ismulticast(ip_2_ip4(dst)) &&
	       !ip4_addr_isbroadcast_u32(ip_2_ip4(dst)->addr, sd->netif);
}

/*
 * A datagram into the flow's open batch; when it does not fit, the batch goes out and a new
 * one starts. Without UDP_BATCH (relayd speaks version 1) or for a datagram too large for a
 * record, the batch holds just it. False when no slot is free: the datagram is dropped.
 */
static bool batch_append(struct udp_flow *f, struct pbuf *p)
{
	struct tg_msg_udp m = {.src = f->client, .dst = f->dst};
	uint32_t slot_size = tg_link_slot_size(sd->link_b);
	uint8_t *at;

	if (f->batch_open && (at = tg_udp_batch_reserve(&f->batch, p->tot_len)) != NULL) {
		pbuf_copy_partial(p, at, p->tot_len, 0);
		return true;
	}
	batch_close(f);
	if ((f->batch_slot = tg_link_alloc(sd->link_b)) == TG_NO_SLOT)
		return false;
	tg_udp_batch_start(&f->batch, tg_link_slot(sd->link_b, f->batch_slot), slot_size, &m);
	if (p->tot_len + sizeof(m) + TG_UDP_BATCH_REC_HDR > slot_size) {
		/* Only as a plain UDP message (on_udp_recv checked that it fits one). */
		uint8_t *out = tg_link_slot(sd->link_b, f->batch_slot);
		struct tg_desc d = {.slot = f->batch_slot, .flow = f->id, .type = TG_MSG_UDP};

		d.len = (uint32_t)sizeof(m) + pbuf_copy_partial(p, out + sizeof(m), p->tot_len, 0);
		if (tg_link_send(sd->link_b, &d) < 0) {
			tg_link_unalloc(sd->link_b, d.slot);
			return false;
		}
		sd->ctr.udp_up++;
		return true;
	}
	pbuf_copy_partial(p, tg_udp_batch_reserve(&f->batch, p->tot_len), p->tot_len, 0);
	f->batch_open = true;
	f->batch_next = batch_head;
	f->batch_prev = &batch_head;
	if (batch_head)
		batch_head->batch_prev = &f->batch_next;
	batch_head = f;
	/* Without UDP_BATCH the batch closes at once: one datagram, one UDP message. */
	if (!sd->relay_udp_batch)
		batch_close(f);
	return true;
}

static void on_udp_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                        u16_t port)
{
	const ip_addr_t *dst_ip = ip_current_dest_addr();
	struct tg_addr client, dst;
	struct udp_flow *f;

	if (!sd->hello_b) {
		sd->ctr.drop_udp_no_slot++; /* relayd is (re)starting */
		goto done;
	}
	if (!dst_is_unicast(dst_ip) || tg_lwip_udp_current_dest_port() == 0) {
		sd->ctr.drop_udp_not_unicast++;
		goto done;
	}
	if (p->tot_len + sizeof(struct tg_msg_udp) > tg_link_slot_size(sd->link_b)) {
		sd->ctr.drop_udp_too_big++;
		goto done;
	}
	lwip_addr_to_tg(&client, addr, port);
	lwip_addr_to_tg(&dst, dst_ip, tg_lwip_udp_current_dest_port());
	f = find_tuple(&client, &dst);
	if (!f && rule_rejects(&client, &dst))
		goto done;
	if (!f && !(f = create(&client, &dst)))
		goto done;
	touch(f);
	/* udp_up is counted when the datagram's slot goes out (batch_close). */
	if (!batch_append(f, p))
		sd->ctr.drop_udp_no_slot++;
done:
	pbuf_free(p);
}

/* A datagram from relayd: m->src is the remote end (the original destination), m->dst the client.
 */
static void deliver(struct udp_flow *f, const struct tg_msg_udp *m, const uint8_t *data,
                    uint32_t len)
{
	ip_addr_t src, dst;
	struct pbuf *p;

	if (len > 0xffff - 8 || m->src.family != m->dst.family || !tg_addr_valid(&m->src)) {
		sd->ctr.drop_bad_msg++;
		return;
	}
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (!p) {
		sd->ctr.drop_udp_no_slot++;
		return;
	}
	memcpy(p->payload, data, len);
	lwip_addr_from_tg(&src, &m->src);
	lwip_addr_from_tg(&dst, &m->dst);
	if (tg_lwip_udp_send_from(any_pcb, p, &src, m->src.port, &dst, m->dst.port) == ERR_OK)
		sd->ctr.udp_down++;
	else
		sd->ctr.drop_udp_no_slot++;
	pbuf_free(p);
	touch(f);
}

/* Several datagrams from relayd: checked whole first, then delivered in order. */
static void deliver_batch(struct udp_flow *f, const struct tg_desc *d, const uint8_t *slot)
{
	struct tg_udp_batch_reader r;
	struct tg_msg_udp m;
	const uint8_t *data;
	uint32_t len;

	if (!slot || tg_udp_batch_check(slot, d->len, d->arg, &m) != TG_UDP_BATCH_OK ||
	    memcmp(&m.dst, &f->client, sizeof(m.dst)) != 0) {
		sd->ctr.drop_bad_msg++;
		return;
	}
	sd->ctr.udp_batches_down++;
	tg_udp_batch_read(&r, slot, d->len, d->arg, &m);
	while (tg_udp_batch_next(&r, &data, &len))
		deliver(f, &m, data, len);
}

static enum icmp_unreach unreach_kind(uint32_t result)
{
	return result == TG_OPEN_REFUSED ? ICMP_UNREACH_PORT : ICMP_UNREACH_HOST;
}

bool udp_flow_dispatch(const struct tg_desc *d, const uint8_t *slot)
{
	struct udp_flow *f = flow_table_get(&by_id, d->flow);
	struct tg_msg_udp m;

	if (!f)
		return false;
	switch (d->type) {
	case TG_MSG_UDP_BATCH:
		deliver_batch(f, d, slot);
		return true;
	case TG_MSG_UDP:
	case TG_MSG_UDP_ERROR:
		if (!slot || d->len < sizeof(m)) {
			sd->ctr.drop_bad_msg++;
			return true;
		}
		memcpy(&m, slot, sizeof(m));
		/* relayd answers for this flow only: the client end must be the flow's. */
		if (memcmp(&m.dst, &f->client, sizeof(m.dst)) != 0) {
			sd->ctr.drop_bad_msg++;
			return true;
		}
		if (d->type == TG_MSG_UDP)
			deliver(f, &m, slot + sizeof(m), d->len - (uint32_t)sizeof(m));
		else
			icmp_send_unreachable(sd, &f->dst, &f->client, IPPROTO_UDP,
			                      unreach_kind(d->arg), 0);
		return true;
	case TG_MSG_CLOSED:
	case TG_MSG_RESET:
		forget(f);
		return true;
	default:
		sd->ctr.drop_bad_msg++;
		return true;
	}
}

static void sweep_one(uint32_t id, void *flow, void *arg)
{
	struct udp_flow *f = flow;
	time_t *cutoff = arg;

	if (f->last_used < *cutoff)
		forget(f);
}

void udp_flow_sweep(time_t now)
{
	/* relayd expires flows after udp_timeout; twice that here only catches lost messages. */
	time_t cutoff = now - 2 * (time_t)sd->udp_timeout;

	flow_table_foreach(&by_id, sweep_one, &cutoff);
}

static void forget_one(uint32_t id, void *flow, void *arg)
{
	forget(flow);
}

void udp_flow_forget_all(void)
{
	/* Open batches are in the old link's slots: forget() hands them back. */
	flow_table_foreach(&by_id, forget_one, NULL);
}

void udp_flow_shutdown_all(void)
{
	flow_table_foreach(&by_id, forget_one, NULL);
	flow_table_destroy(&by_id);
	if (any_pcb)
		udp_remove(any_pcb);
	any_pcb = NULL;
}

bool udp_flow_owns(uint32_t id)
{
	return flow_table_get(&by_id, id) != NULL;
}

int udp_flow_init(struct stackd *s)
{
	sd = s;
	flow_lru_init(&lru_head);
	if (flow_table_init(&by_id, s->max_flows) < 0)
		return -1;
	any_pcb = tg_lwip_udp_bind_any();
	if (!any_pcb)
		return -1;
	udp_recv(any_pcb, on_udp_recv, NULL);
	return 0;
}

/*
 * TCP flows: every connection lwIP accepts (any destination, see the accept-any patch)
 * becomes a flow on link B. This file owns the mapping between lwIP pcbs and flow ids, and
 * the flow control of both directions:
 *
 *   client -> relayd: lwIP's receive window is opened (tcp_recved) only when relayd grants
 *   CREDIT, so at most one window per flow waits in stackd; bytes that have credit but no
 *   link slot wait in `up` until slots come back.
 *
 *   relayd -> client: DATA goes into lwIP's send buffer as far as it fits; the rest waits in
 *   `down`, which can never exceed the window stackd offered. CREDIT goes back as bytes
 *   enter lwIP.
 *
 * A flow ends with RESET either way, or cleanly: SHUT_WR both ways, then relayd's CLOSED.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/ip_addr.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include "flow_table.h"
#include "log.h"
#include "lwip_addr.h"
#include "proto.h"
#include "stackd.h"
#include "syn_hold.h"
#include "tg_lwip.h"

#define CREDIT_BATCH (STACKD_WINDOW / 4)
/*
 * With this much sent and not yet acknowledged, bytes from relayd are queued in lwIP without
 * sending them at once: the client's next ACK runs tcp_input(), which ends in tcp_output(),
 * and sends them then. A server's data reaches relayd in small pieces (a few KiB, as its
 * pacing releases them); sent one by one, each would cost a super-packet, a TUN write and an
 * ACK of its own. Queued behind the ACK clock they leave in bursts as large as what each ACK
 * frees. Below the threshold (an interactive flow, the start of a transfer) nothing waits.
 */
#define OUTPUT_DEFER_INFLIGHT (64u * 1024u)
/* flow_table_full = evict takes only a flow idle for more than a second (time()'s clock). */
#define EVICT_MIN_IDLE 2
/*
 * Handshakes lwIP answered (SYN_RCVD) that the client has not completed. lwIP has no SYN
 * cookies and keeps such a pcb 20 s: under a SYN flood the newest SYN drops the oldest
 * half-open one, so a real client, whose handshake completes within a round trip, gets through.
 */
#define HALF_OPEN_MAX 1024

struct tcp_flow {
	uint32_t id;
	struct tcp_pcb *pcb; /* NULL once lwIP freed it or we closed it */
	/* client -> relayd */
	struct tg_bytebuf up; /* received, not yet in a link slot */
	uint32_t up_credit;   /* bytes relayd still accepts */
	bool client_fin;      /* the client sent FIN */
	bool shut_sent;       /* SHUT_WR went to relayd */
	/* relayd -> client */
	struct tg_bytebuf down; /* from relayd, not yet in lwIP */
	uint32_t down_unacked;  /* bytes relayd sent that we have not credited yet */
	uint32_t credit_due;    /* bytes that entered lwIP, to credit back */
	bool relay_fin;         /* relayd sent SHUT_WR */
	bool tx_shut;           /* we shut lwIP's sending side (FIN to the client) */
	bool relay_closed;      /* relayd sent CLOSED */
	bool open_pending;      /* fast mode: TCP_OPEN waits for a link B slot */
	bool waiting;           /* on the list of flows waiting for link B slots */
	time_t last_active;     /* for the idle timeouts */
	struct flow_lru lru;    /* place among the flows by last activity */
	struct tcp_flow *wait_next;
};

/* A SYN_RCVD pcb, oldest first on half_open_head. */
struct half_open {
	struct tcp_pcb *pcb;
	struct flow_lru age;
};

static struct stackd *sd;
static struct flow_table flows;
static struct flow_lru lru_head; /* every flow, least recently active first */
static struct tcp_flow *wait_head;
static struct flow_lru half_open_head;
static unsigned half_open_count;
/* The listener's arg, so inherited by each new pcb until tcp_flow_claim_half_open() sees it. */
static char unclaimed;

static void flow_free(struct tcp_flow *f);

static void detach_pcb(struct tcp_flow *f)
{
	if (!f->pcb)
		return;
	tcp_arg(f->pcb, NULL);
	tcp_recv(f->pcb, NULL);
	tcp_sent(f->pcb, NULL);
	tcp_err(f->pcb, NULL);
	f->pcb = NULL;
}

static void send_msg(uint16_t type, uint32_t flow, uint32_t arg)
{
	struct tg_desc d = {.slot = TG_NO_SLOT, .flow = flow, .arg = arg, .type = type};

	if (tg_link_send(sd->link_b, &d) < 0)
		log_warnx_ratelimited("link B: cannot queue %s for flow %u", tg_msg_name(type),
		                      flow);
}

static void touch(struct tcp_flow *f)
{
	f->last_active = time(NULL);
	flow_lru_touch(&lru_head, &f->lru);
}

static void wait_for_slots(struct tcp_flow *f)
{
	if (f->waiting)
		return;
	f->waiting = true;
	f->wait_next = wait_head;
	wait_head = f;
}

bool tcp_flow_owns(uint32_t id)
{
	return flow_table_get(&flows, id) != NULL;
}

uint32_t tcp_flow_count(void)
{
	return flows.count;
}

/* Ends a flow on our side with RST to the client and RESET to relayd. */
static void flow_abort(struct tcp_flow *f, bool tell_relay)
{
	struct tcp_pcb *pcb = f->pcb;

	detach_pcb(f);
	if (pcb)
		tcp_abort(pcb);
	if (tell_relay && !f->open_pending)
		send_msg(TG_MSG_RESET, f->id, 0);
	flow_free(f);
}

static struct tcp_flow *flow_of_lru(struct flow_lru *n)
{
	return (struct tcp_flow *)(void *)((char *)n - offsetof(struct tcp_flow, lru));
}

bool tcp_flow_make_room(void)
{
	struct flow_lru *oldest;
	struct tcp_flow *f;

	if (flows.count < sd->max_flows)
		return true;
	if (!sd->evict_when_full || !(oldest = flow_lru_oldest(&lru_head)))
		return false;
	f = flow_of_lru(oldest);
	/* The least recently active flow is busy: so is every other one, refuse instead. */
	if (time(NULL) - f->last_active < EVICT_MIN_IDLE)
		return false;
	log_debug("flow %u: evicted, idle %lds, to make room", f->id,
	          (long)(time(NULL) - f->last_active));
	sd->ctr.flows_evicted++;
	flow_abort(f, true);
	return true;
}

/* Half-open handshakes (SYN_RCVD) ------------------------------------------------------- */

static struct half_open *half_open_of(struct flow_lru *n)
{
	return (struct half_open *)(void *)((char *)n - offsetof(struct half_open, age));
}

static void half_open_forget(struct half_open *h)
{
	flow_lru_remove(&h->age);
	sd->ctr.half_open = --half_open_count;
	free(h);
}

/* lwIP freed the pcb: the client reset it, or its SYN-ACKs went unanswered for too long. */
static void on_half_open_err(void *arg, err_t err)
{
	if (arg)
		half_open_forget(arg);
}

/* Drops a half-open pcb without a word to its client: under a flood, RSTs only add load. */
static void half_open_drop(struct half_open *h)
{
	struct tcp_pcb *pcb = h->pcb;

	tcp_arg(pcb, NULL);
	tcp_err(pcb, NULL);
	half_open_forget(h);
	tcp_abandon(pcb, 0);
}

void tcp_flow_claim_half_open(void)
{
	struct tcp_pcb *pcb = tcp_active_pcbs; /* lwIP puts a new pcb first */
	struct half_open *h;

	if (!pcb || pcb->state != SYN_RCVD || pcb->callback_arg != &unclaimed)
		return;
	if (half_open_count >= HALF_OPEN_MAX) {
		sd->ctr.half_open_evicted++;
		half_open_drop(half_open_of(flow_lru_oldest(&half_open_head)));
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		tcp_arg(pcb, NULL);
		tcp_abandon(pcb, 0);
		return;
	}
	h->pcb = pcb;
	flow_lru_init(&h->age);
	flow_lru_touch(&half_open_head, &h->age);
	sd->ctr.half_open = ++half_open_count;
	tcp_arg(pcb, h);
	tcp_err(pcb, on_half_open_err);
}

/* The handshake completed: the pcb is no longer half-open. */
static void half_open_done(struct tcp_pcb *pcb, void *arg)
{
	tcp_arg(pcb, NULL);
	tcp_err(pcb, NULL);
	if (arg && arg != &unclaimed)
		half_open_forget(arg);
}

/* Frees the flow once neither lwIP nor relayd can mention it any more; true if it did. */
static bool maybe_finish(struct tcp_flow *f)
{
	if (f->pcb || !f->relay_closed || !f->shut_sent)
		return false; /* a flow waiting for its accept has not shut anything yet */
	flow_free(f);
	return true;
}

/*
 * Lets go of the pcb once both FINs have passed through it, so lwIP can free it; true if f
 * was freed. Not later: with both FINs lwIP moves the pcb on by itself (to TIME_WAIT, from
 * FIN_WAIT_2 or CLOSING) and frees a TIME_WAIT pcb without a callback, so a flow still
 * holding it (client bytes waiting in `up` for relayd's credit) would hold freed memory.
 * Nothing needs the pcb any more: lwIP has every byte of the client's, and retransmits ours.
 */
static bool maybe_close_pcb(struct tcp_flow *f)
{
	struct tcp_pcb *pcb = f->pcb;

	if (!pcb || !f->client_fin || !f->tx_shut)
		return false;
	/*
	 * The window opens only as relayd credits the client's bytes, and the last credits may
	 * never come: open it fully now, or lwIP takes the closed window for unread data and
	 * answers the FIN with RST.
	 */
	while (pcb->rcv_wnd < TCP_WND_MAX(pcb)) {
		uint32_t gap = TCP_WND_MAX(pcb) - pcb->rcv_wnd;

		tcp_recved(pcb, gap > 0xffff ? 0xffff : (u16_t)gap);
	}
	detach_pcb(f);
	if (tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
	return maybe_finish(f);
}

/*
 * Moves buffered client bytes into link B slots, as far as credit and slots allow. Returns
 * true if that ended the flow (freed: the caller must not touch f again).
 */
static bool push_up(struct tcp_flow *f)
{
	uint32_t slot_size = tg_link_slot_size(sd->link_b);

	if (f->open_pending) {
		wait_for_slots(f); /* nothing may reach relayd before its TCP_OPEN */
		return false;
	}
	while (f->up.len > 0 && f->up_credit > 0) {
		uint32_t n = (uint32_t)f->up.len;
		struct tg_desc d = {.flow = f->id, .type = TG_MSG_DATA};

		if (n > f->up_credit)
			n = f->up_credit;
		if (n > slot_size)
			n = slot_size;
		d.slot = tg_link_alloc(sd->link_b);
		if (d.slot == TG_NO_SLOT) {
			wait_for_slots(f);
			return false;
		}
		memcpy(tg_link_slot(sd->link_b, d.slot), tg_bytebuf_head(&f->up), n);
		d.len = n;
		if (tg_link_send(sd->link_b, &d) < 0) {
			tg_link_unalloc(sd->link_b, d.slot);
			wait_for_slots(f);
			return false;
		}
		tg_bytebuf_consume(&f->up, n);
		f->up_credit -= n;
	}
	if (f->up.len == 0 && f->client_fin && !f->shut_sent) {
		send_msg(TG_MSG_SHUT_WR, f->id, 0);
		f->shut_sent = true;
		/*
		 * Either may free f: closing the pcb frees it when relayd already sent CLOSED
		 * (out of order, but relayd is not trusted), and a flow without pcb goes now.
		 */
		return maybe_close_pcb(f) || maybe_finish(f);
	}
	return false;
}

static void send_credit(struct tcp_flow *f, bool force)
{
	if (f->credit_due == 0 || (!force && f->credit_due < CREDIT_BATCH))
		return;
	send_msg(TG_MSG_CREDIT, f->id, f->credit_due);
	f->down_unacked -= f->credit_due;
	f->credit_due = 0;
}

/* Sends what lwIP has queued, unless an ACK on its way will (OUTPUT_DEFER_INFLIGHT). */
static void output_unless_acked_soon(struct tcp_pcb *pcb)
{
	if ((uint32_t)(pcb->snd_nxt - pcb->lastack) < OUTPUT_DEFER_INFLIGHT)
		tcp_output(pcb);
}

/* Moves bytes from relayd into lwIP's send buffer; returns the bytes lwIP took. */
static uint32_t write_to_pcb(struct tcp_flow *f, const uint8_t *data, uint32_t len)
{
	uint32_t done = 0;

	while (done < len && f->pcb) {
		uint32_t room = tcp_sndbuf(f->pcb);
		uint32_t n = len - done;
		u8_t flags;

		if (n > room)
			n = room;
		if (n > 0xffff)
			n = 0xffff;
		/* PSH only at the end of what relayd gave: the client need not push before. */
		flags = TCP_WRITE_FLAG_COPY | (done + n < len ? TCP_WRITE_FLAG_MORE : 0);
		if (n == 0 || tcp_write(f->pcb, data + done, (u16_t)n, flags) != ERR_OK)
			break;
		done += n;
	}
	f->credit_due += done;
	return done;
}

static void push_down(struct tcp_flow *f)
{
	if (f->down.len > 0 && f->pcb) {
		uint32_t n = write_to_pcb(f, tg_bytebuf_head(&f->down), (uint32_t)f->down.len);

		tg_bytebuf_consume(&f->down, n);
		if (n)
			tcp_output(f->pcb);
	}
	send_credit(f, f->down.len == 0);
	if (f->down.len == 0 && f->relay_fin && !f->tx_shut && f->pcb) {
		if (f->client_fin) {
			f->tx_shut = true;
			maybe_close_pcb(f);
			return;
		}
		/* On failure (no memory for the FIN) the next sent callback tries again. */
		if (tcp_shutdown(f->pcb, 0, 1) == ERR_OK)
			f->tx_shut = true;
	}
}

/* lwIP callbacks ---------------------------------------------------------------------- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct tcp_flow *f = arg;

	if (!f) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	touch(f);
	if (!p) {
		f->client_fin = true;
		if (!push_up(f) && f->pcb)
			maybe_close_pcb(f);
		return ERR_OK;
	}
	/* Cannot exceed the window: lwIP's TCP_WND equals what relayd credits us. */
	for (struct pbuf *q = p; q; q = q->next) {
		if (tg_bytebuf_append(&f->up, q->payload, q->len, 2 * STACKD_WINDOW) < 0) {
			pbuf_free(p);
			flow_abort(f, true);
			return ERR_ABRT;
		}
	}
	pbuf_free(p);
	push_up(f);
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct tcp_flow *f = arg;

	if (f)
		push_down(f);
	return ERR_OK;
}

/* lwIP already freed the pcb (client RST, or retransmissions gave up). */
static void on_err(void *arg, err_t err)
{
	struct tcp_flow *f = arg;

	if (!f)
		return;
	f->pcb = NULL;
	sd->ctr.flows_reset_local++;
	if (!f->open_pending)
		send_msg(TG_MSG_RESET, f->id, 0);
	flow_free(f);
	stackd_flush_links();
}

/* Fast mode: relayd learns of the flow now. Consistent mode: it did when the SYN was held. */
static struct tcp_flow *flow_new(uint32_t id)
{
	struct tcp_flow *f;

	if (!sd->hello_b || !tcp_flow_make_room() || !(f = calloc(1, sizeof(*f))))
		return NULL;
	f->id = id;
	f->up_credit = sd->relay_window;
	flow_lru_init(&f->lru);
	if (flow_table_put(&flows, f->id, f) < 0) {
		free(f);
		return NULL;
	}
	touch(f);
	sd->ctr.flows_open++;
	sd->ctr.flows_total++;
	return f;
}

/*
 * Consistent mode: relayd has connected, so its server may speak first; the flow exists from
 * now on and buffers what arrives (within its window) until lwIP accepts the client.
 */
int tcp_flow_prepare(uint32_t id)
{
	return flow_new(id) ? 0 : -1;
}

void tcp_flow_forget_pending(uint32_t id)
{
	struct tcp_flow *f = flow_table_get(&flows, id);

	if (f && !f->pcb)
		flow_free(f);
}

static void attach_pcb(struct tcp_flow *f, struct tcp_pcb *pcb)
{
	f->pcb = pcb;
	touch(f);
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb);
}

static err_t refuse(struct tcp_pcb *pcb)
{
	sd->ctr.flows_refused++;
	tcp_abort(pcb);
	return ERR_ABRT;
}

/* Fast mode: tells relayd of an accepted flow; false if link B has no room for it now. */
static bool send_open(struct tcp_flow *f)
{
	struct tg_msg_open m = {.proto = 6};

	lwip_addr_to_tg(&m.src, &f->pcb->remote_ip, f->pcb->remote_port);
	lwip_addr_to_tg(&m.dst, &f->pcb->local_ip, f->pcb->local_port);
	return tg_link_send_copy(sd->link_b, TG_MSG_TCP_OPEN, f->id, TG_OPEN_FAST, &m, sizeof(m)) ==
	       0;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct tg_msg_open m = {.proto = 6};
	struct tcp_flow *f;
	uint32_t held;

	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	half_open_done(pcb, arg);
	/* Port 0 is not a destination; only the wildcard listener can match it. */
	if (pcb->local_port == 0) {
		sd->ctr.drop_malformed++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	lwip_addr_to_tg(&m.src, &pcb->remote_ip, pcb->remote_port);
	lwip_addr_to_tg(&m.dst, &pcb->local_ip, pcb->local_port);
	/* Consistent mode: relayd already connected this flow when the SYN was held. */
	held = syn_hold_take(&m.src, &m.dst);
	if (held) {
		f = flow_table_get(&flows, held);
		if (!f || f->pcb)
			return refuse(pcb);
		attach_pcb(f, pcb);
		push_down(f);
		return ERR_OK;
	}
	f = flow_new(stackd_alloc_flow_id());
	if (!f)
		return refuse(pcb);
	attach_pcb(f, pcb);
	/*
	 * A burst of connections can outrun relayd: with link B full the TCP_OPEN waits for a
	 * slot like data does, rather than resetting a connection the client thinks is up.
	 */
	if (!send_open(f)) {
		f->open_pending = true;
		wait_for_slots(f);
	}
	return ERR_OK;
}

/* Link B messages ------------------------------------------------------------------------ */

static void on_data(struct tcp_flow *f, const struct tg_desc *d, const uint8_t *data)
{
	uint32_t taken = 0;

	if (f->relay_fin || d->len > STACKD_WINDOW - f->down_unacked) {
		sd->ctr.credit_errors++;
		flow_abort(f, true);
		return;
	}
	f->down_unacked += d->len;
	touch(f);
	if (f->down.len == 0 && f->pcb) {
		taken = write_to_pcb(f, data, d->len);
		if (taken)
			output_unless_acked_soon(f->pcb);
	}
	/* Bounded by the window checked above. */
	if (tg_bytebuf_append(&f->down, data + taken, d->len - taken, STACKD_WINDOW) < 0) {
		flow_abort(f, true);
		return;
	}
	send_credit(f, f->down.len == 0);
}

static void on_credit(struct tcp_flow *f, uint32_t bytes)
{
	/* Credit reopens the client's window: the bytes left stackd for good. */
	if (bytes > STACKD_WINDOW) {
		sd->ctr.drop_bad_msg++;
		return;
	}
	f->up_credit += bytes;
	if (f->pcb) {
		uint32_t left = bytes;

		while (left > 0) {
			u16_t n = left > 0xffff ? 0xffff : (u16_t)left;

			tcp_recved(f->pcb, n);
			left -= n;
		}
	}
	push_up(f);
}

static void on_open_result(struct tcp_flow *f, uint32_t result)
{
	if (result == TG_OPEN_OK)
		return;
	/* relayd has already forgotten the flow: reset the client, tell nobody. */
	log_debug("flow %u: upstream %s", f->id, tg_open_result_name(result));
	sd->ctr.flows_reset_relay++;
	flow_abort(f, false);
}

void tcp_flow_dispatch(const struct tg_desc *d, const uint8_t *slot)
{
	struct tcp_flow *f = flow_table_get(&flows, d->flow);

	if (!f) {
		/* Late messages for a flow that just ended cross in flight: not an error. */
		return;
	}
	switch (d->type) {
	case TG_MSG_OPEN_RESULT:
		on_open_result(f, d->arg);
		break;
	case TG_MSG_DATA:
		on_data(f, d, slot);
		break;
	case TG_MSG_CREDIT:
		on_credit(f, d->arg);
		break;
	case TG_MSG_SHUT_WR:
		f->relay_fin = true;
		push_down(f);
		break;
	case TG_MSG_RESET:
		sd->ctr.flows_reset_relay++;
		flow_abort(f, false);
		break;
	case TG_MSG_CLOSED:
		f->relay_closed = true;
		maybe_finish(f);
		break;
	default:
		sd->ctr.drop_bad_msg++;
		break;
	}
}

void tcp_flow_retry_waiting(void)
{
	struct tcp_flow *list = wait_head;

	wait_head = NULL;
	while (list) {
		struct tcp_flow *f = list;

		list = f->wait_next;
		f->waiting = false;
		if (f->open_pending) {
			if (!f->pcb) { /* cannot happen: on_err frees a flow that loses its pcb */
				flow_free(f);
				continue;
			}
			if (!send_open(f)) {
				wait_for_slots(f);
				continue;
			}
			f->open_pending = false;
		}
		push_up(f);
	}
}

static void flow_free(struct tcp_flow *f)
{
	/* Unlink from the wait list lazily: mark it and let retry skip it. */
	if (f->waiting) {
		struct tcp_flow **pp = &wait_head;

		while (*pp && *pp != f)
			pp = &(*pp)->wait_next;
		if (*pp)
			*pp = f->wait_next;
	}
	flow_table_del(&flows, f->id);
	flow_lru_remove(&f->lru);
	tg_bytebuf_free(&f->up);
	tg_bytebuf_free(&f->down);
	sd->ctr.flows_open--;
	free(f);
}

static void sweep_one(uint32_t id, void *flow, void *arg)
{
	struct tcp_flow *f = flow;
	time_t now = *(time_t *)arg;
	bool half_closed = f->client_fin || f->relay_fin;
	uint32_t limit = half_closed ? sd->half_close_timeout : sd->idle_timeout;

	if (now - f->last_active > (time_t)limit) {
		sd->ctr.flows_idle_expired++;
		flow_abort(f, true);
	}
}

void tcp_flow_sweep(time_t now)
{
	flow_table_foreach(&flows, sweep_one, &now);
}

static void abort_one(uint32_t id, void *flow, void *arg)
{
	flow_abort(flow, false);
}

void tcp_flow_abort_all(void)
{
	flow_table_foreach(&flows, abort_one, NULL);
	wait_head = NULL;
}

void tcp_flow_shutdown_all(void)
{
	struct flow_lru *n;

	flow_table_foreach(&flows, abort_one, NULL);
	flow_table_destroy(&flows);
	while ((n = flow_lru_oldest(&half_open_head)) != NULL)
		half_open_drop(half_open_of(n));
}

int tcp_flow_init(struct stackd *s)
{
	struct tcp_pcb *listener;

	sd = s;
	flow_lru_init(&lru_head);
	flow_lru_init(&half_open_head);
	if (flow_table_init(&flows, s->max_flows) < 0)
		return -1;
	listener = tg_lwip_tcp_listen_any();
	if (!listener)
		return -1;
	tcp_arg(listener, &unclaimed);
	tcp_accept(listener, on_accept);
	return 0;
}

/*
 * The flow API: the relayd side (side 1) of link B. It turns stackd's descriptors into
 * per-flow callbacks and the caller's calls into descriptors, and it enforces the credit rule
 * of proto.h in both directions:
 *   - we send DATA only against the credit stackd granted (its HELLO.window, then CREDITs);
 *   - stackd may have at most TG_FLOWAPI_WINDOW bytes per flow that we did not acknowledge
 *     yet; DATA beyond that resets the flow and is counted as a credit error.
 *
 * stackd is the most exposed process and may be compromised: every descriptor is checked
 * before use, every structure is copied out of its slot before it is parsed, every slot is
 * handed back, and a bad message is counted and dropped, never followed.
 *
 * Per-flow state lives in a chained hash table keyed by the flow id. A flow we forgot
 * ourselves (close, reset, refused open) stays as a tombstone for a while, because stackd may
 * have sent messages for it before it learnt: those are ignored silently instead of being
 * counted as bad. Tombstones are bounded (DEAD_MAX, oldest evicted first).
 *
 * UDP flows (NAT entries) live in the same table, marked F_UDP: stackd creates them
 * implicitly, so the first datagram for an unknown id starts one. They are capped apart from
 * TCP flows, no TCP call or TCP message applies to them, and they end with CLOSED (either
 * way) or RESET (from stackd). ICMP echo has no flow: it passes through with flow id 0.
 *
 * Datagrams to stackd are packed (udp_batch.h) when stackd speaks UDP_BATCH: each UDP flow has
 * at most one open slot, which tg_flow_send_udp() fills; it goes out when it is full, before
 * any other message of its flow, and at the next drain, which is the loop turn in which the
 * link would have been flushed anyway: nothing waits for a timer.
 */
#include "flowapi.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/uio.h>

#include <event2/event.h>

#include "link.h"
#include "link_event.h"
#include "log.h"
#include "udp_batch.h"

#define TABLE_MIN_BITS 8u
#define TABLE_MAX_BITS 17u   /* enough buckets for every live flow plus the tombstones */
#define DEAD_MAX       4096u /* forgotten flow ids remembered to ignore late messages */
#define BAD_LOG_FIRST  10u   /* bad messages logged one by one, then at powers of two */

enum flow_flags {
	F_ANSWERED = 0x01, /* OPEN_RESULT went out */
	F_OPEN = 0x02,     /* ... and it said OK: we may send DATA */
	F_RX_SHUT = 0x04,  /* stackd sent SHUT_WR */
	F_TX_SHUT = 0x08,  /* we sent SHUT_WR */
	F_GONE = 0x10,     /* being forgotten: only on_reset may still look at it */
	F_DEAD = 0x20,     /* tombstone: late messages for it are ignored */
	F_CREDIT_Q = 0x40, /* on credit_q */
	F_WAIT_Q = 0x80,   /* on wait_q */
	F_UDP = 0x100,     /* a UDP flow: only UDP messages and calls apply */
	F_BATCH_Q = 0x200, /* on batch_q: has an open UDP batch slot */
};

struct flow {
	struct flow *hnext;
	TAILQ_ENTRY(flow) credit_entry; /* credit_q */
	TAILQ_ENTRY(flow) wait_entry;   /* wait_q while live, dead_q once a tombstone */
	TAILQ_ENTRY(flow) batch_entry;  /* batch_q */
	uint32_t id;
	uint32_t flags;
	uint64_t send_credit;    /* bytes stackd still allows us to send */
	uint64_t rx_unacked;     /* bytes received minus bytes acknowledged by a CREDIT sent */
	uint64_t credit_pending; /* consumed by the caller, CREDIT not sent yet */
	void *udata;
	uint32_t batch_slot; /* F_BATCH_Q: the open slot, filled through batch */
	struct tg_udp_batch_writer batch;
};
TAILQ_HEAD(flowq, flow);

struct tg_flowapi {
	struct event_base *base;
	struct tg_link_end *link;
	struct tg_link_event *lev;
	struct event *slot_check; /* runs after a drain while flows wait for slots */
	struct tg_flowapi_cbs cbs;
	void *arg;
	bool ready; /* stackd's HELLO accepted */
	bool in_drain;
	bool peer_batches; /* stackd speaks UDP_BATCH (its HELLO) */
	uint32_t peer_window;
	uint32_t slot_size;
	struct flow **table;
	unsigned table_bits;
	uint32_t seed;
	unsigned live; /* TCP and UDP flows */
	unsigned live_udp;
	unsigned dead;
	unsigned waiting;
	struct flowq credit_q; /* flows with credit_pending > 0 */
	struct flowq wait_q;   /* flows that ran out of slots */
	struct flowq dead_q;   /* tombstones, oldest first */
	struct flowq batch_q;  /* UDP flows with an open batch slot */
	struct tg_flowapi_stats stats;
};

/* --- hash table --------------------------------------------------------------------- */

static struct flow **bucket(const struct tg_flowapi *api, uint32_t id)
{
	uint32_t h = (id ^ api->seed) * 0x9e3779b1u;

	return &api->table[h >> (32 - api->table_bits)];
}

static struct flow *table_find(const struct tg_flowapi *api, uint32_t id)
{
	struct flow *f;

	for (f = *bucket(api, id); f; f = f->hnext)
		if (f->id == id)
			return f;
	return NULL;
}

/* Doubles the bucket array when chains grow long; on ENOMEM chains just get longer. */
static void table_grow(struct tg_flowapi *api)
{
	unsigned old_bits = api->table_bits;
	size_t old_n = (size_t)1 << old_bits;
	struct flow **old = api->table, **nt;

	if (old_bits >= TABLE_MAX_BITS || api->live + api->dead <= old_n)
		return;
	nt = calloc(old_n * 2, sizeof(*nt));
	if (!nt)
		return;
	api->table = nt;
	api->table_bits = old_bits + 1;
	for (size_t i = 0; i < old_n; i++) {
		struct flow *f, *next;

		for (f = old[i]; f; f = next) {
			struct flow **b = bucket(api, f->id);

			next = f->hnext;
			f->hnext = *b;
			*b = f;
		}
	}
	free(old);
}

static void table_remove(struct tg_flowapi *api, struct flow *f)
{
	struct flow **p;

	for (p = bucket(api, f->id); *p; p = &(*p)->hnext)
		if (*p == f) {
			*p = f->hnext;
			return;
		}
}

/* --- flow lifecycle ----------------------------------------------------------------- */

static struct flow *flow_new(struct tg_flowapi *api, uint32_t id)
{
	struct flow *f = calloc(1, sizeof(*f));
	struct flow **b;

	if (!f)
		return NULL;
	f->id = id;
	f->send_credit = api->peer_window;
	b = bucket(api, id);
	f->hnext = *b;
	*b = f;
	api->live++;
	table_grow(api);
	return f;
}

/* A live flow the caller may act on: not a tombstone, not being forgotten. */
static struct flow *flow_live(const struct tg_flowapi *api, uint32_t id)
{
	struct flow *f = table_find(api, id);

	if (!f || (f->flags & (F_DEAD | F_GONE)))
		return NULL;
	return f;
}

/* A live flow of one kind: TCP calls never touch a UDP flow, nor UDP calls a TCP one. */
static struct flow *tcp_live(const struct tg_flowapi *api, uint32_t id)
{
	struct flow *f = flow_live(api, id);

	return f && !(f->flags & F_UDP) ? f : NULL;
}

static struct flow *udp_live(const struct tg_flowapi *api, uint32_t id)
{
	struct flow *f = flow_live(api, id);

	return f && (f->flags & F_UDP) ? f : NULL;
}

static void flow_unqueue(struct tg_flowapi *api, struct flow *f)
{
	if (f->flags & F_CREDIT_Q)
		TAILQ_REMOVE(&api->credit_q, f, credit_entry);
	if (f->flags & F_WAIT_Q) {
		TAILQ_REMOVE(&api->wait_q, f, wait_entry);
		api->waiting--;
	}
	f->flags &= ~(uint32_t)(F_CREDIT_Q | F_WAIT_Q);
}

/* A flow's open batch goes nowhere (the flow or the link ends): its datagrams are dropped. */
static void batch_discard(struct tg_flowapi *api, struct flow *f)
{
	if (!(f->flags & F_BATCH_Q))
		return;
	TAILQ_REMOVE(&api->batch_q, f, batch_entry);
	f->flags &= ~(uint32_t)F_BATCH_Q;
	tg_link_unalloc(api->link, f->batch_slot);
	api->stats.udp_dropped += f->batch.count;
}

static void dead_free(struct tg_flowapi *api, struct flow *f)
{
	TAILQ_REMOVE(&api->dead_q, f, wait_entry);
	table_remove(api, f);
	api->dead--;
	free(f);
}

/*
 * Drops a live flow. With a tombstone, late messages stackd sent before it learnt are
 * ignored silently; without one (stackd ended the flow itself) nothing more can come.
 */
static void flow_forget(struct tg_flowapi *api, struct flow *f, bool tombstone)
{
	batch_discard(api, f);
	flow_unqueue(api, f);
	api->live--;
	if (f->flags & F_UDP)
		api->live_udp--;
	if (!tombstone) {
		table_remove(api, f);
		free(f);
		return;
	}
	f->flags = F_DEAD;
	f->udata = NULL;
	TAILQ_INSERT_TAIL(&api->dead_q, f, wait_entry);
	if (++api->dead > DEAD_MAX)
		dead_free(api, TAILQ_FIRST(&api->dead_q));
}

static void forget_all(struct tg_flowapi *api)
{
	size_t n = (size_t)1 << api->table_bits;
	struct flow *b;

	while ((b = TAILQ_FIRST(&api->batch_q)) != NULL)
		batch_discard(api, b);
	for (size_t i = 0; i < n; i++) {
		struct flow *f, *next;

		for (f = api->table[i]; f; f = next) {
			next = f->hnext;
			free(f);
		}
		api->table[i] = NULL;
	}
	TAILQ_INIT(&api->credit_q);
	TAILQ_INIT(&api->wait_q);
	TAILQ_INIT(&api->dead_q);
	TAILQ_INIT(&api->batch_q);
	api->live = api->live_udp = api->dead = api->waiting = 0;
}

/* --- sending ------------------------------------------------------------------------ */

/* Queued messages go out in this loop turn; inside the drain the link driver flushes. */
static void kick(struct tg_flowapi *api)
{
	if (!api->in_drain)
		tg_link_event_kick(api->lev);
}

static void send_ctl(struct tg_flowapi *api, uint16_t type, uint32_t flow, uint32_t arg)
{
	if (tg_link_send_copy(api->link, type, flow, arg, NULL, 0) < 0) {
		api->stats.tx_errors++;
		log_warnx("flowapi: link full, %s for flow %" PRIu32 " lost", tg_msg_name(type),
		          flow);
	}
}

/* One CREDIT per flow per loop turn, however many tg_flow_consumed() calls came before. */
static void flush_credits(struct tg_flowapi *api)
{
	struct flow *f;

	while ((f = TAILQ_FIRST(&api->credit_q)) != NULL) {
		/* credit_pending <= rx_unacked <= TG_FLOWAPI_WINDOW: fits the 32-bit arg */
		if (tg_link_send_copy(api->link, TG_MSG_CREDIT, f->id, (uint32_t)f->credit_pending,
		                      NULL, 0) < 0)
			return; /* the link is full: retried at the next drain */
		f->rx_unacked -= f->credit_pending;
		f->credit_pending = 0;
		TAILQ_REMOVE(&api->credit_q, f, credit_entry);
		f->flags &= ~(uint32_t)F_CREDIT_Q;
	}
}

/* Sends a flow's open batch: a UDP_BATCH, or a plain UDP if it holds one datagram. */
static void batch_close(struct tg_flowapi *api, struct flow *f)
{
	uint16_t type;

	if (!(f->flags & F_BATCH_Q))
		return;
	TAILQ_REMOVE(&api->batch_q, f, batch_entry);
	f->flags &= ~(uint32_t)F_BATCH_Q;
	type = tg_udp_batch_send(api->link, f->id, f->batch_slot, &f->batch);
	if (type == TG_MSG_NONE)
		api->stats.udp_dropped += f->batch.count;
	else if (type == TG_MSG_UDP_BATCH)
		api->stats.udp_batches_tx++;
}

static void batch_close_all(struct tg_flowapi *api)
{
	struct flow *f;

	while ((f = TAILQ_FIRST(&api->batch_q)) != NULL)
		batch_close(api, f);
}

static void wait_for_slots(struct tg_flowapi *api, struct flow *f)
{
	if (!(f->flags & F_WAIT_Q)) {
		TAILQ_INSERT_TAIL(&api->wait_q, f, wait_entry);
		f->flags |= F_WAIT_Q;
		api->waiting++;
	}
	/* The drain that follows arms slot_check. */
	kick(api);
}

static void notify_writable(struct tg_flowapi *api, struct flow *f)
{
	if ((f->flags & (F_OPEN | F_TX_SHUT)) == F_OPEN && api->cbs.on_writable)
		api->cbs.on_writable(api, f->id, api->arg);
}

/*
 * Slots come back through the free ring, and the link driver may take them in silently while
 * it prepares to sleep, after our drain ran. This check is activated by the drain and runs
 * after it in the same loop turn, so no returned slot goes unnoticed; if none came back yet,
 * the bell rings when they do (the driver announced sleep) and the next drain arms it again.
 * Each waiting flow is called at most once per check, whatever its callback does.
 */
static void on_slot_check(evutil_socket_t fd, short what, void *arg)
{
	struct tg_flowapi *api = arg;
	unsigned n = api->waiting;
	struct flow *f;

	while (n-- > 0 && (f = TAILQ_FIRST(&api->wait_q)) != NULL &&
	       tg_link_free_slots(api->link) > 0) {
		TAILQ_REMOVE(&api->wait_q, f, wait_entry);
		f->flags &= ~(uint32_t)F_WAIT_Q;
		api->waiting--;
		notify_writable(api, f);
	}
}

/* --- receiving ---------------------------------------------------------------------- */

static void bad_msg(struct tg_flowapi *api, const struct tg_desc *d, const char *why)
{
	uint64_t n = ++api->stats.bad_msgs;

	/* A hostile peer must not be able to flood the log. */
	if (n <= BAD_LOG_FIRST || (n & (n - 1)) == 0)
		log_warnx("flowapi: bad %s (flow %" PRIu32 ", len %" PRIu32 "): %s (%" PRIu64
		          " so far)",
		          tg_msg_name(d->type), d->flow, d->len, why, n);
}

/* Tells the caller the flow ended and forgets it; udata stays readable in the callback. */
static void flow_end(struct tg_flowapi *api, struct flow *f, bool tombstone)
{
	uint32_t id = f->id;

	f->flags |= F_GONE;
	if (api->cbs.on_reset)
		api->cbs.on_reset(api, id, api->arg);
	flow_forget(api, f, tombstone);
}

/* stackd broke the protocol on this flow: reset it on both sides. */
static void flow_abort(struct tg_flowapi *api, struct flow *f)
{
	send_ctl(api, TG_MSG_RESET, f->id, 0);
	flow_end(api, f, true);
}

static int hello_accept(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct tg_msg_hello h;

	if (tg_hello_check(api->link, d, TG_ROLE_STACKD, &h) < 0)
		return -1;
	if (h.window == 0) {
		log_warnx("flowapi: stackd offers a window of 0 bytes");
		return -1;
	}
	api->peer_window = h.window;
	api->peer_batches = h.version_max >= TG_PROTO_VERSION_UDP_BATCH;
	return 0;
}

/*
 * The first good HELLO opens the link. A later one means stackd started over on this link:
 * none of our flows exist for it any more, and it waits for our HELLO first.
 */
static void handle_hello(struct tg_flowapi *api, const struct tg_desc *d)
{
	bool restart = api->ready;

	if (hello_accept(api, d) < 0) {
		api->stats.bad_msgs++;
		return;
	}
	api->ready = true;
	if (!restart)
		return;
	log_warnx("flowapi: stackd sent a new HELLO, dropping %u flows", api->live);
	forget_all(api);
	if (tg_hello_send(api->link, TG_ROLE_RELAYD, TG_FLOWAPI_WINDOW) < 0)
		api->stats.tx_errors++;
	if (api->cbs.on_peer_reset)
		api->cbs.on_peer_reset(api, api->arg);
}

static bool addr_pair_ok(const struct tg_addr *src, const struct tg_addr *dst)
{
	return tg_addr_valid(src) && tg_addr_valid(dst) && src->family == dst->family;
}

static void handle_open(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct tg_msg_open m;
	struct flow *f;

	if (d->slot == TG_NO_SLOT || d->len != sizeof(m)) {
		bad_msg(api, d, "wrong size");
		return;
	}
	memcpy(&m, tg_link_peer_slot(api->link, d->slot), sizeof(m));
	if (!addr_pair_ok(&m.src, &m.dst) || m.proto != IPPROTO_TCP) {
		bad_msg(api, d, "bad address or protocol");
		return;
	}
	if (d->arg != TG_OPEN_FAST && d->arg != TG_OPEN_CONSISTENT) {
		bad_msg(api, d, "bad mode");
		return;
	}
	f = table_find(api, d->flow);
	if (f && !(f->flags & F_DEAD)) {
		bad_msg(api, d, "flow id in use");
		return;
	}
	if (f)
		dead_free(api, f); /* stackd reuses an id we forgot: legitimate */
	/* A refused flow still gets a tombstone: fast-mode DATA may follow its TCP_OPEN. */
	f = flow_new(api, d->flow);
	if (f && (api->live - api->live_udp > TG_FLOWAPI_MAX_FLOWS || !api->cbs.on_tcp_open)) {
		flow_forget(api, f, true);
		f = NULL;
	}
	if (!f) {
		api->stats.flows_rejected++;
		send_ctl(api, TG_MSG_OPEN_RESULT, d->flow, TG_OPEN_REJECTED);
		return;
	}
	api->stats.flows_opened++;
	api->cbs.on_tcp_open(api, f->id, &m.src, &m.dst, (enum tg_open_mode)d->arg, api->arg);
}

/*
 * Looks up the flow a message is about. NULL with the message dealt with when it is unknown
 * (bad) or for a flow we already forgot (late, crossed in flight: ignored).
 */
static struct flow *msg_flow(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f = table_find(api, d->flow);

	if (!f) {
		bad_msg(api, d, "unknown flow");
		return NULL;
	}
	if (f->flags & F_DEAD) {
		api->stats.late_msgs++;
		return NULL;
	}
	return f;
}

/* As msg_flow(), for the messages that only a TCP flow may get. */
static struct flow *tcp_msg_flow(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f = msg_flow(api, d);

	if (f && (f->flags & F_UDP)) {
		bad_msg(api, d, "not a TCP flow");
		return NULL;
	}
	return f;
}

/* stackd ended a UDP flow: it forgot it already, so no tombstone is needed. */
static void udp_end(struct tg_flowapi *api, struct flow *f)
{
	f->flags |= F_GONE;
	if (api->cbs.on_udp_closed)
		api->cbs.on_udp_closed(api, f->id, api->arg);
	flow_forget(api, f, false);
}

static void handle_data(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f;

	if (d->slot == TG_NO_SLOT || d->len == 0) {
		bad_msg(api, d, "no payload");
		return;
	}
	if ((f = tcp_msg_flow(api, d)) == NULL)
		return;
	if (f->flags & F_RX_SHUT) {
		bad_msg(api, d, "after SHUT_WR");
		flow_abort(api, f);
		return;
	}
	if (f->rx_unacked + d->len > TG_FLOWAPI_WINDOW) {
		api->stats.credit_errors++;
		log_warnx("flowapi: flow %" PRIu32 ": stackd sent %" PRIu32 " bytes with %" PRIu64
		          " of %u unacknowledged, resetting",
		          f->id, d->len, f->rx_unacked, TG_FLOWAPI_WINDOW);
		flow_abort(api, f);
		return;
	}
	f->rx_unacked += d->len;
	if (api->cbs.on_data)
		api->cbs.on_data(api, f->id, tg_link_peer_slot(api->link, d->slot), d->len,
		                 api->arg);
	else
		tg_flow_consumed(api, f->id, d->len);
}

static void handle_credit(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f;

	if ((f = tcp_msg_flow(api, d)) == NULL || d->arg == 0)
		return;
	if (d->arg > api->peer_window - f->send_credit) {
		/* More than we ever sent: keep within the window it announced. */
		bad_msg(api, d, "credit beyond the window");
		f->send_credit = api->peer_window;
	} else
		f->send_credit += d->arg;
	notify_writable(api, f);
}

static void handle_shut_wr(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f;

	if ((f = tcp_msg_flow(api, d)) == NULL)
		return;
	if (f->flags & F_RX_SHUT) {
		bad_msg(api, d, "repeated");
		return;
	}
	f->flags |= F_RX_SHUT;
	if (api->cbs.on_shut_wr)
		api->cbs.on_shut_wr(api, f->id, api->arg);
}

static void handle_reset(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f;

	if ((f = msg_flow(api, d)) == NULL)
		return;
	/* stackd forgot the flow already: nothing more can come for it. */
	if (f->flags & F_UDP)
		udp_end(api, f);
	else
		flow_end(api, f, false);
}

/* CLOSED goes relayd -> stackd for TCP; from stackd it can only end a UDP flow. */
static void handle_closed(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f;

	if ((f = msg_flow(api, d)) == NULL)
		return;
	if (!(f->flags & F_UDP)) {
		bad_msg(api, d, "not a UDP flow");
		return;
	}
	udp_end(api, f);
}

/* A datagram for an unknown id starts a UDP flow: stackd creates them implicitly. */
static struct flow *udp_flow_start(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct flow *f = NULL;

	if (api->live_udp < TG_FLOWAPI_MAX_UDP_FLOWS)
		f = flow_new(api, d->flow);
	if (!f) {
		api->stats.udp_flows_rejected++;
		/* stackd forgets it: the client's next datagram tries again under a new id. */
		send_ctl(api, TG_MSG_CLOSED, d->flow, 0);
		return NULL;
	}
	f->flags = F_UDP;
	api->live_udp++;
	api->stats.udp_flows_opened++;
	return f;
}

/*
 * The flow a UDP or UDP_BATCH message is for, started by it if it is new. NULL when the
 * message is dropped (bad, counted) or ignored (late, or nobody relays UDP).
 */
static struct flow *udp_msg_flow(struct tg_flowapi *api, const struct tg_desc *d,
                                 const struct tg_msg_udp *h)
{
	struct flow *f;

	if (!addr_pair_ok(&h->src, &h->dst) || d->flow == 0) {
		bad_msg(api, d, "bad address or flow id");
		return NULL;
	}
	/* Nobody relays UDP: keep no flow that nothing would ever end. */
	if (!api->cbs.on_udp && !api->cbs.on_udp_batch)
		return NULL;
	f = table_find(api, d->flow);
	if (f && (f->flags & F_DEAD)) {
		/*
		 * It crossed our CLOSED: stackd forgets the flow as that arrives, so a new
		 * entry under this id could never deliver a reply. The client's next
		 * datagram starts a new flow.
		 */
		api->stats.late_msgs++;
		return NULL;
	}
	if (f && !(f->flags & F_UDP)) {
		bad_msg(api, d, "not a UDP flow");
		return NULL;
	}
	if (!f)
		f = udp_flow_start(api, d);
	return f;
}

/* One datagram to the caller: on_udp, or on_udp_batch with one datagram if only that is set. */
static void udp_deliver_one(struct tg_flowapi *api, uint32_t flow, const struct tg_msg_udp *h,
                            const uint8_t *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};

	if (api->cbs.on_udp)
		api->cbs.on_udp(api, flow, &h->src, &h->dst, data, len, api->arg);
	else
		api->cbs.on_udp_batch(api, flow, &h->src, &h->dst, &iov, 1, api->arg);
}

static void handle_udp(struct tg_flowapi *api, const struct tg_desc *d)
{
	const uint8_t *p;
	struct tg_msg_udp h;
	struct flow *f;

	if (d->slot == TG_NO_SLOT || d->len < sizeof(h)) {
		bad_msg(api, d, "too short");
		return;
	}
	p = tg_link_peer_slot(api->link, d->slot);
	memcpy(&h, p, sizeof(h));
	if ((f = udp_msg_flow(api, d, &h)) == NULL)
		return;
	udp_deliver_one(api, f->id, &h, p + sizeof(h), d->len - sizeof(h));
}

/*
 * Several datagrams of one flow. The whole batch is checked before any datagram is handed on:
 * a malformed one is dropped whole and counted (bad_msgs, udp_bad_batches).
 */
static void handle_udp_batch(struct tg_flowapi *api, const struct tg_desc *d)
{
	struct iovec iov[TG_UDP_BATCH_MAX];
	struct tg_udp_batch_reader r;
	enum tg_udp_batch_verdict v;
	struct tg_msg_udp h;
	const uint8_t *p, *data;
	uint32_t id, len;
	unsigned n = 0;
	struct flow *f;

	if (d->slot == TG_NO_SLOT) {
		bad_msg(api, d, "no payload");
		return;
	}
	p = tg_link_peer_slot(api->link, d->slot);
	if ((v = tg_udp_batch_check(p, d->len, d->arg, &h)) != TG_UDP_BATCH_OK) {
		api->stats.udp_bad_batches++;
		bad_msg(api, d, tg_udp_batch_verdict_name(v));
		return;
	}
	if ((f = udp_msg_flow(api, d, &h)) == NULL)
		return;
	api->stats.udp_batches_rx++;
	id = f->id;
	tg_udp_batch_read(&r, p, d->len, d->arg, &h);
	while (n < TG_UDP_BATCH_MAX && tg_udp_batch_next(&r, &data, &len)) {
		iov[n].iov_base = (void *)data;
		iov[n++].iov_len = len;
	}
	if (api->cbs.on_udp_batch) {
		api->cbs.on_udp_batch(api, id, &h.src, &h.dst, iov, n, api->arg);
		return;
	}
	/* One by one; the caller may end the flow in the middle (tg_flow_udp_close). */
	for (unsigned i = 0; i < n && udp_live(api, id); i++)
		udp_deliver_one(api, id, &h, iov[i].iov_base, iov[i].iov_len);
}

static uint8_t echo_request_type(uint8_t family)
{
	return family == TG_AF_INET4 ? 8 : 128;
}

static void handle_icmp_echo(struct tg_flowapi *api, const struct tg_desc *d)
{
	const uint8_t *p;
	struct tg_msg_udp h;
	uint8_t type;

	if (d->slot == TG_NO_SLOT || d->len < sizeof(h) + TG_ICMP_ECHO_HDR) {
		bad_msg(api, d, "too short");
		return;
	}
	p = tg_link_peer_slot(api->link, d->slot);
	memcpy(&h, p, sizeof(h));
	type = p[sizeof(h)];
	if (!addr_pair_ok(&h.src, &h.dst) || d->flow != 0) {
		bad_msg(api, d, "bad address or flow id");
		return;
	}
	if (type != echo_request_type(h.src.family)) {
		bad_msg(api, d, "not an echo request");
		return;
	}
	if (api->cbs.on_icmp_echo)
		api->cbs.on_icmp_echo(api, &h.src, &h.dst, p + sizeof(h), d->len - sizeof(h),
		                      api->arg);
}

/* Control messages (credit, shutdown, reset, closed) never come with a slot. */
static bool carries_payload(uint16_t type)
{
	return type != TG_MSG_CREDIT && type != TG_MSG_SHUT_WR && type != TG_MSG_RESET &&
	       type != TG_MSG_CLOSED;
}

static void dispatch(struct tg_flowapi *api, const struct tg_desc *d)
{
	/* tg_hello_check() hands the slot back itself. */
	if (d->type == TG_MSG_HELLO) {
		handle_hello(api, d);
		return;
	}
	if (!api->ready)
		bad_msg(api, d, "before HELLO");
	else if (d->slot != TG_NO_SLOT && !carries_payload(d->type))
		bad_msg(api, d, "unexpected payload");
	else if (d->type == TG_MSG_TCP_OPEN)
		handle_open(api, d);
	else if (d->type == TG_MSG_DATA)
		handle_data(api, d);
	else if (d->type == TG_MSG_CREDIT)
		handle_credit(api, d);
	else if (d->type == TG_MSG_SHUT_WR)
		handle_shut_wr(api, d);
	else if (d->type == TG_MSG_RESET)
		handle_reset(api, d);
	else if (d->type == TG_MSG_CLOSED)
		handle_closed(api, d);
	else if (d->type == TG_MSG_UDP)
		handle_udp(api, d);
	else if (d->type == TG_MSG_UDP_BATCH)
		handle_udp_batch(api, d);
	else if (d->type == TG_MSG_ICMP_ECHO)
		handle_icmp_echo(api, d);
	else
		bad_msg(api, d, "unexpected type");
	/* Every handler is done with the payload (callbacks do not keep it). */
	if (d->slot != TG_NO_SLOT)
		tg_link_release(api->link, d->slot);
}

static unsigned drain(struct tg_link_end *end, unsigned budget, void *arg)
{
	struct tg_flowapi *api = arg;
	struct tg_desc d[TG_LINK_BURST];
	unsigned total = 0, n;

	api->in_drain = true;
	/* Datagrams the caller gave us since the last drain go out with this flush. */
	batch_close_all(api);
	flush_credits(api);
	while (total < budget) {
		unsigned max = budget - total < TG_LINK_BURST ? budget - total : TG_LINK_BURST;

		if ((n = tg_link_recv(end, d, max)) == 0)
			break;
		for (unsigned i = 0; i < n; i++)
			dispatch(api, &d[i]);
		total += n;
	}
	batch_close_all(api);
	flush_credits(api);
	if (api->waiting > 0)
		event_active(api->slot_check, EV_TIMEOUT, 0);
	api->in_drain = false;
	return total;
}

/* --- public ------------------------------------------------------------------------- */

struct tg_flowapi *tg_flowapi_new(struct event_base *base, struct tg_link_end *link,
                                  const struct tg_flowapi_cbs *cbs, void *arg)
{
	struct tg_flowapi *api = calloc(1, sizeof(*api));

	if (!api)
		return NULL;
	api->base = base;
	api->link = link;
	api->cbs = *cbs;
	api->arg = arg;
	api->slot_size = tg_link_slot_size(link);
	api->table_bits = TABLE_MIN_BITS;
	api->table = calloc((size_t)1 << api->table_bits, sizeof(*api->table));
	/* Flow ids are stackd's choice: a secret seed keeps it from lining up our chains. */
	if (getrandom(&api->seed, sizeof(api->seed), GRND_NONBLOCK) != sizeof(api->seed))
		api->seed = 0;
	TAILQ_INIT(&api->credit_q);
	TAILQ_INIT(&api->wait_q);
	TAILQ_INIT(&api->dead_q);
	TAILQ_INIT(&api->batch_q);
	api->slot_check = event_new(base, -1, 0, on_slot_check, api);
	if (!api->table || !api->slot_check ||
	    tg_hello_send(link, TG_ROLE_RELAYD, TG_FLOWAPI_WINDOW) < 0)
		goto fail;
	/* The driver runs a drain at once: our HELLO leaves in the first loop turn. */
	api->lev = tg_link_event_new(base, link, drain, api);
	if (!api->lev)
		goto fail;
	return api;
fail:
	log_warnx("flowapi: cannot set up");
	tg_flowapi_free(api);
	return NULL;
}

void tg_flowapi_free(struct tg_flowapi *api)
{
	if (!api)
		return;
	if (api->lev)
		tg_link_event_free(api->lev);
	if (api->slot_check)
		event_free(api->slot_check);
	if (api->table) {
		forget_all(api);
		free(api->table);
	}
	free(api);
}

int tg_flowapi_replace_link(struct tg_flowapi *api, struct tg_link_end *link)
{
	/* The old segment is gone with its stackd: drop its flows first, then greet the new one. */
	if (api->lev)
		tg_link_event_free(api->lev);
	api->lev = NULL;
	forget_all(api);
	api->ready = false;
	api->link = link;
	api->slot_size = tg_link_slot_size(link);
	if (api->cbs.on_peer_reset)
		api->cbs.on_peer_reset(api, api->arg);
	if (tg_hello_send(link, TG_ROLE_RELAYD, TG_FLOWAPI_WINDOW) < 0)
		return -1;
	api->lev = tg_link_event_new(api->base, link, drain, api);
	return api->lev ? 0 : -1;
}

const struct tg_flowapi_stats *tg_flowapi_stats(const struct tg_flowapi *api)
{
	return &api->stats;
}

unsigned tg_flowapi_flow_count(const struct tg_flowapi *api)
{
	return api->live;
}

unsigned tg_flowapi_udp_flow_count(const struct tg_flowapi *api)
{
	return api->live_udp;
}

size_t tg_flowapi_peer_window(const struct tg_flowapi *api)
{
	return api->peer_window;
}

int tg_flowapi_ready(const struct tg_flowapi *api)
{
	return api->ready;
}

void tg_flow_set_udata(struct tg_flowapi *api, uint32_t flow, void *udata)
{
	struct flow *f = flow_live(api, flow);

	if (f)
		f->udata = udata;
}

void *tg_flow_udata(const struct tg_flowapi *api, uint32_t flow)
{
	struct flow *f = table_find(api, flow);

	return f && !(f->flags & F_DEAD) ? f->udata : NULL;
}

void tg_flow_open_result(struct tg_flowapi *api, uint32_t flow, enum tg_open_result result)
{
	struct flow *f = tcp_live(api, flow);

	if (!f || (f->flags & F_ANSWERED))
		return;
	if ((unsigned)result >= TG_OPEN_RESULT_MAX)
		result = TG_OPEN_REJECTED;
	send_ctl(api, TG_MSG_OPEN_RESULT, flow, result);
	f->flags |= F_ANSWERED;
	if (result == TG_OPEN_OK)
		f->flags |= F_OPEN;
	else
		flow_forget(api, f, true); /* stackd ends the flow on a failed open */
	kick(api);
}

size_t tg_flow_send(struct tg_flowapi *api, uint32_t flow, const void *data, size_t len)
{
	struct flow *f = tcp_live(api, flow);
	size_t want, taken = 0;

	if (!f || (f->flags & (F_OPEN | F_TX_SHUT)) != F_OPEN)
		return 0;
	want = len < f->send_credit ? len : (size_t)f->send_credit;
	while (taken < want) {
		uint32_t chunk =
		        want - taken < api->slot_size ? (uint32_t)(want - taken) : api->slot_size;
		struct tg_desc d = {.len = chunk, .flow = flow, .type = TG_MSG_DATA};

		d.slot = tg_link_alloc(api->link);
		if (d.slot == TG_NO_SLOT) {
			wait_for_slots(api, f);
			break;
		}
		memcpy(tg_link_slot(api->link, d.slot), (const uint8_t *)data + taken, chunk);
		if (tg_link_send(api->link, &d) < 0) {
			tg_link_unalloc(api->link, d.slot);
			wait_for_slots(api, f);
			break;
		}
		taken += chunk;
	}
	f->send_credit -= taken;
	if (taken > 0)
		kick(api);
	return taken;
}

void *tg_flow_send_reserve(struct tg_flowapi *api, uint32_t flow, struct tg_flow_reservation *r)
{
	struct flow *f = tcp_live(api, flow);

	r->slot = TG_NO_SLOT;
	r->room = 0;
	if (!f || (f->flags & (F_OPEN | F_TX_SHUT)) != F_OPEN || f->send_credit == 0)
		return NULL;
	r->slot = tg_link_alloc(api->link);
	if (r->slot == TG_NO_SLOT) {
		wait_for_slots(api, f);
		return NULL;
	}
	r->room = f->send_credit < api->slot_size ? (uint32_t)f->send_credit : api->slot_size;
	return tg_link_slot(api->link, r->slot);
}

size_t tg_flow_send_commit(struct tg_flowapi *api, uint32_t flow,
                           const struct tg_flow_reservation *r, size_t len)
{
	struct flow *f = tcp_live(api, flow);
	struct tg_desc d = {
	        .slot = r->slot, .len = (uint32_t)len, .flow = flow, .type = TG_MSG_DATA};

	if (r->slot == TG_NO_SLOT)
		return 0;
	/* The credit cannot have shrunk since the reservation: only stackd's CREDIT moves it. */
	if (!f || (f->flags & (F_OPEN | F_TX_SHUT)) != F_OPEN || len == 0 || len > r->room) {
		tg_link_unalloc(api->link, r->slot);
		return 0;
	}
	if (tg_link_send(api->link, &d) < 0) {
		tg_link_unalloc(api->link, r->slot);
		wait_for_slots(api, f);
		return 0;
	}
	f->send_credit -= len;
	kick(api);
	return len;
}

size_t tg_flow_send_window(struct tg_flowapi *api, uint32_t flow)
{
	struct flow *f = tcp_live(api, flow);

	if (!f || (f->flags & (F_OPEN | F_TX_SHUT)) != F_OPEN)
		return 0;
	return (size_t)f->send_credit;
}

void tg_flow_consumed(struct tg_flowapi *api, uint32_t flow, size_t bytes)
{
	struct flow *f = tcp_live(api, flow);
	uint64_t unconsumed;

	if (!f || bytes == 0)
		return;
	unconsumed = f->rx_unacked - f->credit_pending;
	if (bytes > unconsumed) {
		log_warnx("flowapi: flow %" PRIu32 ": %zu bytes consumed, %" PRIu64 " received",
		          flow, bytes, unconsumed);
		bytes = (size_t)unconsumed;
	}
	if (f->flags & F_RX_SHUT) {
		/* stackd sends nothing more: the window needs no reopening. */
		f->rx_unacked -= bytes;
		return;
	}
	f->credit_pending += bytes;
	if (!(f->flags & F_CREDIT_Q) && f->credit_pending > 0) {
		TAILQ_INSERT_TAIL(&api->credit_q, f, credit_entry);
		f->flags |= F_CREDIT_Q;
		kick(api);
	}
}

void tg_flow_shut_wr(struct tg_flowapi *api, uint32_t flow)
{
	struct flow *f = tcp_live(api, flow);

	if (!f || (f->flags & (F_OPEN | F_TX_SHUT)) != F_OPEN)
		return;
	send_ctl(api, TG_MSG_SHUT_WR, flow, 0);
	f->flags |= F_TX_SHUT;
	kick(api);
}

void tg_flow_reset(struct tg_flowapi *api, uint32_t flow)
{
	struct flow *f = tcp_live(api, flow);

	if (!f)
		return;
	send_ctl(api, TG_MSG_RESET, flow, 0);
	flow_forget(api, f, true);
	kick(api);
}

void tg_flow_close(struct tg_flowapi *api, uint32_t flow)
{
	struct flow *f = tcp_live(api, flow);
	uint32_t both = F_OPEN | F_RX_SHUT | F_TX_SHUT;

	if (!f)
		return;
	if ((f->flags & both) != both || f->rx_unacked != f->credit_pending) {
		/* A close that would lose bytes or cut a direction short is an abort. */
		log_warnx("flowapi: flow %" PRIu32 " closed before both sides finished, resetting",
		          flow);
		tg_flow_reset(api, flow);
		return;
	}
	send_ctl(api, TG_MSG_CLOSED, flow, 0);
	flow_forget(api, f, true);
	kick(api);
}

/*
 * One message with a tg_msg_udp header and a payload (UDP, UDP_ERROR, ICMP_ECHO). A full link
 * drops it: datagrams are best effort, and holding them would let one flow take every slot.
 */
static int send_addressed(struct tg_flowapi *api, struct tg_desc *d, const struct tg_addr *src,
                          const struct tg_addr *dst, const void *data, size_t len,
                          uint64_t *dropped)
{
	struct tg_msg_udp h = {.src = *src, .dst = *dst};
	uint8_t *p;

	if (api->slot_size < sizeof(h) || len > api->slot_size - sizeof(h)) {
		errno = EMSGSIZE;
		return -1;
	}
	if ((d->slot = tg_link_alloc(api->link)) == TG_NO_SLOT)
		goto nobufs;
	p = tg_link_slot(api->link, d->slot);
	memcpy(p, &h, sizeof(h));
	if (len > 0)
		memcpy(p + sizeof(h), data, len);
	d->len = (uint32_t)(sizeof(h) + len);
	if (tg_link_send(api->link, d) < 0) {
		tg_link_unalloc(api->link, d->slot);
		goto nobufs;
	}
	kick(api);
	return 0;
nobufs:
	(*dropped)++;
	errno = ENOBUFS;
	return -1;
}

static size_t udp_max_payload(uint8_t family)
{
	return family == TG_AF_INET4 ? TG_UDP_MAX_PAYLOAD4 : TG_UDP_MAX_PAYLOAD6;
}

/*
 * Appends a datagram to the flow's open batch, or sends that and opens a new one. A datagram
 * too large for a record (slots smaller than a UDP payload plus headers) goes alone.
 */
static int batch_append(struct tg_flowapi *api, struct flow *f, const struct tg_addr *src,
                        const struct tg_addr *dst, const void *data, size_t len)
{
	struct tg_msg_udp h = {.src = *src, .dst = *dst};
	struct tg_desc d = {.flow = f->id, .type = TG_MSG_UDP};
	uint32_t slot;

	if ((f->flags & F_BATCH_Q) && memcmp(f->batch.buf, &h, sizeof(h)) == 0 &&
	    tg_udp_batch_add(&f->batch, data, len) == 0)
		return 0;
	batch_close(api, f);
	if (len + TG_UDP_BATCH_REC_HDR > api->slot_size - sizeof(h))
		return send_addressed(api, &d, src, dst, data, len, &api->stats.udp_dropped);
	if ((slot = tg_link_alloc(api->link)) == TG_NO_SLOT) {
		api->stats.udp_dropped++;
		errno = ENOBUFS;
		return -1;
	}
	tg_udp_batch_start(&f->batch, tg_link_slot(api->link, slot), api->slot_size, &h);
	tg_udp_batch_add(&f->batch, data, len); /* fits: checked above */
	f->batch_slot = slot;
	f->flags |= F_BATCH_Q;
	TAILQ_INSERT_TAIL(&api->batch_q, f, batch_entry);
	kick(api);
	return 0;
}

int tg_flow_send_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                     const struct tg_addr *dst, const void *data, size_t len)
{
	struct tg_desc d = {.flow = flow, .type = TG_MSG_UDP};
	struct flow *f = udp_live(api, flow);

	if (!f) {
		errno = ENOENT;
		return -1;
	}
	if (!addr_pair_ok(src, dst)) {
		errno = EINVAL;
		return -1;
	}
	if (len > udp_max_payload(src->family) || api->slot_size < sizeof(struct tg_msg_udp) ||
	    len > api->slot_size - sizeof(struct tg_msg_udp)) {
		errno = EMSGSIZE;
		return -1;
	}
	if (api->peer_batches)
		return batch_append(api, f, src, dst, data, len);
	return send_addressed(api, &d, src, dst, data, len, &api->stats.udp_dropped);
}

int tg_flow_udp_error(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                      const struct tg_addr *dst, enum tg_open_result result)
{
	struct tg_desc d = {.flow = flow, .arg = result, .type = TG_MSG_UDP_ERROR};
	struct flow *f = udp_live(api, flow);

	if (!f) {
		errno = ENOENT;
		return -1;
	}
	/* stackd turns these two into ICMP port and host unreachable; nothing else fits UDP. */
	if (!addr_pair_ok(src, dst) ||
	    (result != TG_OPEN_REFUSED && result != TG_OPEN_UNREACHABLE)) {
		errno = EINVAL;
		return -1;
	}
	batch_close(api, f); /* the datagrams before it come first */
	return send_addressed(api, &d, src, dst, NULL, 0, &api->stats.udp_dropped);
}

void tg_flow_udp_close(struct tg_flowapi *api, uint32_t flow)
{
	struct flow *f = udp_live(api, flow);

	if (!f)
		return;
	batch_close(api, f); /* its datagrams are delivered before stackd forgets the flow */
	send_ctl(api, TG_MSG_CLOSED, flow, 0);
	flow_forget(api, f, true);
	kick(api);
}

int tg_flow_send_icmp_echo(struct tg_flowapi *api, const struct tg_addr *src,
                           const struct tg_addr *dst, const void *data, size_t len)
{
	struct tg_desc d = {.flow = 0, .type = TG_MSG_ICMP_ECHO};

	if (!api->ready) {
		errno = ENOTCONN;
		return -1;
	}
	if (!addr_pair_ok(src, dst) || len < TG_ICMP_ECHO_HDR) {
		errno = EINVAL;
		return -1;
	}
	return send_addressed(api, &d, src, dst, data, len, &api->stats.icmp_dropped);
}

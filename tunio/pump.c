/*
 * The two packet paths of tunio.
 *
 * TUN -> link: packets are read straight into our own link slots (no copy), up to RX_BATCH
 * per wakeup, and flushed to stackd once per batch. With no free slot (with the vnet header:
 * RX_INFLIGHT_MAX slots out), reading stops until stackd hands slots back; the kernel queues
 * (and at worst drops) meanwhile.
 *
 * link -> TUN: each PACKET from stackd is queued, then written with one write() per packet
 * straight from stackd's slot, which goes back once written. The queue can hold every slot
 * stackd owns, so draining the link never has to stop: a descriptor is always consumed, and
 * a full TUN (EAGAIN) only makes us wait for EV_WRITE with the slots still held.
 *
 * Descriptors are untrusted (stackd parses hostile packets): the link checked slot index and
 * length; here the type, a non-empty slot, and that no slot is named twice. Bad ones are
 * counted and dropped, never fatal.
 *
 * With IFF_VNET_HDR on the TUN (tungate/tun_offload.c) every read and write starts with a
 * struct virtio_net_hdr, which stays in the slot in front of the packet (TG_PKT_F_VNET);
 * tunio never parses it. A packet from stackd without the header gets a zero one (no
 * offload) in front; one with a header that says nothing goes to a plain TUN without it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "link_event.h"
#include "log.h"
#include "proto.h"
#include "tunio.h"

#define RX_BATCH         64
#define RESUME_POLL_USEC 1000
/*
 * With the vnet header a slot holds a TSO packet of up to 64 KiB, and every slot a burst ever
 * filled stays resident in shared memory. Holding more than this many at once with stackd
 * would only add delay (16 MiB is ~30 ms of data at 4 Gbit/s); the TUN's queue takes the rest.
 */
#define RX_INFLIGHT_MAX 256u

/* ---- TUN -> link -------------------------------------------------------------------------- */

static void rx_pause(struct tunio *t)
{
	struct timeval tv = {0, RESUME_POLL_USEC};

	t->rx_paused = true;
	t->c.rx_no_slot++;
	event_del(t->ev_read);
	/*
	 * Normally the bell wakes us when slots come back, but slots returned just before we
	 * announce sleep are reclaimed without a bell: this slow poll covers that window.
	 */
	event_add(t->ev_resume, &tv);
}

/* A slot may be read into: one is free, and with the vnet header fewer than the cap are out. */
static bool rx_room(struct tunio *t)
{
	uint32_t count, cap;

	/* Without the header tg_link_alloc() says it all; free_slots reclaims, once per packet. */
	if (!t->vnet_hdr)
		return true;
	count = tg_link_slot_count(t->link);
	cap = count < RX_INFLIGHT_MAX ? count : RX_INFLIGHT_MAX;
	return tg_link_free_slots(t->link) > count - cap;
}

static void rx_resume_if_slots(struct tunio *t)
{
	if (!t->rx_paused || tg_link_free_slots(t->link) == 0 || !rx_room(t))
		return;
	t->rx_paused = false;
	event_del(t->ev_resume);
	event_add(t->ev_read, NULL);
}

/* Unexpected read errors mean the device is gone or broken: retrying would only spin. */
static void rx_error(struct tunio *t)
{
	log_warn("read from the TUN");
	t->exit_code = 1;
	event_base_loopbreak(t->base);
}

/* Returns 1 to go on reading, 0 when the batch ends (no data, no slot, or an error). */
static int rx_one(struct tunio *t)
{
	struct tg_desc d = {.type = TG_MSG_PACKET};
	ssize_t n;

	d.slot = rx_room(t) ? tg_link_alloc(t->link) : TG_NO_SLOT;
	if (d.slot == TG_NO_SLOT) {
		rx_pause(t);
		return 0;
	}
	n = read(t->tun_fd, tg_link_slot(t->link, d.slot), t->slot_size);
	if (n <= 0 || (size_t)n >= t->slot_size) {
		tg_link_unalloc(t->link, d.slot);
		if (n == 0)
			t->c.drop_empty++;
		else if (n > 0)
			t->c.drop_oversize++;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		else if (errno != EINTR) {
			rx_error(t);
			return 0;
		}
		return 1;
	}
	if (t->vnet_hdr && (size_t)n <= TG_VNET_HDR_LEN) {
		tg_link_unalloc(t->link, d.slot);
		t->c.drop_empty++;
		return 1;
	}
	if (t->vnet_hdr)
		d.flags = TG_PKT_F_VNET;
	d.len = (uint32_t)n;
	if (tg_link_send(t->link, &d) < 0) {
		tg_link_unalloc(t->link, d.slot);
		t->c.drop_link_full++;
		return 1;
	}
	t->c.rx_packets++;
	t->c.rx_bytes += (uint64_t)n;
	return 1;
}

static void on_tun_readable(evutil_socket_t fd, short what, void *arg)
{
	struct tunio *t = arg;

	for (int i = 0; i < RX_BATCH && rx_one(t); i++)
		;
	tg_link_flush(t->link);
}

static void on_resume_poll(evutil_socket_t fd, short what, void *arg)
{
	struct tunio *t = arg;
	struct timeval tv = {0, RESUME_POLL_USEC};

	rx_resume_if_slots(t);
	if (t->rx_paused)
		event_add(t->ev_resume, &tv);
}

/* ---- link -> TUN -------------------------------------------------------------------------- */

static void txq_push(struct tunio_txq *q, const struct tg_desc *d)
{
	q->desc[(q->head + q->len) % q->cap] = *d;
	q->held[d->slot] = 1;
	q->len++;
}

static void txq_pop(struct tunio *t)
{
	struct tunio_txq *q = &t->txq;
	uint32_t slot = q->desc[q->head].slot;

	q->held[slot] = 0;
	q->head = (q->head + 1) % q->cap;
	q->len--;
	tg_link_release(t->link, slot);
}

void pump_from_link(struct tunio *t, const struct tg_desc *d)
{
	if (d->type != TG_MSG_PACKET) {
		t->c.drop_unknown++;
		if (d->slot != TG_NO_SLOT && !t->txq.held[d->slot])
			tg_link_release(t->link, d->slot);
		return;
	}
	if (d->slot == TG_NO_SLOT || d->len == 0 ||
	    ((d->flags & TG_PKT_F_VNET) && d->len <= TG_VNET_HDR_LEN)) {
		t->c.drop_bad_desc++;
		if (d->slot != TG_NO_SLOT && !t->txq.held[d->slot])
			tg_link_release(t->link, d->slot);
		return;
	}
	/* Already queued: releasing it now would hand stackd a slot we still read from. */
	if (t->txq.held[d->slot]) {
		t->c.drop_dup_slot++;
		return;
	}
	txq_push(&t->txq, d);
}

static void tx_write_error(struct tunio *t)
{
	t->c.drop_write++;
	/* The kernel refuses malformed packets; say so once, the counter keeps the rest. */
	if (!t->write_error_logged) {
		log_warn("write to the TUN (packet dropped; further errors only counted)");
		t->write_error_logged = true;
	}
}

/*
 * One packet to the TUN, adapting the vnet header to what the TUN expects. Returns what
 * write() does; -1 with errno EPROTO for a header a plain TUN cannot take.
 */
static ssize_t tx_write_one(struct tunio *t, const struct tg_desc *d)
{
	/*
	 * A zero header, then the packet: rare (stackd answers with headers once it saw one),
	 * and a copy because tunio's system call filter has no writev().
	 */
	static uint8_t bounce[TG_VNET_HDR_LEN + 0xffff];
	const uint8_t *pkt = tg_link_peer_slot(t->link, d->slot);

	if (t->vnet_hdr && !(d->flags & TG_PKT_F_VNET)) {
		if (d->len > sizeof(bounce) - TG_VNET_HDR_LEN) {
			errno = EMSGSIZE;
			return -1;
		}
		memcpy(bounce + TG_VNET_HDR_LEN, pkt, d->len);
		return write(t->tun_fd, bounce, TG_VNET_HDR_LEN + d->len);
	}
	if (!t->vnet_hdr && (d->flags & TG_PKT_F_VNET)) {
		/* Only flags and gso_type (the first two bytes) ask the device for anything. */
		if (pkt[0] != 0 || pkt[1] != 0) {
			errno = EPROTO;
			return -1;
		}
		return write(t->tun_fd, pkt + TG_VNET_HDR_LEN, d->len - TG_VNET_HDR_LEN);
	}
	return write(t->tun_fd, pkt, d->len);
}

/* Writes queued packets in order; returns false if the TUN is full. */
static bool tx_write(struct tunio *t)
{
	struct tunio_txq *q = &t->txq;

	while (q->len > 0) {
		const struct tg_desc *d = &q->desc[q->head];
		ssize_t n = tx_write_one(t, d);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			t->c.tx_blocked++;
			event_add(t->ev_write, NULL);
			return false;
		}
		if (n < 0) {
			tx_write_error(t);
		} else {
			t->c.tx_packets++;
			t->c.tx_bytes += d->len;
		}
		txq_pop(t);
	}
	return true;
}

static void on_tun_writable(evutil_socket_t fd, short what, void *arg)
{
	struct tunio *t = arg;

	tx_write(t);
	/* Hand back the slots just written; the link driver is asleep and will not do it. */
	tg_link_flush(t->link);
}

void pump_after_drain(struct tunio *t)
{
	/* While EV_WRITE is pending, the writable callback owns the queue. */
	if (!event_pending(t->ev_write, EV_WRITE, NULL))
		tx_write(t);
	rx_resume_if_slots(t);
}

/* ---- setup -------------------------------------------------------------------------------- */

int pump_init(struct tunio *t, uint32_t slot_count)
{
	struct tunio_txq *q = &t->txq;

	q->cap = slot_count;
	q->desc = calloc(slot_count, sizeof(*q->desc));
	q->held = calloc(slot_count, 1);
	t->ev_read = event_new(t->base, t->tun_fd, EV_READ | EV_PERSIST, on_tun_readable, t);
	t->ev_write = event_new(t->base, t->tun_fd, EV_WRITE, on_tun_writable, t);
	t->ev_resume = evtimer_new(t->base, on_resume_poll, t);
	if (!q->desc || !q->held || !t->ev_read || !t->ev_write || !t->ev_resume)
		return -1;
	return 0;
}

void pump_start(struct tunio *t)
{
	event_add(t->ev_read, NULL);
}

void pump_reset(struct tunio *t)
{
	/* The old link's segment is gone: its queued slots are nobody's to release. */
	memset(t->txq.held, 0, t->txq.cap);
	t->txq.head = t->txq.len = 0;
	t->rx_paused = false;
	event_del(t->ev_read);
	event_del(t->ev_write);
	event_del(t->ev_resume);
}

void pump_free(struct tunio *t)
{
	if (t->ev_read)
		event_free(t->ev_read);
	if (t->ev_write)
		event_free(t->ev_write);
	if (t->ev_resume)
		event_free(t->ev_resume);
	free(t->txq.desc);
	free(t->txq.held);
}

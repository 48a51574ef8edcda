/*
 * A link joins two processes through one memfd: a header, two slot pools and four DPDK
 * rte_rings (single producer, single consumer), one pair per direction.
 *
 *   side 0 --data ring[0]--> side 1     descriptors of side 0's slots (and slot-less messages)
 *   side 0 <--free ring[0]-- side 1     side 0's slots handed back once side 1 is done
 *   side 1 --data ring[1]--> side 0
 *   side 1 <--free ring[1]-- side 0
 *
 * Each slot has one owner at a time; ownership moves only by enqueueing its index. Descriptors
 * carry indices, never pointers, so each process maps the memfd wherever it likes.
 *
 * Every side sleeps on one eventfd (its "bell"), which the peer writes only after it enqueued
 * something for that side and saw the side's `sleeping` flag set: both sides issue a full fence
 * between their store and their load, which is what makes a lost wakeup impossible.
 *
 * Only the creator (the supervisor) calls rte_ring_init(); the two attaching processes check
 * the header and never touch ring metadata except through the SP/SC burst calls. Everything
 * read from the segment is checked before use: the peer may be compromised.
 */
#ifndef TG_LINK_H
#define TG_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_LINK_MAGIC   0x4b4c4754u /* "TGLK" */
#define TG_LINK_VERSION 1u
#define TG_NO_SLOT      0xffffffffu
#define TG_LINK_BURST   64u /* descriptors moved per ring operation */

/* One descriptor: 24 bytes, copied by value through the rings. */
struct tg_desc {
	uint32_t slot; /* slot index in the sender's pool, or TG_NO_SLOT */
	uint32_t len;  /* payload bytes in the slot */
	uint32_t flow; /* flow id on link B, 0 on link A */
	uint32_t arg;  /* meaning depends on type: credit bytes, result code, ... */
	uint16_t type; /* enum tg_msg_type (proto.h) */
	uint16_t flags;
	uint32_t epoch; /* the link epoch the sender attached under */
};
_Static_assert(sizeof(struct tg_desc) == 24, "tg_desc is a wire struct");

struct tg_link_params {
	const char *name;    /* for logs and the memfd name */
	uint32_t slot_size;  /* bytes per slot, multiple of 64 */
	uint32_t slot_count; /* slots per direction */
	uint32_t epoch;
};

/* Counters a side keeps about what it saw from its peer; read by tests and stats. */
struct tg_link_stats {
	uint64_t tx_descs;
	uint64_t rx_descs;
	uint64_t bad_descs; /* failed range, type or epoch checks: dropped */
	uint64_t bells_rung;
	uint64_t tx_full; /* enqueue found the ring full; descriptors kept pending */
	/* a ring header was overwritten: the link is abandoned and must be replaced (reset) */
	uint64_t resets_requested;
};

struct tg_link_end;

/* Supervisor side: create and initialise a link; returns the memfd or -1 with errno set. */
int tg_link_create(const struct tg_link_params *params);

/*
 * A process attaches to one side of a link. bell_self is the eventfd it sleeps on, bell_peer
 * the eventfd of the other side. Returns NULL (and logs why) if the segment is not a link of
 * this layout version. The fds stay owned by the caller.
 */
struct tg_link_end *tg_link_attach(int memfd, int side, int bell_self, int bell_peer);
void tg_link_detach(struct tg_link_end *end);

uint32_t tg_link_slot_size(const struct tg_link_end *end);
/* Slots per direction (both pools have this many). */
uint32_t tg_link_slot_count(const struct tg_link_end *end);
uint32_t tg_link_epoch(const struct tg_link_end *end);
/* Descriptors waiting in each direction's data ring (used[side]), and a ring's capacity. */
int tg_link_usage(int memfd, uint32_t used[2], uint32_t *capacity);
int tg_link_bell_fd(const struct tg_link_end *end);
const struct tg_link_stats *tg_link_stats(const struct tg_link_end *end);
/*
 * True once a ring header of this link was found overwritten (stats.resets_requested): every
 * call on it does nothing from then on, and its owner must have the link replaced (reset).
 */
bool tg_link_broken(const struct tg_link_end *end);

/*
 * Sending. tg_link_alloc() takes one of this side's free slots (TG_NO_SLOT when none: the
 * caller must wait for the peer to return some; the bell rings when it does) and
 * tg_link_slot() gives its memory. tg_link_send() queues a descriptor (with or without slot)
 * for the peer; queued descriptors go out at tg_link_flush() or when a burst fills up.
 * Returns -1 only if the pending queue is full (the peer stopped consuming).
 */
uint32_t tg_link_alloc(struct tg_link_end *end);
void *tg_link_slot(struct tg_link_end *end, uint32_t slot);
void tg_link_unalloc(struct tg_link_end *end, uint32_t slot);
int tg_link_send(struct tg_link_end *end, const struct tg_desc *desc);
int tg_link_send_copy(struct tg_link_end *end, uint16_t type, uint32_t flow, uint32_t arg,
                      const void *data, uint32_t len);
void tg_link_flush(struct tg_link_end *end);
bool tg_link_tx_pending(const struct tg_link_end *end);
uint32_t tg_link_free_slots(struct tg_link_end *end);
/*
 * Our slots not back with us (allocated, queued, or still with the peer), without taking back
 * any that are on their way: a gauge for counters, with no effect on the sleep protocol.
 */
uint32_t tg_link_slots_out(struct tg_link_end *end);

/*
 * Receiving. tg_link_recv() dequeues up to max descriptors that passed the range and epoch
 * checks (bad ones are counted and dropped). The payload of a received slot is reached with
 * tg_link_peer_slot(); the caller must give each received slot back with tg_link_release(),
 * possibly later (ownership is what bounds memory).
 */
unsigned tg_link_recv(struct tg_link_end *end, struct tg_desc *descs, unsigned max);
const void *tg_link_peer_slot(struct tg_link_end *end, uint32_t slot);
void tg_link_release(struct tg_link_end *end, uint32_t slot);

/*
 * Sleeping. After draining, a side calls tg_link_prepare_sleep(): it announces sleep and
 * returns false if something arrived meanwhile (then drain again). tg_link_wake() clears the
 * flag and the eventfd counter when the bell fired.
 */
bool tg_link_prepare_sleep(struct tg_link_end *end);
void tg_link_wake(struct tg_link_end *end);
bool tg_link_rx_ready(struct tg_link_end *end);

#endif

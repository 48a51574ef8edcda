/*
 * tunio: the only process that touches the TUN fd. It moves packets between the fd and link A
 * (side 0; stackd is side 1) and does nothing else: no parsing beyond length checks.
 */
#ifndef TG_TUNIO_H
#define TG_TUNIO_H

#include <stdbool.h>
#include <stdint.h>

#include "link.h"

struct event;
struct event_base;
struct tg_link_event;

struct tg_stats_region;
struct tg_link_fds;
struct tg_ctl_event;

struct tunio_counters {
	/* TUN -> link */
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t rx_no_slot;     /* reading paused: every slot was with stackd */
	uint64_t drop_empty;     /* zero-length read */
	uint64_t drop_oversize;  /* filled the whole slot: may have been cut short */
	uint64_t drop_link_full; /* stackd stopped consuming */
	/* link -> TUN */
	uint64_t tx_packets;
	uint64_t tx_bytes;
	uint64_t tx_blocked;    /* write() said EAGAIN: waited for EV_WRITE */
	uint64_t drop_write;    /* write() failed: the kernel refused the packet */
	uint64_t drop_bad_desc; /* PACKET without a slot or with length 0 */
	uint64_t drop_dup_slot; /* a slot named again while we still held it */
	uint64_t drop_unknown;  /* a message type link A does not carry */
};

/* Descriptors from stackd waiting to be written, in order; each holds one of stackd's slots. */
struct tunio_txq {
	struct tg_desc *desc;
	uint8_t *held; /* per slot of stackd: 1 while queued here */
	uint32_t cap;  /* stackd's slot count: the queue can never hold more */
	uint32_t head;
	uint32_t len;
};

struct tunio {
	struct event_base *base;
	struct tg_link_end *link;
	struct tg_link_event *lev;
	struct tg_link_fds *fds; /* link A's fds: replaced when the link is renewed */
	struct tg_ctl_event *ctl;
	int tun_fd;
	uint32_t slot_size;
	bool vnet_hdr; /* the TUN has IFF_VNET_HDR: packets carry a virtio_net_hdr */
	bool hello_done;
	bool rx_paused;
	bool write_error_logged;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_resume; /* while paused: polls for returned slots */
	struct tunio_txq txq;
	struct tunio_counters c;
	struct tg_stats_region *stats; /* NULL: not published */
	int exit_code;
};

/* pump.c: the two packet paths. */
int pump_init(struct tunio *t, uint32_t slot_count);
void pump_free(struct tunio *t);
void pump_reset(struct tunio *t); /* link A was renewed: forget the old one's packets */
void pump_start(struct tunio *t); /* after stackd's HELLO */
void pump_from_link(struct tunio *t, const struct tg_desc *d); /* one received descriptor */
void pump_after_drain(struct tunio *t);                        /* write queued packets, resume rx */

#endif

/*
 * UDP_BATCH (proto.h): several datagrams of one UDP flow in one link B slot, so that a burst
 * costs one slot and one descriptor instead of one per datagram. The slot holds
 *
 *   struct tg_msg_udp              the flow's addresses, as in a UDP message
 *   arg times:  uint16_t len       host byte order, unaligned
 *               len bytes          one datagram (0 bytes is a valid, empty datagram)
 *
 * and nothing after the last record: the descriptor's len is exactly 40 + the records, and its
 * arg is the record count, 1..TG_UDP_BATCH_MAX. A record may not be longer than a UDP payload
 * of the header's family. docs/protocol.md describes the message; this file is the only code
 * that writes or reads its layout.
 *
 * The reader is strict: tg_udp_batch_check() accepts a batch only if every record is in
 * bounds and the count and length agree exactly, so a receiver can drop a malformed batch
 * whole (one counted drop) before it delivers any datagram. The iterator checks bounds again
 * on its own copy of each length: the slot is shared memory, and a hostile peer may rewrite it
 * between the check and the walk. It then stops early, but never reads outside the slot.
 *
 * The writer fills a slot as datagrams come. A batch that ends up with one datagram is
 * turned into a plain UDP message when it is finished, so lone datagrams (DNS, most
 * request/response traffic) look on the wire as they always did.
 */
#ifndef TG_UDP_BATCH_H
#define TG_UDP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define TG_UDP_BATCH_REC_HDR 2u   /* the length prefix of a record */
#define TG_UDP_BATCH_MAX     256u /* records per batch: bounds a receiver's work per message */

/* The largest datagram a record may hold: a UDP payload of the family (IPv4 or IPv6). */
uint32_t tg_udp_batch_max_payload(uint8_t family);

struct tg_udp_batch_writer {
	uint8_t *buf;   /* the slot */
	uint32_t cap;   /* its size */
	uint32_t len;   /* bytes written: header and records */
	uint32_t count; /* records */
};

/* Starts a batch in buf (cap bytes, at least the header) with the flow's addresses. */
void tg_udp_batch_start(struct tg_udp_batch_writer *w, void *buf, uint32_t cap,
                        const struct tg_msg_udp *h);
/*
 * Room for one more record of len bytes: returns where to write them (the length prefix is
 * written already), or NULL when the batch has TG_UDP_BATCH_MAX records, the record does not
 * fit, or len is beyond any UDP payload. Nothing changes on NULL.
 */
uint8_t *tg_udp_batch_reserve(struct tg_udp_batch_writer *w, size_t len);
/* As tg_udp_batch_reserve() and copies data; -1 when it does not fit. */
int tg_udp_batch_add(struct tg_udp_batch_writer *w, const void *data, size_t len);
/*
 * Ends the batch: *type and *arg for the descriptor, returns its len. One record becomes a
 * plain TG_MSG_UDP (arg 0: header and datagram); more stay TG_MSG_UDP_BATCH (arg = count).
 * The writer must hold at least one record.
 */
uint32_t tg_udp_batch_finish(struct tg_udp_batch_writer *w, uint16_t *type, uint32_t *arg);
/*
 * Finishes a batch written into slot (of link) and queues it for flow. Returns the type sent
 * (TG_MSG_UDP_BATCH, or TG_MSG_UDP for a lone datagram), or TG_MSG_NONE when the link refused
 * it: the slot is given back and the w->count datagrams are lost.
 */
struct tg_link_end;
uint16_t tg_udp_batch_send(struct tg_link_end *link, uint32_t flow, uint32_t slot,
                           struct tg_udp_batch_writer *w);

enum tg_udp_batch_verdict {
	TG_UDP_BATCH_OK = 0,
	TG_UDP_BATCH_SHORT,     /* no room for the header */
	TG_UDP_BATCH_COUNT,     /* count 0 or above TG_UDP_BATCH_MAX */
	TG_UDP_BATCH_TRUNCATED, /* a length prefix or a record goes past the end */
	TG_UDP_BATCH_TOO_BIG,   /* a record longer than a UDP payload of the family */
	TG_UDP_BATCH_TRAILING,  /* bytes after the last record */
};

/*
 * Checks a received batch (slot, len and count from the descriptor) and copies its header to
 * *h. Addresses are the caller's to judge, as for a UDP message.
 */
enum tg_udp_batch_verdict tg_udp_batch_check(const void *slot, uint32_t len, uint32_t count,
                                             struct tg_msg_udp *h);
const char *tg_udp_batch_verdict_name(enum tg_udp_batch_verdict v);

struct tg_udp_batch_reader {
	const uint8_t *p;
	uint32_t len;  /* the descriptor's */
	uint32_t off;  /* next record */
	uint32_t left; /* records still to come */
	uint32_t max;  /* largest record */
};

/* Starts a walk over a batch that tg_udp_batch_check() accepted (same slot, len, count, h). */
void tg_udp_batch_read(struct tg_udp_batch_reader *r, const void *slot, uint32_t len,
                       uint32_t count, const struct tg_msg_udp *h);
/*
 * The next datagram: true with *data (pointing into the slot) and *len, false at the end or
 * if the slot changed under the walk and a record no longer fits.
 */
bool tg_udp_batch_next(struct tg_udp_batch_reader *r, const uint8_t **data, uint32_t *len);

#endif

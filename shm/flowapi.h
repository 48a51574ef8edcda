/*
 * The flow API: how a program takes the flows that stackd terminates, without knowing about
 * rings, slots or descriptors. relayd is one user; any other program can be another
 * (docs/flow-api.md). It is the C counterpart of netstack-lwip's listener / stream / UDP socket.
 *
 * The API owns the relayd side of link B, runs on the caller's libevent base, and calls back
 * for every event stackd reports. All calls are non-blocking.
 *
 * Flow control: tg_flow_send() moves stream bytes only against the credit stackd granted and
 * returns how many it took; when it took fewer than offered, on_writable() tells when to try
 * again. Bytes received through on_data() must be acknowledged with tg_flow_consumed() once
 * the caller has handed them on (written to its socket), which is what reopens stackd's window.
 *
 * UDP flows (one per client address:port and destination address:port) share the flow table
 * but not the TCP calls: the first datagram starts one (on_udp with no udata yet), datagrams
 * are best effort both ways, and either side ends it with CLOSED. ICMP echo has no flow.
 * Datagrams of one flow that travel together are packed into one slot (UDP_BATCH, proto.h)
 * both ways: on_udp_batch hands a whole batch over at once (for sendmmsg()), and
 * tg_flow_send_udp() packs what it is given within one loop turn.
 */
#ifndef TG_FLOWAPI_H
#define TG_FLOWAPI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "addr.h"
#include "proto.h"

/* The per-flow receive window this side offers stackd, announced in its HELLO. */
#define TG_FLOWAPI_WINDOW (256u * 1024u)
/* Flows tracked at once; a TCP_OPEN beyond this is answered TG_OPEN_REJECTED. */
#define TG_FLOWAPI_MAX_FLOWS 65536u
/*
 * UDP flows (NAT entries) tracked at once, counted apart from the TCP limit. A datagram that
 * would start one more is dropped, counted in udp_flows_rejected, and answered CLOSED so that
 * stackd forgets the flow and the client's next datagram tries again under a new id.
 */
#define TG_FLOWAPI_MAX_UDP_FLOWS 16384u
/* Largest UDP payload per family (IPv4: 65535 - 20 - 8, IPv6 without jumbograms: 65535 - 8). */
#define TG_UDP_MAX_PAYLOAD4 65507u
#define TG_UDP_MAX_PAYLOAD6 65527u
/* An ICMP message starts with type, code, checksum, identifier and sequence. */
#define TG_ICMP_ECHO_HDR 8u

struct event_base;
struct tg_link_end;
struct tg_flowapi;

struct tg_flowapi_cbs {
	/* A client opened a TCP connection to dst. Answer with tg_flow_open_result(). */
	void (*on_tcp_open)(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
	                    const struct tg_addr *dst, enum tg_open_mode mode, void *arg);
	/* Stream bytes from the client; acknowledge them later with tg_flow_consumed(). */
	void (*on_data)(struct tg_flowapi *api, uint32_t flow, const void *data, size_t len,
	                void *arg);
	/* The client will send no more (FIN). */
	void (*on_shut_wr)(struct tg_flowapi *api, uint32_t flow, void *arg);
	/* The flow is gone (client RST, or stackd gave up on it): forget it. */
	void (*on_reset)(struct tg_flowapi *api, uint32_t flow, void *arg);
	/* Credit arrived: tg_flow_send() can take more bytes for this flow. */
	void (*on_writable)(struct tg_flowapi *api, uint32_t flow, void *arg);
	/*
	 * A UDP datagram from the client src to dst. flow names the client's 4-tuple; stackd
	 * creates UDP flows implicitly, so the first datagram of a flow is also its start:
	 * tg_flow_udata() is NULL then, until the caller sets it.
	 */
	void (*on_udp)(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
	               const struct tg_addr *dst, const void *data, size_t len, void *arg);
	/*
	 * Optional: several datagrams of one UDP flow that stackd sent in one slot, in order
	 * (n >= 1, at most TG_UDP_BATCH_MAX). As on_udp otherwise: the first batch of a flow
	 * starts it, with udata NULL. dgrams[i].iov_base points into the slot: read only, valid
	 * during the call. When NULL, on_udp gets the datagrams one by one.
	 */
	void (*on_udp_batch)(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
	                     const struct tg_addr *dst, const struct iovec *dgrams, unsigned n,
	                     void *arg);
	/* stackd ended a UDP flow (CLOSED or RESET): forget it; udata is still readable. */
	void (*on_udp_closed)(struct tg_flowapi *api, uint32_t flow, void *arg);
	/*
	 * An ICMP echo request from the client src (port = its echo identifier) to dst (port 0).
	 * data is the ICMP message as the client sent it: type, code, checksum, identifier,
	 * sequence, data; at least TG_ICMP_ECHO_HDR bytes, type 8 (IPv4) or 128 (IPv6).
	 */
	void (*on_icmp_echo)(struct tg_flowapi *api, const struct tg_addr *src,
	                     const struct tg_addr *dst, const void *data, size_t len, void *arg);
	/* stackd (re)started: every flow of the previous epoch is gone. */
	void (*on_peer_reset)(struct tg_flowapi *api, void *arg);
};

struct tg_flowapi_stats {
	uint64_t flows_opened;
	uint64_t bad_msgs;           /* malformed or out-of-state messages, dropped */
	uint64_t credit_errors;      /* stackd sent beyond its credit: flow reset */
	uint64_t udp_dropped;        /* no slot for a datagram (or a UDP_ERROR) to stackd */
	uint64_t flows_rejected;     /* TCP_OPEN beyond TG_FLOWAPI_MAX_FLOWS */
	uint64_t late_msgs;          /* for a flow we just forgot: crossed in flight, ignored */
	uint64_t tx_errors;          /* the link refused a message (peer stopped consuming) */
	uint64_t udp_flows_opened;   /* UDP flows started by a first datagram */
	uint64_t udp_flows_rejected; /* first datagrams beyond TG_FLOWAPI_MAX_UDP_FLOWS */
	uint64_t icmp_dropped;       /* no slot for an echo reply to stackd */
	uint64_t udp_batches_rx;     /* UDP_BATCH messages from stackd, accepted */
	uint64_t udp_bad_batches;    /* ... malformed: dropped whole (also in bad_msgs) */
	uint64_t udp_batches_tx;     /* UDP_BATCH to stackd (slots of two or more datagrams) */
};

struct tg_flowapi *tg_flowapi_new(struct event_base *base, struct tg_link_end *link,
                                  const struct tg_flowapi_cbs *cbs, void *arg);
void tg_flowapi_free(struct tg_flowapi *api);
/*
 * stackd restarted on a new link segment: every flow is dropped (on_peer_reset is called),
 * the API switches to `link` (which the caller attached) and greets it. The caller detaches
 * the old link afterwards. Returns 0, or -1 if the new link cannot be used.
 */
int tg_flowapi_replace_link(struct tg_flowapi *api, struct tg_link_end *link);
const struct tg_flowapi_stats *tg_flowapi_stats(const struct tg_flowapi *api);
/* Number of flows, TCP and UDP, the API still tracks (for leak checks). */
unsigned tg_flowapi_flow_count(const struct tg_flowapi *api);
/* Of those, the UDP flows. */
unsigned tg_flowapi_udp_flow_count(const struct tg_flowapi *api);
/* True once stackd's HELLO was accepted; before that no flow can exist. */
int tg_flowapi_ready(const struct tg_flowapi *api);
/* The per-flow window stackd announced in its HELLO (0 before it): the most credit a flow has. */
size_t tg_flowapi_peer_window(const struct tg_flowapi *api);

/*
 * One pointer of the caller's per flow, so that callbacks find their own state without a
 * second table. Readable until the flow is forgotten, including inside on_reset().
 */
void tg_flow_set_udata(struct tg_flowapi *api, uint32_t flow, void *udata);
void *tg_flow_udata(const struct tg_flowapi *api, uint32_t flow);

void tg_flow_open_result(struct tg_flowapi *api, uint32_t flow, enum tg_open_result result);
/* Returns bytes taken (0..len); 0 also when the flow has no credit or no slot is free. */
size_t tg_flow_send(struct tg_flowapi *api, uint32_t flow, const void *data, size_t len);
size_t tg_flow_send_window(struct tg_flowapi *api, uint32_t flow);
/*
 * tg_flow_send() without the copy: reserve a link slot, fill up to r->room bytes of it (the
 * credit or a slot, whichever is less; e.g. with recv()), and commit what was written. NULL
 * when tg_flow_send() would take nothing (no credit, or no slot: on_writable() follows). A
 * reservation must be committed before the caller returns to the event loop; committing 0
 * bytes gives the slot back. Returns the bytes sent (0 or len).
 */
struct tg_flow_reservation {
	uint32_t slot;
	uint32_t room;
};
void *tg_flow_send_reserve(struct tg_flowapi *api, uint32_t flow, struct tg_flow_reservation *r);
size_t tg_flow_send_commit(struct tg_flowapi *api, uint32_t flow,
                           const struct tg_flow_reservation *r, size_t len);
void tg_flow_consumed(struct tg_flowapi *api, uint32_t flow, size_t bytes);
void tg_flow_shut_wr(struct tg_flowapi *api, uint32_t flow);
/* Abort: stackd resets the client. The flow is forgotten at once. */
void tg_flow_reset(struct tg_flowapi *api, uint32_t flow);
/*
 * After SHUT_WR went both ways and every byte received was consumed: tell stackd the flow is
 * finished (CLOSED) and forget it. Messages that still arrive for it are ignored.
 */
void tg_flow_close(struct tg_flowapi *api, uint32_t flow);

/*
 * UDP. A flow starts with its first datagram (on_udp) and ends with tg_flow_udp_close() or
 * on_udp_closed(). The TCP calls above do nothing on a UDP flow; udata works for both.
 *
 * tg_flow_send_udp: one datagram to the client on a live UDP flow; src is the remote end (the
 * flow's original destination), dst the client. Returns 0, or -1 with errno: ENOENT (no such
 * UDP flow), EINVAL (bad addresses), EMSGSIZE (larger than a UDP payload or a slot), ENOBUFS
 * (no slot free now: dropped, counted in udp_dropped). When stackd speaks UDP_BATCH, the
 * datagrams of one flow given in one loop turn share a slot, sent when it is full, before the
 * flow's next UDP_ERROR or CLOSED, or when the loop turn ends (the link is flushed then
 * anyway): packing adds no delay. Order within a flow is kept.
 */
int tg_flow_send_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                     const struct tg_addr *dst, const void *data, size_t len);
/*
 * The remote end cannot be reached: stackd tells the client with an ICMP port unreachable
 * (TG_OPEN_REFUSED) or host unreachable (TG_OPEN_UNREACHABLE), quoting src (the original
 * destination) and dst (the client). The flow stays. Returns 0 or -1 as tg_flow_send_udp(),
 * EINVAL also for any other result.
 */
int tg_flow_udp_error(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                      const struct tg_addr *dst, enum tg_open_result result);
/* The NAT entry expired: tell stackd (CLOSED) and forget the flow. */
void tg_flow_udp_close(struct tg_flowapi *api, uint32_t flow);
/*
 * An echo reply for the client: src is the target, dst the client with port = the client's
 * own echo identifier; data is the ICMP echo reply (stackd rewrites type, identifier and
 * checksum; sequence and data must be the request's). Returns 0, or -1 with errno: EINVAL
 * (bad addresses, shorter than TG_ICMP_ECHO_HDR), EMSGSIZE, ENOBUFS (counted in icmp_dropped).
 */
int tg_flow_send_icmp_echo(struct tg_flowapi *api, const struct tg_addr *src,
                           const struct tg_addr *dst, const void *data, size_t len);

#endif

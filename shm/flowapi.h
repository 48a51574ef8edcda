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
 */
#ifndef TG_FLOWAPI_H
#define TG_FLOWAPI_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "proto.h"

/* The per-flow receive window this side offers stackd, announced in its HELLO. */
#define TG_FLOWAPI_WINDOW (256u * 1024u)
/* Flows tracked at once; a TCP_OPEN beyond this is answered TG_OPEN_REJECTED. */
#define TG_FLOWAPI_MAX_FLOWS 65536u

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
	/* A UDP datagram from the client src to dst (flow names the client's 4-tuple). */
	void (*on_udp)(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
	               const struct tg_addr *dst, const void *data, size_t len, void *arg);
	/* stackd (re)started: every flow of the previous epoch is gone. */
	void (*on_peer_reset)(struct tg_flowapi *api, void *arg);
};

struct tg_flowapi_stats {
	uint64_t flows_opened;
	uint64_t bad_msgs;       /* malformed or out-of-state messages, dropped */
	uint64_t credit_errors;  /* stackd sent beyond its credit: flow reset */
	uint64_t udp_dropped;    /* no slot for a datagram */
	uint64_t flows_rejected; /* TCP_OPEN beyond TG_FLOWAPI_MAX_FLOWS */
	uint64_t late_msgs;      /* for a flow we just forgot: crossed in flight, ignored */
	uint64_t tx_errors;      /* the link refused a message (peer stopped consuming) */
};

struct tg_flowapi *tg_flowapi_new(struct event_base *base, struct tg_link_end *link,
                                  const struct tg_flowapi_cbs *cbs, void *arg);
void tg_flowapi_free(struct tg_flowapi *api);
const struct tg_flowapi_stats *tg_flowapi_stats(const struct tg_flowapi *api);
/* Number of flows the API still tracks (for leak checks). */
unsigned tg_flowapi_flow_count(const struct tg_flowapi *api);
/* True once stackd's HELLO was accepted; before that no flow can exist. */
int tg_flowapi_ready(const struct tg_flowapi *api);

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
void tg_flow_consumed(struct tg_flowapi *api, uint32_t flow, size_t bytes);
void tg_flow_shut_wr(struct tg_flowapi *api, uint32_t flow);
/* Abort: stackd resets the client. The flow is forgotten at once. */
void tg_flow_reset(struct tg_flowapi *api, uint32_t flow);
/*
 * After SHUT_WR went both ways and every byte received was consumed: tell stackd the flow is
 * finished (CLOSED) and forget it. Messages that still arrive for it are ignored.
 */
void tg_flow_close(struct tg_flowapi *api, uint32_t flow);
int tg_flow_send_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                     const struct tg_addr *dst, const void *data, size_t len);

#endif

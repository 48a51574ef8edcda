/*
 * relayd: the only tungate process that talks to the network. stackd terminates the clients'
 * TCP connections and hands each one over link B as a flow; relayd takes them through the
 * flow API (shm/flowapi.h) and relays each over an outbound socket of its own.
 */
#ifndef TG_RELAYD_H
#define TG_RELAYD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "flowapi.h"

struct event_base;
struct relay_flow;

struct relayd_stats {
	uint64_t flows_open;                         /* relayed right now */
	uint64_t flows_total;                        /* TCP_OPENs taken */
	uint64_t flows_closed;                       /* ended with FIN both ways */
	uint64_t flows_reset;                        /* ended by a reset from either side */
	uint64_t bytes_up;                           /* client -> server */
	uint64_t bytes_down;                         /* server -> client */
	uint64_t connect_failed[TG_OPEN_RESULT_MAX]; /* by the result stackd was told */
	uint64_t udp_dropped;                        /* UDP is not relayed yet */
};

struct relayd {
	struct event_base *base;
	struct tg_flowapi *api;
	struct timeval connect_timeout;
	size_t chunk; /* bytes handed to tg_flow_send() at once: one link slot */
	TAILQ_HEAD(relay_flows, relay_flow) flows;
	struct relayd_stats stats;
};

/* relay_tcp.c: one TCP flow relayed over one outbound socket, direct mode. */
void relay_tcp_open(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                    const struct tg_addr *dst);
void relay_tcp_data(struct relayd *rd, uint32_t flow, const void *data, size_t len);
void relay_tcp_shut_wr(struct relayd *rd, uint32_t flow);
void relay_tcp_reset(struct relayd *rd, uint32_t flow);
void relay_tcp_writable(struct relayd *rd, uint32_t flow);
/* Aborts every flow: servers see RST, stackd is told (if it still knows the flow). */
void relay_tcp_drop_all(struct relayd *rd);

#endif

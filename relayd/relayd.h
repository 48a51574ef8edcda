/*
 * relayd: the only tungate process that talks to the network. stackd terminates the clients'
 * TCP connections and hands each one over link B as a flow; relayd takes them through the
 * flow API (shm/flowapi.h) and relays each over an outbound socket of its own. UDP flows are
 * NAT entries with a connected socket each (relay_udp.c); ICMP echo goes out through ICMP
 * sockets (relay_icmp.c).
 */
#ifndef TG_RELAYD_H
#define TG_RELAYD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "flowapi.h"
#include "rules.h"
#include "socks5.h"
#include "socks5_udp.h"

struct event_base;
struct relay_flow;
struct relay_icmp;
struct udp_entry;

struct relayd_stats {
	uint64_t flows_open;                         /* relayed right now */
	uint64_t flows_total;                        /* TCP_OPENs taken */
	uint64_t flows_closed;                       /* ended with FIN both ways */
	uint64_t flows_reset;                        /* ended by a reset from either side */
	uint64_t bytes_up;                           /* client -> server */
	uint64_t bytes_down;                         /* server -> client */
	uint64_t connect_failed[TG_OPEN_RESULT_MAX]; /* by the result stackd was told */
	uint64_t open_failed_nofile; /* TCP or UDP: no socket, fd limit (EMFILE/ENFILE) */
};

/* UDP NAT (relay_udp.c). Datagrams dropped are counted by reason; none is dropped silently. */
struct relayd_udp_stats {
	uint64_t flows_open;  /* NAT entries right now */
	uint64_t flows_total; /* NAT entries ever made */
	uint64_t expired;     /* idle timeout: CLOSED sent to stackd */
	uint64_t dgrams_up;   /* client -> server, sent */
	uint64_t bytes_up;
	uint64_t dgrams_down; /* server -> client, handed to stackd */
	uint64_t bytes_down;
	uint64_t refused_sent;     /* UDP_ERROR REFUSED (ICMP port unreachable for the client) */
	uint64_t unreach_sent;     /* UDP_ERROR UNREACHABLE (ICMP host unreachable) */
	uint64_t drop_no_slot;     /* down: no link slot free */
	uint64_t drop_too_big;     /* up: larger than the socket takes (EMSGSIZE) */
	uint64_t drop_send_error;  /* up: send() failed otherwise (buffer full, ...) */
	uint64_t drop_socket;      /* up: no socket for a new entry (fd limit, ...) */
	uint64_t drop_unreachable; /* up: connect() found no route; UDP_ERROR sent instead */
	uint64_t drop_mismatch;    /* up: addresses differ from the entry's: stackd is confused */
	uint64_t recv_errors;      /* down: recv() failed with an unexpected error */
	uint64_t send_calls;       /* up: sendmmsg() calls (direct; batches from stackd) */
	uint64_t recv_calls;       /* down: recvmmsg() calls */
	uint64_t gso_sends;        /* up: of the send calls, sendmsg() with UDP_SEGMENT */
};

/* ICMP echo (relay_icmp.c). */
struct relayd_icmp_stats {
	uint64_t entries_open; /* (client, identifier, target) entries right now */
	uint64_t entries_total;
	uint64_t expired;
	uint64_t requests;        /* echo requests from clients */
	uint64_t sent;            /* ... sent to their target */
	uint64_t replies;         /* echo replies handed to stackd */
	uint64_t drop_no_socket;  /* no ICMP socket allowed (ping_group_range, CAP_NET_RAW) */
	uint64_t drop_table_full; /* ICMP_MAX_ENTRIES reached */
	uint64_t drop_send_error; /* sendto() failed */
	uint64_t drop_too_big;    /* larger than a packet */
	uint64_t drop_no_slot;    /* reply: no link slot free */
	uint64_t ignored;         /* raw socket: replies that were not for us */
};

struct tg_link_end;
struct tg_link_fds;
struct tg_stats_region;

struct relayd {
	struct event_base *base;
	struct tg_flowapi *api;
	struct tg_link_end *link; /* link B: replaced when stackd restarts */
	struct tg_link_fds *link_fds;
	struct tg_stats_region *stats_region; /* NULL: counters not published */
	struct tg_flowapi_stats api_stats;    /* the flow API's, copied in to be published */
	struct timeval connect_timeout;
	/* Routing (docs/rules.md): the table, and one relay_upstream per upstream of it */
	struct tg_rules rules;
	struct relay_upstream direct;
	struct relay_upstream upstreams[TG_UPSTREAMS_MAX];
	uint64_t rule_rejected; /* flows a reject rule refused here (stackd refuses most) */
	/* dest_policy.h: direct flows to the gateway itself, unless [relay] allow_local */
	bool allow_local;
	uint64_t dest_refused_local;
	size_t chunk; /* bytes handed to tg_flow_send() at once: one link slot */
	TAILQ_HEAD(relay_flows, relay_flow) flows;
	struct relayd_stats stats;
	/* UDP: idle timeouts in ms, for port 53 and for the rest */
	uint32_t udp_timeout_ms;
	uint32_t dns_timeout_ms;
	TAILQ_HEAD(udp_entries, udp_entry) udp;
	struct relayd_udp_stats udp_stats;
	struct socks5_udp_stats socks_udp_stats; /* UDP ASSOCIATE (socks5_udp.h) */
	struct relay_icmp *icmp;
	struct relayd_icmp_stats icmp_stats;
};

/*
 * The way out for a new flow to dst (proto IPPROTO_TCP or IPPROTO_UDP): the upstream of the
 * first rule that matches, or NULL if that rule rejects the flow. The pointer lives as long as
 * relayd. relayd.c calls it for each TCP_OPEN; relay_udp.c for each new NAT entry (not per
 * datagram: it is a linear scan of the rules).
 */
const struct relay_upstream *relayd_upstream_for(struct relayd *rd, uint8_t proto,
                                                 const struct tg_addr *dst);

/* Milliseconds on a coarse monotonic clock, for idle timeouts. */
uint64_t relay_now_ms(void);

/*
 * relay_tcp.c: one TCP flow relayed over one outbound socket, directly or through a SOCKS5
 * proxy (up, which must outlive the flow).
 */
void relay_tcp_open(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                    const struct tg_addr *dst, const struct relay_upstream *up);
void relay_tcp_data(struct relayd *rd, uint32_t flow, const void *data, size_t len);
void relay_tcp_shut_wr(struct relayd *rd, uint32_t flow);
void relay_tcp_reset(struct relayd *rd, uint32_t flow);
void relay_tcp_writable(struct relayd *rd, uint32_t flow);
/* Aborts every flow: servers see RST, stackd is told (if it still knows the flow). */
void relay_tcp_drop_all(struct relayd *rd);

/* relay_udp.c: UDP NAT, one connected socket (or SOCKS5 UDP association) per flow. */
void relay_udp_datagram(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                        const struct tg_addr *dst, const void *data, size_t len);
/* Several datagrams of one flow (a UDP_BATCH): one sendmmsg() when direct. */
void relay_udp_batch(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                     const struct tg_addr *dst, const struct iovec *dgrams, unsigned n);
/* stackd ended the flow: close its socket. */
void relay_udp_closed(struct relayd *rd, uint32_t flow);
/* Closes every entry; stackd is told (CLOSED) if it still knows the flow. */
void relay_udp_drop_all(struct relayd *rd);

/* relay_icmp.c: ICMP echo through unprivileged ICMP sockets, or a raw socket. */
/* gid: the group relayd runs as once sandboxed, named in the logs about ping_group_range. */
int relay_icmp_init(struct relayd *rd, unsigned gid);
void relay_icmp_echo(struct relayd *rd, const struct tg_addr *src, const struct tg_addr *dst,
                     const void *data, size_t len);
void relay_icmp_drop_all(struct relayd *rd);
void relay_icmp_free(struct relayd *rd);

#endif

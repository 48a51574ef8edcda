/*
 * stackd: one lwIP instance (raw API, NO_SYS, single thread) between link A (packets, to and
 * from tunio) and link B (flows, to and from relayd). It parses untrusted packets, so it has
 * no sockets and no files; everything it learns arrives on the two links.
 */
#ifndef TG_STACKD_H
#define TG_STACKD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bytebuf.h"
#include "link.h"
#include "rules.h"

struct event_base;
struct tg_link_event;
struct tg_link_fds;
struct tg_ctl_event;
struct tcp_pcb;
struct netif;

#define STACKD_WINDOW (256u * 1024u) /* per-flow, per-direction window on link B */

/* Drops and events, one counter per reason; exported for stats and tests. */
struct stackd_counters {
	uint64_t pkts_in;
	uint64_t pkts_out;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t drop_malformed; /* not an IPv4/IPv6 packet we can parse */
	uint64_t drop_icmp_echo; /* echo requests: not relayed yet, never answered locally */
	uint64_t drop_no_slot_a; /* link A full towards tunio: TCP retransmits */
	uint64_t drop_bad_msg;   /* link B message that failed checks */
	uint64_t flows_open;
	uint64_t flows_total;
	uint64_t flows_refused;     /* max_flows reached or no slot for TCP_OPEN */
	uint64_t flows_evicted;     /* flow_table_full = evict: oldest idle flow made room */
	uint64_t half_open_evicted; /* SYN flood: oldest half-open handshake dropped for new one */
	uint64_t half_open;         /* now: handshakes lwIP answered, not completed (SYN_RCVD) */
	uint64_t syns_held;         /* now: consistent mode's SYNs waiting for relayd or lwIP */
	uint64_t flows_reset_local; /* reset by the client or lwIP */
	uint64_t flows_reset_relay; /* reset by relayd or a failed connect */
	uint64_t credit_errors;     /* relayd sent beyond our window: flow reset */
	uint64_t flows_idle_expired;
	uint64_t syn_retransmits_held; /* consistent mode: duplicate SYNs swallowed */
	uint64_t time_wait_reused;     /* a new SYN took over a TIME_WAIT four-tuple (syn_hold.c) */
	uint64_t time_wait_dropped; /* TIME_WAIT pcbs beyond the cap, oldest first (syn_hold.c) */
	uint64_t icmp_echo_relayed;
	uint64_t icmp_errors_sent;
	uint64_t udp_flows_open;
	uint64_t udp_flows_total;
	uint64_t udp_up;   /* datagrams client -> relayd */
	uint64_t udp_down; /* datagrams relayd -> client */
	/* UDP_BATCH messages (two or more datagrams of a flow in a slot) to and from relayd */
	uint64_t udp_batches_up;
	uint64_t udp_batches_down;
	uint64_t drop_udp_not_unicast;
	uint64_t drop_udp_too_big;
	uint64_t drop_udp_no_slot;
	uint64_t drop_l2_foreign;   /* TAP: frame for another MAC (lwIP would take it) */
	uint64_t drop_l2_ethertype; /* TAP: neither IPv4, IPv6 nor ARP */
	uint64_t drop_l2_vlan;      /* TAP: 802.1Q/802.1ad tagged, not supported */
	uint64_t proxy_arp_replies; /* TAP proxy_arp: ARP answered for an address off the subnet */
	uint64_t proxy_nd_replies;  /* TAP proxy_ndp: the same for a neighbour solicitation */
	uint64_t ra_sent;           /* TAP router_advertisements: solicited and periodic */
	uint64_t drop_nd_invalid;   /* TAP: a solicitation for us that fails RFC 4861's checks */
	uint64_t rule_rejected;     /* a reject rule: RST (TCP) or ICMP prohibited (UDP) */
	uint64_t drop_vnet_bad;     /* TUN offloads: a vnet header the kernel would not send */
	uint64_t vnet_gso_in;       /* TUN offloads: TCP super-packets taken as one segment */
	uint64_t vnet_gso_out;      /* TUN offloads: TCP super-packets sent (segments coalesced) */
	uint64_t link_a_slots_out;  /* now: our link A slots tunio has not handed back */
	uint64_t link_b_slots_out;  /* now: our link B slots relayd has not handed back */
};

struct stackd {
	struct event_base *base;
	struct tg_link_end *link_a;
	struct tg_link_end *link_b;
	struct tg_link_event *lev_a;
	struct tg_link_event *lev_b;
	struct tg_link_fds *fds_a; /* what the links were attached from: replaced on reset */
	struct tg_link_fds *fds_b;
	struct tg_ctl_event *ctl;
	struct event *lwip_timer;
	struct netif *netif;
	uint32_t mtu;
	uint32_t max_flows;
	bool evict_when_full;  /* flow_table_full = evict: the oldest idle flow makes room */
	uint32_t relay_window; /* relayd's HELLO.window: our initial send credit per flow */
	bool relay_udp_batch;  /* relayd's HELLO: it speaks UDP_BATCH (udp_flow.c) */
	uint32_t handshake;    /* enum tg_open_mode */
	uint32_t idle_timeout; /* seconds an established TCP flow may idle */
	uint32_t half_close_timeout;
	uint32_t udp_timeout;     /* relayd's NAT timeout; stackd sweeps at twice it */
	uint32_t connect_timeout; /* relayd's; bounds how long a SYN is held */
	/* TAP mode (--tap): frames, and the gateway's own identity on the segment */
	bool tap;
	bool has_gw_ipv6;
	uint8_t gw_mac[6];
	uint32_t gw_ipv4;      /* network byte order */
	uint32_t gw_ipv4_mask; /* network byte order */
	uint8_t gw_ipv6[16];
	bool proxy_arp;             /* answer ARP for addresses off the gateway's subnet */
	bool proxy_ndp;             /* answer NS for targets off the gateway's /64 */
	bool router_advertisements; /* advertise the gateway's /64 and a default route */
	struct event *sweep_timer;
	struct tg_rules rules; /* routing rules: reject and the handshake mode per flow */
	bool hello_a;
	bool hello_b;
	struct stackd_counters ctr;
};

extern struct stackd stackd;

/* netif_link.c: lwIP's network interface over link A. */
int netif_link_init(struct stackd *sd);
unsigned netif_link_drain(struct tg_link_end *end, unsigned budget, void *arg);

/* tcp_flow.c: TCP flows between lwIP and link B. */
int tcp_flow_init(struct stackd *sd);
void tcp_flow_dispatch(const struct tg_desc *d, const uint8_t *slot);
void tcp_flow_retry_waiting(void);
void tcp_flow_sweep(time_t now);
void tcp_flow_shutdown_all(void);
/* relayd is gone: every flow is reset towards its client, nothing is said on link B. */
void tcp_flow_abort_all(void);
bool tcp_flow_owns(uint32_t id);
/* Consistent mode: relayd connected; the flow exists before lwIP accepts the client. */
int tcp_flow_prepare(uint32_t id);
void tcp_flow_forget_pending(uint32_t id);
uint32_t tcp_flow_count(void);
/* Room for one more TCP flow: true if below max_flows, or an idle flow was evicted for it. */
bool tcp_flow_make_room(void);
/* Fast mode's half-open cap: takes charge of a SYN_RCVD pcb lwIP just made (netif_link.c). */
void tcp_flow_claim_half_open(void);

/* flow_link.c: link B's receive side. */
unsigned flow_link_drain(struct tg_link_end *end, unsigned budget, void *arg);

/* A flow id no TCP flow, UDP flow or held SYN uses. */
uint32_t stackd_alloc_flow_id(void);

/* Re-arms lwIP's timer after anything that may have added a timeout. */
void stackd_lwip_timer_update(void);
/* Pushes queued descriptors on both links out at the end of a unit of work. */
void stackd_flush_links(void);

#endif

/*
 * TAP mode: the neighbour discovery messages stackd handles itself, in front of lwIP (which, as
 * a host, neither proxies nor advertises a router): reading a solicitation out of a frame with
 * RFC 4861's checks, and sending an ND message from the gateway straight to a known MAC.
 */
#ifndef TG_STACKD_ND_MSG_H
#define TG_STACKD_ND_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/err.h"
#include "lwip/ip6_addr.h"

struct pbuf;
struct stackd;

/* A router or neighbour solicitation that passed RFC 4861's checks (sections 6.1.1, 7.1.1). */
struct nd_solicit {
	uint8_t type; /* ICMP6_TYPE_RS or ICMP6_TYPE_NS */
	ip6_addr_t src;
	ip6_addr_t dst;
	ip6_addr_t target;    /* NS only */
	uint8_t reply_mac[6]; /* its source link-layer address option, else the frame's source */
};

enum nd_parse {
	ND_OTHER,   /* not an RS or NS: lwIP's business */
	ND_SOLICIT, /* *s filled in */
	ND_INVALID, /* an RS or NS that fails the checks: to be dropped */
};

/* Reads frame p (one contiguous pbuf, Ethernet header first, EtherType IPv6 checked). */
enum nd_parse nd_solicit_parse(struct pbuf *p, struct nd_solicit *s);

/*
 * Sends the ICMPv6 message in p (allocated at PBUF_IP, checksum field zero) from src to dst,
 * hop limit 255, in a frame to dst_mac: no neighbour lookup, the solicitation said where the
 * asker is. p stays the caller's to free.
 */
err_t nd_msg_send(struct stackd *sd, struct pbuf *p, const ip6_addr_t *src, const ip6_addr_t *dst,
                  const uint8_t dst_mac[6]);

/* The gateway's link-local address (from its MAC): the source of its router advertisements. */
const ip6_addr_t *nd_gateway_linklocal(const struct stackd *sd);

/* Link-local or in the gateway's /64: an address on the segment, not one to proxy for. */
bool nd_on_link(const struct stackd *sd, const ip6_addr_t *a);

#endif

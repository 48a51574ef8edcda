/*
 * TAP mode: the questions the gateway answers itself, before lwIP sees the frame. lwIP is a
 * host: it answers ARP and neighbour solicitations for its own addresses only, and ignores
 * router solicitations. A gateway is also asked
 *   - with proxy_arp: ARP for any address off its subnet, by clients that route a destination
 *     "dev tap0" (on-link) instead of via the gateway; it answers with its own MAC, and lwIP,
 *     which accepts every destination, then takes the traffic;
 *   - with proxy_ndp: the same for neighbour solicitations for targets off its /64;
 *   - with router_advertisements: router solicitations (nd_router.c).
 * Proxy ARP and proxy NDP answer only clients on the gateway's subnet (IPv6: its /64 or
 * link-local): stackd reaches nobody else, and a bridged segment may carry other subnets that
 * are not its own. Router solicitations are answered from any source, as RFC 4861 has it.
 */
#include <string.h>

#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/etharp.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/iana.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/nd6.h"
#include "netif/ethernet.h"

#include "stackd.h"
#include "tap_answer.h"

_Static_assert(sizeof(struct lladdr_option) == 8, "an Ethernet link-layer option is 8 bytes");

/*
 * IPv4 addresses proxy ARP answers for: off the gateway's subnet (a host there answers for
 * itself) and unicast that is routed somewhere: not 0/8, loopback, link-local or 224/3.
 */
static bool ip4_proxyable(const struct stackd *sd, uint32_t a)
{
	uint32_t h = lwip_ntohl(a);

	if ((a & sd->gw_ipv4_mask) == (sd->gw_ipv4 & sd->gw_ipv4_mask))
		return false;
	return (h >> 24) != 0 && (h >> 24) != 127 && (h >> 16) != 0xa9fe && (h >> 29) != 7;
}

static void send_arp_reply(struct stackd *sd, const struct eth_addr *to_mac, uint32_t to_ip,
                           uint32_t for_ip)
{
	struct pbuf *p = pbuf_alloc(PBUF_LINK, SIZEOF_ETHARP_HDR, PBUF_RAM);
	struct eth_addr gw;
	struct etharp_hdr *h;

	if (!p)
		return;
	memcpy(gw.addr, sd->gw_mac, ETH_HWADDR_LEN);
	h = p->payload;
	h->hwtype = PP_HTONS(LWIP_IANA_HWTYPE_ETHERNET);
	h->proto = PP_HTONS(ETHTYPE_IP);
	h->hwlen = ETH_HWADDR_LEN;
	h->protolen = sizeof(for_ip);
	h->opcode = PP_HTONS(ARP_REPLY);
	h->shwaddr = gw;
	memcpy(&h->sipaddr, &for_ip, sizeof(for_ip));
	h->dhwaddr = *to_mac;
	memcpy(&h->dipaddr, &to_ip, sizeof(to_ip));
	if (ethernet_output(sd->netif, p, &gw, to_mac, ETHTYPE_ARP) == ERR_OK)
		sd->ctr.proxy_arp_replies++;
	pbuf_free(p);
}

static void proxy_arp_input(struct stackd *sd, struct pbuf *p)
{
	const struct etharp_hdr *a;
	struct eth_addr asker;
	uint32_t sip, tip;

	if (p->len < SIZEOF_ETH_HDR + SIZEOF_ETHARP_HDR)
		return; /* lwIP drops it (lwip-patches/0004) */
	a = (const struct etharp_hdr *)((const uint8_t *)p->payload + SIZEOF_ETH_HDR);
	if (a->hwtype != PP_HTONS(LWIP_IANA_HWTYPE_ETHERNET) || a->proto != PP_HTONS(ETHTYPE_IP) ||
	    a->hwlen != ETH_HWADDR_LEN || a->protolen != sizeof(sip) ||
	    a->opcode != PP_HTONS(ARP_REQUEST))
		return;
	memcpy(&sip, &a->sipaddr, sizeof(sip));
	memcpy(&tip, &a->dipaddr, sizeof(tip));
	asker = a->shwaddr;
	/* A probe (from 0.0.0.0) or announcement (for itself) asks nobody (RFC 5227). */
	if (sip == 0 || sip == tip || (asker.addr[0] & 1) ||
	    (sip & sd->gw_ipv4_mask) != (sd->gw_ipv4 & sd->gw_ipv4_mask) || !ip4_proxyable(sd, tip))
		return;
	send_arp_reply(sd, &asker, sip, tip);
}

/* IPv6 targets proxy NDP answers for: global or unique-local unicast off the gateway's /64. */
static bool ip6_proxyable(const struct stackd *sd, const ip6_addr_t *a)
{
	return (ip6_addr_isglobal(a) || ip6_addr_isuniquelocal(a)) && !nd_on_link(sd, a);
}

/*
 * A proxy's advertisement (RFC 4861 7.2.8): Solicited, Override clear so that it never
 * replaces what the owner of an address said, Router clear: the target is not the router.
 * It comes from the target address itself, as lwIP's own do: stackd answers for that address
 * in every other respect too, and tools such as ndisc6 ignore an answer from anyone else.
 */
static void send_proxy_na(struct stackd *sd, const struct nd_solicit *s)
{
	struct pbuf *p = pbuf_alloc(
	        PBUF_IP, sizeof(struct na_header) + sizeof(struct lladdr_option), PBUF_RAM);
	struct na_header *na;
	struct lladdr_option *o;

	if (!p)
		return;
	memset(p->payload, 0, p->len);
	na = p->payload;
	na->type = ICMP6_TYPE_NA;
	na->flags = ND6_FLAG_SOLICITED;
	ip6_addr_copy_to_packed(na->target_address, s->target);
	o = (struct lladdr_option *)(na + 1);
	o->type = ND6_OPTION_TYPE_TARGET_LLADDR;
	o->length = 1;
	memcpy(o->addr, sd->gw_mac, ETH_HWADDR_LEN);
	if (nd_msg_send(sd, p, &s->target, &s->src, s->reply_mac) == ERR_OK)
		sd->ctr.proxy_nd_replies++;
	pbuf_free(p);
}

/* Duplicate address detection (from ::) is not answered: the address is the asker's to take. */
static bool proxy_nd_input(struct stackd *sd, const struct nd_solicit *s)
{
	if (!sd->proxy_ndp || ip6_addr_isany_val(s->src) || !nd_on_link(sd, &s->src) ||
	    !ip6_proxyable(sd, &s->target))
		return false;
	send_proxy_na(sd, s);
	return true;
}

bool tap_answer_input(struct stackd *sd, struct pbuf *p)
{
	const uint8_t *f = p->payload;
	struct nd_solicit s;
	uint16_t type;

	if (p->len < SIZEOF_ETH_HDR)
		return false;
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == ETHTYPE_ARP) {
		if (sd->proxy_arp)
			proxy_arp_input(sd, p);
		return false; /* lwIP refreshes the asker's entry if it has one */
	}
	if (type != ETHTYPE_IPV6 || (!sd->proxy_ndp && !sd->router_advertisements))
		return false;
	switch (nd_solicit_parse(p, &s)) {
	case ND_OTHER:
		return false;
	case ND_INVALID:
		sd->ctr.drop_nd_invalid++; /* lwIP would drop it too, uncounted */
		return true;
	case ND_SOLICIT:
		break;
	}
	if (s.type == ICMP6_TYPE_RS) {
		if (!sd->router_advertisements)
			return false; /* lwIP, a host, ignores it */
		nd_router_solicited(sd, &s);
		return true;
	}
	return proxy_nd_input(sd, &s);
}

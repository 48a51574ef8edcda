/*
 * Neighbour discovery in and out for tap_answer.c and nd_router.c: what lwIP's nd6.c does for
 * the messages it handles, for the two it does not (RS, and NS for someone else's address).
 * Every message is a frame from the segment, so every length is checked before it is read.
 */
#include <string.h>

#include "lwip/inet_chksum.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/ip6.h"
#include "lwip/prot/nd6.h"
#include "netif/ethernet.h"

#include "nd_msg.h"
#include "stackd.h"

#define ICMP_OFFSET (SIZEOF_ETH_HDR + IP6_HLEN)

/* The ICMPv6 checksum over the message as the IPv6 header sizes it, Ethernet padding not. */
static bool checksum_ok(struct pbuf *p, u16_t plen, const ip6_addr_t *src, const ip6_addr_t *dst)
{
	u16_t sum;

	if (pbuf_remove_header(p, ICMP_OFFSET) != 0)
		return false;
	sum = ip6_chksum_pseudo_partial(p, IP6_NEXTH_ICMP6, plen, plen, src, dst);
	pbuf_add_header(p, ICMP_OFFSET); /* cannot fail: the headers were there */
	return sum == 0;
}

/* Every option must have a length and fit; the source link-layer address is the one we use. */
static enum nd_parse read_options(const uint8_t *o, u16_t len, struct nd_solicit *s)
{
	bool have_sllao = false;

	while (len > 0) {
		u16_t olen;

		if (len < 2 || o[1] == 0 || (olen = (u16_t)(o[1] * 8u)) > len)
			return ND_INVALID;
		if (o[0] == ND6_OPTION_TYPE_SOURCE_LLADDR && olen == 8) { /* Ethernet: 1 unit */
			memcpy(s->reply_mac, o + 2, ETH_HWADDR_LEN);
			have_sllao = true;
		}
		o += olen;
		len = (u16_t)(len - olen);
	}
	/* From the unspecified address there is no link-layer address to give (6.1.1, 7.1.1). */
	if (have_sllao && ip6_addr_isany_val(s->src))
		return ND_INVALID;
	if (s->reply_mac[0] & 1) /* a group address cannot have asked */
		return ND_INVALID;
	return ND_SOLICIT;
}

enum nd_parse nd_solicit_parse(struct pbuf *p, struct nd_solicit *s)
{
	const uint8_t *f = p->payload;
	const struct ip6_hdr *ip6 = (const struct ip6_hdr *)(f + SIZEOF_ETH_HDR);
	const uint8_t *icmp = f + ICMP_OFFSET;
	u16_t plen, min;

	/* Only a first-header ICMPv6: Linux and every other host send ND without extensions. */
	if (p->len < ICMP_OFFSET + 2 || IP6H_NEXTH(ip6) != IP6_NEXTH_ICMP6 ||
	    (icmp[0] != ICMP6_TYPE_RS && icmp[0] != ICMP6_TYPE_NS))
		return ND_OTHER;
	s->type = icmp[0];
	min = s->type == ICMP6_TYPE_NS ? sizeof(struct ns_header) : sizeof(struct rs_header);
	plen = IP6H_PLEN(ip6);
	/* Hop limit 255: the message cannot have been forwarded, it comes from the segment. */
	if (plen < min || plen > p->len - ICMP_OFFSET || IP6H_HOPLIM(ip6) != 255 || icmp[1] != 0)
		return ND_INVALID;
	ip6_addr_copy_from_packed(s->src, ip6->src);
	ip6_addr_copy_from_packed(s->dst, ip6->dest);
	if (!checksum_ok(p, plen, &s->src, &s->dst))
		return ND_INVALID;
	ip6_addr_set_zero(&s->target);
	if (s->type == ICMP6_TYPE_NS) {
		const struct ns_header *ns = (const struct ns_header *)icmp;

		ip6_addr_copy_from_packed(s->target, ns->target_address);
		if (ip6_addr_ismulticast(&s->target))
			return ND_INVALID;
		/* Duplicate address detection goes to the target's solicited-node group. */
		if (ip6_addr_isany_val(s->src) && !ip6_addr_issolicitednode(&s->dst))
			return ND_INVALID;
	}
	memcpy(s->reply_mac, f + ETH_HWADDR_LEN, ETH_HWADDR_LEN);
	return read_options(icmp + min, (u16_t)(plen - min), s);
}

err_t nd_msg_send(struct stackd *sd, struct pbuf *p, const ip6_addr_t *src, const ip6_addr_t *dst,
                  const uint8_t dst_mac[6])
{
	struct eth_addr from, to;
	struct ip6_hdr *ip6;
	u16_t plen = p->tot_len, sum;

	/* Every ICMPv6 header has its checksum at offset 2; lwIP returns it in network order. */
	sum = ip6_chksum_pseudo(p, IP6_NEXTH_ICMP6, plen, src, dst);
	memcpy((uint8_t *)p->payload + 2, &sum, sizeof(sum));
	if (pbuf_add_header(p, IP6_HLEN) != 0)
		return ERR_BUF;
	ip6 = p->payload;
	IP6H_VTCFL_SET(ip6, 6, 0, 0);
	IP6H_PLEN_SET(ip6, plen);
	IP6H_NEXTH_SET(ip6, IP6_NEXTH_ICMP6);
	IP6H_HOPLIM_SET(ip6, 255);
	ip6_addr_copy_to_packed(ip6->src, *src);
	ip6_addr_copy_to_packed(ip6->dest, *dst);
	memcpy(from.addr, sd->gw_mac, ETH_HWADDR_LEN);
	memcpy(to.addr, dst_mac, ETH_HWADDR_LEN);
	return ethernet_output(sd->netif, p, &from, &to, ETHTYPE_IPV6);
}

const ip6_addr_t *nd_gateway_linklocal(const struct stackd *sd)
{
	return netif_ip6_addr(sd->netif, 0); /* netif_link_init made it first */
}

bool nd_on_link(const struct stackd *sd, const ip6_addr_t *a)
{
	ip6_addr_t gw;

	if (ip6_addr_islinklocal(a))
		return true;
	if (!sd->has_gw_ipv6)
		return false;
	memcpy(gw.addr, sd->gw_ipv6, sizeof(gw.addr));
	ip6_addr_clear_zone(&gw);
	return ip6_addr_netcmp_zoneless(a, &gw); /* the first 64 bits */
}

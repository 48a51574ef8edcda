/*
 * ICMP that stackd writes itself and sends through lwIP's IP output (so that in TAP mode it
 * gets its Ethernet header like everything else):
 *   - echo requests from clients are taken out of the packet path and relayed (relayd pings
 *     the real destination), and relayd's answers become echo replies from that destination;
 *   - destination unreachable errors for upstream failures (a UDP port refused, a host
 *     unreachable in the consistent handshake), quoting a reconstruction of the client's
 *     packet: its IP header and first 8 bytes, which is all RFC 792/4443 receivers need to
 *     find the socket.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/pbuf.h"
#include "lwip/raw.h"

#include "icmp.h"
#include "inet_csum.h"
#include "log.h"
#include "proto.h"
#include "stackd.h"

#define IP4_HDR          20
#define IP6_HDR          40
#define ICMP_HDR         8
#define ECHO_MAX_PAYLOAD 65000 /* beyond this a reply would not fit a packet */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void write_ip4_header(uint8_t *h, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                             uint16_t total_len)
{
	memset(h, 0, IP4_HDR);
	h[0] = 0x45;
	put16(h + 2, total_len);
	h[8] = 64;
	h[9] = proto;
	memcpy(h + 12, src, 4);
	memcpy(h + 16, dst, 4);
	put16(h + 10, tg_csum(h, IP4_HDR));
}

static void write_ip6_header(uint8_t *h, const uint8_t src[16], const uint8_t dst[16], uint8_t next,
                             uint16_t payload_len)
{
	memset(h, 0, IP6_HDR);
	h[0] = 0x60;
	put16(h + 4, payload_len);
	h[6] = next;
	h[7] = 64;
	memcpy(h + 8, src, 16);
	memcpy(h + 24, dst, 16);
}

/*
 * Sends the ICMP message in p (allocated at PBUF_IP) from `from` to `to` through lwIP's IP
 * output, which adds the IP header and, in TAP mode, the Ethernet header resolved by ARP or
 * ND. Fills in the checksum at offset 2. p stays the caller's to free.
 */
static err_t icmp_output(struct stackd *sd, struct pbuf *p, const struct tg_addr *from,
                         const struct tg_addr *to)
{
	uint8_t *m = p->payload;
	ip_addr_t src, dst;

	put16(m + 2, 0);
	if (from->family == TG_AF_INET4) {
		IP_ADDR4(&src, from->ip[0], from->ip[1], from->ip[2], from->ip[3]);
		IP_ADDR4(&dst, to->ip[0], to->ip[1], to->ip[2], to->ip[3]);
		put16(m + 2, tg_csum(m, p->tot_len));
		return ip4_output_if(p, ip_2_ip4(&src), ip_2_ip4(&dst), IP_DEFAULT_TTL, 0,
		                     IP_PROTO_ICMP, sd->netif);
	}
	IP_ADDR6(&src, 0, 0, 0, 0);
	IP_ADDR6(&dst, 0, 0, 0, 0);
	memcpy(ip_2_ip6(&src)->addr, from->ip, 16);
	memcpy(ip_2_ip6(&dst)->addr, to->ip, 16);
	ip6_addr_clear_zone(ip_2_ip6(&src));
	ip6_addr_clear_zone(ip_2_ip6(&dst));
	put16(m + 2, lwip_ntohs(ip6_chksum_pseudo(p, IP6_NEXTH_ICMP6, p->tot_len, ip_2_ip6(&src),
	                                          ip_2_ip6(&dst))));
	return ip6_output_if(p, ip_2_ip6(&src), ip_2_ip6(&dst), IP_DEFAULT_TTL, 0, IP6_NEXTH_ICMP6,
	                     sd->netif);
}

static const uint8_t unreach_codes[2][4] = {
        /* IPv4 type 3:  port 3, host 1, net 0, communication administratively prohibited 13 */
        {3, 1, 0, 13},
        /* IPv6 type 1:  port 4, address 3, no route 0, administratively prohibited 1 */
        {4, 3, 0, 1},
};

void icmp_send_unreachable(struct stackd *sd, const struct tg_addr *orig_dst,
                           const struct tg_addr *client, uint8_t proto, enum icmp_unreach kind,
                           uint32_t tcp_seq)
{
	uint8_t quote[8] = {0};
	struct pbuf *p;
	uint32_t len;
	uint8_t *m;
	bool v4;

	if (orig_dst->family != client->family || kind > ICMP_UNREACH_ADMIN)
		return;
	/* First 8 bytes of the client's transport header: ports, then UDP length or TCP seq. */
	put16(quote, client->port);
	put16(quote + 2, orig_dst->port);
	if (proto == IPPROTO_TCP) {
		uint32_t seq = htonl(tcp_seq);

		memcpy(quote + 4, &seq, 4);
	} else {
		put16(quote + 4, 8);
	}
	v4 = client->family == TG_AF_INET4;
	len = ICMP_HDR + (v4 ? IP4_HDR : IP6_HDR) + 8;
	p = pbuf_alloc(PBUF_IP, (u16_t)len, PBUF_RAM);
	if (!p)
		return;
	m = p->payload;
	memset(m, 0, ICMP_HDR);
	m[0] = v4 ? 3 : 1; /* destination unreachable */
	m[1] = unreach_codes[v4 ? 0 : 1][kind];
	if (v4)
		write_ip4_header(m + ICMP_HDR, client->ip, orig_dst->ip, proto, IP4_HDR + 8);
	else
		write_ip6_header(m + ICMP_HDR, client->ip, orig_dst->ip, proto, 8);
	memcpy(m + len - 8, quote, 8);
	if (icmp_output(sd, p, orig_dst, client) == ERR_OK)
		sd->ctr.icmp_errors_sent++;
	pbuf_free(p);
}

/*
 * An echo request from a client: hand it to relayd as ICMP_ECHO, with the client (port =
 * echo identifier) and the target as addresses and the ICMP message (header included) as
 * payload. Returns true if the packet was an echo request (taken, or dropped and counted).
 */
bool icmp_take_echo(struct stackd *sd, const uint8_t *pkt, uint32_t len)
{
	struct tg_msg_udp m = {0};
	const uint8_t *icmp;
	uint32_t icmp_len, slot;
	uint8_t *out;
	unsigned version = pkt[0] >> 4;

	if (version == 4) {
		unsigned ihl = (pkt[0] & 0x0f) * 4u;
		uint16_t total = (uint16_t)(pkt[2] << 8 | pkt[3]);

		if (pkt[9] != IPPROTO_ICMP || len < ihl + ICMP_HDR || pkt[ihl] != 8)
			return false;
		/* Called after reassembly: a fragment here is malformed. */
		if ((pkt[6] & 0x3f) || pkt[7] || total > len || total < ihl + ICMP_HDR) {
			sd->ctr.drop_icmp_echo++;
			return true;
		}
		m.src.family = m.dst.family = TG_AF_INET4;
		memcpy(m.src.ip, pkt + 12, 4);
		memcpy(m.dst.ip, pkt + 16, 4);
		icmp = pkt + ihl;
		icmp_len = total - ihl;
	} else if (version == 6) {
		uint16_t plen = (uint16_t)(pkt[4] << 8 | pkt[5]);

		if (pkt[6] != IPPROTO_ICMPV6 || len < IP6_HDR + ICMP_HDR || pkt[IP6_HDR] != 128)
			return false;
		if ((uint32_t)plen + IP6_HDR > len || plen < ICMP_HDR) {
			sd->ctr.drop_icmp_echo++;
			return true;
		}
		m.src.family = m.dst.family = TG_AF_INET6;
		memcpy(m.src.ip, pkt + 8, 16);
		memcpy(m.dst.ip, pkt + 24, 16);
		icmp = pkt + IP6_HDR;
		icmp_len = plen;
	} else {
		return false;
	}
	if (!sd->hello_b || icmp_len > ECHO_MAX_PAYLOAD ||
	    icmp_len + sizeof(m) > tg_link_slot_size(sd->link_b)) {
		sd->ctr.drop_icmp_echo++;
		return true;
	}
	m.src.port = (uint16_t)(icmp[4] << 8 | icmp[5]); /* identifier */
	slot = tg_link_alloc(sd->link_b);
	if (slot == TG_NO_SLOT) {
		sd->ctr.drop_icmp_echo++;
		return true;
	}
	out = tg_link_slot(sd->link_b, slot);
	memcpy(out, &m, sizeof(m));
	memcpy(out + sizeof(m), icmp, icmp_len);
	struct tg_desc d = {
	        .slot = slot, .len = (uint32_t)sizeof(m) + icmp_len, .type = TG_MSG_ICMP_ECHO};
	if (tg_link_send(sd->link_b, &d) < 0) {
		tg_link_unalloc(sd->link_b, slot);
		sd->ctr.drop_icmp_echo++;
		return true;
	}
	sd->ctr.icmp_echo_relayed++;
	return true;
}

/*
 * relayd's answer: an echo reply from m->src (the target) to m->dst (the client; port = the
 * client's identifier). The payload is an ICMP echo reply as the target sent it; the
 * identifier is the client's again, and the checksum is recomputed here. It leaves through
 * lwIP's IP output, which fragments a reply larger than the MTU like the target's would be.
 */
void icmp_echo_reply(struct stackd *sd, const struct tg_msg_udp *m, const uint8_t *icmp,
                     uint32_t icmp_len)
{
	struct pbuf *p;
	uint8_t *out;
	err_t err;

	if (icmp_len < ICMP_HDR || icmp_len > ECHO_MAX_PAYLOAD || m->src.family != m->dst.family ||
	    !tg_addr_valid(&m->src)) {
		sd->ctr.drop_bad_msg++;
		return;
	}
	p = pbuf_alloc(PBUF_IP, (u16_t)icmp_len, PBUF_RAM);
	if (!p) {
		sd->ctr.drop_icmp_echo++;
		return;
	}
	out = p->payload;
	memcpy(out, icmp, icmp_len);
	out[0] = m->src.family == TG_AF_INET4 ? 0 : 129;
	out[1] = 0;
	put16(out + 4, m->dst.port);
	err = icmp_output(sd, p, &m->src, &m->dst);
	if (err != ERR_OK)
		sd->ctr.drop_icmp_echo++;
	pbuf_free(p);
}

/*
 * Echo requests are taken here, after lwIP has reassembled them, so that a fragmented ping is
 * relayed like any other instead of being answered by lwIP for every address. Anything else
 * (errors, neighbour discovery) goes on to lwIP untouched.
 */
static u8_t on_raw_icmp(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
	static uint8_t packet[0x10000];
	struct stackd *sd = arg;
	u16_t len = pbuf_copy_partial(p, packet, p->tot_len, 0);

	if (!icmp_take_echo(sd, packet, len))
		return 0;
	pbuf_free(p);
	return 1;
}

int icmp_init(struct stackd *sd)
{
	struct raw_pcb *v4 = raw_new_ip_type(IPADDR_TYPE_V4, IP_PROTO_ICMP);
	struct raw_pcb *v6 = raw_new_ip_type(IPADDR_TYPE_V6, IP6_NEXTH_ICMP6);

	if (!v4 || !v6)
		return -1;
	raw_recv(v4, on_raw_icmp, sd);
	raw_recv(v6, on_raw_icmp, sd);
	return 0;
}

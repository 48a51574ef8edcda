/*
 * ICMP that stackd writes itself, straight into link A, without lwIP:
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

#include "icmp.h"
#include "log.h"
#include "proto.h"
#include "stackd.h"

#define IP4_HDR          20
#define IP6_HDR          40
#define ICMP_HDR         8
#define ECHO_MAX_PAYLOAD 65000 /* beyond this a reply would not fit a packet */

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

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
	put16(h + 10, fold(sum16(h, IP4_HDR, 0)));
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

/* ICMPv6 checksums cover a pseudo header of addresses, length and next header. */
static uint16_t icmp6_checksum(const uint8_t *ip6, const uint8_t *icmp, uint32_t len)
{
	uint32_t sum = sum16(ip6 + 8, 32, 0);

	sum += len >> 16;
	sum += len & 0xffff;
	sum += IPPROTO_ICMPV6;
	return fold(sum16(icmp, len, sum));
}

/* Hands a finished packet to tunio; a full link drops it (ICMP is best effort). */
static void emit(struct stackd *sd, uint32_t slot, uint32_t len)
{
	struct tg_desc d = {.slot = slot, .len = len, .type = TG_MSG_PACKET};

	if (tg_link_send(sd->link_a, &d) < 0) {
		tg_link_unalloc(sd->link_a, slot);
		sd->ctr.drop_no_slot_a++;
		return;
	}
	sd->ctr.pkts_out++;
	sd->ctr.bytes_out += len;
}

static uint8_t *alloc_packet(struct stackd *sd, uint32_t len, uint32_t *slot)
{
	if (len > tg_link_slot_size(sd->link_a))
		return NULL;
	*slot = tg_link_alloc(sd->link_a);
	if (*slot == TG_NO_SLOT) {
		sd->ctr.drop_no_slot_a++;
		return NULL;
	}
	return tg_link_slot(sd->link_a, *slot);
}

static const uint8_t unreach_codes[2][3] = {
        /* IPv4 type 3:  port 3, host 1, net 0 */
        {3, 1, 0},
        /* IPv6 type 1:  port 4, address 3, no route 0 */
        {4, 3, 0},
};

void icmp_send_unreachable(struct stackd *sd, const struct tg_addr *orig_dst,
                           const struct tg_addr *client, uint8_t proto, enum icmp_unreach kind,
                           uint32_t tcp_seq)
{
	uint8_t quote[8] = {0};
	uint32_t slot, len;
	uint8_t *pkt;

	if (orig_dst->family != client->family || kind > ICMP_UNREACH_NET)
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
	if (client->family == TG_AF_INET4) {
		len = IP4_HDR + ICMP_HDR + IP4_HDR + 8;
		pkt = alloc_packet(sd, len, &slot);
		if (!pkt)
			return;
		write_ip4_header(pkt, orig_dst->ip, client->ip, IPPROTO_ICMP, (uint16_t)len);
		memset(pkt + IP4_HDR, 0, ICMP_HDR);
		pkt[IP4_HDR] = 3;
		pkt[IP4_HDR + 1] = unreach_codes[0][kind];
		write_ip4_header(pkt + IP4_HDR + ICMP_HDR, client->ip, orig_dst->ip, proto,
		                 IP4_HDR + 8 + 0);
		memcpy(pkt + IP4_HDR + ICMP_HDR + IP4_HDR, quote, 8);
		put16(pkt + IP4_HDR + 2, fold(sum16(pkt + IP4_HDR, len - IP4_HDR, 0)));
	} else {
		len = IP6_HDR + ICMP_HDR + IP6_HDR + 8;
		pkt = alloc_packet(sd, len, &slot);
		if (!pkt)
			return;
		write_ip6_header(pkt, orig_dst->ip, client->ip, IPPROTO_ICMPV6,
		                 (uint16_t)(len - IP6_HDR));
		memset(pkt + IP6_HDR, 0, ICMP_HDR);
		pkt[IP6_HDR] = 1;
		pkt[IP6_HDR + 1] = unreach_codes[1][kind];
		write_ip6_header(pkt + IP6_HDR + ICMP_HDR, client->ip, orig_dst->ip, proto, 8);
		memcpy(pkt + IP6_HDR + ICMP_HDR + IP6_HDR, quote, 8);
		put16(pkt + IP6_HDR + 2, icmp6_checksum(pkt, pkt + IP6_HDR, len - IP6_HDR));
	}
	sd->ctr.icmp_errors_sent++;
	emit(sd, slot, len);
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
		/* Fragmented echo requests are left to lwIP's reassembly: not relayed. */
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
	if (icmp_len > ECHO_MAX_PAYLOAD || icmp_len + sizeof(m) > tg_link_slot_size(sd->link_b)) {
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
 * identifier is the client's again, and the checksum is recomputed here.
 */
void icmp_echo_reply(struct stackd *sd, const struct tg_msg_udp *m, const uint8_t *icmp,
                     uint32_t icmp_len)
{
	uint32_t slot, len, hdr;
	uint8_t *pkt, *out;

	if (icmp_len < ICMP_HDR || icmp_len > ECHO_MAX_PAYLOAD || m->src.family != m->dst.family) {
		sd->ctr.drop_bad_msg++;
		return;
	}
	hdr = m->src.family == TG_AF_INET4 ? IP4_HDR : IP6_HDR;
	len = hdr + icmp_len;
	pkt = alloc_packet(sd, len, &slot);
	if (!pkt) {
		/* Too big for one link A packet (an IP fragment train is not built here). */
		sd->ctr.drop_icmp_echo++;
		return;
	}
	out = pkt + hdr;
	memcpy(out, icmp, icmp_len);
	out[0] = m->src.family == TG_AF_INET4 ? 0 : 129;
	out[1] = 0;
	put16(out + 4, m->dst.port);
	put16(out + 2, 0);
	if (m->src.family == TG_AF_INET4) {
		write_ip4_header(pkt, m->src.ip, m->dst.ip, IPPROTO_ICMP, (uint16_t)len);
		put16(out + 2, fold(sum16(out, icmp_len, 0)));
	} else {
		write_ip6_header(pkt, m->src.ip, m->dst.ip, IPPROTO_ICMPV6, (uint16_t)icmp_len);
		put16(out + 2, icmp6_checksum(pkt, out, icmp_len));
	}
	emit(sd, slot, len);
}

/*
 * The vnet header's checks and checksum completion (vnet.h), on common/inet_csum.c's sums.
 * vnet_csum_complete() runs on every packet that arrives with a partial checksum and is not a
 * TSO super-packet whose check lwIP may skip; a super-packet with IPv6 extension headers goes
 * through it too.
 */
#include "vnet.h"

#include <string.h>

#include "inet_csum.h"

#define PROTO_TCP    6
#define PROTO_UDP    17
#define TCP_HLEN     20u
#define TCP_FLAG_SYN 0x02u
#define UDP_HLEN     8u
#define TCP_CSUM     16u /* offset of the checksum field in the TCP header */
#define UDP_CSUM     6u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Where a packet's transport header is, as far as a quick look can tell. */
struct l4_info {
	unsigned version;
	uint32_t min_start; /* the first byte after the fixed IP header (and IPv4 options) */
	uint32_t start;     /* the transport header; 0 if unknown (IPv6 extension headers) */
	unsigned proto;     /* PROTO_TCP, PROTO_UDP, or anything else */
	bool fragment;      /* IPv4 fragment: no checksum can be finished on it alone */
};

static bool l4_locate(const uint8_t *pkt, uint32_t len, struct l4_info *l)
{
	memset(l, 0, sizeof(*l));
	if (len < 1)
		return false;
	l->version = pkt[0] >> 4;
	if (l->version == 4) {
		uint32_t ihl = (pkt[0] & 0x0fu) * 4u;

		if (len < 20 || ihl < 20 || ihl > len)
			return false;
		l->min_start = l->start = ihl;
		l->proto = pkt[9];
		l->fragment = ((pkt[6] & 0x3fu) | pkt[7]) != 0;
		return true;
	}
	if (l->version == 6) {
		if (len < 40)
			return false;
		l->min_start = 40;
		l->proto = pkt[6];
		l->start = (l->proto == PROTO_TCP || l->proto == PROTO_UDP) ? 40 : 0;
		return true;
	}
	return false;
}

/* NEEDS_CSUM: the offsets must name a TCP or UDP checksum field inside the packet. */
static bool csum_fields_ok(const struct tg_vnet_hdr *h, const struct l4_info *l, uint32_t len)
{
	uint32_t start = h->csum_start, off = h->csum_offset;

	if (l->fragment || start < l->min_start || start >= len || (uint64_t)start + off + 2 > len)
		return false;
	if (l->start == 0) /* behind IPv6 extension headers: plausible offsets only */
		return off == TCP_CSUM || off == UDP_CSUM;
	if (start != l->start)
		return false;
	if (l->proto == PROTO_TCP)
		return off == TCP_CSUM && len - start >= TCP_HLEN;
	if (l->proto == PROTO_UDP)
		return off == UDP_CSUM && len - start >= UDP_HLEN;
	return false;
}

enum vnet_rx_verdict vnet_rx_check(const struct tg_vnet_hdr *h, const uint8_t *pkt, uint32_t len)
{
	unsigned gso = h->gso_type & ~(unsigned)VNET_GSO_ECN;
	struct l4_info l;

	if (!(h->flags & VNET_F_NEEDS_CSUM))
		return gso == VNET_GSO_NONE ? VNET_RX_PLAIN : VNET_RX_DROP;
	if (!l4_locate(pkt, len, &l) || !csum_fields_ok(h, &l, len))
		return VNET_RX_DROP;
	switch (gso) {
	case VNET_GSO_NONE:
		/*
		 * A TCP packet whose checksum the sender's kernel left to "hardware" is as sound as
		 * a super-packet (below): its bytes went from memory to memory and never crossed a
		 * wire, and the kernel itself treats such a packet as checked. With a large MTU
		 * every packet is one of these; completing and then checking its sum would read
		 * each 64 KiB packet three times. UDP, and TCP behind IPv6 extension headers, are
		 * finished and checked; so is a SYN, which the consistent handshake holds and feeds
		 * to lwIP later, outside the one packet the check is off for (syn_hold.c).
		 */
		if (l.proto == PROTO_TCP && l.start != 0 && h->csum_offset == TCP_CSUM &&
		    !(pkt[l.start + 13] & TCP_FLAG_SYN))
			return VNET_RX_SKIP_CHECK;
		return VNET_RX_COMPLETE;
	case VNET_GSO_TCPV4:
	case VNET_GSO_TCPV6:
		if (h->gso_size == 0 || l.version != (gso == VNET_GSO_TCPV4 ? 4u : 6u))
			return VNET_RX_DROP;
		if (l.start == 0) /* IPv6 extension headers: let lwIP check what we finish */
			return h->csum_offset == TCP_CSUM ? VNET_RX_COMPLETE : VNET_RX_DROP;
		return l.proto == PROTO_TCP ? VNET_RX_SKIP_CHECK : VNET_RX_DROP;
	default:
		/* UFO/USO were not announced (tungate/tun_offload.c): nothing to split them. */
		return VNET_RX_DROP;
	}
}

void vnet_csum_complete(uint8_t *pkt, uint32_t len, uint16_t csum_start, uint16_t csum_offset)
{
	uint16_t c = (uint16_t)~tg_csum_fold(tg_csum_add(pkt + csum_start, len - csum_start, 0));

	/* As the kernel does: 0 would mean "no checksum" to UDP; 0xffff is the same sum. */
	put16(pkt + csum_start + csum_offset, c ? c : 0xffff);
}

bool vnet_tx_fill(struct tg_vnet_hdr *h, uint8_t *pkt, uint32_t len)
{
	struct l4_info l;
	uint32_t sum;

	memset(h, 0, sizeof(*h));
	if (!l4_locate(pkt, len, &l) || l.fragment || l.proto != PROTO_TCP || l.start == 0 ||
	    len - l.start < TCP_HLEN || len - l.start > 0xffffu)
		return false;
	if (l.version == 4)
		sum = tg_csum_add(pkt + 12, 8, 0); /* source and destination */
	else
		sum = tg_csum_add(pkt + 8, 32, 0);
	sum += PROTO_TCP + (len - l.start);
	put16(pkt + l.start + TCP_CSUM, tg_csum_fold(sum));
	h->flags = VNET_F_NEEDS_CSUM;
	h->csum_start = (uint16_t)l.start;
	h->csum_offset = TCP_CSUM;
	return true;
}

/* ---- coalescing towards the client ---------------------------------------------------------- */

#define TCP_FLAG_PSH 0x08u
#define TCP_FLAG_ACK 0x10u

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A TCP segment vnet_tx_fill() can describe, whose IP length is the packet's: its headers. */
static bool tcp_segment(const uint8_t *pkt, uint32_t len, struct l4_info *l, uint32_t *hlen)
{
	uint32_t doff, ip_len;

	if (!l4_locate(pkt, len, l) || l->fragment || l->proto != PROTO_TCP || l->start == 0 ||
	    len - l->start < TCP_HLEN)
		return false;
	doff = (pkt[l->start + 12] >> 4) * 4u;
	ip_len = l->version == 4 ? (uint32_t)(pkt[2] << 8 | pkt[3])
	                         : 40u + (uint32_t)(pkt[4] << 8 | pkt[5]);
	*hlen = l->start + doff;
	return doff >= TCP_HLEN && *hlen <= len && ip_len == len;
}

bool vnet_gso_open(struct vnet_gso *g, const uint8_t *pkt, uint32_t len)
{
	struct l4_info l;
	uint32_t hlen;

	if (!tcp_segment(pkt, len, &l, &hlen) || len == hlen || len > 0xffffu ||
	    pkt[l.start + 13] != TCP_FLAG_ACK)
		return false;
	memset(g, 0, sizeof(*g));
	g->len = len;
	g->hlen = (uint16_t)hlen;
	g->l4 = (uint16_t)l.start;
	g->seg_size = (uint16_t)(len - hlen);
	g->segs = 1;
	g->next_seq = get32(pkt + l.start + 4) + g->seg_size;
	return true;
}

static bool same(const uint8_t *a, const uint8_t *b, uint32_t from, uint32_t to)
{
	return memcmp(a + from, b + from, to - from) == 0;
}

bool vnet_gso_fits(const struct vnet_gso *g, const uint8_t *pkt, const uint8_t *hdr,
                   uint32_t hdr_len, uint32_t len, uint32_t max)
{
	uint32_t t = g->l4, payload, flags;

	if (g->closed || hdr_len < g->hlen || len <= g->hlen)
		return false;
	payload = len - g->hlen;
	if (payload > g->seg_size || g->len + payload > max || g->len + payload > 0xffffu)
		return false;
	/* IP: all but length, IPv4 id and header checksum; the length must be the packet's. */
	if (hdr[0] != pkt[0])
		return false;
	if ((pkt[0] >> 4) == 4) {
		if (!same(hdr, pkt, 1, 2) || !same(hdr, pkt, 6, 10) || !same(hdr, pkt, 12, t) ||
		    (uint32_t)(hdr[2] << 8 | hdr[3]) != len)
			return false;
	} else if (!same(hdr, pkt, 1, 4) || !same(hdr, pkt, 6, t) ||
	           40u + (uint32_t)(hdr[4] << 8 | hdr[5]) != len) {
		return false;
	}
	/* TCP: ports, ack, data offset, window, urgent pointer and options; seq in order. */
	flags = hdr[t + 13];
	return same(hdr, pkt, t, t + 4) && get32(hdr + t + 4) == g->next_seq &&
	       same(hdr, pkt, t + 8, t + 13) && (flags & ~TCP_FLAG_PSH) == TCP_FLAG_ACK &&
	       same(hdr, pkt, t + 14, t + 16) && same(hdr, pkt, t + 18, g->hlen);
}

void vnet_gso_append(struct vnet_gso *g, uint8_t *pkt, const uint8_t *hdr, uint32_t len)
{
	uint32_t payload = len - g->hlen;

	g->len += payload;
	g->segs++;
	g->next_seq += payload;
	/*
	 * Segmentation gives every segment the first one's flags, PSH only to the last. A PSH
	 * on a full segment does not end the super-packet: lwIP sets it at the end of every
	 * tcp_write(), and the next write's segments follow at once; the PSH moves to the end of
	 * bytes that reach the client together anyway. Only a shorter segment must be the last.
	 */
	pkt[g->l4 + 13] |= hdr[g->l4 + 13] & TCP_FLAG_PSH;
	if (payload < g->seg_size)
		g->closed = true;
}

uint32_t vnet_gso_close(struct vnet_gso *g, uint8_t *pkt, struct tg_vnet_hdr *h)
{
	if ((pkt[0] >> 4) == 4) {
		put16(pkt + 2, (uint16_t)g->len);
		pkt[10] = pkt[11] = 0;
		put16(pkt + 10, (uint16_t)~tg_csum_fold(tg_csum_add(pkt, g->l4, 0)));
	} else {
		put16(pkt + 4, (uint16_t)(g->len - 40));
	}
	vnet_tx_fill(h, pkt, g->len);
	if (g->segs > 1) {
		h->gso_type = (pkt[0] >> 4) == 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;
		h->gso_size = g->seg_size;
		h->hdr_len = g->hlen;
	}
	return g->len;
}

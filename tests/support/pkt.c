/* Packets built and checked by hand, for tests and fuzzers (pkt.h). */
#include "pkt.h"

#include <netinet/in.h>
#include <string.h>

uint32_t pkt_ip_header(uint8_t *out, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                       uint32_t seglen, uint16_t id, uint16_t frag)
{
	if (v6) {
		memset(out, 0, 40);
		out[0] = 0x60;
		pkt_put16(out + 4, (uint16_t)seglen);
		out[6] = proto;
		out[7] = 64;
		memcpy(out + 8, src, 16);
		memcpy(out + 24, dst, 16);
		return 40;
	}
	memset(out, 0, 20);
	out[0] = 0x45;
	pkt_put16(out + 2, (uint16_t)(20 + seglen));
	pkt_put16(out + 4, id);
	pkt_put16(out + 6, frag);
	out[8] = 64;
	out[9] = proto;
	memcpy(out + 12, src, 4);
	memcpy(out + 16, dst, 4);
	pkt_put16(out + 10, tg_csum(out, 20));
	return 20;
}

unsigned pkt_csum_offset(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
		return 6;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 2;
	default:
		return 0;
	}
}

uint16_t pkt_l4_csum(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                     const uint8_t *seg, uint32_t len)
{
	unsigned alen = v6 ? 16 : 4;
	uint32_t sum = 0;

	/* ICMPv4 alone has no pseudo header. */
	if (proto != IPPROTO_ICMP) {
		sum = tg_csum_add(src, alen, 0);
		sum = tg_csum_add(dst, alen, sum);
		sum += proto + (len >> 16) + (len & 0xffff);
	}
	return (uint16_t)~tg_csum_fold(tg_csum_add(seg, len, sum));
}

void pkt_set_l4_csum(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto, uint8_t *seg,
                     uint32_t len)
{
	unsigned off = pkt_csum_offset(proto);
	uint16_t c;

	if (!off || len < off + 2)
		return;
	pkt_put16(seg + off, 0);
	c = pkt_l4_csum(v6, src, dst, proto, seg, len);
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff; /* 0 means "no checksum" */
	pkt_put16(seg + off, c);
}

bool pkt_l4_csum_ok(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                    const uint8_t *seg, uint32_t len)
{
	unsigned off = pkt_csum_offset(proto);

	if (!off)
		return true;
	if (len < off + 2)
		return false;
	if (proto == IPPROTO_UDP && !v6 && pkt_get16(seg + off) == 0)
		return true; /* IPv4 UDP without checksum */
	return pkt_l4_csum(v6, src, dst, proto, seg, len) == 0;
}

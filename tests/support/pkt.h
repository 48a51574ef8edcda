/*
 * Packets built and checked by hand, for the tests and fuzzers that talk to lwIP or stackd at
 * the packet level (tests/unit/test_lwip_accept_any.c, fuzz/stackd_env.c and the replays that
 * use it): big-endian fields, IP headers and transport checksums, on common/inet_csum.c and
 * not on lwIP's code, so that lwIP's checks are checked against something else.
 */
#ifndef TG_TEST_PKT_H
#define TG_TEST_PKT_H

#include <stdbool.h>
#include <stdint.h>

#include "inet_csum.h"

static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void pkt_put32(uint8_t *p, uint32_t v)
{
	pkt_put16(p, (uint16_t)(v >> 16));
	pkt_put16(p + 2, (uint16_t)v);
}

static inline uint16_t pkt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pkt_get32(const uint8_t *p)
{
	return (uint32_t)pkt_get16(p) << 16 | pkt_get16(p + 2);
}

/*
 * Writes the 20-byte IPv4 header (with its checksum; id and frag, the flags and fragment
 * offset field, as given) or the 40-byte IPv6 header (id and frag unused) of a packet whose
 * transport part is seglen bytes, hop limit 64. Returns the header's length.
 */
uint32_t pkt_ip_header(uint8_t *out, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                       uint32_t seglen, uint16_t id, uint16_t frag);

/* Offset of the checksum field in a TCP, UDP, ICMP or ICMPv6 header; 0 for another protocol. */
unsigned pkt_csum_offset(uint8_t proto);

/*
 * The transport checksum of seg (len bytes of header and data) under the pseudo header of
 * src and dst (4 or 16 bytes; none for ICMPv4), with the field as it is: 0 when it is right.
 */
uint16_t pkt_l4_csum(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                     const uint8_t *seg, uint32_t len);

/* Fills in seg's checksum field (UDP: 0xffff for 0); nothing for a protocol without one. */
void pkt_set_l4_csum(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto, uint8_t *seg,
                     uint32_t len);

/* seg's checksum is right, or absent (IPv4 UDP's 0); true for a protocol without one. */
bool pkt_l4_csum_ok(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                    const uint8_t *seg, uint32_t len);

#endif

/*
 * stackd/vnet.c: the checks on the virtio_net_hdr a TUN with offloads puts in front of each
 * packet, and the partial checksums both ways, against a plain RFC 1071 checksum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vnet.h"

#define TCP 6
#define UDP 17

/* RFC 1071, written independently of vnet.c: 16-bit words in network order. */
static uint32_t ref_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t ref_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t ref_pseudo(const uint8_t *ip, unsigned proto, uint32_t l4_len)
{
	uint8_t tail[4] = {0, (uint8_t)proto, (uint8_t)(l4_len >> 8), (uint8_t)l4_len};

	if (ip[0] >> 4 == 4)
		return ref_add(ref_add(0, ip + 12, 8), tail, 4);
	return ref_add(ref_add(0, ip + 8, 32), tail, 4);
}

/* The correct checksum of the segment at l4 (field at l4 + field), whatever the field holds. */
static uint16_t ref_l4_csum(const uint8_t *ip, uint32_t len, uint32_t l4, uint32_t field,
                            unsigned proto)
{
	uint8_t *copy = malloc(len);
	uint16_t c;

	memcpy(copy, ip, len);
	copy[l4 + field] = copy[l4 + field + 1] = 0;
	c = ref_finish(ref_pseudo(ip, proto, len - l4) + ref_add(0, copy + l4, len - l4));
	free(copy);
	return c;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Pseudo-header sum in the field, as the kernel hands over a CHECKSUM_PARTIAL packet. */
static void put_partial(uint8_t *ip, uint32_t len, uint32_t l4, uint32_t field, unsigned proto)
{
	uint16_t s = (uint16_t)~ref_finish(ref_pseudo(ip, proto, len - l4));

	ip[l4 + field] = (uint8_t)(s >> 8);
	ip[l4 + field + 1] = (uint8_t)s;
}

static uint32_t make_ip4(uint8_t *p, unsigned proto, uint32_t payload)
{
	uint32_t l4 = proto == TCP ? 20 : 8, len = 20 + l4 + payload;

	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[6] = 0x40; /* DF */
	p[8] = 64;
	p[9] = (uint8_t)proto;
	memcpy(p + 12, "\xc6\x12\x00\x01\xc6\x12\x01\x02", 8);
	p[20] = 0x9c;
	p[21] = 0x40; /* source port 40000 */
	p[23] = 80;
	if (proto == TCP) {
		p[32] = 0x50; /* data offset 5 */
		p[33] = 0x18; /* ACK PSH */
	} else {
		p[24] = (uint8_t)((8 + payload) >> 8);
		p[25] = (uint8_t)(8 + payload);
	}
	for (uint32_t i = 20 + l4; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	return len;
}

static uint32_t make_ip6(uint8_t *p, unsigned next, uint32_t payload)
{
	uint32_t l4 = next == UDP ? 8 : 20, len = 40 + l4 + payload;

	memset(p, 0, len);
	p[0] = 0x60;
	p[4] = (uint8_t)((len - 40) >> 8);
	p[5] = (uint8_t)(len - 40);
	p[6] = (uint8_t)next;
	p[7] = 64;
	p[8] = 0x20;
	p[9] = 0x01;
	p[10] = 0x0d;
	p[11] = 0xb8;
	p[23] = 1;
	memcpy(p + 24, p + 8, 15);
	p[39] = 2;
	if (next == TCP)
		p[52] = 0x50;
	for (uint32_t i = 40 + l4; i < len; i++)
		p[i] = (uint8_t)(i * 13 + 1);
	return len;
}

static struct tg_vnet_hdr partial(uint16_t start, uint16_t offset)
{
	struct tg_vnet_hdr h = {
	        .flags = VNET_F_NEEDS_CSUM, .csum_start = start, .csum_offset = offset};

	return h;
}

static void test_complete_tcp4_odd_length(void **state)
{
	static uint8_t p[2000];
	uint32_t len = make_ip4(p, TCP, 1001);
	uint16_t want = ref_l4_csum(p, len, 20, 16, TCP);
	struct tg_vnet_hdr h = partial(20, 16);

	put_partial(p, len, 20, 16, TCP);
	assert_int_not_equal(get16(p + 36), want);
	/* TCP with a partial checksum skips lwIP's check; the arithmetic must still be right. */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_SKIP_CHECK);
	vnet_csum_complete(p, len, h.csum_start, h.csum_offset);
	assert_int_equal(get16(p + 36), want);
	/* But a SYN is finished: the consistent handshake holds it and feeds it to lwIP later. */
	p[33] |= 0x02;
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_COMPLETE);
}

static void test_complete_udp6(void **state)
{
	static uint8_t p[2000];
	uint32_t len = make_ip6(p, UDP, 1200);
	uint16_t want = ref_l4_csum(p, len, 40, 6, UDP);
	struct tg_vnet_hdr h = partial(40, 6);

	p[44] = (uint8_t)((len - 40) >> 8);
	p[45] = (uint8_t)(len - 40);
	want = ref_l4_csum(p, len, 40, 6, UDP);
	put_partial(p, len, 40, 6, UDP);
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_COMPLETE);
	vnet_csum_complete(p, len, h.csum_start, h.csum_offset);
	assert_int_equal(get16(p + 46), want ? want : 0xffff);
}

/* Many lengths and contents: the fill-in always equals the full software checksum. */
static void test_complete_matches_reference(void **state)
{
	static uint8_t p[1600];

	for (uint32_t payload = 0; payload < 1400; payload += 37) {
		uint32_t len = make_ip4(p, TCP, payload);
		struct tg_vnet_hdr h = partial(20, 16);
		uint16_t want;

		p[40 % len] ^= (uint8_t)payload;
		want = ref_l4_csum(p, len, 20, 16, TCP);
		put_partial(p, len, 20, 16, TCP);
		assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_SKIP_CHECK);
		vnet_csum_complete(p, len, 20, 16);
		assert_int_equal(get16(p + 36), want ? want : 0xffff);
	}
}

static void test_gso_tcp_skips_check(void **state)
{
	static uint8_t p[65535];
	uint32_t len4 = make_ip4(p, TCP, 65000);
	struct tg_vnet_hdr h = partial(20, 16);

	h.gso_type = VNET_GSO_TCPV4;
	h.gso_size = 1448;
	assert_int_equal(vnet_rx_check(&h, p, len4), VNET_RX_SKIP_CHECK);
	h.gso_type = VNET_GSO_TCPV4 | VNET_GSO_ECN;
	assert_int_equal(vnet_rx_check(&h, p, len4), VNET_RX_SKIP_CHECK);
	h.gso_type = VNET_GSO_TCPV6; /* the wrong IP version */
	assert_int_equal(vnet_rx_check(&h, p, len4), VNET_RX_DROP);
	h.gso_type = VNET_GSO_TCPV4;
	h.gso_size = 0;
	assert_int_equal(vnet_rx_check(&h, p, len4), VNET_RX_DROP);
	h.gso_size = 1448;
	h.flags = 0; /* GSO always comes with a partial checksum */
	assert_int_equal(vnet_rx_check(&h, p, len4), VNET_RX_DROP);

	uint32_t len6 = make_ip6(p, TCP, 60000);
	h = partial(40, 16);
	h.gso_type = VNET_GSO_TCPV6;
	h.gso_size = 1428;
	assert_int_equal(vnet_rx_check(&h, p, len6), VNET_RX_SKIP_CHECK);
}

static void test_udp_gso_dropped(void **state)
{
	static uint8_t p[4000];
	uint32_t len = make_ip4(p, UDP, 3000);
	struct tg_vnet_hdr h = partial(20, 6);

	h.gso_size = 1472;
	h.gso_type = VNET_GSO_UDP;
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h.gso_type = VNET_GSO_UDP_L4;
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h.gso_type = 0x42;
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
}

static void test_bad_offsets_dropped(void **state)
{
	static uint8_t p[2000];
	uint32_t len = make_ip4(p, TCP, 100);
	struct tg_vnet_hdr h;

	h = partial(20, 6); /* the UDP field in a TCP packet */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h = partial(24, 16); /* not where the TCP header starts */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h = partial(10, 16); /* inside the IP header */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h = partial((uint16_t)len, 0); /* past the end */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h = partial(20, 0xffff); /* field past the end */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h = partial(20, 16);
	assert_int_equal(vnet_rx_check(&h, p, 38), VNET_RX_DROP); /* TCP header cut short */
	assert_int_equal(vnet_rx_check(&h, p, 19), VNET_RX_DROP); /* IP header cut short */
	assert_int_equal(vnet_rx_check(&h, p, 0), VNET_RX_DROP);
	p[9] = 1; /* ICMP has no partial checksum */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	p[9] = TCP;
	p[6] = 0x20; /* more fragments */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	p[6] = 0x40;
	p[0] = 0x35; /* IP version 3 */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	p[0] = 0x45;
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_SKIP_CHECK);
}

static void test_plain_and_ipv6_extension_headers(void **state)
{
	static uint8_t p[2000];
	uint32_t len = make_ip6(p, TCP, 100);
	struct tg_vnet_hdr h = {0};

	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_PLAIN);
	h.flags = VNET_F_DATA_VALID; /* not trusted: lwIP checks */
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_PLAIN);
	/* A hop-by-hop header in front: offsets plausible, finished by us and checked by lwIP. */
	p[6] = 0;
	h = partial(48, 16);
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_COMPLETE);
	h.gso_type = VNET_GSO_TCPV6;
	h.gso_size = 1400;
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_COMPLETE);
	h = partial(48, 5);
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
	h = partial(39, 16);
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_DROP);
}

/* The kernel finishes what vnet_tx_fill() leaves: same result as a software checksum. */
static void check_tx(uint8_t *p, uint32_t len, uint32_t l4)
{
	struct tg_vnet_hdr h;
	uint16_t want = ref_l4_csum(p, len, l4, 16, TCP);

	p[l4 + 16] = p[l4 + 17] = 0; /* lwIP with TCP checksum generation off */
	assert_true(vnet_tx_fill(&h, p, len));
	assert_int_equal(h.flags, VNET_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, VNET_GSO_NONE);
	assert_int_equal(h.csum_start, l4);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(vnet_rx_check(&h, p, len), VNET_RX_SKIP_CHECK);
	vnet_csum_complete(p, len, h.csum_start, h.csum_offset);
	assert_int_equal(get16(p + l4 + 16), want ? want : 0xffff);
}

static void test_tx_fill_tcp(void **state)
{
	static uint8_t p[2000];

	check_tx(p, make_ip4(p, TCP, 1460), 20);
	check_tx(p, make_ip4(p, TCP, 0), 20);
	check_tx(p, make_ip4(p, TCP, 7), 20);
	check_tx(p, make_ip6(p, TCP, 1440), 40);
	check_tx(p, make_ip6(p, TCP, 1), 40);
}

static void test_tx_fill_leaves_others(void **state)
{
	static uint8_t p[2000], copy[2000];
	struct tg_vnet_hdr h, zero = {0};
	uint32_t len = make_ip4(p, UDP, 100);

	memcpy(copy, p, len);
	assert_false(vnet_tx_fill(&h, p, len));
	assert_memory_equal(&h, &zero, sizeof(h));
	assert_memory_equal(p, copy, len);
	len = make_ip4(p, TCP, 100);
	p[9] = 1;
	assert_false(vnet_tx_fill(&h, p, len));
	p[9] = TCP;
	p[7] = 1; /* a fragment */
	assert_false(vnet_tx_fill(&h, p, len));
}

/* ---- coalescing ---------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A segment as lwIP sends it: seq, flags, payload bytes from a running pattern. */
static uint32_t segment(uint8_t *p, unsigned version, uint32_t seq, uint8_t flags, uint32_t payload)
{
	uint32_t len = version == 4 ? make_ip4(p, TCP, payload) : make_ip6(p, TCP, payload);
	uint32_t t = version == 4 ? 20 : 40;

	put32(p + t + 4, seq);
	put32(p + t + 8, 777);
	p[t + 13] = flags;
	p[t + 14] = 0x10; /* window */
	if (version == 4) {
		p[5] = (uint8_t)seq; /* ip id differs per packet */
		p[10] = 0x12;        /* some header checksum */
	}
	for (uint32_t i = 0; i < payload; i++)
		p[t + 20 + i] = (uint8_t)(seq + i);
	return len;
}

/* What stackd does: append the payload behind the open super-packet, then record it. */
static void append(struct vnet_gso *g, uint8_t *big, const uint8_t *seg, uint32_t len)
{
	memcpy(big + g->len, seg + g->hlen, len - g->hlen);
	vnet_gso_append(g, big, seg, len);
}

static void check_merged(uint8_t *big, uint32_t len, unsigned version, uint32_t first_seq,
                         uint32_t payload)
{
	uint32_t t = version == 4 ? 20 : 40;
	uint16_t want = ref_l4_csum(big, len, t, 16, TCP);

	assert_int_equal(len, t + 20 + payload);
	for (uint32_t i = 0; i < payload; i++)
		assert_int_equal(big[t + 20 + i], (uint8_t)(first_seq + i));
	if (version == 4) {
		assert_int_equal(get16(big + 2), len);
		assert_int_equal(ref_finish(ref_add(0, big, 20)), 0); /* header checksum valid */
	} else {
		assert_int_equal(get16(big + 4), len - 40);
	}
	vnet_csum_complete(big, len, (uint16_t)t, 16); /* as the kernel finishes it */
	assert_int_equal(get16(big + t + 16), want ? want : 0xffff);
}

static void test_gso_coalesce(void **state)
{
	static uint8_t big[65536], seg[2000];
	const unsigned versions[] = {4, 6};

	for (size_t v = 0; v < 2; v++) {
		unsigned version = versions[v];
		uint32_t t = version == 4 ? 20 : 40;
		struct vnet_gso g;
		struct tg_vnet_hdr h;
		uint32_t len, seq = 1000;

		len = segment(big, version, seq, 0x10, 1000);
		assert_true(vnet_gso_open(&g, big, len));
		for (int i = 0; i < 3; i++) {
			seq += 1000;
			len = segment(seg, version, seq, 0x10, 1000);
			assert_true(vnet_gso_fits(&g, big, seg, len, len, 65535));
			append(&g, big, seg, len);
		}
		seq += 1000;
		len = segment(seg, version, seq, 0x18, 500); /* the last: shorter, PSH */
		assert_true(vnet_gso_fits(&g, big, seg, len, len, 65535));
		append(&g, big, seg, len);
		len = segment(seg, version, seq + 500, 0x10, 500);
		assert_false(vnet_gso_fits(&g, big, seg, len, len, 65535)); /* closed */
		assert_int_equal(vnet_gso_close(&g, big, &h), t + 20 + 4500);
		assert_int_equal(h.flags, VNET_F_NEEDS_CSUM);
		assert_int_equal(h.gso_type, version == 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6);
		assert_int_equal(h.gso_size, 1000);
		assert_int_equal(h.hdr_len, t + 20);
		assert_int_equal(h.csum_start, t);
		assert_int_equal(h.csum_offset, 16);
		assert_int_equal(big[t + 13], 0x18); /* PSH of the last segment */
		check_merged(big, t + 20 + 4500, version, 1000, 4500);
	}
}

/* lwIP ends every tcp_write() with PSH: a full segment with it is no reason to stop. */
static void test_gso_push_mid_stream(void **state)
{
	static uint8_t big[65536], seg[2000];
	struct vnet_gso g;
	struct tg_vnet_hdr h;
	uint32_t len = segment(big, 4, 1000, 0x10, 1000);

	assert_true(vnet_gso_open(&g, big, len));
	len = segment(seg, 4, 2000, 0x18, 1000); /* full size, PSH */
	assert_true(vnet_gso_fits(&g, big, seg, len, len, 65535));
	append(&g, big, seg, len);
	assert_int_equal(big[20 + 13], 0x18); /* the super-packet's last segment will have it */
	len = segment(seg, 4, 3000, 0x10, 1000);
	assert_true(vnet_gso_fits(&g, big, seg, len, len, 65535)); /* not closed */
	append(&g, big, seg, len);
	assert_int_equal(vnet_gso_close(&g, big, &h), 20 + 20 + 3000);
	assert_int_equal(h.gso_size, 1000);
	assert_int_equal(big[20 + 13], 0x18);
	check_merged(big, 20 + 20 + 3000, 4, 1000, 3000);
}

static void test_gso_single_segment(void **state)
{
	static uint8_t big[2000];
	struct vnet_gso g;
	struct tg_vnet_hdr h;
	uint32_t len = segment(big, 4, 5, 0x10, 1460);

	assert_true(vnet_gso_open(&g, big, len));
	assert_int_equal(vnet_gso_close(&g, big, &h), len);
	assert_int_equal(h.gso_type, VNET_GSO_NONE); /* nothing coalesced: no GSO */
	assert_int_equal(h.flags, VNET_F_NEEDS_CSUM);
	check_merged(big, len, 4, 5, 1460);
}

static void test_gso_refuses(void **state)
{
	static uint8_t big[65536], seg[2000];
	struct vnet_gso g;
	uint32_t len, first = segment(big, 4, 100, 0x10, 1000);

	assert_true(vnet_gso_open(&g, big, first));
#define REFUSED(mutate)                                                                            \
	do {                                                                                       \
		len = segment(seg, 4, 1100, 0x10, 1000);                                           \
		mutate;                                                                            \
		assert_false(vnet_gso_fits(&g, big, seg, len, len, 65535));                        \
	} while (0)
	len = segment(seg, 4, 1100, 0x10, 1000);
	assert_true(vnet_gso_fits(&g, big, seg, len, len, 65535)); /* the unmutated one fits */
	REFUSED(put32(seg + 24, 1101));                            /* sequence gap */
	REFUSED(put32(seg + 28, 778));                             /* another ack */
	REFUSED(seg[35] = 0x11);                                   /* window */
	REFUSED(seg[33] = 0x11);                                   /* FIN */
	REFUSED(seg[33] = 0x12);                                   /* SYN */
	REFUSED(seg[33] = 0x14);                                   /* RST */
	REFUSED(seg[33] = 0x30);                                   /* URG */
	REFUSED(seg[21] = 0x41);                                   /* another port */
	REFUSED(seg[8] = 63);                                      /* TTL */
	REFUSED(seg[1] = 4);                                       /* TOS/ECN */
	REFUSED(seg[19] = 9);                                      /* another destination */
	REFUSED(seg[3] = (uint8_t)(seg[3] + 1));                   /* IP length not the packet's */
	assert_false(vnet_gso_fits(&g, big, seg, len, len - 1, 65535)); /* shorter packet */
	len = segment(seg, 4, 1100, 0x10, 1001);                        /* larger than the first */
	assert_false(vnet_gso_fits(&g, big, seg, len, len, 65535));
	len = segment(seg, 4, 1100, 0x10, 1000);
	assert_false(vnet_gso_fits(&g, big, seg, len, len, first + 999)); /* no room */
	assert_false(vnet_gso_fits(&g, big, seg, 39, len, 65535));        /* headers cut short */
	len = segment(seg, 6, 1100, 0x10, 1000);                          /* IPv6 after IPv4 */
	assert_false(vnet_gso_fits(&g, big, seg, len, len, 65535));

	/* What may not start one: PSH, no payload, SYN, a fragment, UDP. */
	len = segment(big, 4, 1, 0x18, 100);
	assert_false(vnet_gso_open(&g, big, len));
	len = segment(big, 4, 1, 0x10, 0);
	assert_false(vnet_gso_open(&g, big, len));
	len = segment(big, 4, 1, 0x12, 100);
	assert_false(vnet_gso_open(&g, big, len));
	len = segment(big, 4, 1, 0x10, 100);
	big[6] = 0x20;
	assert_false(vnet_gso_open(&g, big, len));
	len = make_ip4(big, UDP, 100);
	assert_false(vnet_gso_open(&g, big, len));
}

/* Up to the IP length limit: 64 KiB of 1448-byte segments. */
static void test_gso_limit(void **state)
{
	static uint8_t big[70000], seg[2000];
	struct vnet_gso g;
	struct tg_vnet_hdr h;
	uint32_t len, seq = 1, n = 1;

	len = segment(big, 4, seq, 0x10, 1448);
	assert_true(vnet_gso_open(&g, big, len));
	for (;;) {
		seq += 1448;
		len = segment(seg, 4, seq, 0x10, 1448);
		if (!vnet_gso_fits(&g, big, seg, len, len, sizeof(big)))
			break;
		append(&g, big, seg, len);
		n++;
	}
	assert_int_equal(n, (65535 - 40) / 1448);
	assert_true(g.len <= 65535);
	assert_int_equal(vnet_gso_close(&g, big, &h), 40 + n * 1448);
	assert_int_equal(h.gso_size, 1448);
	check_merged(big, g.len, 4, 1, n * 1448);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_complete_tcp4_odd_length),
	        cmocka_unit_test(test_complete_udp6),
	        cmocka_unit_test(test_complete_matches_reference),
	        cmocka_unit_test(test_gso_tcp_skips_check),
	        cmocka_unit_test(test_udp_gso_dropped),
	        cmocka_unit_test(test_bad_offsets_dropped),
	        cmocka_unit_test(test_plain_and_ipv6_extension_headers),
	        cmocka_unit_test(test_tx_fill_tcp),
	        cmocka_unit_test(test_tx_fill_leaves_others),
	        cmocka_unit_test(test_gso_coalesce),
	        cmocka_unit_test(test_gso_push_mid_stream),
	        cmocka_unit_test(test_gso_single_segment),
	        cmocka_unit_test(test_gso_refuses),
	        cmocka_unit_test(test_gso_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

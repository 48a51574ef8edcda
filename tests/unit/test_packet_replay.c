/*
 * Known bug classes of IP stacks, replayed into stackd's real input path (issue #8,
 * docs/fuzzing.md): stackd and lwIP as in fuzz_stackd_input (fuzz/stackd_env.c: real links,
 * tunio and relayd played in-process, lwIP's clock driven by the test, every packet stackd
 * sends checked for well-formedness). Each case sends the hostile packets and asserts the
 * documented outcome: nothing out, no flow, no pcb, memory back to its baseline, or for the
 * cases lwIP accepts, exactly what it accepts. lwIP's own statistics are compiled out
 * (LWIP_STATS 0, stackd/lwip-port/lwipopts.h), so a drop inside lwIP is asserted by its
 * effects; drops stackd makes itself are asserted on stackd's counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <malloc.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/priv/tcp_priv.h"

#include "pkt.h"
#include "stackd.h"
#include "stackd_env.h"

#if defined(__SANITIZE_ADDRESS__)
/* ASan's allocator, which mallinfo2() does not see (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define CFG_AUTO   0x70 /* relayd opens, credits and replies at once (stackd_env.c) */
#define TH_FIN     0x01
#define TH_SYN     0x02
#define TH_RST     0x04
#define TH_ACK     0x10
#define PORT0      40000u
#define BIG_WRITE  65600u /* one DATA message larger than 64 KiB: link B's whole slot */
#define FRAG_FLOOD 400u

static uint8_t pkt[0x10000];

/* --- what stackd sent on link A -------------------------------------------------------- */

static struct {
	unsigned packets, tcp, tcp_syn, tcp_rst, tcp_ack_only;
	bool data_seen;
	uint32_t data_start, data_end; /* sequence range stackd sent to connection 0 */
} out;

static void on_out(const uint8_t *p, uint32_t len)
{
	bool v6 = p[0] >> 4 == 6;
	uint32_t hl = v6 ? 40 : (p[0] & 0x0fu) * 4, thl, paylen, seq;
	const uint8_t *t = p + hl;

	out.packets++;
	if ((v6 ? p[6] : p[9]) != IPPROTO_TCP || len < hl + 20)
		return;
	out.tcp++;
	thl = (t[12] >> 4) * 4u;
	paylen = len - hl - thl;
	if (t[13] & TH_SYN)
		out.tcp_syn++;
	if (t[13] & TH_RST)
		out.tcp_rst++;
	if (t[13] == TH_ACK && paylen == 0)
		out.tcp_ack_only++;
	if (pkt_get16(t + 2) != PORT0 || paylen == 0)
		return;
	seq = pkt_get32(t + 4);
	if (!out.data_seen) {
		out.data_seen = true;
		out.data_start = out.data_end = seq;
	}
	if ((int32_t)(seq + paylen - out.data_end) > 0)
		out.data_end = seq + paylen;
}

/* --- state that a dropped packet must leave as it was ---------------------------------- */

static unsigned pcb_count(void)
{
	unsigned n = 0;

	for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next)
		n++;
	return n;
}

static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

struct snap {
	unsigned flows, pcbs, packets;
	uint64_t flows_total, pkts_in, malformed;
};

static struct snap snap(void)
{
	return (struct snap){env_relay_flows(),      pcb_count(),        out.packets,
	                     stackd.ctr.flows_total, stackd.ctr.pkts_in, stackd.ctr.drop_malformed};
}

/* Taken in and dropped: no flow, no pcb, no answer. */
static void assert_dropped(const struct snap *before, unsigned sent)
{
	struct snap now = snap();

	assert_int_equal(now.pkts_in, before->pkts_in + sent);
	assert_int_equal(now.flows, before->flows);
	assert_int_equal(now.flows_total, before->flows_total);
	assert_int_equal(now.pcbs, before->pcbs);
	assert_int_equal(now.packets, before->packets);
}

static void ip4_fix_csum(uint8_t *p)
{
	p[10] = p[11] = 0;
	pkt_put16(p + 10, tg_csum(p, (p[0] & 0x0fu) * 4));
}

/* Connection 2 is IPv4 and connection 3 IPv6, both unused by the prelude. */
static const uint8_t syn_opt[4] = {2, 4, 0x05, 0xb4};

/* --- fixture --------------------------------------------------------------------------- */

static int setup(void **state)
{
	env_begin_with(CFG_AUTO, 0);
	env_prelude();
	memset(&out, 0, sizeof(out));
	return 0;
}

static int teardown(void **state)
{
	env_end();
	return 0;
}

/* --- the bug classes ------------------------------------------------------------------- */

/* IPv4 total length shorter than the header (and than header + TCP header). */
static void test_ip4_total_length_short(void **state)
{
	static const uint16_t lengths[] = {0, 10, 19, 30};
	struct snap before = snap();

	for (unsigned i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		uint32_t len = env_tcp(2, TH_SYN, syn_opt, sizeof(syn_opt), 0, pkt);

		pkt_put16(pkt + 2, lengths[i]);
		ip4_fix_csum(pkt);
		env_send(pkt, len);
	}
	assert_dropped(&before, 4);
}

/* IPv6 extension headers whose length runs past the packet, alone and in a chain. */
static void test_ip6_ext_header_length(void **state)
{
	uint8_t seg[64] = {0};
	struct snap before = snap();
	uint32_t len;

	/* hop-by-hop, hdr_ext_len 255: (255 + 1) * 8 bytes claimed, 16 present */
	seg[0] = IPPROTO_TCP;
	seg[1] = 255;
	len = env_ip(pkt, true, 0 /* hop-by-hop */, seg, 16);
	env_send(pkt, len);
	/* hop-by-hop (8 bytes) -> destination options claiming 2 KiB -> TCP */
	memset(seg, 0, sizeof(seg));
	seg[0] = IPPROTO_DSTOPTS;
	seg[1] = 0;
	seg[2] = 1; /* PadN over the rest */
	seg[3] = 4;
	seg[8] = IPPROTO_TCP;
	seg[9] = 255;
	len = env_ip(pkt, true, 0, seg, 24);
	env_send(pkt, len);
	/* a routing header whose length wraps a 16-bit byte count: (255 + 1) * 8 = 2048 */
	memset(seg, 0, sizeof(seg));
	seg[0] = IPPROTO_TCP;
	seg[1] = 255;
	len = env_ip(pkt, true, IPPROTO_ROUTING, seg, 8);
	env_send(pkt, len);
	/* lwIP may answer a parameter problem; it must not take anything in. */
	assert_int_equal(env_relay_flows(), before.flows);
	assert_int_equal(pcb_count(), before.pcbs);
	assert_int_equal(out.tcp, 0);
	assert_int_equal(stackd.ctr.pkts_in, before.pkts_in + 3);
}

/*
 * TCP options whose length runs past the data offset, and a zero-length option (an endless
 * loop in a naive parser). lwIP (with lwip-patches/0003) stops at the bad option and takes the
 * SYN with the options it read: one SYN-ACK each, in bounded time.
 */
static void test_tcp_option_length(void **state)
{
	static const uint8_t past_end[8] = {2, 4, 0x05, 0xb4, 3, 40, 7, 0};
	static const uint8_t zero_len[8] = {8, 0, 1, 1, 1, 1, 1, 0};
	static const uint8_t one_len[4] = {5, 1, 0, 0};
	unsigned pcbs = pcb_count();

	env_send(pkt, env_tcp(2, TH_SYN, past_end, sizeof(past_end), 0, pkt));
	env_send(pkt, env_tcp(3, TH_SYN, zero_len, sizeof(zero_len), 0, pkt));
	env_send(pkt, env_tcp(6, TH_SYN, one_len, sizeof(one_len), 0, pkt));
	/* three half-open connections, each answered once */
	assert_int_equal(out.tcp_syn, 3);
	assert_int_equal(pcb_count(), pcbs + 3);
}

/* ICMP errors quoting a packet longer than what they carry, IPv6 and IPv4. */
static void test_icmp_error_quotes_too_much(void **state)
{
	uint8_t icmp[8 + 40 + 8] = {0};
	struct snap before = snap();
	uint8_t cip[16], dip[16];
	uint64_t up;

	/* IPv6 packet too big, quoting connection 1's packet with a 1000-byte payload length */
	env_addrs(true, cip, dip);
	icmp[0] = 2;
	pkt_put16(icmp + 6, 1280);
	icmp[8] = 0x60;
	pkt_put16(icmp + 8 + 4, 1000);
	icmp[8 + 6] = IPPROTO_TCP;
	icmp[8 + 7] = 64;
	memcpy(icmp + 8 + 8, dip, 16);
	memcpy(icmp + 8 + 24, cip, 16);
	pkt_put16(icmp + 48, 80);
	pkt_put16(icmp + 50, PORT0 + 1);
	env_send(pkt, env_ip(pkt, true, IPPROTO_ICMPV6, icmp, sizeof(icmp)));
	/* ... and destination unreachable quoting 8 bytes of an IPv6 header */
	icmp[0] = 1;
	env_send(pkt, env_ip(pkt, true, IPPROTO_ICMPV6, icmp, 16));
	/* IPv4 fragmentation needed, quoting IHL 15 and total length 1000 in 28 bytes */
	memset(icmp, 0, sizeof(icmp));
	icmp[0] = 3;
	icmp[1] = 4;
	pkt_put16(icmp + 6, 576);
	icmp[8] = 0x4f;
	pkt_put16(icmp + 10, 1000);
	icmp[8 + 9] = IPPROTO_TCP;
	env_send(pkt, env_ip(pkt, false, IPPROTO_ICMP, icmp, 8 + 20 + 8));
	assert_dropped(&before, 3);
	/* The connections they name are untouched: data still goes through. */
	up = env_relay_bytes_up();
	env_send(pkt, env_tcp(1, TH_ACK, NULL, 0, 100, pkt));
	assert_int_equal(env_relay_bytes_up(), up + 100);
}

/* One IPv4 or IPv6 UDP fragment of datagram id at offset off (bytes), len bytes. */
static uint32_t fragment(bool v6, uint32_t id, uint32_t off, uint32_t len, bool more)
{
	uint8_t seg[1500];
	uint32_t plen;

	memset(seg, 0x33, sizeof(seg));
	if (!v6) {
		plen = env_ip(pkt, false, IPPROTO_UDP, seg, len);
		pkt_put16(pkt + 4, (uint16_t)id);
		pkt_put16(pkt + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
		ip4_fix_csum(pkt);
		return plen;
	}
	/* IPv6: a fragment header, then the fragment */
	memmove(seg + 8, seg, len);
	memset(seg, 0, 8);
	seg[0] = IPPROTO_UDP;
	pkt_put16(seg + 2, (uint16_t)(off | (more ? 1 : 0)));
	seg[4] = (uint8_t)(id >> 24);
	seg[5] = (uint8_t)(id >> 16);
	seg[6] = (uint8_t)(id >> 8);
	seg[7] = (uint8_t)id;
	return env_ip(pkt, true, IPPROTO_FRAGMENT, seg, len + 8);
}

/* Overlapping fragments are not reassembled into anything that reaches relayd. */
static void test_overlapping_fragments(void **state)
{
	for (int v6 = 0; v6 <= 1; v6++) {
		struct snap before = snap();

		env_send(pkt, fragment(v6, 77, 0, 64, true));
		env_send(pkt, fragment(v6, 77, 32, 64, true)); /* overlaps the first */
		env_send(pkt, fragment(v6, 77, 96, 16, false));
		env_send(pkt, fragment(v6, 77, 0, 64, true)); /* and the first again */
		env_send(pkt, fragment(v6, 77, 64, 48, false));
		assert_dropped(&before, 5);
	}
	env_wait_ms(70 * 1000);
}

/*
 * Fragments that never complete: memory stays bounded while they come (IP_REASS_MAX_PBUFS)
 * and returns to where it was once the reassembly timeout passed.
 */
static void test_endless_fragments(void **state)
{
	size_t base, peak = 0;
	struct snap before = snap();

	env_wait_ms(70 * 1000); /* the prelude's own state settles first */
	base = heap_in_use();
	for (uint32_t i = 0; i < FRAG_FLOOD; i++) {
		size_t now;

		env_send(pkt, fragment(i & 1, 1000 + i, 0, 1400, true));
		now = heap_in_use();
		if (now > peak)
			peak = now;
	}
	/* 128 fragments held at most, a few KiB each with their bookkeeping */
	assert_true(peak < base + 128u * 4096u);
	assert_int_equal(env_relay_flows(), before.flows);
	env_wait_ms((IP_REASS_MAXAGE > IPV6_REASS_MAXAGE ? IP_REASS_MAXAGE : IPV6_REASS_MAXAGE) *
	                    1000u +
	            2000u);
	assert_true(heap_in_use() <= base + 4096u);
}

/* A SYN on an established connection: a challenge ACK, no new flow, the connection stays. */
static void test_syn_on_established(void **state)
{
	struct snap before = snap();

	env_send(pkt, env_tcp(0, TH_SYN, syn_opt, sizeof(syn_opt), 0, pkt));
	assert_int_equal(env_relay_flows(), before.flows);
	assert_int_equal(stackd.ctr.flows_total, before.flows_total);
	assert_int_equal(pcb_count(), before.pcbs);
	assert_int_equal(out.tcp_syn, 0);
	assert_int_equal(out.tcp_rst, 0);
	assert_int_equal(out.tcp_ack_only, 1);
}

/* One DATA message over 64 KiB from relayd reaches the client whole, in MSS-sized segments. */
static void test_write_over_64k(void **state)
{
	static uint8_t data[BIG_WRITE];
	uint32_t flow = env_relay_flow_id(0);

	assert_int_not_equal(flow, 0);
	memset(data, 0x42, sizeof(data));
	assert_true(env_relay_data(flow, data, sizeof(data)));
	for (int i = 0; i < 400 && out.data_end - out.data_start < BIG_WRITE; i++) {
		env_send(pkt, env_tcp(0, TH_ACK, NULL, 0, 0, pkt));
		env_wait_ms(250);
	}
	assert_true(out.data_seen);
	assert_int_equal(out.data_end - out.data_start, BIG_WRITE);
	assert_int_equal(stackd.ctr.drop_bad_msg, 0);
}

/*
 * A segment larger than the MSS stackd announced (1460): lwIP takes it whole, as RFC 9293
 * allows a receiver to. (Link A's slot, like tunio's read, bounds a packet to 2048 bytes.)
 */
static void test_segment_over_mss(void **state)
{
	uint64_t up = env_relay_bytes_up();

	env_send(pkt, env_tcp(0, TH_ACK, NULL, 0, 1460 + 400, pkt));
	assert_int_equal(env_relay_bytes_up(), up + 1860);
	env_send(pkt, env_tcp(1, TH_ACK, NULL, 0, 1460 + 500, pkt));
	assert_int_equal(env_relay_bytes_up(), up + 1860 + 1960);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_ip4_total_length_short, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ip6_ext_header_length, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tcp_option_length, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_icmp_error_quotes_too_much, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_overlapping_fragments, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_endless_fragments, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syn_on_established, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_over_64k, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_segment_over_mss, setup, teardown),
	};

	env_init(false);
	env_out_hook = on_out;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

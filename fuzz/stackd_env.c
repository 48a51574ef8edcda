/*
 * stackd under a fuzzer: everything but main() (the stackd_core library), set up as main()
 * does, on two real links made with tg_link_create() and attached on both sides in this
 * process. The fuzzer plays tunio on link A side 0 (it writes packets, reads what stackd
 * sends) and relayd on link B side 1 (it answers TCP_OPEN, moves DATA and CREDIT, replies to
 * datagrams and pings, or sends anything at all); stackd's own drain functions
 * (netif_link_drain, flow_link_drain) take the input, exactly as its event loop calls them.
 * lwIP's clock is this file's sys_now(), which overrides the port's in TG_FUZZ builds, so
 * retransmissions, TIME_WAIT, reassembly timeouts and stackd's sweeps happen when the input
 * says time passes, and a finding replays.
 *
 * Input: two configuration bytes (CFG_* and the timeouts, env_begin()), then operations
 * (env_op()).
 * Packets are built from short descriptions with correct lengths and checksums, so that the
 * fuzzer gets past lwIP's checks into TCP's state machine, reassembly and stackd's flow code;
 * TCP segments take their sequence numbers from what stackd last sent on that connection, so
 * a handshake, data and FIN need no luck. Raw packets (with optional length and checksum
 * repair) and raw relayd descriptors reach everything else.
 *
 * Oracles besides ASan, UBSan, stackd's fatal() (aborts in this build) and lwIP's assertions
 * (abort too):
 *   - every packet stackd writes to link A is a well-formed IPv4 or IPv6 packet: lengths
 *     match, header and transport checksums are right (icmp.c builds some of them by hand);
 *   - every link B message is well-formed for its type (docs/protocol.md), stackd never sends
 *     DATA beyond the credit relayd granted, nothing after its own RESET, no DATA after its
 *     SHUT_WR, and no CREDIT for bytes it never received;
 *   - at the end of each input, after every flow is reset: no flow, UDP flow or lwIP pcb is
 *     left, and every slot of all four pools is back with its owner.
 *
 * fuzz_stackd_tap runs the same with stackd in TAP mode (env_init(true)): packets travel in
 * Ethernet frames, raw frames reach ARP and the frame filter, the fuzzer's clients answer
 * stackd's ARP requests and neighbour solicitations, and stackd's frames are checked too.
 *
 * Between inputs stackd's flows, lwIP's pcbs, reassembly buffers and neighbour caches are
 * cleared and the links are new; what survives is lwIP's ISN counter, stackd's next flow id
 * and the clock, which only move forward (the tracker below follows whatever they are).
 */
#include "stackd_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/nd6.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "tg_lwip_hooks.h"

#include "icmp.h"
#include "link.h"
#include "log.h"
#include "pkt.h"
#include "proto.h"
#include "stackd.h"
#include "syn_hold.h"
#include "tap_answer.h"
#include "tg_lwip.h"
#include "udp_batch.h"
#include "udp_flow.h"

#define A_SLOT        2048u /* >= the MTU, as tungate sizes link A */
#define A_SLOTS       32u
#define A_SLOTS_FEW   4u
#define B_SLOT        65600u /* tungate's link B slot */
#define B_SLOT_SMALL  2048u
#define B_SLOTS       16u
#define B_SLOTS_FEW   4u
#define MTU           1500u
#define MAX_FLOWS     16u
#define FEW_FLOWS     2u
#define SMALL_WINDOW  3000u
#define NCONN         8u  /* TCP connections the segment builder knows by index */
#define NFLOW         64u /* link B flows tracked for selectors and checks */
#define NECHO         8u
#define ECHO_KEEP     64u /* bytes of an echo request kept to answer it */
#define PUMP_ROUNDS   64
#define HELD_MAX      64u
#define PKT_MAX       0x10000u
#define FRAG_MAX      48u
#define STEP_MS       250u
#define TIME_OPS_MAX  64u /* steps per time operation */
#define DRAIN_BUDGET  256u
#define TH_FIN        0x01
#define TH_SYN        0x02
#define TH_RST        0x04
#define TH_ACK        0x10
#define CLIENT_PORT0  40000u
#define ICMP6_ECHO_RQ 128
#define ETH_HLEN      14u
#define ARP_LEN       28u

/* Configuration bits: the input's first byte. */
enum {
	CFG_CONSISTENT = 0x01,   /* handshake mode */
	CFG_FEW_A = 0x02,        /* link A with 4 slots: stackd runs out towards tunio */
	CFG_SMALL_B = 0x04,      /* link B with 4 slots of 2 KiB: datagrams too big, waits */
	CFG_SMALL_WINDOW = 0x08, /* relayd offers 3000 bytes of window per flow */
	CFG_AUTO_OPEN = 0x10,    /* relayd answers every TCP_OPEN with OK at once */
	CFG_AUTO_CREDIT = 0x20,  /* relayd credits DATA as it arrives */
	CFG_AUTO_REPLY = 0x40,   /* relayd echoes datagrams and answers pings */
	CFG_FEW_FLOWS = 0x80,    /* max_flows 2 */
};

/* A TCP connection of the segment builder: index i fixes family, addresses and ports. */
struct conn {
	uint32_t my_next;   /* the client's next sequence number */
	uint32_t peer_next; /* stackd's: last segment's seq + length, as seen on link A */
	bool peer_seen;
};

/* A link B flow as the fuzzer's relayd knows it. */
struct flow {
	uint32_t id;
	bool udp;
	struct tg_addr client, dst; /* UDP: to answer */
	uint64_t up;                /* DATA bytes stackd sent */
	uint64_t granted;           /* relayd's window plus every CREDIT it sent */
	uint64_t down;              /* DATA bytes relayd sent */
	uint64_t credited;          /* CREDIT stackd sent */
	bool shut;                  /* stackd sent SHUT_WR */
	bool reset;                 /* stackd sent RESET: it forgot the flow */
	bool consistent;            /* TCP_OPEN in consistent mode: the flow waits for OK */
	bool ok_sent;               /* relayd sent OPEN_RESULT OK */
	unsigned relay_reset_op;    /* operation in which relayd reset it (0: never) */
};

struct echo {
	struct tg_msg_udp m; /* as stackd sent it: client (port = identifier), target */
	uint8_t icmp[ECHO_KEEP];
	uint32_t len;
};

struct end_state {
	struct tg_link_end *end;
	bool hello;
	bool stall; /* this side keeps the slots it receives */
	uint32_t held[HELD_MAX];
	unsigned nheld;
};

static struct {
	int bell[4]; /* stackd A, tunio, stackd B, relayd */
	int memfd_a, memfd_b;
	uint32_t slots_a, slots_b, slot_b;
	uint8_t cfg;
	struct end_state tunio, relay;
	uint32_t window; /* relayd's HELLO */
	struct conn conn[NCONN];
	struct flow flow[NFLOW];
	unsigned nflow, flow_rr;
	struct echo echo[NECHO];
	unsigned necho;
	bool tap; /* fuzz_stackd_tap: Ethernet frames on link A (stackd --tap) */
	uint16_t ip_id;
	unsigned ops; /* operations so far in this input, from 1 */
	uint8_t pkt[PKT_MAX];
	uint8_t payload[PKT_MAX];
	uint8_t frag[PKT_MAX];
} env;

/* TAP mode: the gateway and the one client MAC every client address uses. */
static const uint8_t gw_mac[6] = {0x02, 0x54, 0x47, 0x00, 0x00, 0xfe};
static const uint8_t client_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

void (*env_out_hook)(const uint8_t *pkt, uint32_t len);

/* TG_FUZZ_TRACE set: every link B message and time step on stderr, to read a finding. */
static bool trace;

#define TRACE(...)                                                                                 \
	do {                                                                                       \
		if (trace)                                                                         \
			fprintf(stderr, __VA_ARGS__);                                              \
	} while (0)

/* --- lwIP's clock ----------------------------------------------------------------------- */

static u32_t fake_ms = 1000;

/* Overrides the weak sys_now() of stackd/lwip-port/sys_arch.c: time is what the input says. */
u32_t sys_now(void)
{
	return fake_ms;
}

/*
 * Overrides the weak tg_tcp_isn() too: stackd draws its ISNs at random, which would make a
 * finding depend on more than its input. A counter stepped per connection, as lwIP's own.
 */
u32_t tg_tcp_isn(void)
{
	static u32_t isn = 6510;

	return isn += 0x10000;
}

/*
 * stackd stamps flows with time(NULL) and its sweep compares with it: the same clock, or a
 * flow made after time passed would look old. Replaces libc's time() in this program only
 * (libFuzzer and the sanitizers time themselves with clock_gettime()).
 */
time_t time(time_t *t)
{
	time_t now = (time_t)1700000000 + fake_ms / 1000;

	if (t)
		*t = now;
	return now;
}

/* --- addresses (checksums and fields: tests/support/pkt.c) ----------------------------- */

/* Host h (0..3) of the client network and of the destinations, in either family. */
static void client_ip(bool v6, unsigned h, uint8_t *ip)
{
	static const uint8_t c6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

	if (v6) {
		memcpy(ip, c6, 16);
		ip[15] = (uint8_t)(1 + h);
	} else {
		ip[0] = 10, ip[1] = 7, ip[2] = 0, ip[3] = (uint8_t)(1 + h);
	}
}

static void dest_ip(bool v6, unsigned h, uint8_t *ip)
{
	static const uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

	if (v6) {
		memcpy(ip, d6, 16);
		ip[15] = (uint8_t)(1 + h);
	} else {
		ip[0] = 198, ip[1] = 51, ip[2] = 100, ip[3] = (uint8_t)(1 + h);
	}
}

/*
 * Wraps a transport segment (already in env.payload or anywhere) into an IP packet at out;
 * fills in the transport checksum unless asked not to. Returns the packet's length.
 */
static uint32_t build_ip(uint8_t *out, bool v6, const uint8_t *src, const uint8_t *dst,
                         uint8_t proto, const uint8_t *seg, uint32_t seglen, bool csum)
{
	uint32_t hl = v6 ? 40 : 20;

	if (seglen > PKT_MAX - hl)
		seglen = PKT_MAX - hl;
	memmove(out + hl, seg, seglen);
	if (csum)
		pkt_set_l4_csum(v6, src, dst, proto, out + hl, seglen);
	return pkt_ip_header(out, v6, src, dst, proto, seglen, v6 ? 0 : ++env.ip_id, 0) + seglen;
}

/* --- flows as relayd sees them ---------------------------------------------------------- */

static struct flow *flow_find(uint32_t id)
{
	for (unsigned i = 0; i < env.nflow; i++)
		if (env.flow[i].id == id)
			return &env.flow[i];
	return NULL;
}

/* A new record; the oldest is recycled when all are taken (its checks end there). */
static struct flow *flow_add(uint32_t id, bool udp)
{
	struct flow *f;

	if (env.nflow < NFLOW)
		f = &env.flow[env.nflow++];
	else
		f = &env.flow[env.flow_rr++ % NFLOW];
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->udp = udp;
	f->granted = env.window;
	return f;
}

/* A flow id for a relayd message: mostly a known flow, sometimes 0, ~0, a fresh id, any. */
static uint32_t pick_flow(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);

	if (sel < 0xf0 && env.nflow > 0)
		return env.flow[sel % env.nflow].id;
	switch (sel) {
	case 0xf0:
		return 0;
	case 0xf1:
		return 0xffffffffu;
	case 0xf2:
		return fuzz_u32(in);
	default:
		return env.nflow ? env.flow[env.nflow - 1].id + 1 : 1;
	}
}

/* --- the fuzzer's relayd: sending ------------------------------------------------------- */

static void relay_send(struct tg_desc *d)
{
	struct flow *f = flow_find(d->flow);

	TRACE("relayd -> stackd: %s flow %u arg %u slot %d len %u\n", tg_msg_name(d->type), d->flow,
	      d->arg, d->slot == TG_NO_SLOT ? -1 : (int)d->slot, d->len);
	/*
	 * A well-formed RESET for a flow stackd has (a UDP flow, a fast-mode TCP flow, a
	 * consistent one relayd approved) ends it there: from the next operation on, when
	 * whatever crossed it in flight has arrived, stackd must not mention the flow again.
	 */
	if (f && d->slot == TG_NO_SLOT && d->len == 0) {
		if (d->type == TG_MSG_OPEN_RESULT && d->arg == TG_OPEN_OK)
			f->ok_sent = true;
		if (d->type == TG_MSG_RESET && !f->relay_reset_op &&
		    (f->udp || !f->consistent || f->ok_sent))
			f->relay_reset_op = env.ops;
	}
	if (tg_link_send(env.relay.end, d) < 0 && d->slot < env.slots_b)
		tg_link_unalloc(env.relay.end, d->slot);
}

static void relay_ctl(uint16_t type, uint32_t flow, uint32_t arg)
{
	struct tg_desc d = {.slot = TG_NO_SLOT, .flow = flow, .arg = arg, .type = type};
	struct flow *f = flow_find(flow);

	if (f && type == TG_MSG_CREDIT && arg <= STACKD_WINDOW)
		f->granted += arg;
	relay_send(&d);
}

/* A message with a slot; hdr (hdrlen bytes) then len bytes of data. False if no slot. */
static bool relay_payload(uint16_t type, uint32_t flow, uint32_t arg, const void *hdr,
                          uint32_t hdrlen, const void *data, uint32_t len)
{
	struct tg_desc d = {.flow = flow, .arg = arg, .type = type};
	struct flow *f = flow_find(flow);
	uint8_t *p;

	if (hdrlen + len > env.slot_b)
		return false;
	d.slot = tg_link_alloc(env.relay.end);
	if (d.slot == TG_NO_SLOT)
		return false;
	p = tg_link_slot(env.relay.end, d.slot);
	if (hdrlen)
		memcpy(p, hdr, hdrlen);
	if (len)
		memcpy(p + hdrlen, data, len);
	d.len = hdrlen + len;
	if (f && type == TG_MSG_DATA)
		f->down += d.len;
	relay_send(&d);
	return true;
}

/* relayd's answer to an echo request: the reply as the target would send it. */
static void relay_echo_reply(const struct echo *e, uint32_t len, uint8_t mode)
{
	struct tg_msg_udp m = {.src = e->m.dst, .dst = e->m.src};
	uint8_t *icmp = env.payload;

	if (len < e->len)
		memcpy(icmp, e->icmp, len);
	else {
		memcpy(icmp, e->icmp, e->len);
		memset(icmp + e->len, 0xab, len - e->len);
	}
	if (len > 0)
		icmp[0] = m.src.family == TG_AF_INET6 ? 129 : 0;
	/* Forged shapes: families that disagree or are nothing. */
	if (mode & 1)
		m.dst.family = m.src.family == TG_AF_INET4 ? TG_AF_INET6 : TG_AF_INET4;
	if (mode & 2)
		m.src.family = 0;
	relay_payload(TG_MSG_ICMP_ECHO, 0, 0, &m, sizeof(m), icmp, len);
}

/* --- the fuzzer's tunio and relayd: receiving ------------------------------------------ */

static void give_back(struct end_state *s, uint32_t slot)
{
	if (s->stall && s->nheld < HELD_MAX) {
		s->held[s->nheld++] = slot;
		return;
	}
	tg_link_release(s->end, slot);
}

static void unstall(struct end_state *s)
{
	s->stall = false;
	for (unsigned i = 0; i < s->nheld; i++)
		tg_link_release(s->end, s->held[i]);
	s->nheld = 0;
}

/* A packet stackd sends towards the TUN must be one the kernel would take as it is. */
static void check_out_packet(const uint8_t *p, uint32_t len)
{
	bool v6;
	uint32_t hl;
	uint8_t proto;

	if (len < 1)
		fuzz_fail("stackd sent an empty packet");
	v6 = p[0] >> 4 == 6;
	if (v6) {
		if (len < 40 || pkt_get16(p + 4) + 40u != len)
			fuzz_fail("stackd sent an IPv6 packet of %u bytes with payload length %u",
			          len, len >= 40 ? pkt_get16(p + 4) : 0);
		hl = 40;
		proto = p[6];
	} else {
		if (p[0] >> 4 != 4 || len < 20 || (p[0] & 0x0f) * 4u < 20 ||
		    (p[0] & 0x0f) * 4u > len || pkt_get16(p + 2) != len)
			fuzz_fail("stackd sent a malformed IPv4 packet (%u bytes)", len);
		hl = (p[0] & 0x0f) * 4u;
		if (tg_csum(p, hl) != 0)
			fuzz_fail("stackd sent an IPv4 header with a bad checksum");
		proto = p[9];
		if (pkt_get16(p + 6) & 0x3fff)
			return; /* a fragment: its transport header is checked by the receiver */
	}
	/* Extension headers (hop-by-hop for MLD, fragments) are lwIP's; not checked further. */
	if (v6 && proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMPV6)
		return;
	if (!pkt_l4_csum_ok(v6, p + (v6 ? 8 : 12), p + (v6 ? 24 : 16), proto, p + hl, len - hl))
		fuzz_fail("stackd sent a %s packet, protocol %u, with a bad checksum",
		          v6 ? "IPv6" : "IPv4", proto);
}

/* Follows the connections of the segment builder through what stackd sends them. */
static void track_out_packet(const uint8_t *p, uint32_t len)
{
	bool v6 = p[0] >> 4 == 6;
	uint32_t hl = v6 ? 40 : (p[0] & 0x0f) * 4u, seglen, seq;
	const uint8_t *tcp = p + hl;
	uint16_t dport;
	struct conn *c;
	unsigned i;

	if ((v6 ? p[6] : p[9]) != IPPROTO_TCP || len < hl + 20 || (tcp[12] >> 4) * 4u > len - hl)
		return;
	dport = pkt_get16(tcp + 2);
	i = dport - CLIENT_PORT0;
	if (dport < CLIENT_PORT0 || i >= NCONN || (bool)(i & 1) != v6)
		return;
	c = &env.conn[i];
	seq = pkt_get32(tcp + 4);
	seglen = len - hl - (tcp[12] >> 4) * 4u;
	seglen += (tcp[13] & TH_SYN ? 1 : 0) + (tcp[13] & TH_FIN ? 1 : 0);
	if (tcp[13] & TH_RST)
		return;
	if (!c->peer_seen || (int32_t)(seq + seglen - c->peer_next) > 0 || (tcp[13] & TH_SYN))
		c->peer_next = seq + seglen;
	c->peer_seen = true;
}

/* TAP: answers to stackd's ARP and neighbour solicitations, sent once the drain is over. */
#define ANSWERS_MAX 8
#define ANSWER_LEN  (ETH_HLEN + 40 + 32)

static struct {
	uint8_t frame[ANSWER_LEN];
	uint32_t len;
} answers[ANSWERS_MAX];
static unsigned nanswers;

static uint8_t *new_answer(uint32_t len)
{
	if (nanswers == ANSWERS_MAX || len > ANSWER_LEN)
		return NULL;
	answers[nanswers].len = len;
	return answers[nanswers++].frame;
}

/* "Who has 10.7.0.x?" for a client: the client answers with its MAC. */
static void answer_arp(const uint8_t *f)
{
	const uint8_t *arp = f + ETH_HLEN;
	uint8_t *a;

	if (pkt_get16(arp) != 1 || pkt_get16(arp + 2) != 0x0800 || arp[4] != 6 || arp[5] != 4 ||
	    pkt_get16(arp + 6) != 1 || arp[24] != 10 || arp[25] != 7 || arp[26] != 0 ||
	    arp[27] > 4 || !(a = new_answer(ETH_HLEN + ARP_LEN)))
		return;
	memcpy(a, f + 6, 6);
	memcpy(a + 6, client_mac, 6);
	pkt_put16(a + 12, 0x0806);
	memcpy(a + ETH_HLEN, arp, 6); /* hardware and protocol types and lengths */
	pkt_put16(a + ETH_HLEN + 6, 2);
	memcpy(a + ETH_HLEN + 8, client_mac, 6);
	memcpy(a + ETH_HLEN + 14, arp + 24, 4); /* the address asked for */
	memcpy(a + ETH_HLEN + 18, arp + 8, 10); /* back to the asker */
}

/* A neighbour solicitation for a client address (fd00::1..4): the client advertises itself. */
static void answer_ns(const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + ETH_HLEN, *ns = ip + 40;
	uint8_t client[16], *a, na[32];

	client_ip(true, 0, client);
	if (len < ETH_HLEN + 40 + 24 || ns[0] != 135 || memcmp(ns + 8, client, 15) != 0 ||
	    ns[8 + 15] == 0 || ns[8 + 15] > 4 || memcmp(ip + 8, "\0\0\0\0\0\0\0\0", 8) == 0)
		return; /* not ours, or duplicate address detection (source ::) */
	if (!(a = new_answer(ETH_HLEN + 40 + 32)))
		return;
	memcpy(a, f + 6, 6);
	memcpy(a + 6, client_mac, 6);
	pkt_put16(a + 12, 0x86dd);
	memset(na, 0, sizeof(na));
	na[0] = 136;
	na[4] = 0x60; /* solicited, override */
	memcpy(na + 8, ns + 8, 16);
	na[24] = 2; /* target link-layer address */
	na[25] = 1;
	memcpy(na + 26, client_mac, 6);
	build_ip(a + ETH_HLEN, true, ns + 8, ip + 8, IPPROTO_ICMPV6, na, 32, true);
	a[ETH_HLEN + 7] = 255; /* neighbour discovery demands it; not in the checksum */
}

/* TAP: a frame stackd sends is from the gateway's MAC and holds IPv4, IPv6 or ARP. */
static void check_out_frame(const uint8_t *f, uint32_t len)
{
	uint16_t type;

	if (len < ETH_HLEN || memcmp(f + 6, gw_mac, 6) != 0)
		fuzz_fail("stackd sent a frame of %u bytes not from the gateway's MAC", len);
	type = pkt_get16(f + 12);
	if (type == 0x0806) {
		if (len < ETH_HLEN + ARP_LEN)
			fuzz_fail("stackd sent a short ARP frame (%u bytes)", len);
		answer_arp(f);
		return;
	}
	if (type != 0x0800 && type != 0x86dd)
		fuzz_fail("stackd sent a frame of EtherType %#x", type);
	check_out_packet(f + ETH_HLEN, len - ETH_HLEN);
	track_out_packet(f + ETH_HLEN, len - ETH_HLEN);
	if (type == 0x86dd && f[ETH_HLEN + 6] == IPPROTO_ICMPV6)
		answer_ns(f, len);
}

static void send_frame_how(const uint8_t *pkt, uint32_t len, bool may_pump);

static unsigned send_answers(void)
{
	unsigned n = nanswers;

	for (unsigned i = 0; i < n; i++)
		send_frame_how(answers[i].frame, answers[i].len, false);
	nanswers = 0;
	return n;
}

static unsigned tunio_drain(void)
{
	struct tg_desc d[TG_LINK_BURST];
	unsigned n, total = 0;

	while ((n = tg_link_recv(env.tunio.end, d, TG_LINK_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *p;

			if (!env.tunio.hello) {
				struct tg_msg_hello h;

				if (tg_hello_check(env.tunio.end, &d[i], TG_ROLE_STACKD, &h) < 0)
					fuzz_fail("stackd's HELLO on link A fails its checks");
				env.tunio.hello = true;
				continue;
			}
			if (d[i].type != TG_MSG_PACKET || d[i].slot == TG_NO_SLOT)
				fuzz_fail("stackd sent %s without a packet on link A",
				          tg_msg_name(d[i].type));
			p = tg_link_peer_slot(env.tunio.end, d[i].slot);
			if (env.tap) {
				check_out_frame(p, d[i].len);
			} else {
				check_out_packet(p, d[i].len);
				track_out_packet(p, d[i].len);
			}
			if (env_out_hook)
				env_out_hook(p, d[i].len);
			give_back(&env.tunio, d[i].slot);
		}
		total += n;
	}
	return total;
}

static bool addrs_ok(const struct tg_addr *a, const struct tg_addr *b)
{
	return tg_addr_valid(a) && tg_addr_valid(b) && a->family == b->family;
}

/* One message from stackd on link B, checked against docs/protocol.md; relayd reacts. */
/*
 * A UDP flow's datagram (or batch) reached relayd: the flow is known from then on, and with
 * auto-reply everything goes back as it came, with the addresses swapped.
 */
static void udp_seen(struct flow *f, const struct tg_desc *d, const struct tg_msg_udp *m,
                     const uint8_t *slot)
{
	if (!f) {
		f = flow_add(d->flow, true);
		f->client = m->src;
		f->dst = m->dst;
	}
	if (env.cfg & CFG_AUTO_REPLY) {
		struct tg_msg_udp r = {.src = m->dst, .dst = m->src};

		relay_payload(d->type, d->flow, d->type == TG_MSG_UDP ? 0 : d->arg, &r, sizeof(r),
		              slot + sizeof(*m), d->len - (uint32_t)sizeof(*m));
	}
}

static void relay_receive(const struct tg_desc *d)
{
	const uint8_t *slot =
	        d->slot != TG_NO_SLOT ? tg_link_peer_slot(env.relay.end, d->slot) : NULL;
	struct flow *f = d->flow ? flow_find(d->flow) : NULL;
	const char *name = tg_msg_name(d->type);

	TRACE("stackd -> relayd: %s flow %u arg %u len %u\n", name, d->flow, d->arg, d->len);
	if (f && f->reset)
		fuzz_fail("stackd sent %s for flow %u after its RESET", name, d->flow);
	if (f && f->relay_reset_op && env.ops > f->relay_reset_op)
		fuzz_fail("stackd sent %s for flow %u after relayd's RESET", name, d->flow);
	switch (d->type) {
	case TG_MSG_TCP_OPEN: {
		struct tg_msg_open m;

		if (!slot || d->len != sizeof(m) || d->flow == 0 || f ||
		    (d->arg != TG_OPEN_FAST && d->arg != TG_OPEN_CONSISTENT))
			fuzz_fail("stackd sent a malformed or repeated TCP_OPEN (flow %u)",
			          d->flow);
		memcpy(&m, slot, sizeof(m));
		if (!addrs_ok(&m.src, &m.dst) || m.proto != IPPROTO_TCP || m.dst.port == 0)
			fuzz_fail("stackd sent TCP_OPEN with bad addresses (flow %u)", d->flow);
		flow_add(d->flow, false)->consistent = d->arg == TG_OPEN_CONSISTENT;
		if (env.cfg & CFG_AUTO_OPEN)
			relay_ctl(TG_MSG_OPEN_RESULT, d->flow, TG_OPEN_OK);
		break;
	}
	case TG_MSG_DATA:
		if (!slot || d->len == 0)
			fuzz_fail("stackd sent DATA without bytes (flow %u)", d->flow);
		if (f) {
			if (f->shut || f->udp)
				fuzz_fail("stackd sent DATA on flow %u after SHUT_WR or on UDP",
				          d->flow);
			f->up += d->len;
			if (f->up > f->granted)
				fuzz_fail("stackd sent %llu bytes on flow %u, relayd granted %llu",
				          (unsigned long long)f->up, d->flow,
				          (unsigned long long)f->granted);
		}
		if (env.cfg & CFG_AUTO_CREDIT)
			relay_ctl(TG_MSG_CREDIT, d->flow, d->len);
		break;
	case TG_MSG_CREDIT:
		if (slot || d->arg == 0 || d->arg > STACKD_WINDOW)
			fuzz_fail("stackd sent a malformed CREDIT (flow %u, %u bytes)", d->flow,
			          d->arg);
		if (f) {
			f->credited += d->arg;
			if (f->credited > f->down)
				fuzz_fail("stackd credited %llu bytes on flow %u, relayd sent %llu",
				          (unsigned long long)f->credited, d->flow,
				          (unsigned long long)f->down);
		}
		break;
	case TG_MSG_SHUT_WR:
		if (slot || (f && f->shut))
			fuzz_fail("stackd sent a malformed or repeated SHUT_WR (flow %u)", d->flow);
		if (f)
			f->shut = true;
		break;
	case TG_MSG_RESET:
	case TG_MSG_CLOSED:
		if (slot)
			fuzz_fail("stackd sent %s with a payload (flow %u)", name, d->flow);
		if (f)
			f->reset = true;
		break;
	case TG_MSG_UDP: {
		struct tg_msg_udp m;

		if (!slot || d->len < sizeof(m) || d->flow == 0 || (f && !f->udp))
			fuzz_fail("stackd sent a malformed UDP (flow %u)", d->flow);
		memcpy(&m, slot, sizeof(m));
		if (!addrs_ok(&m.src, &m.dst) || m.dst.port == 0)
			fuzz_fail("stackd sent UDP with bad addresses (flow %u)", d->flow);
		udp_seen(f, d, &m, slot);
		break;
	}
	case TG_MSG_UDP_BATCH: {
		/* Several datagrams of one flow: well-formed, two or more, and only as UDP is. */
		struct tg_msg_udp m;

		if (!slot || d->flow == 0 || (f && !f->udp) || d->arg < 2 ||
		    tg_udp_batch_check(slot, d->len, d->arg, &m) != TG_UDP_BATCH_OK)
			fuzz_fail(
			        "stackd sent a malformed UDP_BATCH (flow %u, %u records, %u bytes)",
			        d->flow, d->arg, d->len);
		if (!addrs_ok(&m.src, &m.dst) || m.dst.port == 0)
			fuzz_fail("stackd sent UDP_BATCH with bad addresses (flow %u)", d->flow);
		/* A batch goes back as one: the records after the header, as they came. */
		udp_seen(f, d, &m, slot);
		break;
	}
	case TG_MSG_ICMP_ECHO: {
		struct echo *e = &env.echo[env.necho++ % NECHO];
		uint8_t type;

		if (!slot || d->flow != 0 || d->len < sizeof(e->m) + 8)
			fuzz_fail("stackd sent a malformed ICMP_ECHO (%u bytes)", d->len);
		memcpy(&e->m, slot, sizeof(e->m));
		type = slot[sizeof(e->m)];
		if (!addrs_ok(&e->m.src, &e->m.dst) ||
		    type != (e->m.src.family == TG_AF_INET6 ? ICMP6_ECHO_RQ : 8))
			fuzz_fail("stackd sent ICMP_ECHO with bad addresses or type %u", type);
		e->len = d->len - (uint32_t)sizeof(e->m);
		if (e->len > ECHO_KEEP)
			e->len = ECHO_KEEP;
		memcpy(e->icmp, slot + sizeof(e->m), e->len);
		if (env.cfg & CFG_AUTO_REPLY)
			relay_echo_reply(e, e->len, 0);
		break;
	}
	default:
		fuzz_fail("stackd sent %s on link B", name);
	}
}

static unsigned relay_drain(void)
{
	struct tg_desc d[TG_LINK_BURST];
	unsigned n, total = 0;

	while ((n = tg_link_recv(env.relay.end, d, TG_LINK_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			if (!env.relay.hello) {
				struct tg_msg_hello h;

				if (tg_hello_check(env.relay.end, &d[i], TG_ROLE_STACKD, &h) < 0 ||
				    h.window != STACKD_WINDOW)
					fuzz_fail("stackd's HELLO on link B fails its checks");
				env.relay.hello = true;
				continue;
			}
			relay_receive(&d[i]);
			if (d[i].slot != TG_NO_SLOT)
				give_back(&env.relay, d[i].slot);
		}
		total += n;
	}
	return total;
}

/*
 * Runs both sides until nothing moves: stackd's drains as its event loop calls them, then
 * the fuzzer's tunio and relayd. A flow waiting for link B slots is retried by every
 * flow_link_drain(), as the real loop's drain after slots came back does.
 */
static void pump(void)
{
	for (int i = 0; i < PUMP_ROUNDS; i++) {
		unsigned moved;

		tg_link_flush(env.tunio.end);
		tg_link_flush(env.relay.end);
		moved = netif_link_drain(stackd.link_a, DRAIN_BUDGET, &stackd);
		moved += flow_link_drain(stackd.link_b, DRAIN_BUDGET, &stackd);
		moved += tunio_drain() + relay_drain();
		moved += send_answers();
		if (!moved && !tg_link_tx_pending(env.tunio.end) &&
		    !tg_link_tx_pending(env.relay.end) && !tg_link_tx_pending(stackd.link_a) &&
		    !tg_link_tx_pending(stackd.link_b))
			return;
	}
}

/* --- the fuzzer's tunio: sending packets ------------------------------------------------ */

/*
 * A whole link A message: an IP packet (TUN) or an Ethernet frame (TAP), as it is. Without
 * a free slot it runs both sides once to get one back (not from inside the pump: answers).
 */
static void send_frame_how(const uint8_t *pkt, uint32_t len, bool may_pump)
{
	struct tg_desc d = {.type = TG_MSG_PACKET};

	if (len > A_SLOT)
		len = A_SLOT; /* tunio never reads more than a slot */
	d.slot = tg_link_alloc(env.tunio.end);
	if (d.slot == TG_NO_SLOT && may_pump) {
		pump();
		d.slot = tg_link_alloc(env.tunio.end);
	}
	if (d.slot == TG_NO_SLOT)
		return;
	memcpy(tg_link_slot(env.tunio.end, d.slot), pkt, len);
	d.len = len;
	if (tg_link_send(env.tunio.end, &d) < 0)
		tg_link_unalloc(env.tunio.end, d.slot);
}

static void send_frame(const uint8_t *pkt, uint32_t len)
{
	send_frame_how(pkt, len, true);
}

/* An IP packet from a client: TAP mode puts it in a frame from the client to the gateway. */
static void send_packet(const uint8_t *pkt, uint32_t len)
{
	static uint8_t frame[PKT_MAX + ETH_HLEN];

	if (!env.tap) {
		send_frame(pkt, len);
		return;
	}
	if (len > PKT_MAX)
		len = PKT_MAX;
	memcpy(frame, gw_mac, 6);
	memcpy(frame + 6, client_mac, 6);
	pkt_put16(frame + 12, len > 0 && pkt[0] >> 4 == 6 ? 0x86dd : 0x0800);
	memcpy(frame + ETH_HLEN, pkt, len);
	send_frame(frame, ETH_HLEN + len);
}

/* Signed offsets, mostly 0: small ones test windows, large ones wrap. */
static int32_t take_delta(struct fuzz_in *in)
{
	uint8_t b = fuzz_u8(in);

	if (b < 0xc0)
		return 0;
	if (b < 0xf0)
		return (int32_t)b - 0xd8; /* -24..23 */
	if (b < 0xff)
		return ((int32_t)b - 0xf8) * 65536;
	return (int32_t)fuzz_u32(in);
}

static void conn_addrs(unsigned i, bool *v6, uint8_t *cip, uint8_t *dip, uint16_t *sport,
                       uint16_t *dport)
{
	*v6 = i & 1;
	client_ip(*v6, i >> 2, cip);
	dest_ip(*v6, (i >> 1) & 1, dip);
	*sport = (uint16_t)(CLIENT_PORT0 + i);
	*dport = (i >> 1) & 1 ? 443 : 80;
}

/*
 * A TCP segment of connection i: flags, offsets to the tracked sequence numbers, window,
 * options and payload length from the input. A SYN starts the client's sequence anew.
 */
static uint32_t build_tcp(unsigned i, uint8_t flags, int32_t seqd, int32_t ackd, uint16_t wnd,
                          const uint8_t *opt, uint32_t optlen, uint32_t paylen, uint8_t *out)
{
	struct conn *c = &env.conn[i];
	uint8_t cip[16], dip[16], *seg = env.payload;
	uint16_t sport, dport;
	bool v6;
	uint32_t hl = 20 + optlen, seq;

	conn_addrs(i, &v6, cip, dip, &sport, &dport);
	if ((flags & (TH_SYN | TH_ACK)) == TH_SYN) {
		c->my_next = 0x1000000u * (i + 1) + fake_ms;
		c->peer_seen = false;
	}
	seq = c->my_next + (uint32_t)seqd;
	if (paylen > PKT_MAX - 60 - hl)
		paylen = PKT_MAX - 60 - hl;
	memset(seg, 0, hl);
	pkt_put16(seg, sport);
	pkt_put16(seg + 2, dport);
	pkt_put32(seg + 4, seq);
	pkt_put32(seg + 8, (flags & TH_ACK) ? c->peer_next + (uint32_t)ackd : 0);
	seg[12] = (uint8_t)((hl / 4) << 4);
	seg[13] = flags;
	pkt_put16(seg + 14, wnd);
	if (optlen)
		memcpy(seg + 20, opt, optlen);
	for (uint32_t k = 0; k < paylen; k++)
		seg[hl + k] = (uint8_t)(seq + k);
	if (seqd == 0)
		c->my_next += paylen + (flags & TH_SYN ? 1 : 0) + (flags & TH_FIN ? 1 : 0);
	return build_ip(out, v6, cip, dip, IPPROTO_TCP, seg, hl + paylen, true);
}

static void op_tcp(struct fuzz_in *in)
{
	unsigned i = fuzz_u8(in) % NCONN;
	uint8_t flags = fuzz_u8(in);
	int32_t seqd = take_delta(in), ackd = take_delta(in);
	uint16_t wnd = (uint16_t)(fuzz_u8(in) << 8 | 0xff);
	uint32_t optlen = (fuzz_u8(in) % 11) * 4u, paylen = fuzz_u16(in) % 1600u;
	uint8_t opt[40] = {0};
	size_t got;
	const uint8_t *o = fuzz_take(in, optlen, &got);

	memcpy(opt, o, got);
	send_packet(env.pkt, build_tcp(i, flags, seqd, ackd, wnd, opt, optlen, paylen, env.pkt));
}

/* A TCP handshake on connection i: SYN (MSS, window scale, SACK), then the ACK. */
static void client_connect(unsigned i)
{
	static const uint8_t syn_opt[12] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1};

	send_packet(env.pkt, build_tcp(i, TH_SYN, 0, 0, 0xffff, syn_opt, 12, 0, env.pkt));
	pump();
	send_packet(env.pkt, build_tcp(i, TH_ACK, 0, 0, 0xffff, NULL, 0, 0, env.pkt));
	pump();
}

/* UDP from tuple i to port 53, 443, 0 or any; IPv4 sometimes without checksum. */
static uint32_t build_udp(struct fuzz_in *in, uint8_t *out, uint32_t *seglen)
{
	unsigned i = fuzz_u8(in) % NCONN;
	uint8_t mode = fuzz_u8(in);
	uint32_t paylen = fuzz_u16(in) % 9000u;
	static const uint16_t ports[4] = {53, 443, 0, 9};
	uint8_t cip[16], dip[16], *seg = env.payload;
	uint16_t sport, dport;
	bool v6;
	uint32_t len;

	conn_addrs(i, &v6, cip, dip, &sport, &dport);
	dport = mode & 0x80 ? fuzz_u16(in) : ports[mode & 3];
	if ((mode & 0x10) && !v6)
		dip[3] = 255; /* broadcast-looking destination */
	if ((mode & 0x20) && !v6)
		dip[0] = 224; /* multicast */
	if ((mode & 0x20) && v6)
		dip[0] = 0xff;
	pkt_put16(seg, sport);
	pkt_put16(seg + 2, dport);
	pkt_put16(seg + 4, (uint16_t)(8 + paylen));
	pkt_put16(seg + 6, 0);
	for (uint32_t k = 0; k < paylen; k++)
		seg[8 + k] = (uint8_t)k;
	*seglen = 8 + paylen;
	len = build_ip(out, v6, cip, dip, IPPROTO_UDP, seg, 8 + paylen, !(mode & 0x40) || v6);
	return len;
}

/*
 * ICMP: an echo request (a ping to relay), or any type and code with a body from the input
 * (errors quoting packets, neighbour discovery, MLD, ...); the checksum is right either way.
 */
static uint32_t build_icmp(struct fuzz_in *in, uint8_t *out)
{
	uint8_t mode = fuzz_u8(in);
	bool v6 = mode & 1;
	uint8_t cip[16], dip[16], *seg = env.payload;
	uint32_t len;

	client_ip(v6, (mode >> 1) & 3, cip);
	dest_ip(v6, (mode >> 3) & 3, dip);
	if (mode & 0x80) {
		size_t got;
		const uint8_t *body;

		seg[0] = fuzz_u8(in);
		seg[1] = fuzz_u8(in);
		len = fuzz_u8(in);
		body = fuzz_take(in, len, &got);
		memset(seg + 2, 0, 2);
		memcpy(seg + 4, body, got);
		len = 4 + (uint32_t)got;
		if (mode & 0x40)
			dip[0] = v6 ? 0xff : 224; /* multicast: ND and MLD go there */
	} else {
		uint16_t id = fuzz_u16(in), seq = fuzz_u16(in);

		len = 8 + fuzz_u16(in) % 3000u;
		seg[0] = v6 ? ICMP6_ECHO_RQ : 8;
		seg[1] = 0;
		pkt_put16(seg + 2, 0);
		pkt_put16(seg + 4, id);
		pkt_put16(seg + 6, seq);
		for (uint32_t k = 8; k < len; k++)
			seg[k] = (uint8_t)k;
	}
	return build_ip(out, v6, cip, dip, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, seg, len, true);
}

/*
 * Any bytes as a packet. Flags repair what random bytes rarely get right: the IPv4 total
 * length and header checksum, the IPv6 payload length, the transport checksum.
 */
static void op_raw_packet(struct fuzz_in *in)
{
	uint8_t fix = fuzz_u8(in);
	uint32_t want = fuzz_u16(in) % (A_SLOT + 1);
	size_t len;
	const uint8_t *p = fuzz_take(in, want, &len);
	uint8_t *pkt = env.pkt;

	memcpy(pkt, p, len);
	if (len >= 20 && pkt[0] >> 4 == 4) {
		uint32_t hl = (pkt[0] & 0x0f) * 4u;

		if (fix & 1)
			pkt_put16(pkt + 2, (uint16_t)len);
		if ((fix & 4) && hl >= 20 && hl <= len && !(pkt_get16(pkt + 6) & 0x3fff))
			pkt_set_l4_csum(false, pkt + 12, pkt + 16, pkt[9], pkt + hl,
			                (uint32_t)len - hl);
		if ((fix & 2) && hl >= 20 && hl <= len) {
			pkt_put16(pkt + 10, 0);
			pkt_put16(pkt + 10, tg_csum(pkt, hl));
		}
	} else if (len >= 40 && pkt[0] >> 4 == 6) {
		if (fix & 1)
			pkt_put16(pkt + 4, (uint16_t)(len - 40));
		if (fix & 4)
			pkt_set_l4_csum(true, pkt + 8, pkt + 24, pkt[6], pkt + 40,
			                (uint32_t)len - 40);
	}
	/* TAP: with bit 7, the bytes are a whole frame (any MACs, ARP, VLAN tags, ...). */
	if (env.tap && (fix & 0x80))
		send_frame(pkt, (uint32_t)len);
	else
		send_packet(pkt, (uint32_t)len);
}

/*
 * A datagram (UDP, echo request or TCP segment) cut into fragments: IPv4 offsets or an IPv6
 * fragment header, sent in order, reversed or interleaved, with a fragment repeated or
 * shifted to overlap another as the input says.
 */
static void op_fragments(struct fuzz_in *in)
{
	uint8_t kind = fuzz_u8(in), order = fuzz_u8(in), fsel = fuzz_u8(in);
	uint8_t *whole = env.frag;
	uint32_t wlen, hl, seglen, fsz, nfrag;
	uint16_t id = fuzz_u16(in);
	bool v6;
	uint8_t proto;

	switch (kind % 3) {
	case 0:
		wlen = build_udp(in, whole, &seglen);
		break;
	case 1:
		wlen = build_icmp(in, whole);
		break;
	default: {
		/* Arguments are evaluated in no set order: the input is read first. */
		unsigned conn = fuzz_u8(in) % NCONN;

		wlen = build_tcp(conn, TH_ACK, 0, 0, 0xffff, NULL, 0, fuzz_u16(in) % 4000u, whole);
		break;
	}
	}
	v6 = whole[0] >> 4 == 6;
	hl = v6 ? 40 : 20;
	proto = v6 ? whole[6] : whole[9];
	seglen = wlen - hl;
	fsz = 8u * (1u + fsel % 64u);
	while (seglen / fsz + 1 > FRAG_MAX)
		fsz *= 2;
	nfrag = (seglen + fsz - 1) / fsz;
	for (uint32_t k = 0; k < nfrag; k++) {
		uint32_t idx = k, half = (nfrag + 1) / 2, off, n, len;
		bool more;
		uint8_t *p = env.pkt;

		/* Interleaved: the even fragments, then the odd ones; then maybe reversed. */
		if (order & 2)
			idx = k < half ? 2 * k : 2 * (k - half) + 1;
		if (order & 1)
			idx = nfrag - 1 - idx;
		off = idx * fsz;
		n = seglen - off < fsz ? seglen - off : fsz;
		more = off + n < seglen;
		if ((order & 4) && k == 1 && off >= 8)
			off -= 8; /* overlaps the fragment before it */
		if (v6) {
			memcpy(p, whole, 40);
			p[6] = 44;
			p[40] = proto;
			p[41] = 0;
			pkt_put16(p + 42, (uint16_t)(off | (more ? 1 : 0)));
			pkt_put32(p + 44, id);
			memcpy(p + 48, whole + hl + idx * fsz, n);
			pkt_put16(p + 4, (uint16_t)(8 + n));
			len = 48 + n;
		} else {
			memcpy(p, whole, 20);
			pkt_put16(p + 2, (uint16_t)(20 + n));
			pkt_put16(p + 4, id);
			pkt_put16(p + 6, (uint16_t)((more ? 0x2000 : 0) | (off / 8)));
			pkt_put16(p + 10, 0);
			pkt_put16(p + 10, tg_csum(p, 20));
			memcpy(p + 20, whole + hl + idx * fsz, n);
			len = 20 + n;
		}
		send_packet(p, len);
		if ((order & 8) && k == 0)
			send_packet(p, len); /* a duplicate */
		if ((k & 15) == 15)
			pump();
	}
}

/* --- time ------------------------------------------------------------------------------- */

/* What stackd's one-second sweep timer does (stackd.c, on_sweep). */
static void sweep(void)
{
	time_t now = time(NULL);

	TRACE("sweep at %u ms\n", fake_ms);

	tcp_flow_sweep(now);
	udp_flow_sweep(now);
	syn_hold_sweep(now);
	stackd_flush_links();
	stackd_lwip_timer_update();
}

static void advance_ms(uint32_t ms)
{
	fake_ms += ms;
	sys_check_timeouts();
	stackd_flush_links();
	stackd_lwip_timer_update();
	pump();
}

/* Milliseconds (in lwIP's timer steps) or whole seconds with stackd's sweep each second. */
static void op_time(struct fuzz_in *in)
{
	uint8_t mode = fuzz_u8(in);
	unsigned n = mode % TIME_OPS_MAX + 1;

	if (mode & 0x80) {
		for (unsigned k = 0; k < n; k++) {
			advance_ms(1000);
			sweep();
			pump();
		}
		return;
	}
	if (mode & 0x40) {
		advance_ms(10u * n); /* less than one lwIP step */
		return;
	}
	for (unsigned k = 0; k < n; k++)
		advance_ms(STEP_MS);
}

/* --- relayd operations ------------------------------------------------------------------ */

/*
 * relayd's UDP_BATCH: 2..9 records of sizes from the input, built with the real writer;
 * mode 0x20 makes the count one too many or too few, 0x40 cuts the last byte off (malformed:
 * stackd must drop it whole).
 */
static void relay_batch(struct fuzz_in *in, uint32_t id, const struct tg_msg_udp *m, uint8_t mode)
{
	static uint8_t buf[70000];
	struct tg_udp_batch_writer w;
	unsigned n = 2 + fuzz_u8(in) % 8;
	uint32_t len, arg;
	uint16_t type;

	tg_udp_batch_start(&w, buf, env.slot_b < sizeof(buf) ? env.slot_b : sizeof(buf), m);
	for (unsigned i = 0; i < n; i++)
		if (tg_udp_batch_add(&w, env.payload, fuzz_u8(in) * 8u) < 0)
			break;
	if (w.count == 0)
		return;
	len = tg_udp_batch_finish(&w, &type, &arg);
	if (mode & 0x20)
		arg = mode & 0x80 ? arg + 1 : arg - 1;
	if ((mode & 0x40) && len > sizeof(*m))
		len--;
	relay_payload(type, id, arg, buf, len, NULL, 0);
}

static void op_relay(struct fuzz_in *in)
{
	uint8_t what = fuzz_u8(in);
	uint32_t id = pick_flow(in);
	struct flow *f = flow_find(id);

	switch (what % 9) {
	case 0:
		relay_ctl(TG_MSG_OPEN_RESULT, id, fuzz_u8(in) % (TG_OPEN_RESULT_MAX + 1));
		break;
	case 1: {
		uint32_t len = fuzz_u16(in) % env.slot_b + 1;

		relay_payload(TG_MSG_DATA, id, 0, NULL, 0, env.payload, len);
		break;
	}
	case 2: {
		uint8_t m = fuzz_u8(in);
		/* Mostly exactly what is owed; sometimes any amount. */
		uint32_t owed = f && f->up > f->granted - env.window
		                        ? (uint32_t)(f->up - (f->granted - env.window))
		                        : 1;

		relay_ctl(TG_MSG_CREDIT, id, m < 0xc0 ? owed : fuzz_u32(in) % (2 * STACKD_WINDOW));
		break;
	}
	case 3:
		relay_ctl(TG_MSG_SHUT_WR, id, 0);
		break;
	case 4:
		relay_ctl(TG_MSG_RESET, id, 0);
		break;
	case 5:
		relay_ctl(TG_MSG_CLOSED, id, 0);
		break;
	case 6:
	case 7: {
		/* A datagram back, or an error, for a UDP flow; addresses right or forged. */
		uint8_t mode = fuzz_u8(in);
		struct tg_msg_udp m = {0};
		uint32_t len = fuzz_u16(in) % 2000u;

		if (f && f->udp) {
			m.src = f->dst;
			m.dst = f->client;
		} else {
			m.src.family = m.dst.family = mode & 1 ? TG_AF_INET6 : TG_AF_INET4;
			m.src.port = m.dst.port = 53;
		}
		if (mode & 2)
			m.dst.port ^= 1; /* not the flow's client */
		if (mode & 4)
			m.src.family = m.src.family == TG_AF_INET4 ? TG_AF_INET6 : TG_AF_INET4;
		if (mode & 8)
			m.src.port = 0;
		if (what % 9 == 6 && (mode & 0x10))
			relay_batch(in, id, &m, mode);
		else if (what % 9 == 6)
			relay_payload(TG_MSG_UDP, id, 0, &m, sizeof(m), env.payload, len);
		else
			relay_payload(TG_MSG_UDP_ERROR, id, fuzz_u8(in) % (TG_OPEN_RESULT_MAX + 1),
			              &m, sizeof(m), NULL, 0);
		break;
	}
	default:
		if (env.necho > 0) {
			uint8_t mode = fuzz_u8(in);
			uint32_t len = mode & 0x80 ? fuzz_u16(in) % 3000u : ECHO_KEEP;

			relay_echo_reply(&env.echo[mode % (env.necho < NECHO ? env.necho : NECHO)],
			                 len, mode >> 4);
		}
		break;
	}
}

void env_relay_raw(struct fuzz_in *in)
{
	uint8_t t = fuzz_u8(in), slot_mode;
	struct tg_desc d = {.type = t < 0xe0 ? t % TG_MSG_MAX : t};
	struct flow *f;
	size_t got;
	const uint8_t *p;

	/* One statement each: the order the fields are read in is the input format. */
	d.flow = pick_flow(in);
	d.arg = fuzz_u32(in);
	slot_mode = fuzz_u8(in);
	d.len = fuzz_u16(in);
	f = flow_find(d.flow);
	env.ops++;
	switch (slot_mode % 3) {
	case 0:
		d.slot = TG_NO_SLOT; /* with a length: a bad descriptor */
		break;
	case 1:
		d.slot = tg_link_alloc(env.relay.end);
		if (d.slot == TG_NO_SLOT)
			return;
		if (slot_mode & 0x80)
			d.len = env.slot_b + 1 + d.len % 64;
		p = fuzz_take(in, d.len < env.slot_b ? d.len : env.slot_b, &got);
		memcpy(tg_link_slot(env.relay.end, d.slot), p, got);
		if (f && d.type == TG_MSG_DATA)
			f->down += d.len;
		break;
	default:
		d.slot = slot_mode & 0x80 ? 0xfffffffeu : env.slots_b + fuzz_u8(in);
		break;
	}
	if (f && d.type == TG_MSG_CREDIT && d.arg <= STACKD_WINDOW)
		f->granted += d.arg;
	relay_send(&d);
	pump();
}

/* --- operations ------------------------------------------------------------------------- */

void env_op(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	uint32_t seglen;

	env.ops++;
	TRACE("op %u (%u)\n", op % 13u, op);

	/* op % 13: the operations 0..11 keep the numbers the seeds (make-seeds.py) use. */
	switch (op % 13) {
	case 0:
	case 1:
		op_tcp(in);
		break;
	case 2:
		send_packet(env.pkt, build_udp(in, env.pkt, &seglen));
		break;
	case 3:
		send_packet(env.pkt, build_icmp(in, env.pkt));
		break;
	case 4:
		op_raw_packet(in);
		break;
	case 5:
		op_fragments(in);
		break;
	case 6:
	case 7:
		op_relay(in);
		break;
	case 8:
		env_relay_raw(in);
		break;
	case 9:
		op_time(in);
		break;
	case 10: {
		/* tunio or relayd stops handing slots back, or starts again */
		struct end_state *s = fuzz_u8(in) & 1 ? &env.relay : &env.tunio;

		if (s->stall)
			unstall(s);
		else
			s->stall = true;
		break;
	}
	case 11:
		client_connect(fuzz_u8(in) % NCONN);
		break;
	default: {
		/*
		 * A burst: 2..33 copies of one datagram before stackd drains link A, so that
		 * they share a UDP_BATCH slot (udp_flow.c); relayd's answer may be a batch too.
		 */
		uint32_t len = build_udp(in, env.pkt, &seglen);
		unsigned n = 2 + fuzz_u8(in) % 32;

		for (unsigned k = 0; k < n; k++)
			send_packet(env.pkt, len);
		break;
	}
	}
	pump();
}

void env_prelude(void)
{
	static const uint8_t echo_in[] = {0x00, 0x00, 0x00, 0x07, 0x00, 0x00};
	static const uint8_t udp_in[] = {0x02, 0x00, 0x00, 0x20, 0x03, 0x00, 0x00, 0x40};
	struct fuzz_in in;
	uint32_t seglen;

	for (unsigned i = 0; i < 2; i++) {
		client_connect(i);
		/* Consistent mode: the SYN waits for relayd; let it through and finish. */
		if (!(env.cfg & CFG_AUTO_OPEN))
			for (unsigned k = 0; k < env.nflow; k++)
				relay_ctl(TG_MSG_OPEN_RESULT, env.flow[k].id, TG_OPEN_OK);
		pump();
		send_packet(env.pkt, build_tcp(i, TH_ACK, 0, 0, 0xffff, NULL, 0, 0, env.pkt));
		send_packet(env.pkt, build_tcp(i, TH_ACK, 0, 0, 0xffff, NULL, 0, 100, env.pkt));
		pump();
	}
	in = (struct fuzz_in){udp_in, 4};
	send_packet(env.pkt, build_udp(&in, env.pkt, &seglen));
	in = (struct fuzz_in){udp_in + 4, 4};
	send_packet(env.pkt, build_udp(&in, env.pkt, &seglen));
	in = (struct fuzz_in){echo_in, sizeof(echo_in)};
	send_packet(env.pkt, build_icmp(&in, env.pkt));
	pump();
}

/* --- set-up and tear-down --------------------------------------------------------------- */

static int make_link(const char *name, uint32_t slot_size, uint32_t slots)
{
	struct tg_link_params p = {
	        .name = name, .slot_size = slot_size, .slot_count = slots, .epoch = 1};
	int fd = tg_link_create(&p);

	if (fd < 0)
		fuzz_fail("tg_link_create failed");
	return fd;
}

static struct tg_link_end *attach(int memfd, int side, int self, int peer)
{
	struct tg_link_end *e = tg_link_attach(memfd, side, env.bell[self], env.bell[peer]);

	if (!e)
		fuzz_fail("tg_link_attach failed");
	return e;
}

static void never_runs(evutil_socket_t fd, short what, void *arg)
{
}

static int make_link(const char *name, uint32_t slot_size, uint32_t slots);
static struct tg_link_end *attach(int memfd, int side, int self, int peer);

void env_init(bool tap)
{
	int boot_a, boot_b;

	log_init("stackd", TG_LOG_ERR);
	if (getenv("TG_FUZZ_LOG"))
		log_setlevel(TG_LOG_DEBUG);
	trace = getenv("TG_FUZZ_TRACE") != NULL;
	for (int i = 0; i < 4; i++)
		if ((env.bell[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			fuzz_fail("eventfd failed");
	/* What stackd's main() sets from its flags; the rest varies per input (env_begin()). */
	stackd.mtu = MTU;
	stackd.max_flows = MAX_FLOWS;
	stackd.base = event_base_new();
	if (!stackd.base)
		fuzz_fail("event_base_new failed");
	/* stackd arms and disarms it as in its loop; it never runs: this file runs the timers. */
	stackd.lwip_timer = evtimer_new(stackd.base, never_runs, NULL);
	env.tap = tap;
	if (tap) {
		/* What stackd's main() sets for --tap: the gateway 10.7.0.254/24, fd00::fe. */
		static const uint8_t gw6[16] = {0xfd, [15] = 0xfe};

		stackd.tap = true;
		memcpy(stackd.gw_mac, gw_mac, 6);
		stackd.gw_ipv4 = htonl(0x0a0700feu);
		stackd.gw_ipv4_mask = htonl(0xffffff00u);
		stackd.has_gw_ipv6 = true;
		memcpy(stackd.gw_ipv6, gw6, 16);
		/* and every answer of stackd's own: tap_answer.c, nd_router.c */
		stackd.proxy_arp = stackd.proxy_ndp = stackd.router_advertisements = true;
	}
	/* As in stackd, links exist before lwIP: a TAP netif announces itself when it comes up. */
	boot_a = make_link("fuzz-boot-A", A_SLOT, A_SLOTS);
	boot_b = make_link("fuzz-boot-B", B_SLOT_SMALL, B_SLOTS_FEW);
	stackd.link_a = attach(boot_a, 1, 0, 1);
	stackd.link_b = attach(boot_b, 0, 2, 3);
	lwip_init();
	if (!stackd.lwip_timer || netif_link_init(&stackd) < 0 || tcp_flow_init(&stackd) < 0 ||
	    udp_flow_init(&stackd) < 0 || icmp_init(&stackd) < 0 || nd_router_init(&stackd) < 0)
		fuzz_fail("stackd set-up failed");
	syn_hold_init(&stackd);
	/* What stackd said meanwhile (ARP, MLD) is dropped with the boot links. */
	tg_link_detach(stackd.link_a);
	tg_link_detach(stackd.link_b);
	close(boot_a);
	close(boot_b);
}

/* Values of stackd's timeouts (seconds) a second configuration byte picks from, 2 bits each. */
static const uint32_t idle_timeouts[4] = {60, 5, 1, 7200};
static const uint32_t half_close_timeouts[4] = {30, 3, 1, 300};
static const uint32_t udp_timeouts[4] = {10, 2, 1, 60};
static const uint32_t connect_timeouts[4] = {5, 20, 1, 300};

void env_begin(struct fuzz_in *in)
{
	uint8_t cfg = fuzz_u8(in), t = fuzz_u8(in);
	uint64_t v;

	env.cfg = cfg;
	env.slots_a = cfg & CFG_FEW_A ? A_SLOTS_FEW : A_SLOTS;
	env.slots_b = cfg & CFG_SMALL_B ? B_SLOTS_FEW : B_SLOTS;
	env.slot_b = cfg & CFG_SMALL_B ? B_SLOT_SMALL : B_SLOT;
	env.window = cfg & CFG_SMALL_WINDOW ? SMALL_WINDOW : 256u * 1024u;
	memset(&env.tunio, 0, sizeof(env.tunio));
	memset(&env.relay, 0, sizeof(env.relay));
	memset(env.conn, 0, sizeof(env.conn));
	env.nflow = env.flow_rr = env.necho = 0;
	env.ops = 1;
	for (int i = 0; i < 4; i++)
		while (read(env.bell[i], &v, sizeof(v)) == sizeof(v))
			;

	env.memfd_a = make_link("fuzz-A", A_SLOT, env.slots_a);
	env.memfd_b = make_link("fuzz-B", env.slot_b, env.slots_b);
	stackd.link_a = attach(env.memfd_a, 1, 0, 1);
	env.tunio.end = attach(env.memfd_a, 0, 1, 0);
	stackd.link_b = attach(env.memfd_b, 0, 2, 3);
	env.relay.end = attach(env.memfd_b, 1, 3, 2);

	stackd.handshake = cfg & CFG_CONSISTENT ? TG_OPEN_CONSISTENT : TG_OPEN_FAST;
	stackd.max_flows = cfg & CFG_FEW_FLOWS ? FEW_FLOWS : MAX_FLOWS;
	stackd.idle_timeout = idle_timeouts[t & 3];
	stackd.half_close_timeout = half_close_timeouts[(t >> 2) & 3];
	stackd.udp_timeout = udp_timeouts[(t >> 4) & 3];
	stackd.connect_timeout = connect_timeouts[t >> 6];
	stackd.hello_a = stackd.hello_b = false;
	/* Both HELLOs each way, as stackd's main() and the peers send them. */
	if (tg_hello_send(stackd.link_a, TG_ROLE_STACKD, 0) < 0 ||
	    tg_hello_send(stackd.link_b, TG_ROLE_STACKD, STACKD_WINDOW) < 0 ||
	    tg_hello_send(env.tunio.end, TG_ROLE_TUNIO, 0) < 0 ||
	    tg_hello_send(env.relay.end, TG_ROLE_RELAYD, env.window) < 0)
		fuzz_fail("cannot queue the HELLOs");
	stackd_flush_links();
	pump();
	if (!stackd.hello_a || !stackd.hello_b || !env.tunio.hello || !env.relay.hello)
		fuzz_fail("the HELLO exchange did not complete");
}

/* Frees every lwIP pcb stackd's flows left behind (closing, TIME_WAIT, half-open). */
static void abort_pcbs(void)
{
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	/* Reassembly gives up on a datagram after its maximum age in timer ticks. */
	for (int i = 0; i <= IP_REASS_MAXAGE || i <= IPV6_REASS_MAXAGE; i++) {
		ip_reass_tmr();
		ip6_reass_tmr();
	}
	nd6_cleanup_netif(stackd.netif);
	/* TAP: the clients' MACs, and packets queued for them, belong to this input only. */
	etharp_cleanup_netif(stackd.netif);
}

static void check_pool(struct tg_link_end *end, uint32_t slots, const char *what)
{
	uint32_t free_slots = tg_link_free_slots(end);

	if (free_slots != slots)
		fuzz_fail("%s: %u of %u slots did not come back", what, slots - free_slots, slots);
}

void env_end(void)
{
	unstall(&env.tunio);
	unstall(&env.relay);
	pump();
	if (stackd.ctr.flows_open != tcp_flow_count())
		fuzz_fail("flows_open %llu, TCP flows %u",
		          (unsigned long long)stackd.ctr.flows_open, tcp_flow_count());

	/* As when relayd restarts (stackd.c, reset_link_b), then whatever lwIP still holds. */
	tcp_flow_abort_all();
	udp_flow_forget_all();
	syn_hold_clear();
	abort_pcbs();
	stackd_flush_links();
	pump();
	if (tcp_flow_count() != 0 || stackd.ctr.flows_open != 0 || stackd.ctr.udp_flows_open != 0)
		fuzz_fail("flows left after a reset of all: %u TCP, %llu UDP", tcp_flow_count(),
		          (unsigned long long)stackd.ctr.udp_flows_open);
	if (tcp_active_pcbs || tcp_tw_pcbs)
		fuzz_fail("lwIP pcbs left after a reset of all");
	check_pool(env.tunio.end, env.slots_a, "tunio's pool");
	check_pool(stackd.link_a, env.slots_a, "stackd's link A pool");
	check_pool(env.relay.end, env.slots_b, "relayd's pool");
	check_pool(stackd.link_b, env.slots_b, "stackd's link B pool");

	tg_link_detach(stackd.link_a);
	tg_link_detach(stackd.link_b);
	tg_link_detach(env.tunio.end);
	tg_link_detach(env.relay.end);
	stackd.link_a = stackd.link_b = NULL;
	close(env.memfd_a);
	close(env.memfd_b);
	evtimer_del(stackd.lwip_timer);
	memset(&stackd.ctr, 0, sizeof(stackd.ctr));
}

/* --- replays (tests/unit/test_packet_replay.c): the same machinery, driven by a test ---- */

void env_begin_with(uint8_t cfg, uint8_t timeouts)
{
	const uint8_t b[2] = {cfg, timeouts};
	struct fuzz_in in = {b, sizeof(b)};

	env_begin(&in);
}

void env_send(const uint8_t *pkt, uint32_t len)
{
	send_packet(pkt, len);
	pump();
}

void env_wait_ms(uint32_t ms)
{
	for (uint32_t t = 0; t < ms; t += STEP_MS) {
		advance_ms(STEP_MS);
		if (fake_ms % 1000 < STEP_MS)
			sweep();
	}
}

void env_addrs(bool v6, uint8_t *client, uint8_t *dest)
{
	client_ip(v6, 0, client);
	dest_ip(v6, 0, dest);
}

uint32_t env_ip(uint8_t *out, bool v6, uint8_t proto, const uint8_t *seg, uint32_t seglen)
{
	uint8_t cip[16], dip[16];

	env_addrs(v6, cip, dip);
	return build_ip(out, v6, cip, dip, proto, seg, seglen, true);
}

uint32_t env_tcp(unsigned conn, uint8_t flags, const uint8_t *opt, uint32_t optlen, uint32_t paylen,
                 uint8_t *out)
{
	return build_tcp(conn % NCONN, flags, 0, 0, 0xffff, opt, optlen, paylen, out);
}

unsigned env_relay_flows(void)
{
	return env.nflow;
}

uint64_t env_relay_bytes_up(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < env.nflow; i++)
		n += env.flow[i].up;
	return n;
}

uint32_t env_relay_flow_id(unsigned i)
{
	return i < env.nflow ? env.flow[i].id : 0;
}

bool env_relay_data(uint32_t flow, const void *data, uint32_t len)
{
	bool ok = relay_payload(TG_MSG_DATA, flow, 0, NULL, 0, data, len);

	pump();
	return ok;
}

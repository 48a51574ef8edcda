/*
 * fuzz_link_desc: link B as relayd sees it. The fuzzer plays a compromised stackd on side 0 of
 * a real link (tg_link_create, both sides attached in this process) and writes whatever
 * descriptors and slot contents the input says; the flow API (shm/flowapi.c) runs side 1 on a
 * libevent base, as in relayd, with callbacks that act like a small relay (answer opens,
 * consume and echo data, answer datagrams and pings) as the input's first byte chooses.
 *
 * Covered: shm/link.c's receive checks (slot range, length, epoch of every descriptor; slot
 * hand-back), tg_hello_check, every message type in flowapi.c's dispatch in any state and
 * order, the credit rule both ways, tombstones, UDP flow limits, UDP batches both ways
 * (well-formed and broken ones from the fuzzer, packed ones from the API, delivered through
 * on_udp_batch for inputs of odd length and on_udp one by one for even ones, with a relay
 * that may end the flow in the middle of a batch), slot exhaustion (the fuzzer may stop
 * handing slots back) and tg_flowapi_replace_link (a stackd restart).
 *
 * Oracles besides ASan/UBSan: every message the API sends must be well-formed for its type
 * (the relayd -> stackd rules of docs/protocol.md), and at the end every slot of both pools
 * must be back with its owner: a slot the API forgets to release, or releases twice, fails.
 *
 * Input: one configuration byte, then operations until the input ends (see do_op()).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "flowapi.h"
#include "fuzz.h"
#include "link.h"
#include "log.h"
#include "proto.h"
#include "udp_batch.h"

#define SLOTS        16u
#define BIG_SLOT     65600u /* link B's real slot size (tungate/links.h) */
#define SMALL_SLOT   2048u
#define KNOWN_MAX    32u
#define STACKD_WIN   (256u * 1024u)
#define PUMP_ROUNDS  64
#define HELD_MAX     (2 * SLOTS)
#define SEND_BUF_LEN 70000u

/* Configuration bits (first input byte). */
enum {
	CFG_OPEN_MASK = 0x03, /* answer opens: 0 no, 1 OK, 2 refused, 3 by flow id parity */
	CFG_CONSUME = 0x04,   /* acknowledge data as it arrives */
	CFG_SMALL_SLOTS = 0x08,
	CFG_NO_HELLO = 0x10, /* do not start with a valid HELLO */
	CFG_ECHO = 0x20,     /* send received stream bytes and datagrams back */
	CFG_PING = 0x40,     /* answer echo requests */
	CFG_CLOSE = 0x80,    /* answer SHUT_WR with SHUT_WR and close */
};

static struct {
	struct event_base *base;
	int bell[2];
	uint8_t send_buf[SEND_BUF_LEN];
} g;

static struct fx {
	uint8_t cfg;
	int memfd;
	uint32_t epoch;
	uint32_t slot_size;
	struct tg_link_end *s0; /* the fuzzer's stackd */
	struct tg_link_end *s1; /* the flow API's side */
	struct tg_flowapi *api;
	uint32_t known[KNOWN_MAX]; /* flow ids seen either way, for selectors */
	unsigned nknown;
	uint32_t next_id;
	bool stall; /* the fuzzer's stackd keeps the API's slots */
	uint32_t held[HELD_MAX];
	unsigned nheld;
	unsigned sink; /* callbacks read every payload byte into this */
} fx;

static void remember(uint32_t flow)
{
	for (unsigned i = 0; i < fx.nknown; i++)
		if (fx.known[i] == flow)
			return;
	if (fx.nknown < KNOWN_MAX)
		fx.known[fx.nknown++] = flow;
	else
		fx.known[flow % KNOWN_MAX] = flow;
}

/* A flow id: mostly one already seen, sometimes 0, ~0, a fresh one, or any. */
static uint32_t pick_flow(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);

	if (sel < 0xf0 && fx.nknown > 0)
		return fx.known[sel % fx.nknown];
	switch (sel) {
	case 0xf0:
		return 0;
	case 0xf1:
		return 0xffffffffu;
	case 0xf2:
		return fuzz_u32(in);
	default:
		return fx.next_id++;
	}
}

static void touch(const void *data, size_t len)
{
	const uint8_t *p = data;

	/* Reads every byte: ASan reports a callback handed a pointer outside the slot. */
	for (size_t i = 0; i < len; i++)
		fx.sink += p[i];
}

/* --- the relay: the API's callbacks ------------------------------------------------ */

static void cb_open(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                    const struct tg_addr *dst, enum tg_open_mode mode, void *arg)
{
	unsigned policy = fx.cfg & CFG_OPEN_MASK;

	remember(flow);
	if (!tg_addr_valid(src) || !tg_addr_valid(dst) || src->family != dst->family)
		fuzz_fail("on_tcp_open with bad addresses");
	if (mode != TG_OPEN_FAST && mode != TG_OPEN_CONSISTENT)
		fuzz_fail("on_tcp_open with mode %d", (int)mode);
	tg_flow_set_udata(api, flow, &fx);
	if (policy == 1 || (policy == 3 && flow % 2 == 0))
		tg_flow_open_result(api, flow, TG_OPEN_OK);
	else if (policy == 2 || policy == 3)
		tg_flow_open_result(api, flow, TG_OPEN_REFUSED);
}

static void cb_data(struct tg_flowapi *api, uint32_t flow, const void *data, size_t len, void *arg)
{
	touch(data, len);
	if (len == 0 || len > fx.slot_size)
		fuzz_fail("on_data with %zu bytes", len);
	if (fx.cfg & CFG_ECHO)
		tg_flow_send(api, flow, data, len);
	if (fx.cfg & CFG_CONSUME)
		tg_flow_consumed(api, flow, len);
}

static void cb_shut_wr(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	if (fx.cfg & CFG_CLOSE) {
		tg_flow_shut_wr(api, flow);
		tg_flow_close(api, flow);
	}
}

static void cb_reset(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	/* udata must still be readable here (flowapi.h); the API must ignore calls now. */
	tg_flow_udata(api, flow);
	tg_flow_reset(api, flow);
}

static void cb_writable(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	if (fx.cfg & CFG_ECHO)
		tg_flow_send(api, flow, g.send_buf, 1000);
}

static void cb_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                   const struct tg_addr *dst, const void *data, size_t len, void *arg)
{
	touch(src, sizeof(*src));
	touch(dst, sizeof(*dst));
	touch(data, len);
	remember(flow);
	if (!tg_flow_udata(api, flow))
		tg_flow_set_udata(api, flow, &fx);
	if (fx.cfg & CFG_ECHO)
		tg_flow_send_udp(api, flow, dst, src, data, len);
	/* A datagram starting 0xcc ends the flow: the rest of its batch must not arrive. */
	if (len > 0 && ((const uint8_t *)data)[0] == 0xcc)
		tg_flow_udp_close(api, flow);
}

static void cb_udp_batch(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                         const struct tg_addr *dst, const struct iovec *dgrams, unsigned n,
                         void *arg)
{
	if (n == 0 || n > TG_UDP_BATCH_MAX)
		fuzz_fail("on_udp_batch with %u datagrams", n);
	for (unsigned i = 0; i < n; i++) {
		if (dgrams[i].iov_len > fx.slot_size)
			fuzz_fail("on_udp_batch: a datagram of %zu bytes", dgrams[i].iov_len);
		touch(dgrams[i].iov_base, dgrams[i].iov_len);
		if (!tg_flow_udata(api, flow) && i == 0)
			tg_flow_set_udata(api, flow, &fx);
		if (fx.cfg & CFG_ECHO)
			tg_flow_send_udp(api, flow, dst, src, dgrams[i].iov_base,
			                 dgrams[i].iov_len);
	}
	touch(src, sizeof(*src));
	touch(dst, sizeof(*dst));
	remember(flow);
	if (dgrams[0].iov_len > 0 && ((const uint8_t *)dgrams[0].iov_base)[0] == 0xcc)
		tg_flow_udp_close(api, flow);
}

static void cb_udp_closed(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	tg_flow_udata(api, flow);
	tg_flow_udp_close(api, flow);
}

static void cb_icmp(struct tg_flowapi *api, const struct tg_addr *src, const struct tg_addr *dst,
                    const void *data, size_t len, void *arg)
{
	touch(data, len);
	if (len < TG_ICMP_ECHO_HDR)
		fuzz_fail("on_icmp_echo with %zu bytes", len);
	if (fx.cfg & CFG_PING)
		tg_flow_send_icmp_echo(api, dst, src, data, len);
}

static void cb_peer_reset(struct tg_flowapi *api, void *arg)
{
	if (tg_flowapi_flow_count(api) != 0)
		fuzz_fail("flows left after a peer reset");
}

static const struct tg_flowapi_cbs cbs = {
        .on_tcp_open = cb_open,
        .on_data = cb_data,
        .on_shut_wr = cb_shut_wr,
        .on_reset = cb_reset,
        .on_writable = cb_writable,
        .on_udp = cb_udp,
        .on_udp_closed = cb_udp_closed,
        .on_icmp_echo = cb_icmp,
        .on_peer_reset = cb_peer_reset,
};

/* --- the fuzzer's stackd: receiving ------------------------------------------------- */

static bool addr_pair_ok(const uint8_t *slot)
{
	struct tg_msg_udp m;

	memcpy(&m, slot, sizeof(m));
	return tg_addr_valid(&m.src) && tg_addr_valid(&m.dst) && m.src.family == m.dst.family;
}

/* What the API sends must follow docs/protocol.md's relayd -> stackd rules. */
static void check_sent(const struct tg_desc *d)
{
	const uint8_t *slot = d->slot != TG_NO_SLOT ? tg_link_peer_slot(fx.s0, d->slot) : NULL;
	bool ok;

	switch (d->type) {
	case TG_MSG_OPEN_RESULT:
		ok = !slot && d->arg < TG_OPEN_RESULT_MAX;
		break;
	case TG_MSG_DATA:
		ok = slot && d->len > 0;
		break;
	case TG_MSG_CREDIT:
		ok = !slot && d->arg > 0 && d->arg <= TG_FLOWAPI_WINDOW;
		break;
	case TG_MSG_SHUT_WR:
	case TG_MSG_RESET:
	case TG_MSG_CLOSED:
		ok = !slot;
		break;
	case TG_MSG_UDP:
		ok = slot && d->len >= sizeof(struct tg_msg_udp) && addr_pair_ok(slot);
		break;
	case TG_MSG_UDP_BATCH: {
		/* Two or more datagrams (one goes as UDP), in a batch the strict reader takes. */
		struct tg_msg_udp h;

		ok = slot && d->flow != 0 && d->arg >= 2 &&
		     tg_udp_batch_check(slot, d->len, d->arg, &h) == TG_UDP_BATCH_OK &&
		     addr_pair_ok(slot);
		break;
	}
	case TG_MSG_UDP_ERROR:
		ok = slot && d->len == sizeof(struct tg_msg_udp) && addr_pair_ok(slot) &&
		     (d->arg == TG_OPEN_REFUSED || d->arg == TG_OPEN_UNREACHABLE);
		break;
	case TG_MSG_ICMP_ECHO:
		ok = slot && d->flow == 0 &&
		     d->len >= sizeof(struct tg_msg_udp) + TG_ICMP_ECHO_HDR && addr_pair_ok(slot);
		break;
	default:
		ok = false;
	}
	if (!ok)
		fuzz_fail("the flow API sent a malformed %s (flow %u, slot %u, len %u, arg %u)",
		          tg_msg_name(d->type), d->flow, d->slot, d->len, d->arg);
	if (d->flow)
		remember(d->flow);
}

static void give_back(uint32_t slot)
{
	if (fx.stall && fx.nheld < HELD_MAX) {
		fx.held[fx.nheld++] = slot;
		return;
	}
	tg_link_release(fx.s0, slot);
}

static void unstall(void)
{
	fx.stall = false;
	for (unsigned i = 0; i < fx.nheld; i++)
		tg_link_release(fx.s0, fx.held[i]);
	fx.nheld = 0;
}

/* Receives what the API sent; returns how many descriptors. */
static unsigned s0_drain(void)
{
	struct tg_desc d[TG_LINK_BURST];
	unsigned n, total = 0;

	while ((n = tg_link_recv(fx.s0, d, TG_LINK_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			if (d[i].type == TG_MSG_HELLO) {
				struct tg_msg_hello h;

				if (tg_hello_check(fx.s0, &d[i], TG_ROLE_RELAYD, &h) < 0)
					fuzz_fail("the flow API's HELLO fails its checks");
				continue;
			}
			check_sent(&d[i]);
			if (d[i].slot != TG_NO_SLOT)
				give_back(d[i].slot);
		}
		total += n;
	}
	tg_link_flush(fx.s0);
	return total;
}

/* Runs the API's loop and the fuzzer's receive side until neither has anything left. */
static void pump(void)
{
	for (int i = 0; i < PUMP_ROUNDS; i++) {
		tg_link_flush(fx.s0);
		event_base_loop(g.base, EVLOOP_NONBLOCK);
		if (s0_drain() == 0 && !tg_link_rx_ready(fx.s1) && !tg_link_tx_pending(fx.s1) &&
		    !tg_link_tx_pending(fx.s0))
			return;
	}
}

/* --- the fuzzer's stackd: sending ---------------------------------------------------- */

static void send_desc(struct tg_desc *d)
{
	if (tg_link_send(fx.s0, d) < 0 && d->slot < SLOTS)
		tg_link_unalloc(fx.s0, d->slot);
}

/* A message with a payload in a fresh slot; false when the fuzzer's stackd has no slot. */
static bool send_payload(uint16_t type, uint32_t flow, uint32_t arg, const void *data, uint32_t len)
{
	struct tg_desc d = {.len = len, .flow = flow, .arg = arg, .type = type};

	if (len > fx.slot_size)
		return false;
	d.slot = tg_link_alloc(fx.s0);
	if (d.slot == TG_NO_SLOT)
		return false;
	memcpy(tg_link_slot(fx.s0, d.slot), data, len);
	send_desc(&d);
	return true;
}

static void send_ctl(uint16_t type, uint32_t flow, uint32_t arg)
{
	struct tg_desc d = {.slot = TG_NO_SLOT, .flow = flow, .arg = arg, .type = type};

	send_desc(&d);
}

/* An address pair from the input: family (4, 6 or anything), port, address bytes. */
static void take_addrs(struct fuzz_in *in, struct tg_addr *src, struct tg_addr *dst)
{
	uint8_t f = fuzz_u8(in);
	uint8_t family = f & 0x80 ? (f & 0x7f) : (f & 1 ? TG_AF_INET6 : TG_AF_INET4);
	size_t got;
	const uint8_t *ip = fuzz_take(in, family == TG_AF_INET6 ? 16 : 4, &got);

	memset(src, 0, sizeof(*src));
	memset(dst, 0, sizeof(*dst));
	src->family = dst->family = family;
	src->port = fuzz_u16(in);
	dst->port = fuzz_u16(in);
	memcpy(src->ip, ip, got);
	memcpy(dst->ip, ip, got);
	dst->ip[got ? got - 1 : 0] ^= 0x55;
}

/* Any descriptor: type, flow, arg, slot (none, a fresh one, out of range) and length. */
static void op_raw(struct fuzz_in *in)
{
	uint8_t t = fuzz_u8(in), slot_mode;
	struct tg_desc d = {.type = t < 0xe0 ? t % TG_MSG_MAX : t};
	size_t got;
	const uint8_t *p;

	/* One statement each: the order the fields are read in is the input format. */
	d.flow = pick_flow(in);
	d.arg = fuzz_u32(in);
	d.flags = fuzz_u8(in);
	slot_mode = fuzz_u8(in);
	d.len = fuzz_u16(in);
	switch (slot_mode % 3) {
	case 0:
		d.slot = TG_NO_SLOT; /* a length here is a bad descriptor */
		break;
	case 1:
		d.slot = tg_link_alloc(fx.s0);
		if (d.slot == TG_NO_SLOT)
			return;
		if (slot_mode & 0x80)
			d.len = fx.slot_size + 1 + d.len % 64; /* longer than the slot */
		p = fuzz_take(in, d.len < fx.slot_size ? d.len : fx.slot_size, &got);
		memcpy(tg_link_slot(fx.s0, d.slot), p, got);
		break;
	default:
		d.slot = slot_mode & 0x80 ? 0xfffffffeu : SLOTS + fuzz_u8(in); /* not a slot */
		break;
	}
	send_desc(&d);
}

static void op_open(struct fuzz_in *in)
{
	struct tg_msg_open m = {.proto = 6};
	uint32_t flow = pick_flow(in);
	uint8_t mode = fuzz_u8(in);

	take_addrs(in, &m.src, &m.dst);
	if (mode & 0x80)
		m.proto = fuzz_u8(in);
	remember(flow);
	send_payload(TG_MSG_TCP_OPEN, flow, mode % 3, &m, sizeof(m));
}

static void op_data(struct fuzz_in *in)
{
	uint32_t flow = pick_flow(in);
	uint32_t len = fuzz_u16(in) % fx.slot_size + 1;

	send_payload(TG_MSG_DATA, flow, 0, g.send_buf, len);
}

static void op_udp(struct fuzz_in *in, uint16_t type)
{
	static uint8_t buf[SEND_BUF_LEN];
	struct tg_msg_udp m;
	uint32_t flow = type == TG_MSG_ICMP_ECHO ? 0 : pick_flow(in);
	uint32_t len = fuzz_u16(in);
	size_t got;
	const uint8_t *p;

	take_addrs(in, &m.src, &m.dst);
	if (len > fx.slot_size - sizeof(m))
		len = fx.slot_size - sizeof(m);
	memcpy(buf, &m, sizeof(m));
	memset(buf + sizeof(m), 0, len);
	/* An echo request starts with its type; the rest of the header comes from the input. */
	if (type == TG_MSG_ICMP_ECHO && len > 0)
		buf[sizeof(m)] = m.src.family == TG_AF_INET6 ? 128 : 8;
	p = fuzz_take(in, len > 16 ? 16 : len, &got);
	if (got > 1)
		memcpy(buf + sizeof(m) + 1, p + 1, got - 1);
	send_payload(type, flow, 0, buf, (uint32_t)sizeof(m) + len);
}

/*
 * A UDP_BATCH from the fuzzer's stackd: 1..12 records with sizes and first bytes from the
 * input, built with the real writer; the mode byte may then break it (count off by one, the
 * last byte cut, a record length overwritten) or leave it well-formed.
 */
static void op_udp_batch(struct fuzz_in *in)
{
	static uint8_t buf[BIG_SLOT], data[4096];
	struct tg_udp_batch_writer w;
	struct tg_msg_udp m;
	uint32_t flow = pick_flow(in), len;
	uint8_t mode = fuzz_u8(in);
	unsigned n = 1 + fuzz_u8(in) % 12;

	take_addrs(in, &m.src, &m.dst);
	tg_udp_batch_start(&w, buf, fx.slot_size, &m);
	for (unsigned i = 0; i < n; i++) {
		uint32_t dlen = fuzz_u16(in) % sizeof(data);

		memset(data, 0, dlen);
		if (dlen > 0)
			data[0] = fuzz_u8(in);
		if (tg_udp_batch_add(&w, data, dlen) < 0)
			break;
	}
	if (w.count == 0)
		return;
	len = w.len;
	switch (mode % 8) {
	case 1:
		w.count += mode & 0x80 ? 1 : (uint32_t)-1;
		break;
	case 2:
		len--;
		break;
	case 3: {
		uint16_t prefix = fuzz_u16(in);

		memcpy(buf + sizeof(m), &prefix, sizeof(prefix));
		break;
	}
	default:
		break;
	}
	send_payload(TG_MSG_UDP_BATCH, flow, w.count, buf, len);
}

/* The relay's own calls, in any state: the API must refuse what does not apply. */
static void op_api(struct fuzz_in *in)
{
	uint8_t which = fuzz_u8(in);
	uint32_t flow = pick_flow(in);
	struct tg_addr src, dst;

	switch (which % 12) {
	case 0:
		tg_flow_open_result(fx.api, flow, (enum tg_open_result)(fuzz_u8(in) % 6));
		break;
	case 1:
		tg_flow_send(fx.api, flow, g.send_buf, fuzz_u16(in));
		break;
	case 2:
		tg_flow_consumed(fx.api, flow, fuzz_u32(in) % 300000);
		break;
	case 3:
		tg_flow_shut_wr(fx.api, flow);
		break;
	case 4:
		tg_flow_reset(fx.api, flow);
		break;
	case 5:
		tg_flow_close(fx.api, flow);
		break;
	case 6:
		take_addrs(in, &src, &dst);
		tg_flow_send_udp(fx.api, flow, &src, &dst, g.send_buf, fuzz_u16(in));
		break;
	case 7:
		take_addrs(in, &src, &dst);
		tg_flow_udp_error(fx.api, flow, &src, &dst, (enum tg_open_result)(fuzz_u8(in) % 6));
		break;
	case 8:
		tg_flow_udp_close(fx.api, flow);
		break;
	case 9:
		take_addrs(in, &src, &dst);
		tg_flow_send_icmp_echo(fx.api, &src, &dst, g.send_buf, fuzz_u16(in));
		break;
	case 10:
		tg_flow_set_udata(fx.api, flow, tg_flow_udata(fx.api, flow) ? NULL : &fx);
		break;
	default:
		tg_flow_send_window(fx.api, flow);
		break;
	}
}

/* --- links ----------------------------------------------------------------------------- */

static void link_open(void)
{
	struct tg_link_params p = {
	        .name = "fuzz-B",
	        .slot_size = fx.slot_size,
	        .slot_count = SLOTS,
	        .epoch = fx.epoch,
	};

	fx.memfd = tg_link_create(&p);
	if (fx.memfd < 0)
		fuzz_fail("tg_link_create failed");
	fx.s0 = tg_link_attach(fx.memfd, 0, g.bell[0], g.bell[1]);
	fx.s1 = tg_link_attach(fx.memfd, 1, g.bell[1], g.bell[0]);
	if (!fx.s0 || !fx.s1)
		fuzz_fail("tg_link_attach failed");
}

static void link_close(struct tg_link_end *s0, struct tg_link_end *s1, int memfd)
{
	tg_link_detach(s0);
	tg_link_detach(s1);
	close(memfd);
}

/* Every slot of both pools is back with its owner once both sides are idle. */
static void check_slots(void)
{
	unstall();
	pump();
	if (tg_link_free_slots(fx.s0) != SLOTS)
		fuzz_fail("the flow API kept %u of the fuzzer's slots",
		          SLOTS - tg_link_free_slots(fx.s0));
	if (tg_link_free_slots(fx.s1) != SLOTS)
		fuzz_fail("%u of the flow API's slots never came back",
		          SLOTS - tg_link_free_slots(fx.s1));
}

/* stackd restarted: a new segment and epoch; the old link is dropped after the switch. */
static void op_replace(void)
{
	struct tg_link_end *old0 = fx.s0, *old1 = fx.s1;
	int old_memfd = fx.memfd;

	check_slots();
	fx.epoch++;
	link_open();
	if (tg_flowapi_replace_link(fx.api, fx.s1) < 0)
		fuzz_fail("tg_flowapi_replace_link failed");
	link_close(old0, old1, old_memfd);
	tg_hello_send(fx.s0, TG_ROLE_STACKD, STACKD_WIN);
}

/*
 * One operation: a message from the fuzzer's stackd, a call of the relay, a stall, or a
 * restart. Each is followed by a pump of both sides.
 */
static void do_op(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	uint32_t flow;

	/* Arguments are evaluated in no set order: each input field is read in a statement. */
	/* op % 15: the operations 0..13 keep the numbers the seeds (make-seeds.py) use. */
	switch (op % 15) {
	case 0:
		flow = fuzz_u8(in) % 4; /* a role here */
		tg_hello_send(fx.s0, (enum tg_link_role)flow, fuzz_u32(in));
		break;
	case 1:
	case 2:
		op_raw(in);
		break;
	case 3:
		op_open(in);
		break;
	case 4:
		op_data(in);
		break;
	case 5:
		flow = pick_flow(in);
		send_ctl(TG_MSG_CREDIT, flow, fuzz_u32(in) % (2 * STACKD_WIN));
		break;
	case 6:
		send_ctl(TG_MSG_SHUT_WR, pick_flow(in), 0);
		break;
	case 7:
		send_ctl(TG_MSG_RESET, pick_flow(in), 0);
		break;
	case 8:
		send_ctl(TG_MSG_CLOSED, pick_flow(in), 0);
		break;
	case 9:
		op_udp(in, TG_MSG_UDP);
		break;
	case 10:
		op_udp(in, TG_MSG_ICMP_ECHO);
		break;
	case 11:
		op_api(in);
		break;
	case 12:
		if (fx.stall)
			unstall();
		else
			fx.stall = true;
		break;
	case 13:
		op_replace();
		break;
	default:
		op_udp_batch(in);
		break;
	}
	pump();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_link_desc", TG_LOG_ERR);
	if (getenv("TG_FUZZ_LOG"))
		log_setlevel(TG_LOG_DEBUG);
	g.base = event_base_new();
	g.bell[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	g.bell[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!g.base || g.bell[0] < 0 || g.bell[1] < 0)
		fuzz_fail("cannot set up");
	for (size_t i = 0; i < sizeof(g.send_buf); i++)
		g.send_buf[i] = (uint8_t)(i * 7);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct tg_flowapi_cbs fx_cbs;
	uint64_t v;

	memset(&fx, 0, sizeof(fx));
	fx.cfg = fuzz_u8(&in);
	fx.slot_size = fx.cfg & CFG_SMALL_SLOTS ? SMALL_SLOT : BIG_SLOT;
	fx.epoch = 1;
	fx.next_id = 1;
	/* A bell left rung by the previous input would only cost a wake-up; clear it anyway. */
	for (int i = 0; i < 2; i++)
		while (read(g.bell[i], &v, sizeof(v)) == sizeof(v))
			;
	link_open();
	/* Inputs of odd length: the relay takes UDP batches whole, as relayd does. */
	fx_cbs = cbs;
	if (size % 2)
		fx_cbs.on_udp_batch = cb_udp_batch;
	fx.api = tg_flowapi_new(g.base, fx.s1, &fx_cbs, &fx);
	if (!fx.api)
		fuzz_fail("tg_flowapi_new failed");
	if (!(fx.cfg & CFG_NO_HELLO))
		tg_hello_send(fx.s0, TG_ROLE_STACKD, STACKD_WIN);
	pump();
	while (in.n > 0)
		do_op(&in);
	check_slots();
	if (tg_flowapi_udp_flow_count(fx.api) > tg_flowapi_flow_count(fx.api))
		fuzz_fail("more UDP flows than flows");
	tg_flowapi_free(fx.api);
	link_close(fx.s0, fx.s1, fx.memfd);
	return 0;
}

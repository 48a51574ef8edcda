/*
 * Flow API (shm/flowapi.c) against a stackd played by the test: one link in-process, the
 * test drives side 0 with the raw link API, the API runs side 1 on an event_base. Checks the
 * HELLO exchange, exact delivery of opens and data both ways, the credit rule both ways,
 * UDP flows (datagrams both ways, UDP_ERROR, CLOSED either way, limits) and ICMP echo with
 * exact encodings, that malformed messages are counted and survived, and that every slot and
 * flow is gone at the end of each test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "flowapi.h"
#include "link.h"
#include "log.h"
#include "proto.h"
#include "udp_batch.h"

#define SLOT_SIZE     16384u
#define BIG_SLOT_SIZE 65600u /* link B's real slot: a whole datagram and its header */
#define SLOTS         32u
#define BIG           (1024u * 1024u)
#define MAX_LOG       40000u
#define DEADLINE_S    5
#define MAX_MSG       (BIG_SLOT_SIZE)

struct fx {
	int memfd;
	int bell[2];
	struct tg_link_end *s0; /* stackd, played here */
	struct tg_link_end *s1; /* the flow API's side */
	struct event_base *base;
	struct tg_flowapi *api;

	/* seen by the API's callbacks */
	unsigned opens;
	uint32_t open_flow;
	struct tg_addr open_src, open_dst;
	enum tg_open_mode open_mode;
	uint8_t *rx;
	size_t rx_len;
	bool consume; /* acknowledge data as soon as it arrives */
	unsigned shut_wrs, resets, writables, udps, peer_resets;
	uint32_t reset_flow;
	void *reset_udata;
	uint32_t udp_flow;
	void *udp_udata; /* tg_flow_udata() inside on_udp, before the callback sets it */
	struct tg_addr udp_src, udp_dst;
	uint8_t udp_data[MAX_MSG];
	size_t udp_len;
	uint8_t udp_firsts[256]; /* first byte (0 if empty) of each datagram, in order */
	size_t udp_lens[256];    /* and its length */
	unsigned udp_closeds;
	uint32_t udp_closed_flow;
	void *udp_closed_udata;
	unsigned icmps;
	struct tg_addr icmp_src, icmp_dst;
	uint8_t icmp_data[MAX_MSG];
	size_t icmp_len;

	/* seen by the test's stackd */
	bool hello_ok;
	struct tg_msg_hello hello;
	unsigned hellos;
	struct tg_desc log[MAX_LOG]; /* every message but DATA, in order */
	unsigned nlog;
	uint8_t *down; /* DATA bytes, in order */
	size_t down_len;
	unsigned data_msgs;
	uint8_t last_payload[MAX_MSG]; /* payload of the last non-DATA message with a slot */
	uint32_t last_payload_len;
	bool hold_slots; /* keep the API's slots instead of handing them back */
	uint32_t held[SLOTS];
	unsigned nheld;
};

/* --- the API's callbacks ---------------------------------------------------------- */

static void cb_open(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                    const struct tg_addr *dst, enum tg_open_mode mode, void *arg)
{
	struct fx *fx = arg;

	fx->opens++;
	fx->open_flow = flow;
	fx->open_src = *src;
	fx->open_dst = *dst;
	fx->open_mode = mode;
	tg_flow_set_udata(api, flow, fx);
}

static void cb_data(struct tg_flowapi *api, uint32_t flow, const void *data, size_t len, void *arg)
{
	struct fx *fx = arg;

	assert_true(fx->rx_len + len <= 2 * BIG);
	memcpy(fx->rx + fx->rx_len, data, len);
	fx->rx_len += len;
	if (fx->consume)
		tg_flow_consumed(api, flow, len);
}

static void cb_shut_wr(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	((struct fx *)arg)->shut_wrs++;
}

static void cb_reset(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	struct fx *fx = arg;

	fx->resets++;
	fx->reset_flow = flow;
	fx->reset_udata = tg_flow_udata(api, flow);
	/* Calls on a flow that is going away must be harmless. */
	tg_flow_reset(api, flow);
}

static void cb_writable(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	((struct fx *)arg)->writables++;
}

static void cb_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                   const struct tg_addr *dst, const void *data, size_t len, void *arg)
{
	struct fx *fx = arg;

	if (fx->udps < 256) {
		fx->udp_firsts[fx->udps] = len > 0 ? ((const uint8_t *)data)[0] : 0;
		fx->udp_lens[fx->udps] = len;
	}
	fx->udps++;
	fx->udp_flow = flow;
	fx->udp_udata = tg_flow_udata(api, flow);
	fx->udp_src = *src;
	fx->udp_dst = *dst;
	fx->udp_len = len;
	assert_true(len <= sizeof(fx->udp_data));
	memcpy(fx->udp_data, data, len);
	/* Like a NAT: the first datagram makes the entry. */
	if (!fx->udp_udata)
		tg_flow_set_udata(api, flow, fx);
}

static void cb_udp_closed(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	struct fx *fx = arg;

	fx->udp_closeds++;
	fx->udp_closed_flow = flow;
	fx->udp_closed_udata = tg_flow_udata(api, flow);
	/* Calls on a flow that is going away must be harmless. */
	tg_flow_udp_close(api, flow);
}

static void cb_icmp(struct tg_flowapi *api, const struct tg_addr *src, const struct tg_addr *dst,
                    const void *data, size_t len, void *arg)
{
	struct fx *fx = arg;

	fx->icmps++;
	fx->icmp_src = *src;
	fx->icmp_dst = *dst;
	fx->icmp_len = len;
	assert_true(len <= sizeof(fx->icmp_data));
	memcpy(fx->icmp_data, data, len);
}

static void cb_peer_reset(struct tg_flowapi *api, void *arg)
{
	((struct fx *)arg)->peer_resets++;
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

/* --- the test's stackd ------------------------------------------------------------ */

static void s0_collect(struct fx *fx)
{
	struct tg_desc d[TG_LINK_BURST];
	unsigned n;

	while ((n = tg_link_recv(fx->s0, d, TG_LINK_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			if (d[i].type == TG_MSG_HELLO) {
				fx->hellos++;
				fx->hello_ok = tg_hello_check(fx->s0, &d[i], TG_ROLE_RELAYD,
				                              &fx->hello) == 0;
				continue;
			}
			if (d[i].type == TG_MSG_DATA) {
				assert_true(fx->down_len + d[i].len <= 2 * BIG);
				memcpy(fx->down + fx->down_len,
				       tg_link_peer_slot(fx->s0, d[i].slot), d[i].len);
				fx->down_len += d[i].len;
				fx->data_msgs++;
			} else {
				assert_true(fx->nlog < MAX_LOG);
				fx->log[fx->nlog++] = d[i];
				if (d[i].slot != TG_NO_SLOT) {
					assert_true(d[i].len <= sizeof(fx->last_payload));
					memcpy(fx->last_payload,
					       tg_link_peer_slot(fx->s0, d[i].slot), d[i].len);
					fx->last_payload_len = d[i].len;
				}
			}
			if (d[i].slot == TG_NO_SLOT)
				continue;
			if (fx->hold_slots)
				fx->held[fx->nheld++] = d[i].slot;
			else
				tg_link_release(fx->s0, d[i].slot);
		}
	}
	tg_link_flush(fx->s0);
}

static void s0_release_held(struct fx *fx)
{
	for (unsigned i = 0; i < fx->nheld; i++)
		tg_link_release(fx->s0, fx->held[i]);
	fx->nheld = 0;
	fx->hold_slots = false;
	tg_link_flush(fx->s0);
}

static void step(struct fx *fx);

static void s0_send(struct fx *fx, uint16_t type, uint32_t flow, uint32_t arg, const void *data,
                    uint32_t len)
{
	/* Like stackd, wait for the API to hand slots back. */
	for (int i = 0; len > 0 && tg_link_free_slots(fx->s0) == 0 && i < 100000; i++)
		step(fx);
	assert_int_equal(tg_link_send_copy(fx->s0, type, flow, arg, data, len), 0);
	tg_link_flush(fx->s0);
}

static void s0_hello(struct fx *fx, uint32_t role, uint32_t window)
{
	struct tg_msg_hello h = {
	        .magic = TG_LINK_MAGIC,
	        .version_min = TG_PROTO_VERSION_MIN,
	        .version_max = TG_PROTO_VERSION_MAX,
	        .epoch = tg_link_epoch(fx->s0),
	        .pid = (uint32_t)getpid(),
	        .role = role,
	        .window = window,
	};

	s0_send(fx, TG_MSG_HELLO, 0, 0, &h, sizeof(h));
}

static struct tg_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct tg_addr x = {.family = TG_AF_INET4, .port = port, .ip = {a, b, c, d}};

	return x;
}

static struct tg_addr addr6(uint16_t last, uint16_t port)
{
	/* 2001:db8::last */
	struct tg_addr x = {.family = TG_AF_INET6,
	                    .port = port,
	                    .ip = {0x20, 0x01, 0x0d, 0xb8, [14] = last >> 8, [15] = last & 0xff}};

	return x;
}

static void s0_open(struct fx *fx, uint32_t flow, const struct tg_addr *src,
                    const struct tg_addr *dst, uint32_t mode)
{
	struct tg_msg_open m = {.src = *src, .dst = *dst, .proto = IPPROTO_TCP};

	s0_send(fx, TG_MSG_TCP_OPEN, flow, mode, &m, sizeof(m));
}

/* --- driving the loop ------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void step(struct fx *fx)
{
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	s0_collect(fx);
}

/* Runs both sides until the condition holds; fails the test at the deadline. */
#define PUMP_UNTIL(fx, cond)                                                                       \
	do {                                                                                       \
		double deadline_ = now_s() + DEADLINE_S;                                           \
		while (!(cond) && now_s() < deadline_) {                                           \
			step(fx);                                                                  \
			if (!(cond))                                                               \
				usleep(100);                                                       \
		}                                                                                  \
		assert_true(cond);                                                                 \
	} while (0)

/* A few turns with nothing expected, to show that nothing happens. */
static void settle(struct fx *fx)
{
	for (int i = 0; i < 20; i++) {
		step(fx);
		usleep(200);
	}
}

static const struct tg_desc *last_msg(struct fx *fx, uint16_t type)
{
	for (unsigned i = fx->nlog; i-- > 0;)
		if (fx->log[i].type == type)
			return &fx->log[i];
	return NULL;
}

static unsigned count_msgs(struct fx *fx, uint16_t type, uint32_t flow)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fx->nlog; i++)
		n += fx->log[i].type == type && fx->log[i].flow == flow;
	return n;
}

static uint64_t credit_total(struct fx *fx, uint32_t flow)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < fx->nlog; i++)
		if (fx->log[i].type == TG_MSG_CREDIT && fx->log[i].flow == flow)
			n += fx->log[i].arg;
	return n;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* --- fixture ---------------------------------------------------------------------- */

static int setup_slots(void **state, uint32_t slot_size)
{
	struct tg_link_params params = {
	        .name = "flowapi", .slot_size = slot_size, .slot_count = SLOTS, .epoch = 3};
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->memfd = tg_link_create(&params);
	assert_true(fx->memfd >= 0);
	for (int i = 0; i < 2; i++) {
		fx->bell[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(fx->bell[i] >= 0);
	}
	fx->s0 = tg_link_attach(fx->memfd, 0, fx->bell[0], fx->bell[1]);
	fx->s1 = tg_link_attach(fx->memfd, 1, fx->bell[1], fx->bell[0]);
	assert_non_null(fx->s0);
	assert_non_null(fx->s1);
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->rx = malloc(2 * BIG);
	fx->down = malloc(2 * BIG);
	assert_non_null(fx->rx);
	assert_non_null(fx->down);
	fx->consume = true;
	fx->api = tg_flowapi_new(fx->base, fx->s1, &cbs, fx);
	assert_non_null(fx->api);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_slots(state, SLOT_SIZE);
}

/* Slots as big as link B's, for the largest datagrams. */
static int setup_big(void **state)
{
	return setup_slots(state, BIG_SLOT_SIZE);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	tg_flowapi_free(fx->api);
	event_base_free(fx->base);
	tg_link_detach(fx->s0);
	tg_link_detach(fx->s1);
	close(fx->bell[0]);
	close(fx->bell[1]);
	close(fx->memfd);
	free(fx->rx);
	free(fx->down);
	free(fx);
	return 0;
}

/* Both HELLOs, with the credit stackd grants per flow. */
static void handshake(struct fx *fx, uint32_t window)
{
	PUMP_UNTIL(fx, fx->hello_ok);
	s0_hello(fx, TG_ROLE_STACKD, window);
	PUMP_UNTIL(fx, tg_flowapi_ready(fx->api));
}

/* A flow opened by stackd and accepted by the API's user. */
static void open_flow(struct fx *fx, uint32_t flow)
{
	struct tg_addr src = addr4(198, 18, 0, 2, 40000), dst = addr4(198, 19, 0, 9, 80);
	unsigned before = fx->opens, results = count_msgs(fx, TG_MSG_OPEN_RESULT, flow);

	s0_open(fx, flow, &src, &dst, TG_OPEN_CONSISTENT);
	PUMP_UNTIL(fx, fx->opens == before + 1);
	tg_flow_open_result(fx->api, flow, TG_OPEN_OK);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_OPEN_RESULT, flow) == results + 1);
}

/* What every test ends with: no flow left, every slot home on both sides. */
static void assert_clean(struct fx *fx)
{
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);
	PUMP_UNTIL(fx, tg_link_free_slots(fx->s0) == SLOTS && tg_link_free_slots(fx->s1) == SLOTS);
	assert_int_equal(tg_link_stats(fx->s0)->bad_descs, 0);
	assert_int_equal(tg_link_stats(fx->s1)->bad_descs, 0);
}

/* --- tests ------------------------------------------------------------------------ */

static void test_hello_exchange(void **state)
{
	struct fx *fx = *state;

	PUMP_UNTIL(fx, fx->hellos == 1);
	assert_true(fx->hello_ok);
	assert_int_equal(fx->hello.window, TG_FLOWAPI_WINDOW);
	assert_false(tg_flowapi_ready(fx->api));

	/* Anything before a good HELLO is dropped and counted. */
	s0_send(fx, TG_MSG_CREDIT, 1, 100, NULL, 0);
	s0_hello(fx, TG_ROLE_TUNIO, 65536);
	s0_hello(fx, TG_ROLE_STACKD, 0);
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->bad_msgs == 3);
	assert_false(tg_flowapi_ready(fx->api));

	s0_hello(fx, TG_ROLE_STACKD, 65536);
	PUMP_UNTIL(fx, tg_flowapi_ready(fx->api));
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 3);
	assert_clean(fx);
}

static void test_tcp_open_exact(void **state)
{
	struct fx *fx = *state;
	struct tg_addr src4 = addr4(198, 18, 0, 1, 40000), dst4 = addr4(198, 19, 1, 2, 443);
	struct tg_addr src6 = addr6(1, 51000), dst6 = addr6(0xbeef, 8080);
	const struct tg_desc *r;

	handshake(fx, 65536);
	s0_open(fx, 7, &src4, &dst4, TG_OPEN_CONSISTENT);
	PUMP_UNTIL(fx, fx->opens == 1);
	assert_int_equal(fx->open_flow, 7);
	assert_memory_equal(&fx->open_src, &src4, sizeof(src4));
	assert_memory_equal(&fx->open_dst, &dst4, sizeof(dst4));
	assert_int_equal(fx->open_mode, TG_OPEN_CONSISTENT);

	s0_open(fx, 8, &src6, &dst6, TG_OPEN_FAST);
	PUMP_UNTIL(fx, fx->opens == 2);
	assert_int_equal(fx->open_flow, 8);
	assert_memory_equal(&fx->open_src, &src6, sizeof(src6));
	assert_memory_equal(&fx->open_dst, &dst6, sizeof(dst6));
	assert_int_equal(fx->open_mode, TG_OPEN_FAST);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 2);
	assert_int_equal(tg_flowapi_stats(fx->api)->flows_opened, 2);
	/* Nothing may be sent before the open is answered OK. */
	assert_int_equal(tg_flow_send_window(fx->api, 7), 0);
	assert_int_equal(tg_flow_send(fx->api, 7, "x", 1), 0);

	tg_flow_open_result(fx->api, 7, TG_OPEN_OK);
	tg_flow_open_result(fx->api, 8, TG_OPEN_REFUSED);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_OPEN_RESULT, 8) == 1);
	r = last_msg(fx, TG_MSG_OPEN_RESULT);
	assert_int_equal(r->flow, 8);
	assert_int_equal(r->arg, TG_OPEN_REFUSED);
	assert_int_equal(count_msgs(fx, TG_MSG_OPEN_RESULT, 7), 1);
	assert_int_equal(fx->log[0].arg, TG_OPEN_OK);
	assert_int_equal(tg_flow_send_window(fx->api, 7), 65536);
	/* A failed open is forgotten; data stackd sent meanwhile is ignored silently. */
	assert_int_equal(tg_flowapi_flow_count(fx->api), 1);
	s0_send(fx, TG_MSG_DATA, 8, 0, "late", 4);
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->late_msgs == 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);

	tg_flow_reset(fx->api, 7);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_RESET, 7) == 1);
	assert_clean(fx);
}

/* stackd streams 1 MB keeping to our window; every byte arrives once, in order. */
static void test_data_byte_exact(void **state)
{
	struct fx *fx = *state;
	uint8_t *src = malloc(BIG);
	size_t sent = 0, chunk = 1;
	unsigned msgs = 0;

	assert_non_null(src);
	fill(src, BIG, 42);
	handshake(fx, 65536);
	open_flow(fx, 1);
	while (sent < BIG) {
		size_t n = chunk < BIG - sent ? chunk : BIG - sent;

		/* stackd's side of the credit rule */
		PUMP_UNTIL(fx, sent + n - credit_total(fx, 1) <= TG_FLOWAPI_WINDOW);
		s0_send(fx, TG_MSG_DATA, 1, 0, src + sent, (uint32_t)n);
		sent += n;
		msgs++;
		chunk = chunk * 7 % SLOT_SIZE + 1;
		if (sent % 8 == 0)
			step(fx);
	}
	PUMP_UNTIL(fx, fx->rx_len == BIG && credit_total(fx, 1) == BIG);
	assert_memory_equal(fx->rx, src, BIG);
	assert_int_equal(tg_flowapi_stats(fx->api)->credit_errors, 0);
	/* Credits are coalesced: never more CREDITs than DATAs. */
	assert_true(count_msgs(fx, TG_MSG_CREDIT, 1) > 0);
	assert_true(count_msgs(fx, TG_MSG_CREDIT, 1) < msgs);
	tg_flow_reset(fx->api, 1);
	assert_clean(fx);
	free(src);
}

static void test_send_respects_credit(void **state)
{
	struct fx *fx = *state;
	uint8_t *src = malloc(BIG);

	assert_non_null(src);
	fill(src, BIG, 7);
	handshake(fx, 65536);
	open_flow(fx, 3);
	assert_int_equal(tg_flow_send_window(fx->api, 3), 65536);
	assert_int_equal(tg_flow_send(fx->api, 3, src, BIG), 65536);
	assert_int_equal(tg_flow_send(fx->api, 3, src + 65536, BIG - 65536), 0);
	assert_int_equal(tg_flow_send_window(fx->api, 3), 0);
	PUMP_UNTIL(fx, fx->down_len == 65536);
	settle(fx);
	assert_int_equal(fx->down_len, 65536);
	assert_memory_equal(fx->down, src, 65536);
	assert_int_equal(fx->data_msgs, 65536 / SLOT_SIZE);

	/* Credit reopens the window by exactly that much, and says so. */
	s0_send(fx, TG_MSG_CREDIT, 3, 10000, NULL, 0);
	PUMP_UNTIL(fx, fx->writables == 1);
	assert_int_equal(tg_flow_send_window(fx->api, 3), 10000);
	assert_int_equal(tg_flow_send(fx->api, 3, src + 65536, BIG - 65536), 10000);
	PUMP_UNTIL(fx, fx->down_len == 75536);
	assert_memory_equal(fx->down, src, 75536);

	/* Credit for more than was ever sent is a lie: counted, window capped. */
	s0_send(fx, TG_MSG_CREDIT, 3, BIG, NULL, 0);
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->bad_msgs == 1);
	assert_int_equal(tg_flow_send_window(fx->api, 3), 65536);
	tg_flow_reset(fx->api, 3);
	assert_clean(fx);
	free(src);
}

/* With more credit than slots, sending stops at the slots and resumes when they return. */
static void test_send_waits_for_slots(void **state)
{
	struct fx *fx = *state;
	uint8_t *src = malloc(BIG);
	size_t first;

	assert_non_null(src);
	fill(src, BIG, 9);
	handshake(fx, BIG);
	open_flow(fx, 4);
	fx->hold_slots = true;
	first = tg_flow_send(fx->api, 4, src, BIG);
	assert_int_equal(first, SLOTS * SLOT_SIZE);
	assert_int_equal(tg_flow_send(fx->api, 4, src + first, BIG - first), 0);
	PUMP_UNTIL(fx, fx->down_len == first);
	settle(fx);
	assert_int_equal(fx->writables, 0);

	s0_release_held(fx);
	PUMP_UNTIL(fx, fx->writables == 1);
	assert_int_equal(tg_flow_send(fx->api, 4, src + first, BIG - first), BIG - first);
	PUMP_UNTIL(fx, fx->down_len == BIG);
	assert_memory_equal(fx->down, src, BIG);
	tg_flow_reset(fx->api, 4);
	assert_clean(fx);
	free(src);
}

/* stackd sends past the window we offered: the flow is reset both ways and counted. */
static void test_window_violation_resets(void **state)
{
	struct fx *fx = *state;
	uint8_t block[SLOT_SIZE];

	memset(block, 0x5a, sizeof(block));
	fx->consume = false;
	handshake(fx, 65536);
	open_flow(fx, 5);
	tg_flow_set_udata(fx->api, 5, block);
	for (unsigned i = 0; i < TG_FLOWAPI_WINDOW / SLOT_SIZE; i++)
		s0_send(fx, TG_MSG_DATA, 5, 0, block, SLOT_SIZE);
	PUMP_UNTIL(fx, fx->rx_len == TG_FLOWAPI_WINDOW);
	assert_int_equal(tg_flowapi_stats(fx->api)->credit_errors, 0);

	s0_send(fx, TG_MSG_DATA, 5, 0, block, 1);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_RESET, 5) == 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->credit_errors, 1);
	assert_int_equal(fx->resets, 1);
	assert_int_equal(fx->reset_flow, 5);
	assert_ptr_equal(fx->reset_udata, block); /* still readable inside on_reset */
	assert_int_equal(fx->rx_len, TG_FLOWAPI_WINDOW);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);

	/* What stackd still had in flight for it is ignored, not counted as bad. */
	s0_send(fx, TG_MSG_DATA, 5, 0, block, 10);
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->late_msgs == 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);
	assert_clean(fx);
}

static void send_open_raw(struct fx *fx, uint32_t flow, const struct tg_msg_open *m, uint32_t len,
                          uint32_t mode)
{
	s0_send(fx, TG_MSG_TCP_OPEN, flow, mode, m, len);
}

static void test_bad_messages_counted(void **state)
{
	struct fx *fx = *state;
	struct tg_addr a = addr4(198, 18, 0, 1, 1000), b = addr4(198, 19, 0, 1, 80);
	struct tg_msg_open good = {.src = a, .dst = b, .proto = IPPROTO_TCP}, m;
	uint8_t junk[64];
	unsigned bad = 0;

	memset(junk, 0xee, sizeof(junk));
	handshake(fx, 65536);

	send_open_raw(fx, 10, &good, 10, TG_OPEN_FAST); /* short TCP_OPEN */
	bad++;
	s0_send(fx, 99, 10, 0, junk, sizeof(junk)); /* unknown type */
	bad++;
	m = good;
	m.dst.family = 5; /* bad address family */
	send_open_raw(fx, 11, &m, sizeof(m), TG_OPEN_FAST);
	bad++;
	m = good;
	m.dst = addr6(1, 80); /* mixed families */
	send_open_raw(fx, 12, &m, sizeof(m), TG_OPEN_FAST);
	bad++;
	m = good;
	m.proto = IPPROTO_UDP;
	send_open_raw(fx, 13, &m, sizeof(m), TG_OPEN_FAST);
	bad++;
	send_open_raw(fx, 14, &good, sizeof(good), 7); /* unknown mode */
	bad++;
	s0_send(fx, TG_MSG_TCP_OPEN, 15, 0, NULL, 0); /* no slot */
	bad++;
	s0_send(fx, TG_MSG_DATA, 77, 0, junk, 8); /* unknown flow */
	bad++;
	s0_send(fx, TG_MSG_OPEN_RESULT, 77, 0, NULL, 0); /* wrong direction */
	bad++;
	s0_send(fx, TG_MSG_CLOSED, 77, 0, NULL, 0);
	bad++;
	s0_send(fx, TG_MSG_UDP, 77, 0, junk, 20); /* shorter than its header */
	bad++;
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->bad_msgs == bad);
	assert_int_equal(fx->opens, 0);

	/* Per-flow misuse on a live flow. */
	open_flow(fx, 20);
	send_open_raw(fx, 20, &good, sizeof(good), TG_OPEN_FAST); /* id in use */
	bad++;
	s0_send(fx, TG_MSG_DATA, 20, 0, NULL, 0); /* DATA without payload */
	bad++;
	s0_send(fx, TG_MSG_CREDIT, 20, 5, junk, 4); /* CREDIT with a payload */
	bad++;
	s0_send(fx, TG_MSG_SHUT_WR, 20, 0, NULL, 0);
	s0_send(fx, TG_MSG_SHUT_WR, 20, 0, NULL, 0); /* repeated */
	bad++;
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->bad_msgs == bad);
	assert_int_equal(fx->opens, 1);
	assert_int_equal(fx->shut_wrs, 1);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 1);

	/* DATA after the client's FIN breaks the stream: reset. */
	s0_send(fx, TG_MSG_DATA, 20, 0, junk, 8);
	bad++;
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_RESET, 20) == 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, bad);
	assert_int_equal(fx->resets, 1);
	assert_int_equal(fx->rx_len, 0);
	assert_clean(fx);
}

/* open -> data both ways -> FIN both ways -> CLOSED; late messages are ignored. */
static void test_lifecycle_close(void **state)
{
	struct fx *fx = *state;
	unsigned n;

	handshake(fx, 65536);
	open_flow(fx, 30);
	s0_send(fx, TG_MSG_DATA, 30, 0, "ping", 4);
	s0_send(fx, TG_MSG_SHUT_WR, 30, 0, NULL, 0);
	PUMP_UNTIL(fx, fx->shut_wrs == 1);
	assert_int_equal(fx->rx_len, 4);
	assert_memory_equal(fx->rx, "ping", 4);

	assert_int_equal(tg_flow_send(fx->api, 30, "pong", 4), 4);
	tg_flow_shut_wr(fx->api, 30);
	assert_int_equal(tg_flow_send(fx->api, 30, "more", 4), 0);
	tg_flow_close(fx->api, 30);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_CLOSED, 30) == 1);
	assert_int_equal(fx->down_len, 4);
	assert_memory_equal(fx->down, "pong", 4);
	/* Order on the wire: SHUT_WR, then CLOSED. */
	n = fx->nlog;
	assert_int_equal(fx->log[n - 1].type, TG_MSG_CLOSED);
	assert_int_equal(fx->log[n - 2].type, TG_MSG_SHUT_WR);
	assert_int_equal(count_msgs(fx, TG_MSG_RESET, 30), 0);

	s0_send(fx, TG_MSG_CREDIT, 30, 4, NULL, 0);
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->late_msgs == 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);

	/* A close before both sides finished would lose data: it becomes a reset. */
	open_flow(fx, 31);
	tg_flow_close(fx->api, 31);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_RESET, 31) == 1);
	assert_int_equal(count_msgs(fx, TG_MSG_CLOSED, 31), 0);
	assert_clean(fx);
}

static void test_resets_and_id_reuse(void **state)
{
	struct fx *fx = *state;

	handshake(fx, 65536);
	open_flow(fx, 40);
	s0_send(fx, TG_MSG_RESET, 40, 0, NULL, 0);
	PUMP_UNTIL(fx, fx->resets == 1);
	assert_int_equal(fx->reset_flow, 40);
	assert_ptr_equal(fx->reset_udata, fx);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);
	/* We answer a reset with nothing. */
	assert_int_equal(count_msgs(fx, TG_MSG_RESET, 40), 0);

	/* stackd may reuse an id once both sides forgot it, whoever ended it. */
	open_flow(fx, 40);
	tg_flow_reset(fx->api, 40);
	open_flow(fx, 40);
	assert_int_equal(fx->opens, 3);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);
	tg_flow_reset(fx->api, 40);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_RESET, 40) == 2);
	assert_clean(fx);
}

/* --- UDP and ICMP ------------------------------------------------------------------ */

/* A message with a tg_msg_udp header, as stackd sends it. */
static void s0_addressed(struct fx *fx, uint16_t type, uint32_t flow, uint32_t arg,
                         const struct tg_addr *src, const struct tg_addr *dst, const void *data,
                         size_t len)
{
	static uint8_t msg[MAX_MSG];
	struct tg_msg_udp h = {.src = *src, .dst = *dst};

	assert_true(sizeof(h) + len <= sizeof(msg));
	memcpy(msg, &h, sizeof(h));
	if (len > 0)
		memcpy(msg + sizeof(h), data, len);
	s0_send(fx, type, flow, arg, msg, (uint32_t)(sizeof(h) + len));
}

/* The last message of `type` stackd got: flow, arg, header and payload exactly as expected. */
static void assert_addressed(struct fx *fx, uint16_t type, uint32_t flow, uint32_t arg,
                             const struct tg_addr *src, const struct tg_addr *dst, const void *data,
                             size_t len)
{
	const struct tg_desc *m = last_msg(fx, type);
	struct tg_msg_udp h;

	assert_non_null(m);
	assert_int_equal(m->flow, flow);
	assert_int_equal(m->arg, arg);
	assert_int_not_equal(m->slot, TG_NO_SLOT);
	assert_int_equal(m->len, sizeof(h) + len);
	assert_int_equal(fx->last_payload_len, sizeof(h) + len);
	memcpy(&h, fx->last_payload, sizeof(h));
	assert_memory_equal(&h.src, src, sizeof(*src));
	assert_memory_equal(&h.dst, dst, sizeof(*dst));
	if (len > 0)
		assert_memory_equal(fx->last_payload + sizeof(h), data, len);
}

static void test_udp_both_ways(void **state)
{
	struct fx *fx = *state;
	struct tg_addr src = addr4(198, 18, 0, 3, 5353), dst = addr4(198, 19, 0, 53, 53);
	struct tg_addr src6 = addr6(3, 40001), dst6 = addr6(0x53, 5353);

	handshake(fx, 65536);
	s0_addressed(fx, TG_MSG_UDP, 50, 0, &src, &dst, "query", 5);
	PUMP_UNTIL(fx, fx->udps == 1);
	assert_int_equal(fx->udp_flow, 50);
	assert_null(fx->udp_udata); /* a new flow */
	assert_memory_equal(&fx->udp_src, &src, sizeof(src));
	assert_memory_equal(&fx->udp_dst, &dst, sizeof(dst));
	assert_int_equal(fx->udp_len, 5);
	assert_memory_equal(fx->udp_data, "query", 5);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 1);
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->udp_flows_opened, 1);

	/* The same flow again, and an empty datagram: the flow is known now. */
	s0_addressed(fx, TG_MSG_UDP, 50, 0, &src, &dst, NULL, 0);
	PUMP_UNTIL(fx, fx->udps == 2);
	assert_ptr_equal(fx->udp_udata, fx);
	assert_int_equal(fx->udp_len, 0);
	assert_int_equal(tg_flowapi_stats(fx->api)->udp_flows_opened, 1);

	/* Answers: src is the remote end, dst the client. */
	assert_int_equal(tg_flow_send_udp(fx->api, 50, &dst, &src, "reply", 5), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP, 50) == 1);
	assert_addressed(fx, TG_MSG_UDP, 50, 0, &dst, &src, "reply", 5);
	assert_int_equal(tg_flow_send_udp(fx->api, 50, &dst, &src, NULL, 0), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP, 50) == 2);
	assert_addressed(fx, TG_MSG_UDP, 50, 0, &dst, &src, NULL, 0);

	/* What cannot go: too big for the slot, no such flow, bad addresses. */
	errno = 0;
	assert_int_equal(tg_flow_send_udp(fx->api, 50, &dst, &src, "x", SLOT_SIZE), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(tg_flow_send_udp(fx->api, 51, &dst, &src, "x", 1), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(tg_flow_send_udp(fx->api, 50, &dst, &src6, "x", 1), -1);
	assert_int_equal(errno, EINVAL);

	/* TCP calls do nothing on a UDP flow. */
	assert_int_equal(tg_flow_send(fx->api, 50, "x", 1), 0);
	assert_int_equal(tg_flow_send_window(fx->api, 50), 0);
	tg_flow_open_result(fx->api, 50, TG_OPEN_OK);
	tg_flow_shut_wr(fx->api, 50);
	tg_flow_reset(fx->api, 50);
	tg_flow_close(fx->api, 50);
	tg_flow_consumed(fx->api, 50, 5);
	settle(fx);
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), 1);
	assert_int_equal(count_msgs(fx, TG_MSG_OPEN_RESULT, 50) + count_msgs(fx, TG_MSG_RESET, 50) +
	                         count_msgs(fx, TG_MSG_SHUT_WR, 50) +
	                         count_msgs(fx, TG_MSG_CLOSED, 50) +
	                         count_msgs(fx, TG_MSG_CREDIT, 50),
	                 0);

	/* An IPv6 flow beside it. */
	s0_addressed(fx, TG_MSG_UDP, 52, 0, &src6, &dst6, "six", 3);
	PUMP_UNTIL(fx, fx->udps == 3);
	assert_int_equal(fx->udp_flow, 52);
	assert_memory_equal(&fx->udp_src, &src6, sizeof(src6));
	assert_memory_equal(&fx->udp_dst, &dst6, sizeof(dst6));
	assert_int_equal(tg_flow_send_udp(fx->api, 52, &dst6, &src6, "back", 4), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP, 52) == 1);
	assert_addressed(fx, TG_MSG_UDP, 52, 0, &dst6, &src6, "back", 4);

	/* Our close: CLOSED, without a slot, and the flows are gone. */
	tg_flow_udp_close(fx->api, 50);
	tg_flow_udp_close(fx->api, 52);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_CLOSED, 52) == 1);
	assert_int_equal(count_msgs(fx, TG_MSG_CLOSED, 50), 1);
	assert_int_equal(last_msg(fx, TG_MSG_CLOSED)->slot, TG_NO_SLOT);
	assert_int_equal(fx->udp_closeds, 0); /* on_udp_closed is for stackd's closes */

	/* A datagram that crossed our CLOSED is ignored, not a new flow. */
	s0_addressed(fx, TG_MSG_UDP, 50, 0, &src, &dst, "late", 4);
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->late_msgs == 1);
	assert_int_equal(fx->udps, 3);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);
	assert_clean(fx);
}

/* The largest datagrams fit link B's slots, byte-exact both ways; one byte more does not. */
static void test_udp_largest_datagram(void **state)
{
	struct fx *fx = *state;
	struct tg_addr src = addr4(198, 18, 0, 4, 6000), dst = addr4(198, 19, 0, 7, 7);
	struct tg_addr src6 = addr6(4, 6000), dst6 = addr6(7, 7);
	static uint8_t big[TG_UDP_MAX_PAYLOAD6 + 1];

	fill(big, sizeof(big), 65507);
	handshake(fx, 65536);
	s0_addressed(fx, TG_MSG_UDP, 70, 0, &src, &dst, big, TG_UDP_MAX_PAYLOAD4);
	PUMP_UNTIL(fx, fx->udps == 1);
	assert_int_equal(fx->udp_len, 65507);
	assert_memory_equal(fx->udp_data, big, 65507);

	assert_int_equal(tg_flow_send_udp(fx->api, 70, &dst, &src, big, 65507), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP, 70) == 1);
	assert_addressed(fx, TG_MSG_UDP, 70, 0, &dst, &src, big, 65507);
	errno = 0;
	assert_int_equal(tg_flow_send_udp(fx->api, 70, &dst, &src, big, 65508), -1);
	assert_int_equal(errno, EMSGSIZE);

	/* IPv6 allows 20 bytes more (no IPv4 header in the 65535). */
	s0_addressed(fx, TG_MSG_UDP, 71, 0, &src6, &dst6, big, 1);
	PUMP_UNTIL(fx, fx->udps == 2);
	assert_int_equal(tg_flow_send_udp(fx->api, 71, &dst6, &src6, big, 65527), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP, 71) == 1);
	assert_addressed(fx, TG_MSG_UDP, 71, 0, &dst6, &src6, big, 65527);
	assert_int_equal(tg_flow_send_udp(fx->api, 71, &dst6, &src6, big, 65528), -1);
	assert_int_equal(errno, EMSGSIZE);

	tg_flow_udp_close(fx->api, 70);
	tg_flow_udp_close(fx->api, 71);
	assert_clean(fx);
}

static void test_udp_error_and_closes(void **state)
{
	struct fx *fx = *state;
	struct tg_addr src = addr4(198, 18, 0, 5, 7000), dst = addr4(198, 19, 0, 99, 9);
	struct tg_addr src6 = addr6(5, 7000), dst6 = addr6(0x99, 9);

	handshake(fx, 65536);
	s0_addressed(fx, TG_MSG_UDP, 80, 0, &src, &dst, "a", 1);
	s0_addressed(fx, TG_MSG_UDP, 81, 0, &src6, &dst6, "b", 1);
	PUMP_UNTIL(fx, fx->udps == 2);

	/* UDP_ERROR: flow, result in arg, {src = original destination, dst = client}, no payload.
	 */
	assert_int_equal(tg_flow_udp_error(fx->api, 80, &dst, &src, TG_OPEN_REFUSED), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP_ERROR, 80) == 1);
	assert_addressed(fx, TG_MSG_UDP_ERROR, 80, TG_OPEN_REFUSED, &dst, &src, NULL, 0);
	assert_int_equal(tg_flow_udp_error(fx->api, 81, &dst6, &src6, TG_OPEN_UNREACHABLE), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP_ERROR, 81) == 1);
	assert_addressed(fx, TG_MSG_UDP_ERROR, 81, TG_OPEN_UNREACHABLE, &dst6, &src6, NULL, 0);
	/* Only the two results stackd can turn into ICMP; only on a live UDP flow. */
	errno = 0;
	assert_int_equal(tg_flow_udp_error(fx->api, 80, &dst, &src, TG_OPEN_TIMEOUT), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tg_flow_udp_error(fx->api, 80, &dst, &src, TG_OPEN_OK), -1);
	assert_int_equal(tg_flow_udp_error(fx->api, 99, &dst, &src, TG_OPEN_REFUSED), -1);
	assert_int_equal(errno, ENOENT);
	/* An error does not end the flow. */
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), 2);

	/* stackd ends flows with CLOSED or RESET: on_udp_closed, never on_reset; no answer. */
	s0_send(fx, TG_MSG_CLOSED, 80, 0, NULL, 0);
	PUMP_UNTIL(fx, fx->udp_closeds == 1);
	assert_int_equal(fx->udp_closed_flow, 80);
	assert_ptr_equal(fx->udp_closed_udata, fx); /* still readable inside the callback */
	s0_send(fx, TG_MSG_RESET, 81, 0, NULL, 0);
	PUMP_UNTIL(fx, fx->udp_closeds == 2);
	assert_int_equal(fx->udp_closed_flow, 81);
	assert_int_equal(fx->resets, 0);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);
	settle(fx);
	assert_int_equal(count_msgs(fx, TG_MSG_CLOSED, 80) + count_msgs(fx, TG_MSG_RESET, 81), 0);
	assert_int_equal(tg_flow_send_udp(fx->api, 80, &dst, &src, "x", 1), -1);
	assert_int_equal(errno, ENOENT);

	/* stackd forgot them too: the same id may start a flow again. */
	s0_addressed(fx, TG_MSG_UDP, 80, 0, &src, &dst, "again", 5);
	PUMP_UNTIL(fx, fx->udps == 3);
	assert_null(fx->udp_udata);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);
	tg_flow_udp_close(fx->api, 80);
	assert_clean(fx);
}

/* An echo request message: type, code, checksum, identifier, sequence, then data. */
static size_t echo_msg(uint8_t *p, uint8_t type, uint16_t id, uint16_t seq, size_t data_len)
{
	p[0] = type;
	p[1] = 0;
	p[2] = 0xab;
	p[3] = 0xcd;
	p[4] = (uint8_t)(id >> 8);
	p[5] = (uint8_t)id;
	p[6] = (uint8_t)(seq >> 8);
	p[7] = (uint8_t)seq;
	fill(p + 8, data_len, seq);
	return 8 + data_len;
}

static void test_icmp_echo_both_ways(void **state)
{
	struct fx *fx = *state;
	struct tg_addr client = addr4(198, 18, 0, 1, 0x1234), target = addr4(198, 19, 1, 2, 0);
	struct tg_addr client6 = addr6(1, 0x4321), target6 = addr6(2, 0);
	uint8_t msg[1500];
	size_t len;

	handshake(fx, 65536);
	len = echo_msg(msg, 8, 0x1234, 1, 56);
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &client, &target, msg, len);
	PUMP_UNTIL(fx, fx->icmps == 1);
	assert_memory_equal(&fx->icmp_src, &client, sizeof(client));
	assert_memory_equal(&fx->icmp_dst, &target, sizeof(target));
	assert_int_equal(fx->icmp_len, len);
	assert_memory_equal(fx->icmp_data, msg, len);
	/* Echo has no flow. */
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);

	/* The reply: src = target, dst = client with its identifier, the message as received. */
	len = echo_msg(msg, 0, 0x9999, 1, 56);
	assert_int_equal(tg_flow_send_icmp_echo(fx->api, &target, &client, msg, len), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_ICMP_ECHO, 0) == 1);
	assert_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &target, &client, msg, len);

	len = echo_msg(msg, 128, 0x4321, 7, 1000);
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &client6, &target6, msg, len);
	PUMP_UNTIL(fx, fx->icmps == 2);
	assert_memory_equal(&fx->icmp_src, &client6, sizeof(client6));
	assert_memory_equal(&fx->icmp_dst, &target6, sizeof(target6));
	assert_int_equal(fx->icmp_len, len);
	assert_memory_equal(fx->icmp_data, msg, len);
	len = echo_msg(msg, 129, 0x4321, 7, 1000);
	assert_int_equal(tg_flow_send_icmp_echo(fx->api, &target6, &client6, msg, len), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_ICMP_ECHO, 0) == 2);
	assert_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &target6, &client6, msg, len);

	/* Shorter than an ICMP header, or mixed families: refused. */
	errno = 0;
	assert_int_equal(tg_flow_send_icmp_echo(fx->api, &target, &client, msg, 7), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tg_flow_send_icmp_echo(fx->api, &target6, &client, msg, 8), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);
	assert_clean(fx);
}

/* A UDP_BATCH from stackd, as stackd's udp_flow.c builds it: records of first byte 'a' + i. */
static void s0_batch(struct fx *fx, uint32_t flow, const struct tg_addr *src,
                     const struct tg_addr *dst, const size_t *lens, unsigned n)
{
	static uint8_t buf[BIG_SLOT_SIZE], data[BIG_SLOT_SIZE];
	struct tg_msg_udp h = {.src = *src, .dst = *dst};
	struct tg_udp_batch_writer w;
	uint32_t len, arg;
	uint16_t type;

	tg_udp_batch_start(&w, buf, sizeof(buf), &h);
	for (unsigned i = 0; i < n; i++) {
		memset(data, 'a' + (int)i, lens[i]);
		assert_int_equal(tg_udp_batch_add(&w, data, lens[i]), 0);
	}
	len = tg_udp_batch_finish(&w, &type, &arg);
	assert_int_equal(type, n > 1 ? TG_MSG_UDP_BATCH : TG_MSG_UDP);
	s0_send(fx, type, flow, arg, buf, len);
}

/* The datagrams of the last UDP_BATCH stackd got: their count, and each length and first byte. */
static unsigned last_batch(struct fx *fx, const struct tg_addr *src, const struct tg_addr *dst,
                           size_t *lens, uint8_t *firsts)
{
	const struct tg_desc *m = last_msg(fx, TG_MSG_UDP_BATCH);
	struct tg_udp_batch_reader r;
	struct tg_msg_udp h;
	const uint8_t *data;
	uint32_t len;
	unsigned n = 0;

	assert_non_null(m);
	assert_int_equal(tg_udp_batch_check(fx->last_payload, m->len, m->arg, &h), TG_UDP_BATCH_OK);
	assert_memory_equal(&h.src, src, sizeof(*src));
	assert_memory_equal(&h.dst, dst, sizeof(*dst));
	tg_udp_batch_read(&r, fx->last_payload, m->len, m->arg, &h);
	while (tg_udp_batch_next(&r, &data, &len)) {
		lens[n] = len;
		firsts[n++] = len > 0 ? data[0] : 0;
	}
	assert_int_equal(n, m->arg);
	return n;
}

/*
 * Batches both ways: a UDP_BATCH from stackd starts the flow and reaches on_udp datagram by
 * datagram, in order, empty ones included; datagrams given in one loop turn reach stackd as
 * one UDP_BATCH, in order, before the flow's UDP_ERROR and CLOSED.
 */
static void test_udp_batch_both_ways(void **state)
{
	struct fx *fx = *state;
	struct tg_addr src = addr4(198, 18, 0, 7, 9000), dst = addr4(198, 19, 0, 7, 9);
	static const size_t lens[] = {1400, 0, 1, 1400, 700};
	static uint8_t payload[1400];
	size_t got_lens[TG_UDP_BATCH_MAX];
	uint8_t firsts[TG_UDP_BATCH_MAX];
	unsigned n;

	handshake(fx, 65536);
	s0_batch(fx, 60, &src, &dst, lens, 5);
	PUMP_UNTIL(fx, fx->udps == 5);
	assert_int_equal(fx->udp_flow, 60);
	assert_int_equal(tg_flowapi_stats(fx->api)->udp_flows_opened, 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->udp_batches_rx, 1);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(fx->udp_lens[i], lens[i]);
		assert_int_equal(fx->udp_firsts[i], lens[i] ? 'a' + i : 0);
	}

	/* Three replies in one turn: one UDP_BATCH of three, in order. */
	for (unsigned i = 0; i < 3; i++) {
		memset(payload, 'x' + (int)i, sizeof(payload));
		assert_int_equal(tg_flow_send_udp(fx->api, 60, &dst, &src, payload, 1000 + i), 0);
	}
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP_BATCH, 60) == 1);
	n = last_batch(fx, &dst, &src, got_lens, firsts);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(got_lens[i], 1000 + i);
		assert_int_equal(firsts[i], 'x' + i);
	}
	assert_int_equal(count_msgs(fx, TG_MSG_UDP, 60), 0);
	assert_int_equal(tg_flowapi_stats(fx->api)->udp_batches_tx, 1);

	/* More than a slot holds (SLOT_SIZE 16384: 11 of 1400 bytes): full slots go first. */
	for (unsigned i = 0; i < 30; i++)
		assert_int_equal(tg_flow_send_udp(fx->api, 60, &dst, &src, payload, 1400), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP_BATCH, 60) == 4);
	n = last_batch(fx, &dst, &src, got_lens, firsts);
	assert_int_equal(n, 30 - 2 * 11);

	/* A datagram, then an error and the close: the datagram comes first, then the error. */
	assert_int_equal(tg_flow_send_udp(fx->api, 60, &dst, &src, "last", 4), 0);
	assert_int_equal(tg_flow_udp_error(fx->api, 60, &dst, &src, TG_OPEN_REFUSED), 0);
	assert_int_equal(tg_flow_send_udp(fx->api, 60, &dst, &src, "z", 1), 0);
	assert_int_equal(tg_flow_send_udp(fx->api, 60, &dst, &src, "zz", 2), 0);
	tg_flow_udp_close(fx->api, 60);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_CLOSED, 60) == 1);
	assert_int_equal(fx->log[fx->nlog - 4].type, TG_MSG_UDP); /* "last", alone */
	assert_int_equal(fx->log[fx->nlog - 3].type, TG_MSG_UDP_ERROR);
	assert_int_equal(fx->log[fx->nlog - 2].type, TG_MSG_UDP_BATCH); /* "z", "zz" */
	assert_int_equal(fx->log[fx->nlog - 2].arg, 2);
	assert_int_equal(fx->log[fx->nlog - 1].type, TG_MSG_CLOSED);
	assert_int_equal(tg_flowapi_stats(fx->api)->udp_dropped, 0);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);
	assert_clean(fx);
}

/* A stackd that speaks only version 1 never gets a UDP_BATCH: one UDP message per datagram. */
static void test_udp_no_batch_for_v1_peer(void **state)
{
	struct fx *fx = *state;
	struct tg_addr src = addr4(198, 18, 0, 8, 9000), dst = addr4(198, 19, 0, 8, 9);
	struct tg_msg_hello h = {
	        .magic = TG_LINK_MAGIC,
	        .version_min = 1,
	        .version_max = 1,
	        .role = TG_ROLE_STACKD,
	        .window = 65536,
	};

	PUMP_UNTIL(fx, fx->hello_ok);
	h.epoch = tg_link_epoch(fx->s0);
	s0_send(fx, TG_MSG_HELLO, 0, 0, &h, sizeof(h));
	PUMP_UNTIL(fx, tg_flowapi_ready(fx->api));
	s0_addressed(fx, TG_MSG_UDP, 61, 0, &src, &dst, "q", 1);
	PUMP_UNTIL(fx, fx->udps == 1);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(tg_flow_send_udp(fx->api, 61, &dst, &src, "r", 1), 0);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_UDP, 61) == 5);
	assert_int_equal(count_msgs(fx, TG_MSG_UDP_BATCH, 61), 0);
	tg_flow_udp_close(fx->api, 61);
	assert_clean(fx);
}

/* Malformed batches are dropped whole and counted; no datagram of them is handed on. */
static void test_udp_batch_malformed(void **state)
{
	struct fx *fx = *state;
	struct tg_addr c = addr4(198, 18, 0, 9, 8000), d = addr4(198, 19, 0, 9, 80);
	static const size_t lens[] = {10, 20, 30};
	static uint8_t buf[256];
	struct tg_msg_udp h = {.src = c, .dst = d};
	uint16_t rec = 10;
	unsigned bad = 0;

	handshake(fx, 65536);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &rec, sizeof(rec));
	memset(buf + sizeof(h) + 2, 'q', 10);
	/* A record that claims more than the slot has; a count beyond the records; bytes over. */
	s0_send(fx, TG_MSG_UDP_BATCH, 62, 2, buf, (uint32_t)sizeof(h) + 12);
	bad++;
	rec = 200;
	memcpy(buf + sizeof(h), &rec, sizeof(rec));
	s0_send(fx, TG_MSG_UDP_BATCH, 62, 1, buf, (uint32_t)sizeof(h) + 12);
	bad++;
	rec = 5;
	memcpy(buf + sizeof(h), &rec, sizeof(rec));
	s0_send(fx, TG_MSG_UDP_BATCH, 62, 1, buf, (uint32_t)sizeof(h) + 12);
	bad++;
	s0_send(fx, TG_MSG_UDP_BATCH, 62, 0, buf, (uint32_t)sizeof(h)); /* no records */
	bad++;
	s0_send(fx, TG_MSG_UDP_BATCH, 62, 1, buf, 20); /* shorter than the header */
	bad++;
	s0_send(fx, TG_MSG_UDP_BATCH, 62, 1, NULL, 0); /* no slot */
	bad++;
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->bad_msgs == bad);
	assert_int_equal(tg_flowapi_stats(fx->api)->udp_bad_batches, bad - 1);
	assert_int_equal(fx->udps, 0);
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), 0);

	/* Well-formed, but with bad addresses or for a TCP flow. */
	open_flow(fx, 63);
	s0_batch(fx, 63, &c, &d, lens, 3);
	bad++;
	h.src.family = 9;
	s0_batch(fx, 64, &h.src, &d, lens, 3);
	bad++;
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->bad_msgs == bad);
	assert_int_equal(fx->udps, 0);

	/* The API survived: a good batch still starts a flow. */
	s0_batch(fx, 65, &c, &d, lens, 3);
	PUMP_UNTIL(fx, fx->udps == 3);
	tg_flow_udp_close(fx->api, 65);
	tg_flow_reset(fx->api, 63);
	assert_clean(fx);
}

/* Malformed UDP and ICMP messages, and messages for the wrong kind of flow: counted, survived. */
static void test_udp_icmp_malformed(void **state)
{
	struct fx *fx = *state;
	struct tg_addr c = addr4(198, 18, 0, 6, 8000), d = addr4(198, 19, 0, 6, 80), bad_fam = c;
	struct tg_addr c6 = addr6(6, 8000);
	uint8_t msg[64], junk[64];
	unsigned bad = 0;

	memset(junk, 0xee, sizeof(junk));
	bad_fam.family = 5;
	handshake(fx, 65536);
	open_flow(fx, 90);                                   /* a TCP flow */
	s0_addressed(fx, TG_MSG_UDP, 91, 0, &c, &d, "u", 1); /* a UDP flow */
	PUMP_UNTIL(fx, fx->udps == 1);

	s0_send(fx, TG_MSG_UDP, 92, 0, junk, 39); /* one byte short of the header */
	bad++;
	s0_send(fx, TG_MSG_UDP, 92, 0, NULL, 0); /* no slot */
	bad++;
	s0_addressed(fx, TG_MSG_UDP, 92, 0, &bad_fam, &d, "x", 1);
	bad++;
	s0_addressed(fx, TG_MSG_UDP, 92, 0, &c6, &d, "x", 1); /* mixed families */
	bad++;
	s0_addressed(fx, TG_MSG_UDP, 0, 0, &c, &d, "x", 1); /* flow id 0 */
	bad++;
	s0_addressed(fx, TG_MSG_UDP, 90, 0, &c, &d, "x", 1); /* a TCP flow's id */
	bad++;
	s0_send(fx, TG_MSG_DATA, 91, 0, "x", 1); /* TCP messages on a UDP flow */
	bad++;
	s0_send(fx, TG_MSG_CREDIT, 91, 1, NULL, 0);
	bad++;
	s0_send(fx, TG_MSG_SHUT_WR, 91, 0, NULL, 0);
	bad++;
	s0_send(fx, TG_MSG_CLOSED, 90, 0, NULL, 0); /* CLOSED from stackd for a TCP flow */
	bad++;
	s0_send(fx, TG_MSG_CLOSED, 91, 0, junk, 4); /* CLOSED with a payload */
	bad++;
	s0_addressed(fx, TG_MSG_UDP_ERROR, 91, TG_OPEN_REFUSED, &d, &c, NULL, 0); /* wrong way */
	bad++;

	echo_msg(msg, 8, 1, 1, 8);
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &c, &d, msg, 7); /* shorter than ICMP's header */
	bad++;
	s0_send(fx, TG_MSG_ICMP_ECHO, 0, 0, msg, 16); /* shorter than tg_msg_udp */
	bad++;
	s0_send(fx, TG_MSG_ICMP_ECHO, 0, 0, NULL, 0); /* no slot */
	bad++;
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &bad_fam, &d, msg, 16);
	bad++;
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &c6, &d, msg, 16); /* mixed families */
	bad++;
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &c6, &c6, msg, 16); /* IPv4 type on IPv6 */
	bad++;
	echo_msg(msg, 0, 1, 1, 8);
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 0, 0, &c, &d, msg, 16); /* a reply, not a request */
	bad++;
	echo_msg(msg, 8, 1, 1, 8);
	s0_addressed(fx, TG_MSG_ICMP_ECHO, 91, 0, &c, &d, msg, 16); /* a flow id */
	bad++;
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->bad_msgs == bad);
	settle(fx);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, bad);
	assert_int_equal(fx->udps, 1);
	assert_int_equal(fx->icmps, 0);
	assert_int_equal(fx->rx_len, 0);
	assert_int_equal(fx->resets + fx->udp_closeds, 0);
	/* Both flows survived it all. */
	assert_int_equal(tg_flowapi_flow_count(fx->api), 2);
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), 1);

	tg_flow_reset(fx->api, 90);
	tg_flow_udp_close(fx->api, 91);
	PUMP_UNTIL(fx,
	           count_msgs(fx, TG_MSG_CLOSED, 91) == 1 && count_msgs(fx, TG_MSG_RESET, 90) == 1);
	assert_clean(fx);
}

/*
 * UDP flows are capped on their own: the first datagram past the cap is dropped and answered
 * CLOSED, and TCP opens still work. Closing them all brings the count back to 0.
 */
static void test_udp_flow_limit(void **state)
{
	struct fx *fx = *state;
	struct tg_addr c = addr4(198, 18, 0, 7, 0), d = addr4(198, 19, 0, 7, 53);
	uint32_t id = 1000;

	handshake(fx, 65536);
	for (uint32_t i = 0; i < TG_FLOWAPI_MAX_UDP_FLOWS; i++) {
		c.port = (uint16_t)(i + 1);
		s0_addressed(fx, TG_MSG_UDP, id + i, 0, &c, &d, "q", 1);
		if (i % 64 == 0)
			step(fx);
	}
	PUMP_UNTIL(fx, fx->udps == TG_FLOWAPI_MAX_UDP_FLOWS);
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), TG_FLOWAPI_MAX_UDP_FLOWS);

	c.port = 0xffff;
	s0_addressed(fx, TG_MSG_UDP, id + TG_FLOWAPI_MAX_UDP_FLOWS, 0, &c, &d, "q", 1);
	PUMP_UNTIL(fx, tg_flowapi_stats(fx->api)->udp_flows_rejected == 1);
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_CLOSED, id + TG_FLOWAPI_MAX_UDP_FLOWS) == 1);
	assert_int_equal(fx->udps, TG_FLOWAPI_MAX_UDP_FLOWS);
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), TG_FLOWAPI_MAX_UDP_FLOWS);

	/* TCP is not limited by UDP flows. */
	open_flow(fx, 1);
	assert_int_equal(tg_flowapi_flow_count(fx->api), TG_FLOWAPI_MAX_UDP_FLOWS + 1);
	tg_flow_reset(fx->api, 1);

	for (uint32_t i = 0; i < TG_FLOWAPI_MAX_UDP_FLOWS; i++) {
		tg_flow_udp_close(fx->api, id + i);
		if (i % 64 == 0)
			step(fx);
	}
	PUMP_UNTIL(fx, count_msgs(fx, TG_MSG_CLOSED, id + TG_FLOWAPI_MAX_UDP_FLOWS - 1) == 1);
	assert_int_equal(tg_flowapi_stats(fx->api)->bad_msgs, 0);
	assert_int_equal(tg_flowapi_stats(fx->api)->tx_errors, 0);
	assert_clean(fx);
}

/* A second HELLO: stackd started over; every flow is gone and it gets our HELLO again. */
static void test_peer_restart(void **state)
{
	struct fx *fx = *state;

	struct tg_addr c = addr4(198, 18, 0, 8, 8), d = addr4(198, 19, 0, 8, 8);

	handshake(fx, 65536);
	open_flow(fx, 60);
	open_flow(fx, 61);
	s0_addressed(fx, TG_MSG_UDP, 62, 0, &c, &d, "u", 1);
	PUMP_UNTIL(fx, fx->udps == 1);
	s0_hello(fx, TG_ROLE_STACKD, 32768);
	PUMP_UNTIL(fx, fx->peer_resets == 1 && fx->hellos == 2);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);
	assert_int_equal(tg_flowapi_udp_flow_count(fx->api), 0);
	open_flow(fx, 60);
	assert_int_equal(tg_flow_send_window(fx->api, 60), 32768);
	tg_flow_reset(fx->api, 60);
	assert_clean(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_hello_exchange, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tcp_open_exact, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_data_byte_exact, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_send_respects_credit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_send_waits_for_slots, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_window_violation_resets, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_messages_counted, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lifecycle_close, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_resets_and_id_reuse, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_both_ways, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_largest_datagram, setup_big, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_error_and_closes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_icmp_echo_both_ways, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_icmp_malformed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_batch_both_ways, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_no_batch_for_v1_peer, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_batch_malformed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_flow_limit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_peer_restart, setup, teardown),
	};

	/* Bad messages are logged by design; keep the test output readable. */
	log_init("test_flowapi", TG_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Flow API (shm/flowapi.c) against a stackd played by the test: one link in-process, the
 * test drives side 0 with the raw link API, the API runs side 1 on an event_base. Checks the
 * HELLO exchange, exact delivery of opens and data both ways, the credit rule both ways,
 * that malformed messages are counted and survived, and that every slot and flow is gone at
 * the end of each test.
 */
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

#define SLOT_SIZE  16384u
#define SLOTS      32u
#define BIG        (1024u * 1024u)
#define MAX_LOG    8192u
#define DEADLINE_S 5

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
	struct tg_addr udp_src, udp_dst;
	uint8_t udp_data[64];
	size_t udp_len;

	/* seen by the test's stackd */
	bool hello_ok;
	struct tg_msg_hello hello;
	unsigned hellos;
	struct tg_desc log[MAX_LOG]; /* every message but DATA, in order */
	unsigned nlog;
	uint8_t *down; /* DATA bytes, in order */
	size_t down_len;
	unsigned data_msgs;
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

	fx->udps++;
	fx->udp_src = *src;
	fx->udp_dst = *dst;
	fx->udp_len = len;
	memcpy(fx->udp_data, data, len < sizeof(fx->udp_data) ? len : sizeof(fx->udp_data));
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

static int setup(void **state)
{
	struct tg_link_params params = {
	        .name = "flowapi", .slot_size = SLOT_SIZE, .slot_count = SLOTS, .epoch = 3};
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

static void test_udp_both_ways(void **state)
{
	struct fx *fx = *state;
	struct tg_addr src = addr4(198, 18, 0, 3, 5353), dst = addr4(198, 19, 0, 53, 53);
	uint8_t msg[sizeof(struct tg_msg_udp) + 5];
	struct tg_msg_udp h = {.src = src, .dst = dst};
	const struct tg_desc *u;

	handshake(fx, 65536);
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), "query", 5);
	s0_send(fx, TG_MSG_UDP, 50, 0, msg, sizeof(msg));
	PUMP_UNTIL(fx, fx->udps == 1);
	assert_memory_equal(&fx->udp_src, &src, sizeof(src));
	assert_memory_equal(&fx->udp_dst, &dst, sizeof(dst));
	assert_int_equal(fx->udp_len, 5);
	assert_memory_equal(fx->udp_data, "query", 5);

	assert_int_equal(tg_flow_send_udp(fx->api, 50, &dst, &src, "reply", 5), 0);
	PUMP_UNTIL(fx, (u = last_msg(fx, TG_MSG_UDP)) != NULL);
	assert_int_equal(u->flow, 50);
	assert_int_equal(u->len, sizeof(h) + 5);
	assert_int_equal(tg_flow_send_udp(fx->api, 50, &dst, &src, "x", SLOT_SIZE), -1);
	assert_clean(fx);
}

/* A second HELLO: stackd started over; every flow is gone and it gets our HELLO again. */
static void test_peer_restart(void **state)
{
	struct fx *fx = *state;

	handshake(fx, 65536);
	open_flow(fx, 60);
	open_flow(fx, 61);
	s0_hello(fx, TG_ROLE_STACKD, 32768);
	PUMP_UNTIL(fx, fx->peer_resets == 1 && fx->hellos == 2);
	assert_int_equal(tg_flowapi_flow_count(fx->api), 0);
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
	        cmocka_unit_test_setup_teardown(test_peer_restart, setup, teardown),
	};

	/* Bad messages are logged by design; keep the test output readable. */
	log_init("test_flowapi", TG_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * relayd/socks5_udp.c and the UDP ASSOCIATE parts of socks5.c: the UDP request header both
 * ways, with every malformed case; the ASSOCIATE request and its reply's relay address; and
 * whole associations against a fake proxy on 127.0.0.1 run by this test (setup, the queue,
 * datagrams both ways, drops by kind, the end when the control connection closes, a refusal,
 * a proxy that never answers, one that is not there).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "socks5_udp.h"

static struct tg_addr addr(const char *s)
{
	struct tg_addr a;

	assert_int_equal(tg_addr_parse(s, &a), 0);
	return a;
}

/* ---- the header ---- */

static void test_encode(void **state)
{
	struct tg_addr v4 = addr("198.18.1.2:53"), v6 = addr("[2001:db8:1::2]:443");
	uint8_t buf[SOCKS5_UDP_HDR_MAX];
	static const uint8_t want4[] = {0, 0, 0, 1, 198, 18, 1, 2, 0, 53};
	static const uint8_t want6[] = {0, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0,
	                                0, 0, 0, 0, 0,    0,    0,    0,    2, 1, 0xbb};

	assert_int_equal(socks5_udp_encode_header(&v4, buf, sizeof(buf)), sizeof(want4));
	assert_memory_equal(buf, want4, sizeof(want4));
	assert_int_equal(socks5_udp_encode_header(&v4, buf, sizeof(want4) - 1), 0);
	assert_int_equal(socks5_udp_encode_header(&v6, buf, sizeof(buf)), sizeof(want6));
	assert_memory_equal(buf, want6, sizeof(want6));
	assert_int_equal(socks5_udp_encode_header(&v6, buf, sizeof(want6) - 1), 0);
	v6.family = 0;
	assert_int_equal(socks5_udp_encode_header(&v6, buf, sizeof(buf)), 0);
}

static void test_parse_ok(void **state)
{
	static const uint8_t d4[] = {0, 0, 0, 1, 198, 18, 1, 2, 0, 53, 'a', 'b'};
	uint8_t d6[22] = {0, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, [19] = 2, [20] = 1, [21] = 0xbb};
	struct tg_addr from, want4 = addr("198.18.1.2:53"), want6 = addr("[2001:db8::2]:443");
	size_t hlen = 0;

	assert_int_equal(socks5_udp_parse(d4, sizeof(d4), &from, &hlen), SOCKS5_UDP_OK);
	assert_int_equal(hlen, 10);
	assert_memory_equal(&from, &want4, sizeof(from));
	/* An empty payload is a datagram too. */
	assert_int_equal(socks5_udp_parse(d6, sizeof(d6), &from, &hlen), SOCKS5_UDP_OK);
	assert_int_equal(hlen, 22);
	assert_memory_equal(&from, &want6, sizeof(from));
}

static void test_parse_roundtrip(void **state)
{
	const char *const names[] = {"0.0.0.0:1", "255.255.255.255:65535", "[::]:1",
	                             "[ffff::1]:65535"};
	uint8_t buf[SOCKS5_UDP_HDR_MAX + 3];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct tg_addr a = addr(names[i]), from;
		size_t n = socks5_udp_encode_header(&a, buf, sizeof(buf)), hlen = 0;

		memcpy(buf + n, "xyz", 3);
		assert_int_equal(socks5_udp_parse(buf, n + 3, &from, &hlen), SOCKS5_UDP_OK);
		assert_int_equal(hlen, n);
		assert_memory_equal(&from, &a, sizeof(a));
	}
}

static void test_parse_short(void **state)
{
	static const uint8_t d4[] = {0, 0, 0, 1, 198, 18, 1, 2, 0, 53};
	uint8_t d6[22] = {0, 0, 0, 4};
	struct tg_addr from;
	size_t hlen = 99;

	/* Every strict prefix of a header is short; nothing is written. */
	for (size_t n = 0; n < sizeof(d4); n++)
		assert_int_equal(socks5_udp_parse(d4, n, &from, &hlen), SOCKS5_UDP_SHORT);
	for (size_t n = 0; n < sizeof(d6); n++)
		assert_int_equal(socks5_udp_parse(d6, n, &from, &hlen), SOCKS5_UDP_SHORT);
	assert_int_equal(hlen, 99);
}

static void test_parse_malformed(void **state)
{
	uint8_t d[32] = {0, 0, 0, 1, 198, 18, 1, 2, 0, 53};
	struct tg_addr from;
	size_t hlen = 99;

	for (int b = 0; b < 2; b++) {
		d[b] = 1;
		assert_int_equal(socks5_udp_parse(d, sizeof(d), &from, &hlen), SOCKS5_UDP_RSV);
		d[b] = 0;
	}
	/* Every FRAG but 0 is a fragment, and wins over a bad ATYP behind it. */
	for (unsigned f = 1; f < 256; f++) {
		d[2] = (uint8_t)f;
		d[3] = (uint8_t)(f % 2 ? 1 : 9);
		assert_int_equal(socks5_udp_parse(d, sizeof(d), &from, &hlen), SOCKS5_UDP_FRAG);
		assert_int_equal(socks5_udp_parse(d, 4, &from, &hlen), SOCKS5_UDP_FRAG);
	}
	d[2] = 0;
	for (unsigned t = 0; t < 256; t++) {
		enum socks5_udp_verdict want = t == 1 || t == 4 ? SOCKS5_UDP_OK
		                               : t == 3         ? SOCKS5_UDP_DOMAIN
		                                                : SOCKS5_UDP_ATYP;

		d[3] = (uint8_t)t;
		assert_int_equal(socks5_udp_parse(d, sizeof(d), &from, &hlen), want);
		assert_non_null(socks5_udp_verdict_name(want));
	}
	/* A domain is dropped even when complete: no name can match a flow. */
	static const uint8_t dom[] = {0, 0, 0, 3, 3, 'a', 'b', 'c', 0, 53, 'x'};
	assert_int_equal(socks5_udp_parse(dom, sizeof(dom), &from, &hlen), SOCKS5_UDP_DOMAIN);
}

/* ---- UDP ASSOCIATE in socks5.c ---- */

static void test_associate_request(void **state)
{
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct tg_addr self = addr("198.18.1.1:40000");
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct socks5_client c;
	enum tg_open_result r;
	const char *why;
	uint8_t got[64];
	static const uint8_t req[] = {5, 3, 0, 1, 198, 18, 1, 1, 0x9c, 0x40};
	static const uint8_t replies[] = {5, 0, 5, 0, 0, 1, 198, 18, 1, 2, 0x30, 0x39};
	struct tg_addr relay = addr("198.18.1.2:12345");

	assert_int_equal(socks5_client_start_cmd(&c, &up, SOCKS5_CMD_UDP_ASSOCIATE, &self, out), 0);
	evbuffer_drain(out, 3);
	evbuffer_add(in, replies, 2);
	assert_int_equal(socks5_client_input(&c, in, out, &r, &why), SOCKS5_STEP_MORE);
	assert_int_equal(evbuffer_remove(out, got, sizeof(got)), sizeof(req));
	assert_memory_equal(got, req, sizeof(req));
	evbuffer_add(in, replies + 2, sizeof(replies) - 2);
	assert_int_equal(socks5_client_input(&c, in, out, &r, &why), SOCKS5_STEP_DONE);
	assert_memory_equal(&c.bound, &relay, sizeof(relay));
	evbuffer_free(in);
	evbuffer_free(out);
}

static void test_reply_bound(void **state)
{
	static const uint8_t dom[] = {5, 0, 0, 3, 1, 'x', 0, 80};
	uint8_t v6[22] = {5, 0, 0, 4, [19] = 1, [20] = 0, [21] = 80};
	struct tg_addr b, want6 = addr("[::1]:80");
	enum tg_open_result r;
	const char *why;

	assert_int_equal(socks5_parse_reply(v6, sizeof(v6), &b, &r, &why), 22);
	assert_memory_equal(&b, &want6, sizeof(b));
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(socks5_parse_reply(dom, sizeof(dom), &b, &r, &why), 8);
	assert_int_equal(b.family, 0);
	assert_int_equal(b.port, 0);
	/* Not for an incomplete or refused reply. */
	assert_int_equal(socks5_parse_reply(v6, 21, &b, &r, &why), 0);
	v6[1] = 7;
	assert_int_equal(socks5_parse_reply(v6, sizeof(v6), &b, &r, &why), -1);
	assert_string_equal(why, "command not supported");
}

/* ---- whole associations against a fake proxy on 127.0.0.1 ---- */

struct fake {
	int lfd; /* the proxy's TCP listener */
	int cfd; /* its control connection, once accepted */
	int ufd; /* its relay socket */
	struct tg_addr proxy;
	uint16_t relay_port;
};

struct owner {
	int ready;
	int ended;
	enum tg_open_result result;
	char why[128];
	int got;
	struct tg_addr from;
	uint8_t data[64];
	size_t len;
};

static void own_ready(void *arg)
{
	((struct owner *)arg)->ready++;
}

static void own_datagram(void *arg, const struct tg_addr *from, const uint8_t *data, size_t len)
{
	struct owner *o = arg;

	o->got++;
	o->from = *from;
	o->len = len < sizeof(o->data) ? len : sizeof(o->data);
	memcpy(o->data, data, o->len);
}

static void own_end(void *arg, enum tg_open_result result, const char *why)
{
	struct owner *o = arg;

	o->ended++;
	o->result = result;
	snprintf(o->why, sizeof(o->why), "%s", why);
}

static const struct socks5_udp_cbs cbs = {
        .on_ready = own_ready,
        .on_datagram = own_datagram,
        .on_end = own_end,
};

static int bound_socket(int type, uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct timeval tv = {2, 0};
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*port = ntohs(sin.sin_port);
	return fd;
}

static void fake_open(struct fake *f)
{
	uint16_t port;

	memset(f, 0, sizeof(*f));
	f->cfd = -1;
	f->lfd = bound_socket(SOCK_STREAM, &port);
	assert_int_equal(listen(f->lfd, 4), 0);
	f->proxy = addr("127.0.0.1:1");
	f->proxy.port = port;
	f->ufd = bound_socket(SOCK_DGRAM, &f->relay_port);
}

static void fake_close(struct fake *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	close(f->lfd);
	close(f->ufd);
}

/* Runs relayd's side until cond holds (at most 2 s). */
#define LOOP_UNTIL(base, cond)                                                                     \
	do {                                                                                       \
		for (int i_ = 0; i_ < 2000 && !(cond); i_++) {                                     \
			event_base_loop(base, EVLOOP_NONBLOCK);                                    \
			usleep(1000);                                                              \
		}                                                                                  \
		assert_true(cond);                                                                 \
	} while (0)

/* Reads exactly n bytes from the fake's control connection, running relayd meanwhile. */
static void fake_read(struct event_base *base, struct fake *f, uint8_t *got, size_t n)
{
	size_t have = 0;

	for (int i = 0; i < 2000 && have < n; i++) {
		ssize_t r;

		event_base_loop(base, EVLOOP_NONBLOCK);
		r = recv(f->cfd, got + have, n - have, MSG_DONTWAIT);
		if (r > 0)
			have += (size_t)r;
		else
			usleep(1000);
	}
	assert_int_equal(have, n);
}

static void fake_accept(struct event_base *base, struct fake *f)
{
	for (int i = 0; i < 2000 && f->cfd < 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		f->cfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK);
		if (f->cfd < 0)
			usleep(1000);
	}
	assert_true(f->cfd >= 0);
}

/* Greeting and method, then the ASSOCIATE request: returns the client's UDP end it names. */
static struct tg_addr fake_handshake(struct event_base *base, struct fake *f)
{
	static const uint8_t greet[] = {5, 1, 0}, method[] = {5, 0};
	uint8_t got[3], req[10];
	struct tg_addr self = {.family = TG_AF_INET4};

	fake_accept(base, f);
	fake_read(base, f, got, sizeof(got));
	assert_memory_equal(got, greet, sizeof(greet));
	assert_int_equal(send(f->cfd, method, 2, 0), 2);
	/* VER CMD=3 RSV ATYP=1 ADDR PORT */
	fake_read(base, f, req, sizeof(req));
	assert_int_equal(req[0], 5);
	assert_int_equal(req[1], SOCKS5_CMD_UDP_ASSOCIATE);
	assert_int_equal(req[3], SOCKS5_ATYP_IPV4);
	memcpy(self.ip, req + 4, 4);
	self.port = (uint16_t)(req[8] << 8 | req[9]);
	return self;
}

static void fake_reply(struct fake *f, uint8_t rep, const uint8_t ip[4])
{
	uint8_t r[10] = {5, rep, 0, SOCKS5_ATYP_IPV4};

	memcpy(r + 4, ip, 4);
	r[8] = (uint8_t)(f->relay_port >> 8);
	r[9] = (uint8_t)f->relay_port;

	assert_int_equal(send(f->cfd, r, sizeof(r), 0), (ssize_t)sizeof(r));
}

static void fake_send_to(struct fake *f, const struct tg_addr *to, const void *p, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_int_equal(tg_addr_to_sockaddr(to, &ss, &len), 0);
	assert_int_equal(sendto(f->ufd, p, n, 0, (struct sockaddr *)&ss, len), (ssize_t)n);
}

static void test_assoc_lifecycle(void **state)
{
	struct event_base *base = event_base_new();
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct timeval tmo = {5, 0};
	struct socks5_udp_stats st = {0};
	struct owner o = {0};
	struct fake f;
	struct socks5_udp *a;
	struct tg_addr dst = addr("198.51.100.7:53"), self;
	static const uint8_t zero[4] = {0, 0, 0, 0};
	uint8_t buf[128];
	ssize_t n;

	fake_open(&f);
	up.server = f.proxy;
	a = socks5_udp_new(base, &up, &tmo, &st, &cbs, &o);
	assert_non_null(a);
	self = fake_handshake(base, &f);
	/* Before the reply: held, up to the bound, in order. */
	for (int i = 0; i < SOCKS5_UDP_QUEUE_MAX; i++) {
		uint8_t p = (uint8_t)i;

		assert_int_equal(socks5_udp_send(a, &dst, &p, 1), 1);
	}
	assert_int_equal(socks5_udp_send(a, &dst, "x", 1), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(st.queued, SOCKS5_UDP_QUEUE_MAX);
	assert_int_equal(st.drop_queue_full, 1);
	/* 0.0.0.0: the relay is on the proxy's own address. */
	fake_reply(&f, 0, zero);
	LOOP_UNTIL(base, o.ready == 1);
	assert_int_equal(st.assoc_opened, 1);
	for (int i = 0; i < SOCKS5_UDP_QUEUE_MAX; i++) {
		static const uint8_t hdr[] = {0, 0, 0, 1, 198, 51, 100, 7, 0, 53};

		n = recv(f.ufd, buf, sizeof(buf), 0);
		assert_int_equal(n, 11);
		assert_memory_equal(buf, hdr, sizeof(hdr));
		assert_int_equal(buf[10], i);
	}
	/* Once up: straight out. */
	assert_int_equal(socks5_udp_send(a, &dst, "now", 3), 0);
	n = recv(f.ufd, buf, sizeof(buf), 0);
	assert_int_equal(n, 13);
	assert_memory_equal(buf + 10, "now", 3);

	/* Replies: good, then one of each bad kind, then good again. */
	static const uint8_t good[] = {0, 0, 0, 1, 198, 51, 100, 7, 0, 53, 'o', 'k'};
	static const uint8_t frag[] = {0, 0, 1, 1, 198, 51, 100, 7, 0, 53, 'f'};
	static const uint8_t shrt[] = {0, 0, 0};
	static const uint8_t cut[] = {0, 0, 0, 1, 198, 51, 100};
	static const uint8_t rsv[] = {0, 1, 0, 1, 198, 51, 100, 7, 0, 53, 'r'};
	static const uint8_t atyp[] = {0, 0, 0, 9, 198, 51, 100, 7, 0, 53, 't'};
	static const uint8_t dom[] = {0, 0, 0, 3, 1, 'h', 0, 53, 'd'};
	const struct {
		const uint8_t *p;
		size_t n;
	} bad[] = {{frag, sizeof(frag)}, {shrt, sizeof(shrt)}, {cut, sizeof(cut)},
	           {rsv, sizeof(rsv)},   {atyp, sizeof(atyp)}, {dom, sizeof(dom)}};

	fake_send_to(&f, &self, good, sizeof(good));
	LOOP_UNTIL(base, o.got == 1);
	assert_memory_equal(&o.from, &dst, sizeof(dst));
	assert_int_equal(o.len, 2);
	assert_memory_equal(o.data, "ok", 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		fake_send_to(&f, &self, bad[i].p, bad[i].n);
	fake_send_to(&f, &self, good, sizeof(good));
	LOOP_UNTIL(base, o.got == 2);
	assert_int_equal(st.drop_frag, 1);
	assert_int_equal(st.drop_header, 5);

	/* Another sender than the relay: the connected socket never hands it over. */
	{
		uint16_t p;
		int other = bound_socket(SOCK_DGRAM, &p);
		struct sockaddr_storage ss;
		socklen_t len;

		tg_addr_to_sockaddr(&self, &ss, &len);
		sendto(other, good, sizeof(good), 0, (struct sockaddr *)&ss, len);
		fake_send_to(&f, &self, good, sizeof(good));
		LOOP_UNTIL(base, o.got == 3);
		for (int i = 0; i < 50; i++) {
			event_base_loop(base, EVLOOP_NONBLOCK);
			usleep(1000);
		}
		assert_int_equal(o.got, 3);
		close(other);
	}

	/* The proxy closes the control connection: the association is over. */
	close(f.cfd);
	f.cfd = -1;
	LOOP_UNTIL(base, o.ended == 1);
	assert_int_equal(o.result, TG_OPEN_REJECTED);
	assert_string_equal(o.why, "the proxy closed the association");
	assert_int_equal(st.assoc_ended, 1);
	assert_int_equal(st.assoc_failed, 0);
	socks5_udp_free(a);
	fake_close(&f);
	event_base_free(base);
}

static void test_assoc_refused(void **state)
{
	struct event_base *base = event_base_new();
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct timeval tmo = {5, 0};
	struct socks5_udp_stats st = {0};
	struct owner o = {0};
	struct fake f;
	struct socks5_udp *a;
	struct tg_addr dst = addr("198.51.100.7:53");
	static const uint8_t any[4] = {0, 0, 0, 0};

	fake_open(&f);
	up.server = f.proxy;
	a = socks5_udp_new(base, &up, &tmo, &st, &cbs, &o);
	assert_non_null(a);
	assert_int_equal(socks5_udp_send(a, &dst, "q", 1), 1);
	fake_handshake(base, &f);
	fake_reply(&f, 0x07, any); /* command not supported: microsocks */
	LOOP_UNTIL(base, o.ended == 1);
	assert_int_equal(o.ready, 0);
	assert_int_equal(o.result, TG_OPEN_REJECTED);
	assert_string_equal(o.why, "command not supported");
	assert_int_equal(st.assoc_failed, 1);
	assert_int_equal(st.assoc_opened, 0);
	socks5_udp_free(a); /* frees the queued datagram too (ASan: no leak) */
	fake_close(&f);
	event_base_free(base);
}

static void test_assoc_timeout(void **state)
{
	struct event_base *base = event_base_new();
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct timeval tmo = {0, 200000};
	struct socks5_udp_stats st = {0};
	struct owner o = {0};
	struct fake f;
	struct socks5_udp *a;

	fake_open(&f);
	up.server = f.proxy;
	a = socks5_udp_new(base, &up, &tmo, &st, &cbs, &o);
	assert_non_null(a);
	fake_accept(base, &f); /* and never answers */
	LOOP_UNTIL(base, o.ended == 1);
	assert_int_equal(o.result, TG_OPEN_TIMEOUT);
	assert_int_equal(st.assoc_failed, 1);
	socks5_udp_free(a);
	fake_close(&f);
	event_base_free(base);
}

static void test_assoc_no_proxy(void **state)
{
	struct event_base *base = event_base_new();
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct timeval tmo = {5, 0};
	struct socks5_udp_stats st = {0};
	struct owner o = {0};
	struct socks5_udp *a;
	uint16_t port;
	int fd = bound_socket(SOCK_STREAM, &port); /* bound, not listening: refused */

	up.server = addr("127.0.0.1:1");
	up.server.port = port;
	a = socks5_udp_new(base, &up, &tmo, &st, &cbs, &o);
	assert_non_null(a);
	LOOP_UNTIL(base, o.ended == 1);
	assert_int_equal(o.result, TG_OPEN_REJECTED);
	assert_string_equal(o.why, "cannot connect to the proxy");
	assert_int_equal(st.assoc_failed, 1);
	socks5_udp_free(a);
	close(fd);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_encode),          cmocka_unit_test(test_parse_ok),
	        cmocka_unit_test(test_parse_roundtrip), cmocka_unit_test(test_parse_short),
	        cmocka_unit_test(test_parse_malformed), cmocka_unit_test(test_associate_request),
	        cmocka_unit_test(test_reply_bound),     cmocka_unit_test(test_assoc_lifecycle),
	        cmocka_unit_test(test_assoc_refused),   cmocka_unit_test(test_assoc_timeout),
	        cmocka_unit_test(test_assoc_no_proxy),
	};

	log_init("test_socks5_udp", TG_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

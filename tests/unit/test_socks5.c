/*
 * relayd/socks5.c: the request encoders byte for byte, the reply parsers on valid, short and
 * malformed replies (each reply code's open result), and one handshake over evbuffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "socks5.h"

static struct tg_addr v4(const char *s)
{
	struct tg_addr a;

	assert_int_equal(tg_addr_parse(s, &a), 0);
	return a;
}

/* ---- encoders ---- */

static void test_greeting(void **state)
{
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	uint8_t buf[8];
	static const uint8_t none[] = {5, 1, 0}, user[] = {5, 1, 2};

	assert_int_equal(socks5_encode_greeting(&up, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, none, 3);
	assert_int_equal(socks5_set_auth(&up, "u", "p"), 0);
	assert_int_equal(socks5_encode_greeting(&up, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, user, 3);
	assert_int_equal(socks5_encode_greeting(&up, buf, 2), 0);
}

static void test_auth(void **state)
{
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	uint8_t buf[SOCKS5_MSG_MAX];
	static const uint8_t want[] = {1, 4, 'u', 's', 'e', 'r', 6, 's', 'e', 'c', 'r', 'e', 't'};
	char big[300];

	assert_int_equal(socks5_encode_auth(&up, buf, sizeof(buf)), 0); /* no credentials */
	assert_int_equal(socks5_set_auth(&up, "user", "secret"), 0);
	assert_int_equal(socks5_encode_auth(&up, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(socks5_encode_auth(&up, buf, sizeof(want) - 1), 0);
	/* Both or neither; at most 255 bytes each. */
	assert_int_equal(socks5_set_auth(&up, "user", NULL), -1);
	assert_int_equal(socks5_set_auth(&up, "", "pw"), -1);
	memset(big, 'x', sizeof(big));
	big[255] = '\0';
	assert_int_equal(socks5_set_auth(&up, big, big), 0);
	assert_int_equal(socks5_encode_auth(&up, buf, sizeof(buf)), 3 + 2 * 255);
	big[256] = '\0';
	big[255] = 'x';
	assert_int_equal(socks5_set_auth(&up, big, "pw"), -1);
	assert_int_equal(socks5_set_auth(&up, NULL, NULL), 0);
	assert_int_equal(up.user_len, 0);
}

static void test_connect_v4(void **state)
{
	struct tg_addr dst = v4("198.18.1.2:8080");
	uint8_t buf[32];
	static const uint8_t want[] = {5, 1, 0, 1, 198, 18, 1, 2, 0x1f, 0x90};

	assert_int_equal(socks5_encode_connect(&dst, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(socks5_encode_connect(&dst, buf, sizeof(want) - 1), 0);
}

static void test_connect_v6(void **state)
{
	struct tg_addr dst = v4("[2001:db8:1::2]:443");
	uint8_t buf[32];
	static const uint8_t want[] = {5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0,
	                               0, 0, 0, 0, 0,    0,    0,    0,    2, 1, 0xbb};

	assert_int_equal(socks5_encode_connect(&dst, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	dst.family = 9;
	assert_int_equal(socks5_encode_connect(&dst, buf, sizeof(buf)), 0);
}

static void test_addr_parse(void **state)
{
	struct tg_addr a;

	assert_int_equal(tg_addr_parse("198.18.1.2:1080", &a), 0);
	assert_int_equal(a.family, TG_AF_INET4);
	assert_int_equal(a.port, 1080);
	assert_int_equal(tg_addr_parse("[::1]:65535", &a), 0);
	assert_int_equal(a.family, TG_AF_INET6);
	static const char *const bad[] = {"",
	                                  "198.18.1.2",
	                                  "198.18.1.2:",
	                                  "198.18.1.2:0",
	                                  "1.2.3.4:65536",
	                                  "1.2.3.4:80x",
	                                  "::1:80",
	                                  "[::1]80",
	                                  "[1.2.3.4]:80",
	                                  "host:80",
	                                  "1.2.3.4:-1",
	                                  "[]:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tg_addr_parse(bad[i], &a), -1);
}

/* ---- parsers ---- */

static void test_method_reply(void **state)
{
	enum tg_open_result r;
	const char *why;
	static const uint8_t ok[] = {5, 0}, user[] = {5, 2}, v4[] = {4, 0}, none[] = {5, 0xff};

	assert_int_equal(socks5_parse_method(ok, 0, 0, &r, &why), 0);
	assert_int_equal(socks5_parse_method(ok, 1, 0, &r, &why), 0);
	assert_int_equal(socks5_parse_method(ok, 2, 0, &r, &why), 2);
	assert_int_equal(r, TG_OPEN_OK);
	assert_int_equal(socks5_parse_method(user, 2, 2, &r, &why), 2);
	/* A method we did not offer, no method, not SOCKS5. */
	assert_int_equal(socks5_parse_method(user, 2, 0, &r, &why), -1);
	assert_int_equal(r, TG_OPEN_REJECTED);
	assert_int_equal(socks5_parse_method(none, 2, 0, &r, &why), -1);
	assert_int_equal(r, TG_OPEN_REJECTED);
	assert_int_equal(socks5_parse_method(v4, 2, 0, &r, &why), -1);
	assert_int_equal(r, TG_OPEN_REJECTED);
}

static void test_auth_reply(void **state)
{
	enum tg_open_result r;
	const char *why;
	static const uint8_t ok[] = {1, 0}, denied[] = {1, 1}, v5[] = {5, 0};

	assert_int_equal(socks5_parse_auth(ok, 1, &r, &why), 0);
	assert_int_equal(socks5_parse_auth(ok, 2, &r, &why), 2);
	assert_int_equal(r, TG_OPEN_OK);
	assert_int_equal(socks5_parse_auth(denied, 2, &r, &why), -1);
	assert_int_equal(r, TG_OPEN_REJECTED);
	assert_int_equal(socks5_parse_auth(v5, 2, &r, &why), -1);
	assert_int_equal(r, TG_OPEN_REJECTED);
}

static void test_connect_reply_ok(void **state)
{
	enum tg_open_result r;
	const char *why;
	static const uint8_t rv4[] = {5, 0, 0, 1, 198, 18, 1, 2, 0x04, 0x38, 'X'};
	uint8_t rv6[4 + 16 + 2] = {5, 0, 0, 4};
	static const uint8_t dom[] = {5, 0, 0, 3, 3, 'a', 'b', 'c', 0, 80, 'Y'};

	/* Every prefix is "need more"; the full reply takes exactly its own bytes. */
	for (size_t n = 0; n < 10; n++)
		assert_int_equal(socks5_parse_connect(rv4, n, &r, &why), 0);
	assert_int_equal(socks5_parse_connect(rv4, sizeof(rv4), &r, &why), 10);
	assert_int_equal(r, TG_OPEN_OK);
	for (size_t n = 0; n < sizeof(rv6); n++)
		assert_int_equal(socks5_parse_connect(rv6, n, &r, &why), 0);
	assert_int_equal(socks5_parse_connect(rv6, sizeof(rv6), &r, &why), 22);
	for (size_t n = 0; n < 10; n++)
		assert_int_equal(socks5_parse_connect(dom, n, &r, &why), 0);
	assert_int_equal(socks5_parse_connect(dom, sizeof(dom), &r, &why), 10);
	assert_int_equal(r, TG_OPEN_OK);
}

static void test_connect_reply_malformed(void **state)
{
	enum tg_open_result r;
	const char *why;
	static const uint8_t ver[] = {4, 0, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t rsv[] = {5, 0, 1, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp0[] = {5, 0, 0, 0, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp2[] = {5, 0, 0, 2, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp5[] = {5, 0, 0, 5, 1, 2, 3, 4, 0, 80};
	static const uint8_t empty[] = {5, 0, 0, 3, 0, 0, 80};
	/* A domain length of 255 with fewer bytes behind it: waits, reads nothing beyond. */
	static const uint8_t longdom[] = {5, 0, 0, 3, 255, 'a', 'b'};
	const uint8_t *bad[] = {ver, rsv, atyp0, atyp2, atyp5, empty};
	const size_t len[] = {sizeof(ver),   sizeof(rsv),   sizeof(atyp0),
	                      sizeof(atyp2), sizeof(atyp5), sizeof(empty)};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = TG_OPEN_OK;
		assert_int_equal(socks5_parse_connect(bad[i], len[i], &r, &why), -1);
		assert_int_equal(r, TG_OPEN_REJECTED);
	}
	assert_int_equal(socks5_parse_connect(longdom, sizeof(longdom), &r, &why), 0);
}

static void test_reply_codes(void **state)
{
	static const enum tg_open_result want[] = {
	        TG_OPEN_OK,          TG_OPEN_REJECTED,    TG_OPEN_REJECTED,
	        TG_OPEN_UNREACHABLE, TG_OPEN_UNREACHABLE, TG_OPEN_REFUSED,
	        TG_OPEN_TIMEOUT,     TG_OPEN_REJECTED,    TG_OPEN_REJECTED,
	};
	enum tg_open_result r;
	const char *why;

	for (unsigned rep = 1; rep < 256; rep++) {
		/* A refusal counts from its first four bytes, whatever its address. */
		uint8_t reply[4] = {5, (uint8_t)rep, 0, 0x77};
		enum tg_open_result expect = rep < 9 ? want[rep] : TG_OPEN_REJECTED;

		assert_int_equal(socks5_reply_result((uint8_t)rep), expect);
		assert_int_equal(socks5_parse_connect(reply, 3, &r, &why), 0);
		assert_int_equal(socks5_parse_connect(reply, 4, &r, &why), -1);
		assert_int_equal(r, expect);
		assert_non_null(why);
	}
	assert_int_equal(socks5_reply_result(0), TG_OPEN_OK);
}

/* ---- the handshake over evbuffers ---- */

static void test_client_handshake(void **state)
{
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct tg_addr dst = v4("198.18.1.2:80");
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct socks5_client c;
	enum tg_open_result r;
	const char *why;
	uint8_t got[64];
	static const uint8_t greet[] = {5, 1, 2}, auth[] = {1, 1, 'u', 1, 'p'};
	static const uint8_t conn[] = {5, 1, 0, 1, 198, 18, 1, 2, 0, 80};
	/* Method and auth replies at once, then the CONNECT reply split, with data behind. */
	static const uint8_t replies[] = {5, 2, 1, 0, 5, 0, 0, 1, 9, 9, 9, 9, 0, 1, 'D', 'A'};

	assert_int_equal(socks5_set_auth(&up, "u", "p"), 0);
	assert_int_equal(socks5_client_start(&c, &up, &dst, out), 0);
	assert_int_equal(evbuffer_remove(out, got, sizeof(got)), sizeof(greet));
	assert_memory_equal(got, greet, sizeof(greet));
	evbuffer_add(in, replies, 6);
	assert_int_equal(socks5_client_input(&c, in, out, &r, &why), SOCKS5_STEP_MORE);
	assert_int_equal(evbuffer_remove(out, got, sizeof(auth)), sizeof(auth));
	assert_memory_equal(got, auth, sizeof(auth));
	assert_int_equal(evbuffer_remove(out, got, sizeof(got)), sizeof(conn));
	assert_memory_equal(got, conn, sizeof(conn));
	evbuffer_add(in, replies + 6, sizeof(replies) - 6);
	assert_int_equal(socks5_client_input(&c, in, out, &r, &why), SOCKS5_STEP_DONE);
	/* The server's bytes stay for the relay. */
	assert_int_equal(evbuffer_get_length(in), 2);
	evbuffer_free(in);
	evbuffer_free(out);
}

static void test_client_auth_denied(void **state)
{
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct tg_addr dst = v4("198.18.1.2:80");
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct socks5_client c;
	enum tg_open_result r = TG_OPEN_OK;
	const char *why = NULL;
	static const uint8_t replies[] = {5, 2, 1, 1};

	assert_int_equal(socks5_set_auth(&up, "u", "wrong"), 0);
	assert_int_equal(socks5_client_start(&c, &up, &dst, out), 0);
	evbuffer_add(in, replies, sizeof(replies));
	assert_int_equal(socks5_client_input(&c, in, out, &r, &why), SOCKS5_STEP_FAILED);
	assert_int_equal(r, TG_OPEN_REJECTED);
	assert_string_equal(why, "authentication failed");
	evbuffer_free(in);
	evbuffer_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_greeting),
	        cmocka_unit_test(test_auth),
	        cmocka_unit_test(test_connect_v4),
	        cmocka_unit_test(test_connect_v6),
	        cmocka_unit_test(test_addr_parse),
	        cmocka_unit_test(test_method_reply),
	        cmocka_unit_test(test_auth_reply),
	        cmocka_unit_test(test_connect_reply_ok),
	        cmocka_unit_test(test_connect_reply_malformed),
	        cmocka_unit_test(test_reply_codes),
	        cmocka_unit_test(test_client_handshake),
	        cmocka_unit_test(test_client_auth_denied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

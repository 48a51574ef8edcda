/*
 * relayd/dest_policy.c: which direct destinations are refused, and the after-connect check
 * that a socket reached this host itself (over real loopback sockets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dest_policy.h"

static bool forbidden(const char *s)
{
	struct tg_addr a;

	assert_int_equal(tg_addr_parse(s, &a), 0);
	return relay_dest_forbidden(&a);
}

static void test_refused_destinations(void **state)
{
	(void)state;
	assert_true(forbidden("127.0.0.1:22"));
	assert_true(forbidden("127.255.0.9:80"));
	assert_true(forbidden("0.0.0.0:80"));
	assert_true(forbidden("0.1.2.3:80"));
	assert_true(forbidden("224.0.0.1:5353"));
	assert_true(forbidden("239.255.255.250:1900"));
	assert_true(forbidden("255.255.255.255:67"));
	assert_true(forbidden("[::1]:22"));
	assert_true(forbidden("[::]:22"));
	assert_true(forbidden("[ff02::1]:547"));
	assert_true(forbidden("[::ffff:127.0.0.1]:22"));
	assert_true(forbidden("[::ffff:0.0.0.0]:22"));
}

static void test_allowed_destinations(void **state)
{
	(void)state;
	assert_false(forbidden("198.18.1.2:80"));
	assert_false(forbidden("10.0.0.1:443"));
	assert_false(forbidden("223.255.255.255:80"));
	assert_false(forbidden("126.255.255.255:80"));
	assert_false(forbidden("[2001:db8::1]:80"));
	assert_false(forbidden("[::2]:80"));
	assert_false(forbidden("[fe80::1]:80"));
	assert_false(forbidden("[::ffff:198.18.1.2]:80"));
}

static void test_bad_family_refused(void **state)
{
	struct tg_addr a = {.family = 9};

	(void)state;
	assert_true(relay_dest_forbidden(&a));
}

/* A UDP socket connected to 127.0.0.1 talks to this host: source == destination. */
static void test_local_socket(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	(void)state;
	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_true(relay_socket_is_local(fd));
	close(fd);
}

/* 127.0.0.2 is answered from 127.0.0.1: not "the same address", so only the prefix check
 * catches it; and an unconnected socket is not local. */
static void test_not_local_socket(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	(void)state;
	assert_true(fd >= 0);
	assert_false(relay_socket_is_local(fd));
	sin.sin_addr.s_addr = htonl(0x7f000002);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_false(relay_socket_is_local(fd));
	close(fd);
}

/* 127.0.0.1 is this host's own; 127.0.0.2 too (lo owns 127/8); TEST-NET-2 is not. */
static void test_dest_is_self(void **state)
{
	struct tg_addr a;

	(void)state;
	assert_int_equal(tg_addr_parse("127.0.0.1:80", &a), 0);
	assert_true(relay_dest_is_self(&a));
	assert_int_equal(tg_addr_parse("198.51.100.7:80", &a), 0);
	/* Without a route the connect fails: not ours either way. */
	assert_false(relay_dest_is_self(&a));
}

/* A verdict is asked of the kernel once per address and second, then remembered. */
static void test_dest_is_self_cached(void **state)
{
	struct tg_addr lo, lo_other_port, other;
	uint64_t probes = relay_dest_self_probes();
	const uint64_t t0 = UINT64_C(1) << 50; /* later than any entry the other tests left */

	(void)state;
	assert_int_equal(tg_addr_parse("127.0.0.1:80", &lo), 0);
	assert_int_equal(tg_addr_parse("127.0.0.1:443", &lo_other_port), 0);
	assert_int_equal(tg_addr_parse("198.51.100.7:80", &other), 0);
	assert_true(relay_dest_is_self_at(&lo, t0));
	assert_int_equal(relay_dest_self_probes(), probes + 1);
	assert_true(relay_dest_is_self_at(&lo, t0 + 999));
	assert_true(relay_dest_is_self_at(&lo_other_port, t0 + 10)); /* the port does not matter */
	assert_int_equal(relay_dest_self_probes(), probes + 1);
	assert_false(relay_dest_is_self_at(&other, t0 + 10)); /* another address: asked */
	assert_int_equal(relay_dest_self_probes(), probes + 2);
	assert_true(relay_dest_is_self_at(&lo, t0 + 1000)); /* expired: asked again */
	assert_int_equal(relay_dest_self_probes(), probes + 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_refused_destinations),
	        cmocka_unit_test(test_allowed_destinations),
	        cmocka_unit_test(test_bad_family_refused),
	        cmocka_unit_test(test_local_socket),
	        cmocka_unit_test(test_not_local_socket),
	        cmocka_unit_test(test_dest_is_self),
	        cmocka_unit_test(test_dest_is_self_cached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * common/inet_csum.c against known vectors: RFC 1071's worked example, an IPv4 header, odd
 * lengths, sums chained over pieces, and carries past 32 bits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inet_csum.h"

/* RFC 1071 section 3: these bytes sum to 0x2ddf0, folded 0xddf2, complemented 0x220d. */
static const uint8_t rfc1071[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

static void test_rfc1071_example(void **state)
{
	(void)state;
	assert_int_equal(tg_csum_add(rfc1071, sizeof(rfc1071), 0), 0x2ddf0);
	assert_int_equal(tg_csum_fold(0x2ddf0), 0xddf2);
	assert_int_equal(tg_csum(rfc1071, sizeof(rfc1071)), 0x220d);
	/* The same bytes in any even split, and in any order of 16-bit words (commutative). */
	assert_int_equal(tg_csum_add(rfc1071 + 4, 4, tg_csum_add(rfc1071, 4, 0)), 0x2ddf0);
	assert_int_equal(tg_csum_add(rfc1071, 2, tg_csum_add(rfc1071 + 2, 6, 0)), 0x2ddf0);
}

/* An IPv4 header (20 bytes, checksum field zero) whose checksum is well known: 0xb861. */
static void test_ipv4_header(void **state)
{
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	(void)state;
	assert_int_equal(tg_csum(h, sizeof(h)), 0xb861);
	/* With the checksum in place the header verifies: the sum folds to 0xffff. */
	h[10] = 0xb8;
	h[11] = 0x61;
	assert_int_equal(tg_csum_fold(tg_csum_add(h, sizeof(h), 0)), 0xffff);
	assert_int_equal(tg_csum(h, sizeof(h)), 0);
}

/* An odd last byte is the high half of a word padded with zero. */
static void test_odd_lengths(void **state)
{
	static const uint8_t pad[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0x00};

	(void)state;
	assert_int_equal(tg_csum_add(rfc1071, 1, 0), 0x0000);
	assert_int_equal(tg_csum_add(rfc1071 + 2, 1, 0), 0xf200);
	assert_int_equal(tg_csum_add(rfc1071, 3, 0), 0xf201);
	assert_int_equal(tg_csum(rfc1071, 3), 0x0dfe);
	/* 7 bytes are the 8 with a zero last byte, and the RFC's sum less 0xf7. */
	assert_int_equal(tg_csum_add(rfc1071, 7, 0), tg_csum_add(pad, 8, 0));
	assert_int_equal(tg_csum_add(rfc1071, 7, 0), 0x2ddf0 - 0xf7);
	/* An odd piece may end a chain. */
	assert_int_equal(tg_csum_add(rfc1071 + 6, 1, tg_csum_add(rfc1071, 6, 0)),
	                 tg_csum_add(rfc1071, 7, 0));
	assert_int_equal(tg_csum_add(rfc1071, 0, 0x1234), 0x1234);
	assert_int_equal(tg_csum(rfc1071, 0), 0xffff);
}

/*
 * 0x10001 words of 0xffff sum to 0xffffffff; one more goes past 32 bits (0x1_0000_fffe) and
 * the carry comes back in: 0xffff. The one's complement sum of any number of 0xffff words is
 * 0xffff, so their checksum is 0.
 */
static void test_carries(void **state)
{
	size_t words = 0x10002u;
	uint8_t *ff = malloc(2 * words + 1);

	(void)state;
	assert_non_null(ff);
	memset(ff, 0xff, 2 * words + 1);
	assert_int_equal(tg_csum_add(ff, 2 * (words - 1), 0), 0xffffffffu);
	assert_int_equal(tg_csum_add(ff, 2 * words, 0), 0xffffu);
	assert_int_equal(tg_csum(ff, 2 * words), 0);
	assert_int_equal(tg_csum_fold(tg_csum_add(ff, 2 * 0x10000u, 0)), 0xffff);
	/* A starting sum near the top carries too: 0xffffffff + 0xffff -> 0xffff. */
	assert_int_equal(tg_csum_add(ff, 2, 0xffffffffu), 0xffffu);
	/* Odd: 0xff00 more, and the checksum of 0xffff + 0xff00 (0xff00 folded) is 0x00ff. */
	assert_int_equal(tg_csum_add(ff, 2 * words + 1, 0), 0xffffu + 0xff00u);
	assert_int_equal(tg_csum(ff, 2 * words + 1), 0x00ff);
	assert_int_equal(tg_csum_fold(0xffffffffu), 0xffff);
	assert_int_equal(tg_csum_fold(0x0001fffeu), 0xffff);
	free(ff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc1071_example),
	        cmocka_unit_test(test_ipv4_header),
	        cmocka_unit_test(test_odd_lengths),
	        cmocka_unit_test(test_carries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

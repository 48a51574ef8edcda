/*
 * The UDP_BATCH slot layout (shm/udp_batch.c): what the writer packs the reader gives back
 * byte-exact and in order; a lone datagram becomes a plain UDP message; and the strict reader
 * refuses every malformed batch (short, bad count, a record or a length prefix past the end,
 * a record larger than a UDP payload, bytes after the last record) without reading outside
 * the buffer, also when the buffer changes between the check and the walk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"
#include "proto.h"
#include "udp_batch.h"

#define SLOT 65600u /* link B's slot */
#define HDR  ((uint32_t)sizeof(struct tg_msg_udp))

static uint8_t slot[SLOT];

static struct tg_msg_udp header4(void)
{
	struct tg_msg_udp h = {
	        .src = {.family = TG_AF_INET4, .port = 40000, .ip = {198, 18, 0, 2}},
	        .dst = {.family = TG_AF_INET4, .port = 9, .ip = {198, 19, 0, 1}},
	};

	return h;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u);
}

static void put_u16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Several records of different sizes, a zero-length one among them, come back in order. */
static void test_pack_unpack(void **state)
{
	static const size_t lens[] = {1400, 0, 1, 1400, 512, 65507 - 3 * 1400 - 513};
	struct tg_msg_udp h = header4(), got;
	struct tg_udp_batch_writer w;
	struct tg_udp_batch_reader r;
	static uint8_t data[6][65507];
	const uint8_t *p;
	uint32_t len, arg, n = 6;
	uint16_t type;

	tg_udp_batch_start(&w, slot, SLOT, &h);
	for (unsigned i = 0; i < n; i++) {
		fill(data[i], lens[i], i);
		assert_int_equal(tg_udp_batch_add(&w, data[i], lens[i]), 0);
	}
	len = tg_udp_batch_finish(&w, &type, &arg);
	assert_int_equal(type, TG_MSG_UDP_BATCH);
	assert_int_equal(arg, n);
	assert_int_equal(len, HDR + 6 * TG_UDP_BATCH_REC_HDR + 1400 + 0 + 1 + 1400 + 512 +
	                              (65507 - 3 * 1400 - 513));

	assert_int_equal(tg_udp_batch_check(slot, len, arg, &got), TG_UDP_BATCH_OK);
	assert_memory_equal(&got, &h, sizeof(h));
	tg_udp_batch_read(&r, slot, len, arg, &got);
	for (unsigned i = 0; i < n; i++) {
		assert_true(tg_udp_batch_next(&r, &p, &len));
		assert_int_equal(len, lens[i]);
		if (lens[i] > 0)
			assert_memory_equal(p, data[i], lens[i]);
		assert_true(p >= slot && p + len <= slot + SLOT);
	}
	assert_false(tg_udp_batch_next(&r, &p, &len));
}

/* One datagram is sent as a plain UDP message: header, then the datagram, no prefix. */
static void test_single_becomes_plain_udp(void **state)
{
	struct tg_msg_udp h = header4();
	struct tg_udp_batch_writer w;
	uint8_t data[300];
	uint32_t len, arg = 99;
	uint16_t type;

	fill(data, sizeof(data), 5);
	tg_udp_batch_start(&w, slot, SLOT, &h);
	assert_int_equal(tg_udp_batch_add(&w, data, sizeof(data)), 0);
	len = tg_udp_batch_finish(&w, &type, &arg);
	assert_int_equal(type, TG_MSG_UDP);
	assert_int_equal(arg, 0);
	assert_int_equal(len, HDR + sizeof(data));
	assert_memory_equal(slot, &h, HDR);
	assert_memory_equal(slot + HDR, data, sizeof(data));

	/* An empty datagram alone: just the header. */
	tg_udp_batch_start(&w, slot, SLOT, &h);
	assert_int_equal(tg_udp_batch_add(&w, NULL, 0), 0);
	assert_int_equal(tg_udp_batch_finish(&w, &type, &arg), HDR);
	assert_int_equal(type, TG_MSG_UDP);
}

/* The writer refuses what does not fit, and what would exceed the record count; nothing moves. */
static void test_writer_limits(void **state)
{
	struct tg_msg_udp h = header4();
	struct tg_udp_batch_writer w;
	static uint8_t data[65535];
	uint32_t before;

	tg_udp_batch_start(&w, slot, 200, &h);
	assert_int_equal(tg_udp_batch_add(&w, data, 200 - HDR - TG_UDP_BATCH_REC_HDR + 1), -1);
	assert_int_equal(w.count, 0);
	assert_int_equal(tg_udp_batch_add(&w, data, 200 - HDR - TG_UDP_BATCH_REC_HDR), 0);
	assert_int_equal(w.len, 200);
	assert_int_equal(tg_udp_batch_add(&w, NULL, 0), -1); /* not even a prefix fits */

	/* Larger than any UDP payload, even in a big slot. */
	tg_udp_batch_start(&w, slot, SLOT, &h);
	assert_int_equal(tg_udp_batch_add(&w, data, 65528), -1);
	assert_int_equal(tg_udp_batch_add(&w, data, 65527), 0);

	/* At most TG_UDP_BATCH_MAX records, however small. */
	tg_udp_batch_start(&w, slot, SLOT, &h);
	for (unsigned i = 0; i < TG_UDP_BATCH_MAX; i++)
		assert_int_equal(tg_udp_batch_add(&w, data, 1), 0);
	before = w.len;
	assert_null(tg_udp_batch_reserve(&w, 1));
	assert_int_equal(w.len, before);
	assert_int_equal(w.count, TG_UDP_BATCH_MAX);
}

/* Builds header + records with the given prefixes and payload sizes; returns the length. */
static uint32_t build(const uint16_t *prefix, const uint32_t *body, unsigned n)
{
	struct tg_msg_udp h = header4();
	uint32_t off = HDR;

	memcpy(slot, &h, HDR);
	for (unsigned i = 0; i < n; i++) {
		put_u16(slot + off, prefix[i]);
		off += TG_UDP_BATCH_REC_HDR;
		memset(slot + off, 0xab, body[i]);
		off += body[i];
	}
	return off;
}

static enum tg_udp_batch_verdict check(uint32_t len, uint32_t count)
{
	struct tg_msg_udp h;

	return tg_udp_batch_check(slot, len, count, &h);
}

static void test_malformed(void **state)
{
	const uint16_t ok_prefix[] = {10, 0, 20};
	const uint32_t ok_body[] = {10, 0, 20};
	uint32_t len = build(ok_prefix, ok_body, 3);

	assert_int_equal(check(len, 3), TG_UDP_BATCH_OK);
	/* Shorter than the header; no records; too many records. */
	assert_int_equal(check(HDR - 1, 1), TG_UDP_BATCH_SHORT);
	assert_int_equal(check(0, 1), TG_UDP_BATCH_SHORT);
	assert_int_equal(check(len, 0), TG_UDP_BATCH_COUNT);
	assert_int_equal(check(len, TG_UDP_BATCH_MAX + 1), TG_UDP_BATCH_COUNT);
	assert_int_equal(check(len, 0xffffffffu), TG_UDP_BATCH_COUNT);
	/* The count claims more records than there are; fewer leaves bytes over. */
	assert_int_equal(check(len, 4), TG_UDP_BATCH_TRUNCATED);
	assert_int_equal(check(len, 2), TG_UDP_BATCH_TRAILING);
	/* Cut inside the last record, inside a length prefix, right after the header. */
	assert_int_equal(check(len - 1, 3), TG_UDP_BATCH_TRUNCATED);
	assert_int_equal(check(HDR + 12 + 1, 3), TG_UDP_BATCH_TRUNCATED);
	assert_int_equal(check(HDR, 1), TG_UDP_BATCH_TRUNCATED);
	/* One byte after the last record. */
	assert_int_equal(check(len + 1, 3), TG_UDP_BATCH_TRAILING);
}

/* A record whose length claims more than the slot holds, or more than a UDP payload. */
static void test_record_claims_too_much(void **state)
{
	const uint16_t prefix[] = {100, 65000};
	const uint32_t body[] = {100, 10};
	uint16_t big_prefix[] = {65535};
	uint32_t big_body[] = {0};
	uint32_t len = build(prefix, body, 2);
	struct tg_udp_batch_reader r;
	struct tg_msg_udp h = header4();
	const uint8_t *p;
	uint32_t dlen;

	assert_int_equal(check(len, 2), TG_UDP_BATCH_TRUNCATED);
	/* The walk stops at the bad record: the first is still handed out, never the second. */
	tg_udp_batch_read(&r, slot, len, 2, &h);
	assert_true(tg_udp_batch_next(&r, &p, &dlen));
	assert_int_equal(dlen, 100);
	assert_false(tg_udp_batch_next(&r, &p, &dlen));
	assert_false(tg_udp_batch_next(&r, &p, &dlen));

	/* 65535 fits no UDP payload, even when the slot has the bytes. */
	len = build(big_prefix, big_body, 1);
	assert_int_equal(check(HDR + TG_UDP_BATCH_REC_HDR + 65535, 1), TG_UDP_BATCH_TOO_BIG);
	/* IPv4's limit is 20 bytes below IPv6's. */
	big_prefix[0] = 65508;
	len = build(big_prefix, big_body, 1);
	assert_int_equal(check(HDR + TG_UDP_BATCH_REC_HDR + 65508, 1), TG_UDP_BATCH_TOO_BIG);
	assert_int_equal(check(len, 1), TG_UDP_BATCH_TOO_BIG);
	big_prefix[0] = 65507;
	build(big_prefix, big_body, 1);
	assert_int_equal(check(HDR + TG_UDP_BATCH_REC_HDR + 65507, 1), TG_UDP_BATCH_OK);
}

/* The peer rewrites a length after the check: the walk stops inside the buffer. */
static void test_changed_after_check(void **state)
{
	const uint16_t prefix[] = {10, 10};
	const uint32_t body[] = {10, 10};
	uint32_t len = build(prefix, body, 2), dlen, total = 0;
	struct tg_udp_batch_reader r;
	struct tg_msg_udp h;
	const uint8_t *p;
	uint8_t *copy;

	assert_int_equal(tg_udp_batch_check(slot, len, 2, &h), TG_UDP_BATCH_OK);
	put_u16(slot + HDR, 60000); /* now claims far past the end */
	/* A heap copy of exactly len bytes: ASan reports any read past it. */
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, slot, len);
	tg_udp_batch_read(&r, copy, len, 2, &h);
	while (tg_udp_batch_next(&r, &p, &dlen)) {
		assert_true(p >= copy && p + dlen <= copy + len);
		total++;
	}
	assert_int_equal(total, 0);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pack_unpack),
	        cmocka_unit_test(test_single_becomes_plain_udp),
	        cmocka_unit_test(test_writer_limits),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_record_claims_too_much),
	        cmocka_unit_test(test_changed_after_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

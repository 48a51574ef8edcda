/* shm link: layout checks, slot ownership, descriptor validation, HELLO and sleep protocol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_ring.h>

#include "link.h"
#include "log.h"
#include "proto.h"

struct pair {
	int memfd;
	int bell[2];
	struct tg_link_end *end[2];
};

static int pair_setup(void **state)
{
	static struct pair p;
	struct tg_link_params params = {
	        .name = "test", .slot_size = 256, .slot_count = 16, .epoch = 7};

	memset(&p, 0, sizeof(p));
	p.memfd = tg_link_create(&params);
	assert_true(p.memfd >= 0);
	for (int i = 0; i < 2; i++) {
		p.bell[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(p.bell[i] >= 0);
	}
	for (int i = 0; i < 2; i++) {
		p.end[i] = tg_link_attach(p.memfd, i, p.bell[i], p.bell[!i]);
		assert_non_null(p.end[i]);
	}
	*state = &p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;

	for (int i = 0; i < 2; i++) {
		tg_link_detach(p->end[i]);
		close(p->bell[i]);
	}
	close(p->memfd);
	return 0;
}

static void test_create_rejects_bad_params(void **state)
{
	struct tg_link_params bad_size = {.name = "x", .slot_size = 100, .slot_count = 4};
	struct tg_link_params no_slots = {.name = "x", .slot_size = 128, .slot_count = 0};

	assert_int_equal(tg_link_create(&bad_size), -1);
	assert_int_equal(tg_link_create(&no_slots), -1);
}

static void test_attach_rejects_garbage(void **state)
{
	int fd = memfd_create("garbage", MFD_CLOEXEC);
	char junk[8192];

	memset(junk, 0xab, sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_null(tg_link_attach(fd, 0, -1, -1));
	close(fd);
}

static void test_attach_rejects_wrong_version(void **state)
{
	struct tg_link_params params = {.name = "v", .slot_size = 128, .slot_count = 4};
	int fd = tg_link_create(&params);
	uint32_t *hdr;

	assert_true(fd >= 0);
	hdr = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(hdr != MAP_FAILED);
	hdr[1] = TG_LINK_VERSION + 1; /* version follows magic */
	assert_null(tg_link_attach(fd, 0, -1, -1));
	munmap(hdr, 4096);
	close(fd);
}

static void test_send_receive_and_return_slot(void **state)
{
	struct pair *p = *state;
	struct tg_desc d = {0}, got[4];
	uint32_t slot;

	assert_int_equal(tg_link_free_slots(p->end[0]), 16);
	slot = tg_link_alloc(p->end[0]);
	assert_int_not_equal(slot, TG_NO_SLOT);
	memcpy(tg_link_slot(p->end[0], slot), "hello", 5);
	d.slot = slot;
	d.len = 5;
	d.type = TG_MSG_PACKET;
	assert_int_equal(tg_link_send(p->end[0], &d), 0);
	/* Nothing is visible before the flush: sends are batched. */
	assert_int_equal(tg_link_recv(p->end[1], got, 4), 0);
	tg_link_flush(p->end[0]);
	assert_int_equal(tg_link_recv(p->end[1], got, 4), 1);
	assert_int_equal(got[0].len, 5);
	assert_int_equal(got[0].epoch, 7);
	assert_memory_equal(tg_link_peer_slot(p->end[1], got[0].slot), "hello", 5);
	assert_int_equal(tg_link_free_slots(p->end[0]), 15);
	tg_link_release(p->end[1], got[0].slot);
	tg_link_flush(p->end[1]);
	assert_int_equal(tg_link_free_slots(p->end[0]), 16);
}

static void test_pool_exhaustion_is_reported(void **state)
{
	struct pair *p = *state;
	uint32_t slots[16];

	for (int i = 0; i < 16; i++) {
		slots[i] = tg_link_alloc(p->end[0]);
		assert_int_not_equal(slots[i], TG_NO_SLOT);
	}
	assert_int_equal(tg_link_alloc(p->end[0]), TG_NO_SLOT);
	for (int i = 0; i < 16; i++)
		tg_link_unalloc(p->end[0], slots[i]);
	assert_int_equal(tg_link_free_slots(p->end[0]), 16);
}

static void test_bad_descriptors_are_counted_and_dropped(void **state)
{
	struct pair *p = *state;
	struct tg_desc d = {.slot = 999, .len = 10, .type = TG_MSG_PACKET};
	struct tg_desc got[4];

	/* Out-of-range slot, oversize length, slot-less with a length. */
	assert_int_equal(tg_link_send(p->end[0], &d), 0);
	d.slot = 0;
	d.len = 100000;
	assert_int_equal(tg_link_send(p->end[0], &d), 0);
	d.slot = TG_NO_SLOT;
	d.len = 3;
	assert_int_equal(tg_link_send(p->end[0], &d), 0);
	tg_link_flush(p->end[0]);
	assert_int_equal(tg_link_recv(p->end[1], got, 4), 0);
	assert_int_equal(tg_link_stats(p->end[1])->bad_descs, 3);
}

static void test_hello_exchange(void **state)
{
	struct pair *p = *state;
	struct tg_desc d;
	struct tg_msg_hello h;

	assert_int_equal(tg_hello_send(p->end[0], TG_ROLE_STACKD, 65536), 0);
	tg_link_flush(p->end[0]);
	assert_int_equal(tg_link_recv(p->end[1], &d, 1), 1);
	assert_int_equal(tg_hello_check(p->end[1], &d, TG_ROLE_STACKD, &h), 0);
	assert_int_equal(h.window, 65536);
	assert_int_equal(h.epoch, 7);
	tg_link_flush(p->end[1]);
	assert_int_equal(tg_link_free_slots(p->end[0]), 16);

	/* The wrong role is refused. */
	assert_int_equal(tg_hello_send(p->end[0], TG_ROLE_TUNIO, 0), 0);
	tg_link_flush(p->end[0]);
	assert_int_equal(tg_link_recv(p->end[1], &d, 1), 1);
	assert_int_equal(tg_hello_check(p->end[1], &d, TG_ROLE_STACKD, &h), -1);
}

static void test_bell_rings_only_for_sleeper(void **state)
{
	struct pair *p = *state;
	uint64_t v;

	/* Awake consumer: no bell. */
	assert_int_equal(tg_link_send_copy(p->end[0], TG_MSG_PACKET, 0, 0, "a", 1), 0);
	tg_link_flush(p->end[0]);
	assert_int_equal(tg_link_stats(p->end[0])->bells_rung, 0);
	/* Consumer with data waiting refuses to sleep. */
	assert_false(tg_link_prepare_sleep(p->end[1]));
	struct tg_desc d;
	assert_int_equal(tg_link_recv(p->end[1], &d, 1), 1);
	tg_link_release(p->end[1], d.slot);
	tg_link_flush(p->end[1]);
	/* Now it sleeps, and the next send rings exactly once. */
	assert_true(tg_link_prepare_sleep(p->end[1]));
	assert_int_equal(tg_link_send_copy(p->end[0], TG_MSG_PACKET, 0, 0, "b", 1), 0);
	tg_link_flush(p->end[0]);
	assert_int_equal(tg_link_stats(p->end[0])->bells_rung, 1);
	assert_int_equal(read(p->bell[1], &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(tg_link_send_copy(p->end[0], TG_MSG_PACKET, 0, 0, "c", 1), 0);
	tg_link_flush(p->end[0]);
	assert_int_equal(tg_link_stats(p->end[0])->bells_rung, 1);
}

/* The first ring (side 0's data ring) starts right after the 4 KiB header. */
static void test_overwritten_ring_header_abandons_link(void **state)
{
	struct pair *p = *state;
	struct tg_desc d;
	uint8_t *base;

	assert_int_equal(tg_link_send_copy(p->end[0], TG_MSG_PACKET, 0, 0, "a", 1), 0);
	tg_link_flush(p->end[0]);
	base = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
	assert_true(base != MAP_FAILED);
	/* A hostile peer widens the mask so that indexes would run past the ring. */
	((struct rte_ring *)(base + 4096))->mask = 0xffffffu;
	assert_int_equal(tg_link_recv(p->end[1], &d, 1), 0);
	assert_int_equal(tg_link_stats(p->end[1])->bad_descs, 1);
	assert_false(tg_link_rx_ready(p->end[1]));
	/* Abandoned for good: restoring the value does not bring it back. */
	((struct rte_ring *)(base + 4096))->mask = ((struct rte_ring *)(base + 4096))->size - 1;
	assert_int_equal(tg_link_recv(p->end[1], &d, 1), 0);
	munmap(base, 8192);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_rejects_bad_params),
	        cmocka_unit_test(test_attach_rejects_garbage),
	        cmocka_unit_test(test_attach_rejects_wrong_version),
	        cmocka_unit_test_setup_teardown(test_send_receive_and_return_slot, pair_setup,
	                                        pair_teardown),
	        cmocka_unit_test_setup_teardown(test_pool_exhaustion_is_reported, pair_setup,
	                                        pair_teardown),
	        cmocka_unit_test_setup_teardown(test_bad_descriptors_are_counted_and_dropped,
	                                        pair_setup, pair_teardown),
	        cmocka_unit_test_setup_teardown(test_hello_exchange, pair_setup, pair_teardown),
	        cmocka_unit_test_setup_teardown(test_bell_rings_only_for_sleeper, pair_setup,
	                                        pair_teardown),
	        cmocka_unit_test_setup_teardown(test_overwritten_ring_header_abandons_link,
	                                        pair_setup, pair_teardown),
	};

	log_init("test_link", TG_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

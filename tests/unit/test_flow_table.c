/* stackd's flow table and the bounded byte FIFO every flow direction uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytebuf.h"
#include "flow_table.h"

static void count_one(uint32_t id, void *flow, void *arg)
{
	(*(unsigned *)arg)++;
}

static void test_put_get_del(void **state)
{
	struct flow_table t;
	int a, b;

	assert_int_equal(flow_table_init(&t, 8), 0);
	assert_int_equal(flow_table_put(&t, 1, &a), 0);
	assert_int_equal(flow_table_put(&t, 2, &b), 0);
	assert_int_equal(flow_table_put(&t, 1, &b), -1); /* duplicate id */
	assert_int_equal(flow_table_put(&t, 0, &b), -1); /* 0 is never an id */
	assert_ptr_equal(flow_table_get(&t, 1), &a);
	assert_ptr_equal(flow_table_get(&t, 2), &b);
	assert_null(flow_table_get(&t, 3));
	flow_table_del(&t, 1);
	assert_null(flow_table_get(&t, 1));
	assert_ptr_equal(flow_table_get(&t, 2), &b);
	assert_int_equal(t.count, 1);
	flow_table_destroy(&t);
}

static void test_churn_keeps_lookups_right(void **state)
{
	struct flow_table t;
	static int objs[64];
	unsigned seen = 0;

	assert_int_equal(flow_table_init(&t, 64), 0);
	/* A million open/close cycles with 64 live flows: tombstones must not fill the table. */
	for (uint32_t id = 1; id < 1000000; id++) {
		assert_int_equal(flow_table_put(&t, id, &objs[id % 64]), 0);
		if (id > 64) {
			assert_ptr_equal(flow_table_get(&t, id - 64), &objs[(id - 64) % 64]);
			flow_table_del(&t, id - 64);
		}
	}
	assert_int_equal(t.count, 64);
	flow_table_foreach(&t, count_one, &seen);
	assert_int_equal(seen, 64);
	flow_table_destroy(&t);
}

struct lru_obj {
	int id;
	struct flow_lru node;
};

static int oldest_id(const struct flow_lru *head)
{
	struct flow_lru *n = flow_lru_oldest(head);

	if (!n)
		return -1;
	return ((struct lru_obj *)(void *)((char *)n - offsetof(struct lru_obj, node)))->id;
}

/* Pops the least recently active object, as an eviction does, and says which it was. */
static int evict(struct flow_lru *head)
{
	int id = oldest_id(head);
	struct flow_lru *n = flow_lru_oldest(head);

	if (n)
		flow_lru_remove(n);
	return id;
}

static void test_lru_eviction_order(void **state)
{
	struct flow_lru head;
	struct lru_obj o[5];

	flow_lru_init(&head);
	assert_null(flow_lru_oldest(&head));
	for (int i = 0; i < 5; i++) {
		o[i].id = i;
		flow_lru_init(&o[i].node);
		flow_lru_touch(&head, &o[i].node); /* opened in order 0..4 */
	}
	assert_int_equal(oldest_id(&head), 0);
	/* Activity on 0 and 2 moves them to the newest end: 1, 3, 4, 0, 2. */
	flow_lru_touch(&head, &o[0].node);
	flow_lru_touch(&head, &o[2].node);
	flow_lru_touch(&head, &o[2].node); /* touching the newest again changes nothing */
	/* A flow that ends leaves the list wherever it is. */
	flow_lru_remove(&o[3].node);
	flow_lru_remove(&o[3].node); /* removing twice is harmless */
	assert_int_equal(evict(&head), 1);
	assert_int_equal(evict(&head), 4);
	assert_int_equal(evict(&head), 0);
	/* A removed node can come back, as the newest. */
	flow_lru_touch(&head, &o[3].node);
	assert_int_equal(evict(&head), 2);
	assert_int_equal(evict(&head), 3);
	assert_int_equal(evict(&head), -1);
	assert_null(flow_lru_oldest(&head));
}

static void test_lru_many_flows(void **state)
{
	enum { N = 10000 };
	static struct lru_obj o[N];
	struct flow_lru head;

	flow_lru_init(&head);
	for (int i = 0; i < N; i++) {
		o[i].id = i;
		flow_lru_init(&o[i].node);
		flow_lru_touch(&head, &o[i].node);
	}
	/* Every even flow is active again, in reverse order: odd ones are now the oldest. */
	for (int i = N - 2; i >= 0; i -= 2)
		flow_lru_touch(&head, &o[i].node);
	for (int i = 1; i < N; i += 2)
		assert_int_equal(evict(&head), i);
	for (int i = N - 2; i >= 0; i -= 2)
		assert_int_equal(evict(&head), i);
	assert_null(flow_lru_oldest(&head));
}

static void test_bytebuf_bounded_fifo(void **state)
{
	struct tg_bytebuf b = {0};
	uint8_t chunk[1000], out[3000];

	for (unsigned i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	assert_int_equal(tg_bytebuf_append(&b, chunk, 1000, 2500), 0);
	assert_int_equal(tg_bytebuf_append(&b, chunk, 1000, 2500), 0);
	assert_int_equal(tg_bytebuf_append(&b, chunk, 1000, 2500), -1); /* over the limit */
	assert_int_equal(b.len, 2000);
	tg_bytebuf_consume(&b, 500);
	assert_int_equal(tg_bytebuf_head(&b)[0], (uint8_t)500);
	assert_int_equal(tg_bytebuf_append(&b, chunk, 1000, 2500), 0);
	assert_int_equal(b.len, 2500);
	memcpy(out, tg_bytebuf_head(&b), b.len);
	assert_memory_equal(out, chunk + 500, 500);
	assert_memory_equal(out + 500, chunk, 1000);
	assert_memory_equal(out + 1500, chunk, 1000);
	tg_bytebuf_consume(&b, 2500);
	assert_int_equal(b.len, 0);
	assert_null(b.data); /* an empty buffer holds no memory */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_put_get_del),
	        cmocka_unit_test(test_churn_keeps_lookups_right),
	        cmocka_unit_test(test_lru_eviction_order),
	        cmocka_unit_test(test_lru_many_flows),
	        cmocka_unit_test(test_bytebuf_bounded_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

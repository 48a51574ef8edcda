#include "flow_table.h"

#include <stdlib.h>

static uint32_t hash(uint32_t id)
{
	/* Ids are sequential; a multiplicative hash spreads neighbours apart. */
	return id * 2654435761u;
}

int flow_table_init(struct flow_table *t, uint32_t max_flows)
{
	uint32_t size = 16;

	/* At most half full even with every flow open, so probes stay short. */
	while (size < max_flows * 2u && size < (1u << 30))
		size <<= 1;
	t->e = calloc(size, sizeof(*t->e));
	if (!t->e)
		return -1;
	t->mask = size - 1;
	t->count = t->used = 0;
	return 0;
}

void flow_table_destroy(struct flow_table *t)
{
	free(t->e);
	t->e = NULL;
	t->count = t->used = 0;
}

static struct flow_table_entry *find(const struct flow_table *t, uint32_t id)
{
	for (uint32_t i = hash(id) & t->mask, n = 0; n <= t->mask; i = (i + 1) & t->mask, n++) {
		struct flow_table_entry *e = &t->e[i];

		if (e->id == id && !e->tomb)
			return e;
		if (e->id == 0 && !e->tomb)
			return NULL;
	}
	return NULL;
}

void *flow_table_get(const struct flow_table *t, uint32_t id)
{
	struct flow_table_entry *e;

	if (id == 0 || !t->e)
		return NULL;
	e = find(t, id);
	return e ? e->flow : NULL;
}

/* Drops tombstones by re-inserting the live entries into a fresh array of the same size. */
static int compact(struct flow_table *t)
{
	struct flow_table_entry *old = t->e;
	uint32_t size = t->mask + 1;

	t->e = calloc(size, sizeof(*t->e));
	if (!t->e) {
		t->e = old;
		return -1;
	}
	t->count = t->used = 0;
	for (uint32_t i = 0; i < size; i++)
		if (old[i].id && !old[i].tomb)
			flow_table_put(t, old[i].id, old[i].flow);
	free(old);
	return 0;
}

int flow_table_put(struct flow_table *t, uint32_t id, void *flow)
{
	if (id == 0 || find(t, id))
		return -1;
	if (t->used + 1 > (t->mask + 1) / 4 * 3 && compact(t) < 0)
		return -1;
	if (t->count + 1 > (t->mask + 1) / 4 * 3)
		return -1;
	for (uint32_t i = hash(id) & t->mask;; i = (i + 1) & t->mask) {
		struct flow_table_entry *e = &t->e[i];

		if (e->id == 0 || e->tomb) {
			if (e->id == 0)
				t->used++;
			e->id = id;
			e->tomb = 0;
			e->flow = flow;
			t->count++;
			return 0;
		}
	}
}

void flow_table_del(struct flow_table *t, uint32_t id)
{
	struct flow_table_entry *e = id ? find(t, id) : NULL;

	if (!e)
		return;
	e->tomb = 1;
	e->flow = NULL;
	t->count--;
}

void flow_table_foreach(struct flow_table *t, void (*fn)(uint32_t id, void *flow, void *arg),
                        void *arg)
{
	/* fn may delete the entry it is given; deletion only marks a tombstone. */
	for (uint32_t i = 0; t->e && i <= t->mask; i++)
		if (t->e[i].id && !t->e[i].tomb)
			fn(t->e[i].id, t->e[i].flow, arg);
}

void flow_lru_init(struct flow_lru *n)
{
	n->prev = n->next = n;
}

void flow_lru_remove(struct flow_lru *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

void flow_lru_touch(struct flow_lru *head, struct flow_lru *n)
{
	if (head->prev == n)
		return; /* already the newest: the common case on a busy flow */
	flow_lru_remove(n);
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

struct flow_lru *flow_lru_oldest(const struct flow_lru *head)
{
	return head->next == head ? NULL : head->next;
}

/* Flow id -> flow, open addressing with linear probing; sized once, never rehashed. */
#ifndef TG_FLOW_TABLE_H
#define TG_FLOW_TABLE_H

#include <stdint.h>

struct flow_table_entry {
	uint32_t id;   /* 0: empty */
	uint32_t tomb; /* 1: deleted, keeps probe chains intact */
	void *flow;
};

struct flow_table {
	struct flow_table_entry *e;
	uint32_t mask;
	uint32_t count;
	uint32_t used; /* live entries and tombstones */
};

int flow_table_init(struct flow_table *t, uint32_t max_flows);
void flow_table_destroy(struct flow_table *t);
void *flow_table_get(const struct flow_table *t, uint32_t id);
int flow_table_put(struct flow_table *t, uint32_t id, void *flow);
void flow_table_del(struct flow_table *t, uint32_t id);
void flow_table_foreach(struct flow_table *t, void (*fn)(uint32_t id, void *flow, void *arg),
                        void *arg);

/*
 * Flows by last activity, for `[stack] flow_table_full = evict`: a circular doubly linked
 * list whose nodes live inside the flows, so touching a flow on every packet is O(1) and the
 * least recently active one is the head's next. A node not on the list points to itself.
 */
struct flow_lru {
	struct flow_lru *prev;
	struct flow_lru *next;
};

void flow_lru_init(struct flow_lru *n);
/* Makes n the most recently active (adding it if it is not on the list yet). */
void flow_lru_touch(struct flow_lru *head, struct flow_lru *n);
void flow_lru_remove(struct flow_lru *n);
/* The least recently active node, or NULL when the list is empty. */
struct flow_lru *flow_lru_oldest(const struct flow_lru *head);

#endif

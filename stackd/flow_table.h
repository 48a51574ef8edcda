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

#endif

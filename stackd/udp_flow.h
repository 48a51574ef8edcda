/* UDP flows between lwIP's wildcard UDP pcb and link B. */
#ifndef TG_STACKD_UDP_FLOW_H
#define TG_STACKD_UDP_FLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct stackd;
struct tg_desc;

int udp_flow_init(struct stackd *sd);
/* Handles a link B message if its flow is a UDP flow; returns false if it is not one. */
bool udp_flow_dispatch(const struct tg_desc *d, const uint8_t *slot);
bool udp_flow_owns(uint32_t id);
/* Sends every flow's open UDP batch; stackd_flush_links() calls it before flushing link B. */
void udp_flow_flush_batches(void);
void udp_flow_sweep(time_t now);
void udp_flow_shutdown_all(void);
/* relayd is gone: forget every UDP flow (its NAT entries went with it). */
void udp_flow_forget_all(void);

#endif

/* Consistent handshake: client SYNs held until relayd's connect result (DESIGN.md section 3). */
#ifndef TG_STACKD_SYN_HOLD_H
#define TG_STACKD_SYN_HOLD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"

struct stackd;

void syn_hold_init(struct stackd *sd);
/* Returns true if the packet was a SYN that is now held (or a retransmission swallowed). */
bool syn_hold_input(const uint8_t *pkt, uint32_t len);
/* relayd's OPEN_RESULT for a held SYN; returns false if the flow is not one of ours. */
bool syn_hold_result(uint32_t flow, uint32_t result);
/* In lwIP's accept: the flow id approved for this 4-tuple, or 0 (fast mode). */
uint32_t syn_hold_take(const struct tg_addr *client, const struct tg_addr *dst);
bool syn_hold_owns(uint32_t flow);
void syn_hold_sweep(time_t now);
/* relayd is gone: forget every held SYN (the clients retransmit). */
void syn_hold_clear(void);

#endif

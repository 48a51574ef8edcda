/* ICMP packets stackd builds itself: relayed echo, and unreachable errors for upstream failures. */
#ifndef TG_STACKD_ICMP_H
#define TG_STACKD_ICMP_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "proto.h"

struct stackd;

enum icmp_unreach {
	ICMP_UNREACH_PORT = 0,
	ICMP_UNREACH_HOST = 1,
	ICMP_UNREACH_NET = 2,
	ICMP_UNREACH_ADMIN = 3, /* a reject rule (docs/rules.md) */
};

/*
 * Tells the client that its packet from `client` to `orig_dst` (transport `proto`) could not
 * be delivered. tcp_seq is the client's sequence number for TCP, ignored otherwise.
 */
void icmp_send_unreachable(struct stackd *sd, const struct tg_addr *orig_dst,
                           const struct tg_addr *client, uint8_t proto, enum icmp_unreach kind,
                           uint32_t tcp_seq);
/* Registers lwIP raw pcbs that take echo requests (after reassembly) to relay them. */
int icmp_init(struct stackd *sd);
/* Takes an ICMP echo request off the packet path and relays it; false if it is not one. */
bool icmp_take_echo(struct stackd *sd, const uint8_t *pkt, uint32_t len);
/* Writes relayd's echo reply to the client. */
void icmp_echo_reply(struct stackd *sd, const struct tg_msg_udp *m, const uint8_t *icmp,
                     uint32_t icmp_len);

#endif

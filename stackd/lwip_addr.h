/* Conversions between lwIP's ip_addr_t and the link's tg_addr, and a hash of a flow's ends. */
#ifndef TG_STACKD_LWIP_ADDR_H
#define TG_STACKD_LWIP_ADDR_H

#include <stdint.h>

#include "lwip/ip_addr.h"

#include "addr.h"

void lwip_addr_to_tg(struct tg_addr *a, const ip_addr_t *ip, uint16_t port);
void lwip_addr_from_tg(ip_addr_t *ip, const struct tg_addr *a);
/* FNV-1a over both ends, reduced to [0, buckets). */
uint32_t lwip_addr_pair_hash(const struct tg_addr *client, const struct tg_addr *dst,
                             uint32_t buckets);

#endif

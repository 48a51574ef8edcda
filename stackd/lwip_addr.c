#include "lwip_addr.h"

#include <string.h>

void lwip_addr_to_tg(struct tg_addr *a, const ip_addr_t *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->port = port;
	if (IP_IS_V6(ip)) {
		a->family = TG_AF_INET6;
		memcpy(a->ip, ip_2_ip6(ip)->addr, 16);
	} else {
		a->family = TG_AF_INET4;
		memcpy(a->ip, &ip_2_ip4(ip)->addr, 4);
	}
}

void lwip_addr_from_tg(ip_addr_t *ip, const struct tg_addr *a)
{
	if (a->family == TG_AF_INET6) {
		IP_ADDR6(ip, 0, 0, 0, 0);
		memcpy(ip_2_ip6(ip)->addr, a->ip, 16);
		ip6_addr_clear_zone(ip_2_ip6(ip));
	} else {
		IP_ADDR4(ip, a->ip[0], a->ip[1], a->ip[2], a->ip[3]);
	}
}

uint32_t lwip_addr_pair_hash(const struct tg_addr *client, const struct tg_addr *dst,
                             uint32_t buckets)
{
	const uint8_t *parts[2] = {(const uint8_t *)client, (const uint8_t *)dst};
	uint32_t h = 2166136261u;

	for (int i = 0; i < 2; i++)
		for (size_t j = 0; j < sizeof(struct tg_addr); j++)
			h = (h ^ parts[i][j]) * 16777619u;
	return h % buckets;
}

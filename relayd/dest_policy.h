/*
 * Destinations a direct flow may not reach: the gateway itself (dest_policy.c says why).
 */
#ifndef RELAY_DEST_POLICY_H
#define RELAY_DEST_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/* Loopback, unspecified, multicast or broadcast, also as v4-mapped IPv6; or not an address. */
bool relay_dest_forbidden(const struct tg_addr *dst);

/* A connected socket whose source and destination addresses are the same: it reached us. */
bool relay_socket_is_local(int fd);

/*
 * Is dst one of this host's own addresses? Asked of the kernel's routing before connecting
 * (a UDP socket's connect() only looks the route up), so that nothing reaches the service.
 * The answer is remembered per address for a second (dest_policy.c).
 */
bool relay_dest_is_self(const struct tg_addr *dst);
/* The same at a given time (milliseconds, monotonic): for tests of the cache. */
bool relay_dest_is_self_at(const struct tg_addr *dst, uint64_t now_ms);
/* How many times the kernel was asked (the cache's misses). */
uint64_t relay_dest_self_probes(void);

#endif

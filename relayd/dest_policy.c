/*
 * Which destinations relayd refuses to connect to directly, whatever a client asks.
 *
 * relayd runs on the gateway and connects wherever a packet from the TUN says. Without a check,
 * any client (or, in a LAN gateway, any host on the segment) could reach services that listen
 * only on the gateway's own loopback or addresses: a packet to 127.0.0.1 never crosses a router,
 * but it does cross tungate, which is not one. So direct flows to loopback, unspecified,
 * multicast and broadcast addresses are refused, and so are flows to one of this host's own
 * addresses (a UDP socket connected to it gets the destination itself as its source: the route
 * is the local one). Both checks run before anything is sent: TCP asks before connecting
 * (relay_dest_is_self), UDP checks its own connected socket. [relay] allow_local = yes turns them
 * off for setups that mean to expose the gateway's own services (docs/security.md).
 */
#include "dest_policy.h"

#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * relay_dest_is_self() costs four system calls (socket, connect, getsockname/getpeername,
 * close), as many again as the connection itself: its verdicts are kept per destination
 * address for a second. An address the host gains or loses is seen within that second.
 */
#define SELF_CACHE_SLOTS  64
#define SELF_CACHE_TTL_MS 1000

struct self_verdict {
	struct tg_addr dst; /* port 0; family 0: slot unused */
	uint64_t expires_ms;
	bool self;
};

static struct self_verdict self_cache[SELF_CACHE_SLOTS];
static uint64_t self_probes;

static bool ipv4_forbidden(const uint8_t *ip)
{
	if (ip[0] == 0 || ip[0] == 127) /* "this network" and loopback */
		return true;
	if (ip[0] >= 224) /* multicast, reserved and the limited broadcast */
		return true;
	return false;
}

static bool ipv6_forbidden(const uint8_t *ip)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[15];

	if (memcmp(ip, zero, 15) == 0 && (ip[15] == 0 || ip[15] == 1)) /* :: and ::1 */
		return true;
	if (ip[0] == 0xff) /* multicast */
		return true;
	/* ::ffff:127.0.0.1 reaches the IPv4 loopback through a dual-stack socket. */
	if (memcmp(ip, v4mapped, sizeof(v4mapped)) == 0)
		return ipv4_forbidden(ip + 12);
	return false;
}

bool relay_dest_forbidden(const struct tg_addr *dst)
{
	switch (dst->family) {
	case TG_AF_INET4:
		return ipv4_forbidden(dst->ip);
	case TG_AF_INET6:
		return ipv6_forbidden(dst->ip);
	default:
		return true;
	}
}

bool relay_socket_is_local(int fd)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer);
	struct tg_addr l, p;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		return false;
	if (tg_addr_from_sockaddr(&l, (struct sockaddr *)&local) < 0 ||
	    tg_addr_from_sockaddr(&p, (struct sockaddr *)&peer) < 0)
		return false;
	/* Ports differ; the addresses alone say whether the route went through lo. */
	return l.family == p.family && memcmp(l.ip, p.ip, sizeof(l.ip)) == 0;
}

/* Asks the kernel's routing, with a UDP socket whose connect() sends nothing. */
static bool route_is_local(const struct tg_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool self;
	int fd;

	if (tg_addr_to_sockaddr(dst, &ss, &len) < 0)
		return false;
	self_probes++;
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return false; /* out of fds: the real socket will fail and say so */
	self = connect(fd, (struct sockaddr *)&ss, len) == 0 && relay_socket_is_local(fd);
	close(fd);
	return self;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* FNV-1a over family and address: the slot of a destination in self_cache. */
static unsigned self_slot(const struct tg_addr *key)
{
	uint32_t h = 2166136261u ^ key->family;

	for (size_t i = 0; i < sizeof(key->ip); i++)
		h = (h ^ key->ip[i]) * 16777619u;
	return h % SELF_CACHE_SLOTS;
}

bool relay_dest_is_self_at(const struct tg_addr *dst, uint64_t now)
{
	struct tg_addr key;
	struct self_verdict *v;

	memset(&key, 0, sizeof(key));
	key.family = dst->family;
	memcpy(key.ip, dst->ip, sizeof(key.ip));
	v = &self_cache[self_slot(&key)];
	if (v->dst.family != 0 && now < v->expires_ms && memcmp(&v->dst, &key, sizeof(key)) == 0)
		return v->self;
	v->dst = key;
	v->self = route_is_local(dst); /* with its port: a UDP connect() to port 0 fails */
	v->expires_ms = now + SELF_CACHE_TTL_MS;
	return v->self;
}

bool relay_dest_is_self(const struct tg_addr *dst)
{
	return relay_dest_is_self_at(dst, now_ms());
}

uint64_t relay_dest_self_probes(void)
{
	return self_probes;
}

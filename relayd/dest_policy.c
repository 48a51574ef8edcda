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
#include <unistd.h>

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

bool relay_dest_is_self(const struct tg_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool self;
	int fd;

	if (tg_addr_to_sockaddr(dst, &ss, &len) < 0)
		return false;
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return false; /* out of fds: the real socket will fail and say so */
	self = connect(fd, (struct sockaddr *)&ss, len) == 0 && relay_socket_is_local(fd);
	close(fd);
	return self;
}

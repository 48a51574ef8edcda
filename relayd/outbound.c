/*
 * Outbound socket settings (outbound.h). SO_MARK needs CAP_NET_RAW or CAP_NET_ADMIN, which
 * relayd keeps (CAP_NET_RAW only) when a mark is configured; SO_BINDTODEVICE needs no
 * capability on a socket not yet bound to a device (Linux 5.7). docs/security.md says why.
 */
#include "outbound.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

static struct relay_outbound settings;

void relay_outbound_init(const struct relay_outbound *ob)
{
	settings = *ob;
	if (settings.mark)
		log_info("outbound sockets carry mark %#x", settings.mark);
	if (settings.ifname[0])
		log_info("outbound sockets are bound to interface %s", settings.ifname);
}

int relay_socket_prepare(int fd, int family)
{
	(void)family; /* both options are SOL_SOCKET: the same for IPv4 and IPv6 */
	if (settings.mark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &settings.mark, sizeof(settings.mark)) < 0)
		return -1;
	if (settings.ifname[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, settings.ifname,
	                                     (socklen_t)strlen(settings.ifname)) < 0)
		return -1;
	return 0;
}

static int selftest_one(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc, err;

	if (fd < 0)
		return family == AF_INET6 ? 0 : -1; /* a host without IPv6 */
	rc = relay_socket_prepare(fd, family);
	err = errno;
	close(fd);
	if (rc < 0) {
		errno = err;
		log_warn("outbound socket settings (mark %#x, interface \"%s\")", settings.mark,
		         settings.ifname);
	}
	return rc;
}

int relay_outbound_selftest(void)
{
	if (!settings.mark && !settings.ifname[0])
		return 0;
	return selftest_one(AF_INET) < 0 || selftest_one(AF_INET6) < 0 ? -1 : 0;
}

#define ERRQ_BATCH 16u /* error queue entries dropped per wakeup */

void relay_drain_errqueue(int fd)
{
	uint8_t data[64], ctl[256];

	for (unsigned i = 0; i < ERRQ_BATCH; i++) {
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		struct msghdr m = {.msg_iov = &iov,
		                   .msg_iovlen = 1,
		                   .msg_control = ctl,
		                   .msg_controllen = sizeof(ctl)};

		if (recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
	}
}

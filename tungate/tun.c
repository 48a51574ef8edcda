/*
 * TUN creation and configuration with plain ioctls (no netlink needed for one address).
 * With a netns, everything happens inside it: the kernel creates the device in the namespace
 * that opened /dev/net/tun, and the ioctls act on the namespace of the socket they use.
 * tungate itself goes back home afterwards; the fd keeps working from any namespace.
 */
#include "tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "tun_offload.h"

int tg_netns_enter(const char *name)
{
	char path[PATH_MAX];
	int home, target;

	if (*name == '\0')
		return -1;
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		fatal("open /proc/self/ns/net");
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		fatal("network namespace \"%s\": open %s", name, path);
	if (setns(target, CLONE_NEWNET) < 0)
		fatal("network namespace \"%s\": setns", name);
	close(target);
	return home;
}

void tg_netns_leave(int home)
{
	if (home < 0)
		return;
	if (setns(home, CLONE_NEWNET) < 0)
		fatal("setns back to tungate's own network namespace");
	close(home);
}

static const char *tunsetiff_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (tungate needs CAP_NET_ADMIN)";
	case EBUSY:
		return " (the device is in use by another process)";
	case EINVAL:
		return " (a device of that name exists and is not a TUN without packet info)";
	default:
		return "";
	}
}

static int tun_create(const char *name, bool tap, bool offload, char ifname[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd, fl;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fatal("open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	/* TAP: Ethernet frames, the same bytes to tunio; stackd is a host on the segment. */
	ifr.ifr_flags = (tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
	/* TUN: a virtio_net_hdr before each packet, for checksum and TSO offload (tun_offload.h) */
	if (!tap && offload)
		ifr.ifr_flags |= IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		fatal("TUN %s: TUNSETIFF%s", name, tunsetiff_hint(errno));
	/* Shared with tunio through the open file description: it must never block. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatal("TUN %s: O_NONBLOCK", name);
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	if (!tap && offload)
		tg_tun_offload_setup(fd, ifname);
	return fd;
}

static void ifreq_init(struct ifreq *ifr, const char *ifname)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
}

static void set_ipv4(int s, const char *ifname, unsigned long req, struct in_addr addr,
                     const char *what)
{
	struct ifreq ifr;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = addr};

	ifreq_init(&ifr, ifname);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	if (ioctl(s, req, &ifr) < 0)
		fatal("TUN %s: set %s", ifname, what);
}

static void tun_configure(int s, const struct tg_config *cfg, const char *ifname)
{
	struct ifreq ifr;

	ifreq_init(&ifr, ifname);
	ifr.ifr_mtu = (int)cfg->mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		fatal("TUN %s: set mtu %u", ifname, cfg->mtu);
	if (cfg->has_address) {
		struct in_addr mask = {htonl(0xffffffffu << (32 - cfg->prefix_len))};

		/* SIOCSIFADDR sets a classful mask; the netmask comes second to override it. */
		set_ipv4(s, ifname, SIOCSIFADDR, cfg->address, "address");
		set_ipv4(s, ifname, SIOCSIFNETMASK, mask, "netmask");
	}
	ifreq_init(&ifr, ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fatal("TUN %s: get flags", ifname);
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fatal("TUN %s: bring up", ifname);
}

int tg_tun_open(const struct tg_config *cfg, char ifname[IFNAMSIZ])
{
	int home = tg_netns_enter(cfg->netns);
	int fd, s;

	fd = tun_create(cfg->tun_name, cfg->tap, cfg->offload, ifname);
	/* Created after setns: the ioctls act on the socket's namespace, the TUN's one. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fatal("socket for interface ioctls");
	tun_configure(s, cfg, ifname);
	close(s);
	tg_netns_leave(home);
	return fd;
}

/*
 * TUN offload setup. The kernel asks nothing of the reader beyond what TUNSETOFFLOAD
 * announced: with TUN_F_CSUM it may hand over packets whose TCP/UDP checksum is only the
 * pseudo-header sum (VIRTIO_NET_HDR_F_NEEDS_CSUM), with TUN_F_TSO4/6 TCP super-packets that
 * stackd's lwIP takes as one segment (stackd/offload.c). UDP offloads (UFO, USO) are not
 * announced: stackd would have to split them into datagrams.
 */
#include "tun_offload.h"

#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "proto.h"

void tg_tun_offload_setup(int fd, const char *ifname)
{
	static const unsigned tries[] = {
	        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
	        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
	        TUN_F_CSUM,
	};
	int hdr_len = TG_VNET_HDR_LEN;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
		fatal("TUN %s: TUNSETVNETHDRSZ %d", ifname, hdr_len);
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
			log_debug("TUN %s: offloads csum%s%s", ifname,
			          tries[i] & TUN_F_TSO4 ? " tso4 tso6" : "",
			          tries[i] & TUN_F_TSO_ECN ? " tso-ecn" : "");
			return;
		}
	}
	log_warn("TUN %s: TUNSETOFFLOAD refused; no checksum or TSO offloads", ifname);
	(void)ioctl(fd, TUNSETOFFLOAD, 0ul);
}

bool tg_tun_has_vnet_hdr(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return false;
	return (ifr.ifr_flags & IFF_VNET_HDR) != 0;
}

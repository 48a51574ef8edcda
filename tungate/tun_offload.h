/*
 * TUN offloads (docs/benchmarks.md, "Levers"): with IFF_VNET_HDR each packet on the TUN fd is
 * preceded by a struct virtio_net_hdr, and TUNSETOFFLOAD tells the kernel what the reader
 * copes with: partial checksums and TCP super-packets (TSO) of up to 64 KiB, so that one
 * read() moves what would otherwise be ~44 packets of MTU 1500.
 */
#ifndef TG_TUN_OFFLOAD_H
#define TG_TUN_OFFLOAD_H

#include <stdbool.h>

/*
 * On a TUN opened with IFF_VNET_HDR: sets the header size and the offloads, degrading to
 * fewer (down to none, which still works: the kernel then sends plain packets behind a zero
 * header) when the kernel refuses some. Logs what it got.
 */
void tg_tun_offload_setup(int fd, const char *ifname);

/* True if the TUN fd carries a virtio_net_hdr before each packet (IFF_VNET_HDR). */
bool tg_tun_has_vnet_hdr(int fd);

#endif

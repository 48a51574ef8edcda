/*
 * stackd's side of the TUN offloads (docs/benchmarks.md, "Levers"): link A packets that come
 * with a virtio_net_hdr (TG_PKT_F_VNET) and the answers that go back with one. stackd learns
 * that the TUN has the header from the first such packet (everything stackd sends on a TUN
 * answers something a client sent), and from then on hands TCP checksums to the kernel.
 */
#ifndef TG_OFFLOAD_H
#define TG_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "lwip/err.h"

struct stackd;
struct pbuf;

/*
 * A received slot with a vnet header: checks it (a bad one is counted and dropped: returns
 * false) and gives the IP packet to hand to lwIP, which may be a private copy with its
 * checksum finished, and whether lwIP must skip the TCP checksum check (TSO super-packet).
 */
bool offload_input_prepare(struct stackd *sd, const uint8_t *slot, uint32_t len,
                           const uint8_t **pkt, uint32_t *pkt_len, bool *skip_check);

/* sd->netif->input(p), with lwIP's TCP checksum check off for this packet if skip_check. */
err_t offload_netif_input(struct stackd *sd, struct pbuf *p, bool skip_check);

/* True once stackd answers with a vnet header (offload_output). */
bool offload_active(const struct stackd *sd);

/*
 * netif output while offload_active(): one packet to link A behind a vnet header, with its TCP
 * checksum left to the kernel. Consecutive in-order segments of one TCP flow are coalesced
 * into one GSO super-packet in one slot (vnet.h), which stays open until a packet that does
 * not continue it, or the end of the unit of work (offload_tx_flush()).
 */
err_t offload_link_output(struct stackd *sd, struct pbuf *p);
/* Sends the open super-packet, if any; stackd_flush_links() calls it before flushing link A. */
void offload_tx_flush(struct stackd *sd);

#endif

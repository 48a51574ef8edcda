/*
 * The virtio_net_hdr in front of a link A packet (TG_PKT_F_VNET, tungate/tun_offload.c): pure
 * functions over bytes, no lwIP and no state, so that tests and fuzzers can call them alone.
 *
 * Received (client -> stackd): the header comes from the client's kernel, which may hand over
 * a TCP/UDP packet whose checksum field holds only the pseudo-header sum (NEEDS_CSUM) and, with
 * TSO, a TCP super-packet of up to 64 KiB. A local user can write any header through a packet
 * socket, so it is untrusted input: vnet_rx_check() accepts only what the kernel produces.
 *
 * Sent (stackd -> client): lwIP leaves the TCP checksum to the device (0 in the field);
 * vnet_tx_fill() puts the pseudo-header sum there and asks the client's kernel to finish it,
 * which it does (or trusts it, as a local packet) on its receive path, and also when it
 * forwards the packet on.
 */
#ifndef TG_VNET_H
#define TG_VNET_H

#include <stdbool.h>
#include <stdint.h>

/* The kernel's struct virtio_net_hdr (linux/virtio_net.h), in host byte order on a TUN. */
struct tg_vnet_hdr {
	uint8_t flags;    /* VNET_F_* */
	uint8_t gso_type; /* VNET_GSO_*, possibly | VNET_GSO_ECN */
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;  /* where the checksummed part starts (the TCP/UDP header) */
	uint16_t csum_offset; /* of the checksum field from csum_start */
};
_Static_assert(sizeof(struct tg_vnet_hdr) == 10, "struct virtio_net_hdr");

#define VNET_F_NEEDS_CSUM 1
#define VNET_F_DATA_VALID 2
#define VNET_GSO_NONE     0
#define VNET_GSO_TCPV4    1
#define VNET_GSO_UDP      3
#define VNET_GSO_TCPV6    4
#define VNET_GSO_UDP_L4   5
#define VNET_GSO_ECN      0x80

enum vnet_rx_verdict {
	VNET_RX_PLAIN,      /* nothing to do: lwIP checks the packet as it is */
	VNET_RX_COMPLETE,   /* the checksum is partial: vnet_csum_complete() it, then lwIP checks */
	VNET_RX_SKIP_CHECK, /* TCP with a partial checksum (vnet.c says why): lwIP must not check */
	VNET_RX_DROP,       /* a header the kernel would not produce for this packet */
};

/* What the header of a received packet (pkt, len: the IP packet behind it) asks for. */
enum vnet_rx_verdict vnet_rx_check(const struct tg_vnet_hdr *h, const uint8_t *pkt, uint32_t len);

/*
 * Finishes a partial checksum in place, as the kernel's skb_checksum_help(): the one's
 * complement of the sum from csum_start to the end (the field holds the pseudo-header sum)
 * goes into the field. The caller has checked the offsets (vnet_rx_check()).
 */
void vnet_csum_complete(uint8_t *pkt, uint32_t len, uint16_t csum_start, uint16_t csum_offset);

/*
 * For a packet lwIP sent without its TCP checksum (pkt, len: the IP packet): fills h and the
 * pseudo-header sum and returns true, or returns false if the packet is not a TCP packet it
 * can describe (h is then all zero and the packet untouched).
 */
bool vnet_tx_fill(struct tg_vnet_hdr *h, uint8_t *pkt, uint32_t len);

/*
 * Coalescing of consecutive TCP segments into one GSO super-packet (stackd -> client), so that
 * one write() to the TUN moves up to 64 KiB. The open super-packet is the first segment's
 * bytes followed by the payloads appended since; vnet_gso_close() fixes its headers.
 */
struct vnet_gso {
	uint32_t len;      /* IP packet bytes so far */
	uint16_t hlen;     /* IP + TCP header bytes (every segment's, identical) */
	uint16_t l4;       /* TCP header offset */
	uint16_t seg_size; /* payload of the first segment: every one but the last has as much */
	uint16_t segs;
	uint32_t next_seq; /* the sequence number a continuation must have */
	bool closed;       /* a shorter segment or PSH came: nothing may follow */
};

/*
 * Starts a super-packet with pkt (len bytes) if it is a TCP segment that others may follow:
 * data, flags ACK alone, no IPv6 extension header, not a fragment. Returns false otherwise.
 */
bool vnet_gso_open(struct vnet_gso *g, const uint8_t *pkt, uint32_t len);
/*
 * True if the segment whose headers are hdr (hdr_len bytes, at least g->hlen) and whose
 * packet is len bytes long continues the super-packet pkt: headers identical but for IP
 * length, IPv4 id and checksums, sequence number in order, flags ACK (PSH allowed on the
 * last), payload no larger than the first one's, and the result within max bytes.
 */
bool vnet_gso_fits(const struct vnet_gso *g, const uint8_t *pkt, const uint8_t *hdr,
                   uint32_t hdr_len, uint32_t len, uint32_t max);
/* Records that the payload of that segment (len - g->hlen bytes) was appended to pkt. */
void vnet_gso_append(struct vnet_gso *g, uint8_t *pkt, const uint8_t *hdr, uint32_t len);
/*
 * Finishes the super-packet: IP length (and IPv4 header checksum), the TCP pseudo-header sum
 * and h (GSO facts when more than one segment went in). Returns g->len.
 */
uint32_t vnet_gso_close(struct vnet_gso *g, uint8_t *pkt, struct tg_vnet_hdr *h);

#endif

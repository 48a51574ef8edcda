/*
 * The two links tungate creates and hands to its children: the memfd and one eventfd per
 * side (the bell that side sleeps on). Geometry as in docs/CONTRACTS.md.
 */
#ifndef TG_LINKS_H
#define TG_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_LINK_A_SLOTS    1024u
#define TG_LINK_A_HEADROOM 128u
/*
 * Link B slots hold a whole UDP datagram (up to 65,507 bytes) behind its 40-byte address
 * header, so that a datagram never spans slots. Pages of unused slots are never touched, and
 * the free-slot stack reuses the same few slots first, so the size costs address space, not RSS.
 */
#define TG_LINK_B_SLOT_SIZE 65600u
/*
 * Every flow message with a payload (a TCP_OPEN, a datagram) holds a slot until the peer is
 * done with it, so the count bounds bursts: 256 ran out under 256 parallel handshakes
 * (bench/run.sh) and refused connections. 1024 is 64 MiB of address space per direction.
 */
#define TG_LINK_B_SLOTS     1024u
#define TG_LINK_FIRST_EPOCH 1u

struct tg_shm_link {
	const char *name;
	int memfd;
	int bell[2]; /* bell[s]: the eventfd side s sleeps on and the other side rings */
	uint32_t epoch;
	uint32_t slot_size;
	uint32_t slot_count;
};

/* vnet_hdr: the TUN has IFF_VNET_HDR (tun_offload.h): room for the header and 64 KiB packets. */
uint32_t tg_link_a_slot_size(unsigned mtu, bool vnet_hdr);

/* Creates link A (tunio <-> stackd) and link B (stackd <-> relayd). Fatal on failure. */
void tg_links_create(struct tg_shm_link *a, struct tg_shm_link *b, unsigned mtu, bool vnet_hdr);
void tg_links_close(struct tg_shm_link *link);
/*
 * Replaces a link whose process died: a new segment and bells with the next epoch. The old
 * segment is dropped whole (the survivor drops its mapping when told), so nothing of the
 * dead process's half-done ring operations or held slots can reach the new one.
 */
void tg_links_renew(struct tg_shm_link *link);

/* "MEMFD,BELL_SELF,BELL_PEER" as the process on `side` is given it on its command line. */
void tg_links_fdarg(const struct tg_shm_link *link, int side, char *buf, size_t len);

#endif

/*
 * Every message that crosses a link, in one enum, each with its direction. A message is one
 * struct tg_desc (link.h); the ones marked "slot" carry a payload in a slot of the sender.
 * docs/protocol.md describes the wire; this header is its source of truth.
 *
 * Link A (tunio <-> stackd) carries packets (TUN) or frames (TAP), nothing else.
 * Link B (stackd <-> relayd) carries flows: each flow has a 32-bit id chosen by stackd, never
 * reused while either side may still mention it.
 *
 * Flow control on link B: a side may send DATA for a flow only while the bytes it sent exceed
 * the bytes the receiver acknowledged with CREDIT by less than the window both announced in
 * HELLO. The receiver grants CREDIT once it has handed the bytes on (to lwIP's send buffer or
 * to the outbound socket), so a slow reader slows its sender through TCP's window instead of
 * filling memory.
 */
#ifndef TG_PROTO_H
#define TG_PROTO_H

#include <stdint.h>

#include "addr.h"

#define TG_PROTO_VERSION_MIN 1u
#define TG_PROTO_VERSION_MAX 2u
/* Version 2 added TG_MSG_UDP_BATCH: a side sends it only to a peer that speaks version 2. */
#define TG_PROTO_VERSION_UDP_BATCH 2u

/*
 * PACKET flags (link A). TG_PKT_F_VNET: the TUN has IFF_VNET_HDR (docs/protocol.md): the slot
 * starts with the kernel's struct virtio_net_hdr (checksum and GSO facts, host byte order),
 * then the packet; len counts both. tunio sets it on what it reads; stackd answers in the
 * format it is spoken to. The header is untrusted input for stackd (stackd/offload.c).
 */
#define TG_PKT_F_VNET   0x0001u
#define TG_VNET_HDR_LEN 10u /* sizeof(struct virtio_net_hdr) */

enum tg_msg_type {
	TG_MSG_NONE = 0,
	/* both links, both ways, first message: slot = struct tg_msg_hello */
	TG_MSG_HELLO = 1,

	/*
	 * link A, both ways: slot = one IP packet (TUN) or Ethernet frame (TAP); with
	 * TG_PKT_F_VNET in flags, a struct virtio_net_hdr (TG_VNET_HDR_LEN bytes) comes first
	 */
	TG_MSG_PACKET = 2,

	/* link B, stackd -> relayd: slot = struct tg_msg_open. arg = enum tg_open_mode */
	TG_MSG_TCP_OPEN = 10,
	/* link B, relayd -> stackd: arg = enum tg_open_result */
	TG_MSG_OPEN_RESULT = 11,
	/* link B, both ways: slot = stream bytes of the flow */
	TG_MSG_DATA = 12,
	/* link B, both ways: arg = bytes the receiver has handed on since its last CREDIT */
	TG_MSG_CREDIT = 13,
	/* link B, both ways: the sender will send no more DATA on this flow (TCP FIN) */
	TG_MSG_SHUT_WR = 14,
	/* link B, both ways: abort the flow at once (TCP RST); both sides forget it */
	TG_MSG_RESET = 15,
	/*
	 * link B, relayd -> stackd: after SHUT_WR went both ways, relayd has forgotten the flow;
	 * stackd forgets it too. A flow ends on link B with CLOSED or with a RESET either way.
	 */
	TG_MSG_CLOSED = 16,
	/* link B, both ways: slot = struct tg_msg_udp followed by the datagram */
	TG_MSG_UDP = 20,
	/* link B, both ways: slot = struct tg_msg_udp followed by the ICMP echo payload */
	TG_MSG_ICMP_ECHO = 21,
	/* link B, relayd -> stackd: slot = struct tg_msg_udp; arg = enum tg_open_result */
	TG_MSG_UDP_ERROR = 22,
	/*
	 * link B, both ways, only to a peer whose HELLO.version_max >= TG_PROTO_VERSION_UDP_BATCH:
	 * slot = struct tg_msg_udp, then arg records (udp_batch.h); several datagrams of one UDP
	 * flow, in order. arg = record count
	 */
	TG_MSG_UDP_BATCH = 23,

	TG_MSG_MAX
};

/* How stackd answers a client's SYN (DESIGN.md section 3). */
enum tg_open_mode {
	TG_OPEN_FAST = 0,       /* SYN-ACK at once; a failed connect resets the client */
	TG_OPEN_CONSISTENT = 1, /* hold the SYN until relayd reports the outcome */
};

enum tg_open_result {
	TG_OPEN_OK = 0,
	TG_OPEN_REFUSED = 1,     /* client sees RST */
	TG_OPEN_UNREACHABLE = 2, /* client sees ICMP host/net unreachable (consistent mode) */
	TG_OPEN_TIMEOUT = 3,     /* client sees nothing (consistent mode) */
	TG_OPEN_REJECTED = 4,    /* a rule or a limit refused it: RST */
	TG_OPEN_RESULT_MAX
};

enum tg_link_role {
	TG_ROLE_TUNIO = 1,
	TG_ROLE_STACKD = 2,
	TG_ROLE_RELAYD = 3,
};

struct tg_msg_hello {
	uint32_t magic; /* TG_LINK_MAGIC */
	uint16_t version_min;
	uint16_t version_max;
	uint32_t epoch;
	uint32_t pid;
	uint32_t role;   /* enum tg_link_role */
	uint32_t window; /* link B: initial send window per flow, in bytes */
};
_Static_assert(sizeof(struct tg_msg_hello) == 24, "wire struct");

struct tg_msg_open {
	struct tg_addr src; /* the client */
	struct tg_addr dst; /* the original destination */
	uint8_t proto;      /* IPPROTO_TCP */
	uint8_t reserved[3];
};
_Static_assert(sizeof(struct tg_msg_open) == 44, "wire struct");

struct tg_msg_udp {
	struct tg_addr src;
	struct tg_addr dst;
};
_Static_assert(sizeof(struct tg_msg_udp) == 40, "wire struct");

struct tg_link_end;
struct tg_desc;

const char *tg_msg_name(unsigned type);
/* Queues this side's HELLO; every link starts with one in each direction. */
int tg_hello_send(struct tg_link_end *end, enum tg_link_role role, uint32_t window);
/*
 * Checks a received HELLO: slot size, magic, overlapping version range, epoch and the
 * expected peer role. Copies it to *out. Returns 0, or -1 after logging why. Releases the slot.
 */
int tg_hello_check(struct tg_link_end *end, const struct tg_desc *d, enum tg_link_role peer_role,
                   struct tg_msg_hello *out);
const char *tg_open_result_name(unsigned result);

#endif

/*
 * SOCKS5 UDP ASSOCIATE (RFC 1928, sections 4, 6 and 7): the UDP request header, and one
 * association: a TCP control connection to the proxy (socks5.c runs its handshake, with the
 * same authentication as CONNECT) and a UDP socket that exchanges header-wrapped datagrams
 * with the relay address the proxy names. The association lives exactly as long as the
 * control connection.
 *
 * relay_udp.c makes one association per UDP flow (one NAT entry): docs/protocols.md,
 * "Upstreams", says why and what it costs.
 *
 * Everything that comes from the proxy is untrusted: a datagram whose header is short,
 * malformed, a fragment (FRAG != 0: we never reassemble), or names a domain is dropped and
 * counted, never parsed beyond its bytes.
 */
#ifndef TG_SOCKS5_UDP_H
#define TG_SOCKS5_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "socks5.h"

/* RSV RSV FRAG ATYP, then 4 or 16 address bytes and the port. */
#define SOCKS5_UDP_HDR_MIN 4
#define SOCKS5_UDP_HDR_MAX (4 + 16 + 2)
/* Datagrams held while the association is set up, at most this many and bytes. */
#define SOCKS5_UDP_QUEUE_MAX   16
#define SOCKS5_UDP_QUEUE_BYTES (256u * 1024u)

/* Writes the header for a datagram to dst: its length, or 0 if it does not fit (or no IP). */
size_t socks5_udp_encode_header(const struct tg_addr *dst, uint8_t *buf, size_t len);

enum socks5_udp_verdict {
	SOCKS5_UDP_OK = 0,
	SOCKS5_UDP_SHORT,  /* fewer bytes than the header needs */
	SOCKS5_UDP_RSV,    /* reserved bytes not zero */
	SOCKS5_UDP_FRAG,   /* FRAG != 0: part of a fragmented datagram */
	SOCKS5_UDP_DOMAIN, /* ATYP 3: a name, which relayd cannot match to a flow */
	SOCKS5_UDP_ATYP,   /* any other unknown address type */
};

/*
 * Checks the header of a datagram from the relay. SOCKS5_UDP_OK: *from is the remote end the
 * payload came from (zeroed, then filled), *hdr_len the header's length (the payload follows,
 * possibly empty). Anything else: a drop; neither is written.
 */
enum socks5_udp_verdict socks5_udp_parse(const uint8_t *p, size_t len, struct tg_addr *from,
                                         size_t *hdr_len);
const char *socks5_udp_verdict_name(enum socks5_udp_verdict v);

/* Counters of every association, kept by relayd (relayd.h) and published as socks_udp_*. */
struct socks5_udp_stats {
	uint64_t assoc_opened;    /* the proxy granted UDP ASSOCIATE */
	uint64_t assoc_failed;    /* setup failed: proxy unreachable, refused, timed out, bad */
	uint64_t assoc_ended;     /* an open association ended: control connection or relay gone */
	uint64_t queued;          /* datagrams held during setup (sent once it is up) */
	uint64_t drop_queue_full; /* ... beyond SOCKS5_UDP_QUEUE_MAX or _BYTES: dropped */
	uint64_t drop_frag;       /* from the relay: FRAG != 0 */
	uint64_t drop_header;     /* from the relay: short header, RSV, unknown ATYP, domain */
	uint64_t drop_foreign;    /* from the relay: a source other than the flow's destination */
};

struct event_base;
struct socks5_udp;

struct socks5_udp_cbs {
	/* Applied to each new socket (mark, device: outbound.h): 0, or -1 with errno. Or NULL. */
	int (*prepare)(int fd, int family);
	/* The association is up; datagrams queued meanwhile have been sent. */
	void (*on_ready)(void *arg);
	/* A valid datagram from the relay: from is the remote end its header names. */
	void (*on_datagram)(void *arg, const struct tg_addr *from, const uint8_t *data, size_t len);
	/*
	 * Setup failed, or the association ended (control connection closed or failed, relay
	 * gone: REJECTED): result says what the client is to hear (a failed setup: as the reply
	 * code says, socks5_reply_result(); TIMEOUT when the proxy was too slow), why in words.
	 * Called last from an event callback of the association: the callee frees it
	 * (socks5_udp_free) and nothing touches it afterwards.
	 */
	void (*on_end)(void *arg, enum tg_open_result result, const char *why);
};

/*
 * Starts an association through the proxy up (which must outlive it): the control
 * connection's connect, the handshake and the relay address must all come within timeout.
 * NULL with errno set when no socket can be had; nothing is called back then.
 */
struct socks5_udp *socks5_udp_new(struct event_base *base, const struct relay_upstream *up,
                                  const struct timeval *timeout, struct socks5_udp_stats *st,
                                  const struct socks5_udp_cbs *cbs, void *arg);

/*
 * One datagram to dst. Returns 0 (sent), 1 (queued until the association is up), or -1 with
 * errno: EMSGSIZE (header and payload do not fit one datagram), EBUSY (setup queue full;
 * counted in drop_queue_full), or send()'s own. Never calls back: an error that means the
 * relay is gone ends the association from the event loop a moment later.
 */
int socks5_udp_send(struct socks5_udp *a, const struct tg_addr *dst, const void *data, size_t len);

/* Closes the control connection (which ends the association at the proxy) and the socket. */
void socks5_udp_free(struct socks5_udp *a);

#endif

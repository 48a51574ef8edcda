/*
 * A SOCKS5 client for CONNECT and UDP ASSOCIATE (RFC 1928), with no authentication or
 * username/password (RFC 1929); socks5_udp.h adds the UDP side of an association. The encoders
 * and parsers are pure functions on byte buffers (unit-tested on their own); socks5_client_*()
 * run one handshake over a connected socket's evbuffers, on relayd's libevent loop, and never
 * block.
 *
 * Everything the proxy sends is checked before it is used: a reply that is short waits for
 * more, one that is malformed fails the handshake, nothing unvalidated is copied.
 */
#ifndef TG_SOCKS5_H
#define TG_SOCKS5_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "proto.h"

#define SOCKS5_VERSION                0x05
#define SOCKS5_AUTH_VERSION           0x01 /* RFC 1929's subnegotiation version */
#define SOCKS5_METHOD_NONE            0x00
#define SOCKS5_METHOD_USER            0x02
#define SOCKS5_METHOD_NONE_ACCEPTABLE 0xff
#define SOCKS5_CMD_CONNECT            0x01
#define SOCKS5_CMD_UDP_ASSOCIATE      0x03
#define SOCKS5_ATYP_IPV4              0x01
#define SOCKS5_ATYP_DOMAIN            0x03
#define SOCKS5_ATYP_IPV6              0x04
#define SOCKS5_CRED_MAX               255 /* RFC 1929: ULEN and PLEN are one byte, 1..255 */
/* Longest message we write: the auth request (3 + 2 * 255 bytes). */
#define SOCKS5_MSG_MAX (3 + 2 * SOCKS5_CRED_MAX)

enum relay_upstream_kind {
	RELAY_UPSTREAM_DIRECT = 0, /* connect to the flow's destination */
	RELAY_UPSTREAM_SOCKS5 = 1, /* connect to a SOCKS5 proxy and ask it to */
};

/*
 * Where a TCP flow goes out. One per relayd today; a rule (per destination) will pick one of
 * several, so relay_tcp_open() takes it per flow and a flow keeps a pointer to it.
 */
struct relay_upstream {
	enum relay_upstream_kind kind;
	struct tg_addr server; /* SOCKS5: the proxy */
	size_t user_len;       /* 0: no authentication offered */
	size_t pass_len;
	char user[SOCKS5_CRED_MAX];
	char pass[SOCKS5_CRED_MAX];
};

/* Sets the credentials (both, or neither: NULL or ""). Returns 0, or -1 if too long/lone. */
int socks5_set_auth(struct relay_upstream *up, const char *user, const char *pass);

/* Encoders: the message's length, or 0 if it does not fit in len (or dst is no IP). */
size_t socks5_encode_greeting(const struct relay_upstream *up, uint8_t *buf, size_t len);
size_t socks5_encode_auth(const struct relay_upstream *up, uint8_t *buf, size_t len);
size_t socks5_encode_connect(const struct tg_addr *dst, uint8_t *buf, size_t len);
/* CONNECT or UDP ASSOCIATE: VER CMD RSV ATYP ADDR PORT, for an IPv4 or IPv6 address. */
size_t socks5_encode_request(uint8_t cmd, const struct tg_addr *addr, uint8_t *buf, size_t len);
/*
 * The address part every SOCKS5 message shares: ATYP, IPv4 or IPv6 address, port. Returns the
 * bytes written (7 or 19), 0 if a is neither family or len is too short.
 */
size_t socks5_encode_addr(const struct tg_addr *a, uint8_t *buf, size_t len);
/* The reverse, for an ATYP of IPv4 or IPv6 whose bytes the caller checked are all there. */
void socks5_decode_addr(const uint8_t *p, struct tg_addr *a);

/*
 * Parsers of the proxy's three replies. Each returns the reply's length (> 0) once it is
 * complete, 0 when more bytes are needed, -1 when it is malformed or says no; *result then
 * tells what stackd is to report (TG_OPEN_OK only with a positive return), *why says why in
 * words for the log.
 */
ssize_t socks5_parse_method(const uint8_t *p, size_t len, uint8_t offered,
                            enum tg_open_result *result, const char **why);
ssize_t socks5_parse_auth(const uint8_t *p, size_t len, enum tg_open_result *result,
                          const char **why);
ssize_t socks5_parse_connect(const uint8_t *p, size_t len, enum tg_open_result *result,
                             const char **why);
/*
 * The same for any request's reply, also giving BND.ADDR and BND.PORT in *bound (may be
 * NULL): zeroed, with family 0, when the proxy named a domain (relayd has no resolver).
 */
ssize_t socks5_parse_reply(const uint8_t *p, size_t len, struct tg_addr *bound,
                           enum tg_open_result *result, const char **why);

/* The open result a CONNECT reply code (REP) stands for. */
enum tg_open_result socks5_reply_result(uint8_t rep);
const char *socks5_reply_name(uint8_t rep);

/* ---- one handshake over a connected socket ---------------------------------------------- */

struct evbuffer;

enum socks5_state {
	SOCKS5_WAIT_METHOD = 0,
	SOCKS5_WAIT_AUTH,
	SOCKS5_WAIT_CONNECT, /* the reply to our request, CONNECT or UDP ASSOCIATE */
	SOCKS5_DONE,
};

struct socks5_client {
	enum socks5_state state;
	const struct relay_upstream *up;
	uint8_t cmd;          /* SOCKS5_CMD_CONNECT or SOCKS5_CMD_UDP_ASSOCIATE */
	struct tg_addr dst;   /* the request's address: the destination, or our UDP end */
	struct tg_addr bound; /* once DONE: the reply's BND.ADDR:BND.PORT (family 0: a name) */
};

enum socks5_step {
	SOCKS5_STEP_MORE = 0,    /* waiting for the proxy */
	SOCKS5_STEP_DONE = 1,    /* the proxy connected: relay from now on */
	SOCKS5_STEP_FAILED = -1, /* *result and *why tell why */
};

/* The TCP connection to the proxy is up: queues the greeting on out. Returns 0 or -1. */
int socks5_client_start(struct socks5_client *c, const struct relay_upstream *up,
                        const struct tg_addr *dst, struct evbuffer *out);
/* The same for a command of choice (CONNECT to dst, or UDP ASSOCIATE from dst). */
int socks5_client_start_cmd(struct socks5_client *c, const struct relay_upstream *up, uint8_t cmd,
                            const struct tg_addr *dst, struct evbuffer *out);

/*
 * Takes the replies in in (draining exactly the bytes they take: whatever follows the CONNECT
 * reply is the server's) and queues the next request on out.
 */
enum socks5_step socks5_client_input(struct socks5_client *c, struct evbuffer *in,
                                     struct evbuffer *out, enum tg_open_result *result,
                                     const char **why);

#endif

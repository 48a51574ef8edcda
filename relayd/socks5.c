/*
 * SOCKS5 client handshake, CONNECT and UDP ASSOCIATE (RFC 1928, RFC 1929): see socks5.h. The
 * parsers read only from the bytes they were given and check each length before the bytes it
 * covers, so a proxy that lies or stops half-way costs a failed flow, never memory or a crash.
 */
#include "socks5.h"

#include <string.h>

#include <event2/buffer.h>

/* Longest CONNECT reply: 4 + 1 + 255 (domain) + 2. A larger one is never needed at once. */
#define REPLY_MAX (4 + 1 + 255 + 2)

int socks5_set_auth(struct relay_upstream *up, const char *user, const char *pass)
{
	size_t ulen = user ? strlen(user) : 0, plen = pass ? strlen(pass) : 0;

	if ((ulen == 0) != (plen == 0) || ulen > SOCKS5_CRED_MAX || plen > SOCKS5_CRED_MAX)
		return -1;
	memcpy(up->user, user ? user : "", ulen);
	memcpy(up->pass, pass ? pass : "", plen);
	up->user_len = ulen;
	up->pass_len = plen;
	return 0;
}

/* We offer exactly one method: the one configured. A proxy may not pick another. */
static uint8_t offered_method(const struct relay_upstream *up)
{
	return up->user_len > 0 ? SOCKS5_METHOD_USER : SOCKS5_METHOD_NONE;
}

size_t socks5_encode_greeting(const struct relay_upstream *up, uint8_t *buf, size_t len)
{
	if (len < 3)
		return 0;
	buf[0] = SOCKS5_VERSION;
	buf[1] = 1; /* NMETHODS */
	buf[2] = offered_method(up);
	return 3;
}

size_t socks5_encode_auth(const struct relay_upstream *up, uint8_t *buf, size_t len)
{
	size_t need = 3 + up->user_len + up->pass_len;

	if (up->user_len == 0 || up->user_len > SOCKS5_CRED_MAX || up->pass_len == 0 ||
	    up->pass_len > SOCKS5_CRED_MAX || len < need)
		return 0;
	buf[0] = SOCKS5_AUTH_VERSION;
	buf[1] = (uint8_t)up->user_len;
	memcpy(buf + 2, up->user, up->user_len);
	buf[2 + up->user_len] = (uint8_t)up->pass_len;
	memcpy(buf + 3 + up->user_len, up->pass, up->pass_len);
	return need;
}

size_t socks5_encode_connect(const struct tg_addr *dst, uint8_t *buf, size_t len)
{
	return socks5_encode_request(SOCKS5_CMD_CONNECT, dst, buf, len);
}

size_t socks5_encode_addr(const struct tg_addr *a, uint8_t *buf, size_t len)
{
	size_t alen;

	if (a->family == TG_AF_INET4)
		alen = 4;
	else if (a->family == TG_AF_INET6)
		alen = 16;
	else
		return 0;
	if (len < 1 + alen + 2)
		return 0;
	buf[0] = alen == 4 ? SOCKS5_ATYP_IPV4 : SOCKS5_ATYP_IPV6;
	memcpy(buf + 1, a->ip, alen);
	buf[1 + alen] = (uint8_t)(a->port >> 8);
	buf[2 + alen] = (uint8_t)(a->port & 0xff);
	return 1 + alen + 2;
}

void socks5_decode_addr(const uint8_t *p, struct tg_addr *a)
{
	size_t alen = p[0] == SOCKS5_ATYP_IPV4 ? 4 : 16;

	memset(a, 0, sizeof(*a));
	a->family = alen == 4 ? TG_AF_INET4 : TG_AF_INET6;
	memcpy(a->ip, p + 1, alen);
	a->port = (uint16_t)(p[1 + alen] << 8 | p[2 + alen]);
}

size_t socks5_encode_request(uint8_t cmd, const struct tg_addr *dst, uint8_t *buf, size_t len)
{
	size_t n;

	if (len < 3 || (n = socks5_encode_addr(dst, buf + 3, len - 3)) == 0)
		return 0;
	buf[0] = SOCKS5_VERSION;
	buf[1] = cmd;
	buf[2] = 0; /* RSV */
	return 3 + n;
}

static ssize_t malformed(enum tg_open_result *result, const char **why, const char *what)
{
	*result = TG_OPEN_REJECTED;
	*why = what;
	return -1;
}

ssize_t socks5_parse_method(const uint8_t *p, size_t len, uint8_t offered,
                            enum tg_open_result *result, const char **why)
{
	if (len < 2)
		return 0;
	if (p[0] != SOCKS5_VERSION)
		return malformed(result, why, "method reply: not SOCKS version 5");
	if (p[1] == SOCKS5_METHOD_NONE_ACCEPTABLE)
		return malformed(result, why, "proxy accepts none of our methods");
	if (p[1] != offered)
		return malformed(result, why, "proxy chose a method we did not offer");
	*result = TG_OPEN_OK;
	*why = "method accepted";
	return 2;
}

ssize_t socks5_parse_auth(const uint8_t *p, size_t len, enum tg_open_result *result,
                          const char **why)
{
	if (len < 2)
		return 0;
	if (p[0] != SOCKS5_AUTH_VERSION)
		return malformed(result, why, "auth reply: not version 1");
	if (p[1] != 0)
		return malformed(result, why, "authentication failed");
	*result = TG_OPEN_OK;
	*why = "authenticated";
	return 2;
}

enum tg_open_result socks5_reply_result(uint8_t rep)
{
	switch (rep) {
	case 0x00:
		return TG_OPEN_OK;
	case 0x03: /* network unreachable */
	case 0x04: /* host unreachable */
		return TG_OPEN_UNREACHABLE;
	case 0x05: /* connection refused */
		return TG_OPEN_REFUSED;
	case 0x06: /* TTL expired */
		return TG_OPEN_TIMEOUT;
	default: /* 0x01 general failure, 0x02 not allowed, 0x07, 0x08, unassigned codes */
		return TG_OPEN_REJECTED;
	}
}

const char *socks5_reply_name(uint8_t rep)
{
	static const char *const names[] = {
	        "succeeded",           "general failure",       "not allowed by ruleset",
	        "network unreachable", "host unreachable",      "connection refused",
	        "TTL expired",         "command not supported", "address type not supported",
	};

	return rep < sizeof(names) / sizeof(names[0]) ? names[rep] : "unassigned reply code";
}

/*
 * VER REP RSV ATYP BND.ADDR BND.PORT. A refusal is final as soon as its first four bytes are
 * in: what follows would only be skipped, and a proxy may close right after them.
 */
ssize_t socks5_parse_connect(const uint8_t *p, size_t len, enum tg_open_result *result,
                             const char **why)
{
	return socks5_parse_reply(p, len, NULL, result, why);
}

/* BND.ADDR and BND.PORT of a complete, valid reply of alen address bytes. */
static void take_bound(const uint8_t *p, size_t alen, struct tg_addr *bound)
{
	if (!bound)
		return;
	if (p[3] == SOCKS5_ATYP_DOMAIN)
		memset(bound, 0, sizeof(*bound)); /* family 0: no address we could use */
	else
		socks5_decode_addr(p + 3, bound);
}

ssize_t socks5_parse_reply(const uint8_t *p, size_t len, struct tg_addr *bound,
                           enum tg_open_result *result, const char **why)
{
	size_t alen;

	if (len < 4)
		return 0;
	if (p[0] != SOCKS5_VERSION)
		return malformed(result, why, "connect reply: not SOCKS version 5");
	if (p[1] != 0x00) {
		*result = socks5_reply_result(p[1]);
		*why = socks5_reply_name(p[1]);
		return -1;
	}
	if (p[2] != 0x00)
		return malformed(result, why, "connect reply: reserved byte not zero");
	switch (p[3]) {
	case SOCKS5_ATYP_IPV4:
		alen = 4;
		break;
	case SOCKS5_ATYP_IPV6:
		alen = 16;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < 5)
			return 0;
		if (p[4] == 0)
			return malformed(result, why, "connect reply: empty domain name");
		alen = 1 + (size_t)p[4]; /* the length byte and the name, skipped unread */
		break;
	default:
		return malformed(result, why, "connect reply: unknown address type");
	}
	if (len < 4 + alen + 2)
		return 0;
	take_bound(p, alen, bound);
	*result = TG_OPEN_OK;
	*why = "succeeded";
	return (ssize_t)(4 + alen + 2);
}

/* ---- the handshake on evbuffers ------------------------------------------------------- */

int socks5_client_start(struct socks5_client *c, const struct relay_upstream *up,
                        const struct tg_addr *dst, struct evbuffer *out)
{
	return socks5_client_start_cmd(c, up, SOCKS5_CMD_CONNECT, dst, out);
}

int socks5_client_start_cmd(struct socks5_client *c, const struct relay_upstream *up, uint8_t cmd,
                            const struct tg_addr *dst, struct evbuffer *out)
{
	uint8_t msg[3];
	size_t n = socks5_encode_greeting(up, msg, sizeof(msg));

	memset(c, 0, sizeof(*c));
	c->state = SOCKS5_WAIT_METHOD;
	c->up = up;
	c->cmd = cmd;
	c->dst = *dst;
	return n > 0 && evbuffer_add(out, msg, n) == 0 ? 0 : -1;
}

/* Queues the request that follows the method reply: the credentials, or the command. */
static int send_next(struct socks5_client *c, struct evbuffer *out)
{
	uint8_t msg[SOCKS5_MSG_MAX];
	size_t n;

	if (c->state == SOCKS5_WAIT_AUTH)
		n = socks5_encode_auth(c->up, msg, sizeof(msg));
	else
		n = socks5_encode_request(c->cmd, &c->dst, msg, sizeof(msg));
	/* The password leaves no copy on our stack once it is queued. */
	if (n > 0 && evbuffer_add(out, msg, n) < 0)
		n = 0;
	memset(msg, 0, sizeof(msg));
	return n > 0 ? 0 : -1;
}

/* Parses the reply the state waits for; ssize_t as the parsers return. */
static ssize_t parse_one(struct socks5_client *c, const uint8_t *p, size_t len,
                         enum tg_open_result *result, const char **why)
{
	switch (c->state) {
	case SOCKS5_WAIT_METHOD:
		return socks5_parse_method(p, len, offered_method(c->up), result, why);
	case SOCKS5_WAIT_AUTH:
		return socks5_parse_auth(p, len, result, why);
	case SOCKS5_WAIT_CONNECT:
		return socks5_parse_reply(p, len, &c->bound, result, why);
	default:
		return malformed(result, why, "handshake already over");
	}
}

static enum socks5_step advance(struct socks5_client *c, struct evbuffer *out,
                                enum tg_open_result *result, const char **why)
{
	if (c->state == SOCKS5_WAIT_CONNECT) {
		c->state = SOCKS5_DONE;
		return SOCKS5_STEP_DONE;
	}
	c->state = (c->state == SOCKS5_WAIT_METHOD && c->up->user_len > 0) ? SOCKS5_WAIT_AUTH
	                                                                   : SOCKS5_WAIT_CONNECT;
	if (send_next(c, out) < 0) {
		malformed(result, why, "out of memory");
		return SOCKS5_STEP_FAILED;
	}
	return SOCKS5_STEP_MORE;
}

enum socks5_step socks5_client_input(struct socks5_client *c, struct evbuffer *in,
                                     struct evbuffer *out, enum tg_open_result *result,
                                     const char **why)
{
	for (;;) {
		uint8_t buf[REPLY_MAX];
		size_t len = evbuffer_get_length(in);
		ssize_t n;
		enum socks5_step step;

		if (len > sizeof(buf))
			len = sizeof(buf);
		/* A copy: the reply may straddle evbuffer chains; the parser sees len bytes only.
		 */
		if (evbuffer_copyout(in, buf, len) != (ssize_t)len) {
			malformed(result, why, "cannot read the reply");
			return SOCKS5_STEP_FAILED;
		}
		n = parse_one(c, buf, len, result, why);
		if (n < 0)
			return SOCKS5_STEP_FAILED;
		if (n == 0)
			return SOCKS5_STEP_MORE;
		evbuffer_drain(in, (size_t)n);
		step = advance(c, out, result, why);
		if (step != SOCKS5_STEP_MORE)
			return step;
	}
}

/*
 * fuzz_socks5: relayd's SOCKS5 client (relayd/socks5.c) reading a proxy's replies, which come
 * from the network. The input is one configuration byte, one chunk size, then the proxy's
 * bytes:
 *   configuration: bit 0 offers username/password (RFC 1929), bit 1 asks for an IPv6
 *                  destination, bit 2 asks for UDP ASSOCIATE instead of CONNECT;
 *   chunk size:    the replies arrive in pieces of this many bytes (0: all at once), so that
 *                  every reply is also seen cut at every point.
 * The handshake runs on evbuffers as relayd runs it (socks5_client_start/input). Besides the
 * sanitizers, it is compared with a model built here from RFC 1928 and 1929: the requests
 * queued must be byte for byte the RFC's, the client must consume exactly the bytes of the
 * replies (what follows the CONNECT reply is the server's and must stay in the buffer), and it
 * may report success only for a complete, well-formed exchange, with the reply's BND.ADDR and
 * BND.PORT (the relay, for UDP ASSOCIATE) as the bytes say.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "log.h"
#include "socks5.h"

#define USER "alice"
#define PASS "s3cret"

enum { CFG_AUTH = 0x01, CFG_V6 = 0x02, CFG_ASSOC = 0x04 };

/* The model: what a reply of the given kind takes, from RFC 1928/1929 alone. */
enum reply_kind { R_METHOD, R_AUTH, R_CONNECT };

/* Bytes the reply takes (> 0), 0 if incomplete, -1 if it ends the handshake. */
static long model_reply(enum reply_kind kind, const uint8_t *p, size_t len, uint8_t method,
                        bool *ok)
{
	size_t need;

	*ok = false;
	if (len < 2)
		return 0;
	switch (kind) {
	case R_METHOD:
		if (p[0] != 5 || p[1] != method)
			return -1;
		*ok = true;
		return 2;
	case R_AUTH:
		if (p[0] != 1 || p[1] != 0)
			return -1;
		*ok = true;
		return 2;
	default:
		if (len < 4)
			return 0;
		if (p[0] != 5 || p[1] != 0 || p[2] != 0)
			return -1;
		if (p[3] == 1)
			need = 4 + 4 + 2;
		else if (p[3] == 4)
			need = 4 + 16 + 2;
		else if (p[3] == 3) {
			if (len < 5)
				return 0;
			if (p[4] == 0)
				return -1;
			need = 4 + 1 + p[4] + 2;
		} else
			return -1;
		if (len < need)
			return 0;
		*ok = true;
		return (long)need;
	}
}

/* The requests RFC 1928/1929 say the client sends, in order, up to the given reply. */
static size_t model_requests(const struct tg_addr *dst, bool auth, uint8_t cmd, int replies,
                             uint8_t *out)
{
	size_t n = 0;

	out[n++] = 5, out[n++] = 1, out[n++] = auth ? 2 : 0;
	if (replies >= 1 && auth) {
		out[n++] = 1;
		out[n++] = (uint8_t)strlen(USER);
		memcpy(out + n, USER, strlen(USER));
		n += strlen(USER);
		out[n++] = (uint8_t)strlen(PASS);
		memcpy(out + n, PASS, strlen(PASS));
		n += strlen(PASS);
	}
	if (replies >= (auth ? 2 : 1)) {
		bool v6 = dst->family == TG_AF_INET6;

		out[n++] = 5, out[n++] = cmd, out[n++] = 0, out[n++] = v6 ? 4 : 1;
		memcpy(out + n, dst->ip, v6 ? 16 : 4);
		n += v6 ? 16 : 4;
		out[n++] = (uint8_t)(dst->port >> 8);
		out[n++] = (uint8_t)dst->port;
	}
	return n;
}

/* The pure parsers on their own, on the whole input: within bounds, success only > 0. */
static void check_parsers(const uint8_t *p, size_t len)
{
	enum tg_open_result result = TG_OPEN_RESULT_MAX;
	const char *why = NULL;
	ssize_t r[4];

	r[0] = socks5_parse_method(p, len, 0, &result, &why);
	r[1] = socks5_parse_method(p, len, 2, &result, &why);
	r[2] = socks5_parse_auth(p, len, &result, &why);
	r[3] = socks5_parse_connect(p, len, &result, &why);
	for (int i = 0; i < 4; i++) {
		if (r[i] > (ssize_t)len)
			fuzz_fail("parser %d took %zd of %zu bytes", i, r[i], len);
		if (r[i] != 0 && (!why || strlen(why) == 0))
			fuzz_fail("parser %d decided without saying why", i);
	}
	if (p && len > 0)
		socks5_reply_name(p[0]);
}

/* BND.ADDR:BND.PORT of the complete reply r, as RFC 1928 lays it out (a name: family 0). */
static void check_bound(const struct tg_addr *b, const uint8_t *r)
{
	size_t alen = r[3] == 1 ? 4 : 16;

	if (r[3] == 3) {
		if (b->family != 0)
			fuzz_fail("a domain name BND.ADDR taken as an address");
		return;
	}
	if (b->family != (r[3] == 1 ? TG_AF_INET4 : TG_AF_INET6) ||
	    memcmp(b->ip, r + 4, alen) != 0 ||
	    b->port != (uint16_t)(r[4 + alen] << 8 | r[5 + alen]))
		fuzz_fail("BND.ADDR/BND.PORT not as the reply says");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_socks5", TG_LOG_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t cfg = fuzz_u8(&in), chunk = fuzz_u8(&in);
	bool auth = cfg & CFG_AUTH;
	struct relay_upstream up = {.kind = RELAY_UPSTREAM_SOCKS5};
	struct tg_addr dst = {.family = TG_AF_INET4, .port = 8080, .ip = {198, 51, 100, 7}};
	struct socks5_client c;
	struct evbuffer *ib = evbuffer_new(), *ob = evbuffer_new();
	enum socks5_step step = SOCKS5_STEP_MORE;
	enum tg_open_result result = TG_OPEN_RESULT_MAX;
	const char *why = NULL;
	const enum reply_kind kinds[3] = {R_METHOD, auth ? R_AUTH : R_CONNECT, R_CONNECT};
	size_t fed = 0, used = 0, nkinds = auth ? 3 : 2;
	int replies = 0;
	bool model_ok = false, model_failed = false;
	uint8_t want[SOCKS5_MSG_MAX * 3];
	size_t want_len, out_len, last = 0;
	uint8_t cmd = (cfg & CFG_ASSOC) ? SOCKS5_CMD_UDP_ASSOCIATE : SOCKS5_CMD_CONNECT;

	if (!ib || !ob)
		fuzz_fail("evbuffer_new failed");
	check_parsers(in.p, in.n);
	if (cfg & CFG_V6) {
		static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 7};

		dst.family = TG_AF_INET6;
		memcpy(dst.ip, v6, 16);
	}
	if (socks5_set_auth(&up, auth ? USER : NULL, auth ? PASS : NULL) < 0 ||
	    socks5_client_start_cmd(&c, &up, cmd, &dst, ob) < 0)
		fuzz_fail("cannot start a handshake");

	/* The model: how far the whole stream gets, and what it consumes. */
	while ((size_t)replies < nkinds && !model_failed) {
		long n = model_reply(kinds[replies], in.p + used, in.n - used, auth ? 2 : 0,
		                     &model_ok);

		if (n < 0)
			model_failed = true;
		else if (n == 0)
			break;
		else {
			last = used;
			used += (size_t)n;
			replies++;
		}
	}
	model_ok = (size_t)replies == nkinds;

	/* The client, fed in chunks; it must stop where the model stops. */
	while (fed < in.n && step == SOCKS5_STEP_MORE) {
		size_t n = chunk ? chunk : in.n;

		if (n > in.n - fed)
			n = in.n - fed;
		evbuffer_add(ib, in.p + fed, n);
		fed += n;
		step = socks5_client_input(&c, ib, ob, &result, &why);
	}
	if (step == SOCKS5_STEP_DONE) {
		if (!model_ok || result != TG_OPEN_OK || c.state != SOCKS5_DONE)
			fuzz_fail("handshake done where RFC 1928 says it is not");
		/* Exactly the replies were taken: the server's first bytes are still there. */
		if (fed - evbuffer_get_length(ib) != used)
			fuzz_fail("client took %zu bytes, the replies are %zu",
			          fed - evbuffer_get_length(ib), used);
		check_bound(&c.bound, in.p + last);
	} else if (step == SOCKS5_STEP_FAILED) {
		if (!model_failed || result == TG_OPEN_OK || !why)
			fuzz_fail("handshake failed where RFC 1928 says it goes on (%s)",
			          why ? why : "no reason");
	} else if (model_ok || model_failed) {
		fuzz_fail("client waits for more where RFC 1928 says the handshake ended");
	}

	/* What went to the proxy: the RFC's requests, each once, in order. */
	want_len = model_requests(&dst, auth, cmd, replies, want);
	out_len = evbuffer_get_length(ob);
	if (out_len != want_len || memcmp(evbuffer_pullup(ob, -1), want, want_len) != 0)
		fuzz_fail("client sent %zu bytes, RFC 1928 says %zu", out_len, want_len);
	evbuffer_free(ib);
	evbuffer_free(ob);
	return 0;
}

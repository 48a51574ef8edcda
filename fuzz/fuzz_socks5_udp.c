/*
 * fuzz_socks5_udp: the header of a datagram relayd receives from a SOCKS5 proxy's UDP relay
 * (relayd/socks5_udp.c, socks5_udp_parse), which comes from the network. The input is the
 * datagram as it arrived.
 *
 * Besides the sanitizers, each verdict is compared with a model written here from RFC 1928,
 * section 7 (RSV 2 bytes of zero, FRAG, ATYP, DST.ADDR, DST.PORT, DATA): the verdict must be
 * the model's, an accepted header must be exactly as long as its address type says and give
 * back the address and port it carries, and encoding that address again must give the very
 * same header bytes. Every prefix of the input is parsed too, so that a datagram cut short at
 * any point is seen.
 */
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "socks5_udp.h"

/* RFC 1928's verdict for a datagram of len bytes, and the header's length when it is whole. */
static enum socks5_udp_verdict model(const uint8_t *p, size_t len, size_t *hlen)
{
	size_t alen;

	if (len < 4)
		return SOCKS5_UDP_SHORT;
	if (p[0] || p[1])
		return SOCKS5_UDP_RSV;
	if (p[2])
		return SOCKS5_UDP_FRAG;
	if (p[3] == 3)
		return SOCKS5_UDP_DOMAIN;
	if (p[3] != 1 && p[3] != 4)
		return SOCKS5_UDP_ATYP;
	alen = p[3] == 1 ? 4 : 16;
	if (len < 4 + alen + 2)
		return SOCKS5_UDP_SHORT;
	*hlen = 4 + alen + 2;
	return SOCKS5_UDP_OK;
}

static void check(const uint8_t *p, size_t len)
{
	struct tg_addr from;
	size_t hlen = 0, want_hlen = 0;
	enum socks5_udp_verdict v = socks5_udp_parse(p, len, &from, &hlen);
	enum socks5_udp_verdict want = model(p, len, &want_hlen);
	uint8_t again[SOCKS5_UDP_HDR_MAX];

	if (v != want)
		fuzz_fail("verdict %s for %zu bytes, RFC 1928 says %s", socks5_udp_verdict_name(v),
		          len, socks5_udp_verdict_name(want));
	if (!socks5_udp_verdict_name(v))
		fuzz_fail("verdict without a name");
	if (v != SOCKS5_UDP_OK)
		return;
	if (hlen != want_hlen || hlen > len)
		fuzz_fail("header of %zu bytes, RFC 1928 says %zu (datagram %zu)", hlen, want_hlen,
		          len);
	if (from.family != (p[3] == 1 ? TG_AF_INET4 : TG_AF_INET6) || from.reserved != 0)
		fuzz_fail("address family %u for ATYP %u", from.family, p[3]);
	/* The address goes back into the same bytes: nothing read beyond, nothing dropped. */
	if (socks5_udp_encode_header(&from, again, sizeof(again)) != hlen ||
	    memcmp(again, p, hlen) != 0)
		fuzz_fail("the header does not encode back to itself");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_socks5_udp", TG_LOG_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The whole datagram, and each cut of its header (the first 23 bytes decide). */
	check(data, size);
	for (size_t n = 0; n < size && n <= SOCKS5_UDP_HDR_MAX; n++)
		check(data, n);
	return 0;
}

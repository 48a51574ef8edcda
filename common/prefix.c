/* IP prefixes and lists of them (prefix.h). */
#include "prefix.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "fdarg.h"

/* Zeroes the bits of addr past len. */
static void clear_host_bits(struct tg_prefix *p)
{
	for (unsigned bit = p->len; bit < sizeof(p->addr) * 8; bit++)
		p->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

int tg_prefix_parse(const char *text, struct tg_prefix *p, char *err, size_t errlen)
{
	char ip[INET6_ADDRSTRLEN], buf[TG_PREFIX_STRLEN];
	const char *slash = strchr(text, '/');
	size_t iplen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long len, max;
	struct tg_prefix net;

	memset(p, 0, sizeof(*p));
	if (iplen == 0 || iplen >= sizeof(ip))
		goto bad;
	memcpy(ip, text, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, p->addr) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, p->addr) == 1)
		p->family = AF_INET6;
	else
		goto bad;
	max = p->family == AF_INET ? 32 : 128;
	len = max;
	if (slash && tg_parse_uint(slash + 1, 0, max, &len) < 0) {
		snprintf(err, errlen, "\"%s\": prefix length is not 0..%lu", text, max);
		return -1;
	}
	p->len = (uint8_t)len;
	net = *p;
	clear_host_bits(&net);
	if (!tg_prefix_equal(&net, p)) {
		/* Most likely a typo: refuse it, and name the network rather than guess. */
		snprintf(err, errlen, "\"%s\": bits set past the prefix length (the network is %s)",
		         text, tg_prefix_format(&net, buf, sizeof(buf)));
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" is not an address or ADDR/LEN (IPv4 or IPv6)", text);
	return -1;
}

int tg_prefix_list_parse(const char *text, struct tg_prefix *out, size_t max, char *err,
                         size_t errlen)
{
	char item[INET6_ADDRSTRLEN + 8];
	size_t n = 0;
	const char *p = text;

	for (;;) {
		const char *end;
		size_t len;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' && n == 0)
			return 0;
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || len >= sizeof(item)) {
			snprintf(err, errlen, "\"%s\": an empty or overlong item", text);
			return -1;
		}
		if (n == max) {
			snprintf(err, errlen, "more than %zu items", max);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (tg_prefix_parse(item, &out[n], err, errlen) < 0)
			return -1;
		n++;
		if (!end)
			return (int)n;
		p = end + 1;
	}
}

const char *tg_prefix_format(const struct tg_prefix *p, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, len, "%s/%u", ip, p->len);
	return buf;
}

bool tg_prefix_equal(const struct tg_prefix *a, const struct tg_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

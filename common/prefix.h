/*
 * IP prefixes as the operator writes them ("198.18.0.0/15", "2001:db8::/32", "198.18.1.2"),
 * and comma-separated lists of them: [route] prefixes and exclude (docs/routing.md).
 */
#ifndef TG_PREFIX_H
#define TG_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text tg_prefix_format() writes: an IPv6 address, "/128" and a NUL. */
#define TG_PREFIX_STRLEN 52

struct tg_prefix {
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t len;      /* 0..32 or 0..128 */
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
};

/*
 * "ADDR/LEN" or "ADDR" (a host: /32 or /128). Bits past LEN must be zero: the kernel refuses
 * such a route, and in a rule (rules.c) "10.1.2.3/8" is most likely a typo; the error names
 * the network. Returns 0, or -1 with the reason in err.
 */
int tg_prefix_parse(const char *text, struct tg_prefix *p, char *err, size_t errlen);

/*
 * "P1,P2,..." with optional blanks around each; "" is the empty list. Returns the number of
 * prefixes (0..max), or -1 with the reason in err (which names the bad item).
 */
int tg_prefix_list_parse(const char *text, struct tg_prefix *out, size_t max, char *err,
                         size_t errlen);

const char *tg_prefix_format(const struct tg_prefix *p, char *buf, size_t len);

bool tg_prefix_equal(const struct tg_prefix *a, const struct tg_prefix *b);

#endif

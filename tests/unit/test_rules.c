/*
 * Routing rules (common/rules.c): the parser's good and bad specs with their messages, the
 * compiler's checks between keys, matching (CIDR v4/v6, ports, protocol, first match wins, the
 * default) and the binary form the children validate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules.h"

struct fixture {
	struct tg_rules_conf conf;
	struct tg_rules table;
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->conf.path, sizeof(f->conf.path), "/etc/tungate.conf");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void add_ok(struct fixture *f, const char *spec, uint32_t line)
{
	if (tg_rules_conf_add(&f->conf, spec, line, f->err, sizeof(f->err)) < 0)
		fail_msg("\"%s\" refused: %s", spec, f->err);
}

static void upstream_ok(struct fixture *f, const char *name, const char *server)
{
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, name, "type", "socks5", 40, f->err,
	                                            sizeof(f->err)),
	                 0);
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, name, "server", server, 41, f->err,
	                                            sizeof(f->err)),
	                 0);
}

static void compile_ok(struct fixture *f)
{
	if (tg_rules_compile(&f->conf, NULL, false, &f->table, f->err, sizeof(f->err)) < 0)
		fail_msg("compile failed: %s", f->err);
}

/* The spec must be refused with an error that contains every word given. */
static void add_bad(const char *spec, const char *word1, const char *word2)
{
	struct tg_rules_conf c;
	char err[256];

	memset(&c, 0, sizeof(c));
	if (tg_rules_conf_add(&c, "any tcp 1 direct", 1, err, sizeof(err)) < 0)
		fail_msg("setup rule refused: %s", err);
	if (tg_rules_conf_add(&c, spec, 7, err, sizeof(err)) == 0)
		fail_msg("\"%s\" was accepted", spec);
	if (strncmp(err, "rule 2: ", 8) != 0)
		fail_msg("\"%s\": error \"%s\" does not start with \"rule 2: \"", spec, err);
	if (word1 && !strstr(err, word1))
		fail_msg("\"%s\": error \"%s\" does not mention \"%s\"", spec, err, word1);
	if (word2 && !strstr(err, word2))
		fail_msg("\"%s\": error \"%s\" does not mention \"%s\"", spec, err, word2);
	assert_int_equal(c.nrules, 1);
}

static struct tg_addr addr(const char *ip, uint16_t port)
{
	struct tg_addr a = {.port = port};

	if (inet_pton(AF_INET, ip, a.ip) == 1)
		a.family = TG_AF_INET4;
	else if (inet_pton(AF_INET6, ip, a.ip) == 1)
		a.family = TG_AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	return a;
}

static uint32_t match(const struct fixture *f, uint8_t proto, const char *ip, uint16_t port)
{
	struct tg_addr a = addr(ip, port);

	return tg_rules_match(&f->table, proto, &a);
}

/* ---- parser ---------------------------------------------------------------------------- */

static void test_parse_good(void **state)
{
	struct fixture *f = *state;
	const struct tg_rule *r;

	add_ok(f, "10.0.0.0/8 tcp 443 socks5:proxyA consistent", 10);
	add_ok(f, "::/0 udp 53 direct", 11);
	add_ok(f, "198.18.1.99/32 any reject", 12);
	add_ok(f, "2001:db8::1 tcp 8000-8999 direct fast", 13);
	add_ok(f, "any any * socks5:proxyA", 14);
	add_ok(f, "198.18.0.0/15 tcp direct", 15);
	assert_int_equal(f->conf.nrules, 6);
	r = &f->conf.rule[0];
	assert_int_equal(r->family, TG_AF_INET4);
	assert_int_equal(r->prefix, 8);
	assert_int_equal(r->protos, TG_RULE_TCP);
	assert_int_equal(r->port_lo, 443);
	assert_int_equal(r->port_hi, 443);
	assert_int_equal(r->action, TG_RULE_SOCKS5);
	assert_int_equal(r->handshake, TG_RULE_HS_CONSISTENT);
	assert_int_equal(r->line, 10);
	assert_int_equal(f->conf.nupstreams, 1);
	assert_string_equal(f->conf.upstream[0].name, "proxyA");
	r = &f->conf.rule[1];
	assert_int_equal(r->family, TG_AF_INET6);
	assert_int_equal(r->prefix, 0);
	assert_int_equal(r->protos, TG_RULE_UDP);
	assert_int_equal(r->handshake, TG_RULE_HS_DEFAULT);
	r = &f->conf.rule[2];
	assert_int_equal(r->prefix, 32);
	assert_int_equal(r->protos, TG_RULE_ANY);
	assert_int_equal(r->port_lo, 0);
	assert_int_equal(r->port_hi, 65535);
	assert_int_equal(r->action, TG_RULE_REJECT);
	r = &f->conf.rule[3];
	assert_int_equal(r->prefix, 128);
	assert_int_equal(r->port_lo, 8000);
	assert_int_equal(r->port_hi, 8999);
	assert_int_equal(r->handshake, TG_RULE_HS_FAST);
	r = &f->conf.rule[4];
	assert_int_equal(r->family, 0);
	assert_int_equal(r->upstream, 0); /* the same upstream, not a second entry */
	r = &f->conf.rule[5];
	assert_int_equal(r->prefix, 15);
	assert_memory_equal(r->net, ((uint8_t[16]){198, 18}), 16);
}

static void test_parse_bad(void **state)
{
	(void)state;
	add_bad("", "expected", NULL);
	add_bad("10.0.0.0/8 tcp", "expected", NULL);
	add_bad("10.0.0.0/33 tcp direct", "prefix length is not 0..32", "10.0.0.0/33");
	add_bad("2001:db8::/129 tcp direct", "prefix length is not 0..128", NULL);
	add_bad("10.0.0.0/x tcp direct", "prefix", NULL);
	/* Host bits set: most likely a typo, refused with the network it would have been. */
	add_bad("10.1.2.3/8 tcp direct", "bits set past the prefix length", "10.0.0.0/8");
	add_bad("2001:db8::1/32 tcp direct", "past the prefix length", "2001:db8::/32");
	add_bad("example.com tcp direct", "not an address", "example.com");
	add_bad("10.0.0.0/8 sctp direct", "sctp", "tcp, udp, any");
	add_bad("10.0.0.0/8 tcp 0 direct", "not a port", NULL);
	add_bad("10.0.0.0/8 tcp 65536 direct", "not a port", NULL);
	add_bad("10.0.0.0/8 tcp 90-80 direct", "empty", NULL);
	add_bad("10.0.0.0/8 tcp 1-x direct", "range", NULL);
	add_bad("10.0.0.0/8 tcp 443 forward", "forward", "direct, socks5:NAME, reject");
	add_bad("10.0.0.0/8 tcp 443", "no action", NULL);
	add_bad("10.0.0.0/8 tcp 443 direct slow", "slow", "fast, consistent");
	add_bad("10.0.0.0/8 udp 53 direct consistent", "TCP only", NULL);
	add_bad("10.0.0.0/8 tcp reject fast", "reject", NULL);
	add_bad("10.0.0.0/8 tcp direct fast extra", "extra", NULL);
	add_bad("10.0.0.0/8 tcp 1 direct fast x y", "too many words", NULL);
	add_bad("10.0.0.0/8 tcp socks5:", "upstream name", NULL);
	add_bad("10.0.0.0/8 tcp socks5:a/b", "upstream name", NULL);
}

static void test_parse_limits(void **state)
{
	struct fixture *f = *state;
	char spec[64];

	for (int i = 0; i < TG_RULES_MAX - 1; i++)
		add_ok(f, "any tcp direct", (uint32_t)i + 1);
	assert_int_equal(tg_rules_conf_add(&f->conf, "any tcp direct", 999, f->err, sizeof(f->err)),
	                 -1);
	assert_non_null(strstr(f->err, "more than"));
	memset(&f->conf, 0, sizeof(f->conf));
	for (int i = 0; i < TG_UPSTREAMS_MAX; i++) {
		snprintf(spec, sizeof(spec), "any tcp socks5:p%d", i);
		add_ok(f, spec, 1);
	}
	assert_int_equal(
	        tg_rules_conf_add(&f->conf, "any tcp socks5:one-more", 2, f->err, sizeof(f->err)),
	        -1);
	assert_non_null(strstr(f->err, "upstreams"));
}

static void test_default_spec(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(tg_rules_conf_default(&f->conf, "reject", 3, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->conf.dflt.action, TG_RULE_REJECT);
	assert_int_equal(
	        tg_rules_conf_default(&f->conf, "socks5:p consistent", 3, f->err, sizeof(f->err)),
	        0);
	assert_int_equal(f->conf.dflt.action, TG_RULE_SOCKS5);
	assert_int_equal(f->conf.dflt.handshake, TG_RULE_HS_CONSISTENT);
	assert_int_equal(tg_rules_conf_default(&f->conf, "bounce", 3, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "default: "));
	assert_non_null(strstr(f->err, "bounce"));
}

/* ---- compiler: checks between keys ----------------------------------------------------- */

static void test_compile_unknown_upstream(void **state)
{
	struct fixture *f = *state;

	add_ok(f, "any tcp 80 direct", 5);
	add_ok(f, "any tcp 443 direct", 6);
	add_ok(f, "10.0.0.0/8 tcp socks5:x", 12);
	assert_int_equal(tg_rules_compile(&f->conf, NULL, false, &f->table, f->err, sizeof(f->err)),
	                 -1);
	assert_string_equal(f->err, "/etc/tungate.conf:12: [rules] rule 3: unknown upstream \"x\"");
}

static void test_compile_flag_rule(void **state)
{
	struct fixture *f = *state;

	add_ok(f, "10.0.0.0/8 tcp socks5:y", 0);
	assert_int_equal(tg_rules_compile(&f->conf, NULL, false, &f->table, f->err, sizeof(f->err)),
	                 -1);
	assert_string_equal(f->err, "--rule: rule 1: unknown upstream \"y\"");
}

static void test_compile_upstream_checks(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, "p", "type", "http", 20, f->err,
	                                            sizeof(f->err)),
	                 -1);
	assert_non_null(strstr(f->err, "http"));
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, "p", "server", "proxy:1080", 21,
	                                            f->err, sizeof(f->err)),
	                 -1);
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, "p", "colour", "red", 22, f->err,
	                                            sizeof(f->err)),
	                 -1);
	assert_non_null(strstr(f->err, "unknown key"));
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, "relay", "type", "socks5", 23, f->err,
	                                            sizeof(f->err)),
	                 -1);
	/* p has no server yet */
	assert_int_equal(tg_rules_compile(&f->conf, NULL, false, &f->table, f->err, sizeof(f->err)),
	                 -1);
	assert_string_equal(f->err, "/etc/tungate.conf:20: [upstream p]: no server");
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, "p", "server", "127.0.0.1:1080", 24,
	                                            f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(
	        tg_rules_conf_upstream_key(&f->conf, "p", "user", "u", 25, f->err, sizeof(f->err)),
	        0);
	assert_int_equal(tg_rules_compile(&f->conf, NULL, false, &f->table, f->err, sizeof(f->err)),
	                 -1);
	assert_non_null(strstr(f->err, "both or neither"));
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, "p", "password", "pw", 26, f->err,
	                                            sizeof(f->err)),
	                 0);
	compile_ok(f);
	assert_int_equal(f->table.nupstreams, 1);
	assert_string_equal(f->table.upstream[0].password, "pw");
}

static void test_compile_relay_shorthand(void **state)
{
	struct fixture *f = *state;
	struct tg_upstream relay = {0};

	add_ok(f, "10.0.0.0/8 tcp socks5", 3);
	/* no [relay] socks5_server: "socks5" alone names nothing */
	assert_int_equal(tg_rules_compile(&f->conf, NULL, false, &f->table, f->err, sizeof(f->err)),
	                 -1);
	assert_non_null(strstr(f->err, "rule 1: unknown upstream \"relay\""));
	assert_non_null(strstr(f->err, "socks5_server"));
	assert_int_equal(tg_addr_parse("127.0.0.1:1080", &relay.server), 0);
	assert_int_equal(
	        tg_rules_compile(&f->conf, &relay, true, &f->table, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->table.nrules, 2);
	assert_int_equal(f->table.rule[1].action, TG_RULE_SOCKS5); /* [relay] upstream = socks5 */
	assert_string_equal(f->table.upstream[f->table.rule[1].upstream].name, "relay");
	assert_int_equal(
	        tg_rules_compile(&f->conf, &relay, false, &f->table, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->table.rule[1].action, TG_RULE_DIRECT);
	/* an explicit default wins over [relay] upstream */
	assert_int_equal(tg_rules_conf_default(&f->conf, "reject", 9, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	        tg_rules_compile(&f->conf, &relay, true, &f->table, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->table.rule[1].action, TG_RULE_REJECT);
}

static void test_compile_default_unknown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(tg_rules_conf_default(&f->conf, "socks5:nope", 30, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(tg_rules_compile(&f->conf, NULL, false, &f->table, f->err, sizeof(f->err)),
	                 -1);
	assert_string_equal(f->err,
	                    "/etc/tungate.conf:30: [rules] default: unknown upstream \"nope\"");
}

/* ---- matching -------------------------------------------------------------------------- */

static void test_match(void **state)
{
	struct fixture *f = *state;

	upstream_ok(f, "a", "127.0.0.1:1080");
	upstream_ok(f, "b", "[::1]:1081");
	add_ok(f, "198.18.1.99/32 any reject", 1);            /* 0 */
	add_ok(f, "198.18.0.0/15 tcp 8000-8010 socks5:a", 2); /* 1 */
	add_ok(f, "198.18.0.0/15 tcp 9000 socks5:b fast", 3); /* 2 */
	add_ok(f, "198.18.0.0/16 udp 53 direct", 4);          /* 3 */
	add_ok(f, "2001:db8:1::/48 any socks5:b", 5);         /* 4 */
	add_ok(f, "10.128.0.0/9 tcp direct consistent", 6);   /* 5 */
	add_ok(f, "any tcp 22 reject", 7);                    /* 6 */
	assert_int_equal(tg_rules_conf_default(&f->conf, "socks5:a", 8, f->err, sizeof(f->err)), 0);
	compile_ok(f);
	assert_int_equal(f->table.nrules, 8);

	/* first match wins: the reject comes before the port rules */
	assert_int_equal(match(f, IPPROTO_TCP, "198.18.1.99", 8000), 0);
	assert_int_equal(match(f, IPPROTO_UDP, "198.18.1.99", 53), 0);
	/* port range edges */
	assert_int_equal(match(f, IPPROTO_TCP, "198.18.1.1", 8000), 1);
	assert_int_equal(match(f, IPPROTO_TCP, "198.18.1.1", 8010), 1);
	assert_int_equal(match(f, IPPROTO_TCP, "198.18.1.1", 8011), 7);
	assert_int_equal(match(f, IPPROTO_TCP, "198.18.1.1", 7999), 7);
	assert_int_equal(match(f, IPPROTO_TCP, "198.19.255.255", 9000), 2);
	/* CIDR edges: /15 covers 198.18 and 198.19, not 198.20 or 198.17 */
	assert_int_equal(match(f, IPPROTO_TCP, "198.20.0.0", 9000), 7);
	assert_int_equal(match(f, IPPROTO_TCP, "198.17.255.255", 9000), 7);
	/* protocol: UDP to a TCP rule's range falls through */
	assert_int_equal(match(f, IPPROTO_UDP, "198.18.1.1", 8000), 7);
	assert_int_equal(match(f, IPPROTO_UDP, "198.18.200.1", 53), 3);
	assert_int_equal(match(f, IPPROTO_UDP, "198.19.0.1", 53), 7); /* /16 */
	assert_int_equal(match(f, IPPROTO_TCP, "198.18.200.1", 53), 7);
	/* IPv6 /48, any protocol; an IPv4 rule never matches IPv6 and the other way round */
	assert_int_equal(match(f, IPPROTO_TCP, "2001:db8:1:ffff::1", 1), 4);
	assert_int_equal(match(f, IPPROTO_UDP, "2001:db8:1::", 65535), 4);
	assert_int_equal(match(f, IPPROTO_TCP, "2001:db8:2::1", 80), 7);
	assert_int_equal(match(f, IPPROTO_TCP, "::ffff:198.18.1.99", 80), 7);
	/* /9: a prefix that is not a whole byte */
	assert_int_equal(match(f, IPPROTO_TCP, "10.128.0.1", 80), 5);
	assert_int_equal(match(f, IPPROTO_TCP, "10.255.255.255", 80), 5);
	assert_int_equal(match(f, IPPROTO_TCP, "10.127.255.255", 80), 7);
	/* "any" address, either family */
	assert_int_equal(match(f, IPPROTO_TCP, "192.0.2.1", 22), 6);
	assert_int_equal(match(f, IPPROTO_TCP, "2001:db8:9::1", 22), 6);
	assert_int_equal(match(f, IPPROTO_UDP, "192.0.2.1", 22), 7);
	/* the default is the last rule and matches anything */
	assert_int_equal(f->table.rule[7].action, TG_RULE_SOCKS5);
	assert_int_equal(f->table.rule[7].family, 0);
	assert_string_equal(f->table.upstream[f->table.rule[7].upstream].name, "a");
	assert_string_equal(f->table.upstream[f->table.rule[2].upstream].name, "b");
}

static void test_match_no_rules(void **state)
{
	struct fixture *f = *state;

	compile_ok(f);
	assert_int_equal(f->table.nrules, 1);
	assert_int_equal(match(f, IPPROTO_TCP, "198.18.0.1", 80), 0);
	assert_int_equal(f->table.rule[0].action, TG_RULE_DIRECT);
	tg_rules_default(&f->table);
	assert_int_equal(match(f, IPPROTO_UDP, "2001:db8::1", 53), 0);
	assert_int_equal(f->table.rule[0].action, TG_RULE_DIRECT);
}

/* ---- binary form ----------------------------------------------------------------------- */

static size_t encode_sample(struct fixture *f, uint8_t *buf, size_t len, bool secrets)
{
	upstream_ok(f, "a", "127.0.0.1:1080");
	assert_int_equal(
	        tg_rules_conf_upstream_key(&f->conf, "a", "user", "u", 42, f->err, sizeof(f->err)),
	        0);
	assert_int_equal(tg_rules_conf_upstream_key(&f->conf, "a", "password", "secret", 43, f->err,
	                                            sizeof(f->err)),
	                 0);
	add_ok(f, "198.18.0.0/15 tcp 80 socks5:a consistent", 1);
	add_ok(f, "any udp reject", 2);
	compile_ok(f);
	return tg_rules_encode(&f->table, secrets, buf, len);
}

static void test_binary_roundtrip(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[sizeof(struct tg_rules) + 64];
	struct tg_rules back;
	size_t n = encode_sample(f, buf, sizeof(buf), true);

	assert_true(n > 0);
	assert_int_equal(tg_rules_encode(&f->table, true, buf, n - 1), 0);
	assert_int_equal(tg_rules_decode(buf, n, &back, f->err, sizeof(f->err)), 0);
	assert_int_equal(back.nrules, 3);
	assert_int_equal(back.nupstreams, 1);
	assert_memory_equal(back.rule, f->table.rule, 3 * sizeof(back.rule[0]));
	assert_string_equal(back.upstream[0].password, "secret");
	/* stackd's copy carries no credentials */
	n = tg_rules_encode(&f->table, false, buf, sizeof(buf));
	assert_int_equal(tg_rules_decode(buf, n, &back, f->err, sizeof(f->err)), 0);
	assert_string_equal(back.upstream[0].user, "");
	assert_string_equal(back.upstream[0].password, "");
	assert_null(memmem(buf, n, "secret", 6));
}

static void decode_bad(struct fixture *f, const uint8_t *buf, size_t n, const char *word)
{
	struct tg_rules back;

	if (tg_rules_decode(buf, n, &back, f->err, sizeof(f->err)) == 0)
		fail_msg("a corrupt table (%s) was accepted", word);
	if (!strstr(f->err, word))
		fail_msg("error \"%s\" does not mention \"%s\"", f->err, word);
}

static void test_binary_corrupt(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[sizeof(struct tg_rules) + 64], bad[sizeof(buf)];
	const size_t hdr = 16, rule0 = hdr, ups0 = hdr + 3 * sizeof(struct tg_rule);
	size_t n = encode_sample(f, buf, sizeof(buf), true);
	struct tg_rule r;

	decode_bad(f, buf, 3, "header");
	decode_bad(f, buf, n - 1, "do not fit");
	memcpy(bad, buf, n);
	bad[0] ^= 1;
	decode_bad(f, bad, n, "magic");
	memcpy(bad, buf, n);
	bad[8] = 0; /* nrules 0 */
	decode_bad(f, bad, n, "counts");
	memcpy(bad, buf, n);
	bad[12] = TG_UPSTREAMS_MAX + 1;
	decode_bad(f, bad, n, "counts");
	/* a rule naming an upstream that is not there */
	memcpy(bad, buf, n);
	memcpy(&r, bad + rule0, sizeof(r));
	r.upstream = 1;
	memcpy(bad + rule0, &r, sizeof(r));
	decode_bad(f, bad, n, "upstream 1 of 1");
	/* a prefix too long for its family */
	memcpy(bad, buf, n);
	r.upstream = 0;
	r.prefix = 33;
	memcpy(bad + rule0, &r, sizeof(r));
	decode_bad(f, bad, n, "prefix");
	/* an action that does not exist */
	memcpy(bad, buf, n);
	memcpy(&r, buf + rule0, sizeof(r));
	r.action = 9;
	memcpy(bad + rule0, &r, sizeof(r));
	decode_bad(f, bad, n, "action");
	/* the last rule must match everything */
	memcpy(bad, buf, n);
	memcpy(&r, buf + rule0 + 2 * sizeof(r), sizeof(r));
	r.port_hi = 80;
	memcpy(bad + rule0 + 2 * sizeof(r), &r, sizeof(r));
	decode_bad(f, bad, n, "last rule");
	/* strings without their NUL */
	memcpy(bad, buf, n);
	memset(bad + ups0, 'x', TG_UPSTREAM_NAME_MAX);
	decode_bad(f, bad, n, "unterminated");
	memcpy(bad, buf, n);
	memset(bad + ups0 + offsetof(struct tg_upstream, password), 'x', TG_UPSTREAM_CRED_MAX + 1);
	decode_bad(f, bad, n, "unterminated");
	/* a server that is no address */
	memcpy(bad, buf, n);
	bad[ups0 + offsetof(struct tg_upstream, server)] = 5;
	decode_bad(f, bad, n, "server");
}

static void test_memfd(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[sizeof(struct tg_rules) + 64];
	struct tg_rules back;
	int fd;

	encode_sample(f, buf, sizeof(buf), true);
	fd = tg_rules_memfd(&f->table, true);
	assert_true(fd >= 0);
	/* sealed: the children cannot change what the other one reads */
	assert_int_equal(write(fd, "x", 1), -1);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_WRITE);
	assert_int_equal(tg_rules_read_fd(fd, &back, f->err, sizeof(f->err)), 0);
	assert_int_equal(back.nrules, 3);
	assert_string_equal(back.upstream[0].password, "secret");
	/* twice: pread, not the shared file offset */
	assert_int_equal(tg_rules_read_fd(fd, &back, f->err, sizeof(f->err)), 0);
	close(fd);
	assert_int_equal(tg_rules_read_fd(fd, &back, f->err, sizeof(f->err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_parse_good, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_parse_bad, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_parse_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_default_spec, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_compile_unknown_upstream, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_compile_flag_rule, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_compile_upstream_checks, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_compile_relay_shorthand, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_compile_default_unknown, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_match, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_match_no_rules, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_binary_roundtrip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_binary_corrupt, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_memfd, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

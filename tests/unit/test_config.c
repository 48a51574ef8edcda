/*
 * tungate's configuration (tungate/config.c): defaults, the INI file, flags over the file
 * through the same setter, and error messages that say where and what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_print.h"
#include "log.h"

struct fixture {
	char path[64];
	char err[512];
	struct tg_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/tg-test-config.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	tg_config_defaults(&f->cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	free(f);
	return 0;
}

static void write_file(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static int load(struct fixture *f, const char *text)
{
	write_file(f, text);
	f->err[0] = '\0';
	return tg_config_load_file(&f->cfg, f->path, f->err, sizeof(f->err));
}

/* err must start with "PATH:LINE:" and contain each of the given words. */
static void assert_error_at(struct fixture *f, int line, const char *word1, const char *word2)
{
	char where[96];

	snprintf(where, sizeof(where), "%s:%d:", f->path, line);
	if (strncmp(f->err, where, strlen(where)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", f->err, where);
	if (word1 && !strstr(f->err, word1))
		fail_msg("error \"%s\" does not mention \"%s\"", f->err, word1);
	if (word2 && !strstr(f->err, word2))
		fail_msg("error \"%s\" does not mention \"%s\"", f->err, word2);
}

static void assert_address(const struct tg_config *cfg, const char *ip, unsigned prefix)
{
	char text[INET_ADDRSTRLEN];

	assert_true(cfg->has_address);
	assert_non_null(inet_ntop(AF_INET, &cfg->address, text, sizeof(text)));
	assert_string_equal(text, ip);
	assert_int_equal(cfg->prefix_len, prefix);
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	assert_string_equal(f->cfg.tun_name, "tg0");
	assert_int_equal(f->cfg.mtu, 1500);
	assert_false(f->cfg.has_address);
	assert_string_equal(f->cfg.netns, "");
	assert_int_equal(f->cfg.max_flows, 4096);
	assert_int_equal(f->cfg.connect_timeout, 10);
	assert_int_equal(f->cfg.log_level, TG_LOG_INFO);
	assert_string_equal(tg_config_address_text(&f->cfg, buf, sizeof(buf)), "");
}

static void test_file_overrides_defaults(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	assert_int_equal(load(f, "; tungate test configuration\n"
	                         "# both comment styles\n"
	                         "[tun]\n"
	                         "name = tgtest7\n"
	                         "mtu = 9000\n"
	                         "address = 198.18.0.1/24\n"
	                         "netns = tgsup-x\n"
	                         "\n"
	                         "[stack]\n"
	                         "max_flows = 100000\n"
	                         "[relay]\n"
	                         "connect_timeout = 30   ; inline comment\n"
	                         "[log]\n"
	                         "level = debug\n"),
	                 0);
	assert_string_equal(f->err, "");
	assert_string_equal(f->cfg.tun_name, "tgtest7");
	assert_int_equal(f->cfg.mtu, 9000);
	assert_address(&f->cfg, "198.18.0.1", 24);
	assert_string_equal(tg_config_address_text(&f->cfg, buf, sizeof(buf)), "198.18.0.1/24");
	assert_string_equal(f->cfg.netns, "tgsup-x");
	assert_int_equal(f->cfg.max_flows, 100000);
	assert_int_equal(f->cfg.connect_timeout, 30);
	assert_int_equal(f->cfg.log_level, TG_LOG_DEBUG);
}

static void test_partial_file_keeps_other_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\nmtu=576\n"), 0);
	assert_int_equal(f->cfg.mtu, 576);
	assert_string_equal(f->cfg.tun_name, "tg0");
	assert_int_equal(f->cfg.max_flows, 4096);
	assert_int_equal(f->cfg.connect_timeout, 10);
}

/* Flags go through tg_config_set after the file: the flag wins, the rest of the file stays. */
static void test_setter_overrides_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\nmtu = 9000\naddress = 198.18.0.1/24\n"
	                         "[relay]\nconnect_timeout = 30\n"),
	                 0);
	assert_int_equal(tg_config_set(&f->cfg, "tun", "mtu", "1400", f->err, sizeof(f->err)), 0);
	assert_int_equal(
	        tg_config_set(&f->cfg, "tun", "address", "198.19.0.9/16", f->err, sizeof(f->err)),
	        0);
	assert_int_equal(f->cfg.mtu, 1400);
	assert_address(&f->cfg, "198.19.0.9", 16);
	assert_int_equal(f->cfg.connect_timeout, 30);
	/* An empty address removes the file's one. */
	assert_int_equal(tg_config_set(&f->cfg, "tun", "address", "", f->err, sizeof(f->err)), 0);
	assert_false(f->cfg.has_address);
}

static void test_setter_rejects_bad_values(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(tg_config_set(&f->cfg, "tun", "mtu", "575", f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "576..65535"));
	assert_int_equal(tg_config_set(&f->cfg, "tun", "mtu", "-1", f->err, sizeof(f->err)), -1);
	assert_int_equal(tg_config_set(&f->cfg, "tun", "mtu", "1500x", f->err, sizeof(f->err)), -1);
	assert_int_equal(
	        tg_config_set(&f->cfg, "relay", "connect_timeout", "0", f->err, sizeof(f->err)),
	        -1);
	assert_int_equal(
	        tg_config_set(&f->cfg, "relay", "connect_timeout", "301", f->err, sizeof(f->err)),
	        -1);
	assert_int_equal(tg_config_set(&f->cfg, "stack", "max_flows", "0", f->err, sizeof(f->err)),
	                 -1);
	assert_int_equal(tg_config_set(&f->cfg, "log", "level", "loud", f->err, sizeof(f->err)),
	                 -1);
	assert_int_equal(
	        tg_config_set(&f->cfg, "tun", "address", "198.18.0.300/24", f->err, sizeof(f->err)),
	        -1);
	assert_int_equal(
	        tg_config_set(&f->cfg, "tun", "address", "198.18.0.1/33", f->err, sizeof(f->err)),
	        -1);
	assert_int_equal(tg_config_set(&f->cfg, "tun", "name", "a/b", f->err, sizeof(f->err)), -1);
	assert_int_equal(
	        tg_config_set(&f->cfg, "tun", "name", "sixteen-chars-xx", f->err, sizeof(f->err)),
	        -1);
	assert_int_equal(tg_config_set(&f->cfg, "tun", "netns", "../x", f->err, sizeof(f->err)),
	                 -1);
	assert_int_equal(tg_config_set(&f->cfg, "tun", "nope", "1", f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "unknown key");
	assert_int_equal(tg_config_set(&f->cfg, "nope", "mtu", "1", f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "unknown section");
	/* Nothing rejected above changed anything. */
	assert_int_equal(f->cfg.mtu, 1500);
	assert_int_equal(f->cfg.connect_timeout, 10);
	assert_int_equal(f->cfg.max_flows, 4096);
	assert_int_equal(f->cfg.log_level, TG_LOG_INFO);
	assert_false(f->cfg.has_address);
	assert_string_equal(f->cfg.tun_name, "tg0");
	assert_string_equal(f->cfg.netns, "");
	/* The edges of each range are accepted. */
	assert_int_equal(tg_config_set(&f->cfg, "tun", "mtu", "65535", f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.mtu, 65535);
	assert_int_equal(
	        tg_config_set(&f->cfg, "relay", "connect_timeout", "300", f->err, sizeof(f->err)),
	        0);
	assert_int_equal(f->cfg.connect_timeout, 300);
	assert_int_equal(
	        tg_config_set(&f->cfg, "tun", "address", "198.18.0.1", f->err, sizeof(f->err)), 0);
	assert_address(&f->cfg, "198.18.0.1", 32);
}

static void test_unknown_key(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\nmtu = 1400\nmtuu = 1400\n"), -1);
	assert_error_at(f, 3, "mtuu", "unknown key");
	assert_non_null(strstr(f->err, "[tun]"));
}

static void test_bad_value_not_a_number(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[log]\nlevel = debug\n[tun]\nmtu = abc\n"), -1);
	assert_error_at(f, 4, "mtu", "abc");
}

static void test_bad_value_out_of_range(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\n\nmtu = 70000\n"), -1);
	assert_error_at(f, 3, "mtu", "70000");
	assert_non_null(strstr(f->err, "576..65535"));
}

static void test_unknown_section(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\nmtu = 1400\n[tunnel]\nmtu = 1400\n"), -1);
	assert_error_at(f, 3, "[tunnel]", "unknown section");
}

/* libinih only reports keys: an unknown section without any must still be caught. */
static void test_unknown_empty_section(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\nmtu = 1400\n\n[stackd]\n"), -1);
	assert_error_at(f, 4, "[stackd]", "unknown section");
}

static void test_first_error_wins(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\nmtu = 1\nfoo = 2\n"), -1);
	assert_error_at(f, 2, "mtu", NULL);
}

static void test_syntax_error(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[tun]\nmtu 1400\n[relay]\nconnect_timeout = 5\n"), -1);
	assert_error_at(f, 2, "syntax error", NULL);
}

static void test_key_outside_section(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "mtu = 1400\n[tun]\n"), -1);
	assert_error_at(f, 1, "mtu", "section");
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	assert_int_equal(tg_config_load_file(&f->cfg, f->path, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, f->path));
	assert_non_null(strstr(f->err, "No such file"));
}

static void test_privsep(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(f->cfg.run_as[0].name, "_tungate-tunio");
	assert_string_equal(f->cfg.run_as[1].name, "_tungate-stackd");
	assert_string_equal(f->cfg.run_as[2].name, "_tungate-relayd");
	assert_string_equal(f->cfg.chroot_dir, "/run/tungate/empty");
	assert_int_equal(f->cfg.relayd_nofile, 65536);
	assert_true(f->cfg.seccomp);
	assert_int_equal(load(f, "[privsep]\n"
	                         "tunio_user = root\n"
	                         "stackd_user = nobody\n"
	                         "relayd_user = _relay.d-1\n"
	                         "chroot =\n"
	                         "relayd_nofile = 1024\n"
	                         "seccomp = no\n"),
	                 0);
	assert_string_equal(f->cfg.run_as[0].name, "root");
	assert_string_equal(f->cfg.run_as[1].name, "nobody");
	assert_string_equal(f->cfg.run_as[2].name, "_relay.d-1");
	assert_string_equal(f->cfg.chroot_dir, "");
	assert_int_equal(f->cfg.relayd_nofile, 1024);
	assert_false(f->cfg.seccomp);
	assert_int_equal(load(f, "[privsep]\nstackd_user = a b\n"), -1);
	assert_error_at(f, 2, "stackd_user", "not a user name");
	assert_int_equal(load(f, "[privsep]\ntunio_user = -x\n"), -1);
	assert_error_at(f, 2, "tunio_user", "not a user name");
	assert_int_equal(load(f, "[privsep]\nrelayd_user = abcdefghijklmnopqrstuvwxyz0123456\n"),
	                 -1);
	assert_error_at(f, 2, "relayd_user", NULL);
	assert_int_equal(load(f, "[privsep]\nchroot = run/empty\n"), -1);
	assert_error_at(f, 2, "chroot", "absolute");
	assert_int_equal(load(f, "[privsep]\nrelayd_nofile = 10\n"), -1);
	assert_error_at(f, 2, "relayd_nofile", "out of range");
	assert_int_equal(load(f, "[privsep]\nseccomp = maybe\n"), -1);
	assert_error_at(f, 2, "seccomp", "yes, no");
}

/* [tun] mode and the TAP gateway keys (docs/modes.md). */
static void test_tap_mode(void **state)
{
	struct fixture *f = *state;
	unsigned char mac[6], mac2[6];

	assert_false(f->cfg.tap);
	assert_int_equal(f->cfg.gateway_prefix, 24);
	assert_false(f->cfg.has_gateway_ipv6);
	/* The default MAC is locally administered, unicast, and stable for a name. */
	tg_config_gateway_mac(&f->cfg, mac);
	tg_config_gateway_mac(&f->cfg, mac2);
	assert_memory_equal(mac, mac2, 6);
	assert_int_equal(mac[0], 0x02);
	assert_int_equal(mac[1], 0x54);
	assert_int_equal(mac[2], 0x47);
	assert_int_equal(load(f, "[tun]\nmode = tap\ngateway_mac = 02:00:00:aa:bb:cc\n"
	                         "gateway_ipv4 = 10.0.0.1/16\ngateway_ipv6 = 2001:db8::fe\n"),
	                 0);
	assert_true(f->cfg.tap);
	tg_config_gateway_mac(&f->cfg, mac);
	assert_int_equal(mac[5], 0xcc);
	assert_int_equal(f->cfg.gateway_prefix, 16);
	assert_true(f->cfg.has_gateway_ipv6);
	assert_int_equal(load(f, "[tun]\nmode = tep\n"), -1);
	assert_error_at(f, 2, "mode", "tun, tap");
	assert_int_equal(load(f, "[tun]\ngateway_mac = 01:00:5e:00:00:01\n"), -1);
	assert_error_at(f, 2, "gateway_mac", "multicast");
	assert_int_equal(load(f, "[tun]\ngateway_mac = 02:00:00:aa:bb\n"), -1);
	assert_error_at(f, 2, "gateway_mac", "not a MAC");
	assert_int_equal(load(f, "[tun]\ngateway_ipv4 = 10.0.0.1\n"), -1);
	assert_error_at(f, 2, "gateway_ipv4", "A.B.C.D/N");
	assert_int_equal(load(f, "[tun]\ngateway_ipv4 = 10.0.0.1/31\n"), -1);
	assert_error_at(f, 2, "gateway_ipv4", "out of range");
	assert_int_equal(load(f, "[tun]\ngateway_ipv6 = 2001:db8::fe/64\n"), -1);
	assert_error_at(f, 2, "gateway_ipv6", "IPv6");
}

/* proxy_arp, proxy_ndp, router_advertisements: TAP only; NDP and RAs need a routable /64. */
static void test_tap_answers(void **state)
{
	struct fixture *f = *state;
	char *err = f->err;

	assert_false(f->cfg.proxy_arp || f->cfg.proxy_ndp || f->cfg.router_advertisements);
	assert_int_equal(load(f, "[tun]\nproxy_arp = yes\n"), 0);
	assert_int_equal(tg_config_check(&f->cfg, err, sizeof(f->err)), -1);
	assert_non_null(strstr(err, "proxy_arp needs [tun] mode = tap"));
	assert_int_equal(load(f, "[tun]\nmode = tap\n"), 0);
	assert_int_equal(tg_config_check(&f->cfg, err, sizeof(f->err)), 0);
	assert_int_equal(load(f, "[tun]\nrouter_advertisements = yes\n"), 0);
	assert_int_equal(tg_config_check(&f->cfg, err, sizeof(f->err)), -1);
	assert_non_null(strstr(err, "router_advertisements needs a global"));
	assert_int_equal(load(f, "[tun]\ngateway_ipv6 = fe80::1\n"), 0);
	assert_int_equal(tg_config_check(&f->cfg, err, sizeof(f->err)), -1);
	assert_int_equal(load(f, "[tun]\ngateway_ipv6 = 2001:db8::fe\nproxy_ndp = yes\n"), 0);
	assert_int_equal(tg_config_check(&f->cfg, err, sizeof(f->err)), 0);
	assert_true(f->cfg.proxy_arp && f->cfg.proxy_ndp && f->cfg.router_advertisements);
	assert_int_equal(load(f, "[tun]\nrouter_advertisements = no\n"), 0);
	assert_false(f->cfg.router_advertisements);
	assert_int_equal(load(f, "[tun]\nproxy_ndp = maybe\n"), -1);
	assert_error_at(f, 2, "proxy_ndp", "yes, no");
}

/* [rules] and [upstream NAME]: a working table, and errors that name the file line and rule. */
static void test_rules_file(void **state)
{
	struct fixture *f = *state;
	struct tg_rules t;

	assert_int_equal(load(f, "[rules]\n"
	                         "rule = 198.18.1.99/32 any reject\n"
	                         "rule = 198.18.0.0/15 tcp 8000 socks5:one consistent\n"
	                         "default = socks5:two\n"
	                         "[upstream one]\n"
	                         "type = socks5\n"
	                         "server = 127.0.0.1:1080\n"
	                         "[upstream two]\n"
	                         "server = [::1]:1081\n"
	                         "user = u\n"
	                         "password = p\n"),
	                 0);
	assert_int_equal(tg_config_check(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(tg_config_rules(&f->cfg, &t, f->err, sizeof(f->err)), 0);
	assert_int_equal(t.nrules, 3);
	assert_int_equal(t.nupstreams, 2);
	assert_int_equal(t.rule[1].line, 3);
	assert_string_equal(t.upstream[t.rule[2].upstream].name, "two");
	assert_string_equal(t.upstream[1].password, "p");
	/* a flag after the file appends a rule with no line */
	assert_int_equal(tg_config_set(&f->cfg, "rules", "rule", "any udp 53 direct", f->err,
	                               sizeof(f->err)),
	                 0);
	assert_int_equal(f->cfg.rules.rule[2].line, 0);
}

static void test_rules_file_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "[rules]\n"
	                         "rule = any tcp 22 reject\n"
	                         "\n"
	                         "rule = 10.0.0.0/33 tcp direct\n"),
	                 -1);
	assert_error_at(f, 4, "[rules] rule 2: ", "10.0.0.0/33");
	/* host bits set, as in a typo: refused at the rule's line, naming the network */
	tg_config_defaults(&f->cfg);
	assert_int_equal(load(f, "[rules]\n"
	                         "rule = 10.1.2.3/8 tcp direct\n"),
	                 -1);
	assert_error_at(f, 2, "[rules] rule 1: \"10.1.2.3/8\": bits set past the prefix length",
	                "the network is 10.0.0.0/8");
	tg_config_defaults(&f->cfg);
	assert_int_equal(load(f, "[rules]\n"
	                         "default = sideways\n"),
	                 -1);
	assert_error_at(f, 2, "[rules] default: ", "sideways");
	tg_config_defaults(&f->cfg);
	assert_int_equal(load(f, "[upstream p]\n"
	                         "server = nowhere\n"),
	                 -1);
	assert_error_at(f, 2, "[upstream p] server", "nowhere");
	/* an unknown upstream is found once every section is read: the rule's line is named */
	tg_config_defaults(&f->cfg);
	assert_int_equal(load(f, "[rules]\n"
	                         "rule = any tcp 80 direct\n"
	                         "rule = any tcp 443 socks5:x\n"
	                         "[upstream y]\n"
	                         "server = 127.0.0.1:1\n"),
	                 0);
	assert_int_equal(tg_config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_error_at(f, 3, "rule 2: unknown upstream \"x\"", NULL);
}

/* [relay] upstream = socks5 is shorthand for a default through the upstream "relay". */
static void test_rules_relay_shorthand(void **state)
{
	struct fixture *f = *state;
	struct tg_rules t;

	assert_int_equal(load(f, "[relay]\n"
	                         "upstream = socks5\n"
	                         "socks5_server = 127.0.0.1:1080\n"
	                         "socks5_user = u\n"
	                         "socks5_password = pw\n"
	                         "[rules]\n"
	                         "rule = 198.18.0.0/15 udp direct\n"),
	                 0);
	assert_int_equal(tg_config_check(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(tg_config_rules(&f->cfg, &t, f->err, sizeof(f->err)), 0);
	assert_int_equal(t.nrules, 2);
	assert_int_equal(t.rule[1].action, TG_RULE_SOCKS5);
	assert_string_equal(t.upstream[t.rule[1].upstream].name, "relay");
	assert_string_equal(t.upstream[t.rule[1].upstream].password, "pw");
	tg_config_defaults(&f->cfg);
	assert_int_equal(load(f, "[upstream relay]\nserver = 127.0.0.1:1\n"), -1);
	assert_error_at(f, 2, "socks5_server", NULL);
}

/* ---- --print-config (tungate/config_print.c): printed, read back, the same ---------------- */

/* What a file cannot carry (where each key was written) and what print hides (passwords). */
static void normalize(struct tg_config *c)
{
	struct tg_rules_conf *r = &c->rules;

	c->line = 0;
	memset(r->path, 0, sizeof(r->path));
	for (uint32_t i = 0; i < r->nrules; i++)
		r->rule[i].line = 0;
	r->dflt.line = 0;
	for (uint32_t i = 0; i < r->nupstreams; i++) {
		r->upstream[i].defined_line = r->upstream[i].defined_line ? 1 : 0;
		r->upstream[i].used_by_rule = 0;
		r->upstream[i].used_line = 0;
		if (r->upstream[i].password[0])
			snprintf(r->upstream[i].password, sizeof(r->upstream[i].password), "%s",
			         TG_CONFIG_HIDDEN);
	}
	if (c->socks5_password[0])
		snprintf(c->socks5_password, sizeof(c->socks5_password), "%s", TG_CONFIG_HIDDEN);
}

static char *print_to_string(const struct tg_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	tg_config_print(cfg, out);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* cfg printed, then read into fresh defaults: equal field for field, and printed the same. */
static void assert_round_trip(struct fixture *f, struct tg_config *cfg)
{
	struct tg_config *back = calloc(1, sizeof(*back));
	char *first = print_to_string(cfg), *second;

	assert_non_null(back);
	tg_config_defaults(back);
	write_file(f, first);
	if (tg_config_load_file(back, f->path, f->err, sizeof(f->err)) < 0)
		fail_msg("printed configuration does not load: %s\n%s", f->err, first);
	second = print_to_string(back);
	assert_string_equal(first, second);
	normalize(cfg);
	normalize(back);
	for (size_t i = 0; i < sizeof(*back); i++)
		if (((unsigned char *)cfg)[i] != ((unsigned char *)back)[i])
			fail_msg("configuration read back differs at byte %zu:\n%s", i, first);
	free(first);
	free(second);
	free(back);
}

static void test_print_config_every_key_printable(void **state)
{
	(void)state;
	for (size_t i = 0; i < tg_config_nkeys(); i++) {
		const struct tg_config_key *k = tg_config_key_at(i);

		if (!tg_config_key_printable(k))
			fail_msg("[%s] %s has no printer in tungate/config_print.c", k->section,
			         k->name);
	}
}

static void test_print_config_defaults(void **state)
{
	struct fixture *f = *state;
	char *text = print_to_string(&f->cfg);

	assert_non_null(strstr(text, "[tun]\nname = tg0\nmtu = 1500\n"));
	assert_non_null(strstr(text, "[log]\nlevel = info\ntarget = stderr\n"));
	assert_non_null(strstr(text, "# listen = (not set)"));
	free(text);
	assert_round_trip(f, &f->cfg);
}

/* Every key set away from its default (TAP and auto-route together: not checked, only read). */
static const char every_key[] =
        "[tun]\nname = tgx1\nmtu = 9000\naddress = 198.18.7.1/23\nnetns = gwns\nmode = tap\n"
        "gateway_mac = 02:11:22:33:44:55\ngateway_ipv4 = 198.18.9.1/25\n"
        "gateway_ipv6 = 2001:db8:5::1\nproxy_arp = yes\nproxy_ndp = yes\n"
        "router_advertisements = yes\noffload = no\n"
        "[stack]\nmax_flows = 123\nflow_table_full = evict\nhandshake = consistent\n"
        "tcp_idle_timeout = 11\ntcp_half_close_timeout = 12\n"
        "[relay]\nconnect_timeout = 13\nudp_timeout = 14\ndns_timeout = 15\nupstream = socks5\n"
        "socks5_server = [2001:db8::7]:1080\nsocks5_user = alice\nsocks5_password = s3cret\n"
        "mark = 0x42\nbind_interface = eth9\nallow_local = yes\n"
        "[rules]\nrule = 198.18.0.0/15 tcp 443 socks5:proxyA consistent\n"
        "rule = 2001:db8::/32 udp 53-60 reject\nrule = any any direct fast\n"
        "rule = 198.18.3.4 tcp socks5\ndefault = socks5:proxyB\n"
        "[upstream proxyA]\ntype = socks5\nserver = 198.18.1.2:1080\nuser = bob\npassword = pw\n"
        "[upstream proxyB]\ntype = socks5\nserver = [2001:db8::9]:9050\n"
        "[route]\nauto = prefixes\nprefixes = 198.18.0.0/15,2001:db8::/32\n"
        "exclude = 198.18.1.2\ntable = 100\nfwmark = 0x99\n"
        "[stats]\nfile = /run/x.stats\n"
        "[log]\nlevel = debug\ntarget = syslog\n"
        "[metrics]\nlisten = 127.0.0.1:9474\n"
        "[privsep]\ntunio_user = u1\nstackd_user = u2\nrelayd_user = u3\nchroot = \n"
        "relayd_nofile = 1000\nseccomp = no\n";

static void test_print_config_every_key(void **state)
{
	struct fixture *f = *state;
	struct tg_config def;
	char *text;

	if (load(f, every_key) < 0)
		fail_msg("%s", f->err);
	tg_config_defaults(&def);
	/* Every key of the table differs from its default here, so each one is exercised. */
	for (size_t i = 0; i < tg_config_nkeys(); i++) {
		const struct tg_config_key *k = tg_config_key_at(i);
		char needle[96];

		snprintf(needle, sizeof(needle), "\n%s = ", k->name);
		if (!strstr(every_key, needle))
			fail_msg("the every-key file lacks [%s] %s", k->section, k->name);
	}
	text = print_to_string(&f->cfg);
	assert_null(strstr(text, "s3cret"));
	assert_null(strstr(text, "password = pw"));
	assert_non_null(strstr(text, "socks5_password = " TG_CONFIG_HIDDEN));
	assert_non_null(strstr(text, "rule = 198.18.0.0/15 tcp 443 socks5:proxyA consistent\n"));
	assert_non_null(strstr(text, "target = syslog\n"));
	free(text);
	assert_round_trip(f, &f->cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_file_overrides_defaults, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_partial_file_keeps_other_defaults, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_setter_overrides_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_setter_rejects_bad_values, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_value_not_a_number, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_value_out_of_range, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_empty_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_first_error_wins, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_key_outside_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_privsep, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tap_mode, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tap_answers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rules_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rules_file_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rules_relay_shorthand, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_print_config_every_key_printable, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_print_config_defaults, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_print_config_every_key, setup, teardown),
	};

	log_init("test_config", TG_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

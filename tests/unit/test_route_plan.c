/*
 * auto-route without the kernel: prefix lists (common/prefix.c), the [relay] mark and [route]
 * keys and their checks (tungate/config.c), the plan built from them and the state file's
 * round trip (tungate/route_plan.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "prefix.h"
#include "route_plan.h"

static char err[512];

static const char *fmt(const struct tg_prefix *p)
{
	static char buf[TG_PREFIX_STRLEN];

	return tg_prefix_format(p, buf, sizeof(buf));
}

static void test_prefix_parse(void **state)
{
	struct tg_prefix p;

	assert_int_equal(tg_prefix_parse("198.18.0.0/15", &p, err, sizeof(err)), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 15);
	assert_string_equal(fmt(&p), "198.18.0.0/15");
	assert_int_equal(tg_prefix_parse("198.18.1.9", &p, err, sizeof(err)), 0);
	assert_string_equal(fmt(&p), "198.18.1.9/32");
	assert_int_equal(tg_prefix_parse("2001:db8::/32", &p, err, sizeof(err)), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_string_equal(fmt(&p), "2001:db8::/32");
	assert_int_equal(tg_prefix_parse("2001:db8::7", &p, err, sizeof(err)), 0);
	assert_int_equal(p.len, 128);
	assert_int_equal(tg_prefix_parse("0.0.0.0/0", &p, err, sizeof(err)), 0);
	assert_int_equal(p.len, 0);

	/* host bits past the length, bad lengths, not addresses */
	assert_int_equal(tg_prefix_parse("198.18.1.9/24", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "past the prefix length (the network is 198.18.1.0/24)"));
	assert_int_equal(tg_prefix_parse("2001:db8::1/64", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "(the network is 2001:db8::/64)"));
	assert_int_equal(tg_prefix_parse("198.18.0.0/33", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "prefix length is not 0..32"));
	assert_int_equal(tg_prefix_parse("2001:db8::/129", &p, err, sizeof(err)), -1);
	assert_int_equal(tg_prefix_parse("198.18.0.0/", &p, err, sizeof(err)), -1);
	assert_int_equal(tg_prefix_parse("198.18.0.0/-1", &p, err, sizeof(err)), -1);
	assert_int_equal(tg_prefix_parse("host.example", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not an address or ADDR/LEN"));
	assert_int_equal(tg_prefix_parse("/24", &p, err, sizeof(err)), -1);
	assert_int_equal(tg_prefix_parse("", &p, err, sizeof(err)), -1);
}

static void test_prefix_list(void **state)
{
	struct tg_prefix p[3];

	assert_int_equal(tg_prefix_list_parse("", p, 3, err, sizeof(err)), 0);
	assert_int_equal(tg_prefix_list_parse("   ", p, 3, err, sizeof(err)), 0);
	assert_int_equal(tg_prefix_list_parse(" 198.18.1.0/24 ,2001:db8:5::/48,198.18.9.9 ", p, 3,
	                                      err, sizeof(err)),
	                 3);
	assert_string_equal(fmt(&p[0]), "198.18.1.0/24");
	assert_string_equal(fmt(&p[1]), "2001:db8:5::/48");
	assert_string_equal(fmt(&p[2]), "198.18.9.9/32");
	assert_int_equal(
	        tg_prefix_list_parse("198.18.1.0/24,,198.18.2.0/24", p, 3, err, sizeof(err)), -1);
	assert_int_equal(tg_prefix_list_parse("198.18.1.0/24,", p, 3, err, sizeof(err)), -1);
	assert_int_equal(tg_prefix_list_parse("1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8", p, 3, err,
	                                      sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "more than 3"));
	assert_int_equal(tg_prefix_list_parse("198.18.1.0/24,bogus", p, 3, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bogus"));
}

static int set(struct tg_config *cfg, const char *section, const char *key, const char *value)
{
	return tg_config_set(cfg, section, key, value, err, sizeof(err));
}

static void test_config_keys(void **state)
{
	struct tg_config cfg;

	tg_config_defaults(&cfg);
	assert_int_equal(cfg.route_auto, TG_ROUTE_NO);
	assert_int_equal(cfg.route_table, 7474);
	assert_int_equal(cfg.route_fwmark, 0x7474);
	assert_int_equal(tg_config_relay_mark(&cfg), 0);

	assert_int_equal(set(&cfg, "relay", "mark", "0x99"), 0);
	assert_int_equal(cfg.relay_mark, 0x99);
	assert_int_equal(set(&cfg, "relay", "mark", "153"), 0);
	assert_int_equal(cfg.relay_mark, 153);
	assert_int_equal(set(&cfg, "relay", "mark", "0x100000000"), -1);
	assert_int_equal(set(&cfg, "relay", "mark", "-1"), -1);
	assert_int_equal(set(&cfg, "relay", "mark", "0x"), -1);
	assert_int_equal(set(&cfg, "route", "fwmark", "0"), -1);
	assert_int_equal(set(&cfg, "route", "table", "254"), -1);
	assert_non_null(strstr(err, "kernel's own"));
	assert_int_equal(set(&cfg, "route", "table", "0"), -1);
	assert_int_equal(set(&cfg, "route", "table", "100"), 0);
	assert_int_equal(set(&cfg, "route", "auto", "sometimes"), -1);
	assert_int_equal(set(&cfg, "relay", "bind_interface", "eth0"), 0);
	assert_string_equal(cfg.bind_interface, "eth0");
	assert_int_equal(set(&cfg, "relay", "bind_interface", "a/b"), -1);
	assert_int_equal(set(&cfg, "relay", "bind_interface", "0123456789abcdef"), -1);
	assert_int_equal(set(&cfg, "relay", "bind_interface", ""), 0);
	assert_string_equal(cfg.bind_interface, "");
	assert_int_equal(set(&cfg, "route", "prefixes", "198.18.5.0/24,2001:db8:5::/48"), 0);
	assert_int_equal(cfg.nroute_prefixes, 2);
	assert_int_equal(set(&cfg, "route", "exclude", "198.18.5.3, 2001:db8:5::3"), 0);
	assert_int_equal(cfg.nroute_exclude, 2);
	assert_int_equal(set(&cfg, "route", "exclude", "198.18.5.3/24"), -1);
}

static void test_config_checks(void **state)
{
	struct tg_config cfg;

	tg_config_defaults(&cfg);
	assert_int_equal(set(&cfg, "route", "auto", "prefixes"), 0);
	assert_int_equal(tg_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs [route] prefixes"));
	assert_int_equal(set(&cfg, "route", "auto", "default"), 0);
	assert_int_equal(tg_config_check(&cfg, err, sizeof(err)), 0);
	/* auto-route implies the mark: relayd's sockets must skip the rule */
	assert_int_equal(tg_config_relay_mark(&cfg), 0x7474);
	assert_int_equal(set(&cfg, "relay", "mark", "0x99"), 0);
	assert_int_equal(tg_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "loop"));
	assert_int_equal(set(&cfg, "route", "fwmark", "0x99"), 0);
	assert_int_equal(tg_config_check(&cfg, err, sizeof(err)), 0);
	assert_int_equal(set(&cfg, "tun", "mode", "tap"), 0);
	assert_int_equal(tg_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode = tun"));
	assert_int_equal(set(&cfg, "tun", "mode", "tun"), 0);
	assert_int_equal(set(&cfg, "relay", "bind_interface", "tg0"), 0);
	assert_int_equal(tg_config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TUN itself"));
}

static void line_of(const struct tg_route_item *it, char *buf, size_t len)
{
	tg_route_item_format(it, buf, len);
}

static void test_plan_default(void **state)
{
	struct tg_config cfg;
	struct tg_route_item items[TG_ROUTE_ITEMS_MAX];
	char lines[16][TG_ROUTE_LINE_MAX];
	size_t n;

	tg_config_defaults(&cfg);
	assert_int_equal(tg_route_plan(&cfg, items, TG_ROUTE_ITEMS_MAX), 0);
	assert_int_equal(set(&cfg, "route", "auto", "default"), 0);
	assert_int_equal(set(&cfg, "route", "exclude", "198.18.5.3"), 0);
	assert_int_equal(set(&cfg, "relay", "socks5_server", "[2001:db8:1::2]:1080"), 0);
	n = tg_route_plan(&cfg, items, TG_ROUTE_ITEMS_MAX);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++)
		line_of(&items[i], lines[i], sizeof(lines[i]));
	/* exclusions first, then the routes, then the rules: removal goes backwards */
	assert_string_equal(lines[0], "route 198.18.5.3/32 7474 throw");
	assert_string_equal(lines[1], "route 2001:db8:1::2/128 7474 throw");
	assert_string_equal(lines[2], "route 0.0.0.0/0 7474 dev");
	assert_string_equal(lines[3], "route ::/0 7474 dev");
	assert_string_equal(lines[4], "rule 4 7474 254 suppress");
	assert_string_equal(lines[5], "rule 4 7475 7474 not-fwmark 29812");
	assert_string_equal(lines[6], "rule 6 7474 254 suppress");
	assert_string_equal(lines[7], "rule 6 7475 7474 not-fwmark 29812");
}

static void test_plan_prefixes(void **state)
{
	struct tg_config cfg;
	struct tg_route_item items[TG_ROUTE_ITEMS_MAX];
	char line[TG_ROUTE_LINE_MAX];
	size_t n;

	tg_config_defaults(&cfg);
	assert_int_equal(set(&cfg, "route", "auto", "prefixes"), 0);
	assert_int_equal(set(&cfg, "route", "prefixes", "198.18.5.0/24"), 0);
	assert_int_equal(set(&cfg, "route", "table", "100"), 0);
	assert_int_equal(set(&cfg, "route", "fwmark", "0x99"), 0);
	n = tg_route_plan(&cfg, items, TG_ROUTE_ITEMS_MAX);
	/* IPv4 only: no IPv6 rule without an IPv6 route, and no suppress rule for prefixes */
	assert_int_equal(n, 2);
	assert_string_equal((line_of(&items[0], line, sizeof(line)), line),
	                    "route 198.18.5.0/24 100 dev");
	assert_string_equal((line_of(&items[1], line, sizeof(line)), line),
	                    "rule 4 7475 100 not-fwmark 153");
	/* a short array is filled, never overrun */
	assert_int_equal(tg_route_plan(&cfg, items, 1), 1);
}

/* Every SOCKS5 proxy is excluded, each address once. */
static void test_plan_proxies(void **state)
{
	static const char text[] = "[route]\n"
	                           "auto = default\n"
	                           "exclude = 198.18.1.7, 198.18.1.7/32\n"
	                           "[relay]\n"
	                           "socks5_server = 198.18.1.7:1080\n"
	                           "[upstream office]\n"
	                           "server = [2001:db8:1::7]:1080\n";
	char path[] = "/tmp/tg-test-route-conf.XXXXXX";
	struct tg_config cfg;
	struct tg_route_item items[TG_ROUTE_ITEMS_MAX];
	char line[TG_ROUTE_LINE_MAX];
	int fd = mkstemp(path);
	size_t n;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	tg_config_defaults(&cfg);
	assert_int_equal(tg_config_load_file(&cfg, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(tg_config_check(&cfg, err, sizeof(err)), 0);
	n = tg_route_plan(&cfg, items, TG_ROUTE_ITEMS_MAX);
	assert_int_equal(n, 8);
	assert_string_equal((line_of(&items[0], line, sizeof(line)), line),
	                    "route 198.18.1.7/32 7474 throw");
	assert_string_equal((line_of(&items[1], line, sizeof(line)), line),
	                    "route 2001:db8:1::7/128 7474 throw");
	assert_string_equal((line_of(&items[2], line, sizeof(line)), line),
	                    "route 0.0.0.0/0 7474 dev");
}

static void test_item_parse(void **state)
{
	static const char *const good[] = {
	        "route 198.18.5.3/32 7474 throw",
	        "route ::/0 7474 dev",
	        "rule 4 7474 254 suppress",
	        "rule 6 7475 4294967295 not-fwmark 1",
	};
	static const char *const bad[] = {
	        "",
	        "route",
	        "route 198.18.5.3/24 7474 throw",
	        "route 198.18.5.0/24 7474 via",
	        "route 198.18.5.0/24 -1 dev",
	        "route 198.18.5.0/24 4294967296 dev",
	        "route 198.18.5.0/24 7474 dev extra",
	        "rule 5 7474 254 suppress",
	        "rule 4 7474 254 not-fwmark 0",
	        "rule 4 7474 254 not-fwmark",
	        "rule 4 x 254 suppress",
	        "rules 4 7474 254 suppress",
	        "rule 4 7474 254 suppress 0 0 0 0 0",
	};
	struct tg_route_item it;
	char line[TG_ROUTE_LINE_MAX];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(tg_route_item_parse(good[i], &it), 0);
		assert_string_equal((line_of(&it, line, sizeof(line)), line), good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tg_route_item_parse(bad[i], &it) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
}

static void test_state_file(void **state)
{
	struct tg_config cfg;
	struct tg_route_item items[TG_ROUTE_ITEMS_MAX], back[TG_ROUTE_ITEMS_MAX];
	char path[] = "/tmp/tg-test-routes.XXXXXX";
	size_t n, bad;
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	close(fd);
	tg_config_defaults(&cfg);
	assert_int_equal(set(&cfg, "route", "auto", "default"), 0);
	assert_int_equal(set(&cfg, "route", "exclude", "198.18.5.3,2001:db8::9"), 0);
	n = tg_route_plan(&cfg, items, TG_ROUTE_ITEMS_MAX);
	assert_int_equal(tg_route_state_write(path, items, n), 0);
	assert_int_equal(tg_route_state_read(path, back, TG_ROUTE_ITEMS_MAX, &bad), (int)n);
	assert_int_equal(bad, 0);
	for (size_t i = 0; i < n; i++) {
		char a[TG_ROUTE_LINE_MAX], b[TG_ROUTE_LINE_MAX];

		line_of(&items[i], a, sizeof(a));
		line_of(&back[i], b, sizeof(b));
		assert_string_equal(a, b);
	}
	/* a damaged file: bad lines are counted and skipped, good ones still read */
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("garbage\nroute 198.18.77.0/24 7474 throw\n", f);
	fclose(f);
	assert_int_equal(tg_route_state_read(path, back, TG_ROUTE_ITEMS_MAX, &bad), (int)n + 1);
	assert_int_equal(bad, 1);
	/* more items than room: the rest are counted as bad, nothing is overrun */
	assert_int_equal(tg_route_state_read(path, back, 2, &bad), 2);
	assert_int_equal(bad, n);
	/* an empty record is a valid, empty file */
	assert_int_equal(tg_route_state_write(path, items, 0), 0);
	assert_int_equal(tg_route_state_read(path, back, TG_ROUTE_ITEMS_MAX, &bad), 0);
	unlink(path);
	assert_int_equal(tg_route_state_read(path, back, TG_ROUTE_ITEMS_MAX, &bad), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_prefix_parse), cmocka_unit_test(test_prefix_list),
	        cmocka_unit_test(test_config_keys),  cmocka_unit_test(test_config_checks),
	        cmocka_unit_test(test_plan_default), cmocka_unit_test(test_plan_prefixes),
	        cmocka_unit_test(test_plan_proxies), cmocka_unit_test(test_item_parse),
	        cmocka_unit_test(test_state_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

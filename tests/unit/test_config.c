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
	};

	log_init("test_config", TG_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_config: tungate's configuration parser (tungate/config.c). The first input byte picks
 * the entry point, the rest is its input:
 *   even: an INI file for tg_config_load_file() (our line reader and section checks around
 *         libinih, then every key's setter);
 *   odd:  "SECTION\0KEY\0VALUE" for tg_config_set() directly, as a command-line flag reaches it.
 * The error buffer's size comes from the input too and is a heap block of exactly that size,
 * so ASan catches a message written past it.
 *
 * After a successful parse every value must be within the limits config.h states: a setter
 * that accepts what its checks should refuse is a finding even when nothing crashes. The
 * checks between keys (tg_config_check) and the derived values (gateway MAC, counters path,
 * address text) then run on what was accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "fuzz.h"

static void check_string(const char *s, size_t size, const char *what)
{
	if (!memchr(s, '\0', size))
		fuzz_fail("%s is not terminated", what);
}

static void check_config(const struct tg_config *c)
{
	char buf[PATH_MAX + 64];
	unsigned char mac[6];

	check_string(c->tun_name, sizeof(c->tun_name), "tun name");
	check_string(c->netns, sizeof(c->netns), "netns");
	check_string(c->stats_file, sizeof(c->stats_file), "stats file");
	check_string(c->chroot_dir, sizeof(c->chroot_dir), "chroot");
	if (c->tun_name[0] == '\0' || strpbrk(c->tun_name, "/: \t\n") ||
	    strcmp(c->tun_name, ".") == 0 || strcmp(c->tun_name, "..") == 0)
		fuzz_fail("bad tun name \"%s\" accepted", c->tun_name);
	if (strchr(c->netns, '/'))
		fuzz_fail("bad netns \"%s\" accepted", c->netns);
	if (c->mtu < TG_MTU_MIN || c->mtu > TG_MTU_MAX)
		fuzz_fail("mtu %u accepted", c->mtu);
	if (c->has_address && (c->prefix_len < 1 || c->prefix_len > 32))
		fuzz_fail("prefix /%u accepted", c->prefix_len);
	if (c->max_flows < 1 || c->max_flows > TG_MAX_FLOWS_MAX)
		fuzz_fail("max_flows %u accepted", c->max_flows);
	if (c->connect_timeout < 1 || c->connect_timeout > TG_CONNECT_TIMEOUT_MAX)
		fuzz_fail("connect_timeout %u accepted", c->connect_timeout);
	if (c->handshake > 1)
		fuzz_fail("handshake %u accepted", c->handshake);
	if (c->tcp_idle_timeout < 1 || c->tcp_idle_timeout > TG_TIMEOUT_MAX ||
	    c->tcp_half_close_timeout < 1 || c->tcp_half_close_timeout > TG_TIMEOUT_MAX ||
	    c->udp_timeout < 1 || c->udp_timeout > 86400 || c->dns_timeout < 1 ||
	    c->dns_timeout > 86400)
		fuzz_fail("a timeout out of range was accepted");
	if (c->stats_file[0] && c->stats_file[0] != '/')
		fuzz_fail("relative stats file \"%s\" accepted", c->stats_file);
	if (c->chroot_dir[0] && c->chroot_dir[0] != '/')
		fuzz_fail("relative chroot \"%s\" accepted", c->chroot_dir);
	if (c->relayd_nofile < TG_NOFILE_MIN || c->relayd_nofile > TG_NOFILE_MAX)
		fuzz_fail("relayd_nofile %u accepted", c->relayd_nofile);
	if ((unsigned)c->log_level > TG_LOG_DEBUG)
		fuzz_fail("log level %d accepted", (int)c->log_level);
	if (c->has_gateway_mac &&
	    ((c->gateway_mac[0] & 1) || memcmp(c->gateway_mac, "\0\0\0\0\0\0", 6) == 0))
		fuzz_fail("a multicast or zero gateway MAC was accepted");
	if (c->gateway_prefix > 30)
		fuzz_fail("gateway prefix /%u accepted", c->gateway_prefix);
	if (c->upstream > 1)
		fuzz_fail("upstream %u accepted", c->upstream);
	check_string(c->socks5_server, sizeof(c->socks5_server), "socks5 server");
	check_string(c->socks5_user, sizeof(c->socks5_user), "socks5 user");
	check_string(c->socks5_password, sizeof(c->socks5_password), "socks5 password");
	if (c->socks5_server[0]) {
		struct tg_addr a;

		/* Stored as text: what relayd parses must be what was checked, not cut short. */
		if (tg_addr_parse(c->socks5_server, &a) < 0)
			fuzz_fail("socks5 server \"%s\" was stored unparseable", c->socks5_server);
	}
	for (int i = 0; i < TG_NRUN_AS; i++) {
		const char *u = c->run_as[i].name;

		check_string(u, sizeof(c->run_as[i].name), "user");
		if (u[0] == '\0' || u[0] == '-' ||
		    strspn(u,
		           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
		            strlen(u))
			fuzz_fail("bad user \"%s\" accepted", u);
	}
	/* The derived values must stay within their buffers whatever was accepted. */
	tg_config_stats_path(c, buf, sizeof(buf));
	tg_config_address_text(c, buf, sizeof(buf));
	tg_config_gateway_mac(c, mac);
	if (mac[0] & 1)
		fuzz_fail("derived gateway MAC is multicast");
}

static void check_error(const char *err, size_t errlen)
{
	if (!memchr(err, '\0', errlen))
		fuzz_fail("error message is not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct tg_config cfg;
	uint8_t mode = fuzz_u8(&in);
	/* 1..256 bytes: tiny buffers test the truncation of every message. */
	size_t errlen = (size_t)fuzz_u8(&in) + 1;
	char *err = malloc(errlen);
	int rc;

	if (!err)
		return 0;
	err[0] = '\0';
	tg_config_defaults(&cfg);
	if (mode % 2 == 0) {
		char path[64];
		int fd = fuzz_memfd_path(in.p, in.n, path, sizeof(path));

		rc = tg_config_load_file(&cfg, path, err, errlen);
		close(fd);
	} else {
		/* Three NUL-separated strings; missing ones are empty. */
		char *buf = malloc(in.n + 3), *section, *key, *value;

		if (!buf) {
			free(err);
			return 0;
		}
		memcpy(buf, in.p, in.n);
		memset(buf + in.n, 0, 3);
		section = buf;
		key = section + strlen(section) + 1; /* at most buf + n + 1: a NUL */
		value = key + strlen(key) + 1;       /* at most buf + n + 2: a NUL */
		rc = tg_config_set(&cfg, section, key, value, err, errlen);
		free(buf);
	}
	if (rc == 0) {
		check_config(&cfg);
		rc = tg_config_check(&cfg, err, errlen);
	}
	if (rc < 0)
		check_error(err, errlen);
	free(err);
	return 0;
}

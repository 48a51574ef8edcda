/*
 * Configuration keys and their checks, and the INI file loader (libinih). The file is read
 * through our own line reader: libinih's handler does not learn the line number, and it is
 * not called for a section without keys, so the reader counts lines and checks section names.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "addr.h"
#include "fdarg.h"

typedef int (*key_setter)(struct tg_config *cfg, const char *value, char *err, size_t errlen);

struct config_key {
	struct tg_config_key pub;
	key_setter set;
};

static int set_range(unsigned *out, const char *value, unsigned long min, unsigned long max,
                     char *err, size_t errlen)
{
	unsigned long v;

	if (tg_parse_uint(value, 0, ~0ul, &v) < 0) {
		snprintf(err, errlen, "\"%s\" is not a whole number", value);
		return -1;
	}
	if (v < min || v > max) {
		snprintf(err, errlen, "%lu is out of range (%lu..%lu)", v, min, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* The kernel's own rule (dev_valid_name): no '/', ':' or blanks, not "." or "..". */
static int set_tun_name(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);

	if (len == 0 || len >= sizeof(cfg->tun_name)) {
		snprintf(err, errlen, "\"%s\": a device name has 1..%zu characters", value,
		         sizeof(cfg->tun_name) - 1);
		return -1;
	}
	if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0) {
		snprintf(err, errlen, "\"%s\" is not a valid device name", value);
		return -1;
	}
	for (const char *p = value; *p; p++) {
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p)) {
			snprintf(err, errlen, "\"%s\": a device name has no '/', ':' or blanks",
			         value);
			return -1;
		}
	}
	memcpy(cfg->tun_name, value, len + 1);
	return 0;
}

static int set_mtu(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_range(&cfg->mtu, value, TG_MTU_MIN, TG_MTU_MAX, err, errlen);
}

/* "A.B.C.D/N" or "A.B.C.D" (a /32); an empty value removes the address. */
static int set_address(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(value, '/');
	size_t iplen = slash ? (size_t)(slash - value) : strlen(value);
	unsigned prefix = 32;
	struct in_addr addr;

	if (*value == '\0') {
		cfg->has_address = false;
		return 0;
	}
	if (iplen >= sizeof(ip)) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 address", value);
		return -1;
	}
	memcpy(ip, value, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, &addr) != 1) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 address (A.B.C.D/N)", value);
		return -1;
	}
	if (slash && set_range(&prefix, slash + 1, 1, 32, err, errlen) < 0)
		return -1;
	cfg->has_address = true;
	cfg->address = addr;
	cfg->prefix_len = prefix;
	return 0;
}

static int set_mode(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "tun") == 0)
		cfg->tap = false;
	else if (strcmp(value, "tap") == 0)
		cfg->tap = true;
	else {
		snprintf(err, errlen, "\"%s\" is not one of tun, tap", value);
		return -1;
	}
	return 0;
}

/* "xx:xx:xx:xx:xx:xx", unicast; an empty value means "derive one from the device name". */
static int set_gateway_mac(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	unsigned b[6];
	char end;

	if (*value == '\0') {
		cfg->has_gateway_mac = false;
		return 0;
	}
	if (strlen(value) != 17 || sscanf(value, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
	                                  &b[3], &b[4], &b[5], &end) != 6) {
		snprintf(err, errlen, "\"%s\" is not a MAC address (xx:xx:xx:xx:xx:xx)", value);
		return -1;
	}
	if ((b[0] & 1) || (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0) {
		snprintf(err, errlen, "\"%s\" is a multicast or zero MAC address", value);
		return -1;
	}
	for (int i = 0; i < 6; i++)
		cfg->gateway_mac[i] = (unsigned char)b[i];
	cfg->has_gateway_mac = true;
	return 0;
}

void tg_config_gateway_mac(const struct tg_config *cfg, unsigned char mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a: stable across runs and builds */

	if (cfg->has_gateway_mac) {
		memcpy(mac, cfg->gateway_mac, 6);
		return;
	}
	for (const char *p = cfg->tun_name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = 0x54;
	mac[2] = 0x47;
	mac[3] = (unsigned char)(h >> 16);
	mac[4] = (unsigned char)(h >> 8);
	mac[5] = (unsigned char)h;
}

/* "A.B.C.D/N", N 1..30: the subnet must hold the gateway and at least one client. */
static int set_gateway_ipv4(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(value, '/');
	struct in_addr addr;

	if (!slash || (size_t)(slash - value) >= sizeof(ip)) {
		snprintf(err, errlen, "\"%s\" is not A.B.C.D/N", value);
		return -1;
	}
	memcpy(ip, value, (size_t)(slash - value));
	ip[slash - value] = '\0';
	if (inet_pton(AF_INET, ip, &addr) != 1) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 address (A.B.C.D/N)", value);
		return -1;
	}
	if (set_range(&cfg->gateway_prefix, slash + 1, 1, 30, err, errlen) < 0)
		return -1;
	cfg->gateway_ipv4 = addr;
	return 0;
}

static int set_yes_no(bool *out, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "yes") == 0)
		*out = true;
	else if (strcmp(value, "no") == 0)
		*out = false;
	else {
		snprintf(err, errlen, "\"%s\" is not one of yes, no", value);
		return -1;
	}
	return 0;
}

static int set_offload(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_yes_no(&cfg->offload, value, err, errlen);
}

static int set_proxy_arp(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_yes_no(&cfg->proxy_arp, value, err, errlen);
}

static int set_proxy_ndp(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_yes_no(&cfg->proxy_ndp, value, err, errlen);
}

static int set_router_advertisements(struct tg_config *cfg, const char *value, char *err,
                                     size_t errlen)
{
	return set_yes_no(&cfg->router_advertisements, value, err, errlen);
}

/* An IPv6 address (lwIP treats its /64 as on-link); empty: none. */
static int set_gateway_ipv6(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (*value == '\0') {
		cfg->has_gateway_ipv6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, value, &cfg->gateway_ipv6) != 1) {
		snprintf(err, errlen, "\"%s\" is not an IPv6 address (no prefix length)", value);
		return -1;
	}
	cfg->has_gateway_ipv6 = true;
	return 0;
}

/* A name under /run/netns: one path component. An empty value means "our own namespace". */
static int set_netns(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);

	if (len >= sizeof(cfg->netns) || strchr(value, '/') || strcmp(value, ".") == 0 ||
	    strcmp(value, "..") == 0) {
		snprintf(err, errlen, "\"%s\" is not a namespace name", value);
		return -1;
	}
	memcpy(cfg->netns, value, len + 1);
	return 0;
}

static int set_max_flows(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_range(&cfg->max_flows, value, 1, TG_MAX_FLOWS_MAX, err, errlen);
}

static int set_flow_table_full(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "refuse") == 0)
		cfg->evict_when_full = false;
	else if (strcmp(value, "evict") == 0)
		cfg->evict_when_full = true;
	else {
		snprintf(err, errlen, "\"%s\" is not one of refuse, evict", value);
		return -1;
	}
	return 0;
}

static int set_connect_timeout(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_range(&cfg->connect_timeout, value, 1, TG_CONNECT_TIMEOUT_MAX, err, errlen);
}

static int set_handshake(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "fast") == 0)
		cfg->handshake = 0;
	else if (strcmp(value, "consistent") == 0)
		cfg->handshake = 1;
	else {
		snprintf(err, errlen, "\"%s\" is not one of fast, consistent", value);
		return -1;
	}
	return 0;
}

static int set_tcp_idle_timeout(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_range(&cfg->tcp_idle_timeout, value, 1, TG_TIMEOUT_MAX, err, errlen);
}

static int set_tcp_half_close_timeout(struct tg_config *cfg, const char *value, char *err,
                                      size_t errlen)
{
	return set_range(&cfg->tcp_half_close_timeout, value, 1, TG_TIMEOUT_MAX, err, errlen);
}

static int set_udp_timeout(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_range(&cfg->udp_timeout, value, 1, 86400, err, errlen);
}

static int set_dns_timeout(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_range(&cfg->dns_timeout, value, 1, 86400, err, errlen);
}

static int set_stats_file(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);

	if (len >= sizeof(cfg->stats_file) || (len && value[0] != '/')) {
		snprintf(err, errlen, "\"%s\" is not an absolute path", value);
		return -1;
	}
	memcpy(cfg->stats_file, value, len + 1);
	return 0;
}

const char *tg_config_stats_path(const struct tg_config *cfg, char *buf, size_t len)
{
	if (cfg->stats_file[0])
		snprintf(buf, len, "%s", cfg->stats_file);
	else
		snprintf(buf, len, "/run/tungate/%s%s%s.stats", cfg->netns,
		         cfg->netns[0] ? "-" : "", cfg->tun_name);
	return buf;
}

static int set_log_target(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "stderr") == 0)
		cfg->log_syslog = false;
	else if (strcmp(value, "syslog") == 0)
		cfg->log_syslog = true;
	else {
		snprintf(err, errlen, "\"%s\" is not one of stderr, syslog", value);
		return -1;
	}
	return 0;
}

/* Numeric "A.B.C.D:PORT" or "[v6]:PORT" (tungate serves it before any resolver); "": off. */
static int set_metrics_listen(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	struct tg_addr a;

	if (*value && (tg_addr_parse(value, &a) < 0 || a.port == 0)) {
		snprintf(err, errlen, "\"%s\" is not A.B.C.D:PORT or [IPv6]:PORT", value);
		return -1;
	}
	snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), "%s", value);
	return 0;
}

static int set_log_level(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (log_parse_level(value, &cfg->log_level) < 0) {
		snprintf(err, errlen, "\"%s\" is not one of error, warning, info, debug", value);
		return -1;
	}
	return 0;
}

/* Portable user names: letters, digits, '.', '_', '-', not starting with '-'. */
static int set_user(struct tg_run_as *u, const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);

	if (len == 0 || len >= sizeof(u->name) || *value == '-' ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	            len) {
		snprintf(err, errlen, "\"%s\" is not a user name", value);
		return -1;
	}
	memcpy(u->name, value, len + 1);
	return 0;
}

static int set_tunio_user(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_user(&cfg->run_as[0], value, err, errlen);
}

static int set_stackd_user(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_user(&cfg->run_as[1], value, err, errlen);
}

static int set_relayd_user(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_user(&cfg->run_as[2], value, err, errlen);
}

/* An absolute path, or empty for no chroot; tungate checks the directory at startup. */
static int set_chroot(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);

	if (len >= sizeof(cfg->chroot_dir) || (len && value[0] != '/')) {
		snprintf(err, errlen, "\"%s\" is not an absolute path of up to %zu characters",
		         value, sizeof(cfg->chroot_dir) - 1);
		return -1;
	}
	memcpy(cfg->chroot_dir, value, len + 1);
	return 0;
}

static int set_relayd_nofile(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_range(&cfg->relayd_nofile, value, TG_NOFILE_MIN, TG_NOFILE_MAX, err, errlen);
}

static int set_seccomp(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "yes") == 0)
		cfg->seccomp = true;
	else if (strcmp(value, "no") == 0)
		cfg->seccomp = false;
	else {
		snprintf(err, errlen, "\"%s\" is not one of yes, no", value);
		return -1;
	}
	return 0;
}

static int set_allow_local(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "yes") == 0)
		cfg->allow_local = true;
	else if (strcmp(value, "no") == 0)
		cfg->allow_local = false;
	else {
		snprintf(err, errlen, "\"%s\" is not one of yes, no", value);
		return -1;
	}
	return 0;
}

static int set_upstream(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "direct") == 0)
		cfg->upstream = 0;
	else if (strcmp(value, "socks5") == 0)
		cfg->upstream = 1;
	else {
		snprintf(err, errlen, "\"%s\" is not one of direct, socks5", value);
		return -1;
	}
	return 0;
}

/* Numeric only: relayd has no resolver (its sandbox allows no DNS). */
static int set_socks5_server(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	struct tg_addr a;

	if (tg_addr_parse(value, &a) < 0) {
		snprintf(err, errlen, "\"%s\" is not A.B.C.D:PORT or [IPv6]:PORT", value);
		return -1;
	}
	snprintf(cfg->socks5_server, sizeof(cfg->socks5_server), "%s", value);
	return 0;
}

static int set_cred(char *out, size_t outlen, const char *value, char *err, size_t errlen)
{
	if (strlen(value) >= outlen) {
		snprintf(err, errlen, "longer than %zu bytes (RFC 1929)", outlen - 1);
		return -1;
	}
	snprintf(out, outlen, "%s", value);
	return 0;
}

static int set_socks5_user(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_cred(cfg->socks5_user, sizeof(cfg->socks5_user), value, err, errlen);
}

static int set_socks5_password(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_cred(cfg->socks5_password, sizeof(cfg->socks5_password), value, err, errlen);
}

static int set_rule(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return tg_rules_conf_add(&cfg->rules, value, cfg->line, err, errlen);
}

static int set_default_rule(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return tg_rules_conf_default(&cfg->rules, value, cfg->line, err, errlen);
}

int tg_config_rules(const struct tg_config *cfg, struct tg_rules *out, char *err, size_t errlen)
{
	struct tg_upstream relay;
	int rc;

	memset(&relay, 0, sizeof(relay));
	if (cfg->socks5_server[0] && tg_addr_parse(cfg->socks5_server, &relay.server) < 0) {
		snprintf(err, errlen, "[relay] socks5_server: \"%s\" is not an address",
		         cfg->socks5_server);
		return -1;
	}
	snprintf(relay.user, sizeof(relay.user), "%s", cfg->socks5_user);
	snprintf(relay.password, sizeof(relay.password), "%s", cfg->socks5_password);
	rc = tg_rules_compile(&cfg->rules, cfg->socks5_server[0] ? &relay : NULL,
	                      cfg->upstream == 1, out, err, errlen);
	explicit_bzero(&relay, sizeof(relay));
	return rc;
}

/* ---- [relay] mark, bind_interface and [route] (docs/routing.md) ---------------------------- */

/* A mark is written in decimal or, as ip-rule(8) shows it, in hex ("0x7474"). */
static int set_mark(unsigned *out, const char *value, unsigned long min, char *err, size_t errlen)
{
	const char *digits;
	unsigned long long v;
	char *end;

	errno = 0;
	/* Decimal or 0x hex, as the message says: base 0 would also read "010" as octal. */
	digits = strncmp(value, "0x", 2) == 0 || strncmp(value, "0X", 2) == 0 ? value + 2 : value;
	v = strtoull(digits, &end, digits == value ? 10 : 16);
	if (*digits < '0' || (*digits > '9' && digits == value) || end == digits || *end || errno ||
	    v > 0xffffffffu || v < min) {
		snprintf(err, errlen, "\"%s\" is not a mark (%lu..0xffffffff, decimal or 0x hex)",
		         value, min);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int set_relay_mark(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_mark(&cfg->relay_mark, value, 0, err, errlen);
}

static int set_bind_interface(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	struct tg_config scratch = {0};

	if (*value == '\0') {
		cfg->bind_interface[0] = '\0';
		return 0;
	}
	/* The same rule as a device name: set_tun_name checks it into a scratch copy. */
	if (set_tun_name(&scratch, value, err, errlen) < 0)
		return -1;
	memcpy(cfg->bind_interface, scratch.tun_name, sizeof(cfg->bind_interface));
	return 0;
}

static int set_route_auto(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "no") == 0)
		cfg->route_auto = TG_ROUTE_NO;
	else if (strcmp(value, "default") == 0)
		cfg->route_auto = TG_ROUTE_DEFAULT;
	else if (strcmp(value, "prefixes") == 0)
		cfg->route_auto = TG_ROUTE_PREFIXES;
	else {
		snprintf(err, errlen, "\"%s\" is not one of no, default, prefixes", value);
		return -1;
	}
	return 0;
}

static int set_route_prefixes(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	int n = tg_prefix_list_parse(value, cfg->route_prefixes, TG_ROUTE_PREFIXES_MAX, err,
	                             errlen);

	if (n < 0)
		return -1;
	cfg->nroute_prefixes = (unsigned)n;
	return 0;
}

static int set_route_exclude(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	int n = tg_prefix_list_parse(value, cfg->route_exclude, TG_ROUTE_EXCLUDE_MAX, err, errlen);

	if (n < 0)
		return -1;
	cfg->nroute_exclude = (unsigned)n;
	return 0;
}

/* 0 is no table, and 253..255 are the kernel's default, main and local tables. */
static int set_route_table(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	unsigned t;

	if (set_range(&t, value, 1, 0xffffffffu, err, errlen) < 0)
		return -1;
	if (t >= 253 && t <= 255) {
		snprintf(err, errlen, "%u is one of the kernel's own tables (253..255)", t);
		return -1;
	}
	cfg->route_table = t;
	return 0;
}

static int set_route_fwmark(struct tg_config *cfg, const char *value, char *err, size_t errlen)
{
	return set_mark(&cfg->route_fwmark, value, 1, err, errlen);
}

unsigned tg_config_relay_mark(const struct tg_config *cfg)
{
	if (cfg->relay_mark)
		return cfg->relay_mark;
	return cfg->route_auto != TG_ROUTE_NO ? cfg->route_fwmark : 0;
}

const char *tg_config_routes_path(const struct tg_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "/run/tungate/%s%s%s.routes", cfg->netns, cfg->netns[0] ? "-" : "",
	         cfg->tun_name);
	return buf;
}

/* auto-route: relayd's mark must be the one the rule skips, and TAP has no routes of ours. */
static int route_check(const struct tg_config *cfg, char *err, size_t errlen)
{
	if (strcmp(cfg->bind_interface, cfg->tun_name) == 0) {
		snprintf(err, errlen, "[relay] bind_interface is the TUN itself: that is a loop");
		return -1;
	}
	if (cfg->route_auto == TG_ROUTE_NO)
		return 0;
	if (cfg->tap) {
		snprintf(err, errlen, "[route] auto needs [tun] mode = tun");
		return -1;
	}
	if (cfg->route_auto == TG_ROUTE_PREFIXES && cfg->nroute_prefixes == 0) {
		snprintf(err, errlen, "[route] auto = prefixes needs [route] prefixes");
		return -1;
	}
	if (cfg->relay_mark && cfg->relay_mark != cfg->route_fwmark) {
		snprintf(err, errlen,
		         "[relay] mark %#x differs from [route] fwmark %#x: relayd's traffic "
		         "would loop into the TUN",
		         cfg->relay_mark, cfg->route_fwmark);
		return -1;
	}
	return 0;
}

/* TAP's proxy ARP/NDP and RAs act for the gateway: they need TAP, NDP and RAs its /64. */
static int tap_check(const struct tg_config *cfg, char *err, size_t errlen)
{
	const unsigned char *a6 = cfg->gateway_ipv6.s6_addr;
	const char *key = cfg->proxy_arp               ? "proxy_arp"
	                  : cfg->proxy_ndp             ? "proxy_ndp"
	                  : cfg->router_advertisements ? "router_advertisements"
	                                               : NULL;

	if (!key)
		return 0;
	if (!cfg->tap) {
		snprintf(err, errlen, "[tun] %s needs [tun] mode = tap", key);
		return -1;
	}
	if (!cfg->proxy_ndp && !cfg->router_advertisements)
		return 0;
	key = cfg->router_advertisements ? "router_advertisements" : "proxy_ndp";
	if (!cfg->has_gateway_ipv6 || a6[0] == 0xff || (a6[0] == 0xfe && (a6[1] & 0xc0) == 0x80)) {
		snprintf(err, errlen, "[tun] %s needs a global or unique-local [tun] gateway_ipv6",
		         key);
		return -1;
	}
	return 0;
}

int tg_config_check(const struct tg_config *cfg, char *err, size_t errlen)
{
	struct tg_rules *table;
	int rc;

	if (route_check(cfg, err, errlen) < 0 || tap_check(cfg, err, errlen) < 0)
		return -1;
	if (cfg->upstream == 1 && cfg->socks5_server[0] == '\0') {
		snprintf(err, errlen, "[relay] upstream = socks5 needs [relay] socks5_server");
		return -1;
	}
	if ((cfg->socks5_user[0] == '\0') != (cfg->socks5_password[0] == '\0')) {
		snprintf(err, errlen,
		         "[relay] socks5_user and socks5_password: set both or neither");
		return -1;
	}
	if (!(table = malloc(sizeof(*table)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = tg_config_rules(cfg, table, err, errlen);
	explicit_bzero(table, sizeof(*table));
	free(table);
	return rc;
}

/*
 * Every key, in the order of `tungate --help` and --print-config. A new key is one line here
 * (and its setter): the INI section, the flag and the help text all come from this table.
 */
static const struct config_key config_keys[] = {
        {{"tun", "name", "tun-name", "NAME", "TUN/TAP device (default tg0)"}, set_tun_name},
        {{"tun", "mtu", "mtu", "N", "576..65535 (default 1500)"}, set_mtu},
        {{"tun", "address", "tun-address", "A.B.C.D/N",
          "IPv4 address of the device (default none)"},
         set_address},
        {{"tun", "netns", "netns", "NAME", "create the device in /run/netns/NAME"}, set_netns},
        {{"tun", "mode", "mode", "tun|tap",
          "IP packets (default) or Ethernet frames, stackd then a gateway answering ARP/ND"},
         set_mode},
        {{"tun", "offload", "offload", "yes|no",
          "tun: checksum and TSO offloads through a vnet header (default yes)"},
         set_offload},
        {{"tun", "gateway_mac", "gateway-mac", "MAC", "tap: default 02:54:47 + hash of the name"},
         set_gateway_mac},
        {{"tun", "gateway_ipv4", "gateway-ipv4", "A.B.C.D/N", "tap: default 198.18.0.254/24"},
         set_gateway_ipv4},
        {{"tun", "gateway_ipv6", "gateway-ipv6", "ADDR", "tap: default none"}, set_gateway_ipv6},
        {{"tun", "proxy_arp", "proxy-arp", "yes|no",
          "tap: answer ARP for every address off the gateway's subnet (default no)"},
         set_proxy_arp},
        {{"tun", "proxy_ndp", "proxy-ndp", "yes|no",
          "tap: answer neighbour solicitations off gateway_ipv6's /64 (default no)"},
         set_proxy_ndp},
        {{"tun", "router_advertisements", "router-advertisements", "yes|no",
          "tap: advertise gateway_ipv6's /64 and a default route, for SLAAC (default no)"},
         set_router_advertisements},
        {{"stack", "max_flows", "max-flows", "N", "concurrent flows (default 4096)"},
         set_max_flows},
        {{"stack", "flow_table_full", "flow-table-full", "refuse|evict",
          "at max_flows: refuse (default) or evict the least recently active idle flow"},
         set_flow_table_full},
        {{"stack", "handshake", "handshake", "fast|consistent",
          "SYN-ACK at once (default) or only once the upstream connected"},
         set_handshake},
        {{"stack", "tcp_idle_timeout", "tcp-idle-timeout", "SEC", "default 7200"},
         set_tcp_idle_timeout},
        {{"stack", "tcp_half_close_timeout", "tcp-half-close-timeout", "SEC", "default 300"},
         set_tcp_half_close_timeout},
        {{"relay", "connect_timeout", "connect-timeout", "SEC", "1..300 (default 10)"},
         set_connect_timeout},
        {{"relay", "udp_timeout", "udp-timeout", "SEC", "UDP NAT idle timeout (default 60)"},
         set_udp_timeout},
        {{"relay", "dns_timeout", "dns-timeout", "SEC", "the same for port 53 (default 10)"},
         set_dns_timeout},
        {{"relay", "upstream", "upstream", "direct|socks5", "how flows go out (default direct)"},
         set_upstream},
        {{"relay", "socks5_server", "socks5-server", "ADDR:PORT", "A.B.C.D:PORT or [IPv6]:PORT"},
         set_socks5_server},
        {{"relay", "socks5_user", "socks5-user", "USER", "RFC 1929, with socks5_password"},
         set_socks5_user},
        {{"relay", "socks5_password", "socks5-password", "PASSWORD", "RFC 1929"},
         set_socks5_password},
        {{"relay", "mark", "mark", "N",
          "SO_MARK on outbound sockets (default 0: none; auto-route: route.fwmark)"},
         set_relay_mark},
        {{"relay", "bind_interface", "bind-interface", "IFNAME",
          "SO_BINDTODEVICE on outbound sockets (default none)"},
         set_bind_interface},
        {{"relay", "allow_local", "allow-local", "yes|no",
          "let direct flows reach the gateway's own addresses and loopback (default no)"},
         set_allow_local},
        {{"rules", "rule", "rule", "SPEC",
          "DEST PROTO [PORTS] ACTION [fast|consistent], in order (tungate.conf(5))"},
         set_rule},
        {{"rules", "default", "default-rule", "ACTION",
          "direct, socks5:NAME or reject [fast|consistent] (default: [relay] upstream)"},
         set_default_rule},
        {{"route", "auto", "auto-route", "no|default|prefixes",
          "routes through the TUN, with a rule that relayd's marked sockets skip (default no)"},
         set_route_auto},
        {{"route", "prefixes", "route-prefixes", "CIDR,...", "auto = prefixes: what to route"},
         set_route_prefixes},
        {{"route", "exclude", "route-exclude", "ADDR,...",
          "never through the TUN (the SOCKS5 server is excluded anyway)"},
         set_route_exclude},
        {{"route", "table", "route-table", "N", "routing table of the TUN's routes (default 7474)"},
         set_route_table},
        {{"route", "fwmark", "route-fwmark", "N", "mark that bypasses the TUN (default 0x7474)"},
         set_route_fwmark},
        {{"stats", "file", "stats-file", "PATH", "default /run/tungate/[NETNS-]TUN.stats"},
         set_stats_file},
        {{"log", "level", "log-level", "LEVEL", "error, warning, info (default) or debug"},
         set_log_level},
        {{"log", "target", "log-target", "stderr|syslog",
          "where every process logs; syslog reaches journald (default stderr)"},
         set_log_target},
        {{"metrics", "listen", "metrics-listen", "ADDR:PORT",
          "Prometheus endpoint /metrics, e.g. 127.0.0.1:9474 (default empty: off)"},
         set_metrics_listen},
        {{"privsep", "tunio_user", "tunio-user", "USER", "default _tungate-tunio"}, set_tunio_user},
        {{"privsep", "stackd_user", "stackd-user", "USER", "default _tungate-stackd"},
         set_stackd_user},
        {{"privsep", "relayd_user", "relayd-user", "USER",
          "default _tungate-relayd; \"root\" is for tests only"},
         set_relayd_user},
        {{"privsep", "chroot", "chroot", "DIR",
          "the children's empty root (default /run/tungate/empty; empty: none)"},
         set_chroot},
        {{"privsep", "relayd_nofile", "relayd-nofile", "N", "relayd's fd limit (default 65536)"},
         set_relayd_nofile},
        {{"privsep", "seccomp", "seccomp", "yes|no", "system call filters (default yes)"},
         set_seccomp},
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

size_t tg_config_nkeys(void)
{
	return NKEYS;
}

const struct tg_config_key *tg_config_key_at(size_t i)
{
	return i < NKEYS ? &config_keys[i].pub : NULL;
}

static bool section_known(const char *section)
{
	if (tg_rules_upstream_section(section))
		return true;
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].pub.section, section) == 0)
			return true;
	return false;
}

void tg_config_defaults(struct tg_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->tun_name, "tg0");
	cfg->mtu = 1500;
	cfg->offload = true;
	/* TAP mode's gateway: 198.18.0.254/24, in the benchmarking range the docs use. */
	cfg->gateway_ipv4.s_addr = htonl(0xc61200feu);
	cfg->gateway_prefix = 24;
	cfg->max_flows = 4096;
	cfg->connect_timeout = 10;
	cfg->handshake = 0;
	cfg->tcp_idle_timeout = 7200;
	cfg->tcp_half_close_timeout = 300;
	cfg->udp_timeout = 60;
	cfg->dns_timeout = 10;
	cfg->log_level = TG_LOG_INFO;
	/* Debian names new system users with a leading '_' (_apt), as OpenBSD does (_relayd). */
	strcpy(cfg->run_as[0].name, "_tungate-tunio");
	strcpy(cfg->run_as[1].name, "_tungate-stackd");
	strcpy(cfg->run_as[2].name, "_tungate-relayd");
	strcpy(cfg->chroot_dir, "/run/tungate/empty");
	cfg->relayd_nofile = 65536;
	cfg->seccomp = true;
	/* auto-route: "tg" in ASCII, away from wg-quick's 51820 and the usual small tables */
	cfg->route_table = 7474;
	cfg->route_fwmark = 0x7474;
}

int tg_config_set(struct tg_config *cfg, const char *section, const char *key, const char *value,
                  char *err, size_t errlen)
{
	const char *upstream = tg_rules_upstream_section(section);

	if (upstream)
		return tg_rules_conf_upstream_key(&cfg->rules, upstream, key, value, cfg->line, err,
		                                  errlen);
	if (!section_known(section)) {
		snprintf(err, errlen, "unknown section");
		return -1;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(config_keys[i].pub.section, section) == 0 &&
		    strcmp(config_keys[i].pub.name, key) == 0)
			return config_keys[i].set(cfg, value, err, errlen);
	}
	snprintf(err, errlen, "unknown key");
	return -1;
}

const char *tg_config_address_text(const struct tg_config *cfg, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (!cfg->has_address || !inet_ntop(AF_INET, &cfg->address, ip, sizeof(ip))) {
		snprintf(buf, len, "%s", "");
		return buf;
	}
	snprintf(buf, len, "%s/%u", ip, cfg->prefix_len);
	return buf;
}

/* ---- INI file ------------------------------------------------------------------------- */

struct load_ctx {
	struct tg_config *cfg;
	FILE *file;
	const char *path;
	int line;     /* number of the line libinih is working on */
	int err_line; /* 0 until the first error */
	char *err;
	size_t errlen;
};

/* Keeps the first error only: later ones are usually its consequences. */
__attribute__((format(printf, 2, 3))) static void load_error(struct load_ctx *ctx, const char *fmt,
                                                             ...)
{
	char what[512];
	va_list ap;

	if (ctx->err_line)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ctx->err_line = ctx->line > 0 ? ctx->line : 1;
	snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->path, ctx->err_line, what);
}

/* A "[name]" line names a section; libinih would only tell us about it at its first key. */
static void check_section_line(struct load_ctx *ctx, const char *line)
{
	const char *p = line, *end;
	char name[64];
	size_t len;

	while (isspace((unsigned char)*p))
		p++;
	if (*p != '[' || !(end = strchr(p, ']')))
		return; /* a key, a comment, or a syntax error that libinih reports */
	len = (size_t)(end - p - 1);
	if (len >= sizeof(name)) {
		load_error(ctx, "[%.32s...]: unknown section", p + 1);
		return;
	}
	memcpy(name, p + 1, len);
	name[len] = '\0';
	if (!section_known(name))
		load_error(ctx, "[%s]: unknown section", name);
}

/* fgets() with line counting; ends the parse (EOF) at the first error. */
static char *read_line(char *buf, int size, void *stream)
{
	struct load_ctx *ctx = stream;
	size_t len;
	int c;

	if (ctx->err_line || !fgets(buf, size, ctx->file))
		return NULL;
	ctx->line++;
	len = strlen(buf);
	if (len == (size_t)size - 1 && buf[len - 1] != '\n' && (c = getc(ctx->file)) != EOF) {
		load_error(ctx, "line longer than %d characters", size - 3);
		return NULL;
	}
	check_section_line(ctx, buf);
	return ctx->err_line ? NULL : buf;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	char why[256];

	if (*section == '\0') {
		load_error(ctx, "%s: key outside any [section]", name);
		return 0;
	}
	ctx->cfg->line = (uint32_t)ctx->line;
	if (tg_config_set(ctx->cfg, section, name, value, why, sizeof(why)) < 0) {
		/* A rule's own message names it: "rule 3: ..." or "default: ..." */
		if (strcmp(section, "rules") == 0 &&
		    (strcmp(name, "rule") == 0 || strcmp(name, "default") == 0))
			load_error(ctx, "[%s] %s", section, why);
		else
			load_error(ctx, "[%s] %s: %s", section, name, why);
		return 0;
	}
	return 1;
}

int tg_config_load_file(struct tg_config *cfg, const char *path, char *err, size_t errlen)
{
	struct load_ctx ctx = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
	bool read_failed;
	int rc;

	ctx.file = fopen(path, "re");
	if (!ctx.file) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(cfg->rules.path, sizeof(cfg->rules.path), "%s", path);
	rc = ini_parse_stream(read_line, &ctx, on_key, &ctx);
	cfg->line = 0; /* what follows (flags) has no line */
	read_failed = ferror(ctx.file) != 0;
	fclose(ctx.file);
	/* libinih reports the first line it could not parse at all; ours may come later. */
	if (rc > 0 && (!ctx.err_line || rc < ctx.err_line)) {
		snprintf(err, errlen, "%s:%d: syntax error: expected [section] or key = value",
		         path, rc);
		return -1;
	}
	if (ctx.err_line)
		return -1;
	if (rc < 0 || read_failed) {
		snprintf(err, errlen, "%s: %s", path, rc < 0 ? "out of memory" : "read error");
		return -1;
	}
	return 0;
}

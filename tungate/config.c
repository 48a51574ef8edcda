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

int tg_config_check(const struct tg_config *cfg, char *err, size_t errlen)
{
	if (cfg->upstream == 1 && cfg->socks5_server[0] == '\0') {
		snprintf(err, errlen, "[relay] upstream = socks5 needs [relay] socks5_server");
		return -1;
	}
	if ((cfg->socks5_user[0] == '\0') != (cfg->socks5_password[0] == '\0')) {
		snprintf(err, errlen,
		         "[relay] socks5_user and socks5_password: set both or neither");
		return -1;
	}
	return 0;
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
        {{"tun", "gateway_mac", "gateway-mac", "MAC", "tap: default 02:54:47 + hash of the name"},
         set_gateway_mac},
        {{"tun", "gateway_ipv4", "gateway-ipv4", "A.B.C.D/N", "tap: default 198.18.0.254/24"},
         set_gateway_ipv4},
        {{"tun", "gateway_ipv6", "gateway-ipv6", "ADDR", "tap: default none"}, set_gateway_ipv6},
        {{"stack", "max_flows", "max-flows", "N", "concurrent flows (default 4096)"},
         set_max_flows},
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
        {{"stats", "file", "stats-file", "PATH", "default /run/tungate/[NETNS-]TUN.stats"},
         set_stats_file},
        {{"log", "level", "log-level", "LEVEL", "error, warning, info (default) or debug"},
         set_log_level},
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
}

int tg_config_set(struct tg_config *cfg, const char *section, const char *key, const char *value,
                  char *err, size_t errlen)
{
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
	if (tg_config_set(ctx->cfg, section, name, value, why, sizeof(why)) < 0) {
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
	rc = ini_parse_stream(read_line, &ctx, on_key, &ctx);
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

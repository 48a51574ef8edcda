/*
 * `tungate run --print-config`: the effective configuration as an INI file that `tungate check`
 * accepts and that reads back into the same struct. One printer per key of config.c's table,
 * found by section and name: a key without one is printed as a comment that says so, and the
 * unit test fails on it, so that a new key cannot silently vanish from the output.
 *
 * Secrets are never printed: a password reads "(hidden)", which is a valid value, so the
 * output still passes `tungate check` but does not authenticate anywhere.
 */
#include "config_print.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "prefix.h"
#include "rules.h"

typedef void (*key_printer)(const struct tg_config *cfg, const char *name, FILE *out);

struct key_print {
	const char *section;
	const char *name;
	key_printer print;
};

static const char *const log_levels[] = {"error", "warning", "info", "debug"};

static void p_uint(FILE *out, const char *name, unsigned v)
{
	fprintf(out, "%s = %u\n", name, v);
}

static void p_str(FILE *out, const char *name, const char *v)
{
	fprintf(out, "%s = %s\n", name, v);
}

static void p_yes_no(FILE *out, const char *name, bool v)
{
	p_str(out, name, v ? "yes" : "no");
}

/* An unset optional key: shown, but as a comment, since the empty value may not parse. */
static void p_unset(FILE *out, const char *name)
{
	fprintf(out, "# %s = (not set)\n", name);
}

static void pr_tun_name(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->tun_name);
}

static void pr_mtu(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->mtu);
}

static void pr_address(const struct tg_config *c, const char *n, FILE *o)
{
	char buf[64];

	if (!c->has_address)
		p_unset(o, n);
	else
		p_str(o, n, tg_config_address_text(c, buf, sizeof(buf)));
}

static void pr_netns(const struct tg_config *c, const char *n, FILE *o)
{
	if (!c->netns[0])
		p_unset(o, n);
	else
		p_str(o, n, c->netns);
}

static void pr_mode(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->tap ? "tap" : "tun");
}

static void pr_gateway_mac(const struct tg_config *c, const char *n, FILE *o)
{
	const unsigned char *m = c->gateway_mac;

	if (!c->has_gateway_mac)
		p_unset(o, n);
	else
		fprintf(o, "%s = %02x:%02x:%02x:%02x:%02x:%02x\n", n, m[0], m[1], m[2], m[3], m[4],
		        m[5]);
}

static void pr_gateway_ipv4(const struct tg_config *c, const char *n, FILE *o)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &c->gateway_ipv4, ip, sizeof(ip));
	fprintf(o, "%s = %s/%u\n", n, ip, c->gateway_prefix);
}

static void pr_gateway_ipv6(const struct tg_config *c, const char *n, FILE *o)
{
	char ip[INET6_ADDRSTRLEN];

	if (!c->has_gateway_ipv6)
		p_unset(o, n);
	else
		p_str(o, n, inet_ntop(AF_INET6, &c->gateway_ipv6, ip, sizeof(ip)));
}

static void pr_proxy_arp(const struct tg_config *c, const char *n, FILE *o)
{
	p_yes_no(o, n, c->proxy_arp);
}

static void pr_proxy_ndp(const struct tg_config *c, const char *n, FILE *o)
{
	p_yes_no(o, n, c->proxy_ndp);
}

static void pr_router_advertisements(const struct tg_config *c, const char *n, FILE *o)
{
	p_yes_no(o, n, c->router_advertisements);
}

static void pr_offload(const struct tg_config *c, const char *n, FILE *o)
{
	p_yes_no(o, n, c->offload);
}

static void pr_max_flows(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->max_flows);
}

static void pr_flow_table_full(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->evict_when_full ? "evict" : "refuse");
}

static void pr_handshake(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->handshake ? "consistent" : "fast");
}

static void pr_tcp_idle_timeout(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->tcp_idle_timeout);
}

static void pr_tcp_half_close_timeout(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->tcp_half_close_timeout);
}

static void pr_connect_timeout(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->connect_timeout);
}

static void pr_udp_timeout(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->udp_timeout);
}

static void pr_dns_timeout(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->dns_timeout);
}

static void pr_upstream(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->upstream == 1 ? "socks5" : "direct");
}

static void pr_socks5_server(const struct tg_config *c, const char *n, FILE *o)
{
	if (!c->socks5_server[0])
		p_unset(o, n);
	else
		p_str(o, n, c->socks5_server);
}

static void pr_socks5_user(const struct tg_config *c, const char *n, FILE *o)
{
	if (!c->socks5_user[0])
		p_unset(o, n);
	else
		p_str(o, n, c->socks5_user);
}

static void pr_secret(const char *secret, const char *n, FILE *o)
{
	if (!secret[0])
		p_unset(o, n);
	else
		p_str(o, n, TG_CONFIG_HIDDEN);
}

static void pr_socks5_password(const struct tg_config *c, const char *n, FILE *o)
{
	pr_secret(c->socks5_password, n, o);
}

static void pr_relay_mark(const struct tg_config *c, const char *n, FILE *o)
{
	fprintf(o, "%s = %#x\n", n, c->relay_mark);
}

static void pr_bind_interface(const struct tg_config *c, const char *n, FILE *o)
{
	if (!c->bind_interface[0])
		p_unset(o, n);
	else
		p_str(o, n, c->bind_interface);
}

/* "DEST PROTO [PORTS] ACTION [HANDSHAKE]", as rules.c parses it. */
static void rule_dest(const struct tg_rule *r, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (r->family == 0) {
		snprintf(buf, len, "any");
		return;
	}
	inet_ntop(r->family == TG_AF_INET4 ? AF_INET : AF_INET6, r->net, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, r->prefix);
}

static const char *rule_action(const struct tg_rules_conf *rc, const struct tg_rule *r, char *buf,
                               size_t len)
{
	if (r->action == TG_RULE_DIRECT)
		return "direct";
	if (r->action == TG_RULE_REJECT)
		return "reject";
	if (r->upstream < rc->nupstreams &&
	    strcmp(rc->upstream[r->upstream].name, TG_RULES_RELAY_NAME) == 0)
		return "socks5";
	snprintf(buf, len, "socks5:%s",
	         r->upstream < rc->nupstreams ? rc->upstream[r->upstream].name : "?");
	return buf;
}

static const char *rule_handshake(const struct tg_rule *r)
{
	return r->handshake == TG_RULE_HS_FAST         ? " fast"
	       : r->handshake == TG_RULE_HS_CONSISTENT ? " consistent"
	                                               : "";
}

static void pr_rule(const struct tg_config *c, const char *n, FILE *o)
{
	const struct tg_rules_conf *rc = &c->rules;
	char dest[INET6_ADDRSTRLEN + 8], ports[16] = "", act[TG_UPSTREAM_NAME_MAX + 8];

	if (rc->nrules == 0)
		p_unset(o, n);
	for (uint32_t i = 0; i < rc->nrules; i++) {
		const struct tg_rule *r = &rc->rule[i];

		rule_dest(r, dest, sizeof(dest));
		if (r->port_lo == r->port_hi)
			snprintf(ports, sizeof(ports), " %u", r->port_lo);
		else if (r->port_lo != 0 || r->port_hi != 65535)
			snprintf(ports, sizeof(ports), " %u-%u", r->port_lo, r->port_hi);
		else
			ports[0] = '\0';
		fprintf(o, "%s = %s %s%s %s%s\n", n, dest,
		        r->protos == TG_RULE_ANY   ? "any"
		        : r->protos == TG_RULE_TCP ? "tcp"
		                                   : "udp",
		        ports, rule_action(rc, r, act, sizeof(act)), rule_handshake(r));
	}
}

static void pr_default_rule(const struct tg_config *c, const char *n, FILE *o)
{
	char act[TG_UPSTREAM_NAME_MAX + 8];

	if (!c->rules.has_default)
		p_unset(o, n);
	else
		fprintf(o, "%s = %s%s\n", n,
		        rule_action(&c->rules, &c->rules.dflt, act, sizeof(act)),
		        rule_handshake(&c->rules.dflt));
}

static void pr_route_auto(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n,
	      c->route_auto == TG_ROUTE_DEFAULT    ? "default"
	      : c->route_auto == TG_ROUTE_PREFIXES ? "prefixes"
	                                           : "no");
}

static void p_prefixes(FILE *o, const char *n, const struct tg_prefix *p, unsigned count)
{
	char buf[TG_PREFIX_STRLEN];

	if (count == 0) {
		p_unset(o, n);
		return;
	}
	fprintf(o, "%s = ", n);
	for (unsigned i = 0; i < count; i++)
		fprintf(o, "%s%s", i ? "," : "", tg_prefix_format(&p[i], buf, sizeof(buf)));
	fputc('\n', o);
}

static void pr_route_prefixes(const struct tg_config *c, const char *n, FILE *o)
{
	p_prefixes(o, n, c->route_prefixes, c->nroute_prefixes);
}

static void pr_route_exclude(const struct tg_config *c, const char *n, FILE *o)
{
	p_prefixes(o, n, c->route_exclude, c->nroute_exclude);
}

static void pr_route_table(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->route_table);
}

static void pr_route_fwmark(const struct tg_config *c, const char *n, FILE *o)
{
	fprintf(o, "%s = %#x\n", n, c->route_fwmark);
}

static void pr_stats_file(const struct tg_config *c, const char *n, FILE *o)
{
	char buf[PATH_MAX];

	if (!c->stats_file[0])
		fprintf(o, "# %s = (not set: %s)\n", n, tg_config_stats_path(c, buf, sizeof(buf)));
	else
		p_str(o, n, c->stats_file);
}

static void pr_log_level(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, (unsigned)c->log_level < 4 ? log_levels[c->log_level] : "info");
}

static void pr_log_target(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->log_syslog ? "syslog" : "stderr");
}

static void pr_metrics_listen(const struct tg_config *c, const char *n, FILE *o)
{
	if (!c->metrics_listen[0])
		p_unset(o, n);
	else
		p_str(o, n, c->metrics_listen);
}

static void pr_tunio_user(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->run_as[0].name);
}

static void pr_stackd_user(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->run_as[1].name);
}

static void pr_relayd_user(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->run_as[2].name);
}

static void pr_chroot(const struct tg_config *c, const char *n, FILE *o)
{
	p_str(o, n, c->chroot_dir); /* an empty value is valid here: no chroot */
}

static void pr_relayd_nofile(const struct tg_config *c, const char *n, FILE *o)
{
	p_uint(o, n, c->relayd_nofile);
}

static void pr_allow_local(const struct tg_config *c, const char *n, FILE *o)
{
	p_yes_no(o, n, c->allow_local);
}

static void pr_seccomp(const struct tg_config *c, const char *n, FILE *o)
{
	p_yes_no(o, n, c->seccomp);
}

static const struct key_print printers[] = {
        {"tun", "name", pr_tun_name},
        {"tun", "mtu", pr_mtu},
        {"tun", "address", pr_address},
        {"tun", "netns", pr_netns},
        {"tun", "mode", pr_mode},
        {"tun", "gateway_mac", pr_gateway_mac},
        {"tun", "gateway_ipv4", pr_gateway_ipv4},
        {"tun", "gateway_ipv6", pr_gateway_ipv6},
        {"tun", "proxy_arp", pr_proxy_arp},
        {"tun", "proxy_ndp", pr_proxy_ndp},
        {"tun", "router_advertisements", pr_router_advertisements},
        {"tun", "offload", pr_offload},
        {"stack", "max_flows", pr_max_flows},
        {"stack", "flow_table_full", pr_flow_table_full},
        {"stack", "handshake", pr_handshake},
        {"stack", "tcp_idle_timeout", pr_tcp_idle_timeout},
        {"stack", "tcp_half_close_timeout", pr_tcp_half_close_timeout},
        {"relay", "connect_timeout", pr_connect_timeout},
        {"relay", "udp_timeout", pr_udp_timeout},
        {"relay", "dns_timeout", pr_dns_timeout},
        {"relay", "upstream", pr_upstream},
        {"relay", "socks5_server", pr_socks5_server},
        {"relay", "socks5_user", pr_socks5_user},
        {"relay", "socks5_password", pr_socks5_password},
        {"relay", "mark", pr_relay_mark},
        {"relay", "bind_interface", pr_bind_interface},
        {"relay", "allow_local", pr_allow_local},
        {"rules", "rule", pr_rule},
        {"rules", "default", pr_default_rule},
        {"route", "auto", pr_route_auto},
        {"route", "prefixes", pr_route_prefixes},
        {"route", "exclude", pr_route_exclude},
        {"route", "table", pr_route_table},
        {"route", "fwmark", pr_route_fwmark},
        {"stats", "file", pr_stats_file},
        {"log", "level", pr_log_level},
        {"log", "target", pr_log_target},
        {"metrics", "listen", pr_metrics_listen},
        {"privsep", "tunio_user", pr_tunio_user},
        {"privsep", "stackd_user", pr_stackd_user},
        {"privsep", "relayd_user", pr_relayd_user},
        {"privsep", "chroot", pr_chroot},
        {"privsep", "relayd_nofile", pr_relayd_nofile},
        {"privsep", "seccomp", pr_seccomp},
};

static key_printer printer_for(const struct tg_config_key *k)
{
	for (size_t i = 0; i < sizeof(printers) / sizeof(printers[0]); i++)
		if (strcmp(printers[i].section, k->section) == 0 &&
		    strcmp(printers[i].name, k->name) == 0)
			return printers[i].print;
	return NULL;
}

bool tg_config_key_printable(const struct tg_config_key *k)
{
	return printer_for(k) != NULL;
}

/* [upstream NAME] sections: every one defined in the file, except [relay]'s own. */
static void print_upstreams(const struct tg_rules_conf *rc, FILE *out)
{
	char server[TG_ADDR_STRLEN];

	for (uint32_t i = 0; i < rc->nupstreams; i++) {
		const struct tg_upstream *u = &rc->upstream[i];

		if (strcmp(u->name, TG_RULES_RELAY_NAME) == 0 || !u->defined_line)
			continue;
		fprintf(out, "\n[upstream %s]\ntype = socks5\n", u->name);
		if (u->server.family)
			fprintf(out, "server = %s\n",
			        tg_addr_format(&u->server, server, sizeof(server)));
		if (u->user[0])
			fprintf(out, "user = %s\n", u->user);
		if (u->password[0])
			pr_secret(u->password, "password", out);
	}
}

void tg_config_print(const struct tg_config *cfg, FILE *out)
{
	const char *section = "";

	fprintf(out, "# tungate: the effective configuration; passwords are not shown\n");
	for (size_t i = 0; i < tg_config_nkeys(); i++) {
		const struct tg_config_key *k = tg_config_key_at(i);
		key_printer print = printer_for(k);

		if (strcmp(section, k->section) != 0) {
			fprintf(out, "%s[%s]\n", i ? "\n" : "", k->section);
			section = k->section;
		}
		if (print)
			print(cfg, k->name, out);
		else
			fprintf(out, "# %s = (tungate cannot print this key)\n", k->name);
	}
	print_upstreams(&cfg->rules, out);
}

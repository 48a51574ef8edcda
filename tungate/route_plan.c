/* auto-route's plan and state file (route_plan.h). */
#include "route_plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"

static void add(struct tg_route_item *items, size_t max, size_t *n, struct tg_route_item it)
{
	if (*n < max)
		items[(*n)++] = it;
}

static struct tg_route_item route_item(const struct tg_prefix *dst, uint32_t table, bool throw)
{
	return (struct tg_route_item){.kind = TG_ITEM_ROUTE,
	                              .family = dst->family,
	                              .table = table,
	                              .dst = *dst,
	                              .throw = throw};
}

/* An exclusion, once: the same address twice would be refused by the kernel (EEXIST). */
static void add_throw(struct tg_route_item *items, size_t max, size_t *n, const struct tg_prefix *p,
                      uint32_t table)
{
	for (size_t i = 0; i < *n; i++)
		if (items[i].throw &&tg_prefix_equal(&items[i].dst, p))
			return;
	add(items, max, n, route_item(p, table, true));
}

static bool host_prefix(const struct tg_addr *a, struct tg_prefix *p)
{
	if (a->family != TG_AF_INET4 && a->family != TG_AF_INET6)
		return false;
	memset(p, 0, sizeof(*p));
	p->family = a->family == TG_AF_INET4 ? AF_INET : AF_INET6;
	p->len = p->family == AF_INET ? 32 : 128;
	memcpy(p->addr, a->ip, p->family == AF_INET ? 4 : 16);
	return true;
}

/*
 * The SOCKS5 proxies must be reached directly even by an unmarked socket (the host's own):
 * [relay] socks5_server and every [upstream NAME] server.
 */
static void add_proxies(const struct tg_config *cfg, struct tg_route_item *items, size_t max,
                        size_t *n)
{
	struct tg_prefix p;
	struct tg_addr a;

	if (cfg->socks5_server[0] && tg_addr_parse(cfg->socks5_server, &a) == 0 &&
	    host_prefix(&a, &p))
		add_throw(items, max, n, &p, cfg->route_table);
	for (uint32_t i = 0; i < cfg->rules.nupstreams && i < TG_UPSTREAMS_MAX; i++)
		if (host_prefix(&cfg->rules.upstream[i].server, &p))
			add_throw(items, max, n, &p, cfg->route_table);
}

static bool family_used(const struct tg_route_item *items, size_t n, uint8_t family)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].kind == TG_ITEM_ROUTE && !items[i].throw &&items[i].family == family)
			return true;
	return false;
}

size_t tg_route_plan(const struct tg_config *cfg, struct tg_route_item *items, size_t max)
{
	static const uint8_t families[] = {AF_INET, AF_INET6};
	struct tg_prefix p;
	size_t n = 0;

	if (cfg->route_auto == TG_ROUTE_NO)
		return 0;
	for (unsigned i = 0; i < cfg->nroute_exclude; i++)
		add_throw(items, max, &n, &cfg->route_exclude[i], cfg->route_table);
	add_proxies(cfg, items, max, &n);
	if (cfg->route_auto == TG_ROUTE_DEFAULT) {
		for (size_t f = 0; f < 2; f++) {
			memset(&p, 0, sizeof(p));
			p.family = families[f];
			add(items, max, &n, route_item(&p, cfg->route_table, false));
		}
	} else {
		for (unsigned i = 0; i < cfg->nroute_prefixes; i++)
			add(items, max, &n,
			    route_item(&cfg->route_prefixes[i], cfg->route_table, false));
	}
	/*
	 * Rules per family that has a route through the TUN. With the default route, connected
	 * and other specific routes of the main table still win (wg-quick's suppress rule).
	 */
	for (size_t f = 0; f < 2; f++) {
		if (!family_used(items, n, families[f]))
			continue;
		if (cfg->route_auto == TG_ROUTE_DEFAULT)
			add(items, max, &n,
			    (struct tg_route_item){.kind = TG_ITEM_RULE,
			                           .family = families[f],
			                           .table = 254, /* RT_TABLE_MAIN */
			                           .pref = TG_ROUTE_PREF_SUPPRESS,
			                           .suppress = true});
		add(items, max, &n,
		    (struct tg_route_item){.kind = TG_ITEM_RULE,
		                           .family = families[f],
		                           .table = cfg->route_table,
		                           .pref = TG_ROUTE_PREF_TABLE,
		                           .fwmark = cfg->route_fwmark});
	}
	return n;
}

/* "route DST TABLE dev|throw" or "rule 4|6 PREF TABLE not-fwmark MARK|suppress" */
const char *tg_route_item_format(const struct tg_route_item *it, char *buf, size_t len)
{
	char dst[TG_PREFIX_STRLEN];

	if (it->kind == TG_ITEM_ROUTE)
		snprintf(buf, len, "route %s %" PRIu32 " %s",
		         tg_prefix_format(&it->dst, dst, sizeof(dst)), it->table,
		         it->throw ? "throw" : "dev");
	else if (it->suppress)
		snprintf(buf, len, "rule %d %" PRIu32 " %" PRIu32 " suppress",
		         it->family == AF_INET ? 4 : 6, it->pref, it->table);
	else
		snprintf(buf, len, "rule %d %" PRIu32 " %" PRIu32 " not-fwmark %" PRIu32,
		         it->family == AF_INET ? 4 : 6, it->pref, it->table, it->fwmark);
	return buf;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_route(char **f, int nf, struct tg_route_item *it)
{
	char err[128];

	if (nf != 4 || tg_prefix_parse(f[1], &it->dst, err, sizeof(err)) < 0 ||
	    parse_u32(f[2], &it->table) < 0)
		return -1;
	it->kind = TG_ITEM_ROUTE;
	it->family = it->dst.family;
	if (strcmp(f[3], "throw") == 0)
		it->throw = true;
	else if (strcmp(f[3], "dev") != 0)
		return -1;
	return 0;
}

static int parse_rule(char **f, int nf, struct tg_route_item *it)
{
	if (nf < 5 || parse_u32(f[2], &it->pref) < 0 || parse_u32(f[3], &it->table) < 0)
		return -1;
	it->kind = TG_ITEM_RULE;
	if (strcmp(f[1], "4") == 0)
		it->family = AF_INET;
	else if (strcmp(f[1], "6") == 0)
		it->family = AF_INET6;
	else
		return -1;
	if (nf == 5 && strcmp(f[4], "suppress") == 0) {
		it->suppress = true;
		return 0;
	}
	if (nf == 6 && strcmp(f[4], "not-fwmark") == 0 && parse_u32(f[5], &it->fwmark) == 0 &&
	    it->fwmark)
		return 0;
	return -1;
}

int tg_route_item_parse(const char *line, struct tg_route_item *it)
{
	char copy[TG_ROUTE_LINE_MAX], *f[8], *save = NULL, *tok;
	int nf = 0;

	memset(it, 0, sizeof(*it));
	if (strlen(line) >= sizeof(copy))
		return -1;
	strcpy(copy, line);
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (nf == 8)
			return -1;
		f[nf++] = tok;
	}
	if (nf == 0)
		return -1;
	if (strcmp(f[0], "route") == 0)
		return parse_route(f, nf, it);
	if (strcmp(f[0], "rule") == 0)
		return parse_rule(f, nf, it);
	return -1;
}

int tg_route_state_write(const char *path, const struct tg_route_item *items, size_t n)
{
	char tmp[PATH_MAX], line[TG_ROUTE_LINE_MAX];
	FILE *f;
	int err;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!(f = fopen(tmp, "we")))
		return -1;
	fprintf(f, "# tungate auto-route: what it added, removed at exit (docs/routing.md)\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", tg_route_item_format(&items[i], line, sizeof(line)));
	/* On disk before the rename: a crash right after must still find every item. */
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		err = errno;
		fclose(f);
		unlink(tmp);
		errno = err;
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		err = errno;
		unlink(tmp);
		errno = err;
		return -1;
	}
	return 0;
}

int tg_route_state_read(const char *path, struct tg_route_item *items, size_t max, size_t *bad)
{
	char line[TG_ROUTE_LINE_MAX + 2];
	FILE *f = fopen(path, "re");
	size_t n = 0;

	*bad = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (n == max || tg_route_item_parse(line, &items[n]) < 0)
			(*bad)++;
		else
			n++;
	}
	fclose(f);
	return (int)n;
}

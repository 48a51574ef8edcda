/*
 * Routing rules: parser of the configuration's text, compiler to a table, matcher, and the
 * table's binary form for the children (docs/rules.md).
 */
#include "rules.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdarg.h"
#include "prefix.h"

#define RULES_MAGIC   0x52554754u /* "TGUR" */
#define RULES_VERSION 1u
#define SPEC_TOKENS   6

struct rules_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t nrules;
	uint32_t nupstreams;
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* defined_line of an upstream that flags (--set) defined: no file line to name. */
#define LINE_FLAGS (~0u - 1)

/* ---- parsing ---------------------------------------------------------------------------- */

/* Splits spec at blanks into at most max tokens in buf; returns the count, or -1: too many. */
static int tokenize(const char *spec, char *buf, size_t buflen, char **tok, int max)
{
	int n = 0;
	char *save, *t;

	snprintf(buf, buflen, "%s", spec);
	for (t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return -1;
		tok[n++] = t;
	}
	return n;
}

/* "any", or a prefix as [route] takes them (prefix.h): host bits set are an error. */
static int parse_dest(const char *text, struct tg_rule *r, char *why, size_t whylen)
{
	struct tg_prefix p;

	if (strcmp(text, "any") == 0) {
		r->family = 0;
		r->prefix = 0;
		return 0;
	}
	if (tg_prefix_parse(text, &p, why, whylen) < 0)
		return -1;
	r->family = p.family == AF_INET ? TG_AF_INET4 : TG_AF_INET6;
	r->prefix = p.len;
	memcpy(r->net, p.addr, sizeof(r->net));
	return 0;
}

static int parse_proto(const char *text, struct tg_rule *r, char *why, size_t whylen)
{
	if (strcmp(text, "tcp") == 0)
		r->protos = TG_RULE_TCP;
	else if (strcmp(text, "udp") == 0)
		r->protos = TG_RULE_UDP;
	else if (strcmp(text, "any") == 0)
		r->protos = TG_RULE_ANY;
	else
		return fail(why, whylen, "\"%s\" is not one of tcp, udp, any", text);
	return 0;
}

/* "443", "8000-8999", "*". */
static int parse_ports(const char *text, struct tg_rule *r, char *why, size_t whylen)
{
	char lo[8];
	const char *dash = strchr(text, '-');
	unsigned long a, b;

	if (strcmp(text, "*") == 0) {
		r->port_lo = 0;
		r->port_hi = 65535;
		return 0;
	}
	if (dash) {
		if ((size_t)(dash - text) >= sizeof(lo))
			return fail(why, whylen, "\"%s\" is not a port or range", text);
		memcpy(lo, text, (size_t)(dash - text));
		lo[dash - text] = '\0';
		if (tg_parse_uint(lo, 1, 65535, &a) < 0 ||
		    tg_parse_uint(dash + 1, 1, 65535, &b) < 0)
			return fail(why, whylen, "\"%s\" is not a port range (1..65535)", text);
		if (a > b)
			return fail(why, whylen, "\"%s\": the range is empty", text);
	} else {
		if (tg_parse_uint(text, 1, 65535, &a) < 0)
			return fail(why, whylen, "\"%s\" is not a port (1..65535)", text);
		b = a;
	}
	r->port_lo = (uint16_t)a;
	r->port_hi = (uint16_t)b;
	return 0;
}

/* The upstream called name: found, or added undefined (an [upstream] section may follow). */
static int upstream_ref(struct tg_rules_conf *c, const char *name, uint32_t rule, uint32_t line,
                        uint16_t *index, char *why, size_t whylen)
{
	struct tg_upstream *u;
	size_t len = strlen(name);

	if (len == 0 || len >= TG_UPSTREAM_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	            len)
		return fail(why, whylen,
		            "\"%s\" is not an upstream name (1..%d of A-Z a-z 0-9 . _ -)", name,
		            TG_UPSTREAM_NAME_MAX - 1);
	for (uint32_t i = 0; i < c->nupstreams; i++) {
		if (strcmp(c->upstream[i].name, name) == 0) {
			*index = (uint16_t)i;
			return 0;
		}
	}
	if (c->nupstreams == TG_UPSTREAMS_MAX)
		return fail(why, whylen, "more than %d upstreams", TG_UPSTREAMS_MAX);
	u = &c->upstream[c->nupstreams];
	memset(u, 0, sizeof(*u));
	memcpy(u->name, name, len + 1);
	u->used_by_rule = rule;
	u->used_line = line;
	*index = (uint16_t)c->nupstreams++;
	return 0;
}

/* "direct", "reject", "socks5" (the [relay] one) or "socks5:NAME". */
static int parse_action(struct tg_rules_conf *c, const char *text, struct tg_rule *r, uint32_t rule,
                        char *why, size_t whylen)
{
	if (strcmp(text, "direct") == 0) {
		r->action = TG_RULE_DIRECT;
		return 0;
	}
	if (strcmp(text, "reject") == 0) {
		r->action = TG_RULE_REJECT;
		return 0;
	}
	if (strcmp(text, "socks5") == 0)
		text = "socks5:" TG_RULES_RELAY_NAME;
	if (strncmp(text, "socks5:", 7) == 0) {
		r->action = TG_RULE_SOCKS5;
		return upstream_ref(c, text + 7, rule, r->line, &r->upstream, why, whylen);
	}
	return fail(why, whylen, "\"%s\" is not one of direct, socks5:NAME, reject", text);
}

static int parse_handshake(const char *text, struct tg_rule *r, char *why, size_t whylen)
{
	if (strcmp(text, "fast") == 0)
		r->handshake = TG_RULE_HS_FAST;
	else if (strcmp(text, "consistent") == 0)
		r->handshake = TG_RULE_HS_CONSISTENT;
	else
		return fail(why, whylen, "\"%s\" is not one of fast, consistent", text);
	if (!(r->protos & TG_RULE_TCP))
		return fail(why, whylen, "a handshake mode is for TCP only");
	return 0;
}

/* ACTION [HANDSHAKE] from tok[0..n). */
static int parse_tail(struct tg_rules_conf *c, char **tok, int n, struct tg_rule *r, uint32_t rule,
                      char *why, size_t whylen)
{
	if (n < 1)
		return fail(why, whylen, "no action (direct, socks5:NAME, reject)");
	if (n > 2)
		return fail(why, whylen, "\"%s\": unexpected after the handshake mode", tok[2]);
	if (parse_action(c, tok[0], r, rule, why, whylen) < 0)
		return -1;
	if (n == 2 && parse_handshake(tok[1], r, why, whylen) < 0)
		return -1;
	if (n == 2 && r->action == TG_RULE_REJECT)
		return fail(why, whylen, "a handshake mode makes no sense with reject");
	return 0;
}

static int rule_parse(struct tg_rules_conf *c, const char *spec, struct tg_rule *r, uint32_t rule,
                      char *why, size_t whylen)
{
	char buf[256], *tok[SPEC_TOKENS];
	int n = tokenize(spec, buf, sizeof(buf), tok, SPEC_TOKENS), i = 0;

	if (strlen(spec) >= sizeof(buf))
		return fail(why, whylen, "longer than %zu characters", sizeof(buf) - 1);
	if (n < 0)
		return fail(why, whylen, "too many words (DEST PROTO [PORTS] ACTION [HANDSHAKE])");
	if (n < 3)
		return fail(why, whylen, "expected DEST PROTO [PORTS] ACTION [HANDSHAKE]");
	if (parse_dest(tok[i++], r, why, whylen) < 0 || parse_proto(tok[i++], r, why, whylen) < 0)
		return -1;
	r->port_lo = 0;
	r->port_hi = 65535;
	if ((tok[i][0] >= '0' && tok[i][0] <= '9') || strcmp(tok[i], "*") == 0) {
		if (parse_ports(tok[i++], r, why, whylen) < 0)
			return -1;
	}
	return parse_tail(c, tok + i, n - i, r, rule, why, whylen);
}

int tg_rules_conf_add(struct tg_rules_conf *c, const char *spec, uint32_t line, char *err,
                      size_t errlen)
{
	struct tg_rule r = {.line = line};
	uint32_t number = c->nrules + 1;
	char why[200];

	if (c->nrules == TG_RULES_MAX - 1)
		return fail(err, errlen, "rule %u: more than %d rules", number, TG_RULES_MAX - 1);
	if (rule_parse(c, spec, &r, number, why, sizeof(why)) < 0)
		return fail(err, errlen, "rule %u: %s", number, why);
	c->rule[c->nrules++] = r;
	return 0;
}

int tg_rules_conf_default(struct tg_rules_conf *c, const char *spec, uint32_t line, char *err,
                          size_t errlen)
{
	struct tg_rule r = {.line = line, .protos = TG_RULE_ANY, .port_hi = 65535};
	char buf[256], *tok[SPEC_TOKENS], why[200];
	int n = tokenize(spec, buf, sizeof(buf), tok, SPEC_TOKENS);

	if (n < 0 || parse_tail(c, tok, n, &r, 0, why, sizeof(why)) < 0)
		return fail(err, errlen, "default: %s", n < 0 ? "too many words" : why);
	c->dflt = r;
	c->has_default = true;
	return 0;
}

const char *tg_rules_upstream_section(const char *section)
{
	if (strncmp(section, "upstream ", 9) != 0)
		return NULL;
	section += 9;
	while (*section == ' ')
		section++;
	return section;
}

int tg_rules_conf_upstream_key(struct tg_rules_conf *c, const char *name, const char *key,
                               const char *value, uint32_t line, char *err, size_t errlen)
{
	struct tg_upstream *u;
	uint16_t i;

	if (strcmp(name, TG_RULES_RELAY_NAME) == 0)
		return fail(err, errlen, "the name \"%s\" is [relay] socks5_server's", name);
	if (upstream_ref(c, name, 0, 0, &i, err, errlen) < 0)
		return -1;
	u = &c->upstream[i];
	if (!u->defined_line)
		u->defined_line = line ? line : LINE_FLAGS;
	if (strcmp(key, "type") == 0) {
		if (strcmp(value, "socks5") != 0)
			return fail(err, errlen, "\"%s\" is not socks5", value);
	} else if (strcmp(key, "server") == 0) {
		if (tg_addr_parse(value, &u->server) < 0)
			return fail(err, errlen, "\"%s\" is not A.B.C.D:PORT or [IPv6]:PORT",
			            value);
	} else if (strcmp(key, "user") == 0 || strcmp(key, "password") == 0) {
		char *out = key[0] == 'u' ? u->user : u->password;

		if (strlen(value) > TG_UPSTREAM_CRED_MAX)
			return fail(err, errlen, "longer than %d bytes (RFC 1929)",
			            TG_UPSTREAM_CRED_MAX);
		snprintf(out, TG_UPSTREAM_CRED_MAX + 1, "%s", value);
	} else {
		return fail(err, errlen, "unknown key (type, server, user, password)");
	}
	return 0;
}

/* ---- compiling -------------------------------------------------------------------------- */

static int where_fail(const struct tg_rules_conf *c, uint32_t line, char *err, size_t errlen,
                      const char *what)
{
	if (line && c->path[0])
		return fail(err, errlen, "%s:%u: %s", c->path, line, what);
	if (line)
		return fail(err, errlen, "line %u: %s", line, what);
	return fail(err, errlen, "%s", what);
}

static int check_upstream(const struct tg_rules_conf *c, const struct tg_upstream *u, char *err,
                          size_t errlen)
{
	char what[200];

	if (u->defined_line == ~0u)
		return 0; /* [relay] socks5_*: tg_config_check() checked those keys */
	if (!u->defined_line) {
		const char *hint = strcmp(u->name, TG_RULES_RELAY_NAME) == 0
		                           ? " (\"socks5\" alone needs [relay] socks5_server)"
		                           : "";

		if (u->used_by_rule)
			snprintf(what, sizeof(what), "%srule %u: unknown upstream \"%s\"%s",
			         u->used_line ? "[rules] " : "--rule: ", u->used_by_rule, u->name,
			         hint);
		else
			snprintf(what, sizeof(what), "[rules] default: unknown upstream \"%s\"%s",
			         u->name, hint);
		return where_fail(c, u->used_line, err, errlen, what);
	}
	if (!tg_addr_valid(&u->server))
		snprintf(what, sizeof(what), "[upstream %s]: no server", u->name);
	else if ((u->user[0] == '\0') != (u->password[0] == '\0'))
		snprintf(what, sizeof(what), "[upstream %s]: set user and password both or neither",
		         u->name);
	else
		return 0;
	if (u->defined_line == LINE_FLAGS)
		return fail(err, errlen, "--set: %s", what);
	return where_fail(c, u->defined_line, err, errlen, what);
}

void tg_rules_default(struct tg_rules *t)
{
	memset(t, 0, sizeof(*t));
	t->nrules = 1;
	t->rule[0] =
	        (struct tg_rule){.protos = TG_RULE_ANY, .action = TG_RULE_DIRECT, .port_hi = 65535};
}

int tg_rules_compile(const struct tg_rules_conf *c, const struct tg_upstream *relay,
                     bool relay_default, struct tg_rules *out, char *err, size_t errlen)
{
	struct tg_rules_conf w = *c; /* the [relay] upstream and default are added to a copy */
	struct tg_rule *d = &w.dflt;
	uint16_t idx;

	if (relay) {
		if (upstream_ref(&w, TG_RULES_RELAY_NAME, 0, 0, &idx, err, errlen) < 0)
			return -1;
		w.upstream[idx].server = relay->server;
		memcpy(w.upstream[idx].user, relay->user, sizeof(relay->user));
		memcpy(w.upstream[idx].password, relay->password, sizeof(relay->password));
		w.upstream[idx].defined_line = ~0u; /* defined, by [relay] keys */
	}
	if (!w.has_default) {
		*d = (struct tg_rule){.protos = TG_RULE_ANY, .port_hi = 65535};
		d->action = relay && relay_default ? TG_RULE_SOCKS5 : TG_RULE_DIRECT;
		if (d->action == TG_RULE_SOCKS5 &&
		    upstream_ref(&w, TG_RULES_RELAY_NAME, 0, 0, &d->upstream, err, errlen) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < w.nupstreams; i++)
		if (check_upstream(&w, &w.upstream[i], err, errlen) < 0)
			return -1;
	memset(out, 0, sizeof(*out));
	memcpy(out->rule, w.rule, w.nrules * sizeof(w.rule[0]));
	out->rule[w.nrules] = *d;
	out->rule[w.nrules].family = 0;
	out->rule[w.nrules].prefix = 0;
	out->nrules = w.nrules + 1;
	for (uint32_t i = 0; i < w.nupstreams; i++) {
		out->upstream[i] = w.upstream[i];
		out->upstream[i].defined_line = out->upstream[i].used_by_rule = 0;
		out->upstream[i].used_line = 0;
	}
	out->nupstreams = w.nupstreams;
	return 0;
}

/* ---- matching --------------------------------------------------------------------------- */

static bool prefix_match(const uint8_t *net, const uint8_t *ip, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(net, ip, whole) != 0)
		return false;
	return rest == 0 || ((net[whole] ^ ip[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static bool rule_matches(const struct tg_rule *r, unsigned proto, const struct tg_addr *dst)
{
	if (!(r->protos & proto) || dst->port < r->port_lo || dst->port > r->port_hi)
		return false;
	if (r->family == 0)
		return true;
	return r->family == dst->family && prefix_match(r->net, dst->ip, r->prefix);
}

uint32_t tg_rules_match(const struct tg_rules *t, uint8_t proto, const struct tg_addr *dst)
{
	unsigned mask = proto == IPPROTO_TCP ? TG_RULE_TCP : proto == IPPROTO_UDP ? TG_RULE_UDP : 0;

	if (t->nrules == 0)
		return 0; /* a zeroed table, never loaded: rule 0, all zero, is no reject */
	for (uint32_t i = 0; i + 1 < t->nrules; i++)
		if (rule_matches(&t->rule[i], mask, dst))
			return i;
	return t->nrules - 1; /* the default: decode() made sure it is there */
}

const char *tg_rules_action_text(const struct tg_rules *t, const struct tg_rule *r, char *buf,
                                 size_t len)
{
	if (r->action == TG_RULE_SOCKS5 && r->upstream < t->nupstreams)
		snprintf(buf, len, "socks5:%s", t->upstream[r->upstream].name);
	else
		snprintf(buf, len, "%s", r->action == TG_RULE_REJECT ? "reject" : "direct");
	return buf;
}

/* ---- binary form ------------------------------------------------------------------------ */

size_t tg_rules_encode(const struct tg_rules *t, bool with_secrets, uint8_t *buf, size_t len)
{
	struct rules_hdr h = {RULES_MAGIC, RULES_VERSION, t->nrules, t->nupstreams};
	size_t need = sizeof(h) + t->nrules * sizeof(struct tg_rule) +
	              t->nupstreams * sizeof(struct tg_upstream);
	uint8_t *p = buf;

	if (len < need || t->nrules > TG_RULES_MAX || t->nupstreams > TG_UPSTREAMS_MAX)
		return 0;
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	memcpy(p, t->rule, t->nrules * sizeof(struct tg_rule));
	p += t->nrules * sizeof(struct tg_rule);
	for (uint32_t i = 0; i < t->nupstreams; i++, p += sizeof(struct tg_upstream)) {
		struct tg_upstream u = t->upstream[i];

		if (!with_secrets) {
			memset(u.user, 0, sizeof(u.user));
			memset(u.password, 0, sizeof(u.password));
		}
		memcpy(p, &u, sizeof(u));
		explicit_bzero(&u, sizeof(u));
	}
	return need;
}

int tg_rules_memfd(const struct tg_rules *t, bool with_secrets)
{
	size_t cap = sizeof(struct rules_hdr) + sizeof(t->rule) + sizeof(t->upstream), n;
	uint8_t *buf = malloc(cap);
	int fd = -1, saved;

	if (!buf)
		return -1;
	n = tg_rules_encode(t, with_secrets, buf, cap);
	if (n == 0) {
		errno = EINVAL;
		goto out;
	}
	fd = memfd_create(with_secrets ? "tungate-rules-relayd" : "tungate-rules-stackd",
	                  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		goto out;
	if (write(fd, buf, n) != (ssize_t)n ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		saved = errno ? errno : EIO;
		close(fd);
		fd = -1;
		errno = saved;
	}
out:
	explicit_bzero(buf, cap);
	free(buf);
	return fd;
}

static bool cstr_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int check_rule(const struct tg_rule *r, uint32_t nupstreams, char *err, size_t errlen)
{
	if (r->family != 0 && r->family != TG_AF_INET4 && r->family != TG_AF_INET6)
		return fail(err, errlen, "bad family %u", r->family);
	if (r->prefix > (r->family == TG_AF_INET4 ? 32 : r->family == TG_AF_INET6 ? 128 : 0))
		return fail(err, errlen, "bad prefix %u", r->prefix);
	if (r->protos == 0 || (r->protos & ~TG_RULE_ANY))
		return fail(err, errlen, "bad protocols %u", r->protos);
	if (r->action < TG_RULE_DIRECT || r->action > TG_RULE_REJECT)
		return fail(err, errlen, "bad action %u", r->action);
	if (r->handshake > TG_RULE_HS_CONSISTENT || r->port_lo > r->port_hi)
		return fail(err, errlen, "bad handshake or ports");
	if (r->action == TG_RULE_SOCKS5 && r->upstream >= nupstreams)
		return fail(err, errlen, "upstream %u of %u", r->upstream, nupstreams);
	return 0;
}

static int check_upstream_bin(const struct tg_upstream *u, char *err, size_t errlen)
{
	if (!cstr_ok(u->name, sizeof(u->name)) || !cstr_ok(u->user, sizeof(u->user)) ||
	    !cstr_ok(u->password, sizeof(u->password)))
		return fail(err, errlen, "unterminated string");
	if (!tg_addr_valid(&u->server))
		return fail(err, errlen, "bad server");
	return 0;
}

int tg_rules_decode(const uint8_t *buf, size_t len, struct tg_rules *t, char *err, size_t errlen)
{
	struct rules_hdr h;
	const struct tg_rule *last;
	char why[100];

	if (len < sizeof(h))
		return fail(err, errlen, "rules: %zu bytes, shorter than a header", len);
	memcpy(&h, buf, sizeof(h));
	if (h.magic != RULES_MAGIC || h.version != RULES_VERSION)
		return fail(err, errlen, "rules: bad magic or version");
	if (h.nrules < 1 || h.nrules > TG_RULES_MAX || h.nupstreams > TG_UPSTREAMS_MAX)
		return fail(err, errlen, "rules: bad counts (%u rules, %u upstreams)", h.nrules,
		            h.nupstreams);
	if (len != sizeof(h) + h.nrules * sizeof(struct tg_rule) +
	                   h.nupstreams * sizeof(struct tg_upstream))
		return fail(err, errlen, "rules: %zu bytes do not fit the counts", len);
	memset(t, 0, sizeof(*t));
	t->nrules = h.nrules;
	t->nupstreams = h.nupstreams;
	memcpy(t->rule, buf + sizeof(h), h.nrules * sizeof(struct tg_rule));
	memcpy(t->upstream, buf + sizeof(h) + h.nrules * sizeof(struct tg_rule),
	       h.nupstreams * sizeof(struct tg_upstream));
	for (uint32_t i = 0; i < t->nrules; i++)
		if (check_rule(&t->rule[i], t->nupstreams, why, sizeof(why)) < 0)
			return fail(err, errlen, "rules: rule %u: %s", i + 1, why);
	for (uint32_t i = 0; i < t->nupstreams; i++)
		if (check_upstream_bin(&t->upstream[i], why, sizeof(why)) < 0)
			return fail(err, errlen, "rules: upstream %u: %s", i + 1, why);
	last = &t->rule[t->nrules - 1];
	if (last->family != 0 || last->protos != TG_RULE_ANY || last->port_lo != 0 ||
	    last->port_hi != 65535)
		return fail(err, errlen, "rules: the last rule does not match everything");
	return 0;
}

int tg_rules_read_fd(int fd, struct tg_rules *t, char *err, size_t errlen)
{
	size_t cap = sizeof(struct rules_hdr) + sizeof(t->rule) + sizeof(t->upstream);
	uint8_t *buf;
	struct stat st;
	ssize_t n;
	int rc;

	if (fstat(fd, &st) < 0)
		return fail(err, errlen, "rules fd %d: %s", fd, strerror(errno));
	if (st.st_size < 0 || (size_t)st.st_size > cap)
		return fail(err, errlen, "rules fd %d: %lld bytes, more than %zu", fd,
		            (long long)st.st_size, cap);
	if (!(buf = malloc(cap)))
		return fail(err, errlen, "out of memory");
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size)
		rc = fail(err, errlen, "rules fd %d: short read", fd);
	else
		rc = tg_rules_decode(buf, (size_t)n, t, err, errlen);
	explicit_bzero(buf, cap);
	free(buf);
	return rc;
}

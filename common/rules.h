/*
 * Routing rules (docs/rules.md): an ordered list that matches a flow's destination (CIDR,
 * port range, protocol) and says how it goes out: direct, through one of several named SOCKS5
 * upstreams, or not at all (reject). A TCP rule may also choose the handshake mode.
 *
 * Three users share this file: tungate parses the rules as written (struct tg_rules_conf),
 * checks them and compiles them into a table (struct tg_rules) whose last rule matches
 * everything (the default); it writes the table into a sealed memfd. stackd and relayd read
 * that memfd, validate every count, index and length, and match flows against the same table:
 * stackd for reject and the handshake mode, relayd for the upstream.
 */
#ifndef TG_RULES_H
#define TG_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define TG_RULES_MAX         128 /* compiled rules, the default included */
#define TG_UPSTREAMS_MAX     16
#define TG_UPSTREAM_NAME_MAX 32      /* with the NUL */
#define TG_UPSTREAM_CRED_MAX 255     /* RFC 1929: one length byte */
#define TG_RULES_PATH_MAX    128     /* the config file's name, for error messages only */
#define TG_RULES_RELAY_NAME  "relay" /* the upstream of [relay] socks5_server */

enum tg_rule_action {
	TG_RULE_DIRECT = 1, /* connect to the destination */
	TG_RULE_SOCKS5 = 2, /* through upstream[rule.upstream] */
	TG_RULE_REJECT = 3, /* TCP: RST; UDP: ICMP administratively prohibited */
};

/* rule.protos is a mask of these. */
#define TG_RULE_TCP 1u
#define TG_RULE_UDP 2u
#define TG_RULE_ANY (TG_RULE_TCP | TG_RULE_UDP)

enum tg_rule_handshake {
	TG_RULE_HS_DEFAULT = 0, /* [stack] handshake */
	TG_RULE_HS_FAST = 1,
	TG_RULE_HS_CONSISTENT = 2,
};

/* One rule; also its binary form in the memfd (fixed layout, no pointers). */
struct tg_rule {
	uint8_t family;    /* 0: any address of either family; TG_AF_INET4 or TG_AF_INET6 */
	uint8_t prefix;    /* bits of net that must match: 0..32 or 0..128 */
	uint8_t protos;    /* TG_RULE_TCP | TG_RULE_UDP */
	uint8_t action;    /* enum tg_rule_action */
	uint8_t handshake; /* enum tg_rule_handshake */
	uint8_t reserved;
	uint16_t port_lo; /* destination ports, inclusive; 0..65535 is "any port" */
	uint16_t port_hi;
	uint16_t upstream; /* TG_RULE_SOCKS5: index into the upstreams */
	uint32_t line;     /* where it was written (0: a flag, or the built-in default) */
	uint8_t net[16];   /* network byte order; IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct tg_rule) == 32, "tg_rule is a binary format");

/* A named SOCKS5 proxy; also its binary form (stackd's copy has no credentials). */
struct tg_upstream {
	char name[TG_UPSTREAM_NAME_MAX];
	struct tg_addr server;               /* numeric: relayd has no resolver */
	char user[TG_UPSTREAM_CRED_MAX + 1]; /* "" and "": no authentication */
	char password[TG_UPSTREAM_CRED_MAX + 1];
	/* Only while parsing: where it was defined and first used, for error messages. */
	uint32_t defined_line; /* 0: not (yet) defined by an [upstream NAME] section */
	uint32_t used_by_rule; /* 1-based rule number that first named it; 0: the default */
	uint32_t used_line;
	uint32_t reserved;
};
_Static_assert(sizeof(struct tg_upstream) == 32 + 20 + 512 + 16, "binary format");

/* The compiled table: the last rule matches every flow. */
struct tg_rules {
	uint32_t nrules;
	uint32_t nupstreams;
	struct tg_rule rule[TG_RULES_MAX];
	struct tg_upstream upstream[TG_UPSTREAMS_MAX];
};

/* The rules as written in the configuration, before checks between keys. */
struct tg_rules_conf {
	char path[TG_RULES_PATH_MAX]; /* the file, for messages; "" when none */
	uint32_t nrules;
	struct tg_rule rule[TG_RULES_MAX - 1];
	bool has_default;
	struct tg_rule dflt;
	uint32_t nupstreams;
	struct tg_upstream upstream[TG_UPSTREAMS_MAX];
};

/*
 * Appends one rule, "DEST PROTO [PORTS] ACTION [HANDSHAKE]" (docs/rules.md). line is the
 * file line (0 for a flag). Returns 0, or -1 with "rule N: ..." in err.
 */
int tg_rules_conf_add(struct tg_rules_conf *c, const char *spec, uint32_t line, char *err,
                      size_t errlen);
/* "ACTION [HANDSHAKE]": the rule for flows no other rule matches. */
int tg_rules_conf_default(struct tg_rules_conf *c, const char *spec, uint32_t line, char *err,
                          size_t errlen);
/* One key of an [upstream NAME] section: type, server, user, password. */
int tg_rules_conf_upstream_key(struct tg_rules_conf *c, const char *name, const char *key,
                               const char *value, uint32_t line, char *err, size_t errlen);
/* A section name "upstream NAME": returns NAME, or NULL if it is not one. */
const char *tg_rules_upstream_section(const char *section);

/*
 * Checks between keys and builds the table. relay, when not NULL, is the upstream of
 * [relay] socks5_server (named TG_RULES_RELAY_NAME, "socks5" alone in a rule); relay_default
 * says that `[relay] upstream = socks5` makes it the default when [rules] has none. Returns
 * 0, or -1 with "FILE:LINE: [rules] rule N: ..." (or "--rule: rule N: ...") in err.
 */
int tg_rules_compile(const struct tg_rules_conf *c, const struct tg_upstream *relay,
                     bool relay_default, struct tg_rules *out, char *err, size_t errlen);

/* A table of one rule: everything direct, [stack] handshake. */
void tg_rules_default(struct tg_rules *t);

/* The index of the first rule matching proto (IPPROTO_TCP or IPPROTO_UDP) and dst. */
uint32_t tg_rules_match(const struct tg_rules *t, uint8_t proto, const struct tg_addr *dst);

/* "socks5:proxyA", "direct", "reject". */
const char *tg_rules_action_text(const struct tg_rules *t, const struct tg_rule *r, char *buf,
                                 size_t len);

/*
 * Binary form: a header and the arrays. with_secrets false leaves the credentials out (for
 * stackd). Returns a sealed memfd (close-on-exec), or -1 with errno.
 */
int tg_rules_memfd(const struct tg_rules *t, bool with_secrets);
/* Serializes into buf; returns the length, or 0 if len is too small. */
size_t tg_rules_encode(const struct tg_rules *t, bool with_secrets, uint8_t *buf, size_t len);
/*
 * Checks and decodes an untrusted binary form: sizes, counts, every field and index, a last
 * rule that matches everything. Returns 0, or -1 with the reason in err.
 */
int tg_rules_decode(const uint8_t *buf, size_t len, struct tg_rules *t, char *err, size_t errlen);
/* Reads the whole memfd (pread: its offset is shared) and decodes it. Does not close fd. */
int tg_rules_read_fd(int fd, struct tg_rules *t, char *err, size_t errlen);

#endif

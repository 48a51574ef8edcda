/*
 * tungate's configuration: built-in defaults, then an INI file, then command-line flags, all
 * through one setter so that a key means the same wherever it comes from. Parsing has no side
 * effects beyond the struct and the error text, so the unit tests drive it directly.
 */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "log.h"
#include "prefix.h"
#include "rules.h"

#define TG_MTU_MIN             576
#define TG_MTU_MAX             65535
#define TG_MAX_FLOWS_MAX       (1u << 24)
#define TG_CONNECT_TIMEOUT_MAX 300
#define TG_TIMEOUT_MAX         (7 * 86400)
#define TG_USER_MAX            33 /* useradd's limit: 32 characters */
#define TG_CHROOT_MAX          201
#define TG_NOFILE_MIN          64
#define TG_NOFILE_MAX          (1u << 20) /* the kernel's default fs.nr_open */
#define TG_NRUN_AS             3          /* one user per child */
#define TG_SOCKS5_SERVER_MAX   56         /* "[v6addr]:port" and a NUL */
#define TG_SOCKS5_CRED_MAX     255        /* RFC 1929: one length byte */
#define TG_ROUTE_PREFIXES_MAX  32         /* [route] prefixes */
#define TG_ROUTE_EXCLUDE_MAX   16         /* [route] exclude, the SOCKS5 server not counted */

/* [route] auto (docs/routing.md) */
enum tg_route_auto {
	TG_ROUTE_NO = 0,
	TG_ROUTE_DEFAULT = 1,  /* everything not marked goes through the TUN */
	TG_ROUTE_PREFIXES = 2, /* only [route] prefixes */
};

struct tg_config {
	char tun_name[IFNAMSIZ];
	unsigned mtu;
	bool has_address; /* address= is optional: the TUN may be configured by someone else */
	struct in_addr address;
	unsigned prefix_len;
	char netns[NAME_MAX + 1]; /* empty: the TUN lives in tungate's own namespace */
	/* [tun] mode = tap (docs/modes.md): an Ethernet device, stackd is a gateway on it */
	bool tap;
	bool offload; /* [tun] offload: IFF_VNET_HDR with checksum/TSO offloads (TUN mode only) */
	bool has_gateway_mac; /* false: derived from the device name (tg_config_gateway_mac) */
	unsigned char gateway_mac[6];
	struct in_addr gateway_ipv4; /* the gateway's own address on the segment */
	unsigned gateway_prefix;
	bool has_gateway_ipv6;
	struct in6_addr gateway_ipv6;
	bool proxy_arp;             /* answer ARP for every address off the gateway's subnet */
	bool proxy_ndp;             /* the same for neighbour solicitations off its /64 */
	bool router_advertisements; /* RAs for gateway_ipv6's /64: SLAAC and a default route */
	unsigned max_flows;
	bool evict_when_full;            /* flow_table_full = evict (default refuse) */
	unsigned connect_timeout;        /* seconds */
	unsigned handshake;              /* enum tg_open_mode: fast (0) or consistent (1) */
	unsigned tcp_idle_timeout;       /* seconds an established TCP flow may idle */
	unsigned tcp_half_close_timeout; /* seconds a half-closed TCP flow may idle */
	unsigned udp_timeout;            /* seconds a UDP NAT entry may idle */
	unsigned dns_timeout;            /* the same for flows to port 53: short-lived by nature */
	char stats_file[PATH_MAX];       /* empty: /run/tungate/[NETNS-]TUN.stats */
	enum tg_log_level log_level;
	bool log_syslog;                           /* [log] target = syslog (default stderr) */
	char metrics_listen[TG_SOCKS5_SERVER_MAX]; /* [metrics] listen "ADDR:PORT"; "": off */
	/* [privsep] (docs/security.md): each child's user, indexed like enum tg_child_id */
	struct tg_run_as {
		char name[TG_USER_MAX];
		uid_t uid; /* looked up at startup by tg_privsep_resolve() */
		gid_t gid;
	} run_as[TG_NRUN_AS];
	char chroot_dir[TG_CHROOT_MAX]; /* the children's root; empty: no chroot */
	unsigned relayd_nofile;         /* relayd's RLIMIT_NOFILE */
	bool seccomp;                   /* false: no seccomp filters (debugging only) */
	char test_forbidden[40];        /* test only, --test-forbidden CHILD:CALL */
	/* [relay] upstream (docs/protocols.md, "Upstreams"): how relayd's TCP flows go out */
	unsigned upstream;                        /* 0: direct, 1: socks5 (relayd's socks5.h) */
	char socks5_server[TG_SOCKS5_SERVER_MAX]; /* "A.B.C.D:PORT" or "[v6]:PORT", checked */
	char socks5_user[TG_SOCKS5_CRED_MAX + 1];
	char socks5_password[TG_SOCKS5_CRED_MAX + 1];
	/* [relay] allow_local: direct flows may reach the gateway itself (docs/security.md) */
	bool allow_local;
	/* [relay] mark, bind_interface and [route] (docs/routing.md) */
	unsigned relay_mark; /* SO_MARK on relayd's sockets; 0: none (auto-route: route.fwmark) */
	char bind_interface[IFNAMSIZ]; /* SO_BINDTODEVICE on relayd's sockets; "": none */
	unsigned route_auto;           /* enum tg_route_auto */
	struct tg_prefix route_prefixes[TG_ROUTE_PREFIXES_MAX];
	unsigned nroute_prefixes;
	struct tg_prefix route_exclude[TG_ROUTE_EXCLUDE_MAX];
	unsigned nroute_exclude;
	unsigned route_table;  /* the routing table of the TUN's routes */
	unsigned route_fwmark; /* relayd's sockets carry it; the rule skips them */
	/* [rules] and [upstream NAME] (docs/rules.md), as written; tg_config_rules() compiles */
	struct tg_rules_conf rules;
	uint32_t line; /* the file line being applied, for the rules' messages; 0 for flags */
};

/* One key as the user sees it: INI place, flag (without "--"), and a line of help. */
struct tg_config_key {
	const char *section;
	const char *name;
	const char *flag;
	const char *metavar;
	const char *help;
};

/* The keys, in the documented order: tungate's flags and help are built from them. */
size_t tg_config_nkeys(void);
const struct tg_config_key *tg_config_key_at(size_t i);

void tg_config_defaults(struct tg_config *cfg);

/*
 * Sets one key. Returns 0, or -1 with a message in err that names the key (the caller adds
 * where the value came from: a file line or a flag).
 */
int tg_config_set(struct tg_config *cfg, const char *section, const char *key, const char *value,
                  char *err, size_t errlen);

/* Applies every key of an INI file. Returns 0, or -1 with "FILE:LINE: ..." in err. */
int tg_config_load_file(struct tg_config *cfg, const char *path, char *err, size_t errlen);

/*
 * Checks between keys, once every key is set: socks5 needs socks5_server, and socks5_user and
 * socks5_password come both or neither. Returns 0, or -1 with a message naming the keys.
 */
int tg_config_check(const struct tg_config *cfg, char *err, size_t errlen);

/*
 * The routing table the children get: [rules] with [upstream NAME] sections, the [relay]
 * socks5_* upstream and the default. Returns 0, or -1 with "FILE:LINE: ..." in err.
 */
int tg_config_rules(const struct tg_config *cfg, struct tg_rules *out, char *err, size_t errlen);

/* The counters file: stats.file, or one derived from the netns and device names. */
const char *tg_config_stats_path(const struct tg_config *cfg, char *buf, size_t len);

/* auto-route's record of what it added: /run/tungate/[NETNS-]TUN.routes */
const char *tg_config_routes_path(const struct tg_config *cfg, char *buf, size_t len);

/* The mark relayd's sockets carry: relay.mark, or route.fwmark with auto-route, or 0. */
unsigned tg_config_relay_mark(const struct tg_config *cfg);

/* TAP mode: gateway_mac, or 02:54:47 ("TG") and three bytes hashed from the device name. */
void tg_config_gateway_mac(const struct tg_config *cfg, unsigned char mac[6]);

/* "198.18.0.1/24" for the log; "" when no address is configured. */
const char *tg_config_address_text(const struct tg_config *cfg, char *buf, size_t len);

#endif

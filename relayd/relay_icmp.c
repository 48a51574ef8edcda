/*
 * ICMP echo: relayd sends a client's echo request to its real target and hands the target's
 * reply back, so that ping through tungate measures the real path (stackd never answers a
 * ping itself).
 *
 * First choice: unprivileged ICMP datagram sockets ("ping sockets", socket(AF_INET,
 * SOCK_DGRAM, IPPROTO_ICMP) and the IPPROTO_ICMPV6 twin), one per (client address, client
 * identifier, target). The kernel gives each socket an identifier of its own, writes it and the
 * checksum into every request sent through it, and passes the socket only the echo replies
 * that carry it, as bare ICMP messages (no IP header). The kernel allows these sockets only to
 * a process whose group is inside net.ipv4.ping_group_range, a per network namespace sysctl
 * that covers ICMPv6 too and whose default "1 0" allows nobody, root included.
 *
 * Fallback, when socket() says EACCES or EPERM: one raw ICMP socket per family (needs
 * CAP_NET_RAW). relayd then picks a unique identifier per entry, writes it into the request
 * (and the IPv4 checksum; on raw ICMPv6 sockets the kernel always computes the checksum
 * itself, RFC 3542 section 3.1, so nothing is set for it), lets only echo replies through
 * a socket filter, and matches each reply to its entry by identifier and source address.
 * If neither kind is allowed, requests are dropped and counted, one warning names the
 * sysctl, and the datagram socket is tried again every PROBE_AGAIN_MS (the sysctl may change).
 *
 * Entries time out after ICMP_IDLE_MS without a request or reply (one timer per entry,
 * re-armed lazily as in relay_udp.c) and are capped at ICMP_MAX_ENTRIES.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "outbound.h"
#include "relayd.h"

#define ICMP_MAX_ENTRIES 1024u
#define ICMP_IDLE_MS     30000u
#define PROBE_AGAIN_MS   10000u
#define BUCKETS          256u
#define RECV_BATCH       32u
#define BUF_SIZE         65536u
#define IP4_HDR_MIN      20u
#define ECHO_REPLY4      0
#define ECHO_REPLY6      129

#ifndef ICMP_FILTER
#define ICMP_FILTER 1 /* linux/icmp.h: SOL_RAW option, a mask of the ICMP types to drop */
#endif

enum fam { FAM4, FAM6, NFAM };

enum mode {
	MODE_PROBE, /* try a datagram socket */
	MODE_DGRAM, /* datagram sockets work */
	MODE_RAW,   /* they are refused; the raw socket works */
	MODE_NONE,  /* neither: drop until probe_at */
};

struct icmp_entry {
	TAILQ_ENTRY(icmp_entry) entry;
	struct icmp_entry *key_next;   /* by_key chain */
	struct icmp_entry *ident_next; /* by_ident chain, raw mode only */
	struct relay_icmp *ri;
	struct tg_addr client; /* port = the client's echo identifier */
	struct tg_addr target; /* port 0 */
	enum fam fam;
	int fd;           /* datagram socket, or -1 in raw mode */
	struct event *ev; /* datagram socket readable */
	struct event *timer;
	uint16_t ident; /* raw mode: our identifier on the wire */
	uint64_t last_used;
};

struct relay_icmp {
	struct relayd *rd;
	enum mode mode[NFAM];
	uint64_t probe_at[NFAM];
	int raw_fd[NFAM];
	struct event *raw_ev[NFAM];
	bool warned;
	unsigned gid; /* ours once sandboxed, for the logs (the sandbox refuses getgid()) */
	uint16_t next_ident;
	unsigned count;
	TAILQ_HEAD(icmp_entries, icmp_entry) entries;
	struct icmp_entry *by_key[BUCKETS];
	struct icmp_entry *by_ident[BUCKETS];
};

static uint8_t tx_buf[BUF_SIZE];
static uint8_t rx_buf[BUF_SIZE];

static enum fam fam_of(const struct tg_addr *a)
{
	return a->family == TG_AF_INET4 ? FAM4 : FAM6;
}

static int af_of(enum fam f)
{
	return f == FAM4 ? AF_INET : AF_INET6;
}

static int proto_of(enum fam f)
{
	return f == FAM4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

static uint8_t reply_type(enum fam f)
{
	return f == FAM4 ? ECHO_REPLY4 : ECHO_REPLY6;
}

static bool same_ip(const struct tg_addr *a, const struct tg_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

/* --- tables -------------------------------------------------------------------------- */

static unsigned key_hash(const struct tg_addr *client, const struct tg_addr *target)
{
	const uint8_t *parts[2] = {(const uint8_t *)client, (const uint8_t *)target};
	uint32_t h = 2166136261u;

	for (int i = 0; i < 2; i++)
		for (size_t j = 0; j < sizeof(struct tg_addr); j++)
			h = (h ^ parts[i][j]) * 16777619u;
	return h % BUCKETS;
}

static unsigned ident_hash(enum fam f, uint16_t ident)
{
	return ((unsigned)ident * 40503u + (unsigned)f) % BUCKETS;
}

static struct icmp_entry *find_key(struct relay_icmp *ri, const struct tg_addr *client,
                                   const struct tg_addr *target)
{
	struct icmp_entry *e;

	for (e = ri->by_key[key_hash(client, target)]; e; e = e->key_next)
		if (memcmp(&e->client, client, sizeof(*client)) == 0 &&
		    memcmp(&e->target, target, sizeof(*target)) == 0)
			return e;
	return NULL;
}

static struct icmp_entry *find_ident(struct relay_icmp *ri, enum fam f, uint16_t ident)
{
	struct icmp_entry *e;

	for (e = ri->by_ident[ident_hash(f, ident)]; e; e = e->ident_next)
		if (e->fam == f && e->ident == ident)
			return e;
	return NULL;
}

static void unlink_chain(struct icmp_entry **pp, struct icmp_entry *e, bool ident)
{
	for (; *pp; pp = ident ? &(*pp)->ident_next : &(*pp)->key_next)
		if (*pp == e) {
			*pp = ident ? e->ident_next : e->key_next;
			return;
		}
}

static void entry_free(struct icmp_entry *e)
{
	struct relay_icmp *ri = e->ri;

	unlink_chain(&ri->by_key[key_hash(&e->client, &e->target)], e, false);
	if (e->fd < 0)
		unlink_chain(&ri->by_ident[ident_hash(e->fam, e->ident)], e, true);
	TAILQ_REMOVE(&ri->entries, e, entry);
	if (e->ev)
		event_free(e->ev);
	if (e->fd >= 0)
		close(e->fd);
	event_free(e->timer);
	ri->count--;
	ri->rd->icmp_stats.entries_open--;
	free(e);
}

/* --- replies ------------------------------------------------------------------------- */

/* An echo reply for entry e, from `from`: back to the client, under its own identifier. */
static void reply(struct icmp_entry *e, const struct tg_addr *from, const uint8_t *icmp, size_t len)
{
	struct relayd *rd = e->ri->rd;

	if (len < TG_ICMP_ECHO_HDR || icmp[0] != reply_type(e->fam) || !same_ip(from, &e->target)) {
		rd->icmp_stats.ignored++;
		return;
	}
	if (tg_flow_send_icmp_echo(rd->api, &e->target, &e->client, icmp, len) < 0) {
		rd->icmp_stats.drop_no_slot++;
		return;
	}
	rd->icmp_stats.replies++;
	e->last_used = relay_now_ms();
}

static ssize_t recv_from(int fd, struct tg_addr *from)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	ssize_t n;

	do
		n = recvfrom(fd, rx_buf, sizeof(rx_buf), MSG_DONTWAIT, (struct sockaddr *)&ss,
		             &sslen);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && tg_addr_from_sockaddr(from, (struct sockaddr *)&ss) < 0)
		memset(from, 0, sizeof(*from));
	return n;
}

static void on_dgram_readable(evutil_socket_t fd, short what, void *arg)
{
	struct icmp_entry *e = arg;
	struct tg_addr from;
	ssize_t n;

	/* The kernel hands a ping socket only the echo replies with its identifier. */
	for (unsigned i = 0; i < RECV_BATCH && (n = recv_from(fd, &from)) >= 0; i++)
		reply(e, &from, rx_buf, (size_t)n);
}

/* A raw socket sees every echo reply of the namespace: ours are found by identifier. */
static void raw_read(struct relay_icmp *ri, enum fam f)
{
	struct tg_addr from;
	ssize_t n;

	for (unsigned i = 0; i < RECV_BATCH && (n = recv_from(ri->raw_fd[f], &from)) >= 0; i++) {
		const uint8_t *icmp = rx_buf;
		size_t len = (size_t)n, ihl;
		struct icmp_entry *e;

		if (f == FAM4) {
			/* Raw IPv4 sockets deliver the IP header too. */
			ihl = len > 0 ? (rx_buf[0] & 0x0fu) * 4u : 0;
			if (len < IP4_HDR_MIN || rx_buf[0] >> 4 != 4 || ihl < IP4_HDR_MIN ||
			    ihl > len) {
				ri->rd->icmp_stats.ignored++;
				continue;
			}
			icmp += ihl;
			len -= ihl;
		}
		if (len < TG_ICMP_ECHO_HDR ||
		    (e = find_ident(ri, f, (uint16_t)(icmp[4] << 8 | icmp[5]))) == NULL) {
			ri->rd->icmp_stats.ignored++;
			continue;
		}
		reply(e, &from, icmp, len);
	}
}

static void on_raw4_readable(evutil_socket_t fd, short what, void *arg)
{
	raw_read(arg, FAM4);
}

static void on_raw6_readable(evutil_socket_t fd, short what, void *arg)
{
	raw_read(arg, FAM6);
}

/* --- sockets ------------------------------------------------------------------------- */

/* Only echo replies reach the raw socket: the rest of the namespace's ICMP is not ours. */
static void raw_filter(int fd, enum fam f)
{
	int err;

	if (f == FAM4) {
		uint32_t drop = ~(1u << ECHO_REPLY4);

		err = setsockopt(fd, SOL_RAW, ICMP_FILTER, &drop, sizeof(drop));
	} else {
		struct icmp6_filter flt;

		ICMP6_FILTER_SETBLOCKALL(&flt);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &flt);
		err = setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &flt, sizeof(flt));
	}
	if (err < 0)
		log_warn("icmp: raw socket filter (replies are filtered here instead)");
}

static int raw_open(struct relay_icmp *ri, enum fam f)
{
	int fd = socket(af_of(f), SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto_of(f));
	struct event *ev;

	if (fd < 0)
		return -1;
	if (relay_socket_prepare(fd, af_of(f)) < 0) {
		log_warn("icmp: raw socket options");
		close(fd);
		return -1;
	}
	raw_filter(fd, f);
	ev = event_new(ri->rd->base, fd, EV_READ | EV_PERSIST,
	               f == FAM4 ? on_raw4_readable : on_raw6_readable, ri);
	if (!ev || event_add(ev, NULL) < 0) {
		if (ev)
			event_free(ev);
		close(fd);
		return -1;
	}
	ri->raw_fd[f] = fd;
	ri->raw_ev[f] = ev;
	log_info("icmp: IPv%d echo through a raw socket (group %u is not in "
	         "net.ipv4.ping_group_range)",
	         f == FAM4 ? 4 : 6, ri->gid);
	return 0;
}

static void warn_no_socket(struct relay_icmp *ri)
{
	if (ri->warned)
		return;
	ri->warned = true;
	log_warnx("icmp: echo requests are dropped: ICMP datagram sockets need group %u inside "
	          "net.ipv4.ping_group_range (sysctl -w net.ipv4.ping_group_range=\"%u %u\" in "
	          "relayd's network namespace), and a raw socket needs CAP_NET_RAW",
	          ri->gid, ri->gid, ri->gid);
}

/* Raw mode: an identifier no other entry of the family uses. */
static bool raw_ident(struct relay_icmp *ri, struct icmp_entry *e)
{
	for (unsigned i = 0; i <= UINT16_MAX; i++) {
		uint16_t id = ri->next_ident++;
		struct icmp_entry **b;

		if (find_ident(ri, e->fam, id))
			continue;
		e->ident = id;
		b = &ri->by_ident[ident_hash(e->fam, id)];
		e->ident_next = *b;
		*b = e;
		return true;
	}
	return false;
}

static bool dgram_watch(struct icmp_entry *e)
{
	e->ev = event_new(e->ri->rd->base, e->fd, EV_READ | EV_PERSIST, on_dgram_readable, e);
	return e->ev && event_add(e->ev, NULL) == 0;
}

/*
 * Gives a new entry its way out: its own datagram socket, or an identifier on the raw socket.
 * The first EACCES/EPERM for a family decides for the raw socket; false: neither is possible.
 */
static bool entry_attach(struct relay_icmp *ri, struct icmp_entry *e)
{
	enum fam f = e->fam;

	if (ri->mode[f] == MODE_NONE && relay_now_ms() >= ri->probe_at[f])
		ri->mode[f] = MODE_PROBE;
	if (ri->mode[f] == MODE_PROBE || ri->mode[f] == MODE_DGRAM) {
		e->fd = socket(af_of(f), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto_of(f));
		if (e->fd >= 0 && relay_socket_prepare(e->fd, af_of(f)) < 0) {
			log_warn_ratelimited("icmp: socket options");
			close(e->fd);
			e->fd = -1;
			return false;
		}
		if (e->fd >= 0) {
			ri->mode[f] = MODE_DGRAM;
			return dgram_watch(e);
		}
		if (errno != EACCES && errno != EPERM) {
			log_debug("icmp: socket: %s", strerror(errno));
			return false; /* out of fds, or no IPv6: not a question of permission */
		}
		if (ri->raw_fd[f] >= 0 || raw_open(ri, f) == 0) {
			ri->mode[f] = MODE_RAW;
		} else {
			ri->mode[f] = MODE_NONE;
			ri->probe_at[f] = relay_now_ms() + PROBE_AGAIN_MS;
			warn_no_socket(ri);
			return false;
		}
	}
	return ri->mode[f] == MODE_RAW && raw_ident(ri, e);
}

/* --- entries ------------------------------------------------------------------------- */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct icmp_entry *e = arg;
	uint64_t idle = relay_now_ms() - e->last_used;
	struct timeval tv;

	if (idle >= ICMP_IDLE_MS) {
		e->ri->rd->icmp_stats.expired++;
		entry_free(e);
		return;
	}
	idle = ICMP_IDLE_MS - idle;
	tv.tv_sec = (time_t)(idle / 1000u);
	tv.tv_usec = (suseconds_t)(idle % 1000u) * 1000;
	evtimer_add(e->timer, &tv);
}

static struct icmp_entry *entry_new(struct relay_icmp *ri, const struct tg_addr *client,
                                    const struct tg_addr *target)
{
	struct relayd *rd = ri->rd;
	struct timeval tv = {.tv_sec = ICMP_IDLE_MS / 1000u};
	struct icmp_entry *e, **b;

	if (ri->count >= ICMP_MAX_ENTRIES) {
		rd->icmp_stats.drop_table_full++;
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->timer = evtimer_new(rd->base, on_timer, e)) == NULL) {
		free(e);
		rd->icmp_stats.drop_no_socket++;
		return NULL;
	}
	e->ri = ri;
	e->client = *client;
	e->target = *target;
	e->fam = fam_of(target);
	e->fd = -1;
	e->last_used = relay_now_ms();
	/* Linked first, so that entry_free() can undo a half-made entry. */
	b = &ri->by_key[key_hash(client, target)];
	e->key_next = *b;
	*b = e;
	TAILQ_INSERT_TAIL(&ri->entries, e, entry);
	ri->count++;
	rd->icmp_stats.entries_open++;
	if (!entry_attach(ri, e)) {
		rd->icmp_stats.drop_no_socket++;
		entry_free(e);
		return NULL;
	}
	rd->icmp_stats.entries_total++;
	evtimer_add(e->timer, &tv);
	return e;
}

/* IPv4 raw mode: the checksum covers our identifier, so it is ours to compute. */
static void icmp4_checksum(uint8_t *icmp, size_t len)
{
	uint32_t sum = 0;

	icmp[2] = icmp[3] = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)icmp[i] << 8 | icmp[i + 1];
	if (len & 1)
		sum += (uint32_t)icmp[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	icmp[2] = (uint8_t)(~sum >> 8);
	icmp[3] = (uint8_t)~sum;
}

static void entry_send(struct icmp_entry *e, size_t len)
{
	struct relay_icmp *ri = e->ri;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd = e->fd;

	if (fd < 0) {
		fd = ri->raw_fd[e->fam];
		tx_buf[4] = (uint8_t)(e->ident >> 8);
		tx_buf[5] = (uint8_t)e->ident;
		if (e->fam == FAM4)
			icmp4_checksum(tx_buf, len);
		else
			tx_buf[2] = tx_buf[3] = 0; /* the kernel fills it in */
	}
	if (tg_addr_to_sockaddr(&e->target, &ss, &sslen) < 0 ||
	    sendto(fd, tx_buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sslen) < 0) {
		ri->rd->icmp_stats.drop_send_error++;
		log_debug("icmp: sendto: %s", strerror(errno));
		return;
	}
	ri->rd->icmp_stats.sent++;
	e->last_used = relay_now_ms();
}

void relay_icmp_echo(struct relayd *rd, const struct tg_addr *src, const struct tg_addr *dst,
                     const void *data, size_t len)
{
	struct relay_icmp *ri = rd->icmp;
	struct tg_addr target = *dst;
	struct icmp_entry *e;

	rd->icmp_stats.requests++;
	if (len > sizeof(tx_buf)) {
		rd->icmp_stats.drop_too_big++;
		return;
	}
	target.port = 0;
	e = find_key(ri, src, &target);
	if (!e && (e = entry_new(ri, src, &target)) == NULL)
		return;
	/* Out of shared memory first: raw mode rewrites it, and stackd may change it. */
	memcpy(tx_buf, data, len);
	entry_send(e, len);
}

void relay_icmp_drop_all(struct relayd *rd)
{
	struct icmp_entry *e;

	while ((e = TAILQ_FIRST(&rd->icmp->entries)) != NULL)
		entry_free(e);
}

int relay_icmp_init(struct relayd *rd, unsigned gid)
{
	struct relay_icmp *ri = calloc(1, sizeof(*ri));

	if (!ri)
		return -1;
	ri->rd = rd;
	ri->gid = gid;
	TAILQ_INIT(&ri->entries);
	for (int f = 0; f < NFAM; f++) {
		ri->mode[f] = MODE_PROBE;
		ri->raw_fd[f] = -1;
	}
	/* Any start will do: uniqueness is checked per entry. */
	ri->next_ident = (uint16_t)(getpid() * 2654435761u >> 16);
	rd->icmp = ri;
	return 0;
}

void relay_icmp_free(struct relayd *rd)
{
	struct relay_icmp *ri = rd->icmp;

	if (!ri)
		return;
	relay_icmp_drop_all(rd);
	for (int f = 0; f < NFAM; f++) {
		if (ri->raw_ev[f])
			event_free(ri->raw_ev[f]);
		if (ri->raw_fd[f] >= 0)
			close(ri->raw_fd[f]);
	}
	free(ri);
	rd->icmp = NULL;
}

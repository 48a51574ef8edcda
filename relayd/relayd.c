/*
 * relayd main: talks to stackd over link B (side 1), through the flow API, and to the
 * network through one outbound socket per flow. One thread, one libevent loop:
 *
 *   link B bell  -> flow API drain -> callbacks below -> relay_tcp.c (TCP flows)
 *                                                      -> relay_udp.c (UDP NAT entries)
 *                                                      -> relay_icmp.c (echo requests)
 *   socket events -> relay_*.c -> flow API calls -> descriptors to stackd
 *
 * SIGTERM and SIGINT end the loop; every TCP flow still open is reset on both sides, every
 * UDP flow closed.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdbool.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdarg.h"
#include "link.h"
#include "ctl_event.h"
#include "dest_policy.h"
#include "log.h"
#include "stats.h"
#include "outbound.h"
#include "relayd.h"
#include "sandbox.h"

#define CONNECT_TIMEOUT_DEFAULT 10 /* seconds */
#define CONNECT_TIMEOUT_MAX     600

struct relayd_opts {
	struct tg_link_fds link_b;
	unsigned long connect_timeout;
	unsigned long udp_timeout;
	unsigned long dns_timeout;
	int ctl_fd;
	int stats_fd;
	struct tg_sandbox sandbox;
	enum tg_log_level log_level;
	long rules_fd; /* the routing table's memfd (docs/rules.md); -1: everything direct */
	struct relay_outbound outbound; /* --mark, --bind-interface (outbound.h) */
	bool allow_local;               /* --allow-local: dest_policy.h checks off */
};

static void usage(FILE *out)
{
	fprintf(out, "usage: relayd --link-b MEMFD,BELL_SELF,BELL_PEER [--connect-timeout SEC]\n"
	             "              [--udp-timeout SEC] [--dns-timeout SEC]\n"
	             "              [--rules-fd FD]\n"
	             "              [--mark N] [--bind-interface IFNAME] [--allow-local]\n"
	             "              [--log-level error|warning|info|debug]\n");
}

/* Bad arguments exit 2, as every tungate child does. */
static void parse_args(int argc, char *argv[], struct relayd_opts *o)
{
	static const struct option longopts[] = {
	        {"link-b", required_argument, NULL, 'b'},
	        {"connect-timeout", required_argument, NULL, 't'},
	        {"log-level", required_argument, NULL, 'l'},
	        {"log-target", required_argument, NULL, 'L'},
	        {"udp-timeout", required_argument, NULL, 'u'},
	        {"dns-timeout", required_argument, NULL, 'd'},
	        {"ctl-fd", required_argument, NULL, 'C'},
	        {"stats-fd", required_argument, NULL, 's'},
	        {"sandbox", required_argument, NULL, 'S'},
	        {"test-forbidden", required_argument, NULL, 'X'},
	        {"rules-fd", required_argument, NULL, 'R'},
	        {"mark", required_argument, NULL, 'M'},
	        {"bind-interface", required_argument, NULL, 'I'},
	        {"allow-local", no_argument, NULL, 'A'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool have_link = false, syslog_on;
	int ch;

	memset(o, 0, sizeof(*o)); /* every option not given has a defined default */
	o->connect_timeout = CONNECT_TIMEOUT_DEFAULT;
	o->udp_timeout = 60;
	o->dns_timeout = 10;
	o->ctl_fd = -1;
	o->stats_fd = -1;
	o->rules_fd = -1;
	tg_sandbox_init(&o->sandbox);
	o->log_level = TG_LOG_INFO;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			if (tg_parse_link_fds(optarg, &o->link_b) < 0)
				goto bad;
			have_link = true;
			break;
		case 't':
			if (tg_parse_uint(optarg, 1, CONNECT_TIMEOUT_MAX, &o->connect_timeout) < 0)
				goto bad;
			break;
		case 'l':
			if (log_parse_level(optarg, &o->log_level) < 0)
				goto bad;
			break;
		case 'L': /* before the sandbox: syslog's socket is connected here */
			if (log_parse_target(optarg, &syslog_on) < 0)
				goto bad;
			if (syslog_on)
				log_open_syslog();
			break;
		case 'u':
			if (tg_parse_uint(optarg, 1, 86400, &o->udp_timeout) < 0)
				goto bad;
			break;
		case 'd':
			if (tg_parse_uint(optarg, 1, 86400, &o->dns_timeout) < 0)
				goto bad;
			break;
		case 'C': {
			unsigned long fd;

			if (tg_parse_uint(optarg, 0, 65535, &fd) < 0)
				goto bad;
			o->ctl_fd = (int)fd;
			break;
		}
		case 's': {
			unsigned long fd;

			if (tg_parse_uint(optarg, 0, 65535, &fd) < 0)
				goto bad;
			o->stats_fd = (int)fd;
			break;
		}
		case 'S':
			if (tg_sandbox_parse(&o->sandbox, optarg) < 0)
				goto bad;
			break;
		case 'X': /* tests only: docs/security.md */
			if (tg_sandbox_set_test(&o->sandbox, optarg) < 0)
				goto bad;
			break;
		case 'R': {
			unsigned long fd;

			if (tg_parse_uint(optarg, 0, 65535, &fd) < 0)
				goto bad;
			o->rules_fd = (long)fd;
			break;
		}
		case 'M': {
			unsigned long mark;

			if (tg_parse_uint(optarg, 0, 0xffffffffu, &mark) < 0)
				goto bad;
			o->outbound.mark = (unsigned)mark;
			break;
		}
		case 'A':
			o->allow_local = true;
			break;
		case 'I':
			if (strlen(optarg) >= sizeof(o->outbound.ifname))
				goto bad;
			snprintf(o->outbound.ifname, sizeof(o->outbound.ifname), "%s", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc && have_link)
		return;
bad:
	usage(stderr);
	exit(2);
}

static struct relayd *rd_of(void *arg)
{
	return arg;
}

static void on_tcp_open(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                        const struct tg_addr *dst, enum tg_open_mode mode, void *arg)
{
	/* Both modes relay alike: the mode only decides what stackd tells the client when. */
	struct relayd *rd = rd_of(arg);
	const struct relay_upstream *up = relayd_upstream_for(rd, IPPROTO_TCP, dst);

	if (!up) {
		/* stackd rejects before asking; only a table it did not have gets here */
		rd->stats.flows_total++;
		rd->stats.connect_failed[TG_OPEN_REJECTED]++;
		tg_flow_open_result(api, flow, TG_OPEN_REJECTED);
		return;
	}
	relay_tcp_open(rd, flow, src, dst, up);
}

static void on_data(struct tg_flowapi *api, uint32_t flow, const void *data, size_t len, void *arg)
{
	relay_tcp_data(rd_of(arg), flow, data, len);
}

static void on_shut_wr(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	relay_tcp_shut_wr(rd_of(arg), flow);
}

static void on_reset(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	relay_tcp_reset(rd_of(arg), flow);
}

static void on_writable(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	relay_tcp_writable(rd_of(arg), flow);
}

static void on_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                   const struct tg_addr *dst, const void *data, size_t len, void *arg)
{
	relay_udp_datagram(rd_of(arg), flow, src, dst, data, len);
}

static void on_udp_batch(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                         const struct tg_addr *dst, const struct iovec *dgrams, unsigned n,
                         void *arg)
{
	relay_udp_batch(rd_of(arg), flow, src, dst, dgrams, n);
}

static void on_udp_closed(struct tg_flowapi *api, uint32_t flow, void *arg)
{
	relay_udp_closed(rd_of(arg), flow);
}

static void on_icmp_echo(struct tg_flowapi *api, const struct tg_addr *src,
                         const struct tg_addr *dst, const void *data, size_t len, void *arg)
{
	relay_icmp_echo(rd_of(arg), src, dst, data, len);
}

/* The API forgot every flow already; the calls these make on them do nothing. */
static void on_peer_reset(struct tg_flowapi *api, void *arg)
{
	relay_tcp_drop_all(rd_of(arg));
	relay_udp_drop_all(rd_of(arg));
	relay_icmp_drop_all(rd_of(arg));
}

const struct relay_upstream *relayd_upstream_for(struct relayd *rd, uint8_t proto,
                                                 const struct tg_addr *dst)
{
	uint32_t i = tg_rules_match(&rd->rules, proto, dst);
	const struct tg_rule *r = &rd->rules.rule[i];
	char to[TG_ADDR_STRLEN], how[48];

	log_debug("%s to %s: rule %u%s -> %s", proto == IPPROTO_TCP ? "tcp" : "udp",
	          tg_addr_format(dst, to, sizeof(to)), i + 1,
	          i + 1 == rd->rules.nrules ? " (default)" : "",
	          tg_rules_action_text(&rd->rules, r, how, sizeof(how)));
	switch (r->action) {
	case TG_RULE_SOCKS5:
		return &rd->upstreams[r->upstream]; /* decode() checked the index */
	case TG_RULE_REJECT:
		rd->rule_rejected++;
		return NULL;
	default:
		/*
		 * TCP asks the kernel before connecting (a connect would reach the service);
		 * UDP checks its own connected socket instead (relay_udp.c): no probe per flow.
		 */
		if (!rd->allow_local && (relay_dest_forbidden(dst) ||
		                         (proto == IPPROTO_TCP && relay_dest_is_self(dst)))) {
			rd->dest_refused_local++;
			log_debug("%s: the gateway's own or a non-unicast address: refused", to);
			return NULL;
		}
		return &rd->direct;
	}
}

static const struct tg_flowapi_cbs relayd_cbs = {
        .on_tcp_open = on_tcp_open,
        .on_data = on_data,
        .on_shut_wr = on_shut_wr,
        .on_reset = on_reset,
        .on_writable = on_writable,
        .on_udp = on_udp,
        .on_udp_batch = on_udp_batch,
        .on_udp_closed = on_udp_closed,
        .on_icmp_echo = on_icmp_echo,
        .on_peer_reset = on_peer_reset,
};

#define RD_STAT(name, member)                                                                      \
	{                                                                                          \
		name, offsetof(struct relayd, member)                                              \
	}

/* Counters of all three relay parts, named for `tungate stats`. */
static const struct tg_stat_def stat_defs[] = {
        RD_STAT("tcp_flows_open", stats.flows_open),
        RD_STAT("tcp_flows_total", stats.flows_total),
        RD_STAT("tcp_flows_closed", stats.flows_closed),
        RD_STAT("tcp_flows_reset", stats.flows_reset),
        RD_STAT("tcp_bytes_up", stats.bytes_up),
        RD_STAT("tcp_bytes_down", stats.bytes_down),
        RD_STAT("connect_refused", stats.connect_failed[TG_OPEN_REFUSED]),
        RD_STAT("connect_unreachable", stats.connect_failed[TG_OPEN_UNREACHABLE]),
        RD_STAT("connect_timeout", stats.connect_failed[TG_OPEN_TIMEOUT]),
        RD_STAT("connect_rejected", stats.connect_failed[TG_OPEN_REJECTED]),
        RD_STAT("open_failed_nofile", stats.open_failed_nofile),
        RD_STAT("rule_rejected", rule_rejected),
        RD_STAT("dest_refused_local", dest_refused_local),
        RD_STAT("udp_flows_open", udp_stats.flows_open),
        RD_STAT("udp_flows_total", udp_stats.flows_total),
        RD_STAT("udp_expired", udp_stats.expired),
        RD_STAT("udp_dgrams_up", udp_stats.dgrams_up),
        RD_STAT("udp_dgrams_down", udp_stats.dgrams_down),
        RD_STAT("udp_refused_sent", udp_stats.refused_sent),
        RD_STAT("udp_unreach_sent", udp_stats.unreach_sent),
        RD_STAT("udp_drop_no_slot", udp_stats.drop_no_slot),
        RD_STAT("udp_drop_too_big", udp_stats.drop_too_big),
        RD_STAT("udp_drop_send_error", udp_stats.drop_send_error),
        RD_STAT("udp_drop_socket", udp_stats.drop_socket),
        RD_STAT("udp_send_calls", udp_stats.send_calls),
        RD_STAT("udp_recv_calls", udp_stats.recv_calls),
        RD_STAT("udp_gso_sends", udp_stats.gso_sends),
        RD_STAT("socks_udp_assoc_opened", socks_udp_stats.assoc_opened),
        RD_STAT("socks_udp_assoc_failed", socks_udp_stats.assoc_failed),
        RD_STAT("socks_udp_assoc_ended", socks_udp_stats.assoc_ended),
        RD_STAT("socks_udp_queued", socks_udp_stats.queued),
        RD_STAT("socks_udp_drop_queue_full", socks_udp_stats.drop_queue_full),
        RD_STAT("socks_udp_drop_frag", socks_udp_stats.drop_frag),
        RD_STAT("socks_udp_drop_header", socks_udp_stats.drop_header),
        RD_STAT("socks_udp_drop_foreign", socks_udp_stats.drop_foreign),
        RD_STAT("icmp_requests", icmp_stats.requests),
        RD_STAT("icmp_sent", icmp_stats.sent),
        RD_STAT("icmp_replies", icmp_stats.replies),
        RD_STAT("icmp_drop_no_socket", icmp_stats.drop_no_socket),
        RD_STAT("icmp_drop_table_full", icmp_stats.drop_table_full),
        RD_STAT("icmp_drop_send_error", icmp_stats.drop_send_error),
        RD_STAT("icmp_drop_no_slot", icmp_stats.drop_no_slot),
        RD_STAT("link_b_bad_msgs", api_stats.bad_msgs),
        RD_STAT("link_b_credit_errors", api_stats.credit_errors),
        RD_STAT("link_b_late_msgs", api_stats.late_msgs),
        RD_STAT("link_b_tx_errors", api_stats.tx_errors),
        RD_STAT("tcp_flows_rejected", api_stats.flows_rejected),
        RD_STAT("udp_flows_rejected", api_stats.udp_flows_rejected),
        RD_STAT("udp_batches_received", api_stats.udp_batches_rx),
        RD_STAT("udp_bad_batches", api_stats.udp_bad_batches),
        RD_STAT("udp_batches_sent", api_stats.udp_batches_tx),
};

static void publish_stats(struct relayd *rd)
{
	rd->api_stats = *tg_flowapi_stats(rd->api);
	tg_stats_publish(rd->stats_region, stat_defs, sizeof(stat_defs) / sizeof(stat_defs[0]), rd);
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
	publish_stats(arg);
}

/* SIGHUP in tungate: the log level and timeouts change live (new flows and NAT entries). */
static void apply_config(struct relayd *rd, const struct tg_ctl_config *c, int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (c->log_level <= TG_LOG_DEBUG)
		log_setlevel((enum tg_log_level)c->log_level);
	if (c->connect_timeout >= 1 && c->connect_timeout <= CONNECT_TIMEOUT_MAX)
		rd->connect_timeout.tv_sec = (time_t)c->connect_timeout;
	if (c->udp_timeout >= 1 && c->udp_timeout <= 86400)
		rd->udp_timeout_ms = c->udp_timeout * 1000u;
	if (c->dns_timeout >= 1 && c->dns_timeout <= 86400)
		rd->dns_timeout_ms = c->dns_timeout * 1000u;
	log_info("settings reloaded: connect timeout %lds, udp %us, dns %us",
	         (long)rd->connect_timeout.tv_sec, rd->udp_timeout_ms / 1000,
	         rd->dns_timeout_ms / 1000);
}

/* stackd was restarted: a new link B; the flow API drops every flow of the old one. */
static void on_ctl(const struct tg_ctl_msg *msg, int *fds, int nfds, void *arg)
{
	struct relayd *rd = arg;
	struct tg_link_end *old = rd->link;

	if (!msg) {
		log_info("tungate is gone: exiting");
		event_base_loopbreak(rd->base);
		return;
	}
	if (msg->type == TG_CTL_CONFIG) {
		apply_config(rd, &msg->config, fds, nfds);
		return;
	}
	if (tg_ctl_take_link(msg, fds, nfds, TG_CTL_LINK_B, rd->link_fds) < 0) {
		log_warnx("control: unexpected message type %u for link %u", msg->type, msg->link);
		return;
	}
	rd->link = tg_link_attach(rd->link_fds->memfd, 1, rd->link_fds->bell_self,
	                          rd->link_fds->bell_peer);
	if (!rd->link || tg_flowapi_replace_link(rd->api, rd->link) < 0)
		fatalx("cannot attach to the renewed link B");
	tg_link_detach(old);
	log_info("link B renewed (epoch %u): stackd restarted, flows dropped", msg->epoch);
}

/*
 * The routing table from tungate's memfd, checked by tg_rules_read_fd(); its upstreams become
 * relay_upstreams, the credentials moved (and wiped from the table).
 */
static void load_rules(struct relayd *rd, long fd)
{
	char err[200], server[TG_ADDR_STRLEN], how[48];

	rd->direct.kind = RELAY_UPSTREAM_DIRECT;
	if (fd < 0) {
		tg_rules_default(&rd->rules);
		return;
	}
	if (tg_rules_read_fd((int)fd, &rd->rules, err, sizeof(err)) < 0)
		fatalx("%s", err);
	close((int)fd);
	for (uint32_t i = 0; i < rd->rules.nupstreams; i++) {
		struct tg_upstream *u = &rd->rules.upstream[i];
		struct relay_upstream *up = &rd->upstreams[i];

		up->kind = RELAY_UPSTREAM_SOCKS5;
		up->server = u->server;
		if (socks5_set_auth(up, u->user, u->password) < 0)
			fatalx("upstream %s: bad credentials", u->name);
		explicit_bzero(u->user, sizeof(u->user));
		explicit_bzero(u->password, sizeof(u->password));
		log_info("upstream %s: socks5 proxy %s, %s", u->name,
		         tg_addr_format(&up->server, server, sizeof(server)),
		         up->user_len ? "username/password" : "no authentication");
	}
	log_info("%u routing rules; default: %s", rd->rules.nrules,
	         tg_rules_action_text(&rd->rules, &rd->rules.rule[rd->rules.nrules - 1], how,
	                              sizeof(how)));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d, exiting", (int)sig);
	event_base_loopbreak(arg);
}

static void log_stats(const struct relayd *rd)
{
	const struct relayd_stats *s = &rd->stats;
	const struct tg_flowapi_stats *a = tg_flowapi_stats(rd->api);

	log_debug("flows: %" PRIu64 " total, %" PRIu64 " open, %" PRIu64 " closed, %" PRIu64
	          " reset",
	          s->flows_total, s->flows_open, s->flows_closed, s->flows_reset);
	log_debug("bytes: %" PRIu64 " up, %" PRIu64 " down", s->bytes_up, s->bytes_down);
	for (unsigned r = TG_OPEN_OK + 1; r < TG_OPEN_RESULT_MAX; r++)
		log_debug("connect failed, %s: %" PRIu64, tg_open_result_name(r),
		          s->connect_failed[r]);
	log_debug("link B: %" PRIu64 " bad messages, %" PRIu64 " credit errors, %" PRIu64
	          " late, %" PRIu64 " rejected, %" PRIu64 " send errors",
	          a->bad_msgs, a->credit_errors, a->late_msgs, a->flows_rejected, a->tx_errors);
}

static void log_udp_stats(const struct relayd *rd)
{
	const struct relayd_udp_stats *u = &rd->udp_stats;
	const struct tg_flowapi_stats *a = tg_flowapi_stats(rd->api);

	log_info("udp: %" PRIu64 " flows (%" PRIu64 " expired), %" PRIu64 " datagrams / %" PRIu64
	         " bytes up, %" PRIu64 " / %" PRIu64 " down",
	         u->flows_total, u->expired, u->dgrams_up, u->bytes_up, u->dgrams_down,
	         u->bytes_down);
	log_debug("udp: %" PRIu64 " port unreachable and %" PRIu64
	          " host unreachable sent to clients",
	          u->refused_sent, u->unreach_sent);
	log_debug("udp drops: %" PRIu64 " no slot, %" PRIu64 " too big, %" PRIu64
	          " send error, %" PRIu64 " table full, %" PRIu64 " no socket, %" PRIu64
	          " unreachable, %" PRIu64 " address mismatch, %" PRIu64 " recv errors",
	          u->drop_no_slot, u->drop_too_big, u->drop_send_error, a->udp_flows_rejected,
	          u->drop_socket, u->drop_unreachable, u->drop_mismatch, u->recv_errors);
}

static void log_icmp_stats(const struct relayd *rd)
{
	const struct relayd_icmp_stats *i = &rd->icmp_stats;

	log_info("icmp: %" PRIu64 " echo requests, %" PRIu64 " sent, %" PRIu64 " replies; %" PRIu64
	         " entries (%" PRIu64 " expired)",
	         i->requests, i->sent, i->replies, i->entries_total, i->expired);
	log_debug("icmp drops: %" PRIu64 " no socket, %" PRIu64 " table full, %" PRIu64
	          " send error, %" PRIu64 " too big, %" PRIu64 " no slot; %" PRIu64
	          " replies not ours",
	          i->drop_no_socket, i->drop_table_full, i->drop_send_error, i->drop_too_big,
	          i->drop_no_slot, i->ignored);
}

/*
 * Every UDP NAT entry and ICMP entry holds a socket: the usual soft limit of 1024 fds would
 * cap flows long before the flow API does. Take what the hard limit allows.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("setrlimit(RLIMIT_NOFILE)");
	else
		log_debug("fd limit raised to %llu", (unsigned long long)rl.rlim_cur);
}

int main(int argc, char *argv[])
{
	struct relayd_opts o;
	struct relayd rd;
	struct tg_link_end *link;
	struct tg_ctl_event *ctl = NULL;
	struct event *sigterm, *sigint;

	log_init("relayd", TG_LOG_INFO);
	parse_args(argc, argv, &o);
	log_setlevel(o.log_level);
	/* A server that vanished must cost a write error, not the process. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Flow buffers come and go in pieces of up to 64 KiB: with glibc's default threshold
	 * (128 KiB) the top of the heap goes back to the kernel and is taken again over and over,
	 * a brk() pair per few buffers in a bulk transfer. A few MiB stay with us instead.
	 */
	mallopt(M_TRIM_THRESHOLD, 4 << 20);

	raise_fd_limit();

	memset(&rd, 0, sizeof(rd));
	TAILQ_INIT(&rd.flows);
	TAILQ_INIT(&rd.udp);
	rd.connect_timeout.tv_sec = (time_t)o.connect_timeout;
	rd.allow_local = o.allow_local;
	load_rules(&rd, o.rules_fd);
	/* Both at most 86400 s: fits in milliseconds. */
	rd.udp_timeout_ms = (uint32_t)o.udp_timeout * 1000u;
	rd.dns_timeout_ms = (uint32_t)o.dns_timeout * 1000u;
	if ((rd.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	link = tg_link_attach(o.link_b.memfd, 1, o.link_b.bell_self, o.link_b.bell_peer);
	if (!link)
		fatalx("cannot attach to link B");
	rd.chunk = tg_link_slot_size(link);
	rd.link = link;
	rd.link_fds = &o.link_b;
	/* The group the sandbox leaves us in is the one ping_group_range must include. */
	if (relay_icmp_init(&rd, o.sandbox.gid != (gid_t)-1 ? (unsigned)o.sandbox.gid
	                                                    : (unsigned)getgid()) < 0)
		fatalx("out of memory");
	if ((rd.api = tg_flowapi_new(rd.base, link, &relayd_cbs, &rd)) == NULL)
		fatalx("cannot start the flow API");
	sigterm = evsignal_new(rd.base, SIGTERM, on_signal, rd.base);
	sigint = evsignal_new(rd.base, SIGINT, on_signal, rd.base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0)
		fatalx("cannot install signal handlers");
	if (o.ctl_fd >= 0 && !(ctl = tg_ctl_event_new(rd.base, o.ctl_fd, on_ctl, &rd)))
		fatalx("cannot watch the control socket");
	if (o.stats_fd >= 0 && !(rd.stats_region = tg_stats_attach(o.stats_fd, TG_STATS_RELAYD)))
		log_warnx("stats fd %d is not a stats file: counters are not published",
		          o.stats_fd);
	struct timeval stats_tv = {1, 0};
	struct event *ev_stats = event_new(rd.base, -1, EV_PERSIST, on_stats_timer, &rd);

	if (!ev_stats || event_add(ev_stats, &stats_tv) < 0)
		fatalx("cannot set up the stats timer");
	relay_outbound_init(&o.outbound);
	o.sandbox.keep_net_raw = o.outbound.mark != 0; /* SO_MARK: docs/security.md */
	tg_sandbox_relayd(&o.sandbox);
	if (relay_outbound_selftest() < 0)
		fatalx("cannot apply [relay] mark / bind_interface to outbound sockets");

	tg_ctl_send_ready(o.ctl_fd);
	log_info("started, link B epoch %" PRIu32 ", connect timeout %lus, udp timeout %lus "
	         "(dns %lus)",
	         tg_link_epoch(link), o.connect_timeout, o.udp_timeout, o.dns_timeout);
	if (event_base_dispatch(rd.base) < 0)
		fatalx("event loop failed");

	relay_tcp_drop_all(&rd);
	relay_udp_drop_all(&rd);
	/* The loop is over: push the resets and closes out ourselves. */
	link = rd.link;
	tg_link_flush(link);
	tg_ctl_event_free(ctl);
	publish_stats(&rd);
	event_free(ev_stats);
	log_stats(&rd);
	log_udp_stats(&rd);
	log_icmp_stats(&rd);
	relay_icmp_free(&rd);
	event_free(sigterm);
	event_free(sigint);
	tg_flowapi_free(rd.api);
	tg_link_detach(link);
	event_base_free(rd.base);
	return 0;
}

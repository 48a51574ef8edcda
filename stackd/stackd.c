/*
 * stackd main: talks to tunio over link A (side 1) and to relayd over link B (side 0), and to
 * nothing else. One libevent loop dispatches three things: link A's bell (packets in: lwIP
 * input), link B's bell (flow messages: tcp_flow.c), and lwIP's timer.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lwip/init.h"
#include "lwip/timeouts.h"

#include "ctl_event.h"
#include "fdarg.h"
#include "icmp.h"
#include "link_event.h"
#include "log.h"
#include "proto.h"
#include "stackd.h"
#include "sandbox.h"
#include "stats.h"
#include "syn_hold.h"
#include "tap_answer.h"
#include "udp_flow.h"

#define SWEEP_INTERVAL_SEC 1

static struct tg_stats_region *stats;

static const struct tg_stat_def stat_defs[] = {
        TG_STAT(struct stackd_counters, pkts_in),
        TG_STAT(struct stackd_counters, pkts_out),
        TG_STAT(struct stackd_counters, bytes_in),
        TG_STAT(struct stackd_counters, bytes_out),
        TG_STAT(struct stackd_counters, flows_open),
        TG_STAT(struct stackd_counters, flows_total),
        TG_STAT(struct stackd_counters, flows_refused),
        TG_STAT(struct stackd_counters, flows_evicted),
        TG_STAT(struct stackd_counters, half_open_evicted),
        TG_STAT(struct stackd_counters, half_open),
        TG_STAT(struct stackd_counters, syns_held),
        TG_STAT(struct stackd_counters, flows_reset_local),
        TG_STAT(struct stackd_counters, flows_reset_relay),
        TG_STAT(struct stackd_counters, flows_idle_expired),
        TG_STAT(struct stackd_counters, udp_flows_open),
        TG_STAT(struct stackd_counters, udp_flows_total),
        TG_STAT(struct stackd_counters, udp_up),
        TG_STAT(struct stackd_counters, udp_down),
        TG_STAT(struct stackd_counters, udp_batches_up),
        TG_STAT(struct stackd_counters, udp_batches_down),
        TG_STAT(struct stackd_counters, icmp_echo_relayed),
        TG_STAT(struct stackd_counters, icmp_errors_sent),
        TG_STAT(struct stackd_counters, syn_retransmits_held),
        TG_STAT(struct stackd_counters, time_wait_reused),
        TG_STAT(struct stackd_counters, time_wait_dropped),
        TG_STAT(struct stackd_counters, drop_malformed),
        TG_STAT(struct stackd_counters, drop_icmp_echo),
        TG_STAT(struct stackd_counters, drop_no_slot_a),
        TG_STAT(struct stackd_counters, drop_bad_msg),
        TG_STAT(struct stackd_counters, drop_udp_not_unicast),
        TG_STAT(struct stackd_counters, drop_udp_too_big),
        TG_STAT(struct stackd_counters, drop_udp_no_slot),
        TG_STAT(struct stackd_counters, credit_errors),
        TG_STAT(struct stackd_counters, drop_l2_foreign),
        TG_STAT(struct stackd_counters, drop_l2_ethertype),
        TG_STAT(struct stackd_counters, drop_l2_vlan),
        TG_STAT(struct stackd_counters, proxy_arp_replies),
        TG_STAT(struct stackd_counters, proxy_nd_replies),
        TG_STAT(struct stackd_counters, ra_sent),
        TG_STAT(struct stackd_counters, drop_nd_invalid),
        TG_STAT(struct stackd_counters, rule_rejected),
        TG_STAT(struct stackd_counters, drop_vnet_bad),
        TG_STAT(struct stackd_counters, vnet_gso_in),
        TG_STAT(struct stackd_counters, vnet_gso_out),
        TG_STAT(struct stackd_counters, link_a_slots_out),
        TG_STAT(struct stackd_counters, link_b_slots_out),
};

/* Our slots a peer still holds: 0 whenever traffic stops, or one leaked (the e2e teardown). */
static uint64_t slots_out(struct tg_link_end *link)
{
	return link ? tg_link_slots_out(link) : 0;
}

static void publish_stats(void)
{
	stackd.ctr.link_a_slots_out = slots_out(stackd.link_a);
	stackd.ctr.link_b_slots_out = slots_out(stackd.link_b);
	tg_stats_publish(stats, stat_defs, sizeof(stat_defs) / sizeof(stat_defs[0]), &stackd.ctr);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: stackd --link-a MEMFD,BELL_SELF,BELL_PEER "
	        "--link-b MEMFD,BELL_SELF,BELL_PEER --mtu N\n"
	        "              [--max-flows N] [--flow-table-full refuse|evict]\n"
	        "              [--handshake fast|consistent]\n"
	        "              [--tcp-idle-timeout SEC] [--tcp-half-close-timeout SEC]\n"
	        "              [--udp-timeout SEC] [--connect-timeout SEC] [--log-level LEVEL]\n"
	        "              [--tap --gateway-mac MAC --gateway-ipv4 A.B.C.D/N "
	        "[--gateway-ipv6 ADDR]\n"
	        "               [--proxy-arp] [--proxy-ndp] [--router-advertisements]] "
	        "[--rules-fd FD]\n");
	exit(2);
}

struct options {
	struct tg_link_fds link_a;
	struct tg_link_fds link_b;
	unsigned long mtu;
	unsigned long max_flows;
	bool evict_when_full;
	unsigned long handshake;
	unsigned long idle_timeout;
	unsigned long half_close_timeout;
	unsigned long udp_timeout;
	unsigned long connect_timeout;
	long stats_fd;
	long ctl_fd;
	long rules_fd;
	struct tg_sandbox sandbox;
	enum tg_log_level level;
	bool tap;
	bool have_mac, have_ipv4, have_ipv6;
	bool proxy_arp, proxy_ndp, router_advertisements;
	uint8_t gw_mac[6];
	struct in_addr gw_ipv4;
	unsigned gw_prefix;
	struct in6_addr gw_ipv6;
};

/* TAP mode's --gateway-* values; tungate has checked them, this only refuses garbage. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
	           &end) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return (mac[0] & 1) ? -1 : 0; /* a multicast MAC cannot be a source */
}

static int parse_ipv4_prefix(const char *s, struct in_addr *a, unsigned *prefix)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned long v;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, a) != 1 || tg_parse_uint(slash + 1, 1, 30, &v) < 0)
		return -1;
	*prefix = (unsigned)v;
	return 0;
}

/* getopt values of long options without a letter of their own */
enum {
	OPT_PROXY_ARP = 0x100,
	OPT_PROXY_NDP,
	OPT_ROUTER_ADVERTISEMENTS,
};

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	        {"link-a", required_argument, NULL, 'a'},
	        {"link-b", required_argument, NULL, 'b'},
	        {"mtu", required_argument, NULL, 'm'},
	        {"max-flows", required_argument, NULL, 'f'},
	        {"flow-table-full", required_argument, NULL, 'F'},
	        {"log-level", required_argument, NULL, 'l'},
	        {"log-target", required_argument, NULL, 'L'},
	        {"handshake", required_argument, NULL, 'h'},
	        {"tcp-idle-timeout", required_argument, NULL, 'i'},
	        {"tcp-half-close-timeout", required_argument, NULL, 'H'},
	        {"udp-timeout", required_argument, NULL, 'u'},
	        {"connect-timeout", required_argument, NULL, 'c'},
	        {"stats-fd", required_argument, NULL, 's'},
	        {"ctl-fd", required_argument, NULL, 'C'},
	        {"sandbox", required_argument, NULL, 'S'},
	        {"test-forbidden", required_argument, NULL, 'X'},
	        {"tap", no_argument, NULL, 'T'},
	        {"gateway-mac", required_argument, NULL, 'M'},
	        {"gateway-ipv4", required_argument, NULL, '4'},
	        {"gateway-ipv6", required_argument, NULL, '6'},
	        {"proxy-arp", no_argument, NULL, OPT_PROXY_ARP},
	        {"proxy-ndp", no_argument, NULL, OPT_PROXY_NDP},
	        {"router-advertisements", no_argument, NULL, OPT_ROUTER_ADVERTISEMENTS},
	        {"rules-fd", required_argument, NULL, 'R'},
	        {NULL, 0, NULL, 0},
	};
	bool have_a = false, have_b = false, syslog_on;
	int ch;

	/* Every option not given keeps a defined default (an uninitialised bool is UB). */
	memset(o, 0, sizeof(*o));
	o->mtu = 1500;
	o->max_flows = 4096;
	o->level = TG_LOG_INFO;
	o->handshake = TG_OPEN_FAST;
	o->idle_timeout = 7200;
	o->half_close_timeout = 300;
	o->udp_timeout = 60;
	o->connect_timeout = 10;
	o->stats_fd = -1;
	o->ctl_fd = -1;
	o->rules_fd = -1;
	tg_sandbox_init(&o->sandbox);
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (tg_parse_link_fds(optarg, &o->link_a) < 0)
				usage();
			have_a = true;
			break;
		case 'b':
			if (tg_parse_link_fds(optarg, &o->link_b) < 0)
				usage();
			have_b = true;
			break;
		case 'm':
			if (tg_parse_uint(optarg, 576, 65535, &o->mtu) < 0)
				usage();
			break;
		case 'f':
			if (tg_parse_uint(optarg, 1, 1u << 24, &o->max_flows) < 0)
				usage();
			break;
		case 'F':
			if (strcmp(optarg, "refuse") == 0)
				o->evict_when_full = false;
			else if (strcmp(optarg, "evict") == 0)
				o->evict_when_full = true;
			else
				usage();
			break;
		case 'l':
			if (log_parse_level(optarg, &o->level) < 0)
				usage();
			break;
		case 'L': /* before the sandbox: syslog's socket is connected here */
			if (log_parse_target(optarg, &syslog_on) < 0)
				usage();
			if (syslog_on)
				log_open_syslog();
			break;
		case 'h':
			if (strcmp(optarg, "fast") == 0)
				o->handshake = TG_OPEN_FAST;
			else if (strcmp(optarg, "consistent") == 0)
				o->handshake = TG_OPEN_CONSISTENT;
			else
				usage();
			break;
		case 'i':
			if (tg_parse_uint(optarg, 1, 7 * 86400, &o->idle_timeout) < 0)
				usage();
			break;
		case 'H':
			if (tg_parse_uint(optarg, 1, 7 * 86400, &o->half_close_timeout) < 0)
				usage();
			break;
		case 'u':
			if (tg_parse_uint(optarg, 1, 86400, &o->udp_timeout) < 0)
				usage();
			break;
		case 'c':
			if (tg_parse_uint(optarg, 1, 300, &o->connect_timeout) < 0)
				usage();
			break;
		case 's': {
			unsigned long fd;

			if (tg_parse_uint(optarg, 0, 65535, &fd) < 0)
				usage();
			o->stats_fd = (long)fd;
			break;
		}
		case 'C': {
			unsigned long fd;

			if (tg_parse_uint(optarg, 0, 65535, &fd) < 0)
				usage();
			o->ctl_fd = (long)fd;
			break;
		}
		case 'R': {
			unsigned long fd;

			if (tg_parse_uint(optarg, 0, 65535, &fd) < 0)
				usage();
			o->rules_fd = (long)fd;
			break;
		}
		case 'S':
			if (tg_sandbox_parse(&o->sandbox, optarg) < 0)
				usage();
			break;
		case 'X': /* tests only: docs/security.md */
			if (tg_sandbox_set_test(&o->sandbox, optarg) < 0)
				usage();
			break;
		case 'T':
			o->tap = true;
			break;
		case 'M':
			if (parse_mac(optarg, o->gw_mac) < 0)
				usage();
			o->have_mac = true;
			break;
		case '4':
			if (parse_ipv4_prefix(optarg, &o->gw_ipv4, &o->gw_prefix) < 0)
				usage();
			o->have_ipv4 = true;
			break;
		case '6':
			if (inet_pton(AF_INET6, optarg, &o->gw_ipv6) != 1)
				usage();
			o->have_ipv6 = true;
			break;
		case OPT_PROXY_ARP:
			o->proxy_arp = true;
			break;
		case OPT_PROXY_NDP:
			o->proxy_ndp = true;
			break;
		case OPT_ROUTER_ADVERTISEMENTS:
			o->router_advertisements = true;
			break;
		default:
			usage();
		}
	}
	if (!have_a || !have_b || optind != argc)
		usage();
	if (o->tap && (!o->have_mac || !o->have_ipv4))
		usage();
	/* Proxy NDP and RAs act for the gateway's /64 (tungate checked it is not link-local). */
	if ((o->proxy_arp || o->proxy_ndp || o->router_advertisements) && !o->tap)
		usage();
	if ((o->proxy_ndp || o->router_advertisements) && !o->have_ipv6)
		usage();
}

static void on_lwip_timer(evutil_socket_t fd, short what, void *arg)
{
	sys_check_timeouts();
	stackd_flush_links();
	stackd_lwip_timer_update();
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);

	tcp_flow_sweep(now);
	udp_flow_sweep(now);
	syn_hold_sweep(now);
	publish_stats();
	stackd_flush_links();
	stackd_lwip_timer_update();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: exiting", (int)sig);
	event_base_loopbreak(stackd.base);
}

static struct tg_link_end *attach(const struct tg_link_fds *fds, int side, const char *name)
{
	struct tg_link_end *end = tg_link_attach(fds->memfd, side, fds->bell_self, fds->bell_peer);

	if (!end)
		fatalx("cannot attach to link %s", name);
	return end;
}

/* tunio was restarted: the TCP state stays, packets in flight on the old link are lost. */
static void reset_link_a(void)
{
	tg_link_event_free(stackd.lev_a);
	tg_link_detach(stackd.link_a);
	stackd.link_a = attach(stackd.fds_a, 1, "A");
	stackd.hello_a = false;
	if (tg_hello_send(stackd.link_a, TG_ROLE_STACKD, 0) < 0)
		fatalx("cannot queue HELLO");
	tg_link_flush(stackd.link_a);
	stackd.lev_a = tg_link_event_new(stackd.base, stackd.link_a, netif_link_drain, &stackd);
	if (!stackd.lev_a)
		fatalx("link A: cannot set up its events");
}

/* relayd was restarted: its flows are gone, so ours are reset towards the clients. */
static void reset_link_b(void)
{
	tcp_flow_abort_all();
	udp_flow_forget_all();
	syn_hold_clear();
	tg_link_event_free(stackd.lev_b);
	tg_link_detach(stackd.link_b);
	stackd.link_b = attach(stackd.fds_b, 0, "B");
	stackd.hello_b = false;
	if (tg_hello_send(stackd.link_b, TG_ROLE_STACKD, STACKD_WINDOW) < 0)
		fatalx("cannot queue HELLO");
	tg_link_flush(stackd.link_b);
	stackd.lev_b = tg_link_event_new(stackd.base, stackd.link_b, flow_link_drain, &stackd);
	if (!stackd.lev_b)
		fatalx("link B: cannot set up its events");
	stackd_flush_links();
}

/* SIGHUP in tungate: the log level and timeouts change live; out-of-range values are kept. */
static void apply_config(const struct tg_ctl_config *c, int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (c->log_level <= TG_LOG_DEBUG)
		log_setlevel((enum tg_log_level)c->log_level);
	if (c->tcp_idle_timeout >= 1 && c->tcp_idle_timeout <= 7 * 86400)
		stackd.idle_timeout = c->tcp_idle_timeout;
	if (c->tcp_half_close_timeout >= 1 && c->tcp_half_close_timeout <= 7 * 86400)
		stackd.half_close_timeout = c->tcp_half_close_timeout;
	if (c->udp_timeout >= 1 && c->udp_timeout <= 86400)
		stackd.udp_timeout = c->udp_timeout;
	if (c->connect_timeout >= 1 && c->connect_timeout <= 300)
		stackd.connect_timeout = c->connect_timeout;
	log_info("settings reloaded: idle timeout %us, half-close timeout %us", stackd.idle_timeout,
	         stackd.half_close_timeout);
}

static void on_ctl(const struct tg_ctl_msg *msg, int *fds, int nfds, void *arg)
{
	if (!msg) {
		log_info("tungate is gone: exiting");
		event_base_loopbreak(stackd.base);
		return;
	}
	if (msg->type == TG_CTL_CONFIG) {
		apply_config(&msg->config, fds, nfds);
		return;
	}
	if (msg->link == TG_CTL_LINK_A) {
		if (tg_ctl_take_link(msg, fds, nfds, TG_CTL_LINK_A, stackd.fds_a) < 0)
			goto bad;
		log_info("link A renewed (epoch %u): tunio restarted", msg->epoch);
		reset_link_a();
		return;
	}
	if (tg_ctl_take_link(msg, fds, nfds, TG_CTL_LINK_B, stackd.fds_b) < 0)
		goto bad;
	log_info("link B renewed (epoch %u): relayd restarted, flows reset", msg->epoch);
	reset_link_b();
	return;
bad:
	log_warnx("control: unexpected message type %u for link %u", msg->type, msg->link);
}

/* The routing table from tungate's memfd (docs/rules.md), checked; none: all direct. */
static void load_rules(long fd)
{
	char err[200];

	if (fd < 0) {
		tg_rules_default(&stackd.rules);
		return;
	}
	if (tg_rules_read_fd((int)fd, &stackd.rules, err, sizeof(err)) < 0)
		fatalx("%s", err);
	close((int)fd);
	log_debug("%u routing rules, the default included", stackd.rules.nrules);
}

static void log_counters(const struct stackd_counters *c)
{
	log_info("packets in %llu out %llu, flows total %llu refused %llu evicted %llu, half-open "
	         "evicted %llu, drops: malformed %llu icmp-echo %llu no-slot %llu bad-msg %llu "
	         "credit %llu",
	         (unsigned long long)c->pkts_in, (unsigned long long)c->pkts_out,
	         (unsigned long long)c->flows_total, (unsigned long long)c->flows_refused,
	         (unsigned long long)c->flows_evicted, (unsigned long long)c->half_open_evicted,
	         (unsigned long long)c->drop_malformed, (unsigned long long)c->drop_icmp_echo,
	         (unsigned long long)c->drop_no_slot_a, (unsigned long long)c->drop_bad_msg,
	         (unsigned long long)c->credit_errors);
}

int main(int argc, char **argv)
{
	struct options o;
	struct event *sigterm, *sigint;

	log_init("stackd", TG_LOG_INFO);
	parse_args(argc, argv, &o);
	log_setlevel(o.level);
	signal(SIGPIPE, SIG_IGN);

	stackd.mtu = (uint32_t)o.mtu;
	stackd.max_flows = (uint32_t)o.max_flows;
	stackd.evict_when_full = o.evict_when_full;
	stackd.handshake = (uint32_t)o.handshake;
	stackd.idle_timeout = (uint32_t)o.idle_timeout;
	stackd.half_close_timeout = (uint32_t)o.half_close_timeout;
	stackd.udp_timeout = (uint32_t)o.udp_timeout;
	stackd.connect_timeout = (uint32_t)o.connect_timeout;
	load_rules(o.rules_fd);
	stackd.tap = o.tap;
	if (o.tap) {
		memcpy(stackd.gw_mac, o.gw_mac, sizeof(stackd.gw_mac));
		stackd.gw_ipv4 = o.gw_ipv4.s_addr;
		stackd.gw_ipv4_mask = htonl(0xffffffffu << (32 - o.gw_prefix));
		stackd.has_gw_ipv6 = o.have_ipv6;
		memcpy(stackd.gw_ipv6, &o.gw_ipv6, sizeof(stackd.gw_ipv6));
		stackd.proxy_arp = o.proxy_arp;
		stackd.proxy_ndp = o.proxy_ndp;
		stackd.router_advertisements = o.router_advertisements;
	}
	if (o.stats_fd >= 0 && !(stats = tg_stats_attach((int)o.stats_fd, TG_STATS_STACKD)))
		log_warnx("stats fd %ld is not a stats file: counters are not published",
		          o.stats_fd);
	stackd.fds_a = &o.link_a;
	stackd.fds_b = &o.link_b;
	stackd.link_a = attach(&o.link_a, 1, "A");
	stackd.link_b = attach(&o.link_b, 0, "B");
	/* A TAP frame is the MTU plus the Ethernet header (a tagged frame is dropped anyway). */
	if (tg_link_slot_size(stackd.link_a) < stackd.mtu + (stackd.tap ? 14u : 0u))
		fatalx("link A slots (%u bytes) are smaller than the MTU %u%s",
		       tg_link_slot_size(stackd.link_a), stackd.mtu,
		       stackd.tap ? " plus an Ethernet header" : "");

	stackd.base = event_base_new();
	if (!stackd.base)
		fatalx("event_base_new");
	/*
	 * HELLO first: a TAP netif coming up sends gratuitous ARP and MLD reports at once, and
	 * tunio takes anything before HELLO as a protocol error.
	 */
	if (tg_hello_send(stackd.link_a, TG_ROLE_STACKD, 0) < 0 ||
	    tg_hello_send(stackd.link_b, TG_ROLE_STACKD, STACKD_WINDOW) < 0)
		fatalx("cannot queue HELLO");
	stackd_flush_links();
	lwip_init();
	if (netif_link_init(&stackd) < 0)
		fatalx("cannot set up the lwIP interface");
	if (tcp_flow_init(&stackd) < 0)
		fatalx("cannot set up the TCP listener");
	if (udp_flow_init(&stackd) < 0)
		fatalx("cannot set up the UDP wildcard");
	syn_hold_init(&stackd);
	if (icmp_init(&stackd) < 0)
		fatalx("cannot set up ICMP echo relaying");
	if (nd_router_init(&stackd) < 0)
		fatalx("cannot set up router advertisements");

	stackd.lwip_timer = evtimer_new(stackd.base, on_lwip_timer, NULL);
	stackd.lev_a = tg_link_event_new(stackd.base, stackd.link_a, netif_link_drain, &stackd);
	stackd.lev_b = tg_link_event_new(stackd.base, stackd.link_b, flow_link_drain, &stackd);
	stackd.sweep_timer = event_new(stackd.base, -1, EV_PERSIST, on_sweep, NULL);
	sigterm = evsignal_new(stackd.base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(stackd.base, SIGINT, on_signal, NULL);
	struct timeval sweep_tv = {SWEEP_INTERVAL_SEC, 0};

	if (!stackd.lwip_timer || !stackd.lev_a || !stackd.lev_b || !stackd.sweep_timer ||
	    !sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0 || event_add(stackd.sweep_timer, &sweep_tv) < 0)
		fatalx("cannot set up events");
	stackd_lwip_timer_update();
	if (o.ctl_fd >= 0 &&
	    !(stackd.ctl = tg_ctl_event_new(stackd.base, (int)o.ctl_fd, on_ctl, NULL)))
		fatalx("cannot watch the control socket");
	tg_sandbox_stackd(&o.sandbox);

	tg_ctl_send_ready((int)o.ctl_fd);
	log_info("running: mtu %u, max %u flows (%s when full), %s handshake%s", stackd.mtu,
	         stackd.max_flows, stackd.evict_when_full ? "evict" : "refuse",
	         stackd.handshake == TG_OPEN_CONSISTENT ? "consistent" : "fast",
	         stackd.tap ? ", TAP mode" : "");
	event_base_dispatch(stackd.base);

	tcp_flow_shutdown_all();
	udp_flow_shutdown_all();
	nd_router_shutdown();
	stackd_flush_links();
	log_counters(&stackd.ctr);
	publish_stats();
	tg_link_event_free(stackd.lev_a);
	tg_link_event_free(stackd.lev_b);
	tg_ctl_event_free(stackd.ctl);
	event_free(stackd.lwip_timer);
	event_free(stackd.sweep_timer);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(stackd.base);
	tg_link_detach(stackd.link_a);
	tg_link_detach(stackd.link_b);
	return 0;
}

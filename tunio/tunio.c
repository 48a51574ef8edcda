/*
 * tunio main: talks to the TUN fd and to stackd over link A (side 0), and to nothing else.
 * Started by tungate with inherited fds (docs/CONTRACTS.md). One libevent loop dispatches:
 * the TUN fd (readable: packets to stackd; writable: a blocked write may go on), link A's
 * bell (the drain handler below: HELLO first, then packets for the TUN, and returned slots),
 * and SIGINT/SIGTERM (clean exit).
 */
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdarg.h"
#include "link_event.h"
#include "ctl_event.h"
#include "log.h"
#include "sandbox.h"
#include "stats.h"
#include "proto.h"
#include "tunio.h"

struct options {
	int tun_fd;
	struct tg_link_fds link_a;
	bool tap;
	int stats_fd;
	int ctl_fd;
	struct tg_sandbox sandbox;
	enum tg_log_level level;
};

static void usage(void)
{
	fprintf(stderr, "usage: tunio --tun-fd FD --link-a MEMFD,BELL_SELF,BELL_PEER [--tap]\n"
	                "             [--stats-fd FD] [--ctl-fd FD] [--log-level "
	                "error|warning|info|debug]\n");
	exit(2);
}

static void bad_arg(const char *flag, const char *value)
{
	fprintf(stderr, "tunio: bad value for %s: \"%s\"\n", flag, value);
	usage();
}

/* An inherited fd that is not open would only fail later, less clearly. */
static void check_fd(const char *what, int fd)
{
	if (fcntl(fd, F_GETFD) < 0) {
		fprintf(stderr, "tunio: %s: fd %d is not open\n", what, fd);
		exit(2);
	}
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	        {"tun-fd", required_argument, NULL, 't'},
	        {"link-a", required_argument, NULL, 'a'},
	        {"tap", no_argument, NULL, 'T'},
	        {"log-level", required_argument, NULL, 'l'},
	        {"log-target", required_argument, NULL, 'L'},
	        {"stats-fd", required_argument, NULL, 's'},
	        {"ctl-fd", required_argument, NULL, 'C'},
	        {"sandbox", required_argument, NULL, 'S'},
	        {"test-forbidden", required_argument, NULL, 'X'},
	        {NULL, 0, NULL, 0},
	};
	bool have_tun = false, have_a = false, syslog_on;
	unsigned long fd;
	int ch;

	o->level = TG_LOG_INFO;
	o->stats_fd = -1;
	o->ctl_fd = -1;
	tg_sandbox_init(&o->sandbox);
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (tg_parse_uint(optarg, 0, 1u << 30, &fd) < 0)
				bad_arg("--tun-fd", optarg);
			o->tun_fd = (int)fd;
			have_tun = true;
			break;
		case 'a':
			if (tg_parse_link_fds(optarg, &o->link_a) < 0)
				bad_arg("--link-a", optarg);
			have_a = true;
			break;
		case 'T':
			o->tap = true; /* frames instead of packets: the same bytes to us */
			break;
		case 'l':
			if (log_parse_level(optarg, &o->level) < 0)
				bad_arg("--log-level", optarg);
			break;
		case 'L': /* before the sandbox: syslog's socket is connected here */
			if (log_parse_target(optarg, &syslog_on) < 0)
				bad_arg("--log-target", optarg);
			if (syslog_on)
				log_open_syslog();
			break;
		case 's':
			if (tg_parse_uint(optarg, 0, 1u << 30, &fd) < 0)
				bad_arg("--stats-fd", optarg);
			o->stats_fd = (int)fd;
			break;
		case 'C':
			if (tg_parse_uint(optarg, 0, 1u << 30, &fd) < 0)
				bad_arg("--ctl-fd", optarg);
			o->ctl_fd = (int)fd;
			break;
		case 'S':
			if (tg_sandbox_parse(&o->sandbox, optarg) < 0)
				bad_arg("--sandbox", optarg);
			break;
		case 'X': /* tests only: docs/security.md */
			if (tg_sandbox_set_test(&o->sandbox, optarg) < 0)
				bad_arg("--test-forbidden", optarg);
			break;
		default:
			usage();
		}
	}
	if (!have_tun || !have_a || optind != argc)
		usage();
	check_fd("--tun-fd", o->tun_fd);
	check_fd("--link-a memfd", o->link_a.memfd);
	check_fd("--link-a bell", o->link_a.bell_self);
	check_fd("--link-a peer bell", o->link_a.bell_peer);
}

/* The first message from stackd must be its HELLO; a link whose HELLO fails is not used. */
/* IFF_VNET_HDR (tungate/tun_offload.c): every packet goes both ways behind a virtio_net_hdr. */
static bool tun_has_vnet_hdr(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return false; /* not a TUN (a test's socket): plain packets */
	return (ifr.ifr_flags & IFF_VNET_HDR) != 0;
}

static void hello_received(struct tunio *t, const struct tg_desc *d)
{
	struct tg_msg_hello h;

	if (tg_hello_check(t->link, d, TG_ROLE_STACKD, &h) < 0) {
		log_warnx("link A: stackd's HELLO failed its checks: exiting");
		t->exit_code = 1;
		event_base_loopbreak(t->base);
		return;
	}
	t->hello_done = true;
	log_debug("link A: HELLO from stackd pid %u, epoch %u", h.pid, h.epoch);
	pump_start(t);
}

static unsigned on_link(struct tg_link_end *end, unsigned budget, void *arg)
{
	struct tunio *t = arg;
	struct tg_desc d[TG_LINK_BURST];
	unsigned total = 0, n;

	while (total < budget && t->exit_code == 0 &&
	       (n = tg_link_recv(end, d, budget - total)) > 0) {
		for (unsigned i = 0; i < n && t->exit_code == 0; i++) {
			if (t->hello_done)
				pump_from_link(t, &d[i]);
			else
				hello_received(t, &d[i]);
		}
		total += n;
	}
	pump_after_drain(t);
	return total;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct tunio *t = arg;

	log_debug("%s: exiting", sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopbreak(t->base);
}

static void log_counters(const struct tunio *t)
{
	const struct tunio_counters *c = &t->c;
	const struct tg_link_stats *ls = tg_link_stats(t->link);

	log_debug("tun->link: %llu packets, %llu bytes; paused %llu times for want of a slot; "
	          "drops: empty %llu, oversize %llu, link full %llu",
	          (unsigned long long)c->rx_packets, (unsigned long long)c->rx_bytes,
	          (unsigned long long)c->rx_no_slot, (unsigned long long)c->drop_empty,
	          (unsigned long long)c->drop_oversize, (unsigned long long)c->drop_link_full);
	log_debug("link->tun: %llu packets, %llu bytes; blocked %llu times; drops: write %llu, "
	          "bad descriptor %llu, duplicate slot %llu, unknown type %llu",
	          (unsigned long long)c->tx_packets, (unsigned long long)c->tx_bytes,
	          (unsigned long long)c->tx_blocked, (unsigned long long)c->drop_write,
	          (unsigned long long)c->drop_bad_desc, (unsigned long long)c->drop_dup_slot,
	          (unsigned long long)c->drop_unknown);
	log_debug("link A: %llu descriptors out, %llu in, %llu bad, %llu bells rung",
	          (unsigned long long)ls->tx_descs, (unsigned long long)ls->rx_descs,
	          (unsigned long long)ls->bad_descs, (unsigned long long)ls->bells_rung);
}

static const struct tg_stat_def stat_defs[] = {
        TG_STAT(struct tunio_counters, rx_packets),
        TG_STAT(struct tunio_counters, rx_bytes),
        TG_STAT(struct tunio_counters, tx_packets),
        TG_STAT(struct tunio_counters, tx_bytes),
        TG_STAT(struct tunio_counters, rx_no_slot),
        TG_STAT(struct tunio_counters, tx_blocked),
        TG_STAT(struct tunio_counters, drop_empty),
        TG_STAT(struct tunio_counters, drop_oversize),
        TG_STAT(struct tunio_counters, drop_link_full),
        TG_STAT(struct tunio_counters, drop_write),
        TG_STAT(struct tunio_counters, drop_bad_desc),
        TG_STAT(struct tunio_counters, drop_dup_slot),
        TG_STAT(struct tunio_counters, drop_unknown),
};

static void publish_stats(struct tunio *t)
{
	tg_stats_publish(t->stats, stat_defs, sizeof(stat_defs) / sizeof(stat_defs[0]), &t->c);
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
	publish_stats(arg);
}

static void link_attach_and_greet(struct tunio *t)
{
	t->link = tg_link_attach(t->fds->memfd, 0, t->fds->bell_self, t->fds->bell_peer);
	if (!t->link)
		fatalx("cannot attach to link A");
	t->slot_size = tg_link_slot_size(t->link);
	if (tg_hello_send(t->link, TG_ROLE_TUNIO, 0) < 0)
		fatalx("link A: cannot queue HELLO");
	tg_link_flush(t->link);
	t->lev = tg_link_event_new(t->base, t->link, on_link, t);
	if (!t->lev)
		fatalx("link A: cannot set up its events");
}

static void link_setup(struct tunio *t, struct tg_link_fds *fds)
{
	t->fds = fds;
	link_attach_and_greet(t);
	/* Renewed links keep the geometry, so the queue sized now fits every later one. */
	if (pump_init(t, tg_link_slot_count(t->link)) < 0)
		fatalx("out of memory");
}

/* stackd was restarted: a new link A, a new HELLO; nothing of the old one is kept. */
static void on_ctl(const struct tg_ctl_msg *msg, int *fds, int nfds, void *arg)
{
	struct tunio *t = arg;

	if (!msg) {
		log_info("tungate is gone: exiting");
		event_base_loopbreak(t->base);
		return;
	}
	if (msg->type == TG_CTL_CONFIG) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (msg->config.log_level <= TG_LOG_DEBUG)
			log_setlevel((enum tg_log_level)msg->config.log_level);
		return;
	}
	if (tg_ctl_take_link(msg, fds, nfds, TG_CTL_LINK_A, t->fds) < 0) {
		log_warnx("control: unexpected message type %u for link %u", msg->type, msg->link);
		return;
	}
	log_info("link A renewed (epoch %u): stackd restarted", msg->epoch);
	tg_link_event_free(t->lev);
	pump_reset(t);
	tg_link_detach(t->link);
	t->hello_done = false;
	link_attach_and_greet(t);
}

int main(int argc, char **argv)
{
	static struct tunio t;
	struct options o = {0};
	struct event *ev_int, *ev_term;
	int fl;

	log_init("tunio", TG_LOG_INFO);
	parse_args(argc, argv, &o);
	log_setlevel(o.level);
	signal(SIGPIPE, SIG_IGN);

	t.tun_fd = o.tun_fd;
	/* Shared file description with tungate, which set it already; cheap to be sure. */
	fl = fcntl(t.tun_fd, F_GETFL);
	if (fl < 0 || fcntl(t.tun_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatal("TUN fd %d: O_NONBLOCK", t.tun_fd);
	t.vnet_hdr = tun_has_vnet_hdr(t.tun_fd);
	t.base = event_base_new();
	if (!t.base)
		fatalx("event_base_new failed");
	ev_int = evsignal_new(t.base, SIGINT, on_signal, &t);
	ev_term = evsignal_new(t.base, SIGTERM, on_signal, &t);
	if (!ev_int || !ev_term || evsignal_add(ev_int, NULL) < 0 ||
	    evsignal_add(ev_term, NULL) < 0)
		fatalx("cannot set up signal events");
	link_setup(&t, &o.link_a);
	if (o.ctl_fd >= 0 && !(t.ctl = tg_ctl_event_new(t.base, o.ctl_fd, on_ctl, &t)))
		fatalx("cannot watch the control socket");
	if (o.stats_fd >= 0 && !(t.stats = tg_stats_attach(o.stats_fd, TG_STATS_TUNIO)))
		log_warnx("stats fd %d is not a stats file: counters are not published",
		          o.stats_fd);
	struct timeval stats_tv = {1, 0};
	struct event *ev_stats = event_new(t.base, -1, EV_PERSIST, on_stats_timer, &t);

	if (!ev_stats || event_add(ev_stats, &stats_tv) < 0)
		fatalx("cannot set up the stats timer");
	log_debug("attached to link A (slot size %u)%s%s, waiting for stackd's HELLO", t.slot_size,
	          o.tap ? ", TAP mode" : "", t.vnet_hdr ? ", vnet header" : "");
	tg_sandbox_tunio(&o.sandbox);

	tg_ctl_send_ready(o.ctl_fd);
	event_base_dispatch(t.base);

	log_counters(&t);
	publish_stats(&t);
	event_free(ev_stats);
	tg_link_event_free(t.lev);
	tg_ctl_event_free(t.ctl);
	pump_free(&t);
	tg_link_detach(t.link);
	event_free(ev_int);
	event_free(ev_term);
	event_base_free(t.base);
	return t.exit_code;
}

/*
 * relayd main: talks to stackd over link B (side 1), through the flow API, and to the
 * network through one outbound socket per flow. One thread, one libevent loop:
 *
 *   link B bell  -> flow API drain -> callbacks below -> relay_tcp.c (per-flow sockets)
 *   socket events -> relay_tcp.c -> flow API calls -> descriptors to stackd
 *
 * SIGTERM and SIGINT end the loop; every flow still open is reset on both sides.
 */
#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fdarg.h"
#include "link.h"
#include "log.h"
#include "relayd.h"

#define CONNECT_TIMEOUT_DEFAULT 10 /* seconds */
#define CONNECT_TIMEOUT_MAX     600

struct relayd_opts {
	struct tg_link_fds link_b;
	unsigned long connect_timeout;
	unsigned long udp_timeout;
	unsigned long dns_timeout;
	enum tg_log_level log_level;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: relayd --link-b MEMFD,BELL_SELF,BELL_PEER [--connect-timeout SEC]\n"
	             "              [--udp-timeout SEC] [--dns-timeout SEC]\n"
	             "              [--log-level error|warning|info|debug]\n");
}

/* Bad arguments exit 2, as every tungate child does. */
static void parse_args(int argc, char *argv[], struct relayd_opts *o)
{
	static const struct option longopts[] = {
	        {"link-b", required_argument, NULL, 'b'},
	        {"connect-timeout", required_argument, NULL, 't'},
	        {"log-level", required_argument, NULL, 'l'},
	        {"udp-timeout", required_argument, NULL, 'u'},
	        {"dns-timeout", required_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool have_link = false;
	int ch;

	o->connect_timeout = CONNECT_TIMEOUT_DEFAULT;
	o->udp_timeout = 60;
	o->dns_timeout = 10;
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
		case 'u':
			if (tg_parse_uint(optarg, 1, 86400, &o->udp_timeout) < 0)
				goto bad;
			break;
		case 'd':
			if (tg_parse_uint(optarg, 1, 86400, &o->dns_timeout) < 0)
				goto bad;
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
	relay_tcp_open(rd_of(arg), flow, src, dst);
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

/* UDP relaying is a later step: count and drop. */
static void on_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                   const struct tg_addr *dst, const void *data, size_t len, void *arg)
{
	rd_of(arg)->stats.udp_dropped++;
}

static void on_peer_reset(struct tg_flowapi *api, void *arg)
{
	relay_tcp_drop_all(rd_of(arg));
}

static const struct tg_flowapi_cbs relayd_cbs = {
        .on_tcp_open = on_tcp_open,
        .on_data = on_data,
        .on_shut_wr = on_shut_wr,
        .on_reset = on_reset,
        .on_writable = on_writable,
        .on_udp = on_udp,
        .on_peer_reset = on_peer_reset,
};

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
	          " late, %" PRIu64 " rejected, %" PRIu64 " send errors; %" PRIu64
	          " UDP datagrams dropped",
	          a->bad_msgs, a->credit_errors, a->late_msgs, a->flows_rejected, a->tx_errors,
	          s->udp_dropped);
}

int main(int argc, char *argv[])
{
	struct relayd_opts o;
	struct relayd rd;
	struct tg_link_end *link;
	struct event *sigterm, *sigint;

	log_init("relayd", TG_LOG_INFO);
	parse_args(argc, argv, &o);
	log_setlevel(o.log_level);
	/* A server that vanished must cost a write error, not the process. */
	signal(SIGPIPE, SIG_IGN);

	memset(&rd, 0, sizeof(rd));
	TAILQ_INIT(&rd.flows);
	rd.connect_timeout.tv_sec = (time_t)o.connect_timeout;
	if ((rd.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	link = tg_link_attach(o.link_b.memfd, 1, o.link_b.bell_self, o.link_b.bell_peer);
	if (!link)
		fatalx("cannot attach to link B");
	rd.chunk = tg_link_slot_size(link);
	if ((rd.api = tg_flowapi_new(rd.base, link, &relayd_cbs, &rd)) == NULL)
		fatalx("cannot start the flow API");
	sigterm = evsignal_new(rd.base, SIGTERM, on_signal, rd.base);
	sigint = evsignal_new(rd.base, SIGINT, on_signal, rd.base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0)
		fatalx("cannot install signal handlers");

	log_info("started, link B epoch %" PRIu32 ", connect timeout %lus", tg_link_epoch(link),
	         o.connect_timeout);
	if (event_base_dispatch(rd.base) < 0)
		fatalx("event loop failed");

	relay_tcp_drop_all(&rd);
	/* The loop is over: push the resets out ourselves. */
	tg_link_flush(link);
	log_stats(&rd);
	event_free(sigterm);
	event_free(sigint);
	tg_flowapi_free(rd.api);
	tg_link_detach(link);
	event_base_free(rd.base);
	return 0;
}

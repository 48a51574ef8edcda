/*
 * SOCKS5 UDP ASSOCIATE: see socks5_udp.h.
 *
 * Setting up, all on relayd's event loop and bounded by one deadline (the connect timeout):
 *   1. a UDP socket is connected to the proxy's address: that binds it (relayd's sandbox has
 *      no bind()) to the address and port it will send from, which the ASSOCIATE request
 *      names, so that the proxy accepts datagrams from that end only (RFC 1928, section 6);
 *   2. a non-blocking TCP connection to the proxy carries socks5.c's handshake: method,
 *      username/password if configured, UDP ASSOCIATE;
 *   3. the reply's BND.ADDR:BND.PORT is the relay; an all-zero address means the proxy's own
 *      (RFC 1928 leaves it open, and proxies answer so when they listen on every address);
 *   4. the UDP socket is connected again, to the relay: the kernel then drops anything from
 *      another address or port before relayd sees it, and reports ICMP errors about it.
 * Datagrams from the client before that are queued, a few and bounded (SOCKS5_UDP_QUEUE_*),
 * and go out in order once the relay is known; beyond the bound they are dropped and counted.
 *
 * Ending: the association is the control connection's. Its EOF or error, or the relay's port
 * being closed (ECONNREFUSED, unreachable), ends it; the owner is told from the event loop
 * through on_end(), never from inside a call it made.
 */
#include "socks5_udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "outbound.h"

#define RECV_BATCH 32u    /* datagrams read per wakeup */
#define RX_BUF     65536u /* the largest UDP payload of either family */

struct queued_dgram {
	STAILQ_ENTRY(queued_dgram) entry;
	size_t len;
	uint8_t data[]; /* header and payload, ready to send */
};

struct socks5_udp {
	struct event_base *base;
	const struct relay_upstream *up;
	struct socks5_udp_stats *st;
	struct socks5_udp_cbs cbs;
	void *arg;
	struct bufferevent *ctl; /* the control connection */
	int fd;                  /* the UDP socket */
	struct event *rx;        /* fd readable, once the association is up */
	struct event *timer;     /* the setup deadline; also fires a deferred end */
	struct socks5_client hs;
	struct tg_addr self;  /* our UDP end, named in the request */
	struct tg_addr relay; /* the proxy's UDP end, from its reply */
	bool started;         /* the handshake began (TCP to the proxy is up) */
	bool ready;           /* the relay is known: datagrams go straight out */
	bool ending;          /* an end is due: the timer fires it */
	enum tg_open_result end_result;
	const char *end_why;
	STAILQ_HEAD(, queued_dgram) queue;
	unsigned nqueued;
	size_t queued_bytes;
};

static uint8_t rx_buf[RX_BUF];

/* ---- the UDP request header (RFC 1928, section 7) ----------------------------------------- */

size_t socks5_udp_encode_header(const struct tg_addr *dst, uint8_t *buf, size_t len)
{
	size_t n;

	if (len < 3 || (n = socks5_encode_addr(dst, buf + 3, len - 3)) == 0)
		return 0;
	buf[0] = 0; /* RSV */
	buf[1] = 0;
	buf[2] = 0; /* FRAG: a whole datagram */
	return 3 + n;
}

enum socks5_udp_verdict socks5_udp_parse(const uint8_t *p, size_t len, struct tg_addr *from,
                                         size_t *hdr_len)
{
	size_t alen;

	if (len < SOCKS5_UDP_HDR_MIN)
		return SOCKS5_UDP_SHORT;
	if (p[0] != 0 || p[1] != 0)
		return SOCKS5_UDP_RSV;
	/* A fragment is dropped whatever else it says: we keep no reassembly state. */
	if (p[2] != 0)
		return SOCKS5_UDP_FRAG;
	switch (p[3]) {
	case SOCKS5_ATYP_IPV4:
		alen = 4;
		break;
	case SOCKS5_ATYP_IPV6:
		alen = 16;
		break;
	case SOCKS5_ATYP_DOMAIN:
		return SOCKS5_UDP_DOMAIN;
	default:
		return SOCKS5_UDP_ATYP;
	}
	if (len < 4 + alen + 2)
		return SOCKS5_UDP_SHORT;
	socks5_decode_addr(p + 3, from);
	*hdr_len = 4 + alen + 2;
	return SOCKS5_UDP_OK;
}

const char *socks5_udp_verdict_name(enum socks5_udp_verdict v)
{
	switch (v) {
	case SOCKS5_UDP_OK:
		return "ok";
	case SOCKS5_UDP_SHORT:
		return "short header";
	case SOCKS5_UDP_RSV:
		return "reserved bytes not zero";
	case SOCKS5_UDP_FRAG:
		return "fragment";
	case SOCKS5_UDP_DOMAIN:
		return "domain name address";
	case SOCKS5_UDP_ATYP:
		return "unknown address type";
	}
	return "?";
}

/* ---- one association ---------------------------------------------------------------------- */

/* The association is over (setup failed, or it ended): the owner frees it in on_end(). */
static void finish(struct socks5_udp *a, enum tg_open_result result, const char *why)
{
	if (a->ready)
		a->st->assoc_ended++;
	else
		a->st->assoc_failed++;
	a->cbs.on_end(a->arg, result, why);
}

/* For errors found inside a call of the owner's: on_end() comes from the loop instead. */
static void defer_end(struct socks5_udp *a, enum tg_open_result result, const char *why)
{
	if (a->ending)
		return;
	a->ending = true;
	a->end_result = result;
	a->end_why = why;
	event_active(a->timer, EV_TIMEOUT, 1);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct socks5_udp *a = arg;

	if (a->ending)
		finish(a, a->end_result, a->end_why);
	else
		finish(a, TG_OPEN_TIMEOUT, "proxy did not set up the association in time");
}

/* An errno on the UDP socket that says the relay is gone (it only talks to the relay). */
static bool relay_gone(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == EHOSTDOWN || err == ENETDOWN;
}

static int send_wrapped(struct socks5_udp *a, const uint8_t *hdr, size_t hlen, const void *data,
                        size_t len)
{
	struct iovec iov[2] = {{.iov_base = (void *)hdr, .iov_len = hlen},
	                       {.iov_base = (void *)data, .iov_len = len}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};

	for (;;) {
		if (sendmsg(a->fd, &m, MSG_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (relay_gone(errno)) {
			int err = errno;

			defer_end(a, TG_OPEN_REJECTED, "the proxy's relay port is gone");
			errno = err;
		}
		return -1;
	}
}

static void flush_queue(struct socks5_udp *a)
{
	struct queued_dgram *q;

	while ((q = STAILQ_FIRST(&a->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&a->queue, entry);
		/* Best effort, as for any datagram: a failure loses this one only. */
		if (!a->ending)
			send_wrapped(a, q->data, q->len, NULL, 0);
		free(q);
	}
	a->nqueued = 0;
	a->queued_bytes = 0;
}

/* Datagrams from the relay (the socket is connected to it: nobody else's arrive). */
static void on_rx(evutil_socket_t fd, short what, void *arg)
{
	struct socks5_udp *a = arg;

	for (unsigned i = 0; i < RECV_BATCH && !a->ending; i++) {
		ssize_t n = recv(fd, rx_buf, sizeof(rx_buf), MSG_DONTWAIT);
		struct tg_addr from;
		size_t hlen = 0;
		enum socks5_udp_verdict v;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (relay_gone(errno)) {
				finish(a, TG_OPEN_REJECTED, "the proxy's relay port is gone");
				return; /* freed */
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("socks5 udp: recv: %s", strerror(errno));
			break;
		}
		v = socks5_udp_parse(rx_buf, (size_t)n, &from, &hlen);
		if (v == SOCKS5_UDP_OK)
			a->cbs.on_datagram(a->arg, &from, rx_buf + hlen, (size_t)n - hlen);
		else if (v == SOCKS5_UDP_FRAG)
			a->st->drop_frag++;
		else
			a->st->drop_header++;
	}
	relay_drain_errqueue(fd);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* The reply's relay address, made usable; NULL or why it is not. */
static const char *take_relay(struct socks5_udp *a)
{
	struct tg_addr *r = &a->relay;

	*r = a->hs.bound;
	if (r->family == 0)
		return "relay address is a domain name";
	if (r->port == 0)
		return "relay port is 0";
	if (all_zero(r->ip, sizeof(r->ip))) {
		/* "Any address": the proxy's, on the port it gave. */
		uint16_t port = r->port;

		*r = a->up->server;
		r->port = port;
	}
	if (r->family != a->self.family)
		return "relay address is of another family than the proxy's";
	return NULL;
}

static void established(struct socks5_udp *a)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *why = take_relay(a);

	if (why) {
		finish(a, TG_OPEN_REJECTED, why);
		return;
	}
	if (tg_addr_to_sockaddr(&a->relay, &ss, &sslen) < 0 ||
	    connect(a->fd, (struct sockaddr *)&ss, sslen) < 0) {
		finish(a, TG_OPEN_REJECTED, "cannot reach the relay address");
		return;
	}
	if (event_add(a->rx, NULL) < 0) {
		finish(a, TG_OPEN_REJECTED, "cannot watch the UDP socket");
		return;
	}
	evtimer_del(a->timer);
	a->ready = true;
	a->st->assoc_opened++;
	flush_queue(a);
	a->cbs.on_ready(a->arg);
}

static void on_ctl_read(struct bufferevent *bev, void *arg)
{
	struct socks5_udp *a = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	enum tg_open_result result = TG_OPEN_REJECTED;
	const char *why = "?";

	if (a->ready || a->ending) {
		/* Nothing is due on the control connection any more: ignore what comes. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	switch (socks5_client_input(&a->hs, in, bufferevent_get_output(bev), &result, &why)) {
	case SOCKS5_STEP_MORE:
		return;
	case SOCKS5_STEP_DONE:
		evbuffer_drain(in, evbuffer_get_length(in));
		established(a);
		return;
	case SOCKS5_STEP_FAILED:
		finish(a, result, why);
		return;
	}
}

static void on_ctl_event(struct bufferevent *bev, short what, void *arg)
{
	struct socks5_udp *a = arg;

	if (a->ending)
		return; /* the timer ends it */
	if ((what & BEV_EVENT_CONNECTED) && !a->started) {
		a->started = true;
		if (socks5_client_start_cmd(&a->hs, a->up, SOCKS5_CMD_UDP_ASSOCIATE, &a->self,
		                            bufferevent_get_output(bev)) < 0 ||
		    bufferevent_enable(bev, EV_READ) < 0)
			finish(a, TG_OPEN_REJECTED, "out of memory");
		return;
	}
	if (a->ready)
		finish(a, TG_OPEN_REJECTED,
		       (what & BEV_EVENT_EOF) ? "the proxy closed the association"
		                              : "the association's control connection failed");
	else
		finish(a, TG_OPEN_REJECTED,
		       a->started ? "proxy closed during the handshake"
		                  : "cannot connect to the proxy");
}

/*
 * The UDP socket, connected to the proxy for now so that the kernel picks the address and
 * port we send from; *self receives them.
 */
static int udp_socket(const struct socks5_udp *a, const struct relay_upstream *up,
                      struct tg_addr *self)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, on = 1, err;

	if (tg_addr_to_sockaddr(&up->server, &ss, &sslen) < 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (a->cbs.prepare && a->cbs.prepare(fd, ss.ss_family) < 0)
		goto fail;
	/* ICMP errors about the relay (its port closed: the proxy died) reach recv(). */
	if (ss.ss_family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0)
		goto fail;
	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0 ||
	    tg_addr_from_sockaddr(self, (struct sockaddr *)&ss) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* The control connection, connecting; an immediate failure ends the association soon. */
static int control_connect(struct socks5_udp *a)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;

	if (tg_addr_to_sockaddr(&a->up->server, &ss, &sslen) < 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (a->cbs.prepare && a->cbs.prepare(fd, ss.ss_family) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS) {
		close(fd);
		defer_end(a, TG_OPEN_REJECTED, "cannot connect to the proxy");
		return 0;
	}
	a->ctl = bufferevent_socket_new(a->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!a->ctl) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	bufferevent_setcb(a->ctl, on_ctl_read, NULL, on_ctl_event, a);
	/* Without an address libevent waits for the connect already in progress. */
	return bufferevent_socket_connect(a->ctl, NULL, 0);
}

struct socks5_udp *socks5_udp_new(struct event_base *base, const struct relay_upstream *up,
                                  const struct timeval *timeout, struct socks5_udp_stats *st,
                                  const struct socks5_udp_cbs *cbs, void *arg)
{
	struct socks5_udp *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return NULL;
	a->base = base;
	a->up = up;
	a->st = st;
	a->cbs = *cbs;
	a->arg = arg;
	STAILQ_INIT(&a->queue);
	if ((a->fd = udp_socket(a, up, &a->self)) < 0) {
		err = errno;
		free(a);
		errno = err;
		return NULL;
	}
	a->rx = event_new(base, a->fd, EV_READ | EV_PERSIST, on_rx, a);
	a->timer = evtimer_new(base, on_timer, a);
	if (!a->rx || !a->timer || evtimer_add(a->timer, timeout) < 0) {
		socks5_udp_free(a);
		errno = ENOMEM;
		return NULL;
	}
	if (control_connect(a) < 0) {
		err = errno;
		socks5_udp_free(a);
		errno = err;
		return NULL;
	}
	return a;
}

int socks5_udp_send(struct socks5_udp *a, const struct tg_addr *dst, const void *data, size_t len)
{
	uint8_t hdr[SOCKS5_UDP_HDR_MAX];
	size_t hlen = socks5_udp_encode_header(dst, hdr, sizeof(hdr));
	struct queued_dgram *q;

	if (hlen == 0) {
		errno = EINVAL;
		return -1;
	}
	if (hlen + len > RX_BUF) {
		errno = EMSGSIZE;
		return -1;
	}
	if (a->ready)
		return send_wrapped(a, hdr, hlen, data, len);
	if (a->ending || a->nqueued >= SOCKS5_UDP_QUEUE_MAX ||
	    a->queued_bytes + hlen + len > SOCKS5_UDP_QUEUE_BYTES ||
	    (q = malloc(sizeof(*q) + hlen + len)) == NULL) {
		a->st->drop_queue_full++;
		errno = EBUSY;
		return -1;
	}
	q->len = hlen + len;
	memcpy(q->data, hdr, hlen);
	memcpy(q->data + hlen, data, len);
	STAILQ_INSERT_TAIL(&a->queue, q, entry);
	a->nqueued++;
	a->queued_bytes += q->len;
	a->st->queued++;
	return 1;
}

void socks5_udp_free(struct socks5_udp *a)
{
	if (!a)
		return;
	if (a->ctl)
		bufferevent_free(a->ctl);
	if (a->rx)
		event_free(a->rx);
	if (a->timer)
		event_free(a->timer);
	if (a->fd >= 0)
		close(a->fd);
	a->ending = true; /* nothing queued is sent */
	flush_queue(a);
	free(a);
}

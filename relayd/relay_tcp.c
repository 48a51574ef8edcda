/*
 * One TCP flow: a client connection terminated by stackd, relayed over one non-blocking
 * socket with a libevent bufferevent, to the original destination (upstream "direct") or
 * through a SOCKS5 proxy (upstream "socks5": the socket goes to the proxy, socks5.c runs the
 * CONNECT handshake on it, and only its success is reported to stackd as TG_OPEN_OK).
 *
 * Memory stays bounded in both directions:
 *   client -> server: stackd may have one window (TG_FLOWAPI_WINDOW) in flight per flow. The
 *     bytes go straight to the socket when nothing waits before them, else they sit in the
 *     bufferevent's output buffer; either way they are acknowledged (tg_flow_consumed) only
 *     once the socket took them, so a slow server slows the client down.
 *   server -> client: once connected, recv() goes straight into link slots (read_direct), and
 *     only while stackd gives credit; when credit or link slots run out, reading stops until
 *     on_writable(). The bufferevent reads only a SOCKS5 proxy's replies (READ_HIGH ahead).
 *
 * Closing follows TCP: each FIN is passed on once everything before it was delivered
 * (client FIN -> shutdown(SHUT_WR) after the output buffer drained; server EOF -> SHUT_WR to
 * stackd after everything read was sent). With both directions shut the flow is CLOSED.
 * Errors on either side become resets on the other.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "outbound.h"
#include "relayd.h"
#include "socks5.h"

#define READ_HIGH (64u * 1024u) /* bytes read from a server ahead of stackd's credit */
/*
 * libevent reads and writes at most 16 KiB per system call by default; a flow moves up to a
 * link slot (64 KiB) per read and a whole window per write, so a bulk transfer costs a
 * quarter of the calls and of the wake-ups that come with them.
 */
#define MAX_SINGLE_READ  READ_HIGH
#define MAX_SINGLE_WRITE TG_FLOWAPI_WINDOW

enum relay_flow_flags {
	RF_CONNECTED = 0x01,
	RF_CLIENT_EOF = 0x02,  /* the client sent FIN (stackd's SHUT_WR) */
	RF_SERVER_SHUT = 0x04, /* ... and we passed it on: shutdown(SHUT_WR) */
	RF_SERVER_EOF = 0x08,  /* the server sent FIN */
	RF_CLIENT_SHUT = 0x10, /* ... and we passed it on: tg_flow_shut_wr() */
	RF_PROXY_UP = 0x20,    /* SOCKS5: connected to the proxy, handshake under way */
};

struct relay_flow {
	TAILQ_ENTRY(relay_flow) entry;
	struct relayd *rd;
	uint32_t id;
	unsigned flags;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *out_cb; /* NULL until client bytes may go out */
	struct event *reader;             /* once connected: the server's bytes, read_direct() */
	const struct relay_upstream *upstream;
	/* SOCKS5 only, until the handshake is over: */
	struct socks5_client socks;
	struct evbuffer *pending; /* client bytes that came before the proxy connected */
	struct event *deadline;   /* connect timeout for the TCP connect and the handshake */
	struct tg_addr src;
	struct tg_addr dst;
	uint64_t up;
	uint64_t down;
	struct timeval started;
};

static void relay_flow_free(struct relay_flow *rf, const char *how)
{
	struct relayd *rd = rf->rd;
	char src[TG_ADDR_STRLEN], dst[TG_ADDR_STRLEN];
	struct timeval now, took;

	tg_flow_set_udata(rd->api, rf->id, NULL);
	TAILQ_REMOVE(&rd->flows, rf, entry);
	if (rf->reader)
		event_free(rf->reader); /* before the bufferevent closes the socket */
	if (rf->bev) {
		/* No more acknowledgements: the flow is over on link B. */
		if (rf->out_cb)
			evbuffer_remove_cb_entry(bufferevent_get_output(rf->bev), rf->out_cb);
		bufferevent_free(rf->bev);
	}
	if (rf->pending)
		evbuffer_free(rf->pending);
	if (rf->deadline)
		event_free(rf->deadline);
	rd->stats.flows_open--;
	event_base_gettimeofday_cached(rd->base, &now);
	timersub(&now, &rf->started, &took);
	log_debug("flow %" PRIu32 " %s -> %s: %s, %" PRIu64 " bytes up, %" PRIu64 " down, %ld ms",
	          rf->id, tg_addr_format(&rf->src, src, sizeof(src)),
	          tg_addr_format(&rf->dst, dst, sizeof(dst)), how, rf->up, rf->down,
	          (long)(took.tv_sec * 1000 + took.tv_usec / 1000));
	free(rf);
}

/* The server failed (RST, write error): the client sees a reset too. */
static void relay_abort(struct relay_flow *rf, const char *how)
{
	tg_flow_reset(rf->rd->api, rf->id);
	rf->rd->stats.flows_reset++;
	relay_flow_free(rf, how);
}

/* Closing with SO_LINGER 0 sends RST: the server learns the client aborted. */
static void linger_zero(struct relay_flow *rf)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	int fd = rf->bev ? bufferevent_getfd(rf->bev) : -1;

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0)
		log_warn_ratelimited("flow %" PRIu32 ": SO_LINGER", rf->id);
}

static void maybe_finish(struct relay_flow *rf)
{
	if ((rf->flags & (RF_SERVER_SHUT | RF_CLIENT_SHUT)) != (RF_SERVER_SHUT | RF_CLIENT_SHUT))
		return;
	tg_flow_close(rf->rd->api, rf->id);
	rf->rd->stats.flows_closed++;
	relay_flow_free(rf, "closed");
}

/* Passes the client's FIN on once every byte before it reached the socket. */
static void server_maybe_shut(struct relay_flow *rf)
{
	unsigned want = RF_CONNECTED | RF_CLIENT_EOF;

	if ((rf->flags & (want | RF_SERVER_SHUT)) != want)
		return;
	if (evbuffer_get_length(bufferevent_get_output(rf->bev)) > 0)
		return;
	if (shutdown(bufferevent_getfd(rf->bev), SHUT_WR) < 0) {
		log_debug("flow %" PRIu32 ": shutdown: %s", rf->id, strerror(errno));
		relay_abort(rf, "server gone");
		return;
	}
	rf->flags |= RF_SERVER_SHUT;
	maybe_finish(rf);
}

static void set_reading(struct relay_flow *rf, bool on)
{
	bool reading;

	if (!rf->reader)
		return; /* not connected yet */
	reading = event_pending(rf->reader, EV_READ, NULL) != 0;

	if (on && !reading)
		event_add(rf->reader, NULL);
	else if (!on && reading)
		event_del(rf->reader);
}

/*
 * The credit worth reading for. stackd's credit comes back in the pieces its client's ACKs
 * free, often a few KiB; reading (and sending to stackd) each such piece at once moves a bulk
 * download in pieces that small through every process, each with its wake-ups. With a
 * quarter of the window (at most 32 KiB) as the least worth a read, the server's bytes wait in
 * the socket instead and move in larger pieces; bytes already read go whenever they fit.
 */
static size_t read_min_window(const struct relayd *rd)
{
	size_t quarter = tg_flowapi_peer_window(rd->api) / 4;

	return quarter < 32u * 1024u ? quarter : 32u * 1024u;
}

/*
 * Once connected, the server's bytes are read straight into link slots, as much as the credit
 * and a slot allow per recv(): no copy through a buffer, no FIONREAD before each read (which
 * a bufferevent does). A few slots per call, so that one fast server does not starve the
 * other flows. Returns false if the flow was freed (the server reset it).
 */
#define READ_SLOTS_PER_TURN 4

static bool read_direct(struct relay_flow *rf, size_t min_window)
{
	struct relayd *rd = rf->rd;
	int fd = bufferevent_getfd(rf->bev);

	for (int i = 0; i < READ_SLOTS_PER_TURN; i++) {
		struct tg_flow_reservation r;
		void *buf;
		ssize_t n;

		if (tg_flow_send_window(rd->api, rf->id) < min_window)
			return true;
		if ((buf = tg_flow_send_reserve(rd->api, rf->id, &r)) == NULL)
			return true;
		n = recv(fd, buf, r.room, MSG_DONTWAIT);
		tg_flow_send_commit(rd->api, rf->id, &r, n > 0 ? (size_t)n : 0);
		if (n > 0) {
			rf->down += (size_t)n;
			rd->stats.bytes_down += (size_t)n;
			if ((size_t)n < r.room)
				return true; /* the socket is empty */
			continue;
		}
		if (n == 0) {
			rf->flags |= RF_SERVER_EOF;
			return true;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return true;
		log_debug("flow %" PRIu32 ": server error: %s", rf->id, strerror(errno));
		relay_abort(rf, "server reset");
		return false;
	}
	return true;
}

/*
 * Moves what the server sent to stackd, as far as credit and link slots allow: first what
 * the bufferevent read during a SOCKS5 handshake, then straight from the socket. Reading
 * goes on only while stackd can take more; on_writable() resumes it.
 */
static void pump_down(struct relay_flow *rf)
{
	struct relayd *rd = rf->rd;
	struct evbuffer *in = bufferevent_get_input(rf->bev);
	size_t len, min_window = read_min_window(rd);

	while ((len = evbuffer_get_length(in)) > 0) {
		size_t n = tg_flow_send_window(rd->api, rf->id), taken;
		unsigned char *p;

		if (n < len && n < min_window)
			break;
		if (n > len)
			n = len;
		if (n > rd->chunk)
			n = rd->chunk;
		if (n == 0 || (p = evbuffer_pullup(in, (ssize_t)n)) == NULL)
			break;
		taken = tg_flow_send(rd->api, rf->id, p, n);
		evbuffer_drain(in, taken);
		rf->down += taken;
		rd->stats.bytes_down += taken;
		if (taken < n)
			break;
	}
	if (evbuffer_get_length(in) == 0 && rf->reader && !(rf->flags & RF_SERVER_EOF) &&
	    !read_direct(rf, min_window))
		return;
	if (rf->flags & RF_SERVER_EOF) {
		set_reading(rf, false); /* a socket at EOF stays readable: no more wake-ups */
		if (evbuffer_get_length(in) == 0 && !(rf->flags & RF_CLIENT_SHUT)) {
			tg_flow_shut_wr(rd->api, rf->id);
			rf->flags |= RF_CLIENT_SHUT;
			maybe_finish(rf);
		}
		return;
	}
	len = tg_flow_send_window(rd->api, rf->id);
	set_reading(rf, evbuffer_get_length(in) == 0 && len > 0 && len >= min_window);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	pump_down(arg);
}

static void handshake_input(struct relay_flow *rf);

static void on_read(struct bufferevent *bev, void *arg)
{
	struct relay_flow *rf = arg;

	if (rf->flags & RF_PROXY_UP)
		handshake_input(rf);
	else
		pump_down(rf);
}

/* The output buffer drained to the socket. */
static void on_write(struct bufferevent *bev, void *arg)
{
	server_maybe_shut(arg);
}

/* Bytes left the output buffer for the socket: stackd may send as many again. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct relay_flow *rf = arg;

	if (info->n_deleted > 0)
		tg_flow_consumed(rf->rd->api, rf->id, info->n_deleted);
}

static enum tg_open_result result_from_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return TG_OPEN_REFUSED;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return TG_OPEN_UNREACHABLE;
	case ETIMEDOUT:
		return TG_OPEN_TIMEOUT;
	default:
		return TG_OPEN_REFUSED;
	}
}

/* Before the flow has a bufferevent: tell stackd and count it. */
static void open_failed(struct relayd *rd, uint32_t flow, enum tg_open_result result)
{
	tg_flow_open_result(rd->api, flow, result);
	rd->stats.connect_failed[result]++;
}

static void connect_failed(struct relay_flow *rf, enum tg_open_result result, int err)
{
	char how[64];

	open_failed(rf->rd, rf->id, result);
	if (err)
		snprintf(how, sizeof(how), "connect %s (%s)", tg_open_result_name(result),
		         strerror(err));
	else
		snprintf(how, sizeof(how), "connect %s", tg_open_result_name(result));
	relay_flow_free(rf, how);
}

/* Client bytes go out, and are acknowledged to stackd as they leave, from now on. */
static int start_output(struct relay_flow *rf)
{
	struct evbuffer *out = bufferevent_get_output(rf->bev);

	if (!rf->out_cb && !(rf->out_cb = evbuffer_add_cb(out, on_output, rf)))
		return -1;
	/* What the client sent during the SOCKS5 handshake follows the handshake. */
	if (rf->pending && evbuffer_add_buffer(out, rf->pending) < 0)
		return -1;
	return 0;
}

static void connected(struct relay_flow *rf)
{
	rf->flags = (rf->flags & ~RF_PROXY_UP) | RF_CONNECTED;
	/* The write timeout was the connect timeout; established flows have none. */
	bufferevent_set_timeouts(rf->bev, NULL, NULL);
	if (rf->deadline)
		event_del(rf->deadline);
	rf->reader = event_new(rf->rd->base, bufferevent_getfd(rf->bev), EV_READ | EV_PERSIST,
	                       on_readable, rf);
	if (!rf->reader || start_output(rf) < 0) {
		rf->flags &= ~RF_CONNECTED;
		connect_failed(rf, TG_OPEN_REJECTED, ENOMEM);
		return;
	}
	tg_flow_open_result(rf->rd->api, rf->id, TG_OPEN_OK);
	/*
	 * From now on read_direct() reads. The first read runs from the loop, like every later
	 * one: bytes the proxy sent right after its reply (the server's) go first.
	 */
	bufferevent_disable(rf->bev, EV_READ);
	event_active(rf->reader, EV_READ, 0);
	/* A FIN that came with nothing before it (or while connecting) goes out now. */
	server_maybe_shut(rf);
}

static void socks5_failed(struct relay_flow *rf, enum tg_open_result result, const char *why)
{
	char src[TG_ADDR_STRLEN], dst[TG_ADDR_STRLEN];

	log_debug("flow %" PRIu32 " %s -> %s: socks5: %s", rf->id,
	          tg_addr_format(&rf->src, src, sizeof(src)),
	          tg_addr_format(&rf->dst, dst, sizeof(dst)), why);
	connect_failed(rf, result, 0);
}

/* The proxy's replies; the connect timeout (rf->deadline) bounds how long they may take. */
static void handshake_input(struct relay_flow *rf)
{
	enum tg_open_result result = TG_OPEN_REJECTED;
	const char *why = "?";

	switch (socks5_client_input(&rf->socks, bufferevent_get_input(rf->bev),
	                            bufferevent_get_output(rf->bev), &result, &why)) {
	case SOCKS5_STEP_MORE:
		return;
	case SOCKS5_STEP_DONE:
		connected(rf);
		return;
	case SOCKS5_STEP_FAILED:
		socks5_failed(rf, result, why);
		return;
	}
}

/* TCP to the proxy is up: the greeting goes out, the replies come to on_read(). */
static void proxy_connected(struct relay_flow *rf)
{
	rf->flags |= RF_PROXY_UP;
	if (socks5_client_start(&rf->socks, rf->upstream, &rf->dst,
	                        bufferevent_get_output(rf->bev)) < 0) {
		socks5_failed(rf, TG_OPEN_REJECTED, "out of memory");
		return;
	}
	bufferevent_enable(rf->bev, EV_READ);
}

/* A proxy that does not finish the handshake in time: the flow timed out. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	socks5_failed(arg, TG_OPEN_TIMEOUT, "proxy did not answer within the connect timeout");
}

/* Before the flow is connected: the proxy, or the way to it, failed. */
static void socks5_event(struct relay_flow *rf, short what, int err)
{
	if ((what & BEV_EVENT_CONNECTED) && !(rf->flags & RF_PROXY_UP)) {
		proxy_connected(rf);
		return;
	}
	if (!(rf->flags & RF_PROXY_UP))
		log_debug("flow %" PRIu32 ": socks5 proxy unreachable: %s", rf->id, strerror(err));
	socks5_failed(rf, TG_OPEN_REJECTED,
	              (rf->flags & RF_PROXY_UP) ? "proxy closed during the handshake"
	                                        : "cannot connect to the proxy");
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay_flow *rf = arg;
	/* libevent leaves the socket error in errno (SO_ERROR for a failed connect). */
	int err = errno;

	if (!(rf->flags & RF_CONNECTED) && rf->upstream->kind == RELAY_UPSTREAM_SOCKS5) {
		socks5_event(rf, what, err);
		return;
	}
	if (!(rf->flags & RF_CONNECTED)) {
		if (what & BEV_EVENT_CONNECTED)
			connected(rf);
		else if (what & BEV_EVENT_TIMEOUT)
			connect_failed(rf, TG_OPEN_TIMEOUT, 0);
		else
			connect_failed(rf, result_from_errno(err), err);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		rf->flags |= RF_SERVER_EOF;
		pump_down(rf);
		return;
	}
	log_debug("flow %" PRIu32 ": server error: %s", rf->id, strerror(err));
	relay_abort(rf, "server reset");
}

/*
 * No socket for a flow: it is refused (stackd resets or refuses the client) and relayd goes
 * on. At the fd limit a burst of new flows would log one line each (log_count_worth()).
 */
static void socket_failed(struct relayd *rd, uint32_t flow, int err)
{
	uint64_t n;

	if (err != EMFILE && err != ENFILE) {
		log_warnx_ratelimited("flow %" PRIu32 ": socket: %s", flow, strerror(err));
		return;
	}
	n = ++rd->stats.open_failed_nofile;
	if (log_count_worth(n))
		log_warnx("flow %" PRIu32 ": socket: %s: refused (%" PRIu64 " so far)", flow,
		          strerror(err), n);
}

/*
 * The client's TCP stack already decided when to send (Nagle is its choice, made on its own
 * socket); stackd hands its bytes on as they arrive. Nagle on our socket as well would hold
 * the tail of a request that reached us in two pieces until the server's delayed ACK.
 */
static int set_nodelay(int fd)
{
	int on = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/*
 * Our own socket() and connect() give the exact errno of a connect that fails at once;
 * bufferevent_socket_connect() without an address then waits for a connect in progress
 * (libevent reports an immediate refusal with no errno at all). The bufferevent's write
 * timeout is the connect timeout.
 */
static struct bufferevent *start_connect(struct relay_flow *rf, enum tg_open_result *result,
                                         int *err)
{
	struct relayd *rd = rf->rd;
	struct sockaddr_storage ss;
	struct bufferevent *bev;
	socklen_t sslen;
	int fd;

	bool socks = rf->upstream->kind == RELAY_UPSTREAM_SOCKS5;

	*result = TG_OPEN_REJECTED;
	*err = 0;
	if (tg_addr_to_sockaddr(socks ? &rf->upstream->server : &rf->dst, &ss, &sslen) < 0)
		return NULL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || relay_socket_prepare(fd, ss.ss_family) < 0 || set_nodelay(fd) < 0) {
		*err = errno;
		socket_failed(rd, rf->id, *err);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS) {
		*err = errno;
		/* The proxy being unreachable says nothing about the destination. */
		*result = socks ? TG_OPEN_REJECTED : result_from_errno(errno);
		close(fd);
		return NULL;
	}
	bev = bufferevent_socket_new(rd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return NULL;
	}
	bufferevent_setcb(bev, on_read, on_write, on_event, rf);
	bufferevent_setwatermark(bev, EV_READ, 0, READ_HIGH);
	if (bufferevent_set_max_single_read(bev, MAX_SINGLE_READ) < 0 ||
	    bufferevent_set_max_single_write(bev, MAX_SINGLE_WRITE) < 0)
		goto fail;
	if (socks) {
		/* The handshake's own bytes must not be acknowledged to stackd: no out_cb yet. */
		if (!(rf->pending = evbuffer_new()) ||
		    !(rf->deadline = evtimer_new(rd->base, on_deadline, rf)) ||
		    evtimer_add(rf->deadline, &rd->connect_timeout) < 0)
			goto fail;
	} else {
		bufferevent_set_timeouts(bev, NULL, &rd->connect_timeout);
		if (!(rf->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), on_output, rf)))
			goto fail;
	}
	if (bufferevent_socket_connect(bev, NULL, 0) < 0)
		goto fail;
	return bev;
fail:
	rf->out_cb = NULL;
	bufferevent_free(bev);
	return NULL;
}

void relay_tcp_open(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                    const struct tg_addr *dst, const struct relay_upstream *up)
{
	struct relay_flow *rf = calloc(1, sizeof(*rf));
	enum tg_open_result result;
	int err;

	rd->stats.flows_total++;
	if (!rf) {
		open_failed(rd, flow, TG_OPEN_REJECTED);
		return;
	}
	rf->rd = rd;
	rf->id = flow;
	rf->src = *src;
	rf->dst = *dst;
	rf->upstream = up;
	event_base_gettimeofday_cached(rd->base, &rf->started);
	TAILQ_INSERT_TAIL(&rd->flows, rf, entry);
	rd->stats.flows_open++;
	tg_flow_set_udata(rd->api, flow, rf);
	rf->bev = start_connect(rf, &result, &err);
	if (!rf->bev)
		connect_failed(rf, result, err);
}

static struct relay_flow *flow_of(struct relayd *rd, uint32_t flow)
{
	return tg_flow_udata(rd->api, flow);
}

/*
 * Client bytes go straight to the socket when nothing waits before them: no copy into the
 * output buffer, and no write event to arm, fire and disarm. Returns the bytes the socket
 * took; the rest is queued. An error is left for the bufferevent's own write to report.
 */
static size_t write_direct(struct relay_flow *rf, const uint8_t *data, size_t len)
{
	ssize_t n;

	if (!(rf->flags & RF_CONNECTED) || !rf->out_cb ||
	    evbuffer_get_length(bufferevent_get_output(rf->bev)) > 0)
		return 0;
	n = send(bufferevent_getfd(rf->bev), data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n <= 0)
		return 0;
	tg_flow_consumed(rf->rd->api, rf->id, (size_t)n);
	return (size_t)n;
}

void relay_tcp_data(struct relayd *rd, uint32_t flow, const void *data, size_t len)
{
	struct relay_flow *rf = flow_of(rd, flow);
	size_t sent;

	if (!rf)
		return;
	sent = write_direct(rf, data, len);
	rf->up += sent;
	rd->stats.bytes_up += sent;
	data = (const uint8_t *)data + sent;
	len -= sent;
	if (len == 0)
		return;
	/* Copied: the slot goes back to stackd when this callback returns. Until the proxy
	 * connected, the bytes wait apart: the handshake's own go first. */
	if (rf->pending && !(rf->flags & RF_CONNECTED)
	            ? evbuffer_add(rf->pending, data, len) < 0
	            : bufferevent_write(rf->bev, data, len) < 0) {
		log_warnx_ratelimited("flow %" PRIu32 ": out of memory", flow);
		relay_abort(rf, "out of memory");
		return;
	}
	rf->up += len;
	rd->stats.bytes_up += len;
}

void relay_tcp_shut_wr(struct relayd *rd, uint32_t flow)
{
	struct relay_flow *rf = flow_of(rd, flow);

	if (!rf)
		return;
	rf->flags |= RF_CLIENT_EOF;
	server_maybe_shut(rf);
}

void relay_tcp_reset(struct relayd *rd, uint32_t flow)
{
	struct relay_flow *rf = flow_of(rd, flow);

	if (!rf)
		return;
	linger_zero(rf);
	rd->stats.flows_reset++;
	relay_flow_free(rf, "reset by client");
}

void relay_tcp_writable(struct relayd *rd, uint32_t flow)
{
	struct relay_flow *rf = flow_of(rd, flow);

	if (rf && (rf->flags & RF_CONNECTED))
		pump_down(rf);
}

void relay_tcp_drop_all(struct relayd *rd)
{
	struct relay_flow *rf;

	while ((rf = TAILQ_FIRST(&rd->flows)) != NULL) {
		linger_zero(rf);
		relay_abort(rf, "dropped");
	}
}

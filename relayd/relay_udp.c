/*
 * UDP NAT: each UDP flow of stackd (one client address:port and one original destination
 * address:port) is one entry here, with one connected UDP socket to the destination.
 *
 * The table is the flow API's: an entry is the udata of its UDP flow, made by the flow's
 * first datagram (the API caps UDP flows at TG_FLOWAPI_MAX_UDP_FLOWS and counts what it
 * refuses). A connected socket receives only from the destination it is connected to, so the
 * mapping filters by endpoint: replies from other hosts or ports never reach the client
 * (endpoint-dependent filtering, not full cone). A client talking to several destinations from
 * one port gets one flow, and one socket, per destination.
 *
 * Errors: IP_RECVERR (IPV6_RECVERR) makes the kernel report ICMP host and net unreachable on
 * the socket, not only port unreachable. The error comes back from the next recv() or send();
 * it becomes a UDP_ERROR towards stackd, which tells the client with an ICMP error of its own.
 * The error queue that IP_RECVERR fills is drained and dropped: recv()/send() already said it.
 *
 * Through a SOCKS5 proxy (upstream "socks5") an entry holds a UDP association instead of a
 * socket (socks5_udp.c), one per entry: the proxy's relay port then stands for exactly one
 * client flow, as our own socket does when direct, and replies need no demultiplexing. A reply
 * whose SOCKS header names a source other than the flow's destination is dropped and counted
 * (the same endpoint filtering). Datagrams wait in the association while it is set up. When
 * it fails or ends (the proxy refused it, is unreachable, died, closed the control
 * connection), the client hears ICMP port or host unreachable (UDP_ERROR) and the entry is
 * closed (CLOSED to stackd): the client's next datagram starts a new flow and association.
 *
 * Idle timeout: one libevent timer per entry, armed for the entry's timeout and re-armed
 * lazily. Traffic only stamps last_used (no timer operation per datagram); when the timer
 * fires it either expires the entry (CLOSED to stackd) or re-arms for the time left.
 *
 * System calls are batched when direct: a UDP_BATCH from stackd (several datagrams of one
 * flow) goes out in one sendmmsg(), and a wakeup reads up to RECV_BATCH datagrams in one
 * recvmmsg(), which the flow API packs into one slot towards stackd. Through a SOCKS5 proxy
 * datagrams still go one by one (each needs its own SOCKS header, and the association may
 * be holding them while it is set up).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dest_policy.h"
#include "log.h"
#include "outbound.h"
#include "relayd.h"
#include "socks5_udp.h"
#include "udp_batch.h"

#define RECV_BATCH   32u    /* datagrams read per wakeup, so one busy socket cannot starve */
#define RECV_CALLS   4u     /* recvmmsg() calls per wakeup, when errors come in between */
#define RX_BUF       65535u /* one datagram, whatever its family */
#define SEND_TRIES   4u     /* sendmmsg() calls per batch that may make no progress */
#define GSO_MAX_SEGS 64u    /* UDP_SEGMENT: segments per send the kernel takes (UDP_MAX_SEGMENTS) */
#define DNS_PORT     53u

static bool gso_off; /* the kernel has no UDP GSO (ENOPROTOOPT): sendmmsg() only */

struct udp_entry {
	TAILQ_ENTRY(udp_entry) entry;
	struct relayd *rd;
	uint32_t flow;
	/* Direct: the socket (socks NULL); through a SOCKS5 proxy: the association (fd -1). */
	int fd;
	struct socks5_udp *socks;
	struct event *ev;    /* the socket is readable (or has an error queued) */
	struct event *timer; /* idle check */
	struct tg_addr client;
	struct tg_addr dst;
	uint32_t timeout_ms;
	uint64_t last_used; /* relay_now_ms() of the last datagram either way */
	uint64_t up;        /* datagrams */
	uint64_t down;
	bool no_gso; /* UDP_SEGMENT refused here (path MTU) */
};

/*
 * One buffer per datagram of a recvmmsg(). Only the pages datagrams are written to get
 * touched: MTU-sized datagrams cost a page or two per buffer, not 64 KiB.
 */
static uint8_t rx_buf[RECV_BATCH][RX_BUF];

uint64_t relay_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timeval ms_to_tv(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000u),
	                     .tv_usec = (suseconds_t)(ms % 1000u) * 1000};

	return tv;
}

static bool same_addr(const struct tg_addr *a, const struct tg_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void entry_free(struct udp_entry *e, const char *how)
{
	struct relayd *rd = e->rd;
	char src[TG_ADDR_STRLEN], dst[TG_ADDR_STRLEN];

	/* Harmless when the API forgot the flow already (stackd ended it). */
	tg_flow_set_udata(rd->api, e->flow, NULL);
	TAILQ_REMOVE(&rd->udp, e, entry);
	if (e->ev)
		event_free(e->ev);
	if (e->timer)
		event_free(e->timer);
	if (e->fd >= 0)
		close(e->fd);
	socks5_udp_free(e->socks);
	rd->udp_stats.flows_open--;
	log_debug("udp flow %" PRIu32 " %s -> %s: %s, %" PRIu64 " datagrams up, %" PRIu64 " down",
	          e->flow, tg_addr_format(&e->client, src, sizeof(src)),
	          tg_addr_format(&e->dst, dst, sizeof(dst)), how, e->up, e->down);
	free(e);
}

/* We end the entry: stackd forgets the flow too, and the client's next datagram starts over. */
static void entry_close(struct udp_entry *e, const char *how)
{
	tg_flow_udp_close(e->rd->api, e->flow);
	entry_free(e, how);
}

/*
 * UDP_ERROR: stackd sends the client ICMP port unreachable (REFUSED; REJECTED too, the UDP
 * counterpart of the RST a TCP client gets) or host unreachable (UNREACHABLE). Only port
 * unreachable is a hard error for a Linux UDP socket (ECONNREFUSED): host unreachable reaches
 * only sockets with IP_RECVERR, so most clients just time out on it.
 */
static void send_error(struct relayd *rd, uint32_t flow, const struct tg_addr *client,
                       const struct tg_addr *dst, enum tg_open_result result)
{
	if (result != TG_OPEN_UNREACHABLE)
		result = TG_OPEN_REFUSED;
	if (tg_flow_udp_error(rd->api, flow, dst, client, result) < 0)
		rd->udp_stats.drop_no_slot++;
	else if (result == TG_OPEN_REFUSED)
		rd->udp_stats.refused_sent++;
	else
		rd->udp_stats.unreach_sent++;
}

/*
 * An errno that stands for an ICMP error about this flow's destination becomes a UDP_ERROR,
 * so that the client hears of it as it would without tungate. Returns false for any other.
 */
static bool report_error(struct relayd *rd, uint32_t flow, const struct tg_addr *client,
                         const struct tg_addr *dst, int err)
{
	enum tg_open_result result;

	switch (err) {
	case ECONNREFUSED:
		result = TG_OPEN_REFUSED;
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
		result = TG_OPEN_UNREACHABLE;
		break;
	default:
		return false;
	}
	send_error(rd, flow, client, dst, result);
	return true;
}

static void deliver(struct udp_entry *e, const uint8_t *data, size_t len)
{
	struct relayd *rd = e->rd;

	/* The socket is connected: whatever it receives comes from e->dst. */
	if (tg_flow_send_udp(rd->api, e->flow, &e->dst, &e->client, data, len) < 0) {
		if (errno == EMSGSIZE)
			rd->udp_stats.drop_too_big++;
		else
			rd->udp_stats.drop_no_slot++;
		return;
	}
	e->down++;
	rd->udp_stats.dgrams_down++;
	rd->udp_stats.bytes_down += len;
}

/* Up to want datagrams into rx_buf[0..]: recvmmsg()'s result, errno as it leaves it. */
static int recv_burst(int fd, struct mmsghdr *msgs, struct iovec *iov, unsigned want)
{
	for (unsigned i = 0; i < want; i++) {
		iov[i].iov_base = rx_buf[i];
		iov[i].iov_len = RX_BUF;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return recvmmsg(fd, msgs, want, MSG_DONTWAIT, NULL);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	static struct mmsghdr msgs[RECV_BATCH];
	static struct iovec iov[RECV_BATCH];
	struct udp_entry *e = arg;
	struct relayd *rd = e->rd;
	unsigned got = 0;

	/* An error (a queued ICMP error) ends a burst; the datagrams after it need another call. */
	for (unsigned calls = 0; calls < RECV_CALLS && got < RECV_BATCH; calls++) {
		unsigned want = RECV_BATCH - got;
		int n = recv_burst(fd, msgs, iov, want);

		rd->udp_stats.recv_calls++;
		if (n > 0) {
			for (int i = 0; i < n; i++)
				deliver(e, rx_buf[i], msgs[i].msg_len);
			got += (unsigned)n;
			if ((unsigned)n < want)
				break; /* drained, or an error waits for the next wakeup */
			continue;
		}
		if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		if (errno == EINTR || report_error(rd, e->flow, &e->client, &e->dst, errno))
			continue;
		rd->udp_stats.recv_errors++;
		log_debug("udp flow %" PRIu32 ": recvmmsg: %s", e->flow, strerror(errno));
		break;
	}
	relay_drain_errqueue(fd);
	if (got > 0)
		e->last_used = relay_now_ms();
}

static void arm_timer(struct udp_entry *e, uint64_t ms)
{
	struct timeval tv = ms_to_tv(ms);

	if (event_add(e->timer, &tv) < 0)
		log_warnx_ratelimited("udp flow %" PRIu32 ": cannot arm the idle timer", e->flow);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct udp_entry *e = arg;
	uint64_t idle = relay_now_ms() - e->last_used;

	if (idle < e->timeout_ms) {
		arm_timer(e, e->timeout_ms - idle);
		return;
	}
	e->rd->udp_stats.expired++;
	entry_close(e, "expired");
}

static void count_socket_failure(struct relayd *rd, uint32_t flow, const char *what, int err)
{
	uint64_t n = ++rd->udp_stats.drop_socket;

	if (err == EMFILE || err == ENFILE)
		rd->stats.open_failed_nofile++;

	/* A client may spray new flows at an fd limit: keep the log readable. */
	if (log_count_worth(n))
		log_warnx("udp flow %" PRIu32 ": %s: %s (%" PRIu64 " so far)", flow, what,
		          strerror(err), n);
}

/*
 * The socket for a new entry, connected to the destination. On failure the entry is not made;
 * a destination that cannot be reached at all is reported to the client right away.
 */
static int open_socket(struct relayd *rd, uint32_t flow, const struct tg_addr *client,
                       const struct tg_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, on = 1, err;

	if (tg_addr_to_sockaddr(dst, &ss, &sslen) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && relay_socket_prepare(fd, ss.ss_family) < 0) {
		err = errno;
		close(fd);
		fd = -1;
		errno = err;
	}
	if (fd < 0) {
		count_socket_failure(rd, flow, "socket", errno);
		return -1;
	}
	if (ss.ss_family == AF_INET)
		err = setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	else
		err = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
	if (err < 0)
		log_warn_ratelimited(
		        "udp flow %" PRIu32 ": RECVERR (only port unreachable is reported)", flow);
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
		err = errno;
		close(fd);
		/* No route: the client learns it as it would from a router. */
		if (report_error(rd, flow, client, dst, err))
			rd->udp_stats.drop_unreachable++;
		else
			count_socket_failure(rd, flow, "connect", err);
		return -1;
	}
	/* Direct only (SOCKS5 goes elsewhere): one of our own addresses (dest_policy.c)? The
	 * connect sent nothing yet. */
	if (!rd->allow_local && relay_socket_is_local(fd)) {
		close(fd);
		rd->dest_refused_local++;
		send_error(rd, flow, client, dst, TG_OPEN_REJECTED);
		return -1;
	}
	return fd;
}

/* ---- through a SOCKS5 proxy: the entry's association (socks5_udp.h) ---- */

static void socks_ready(void *arg)
{
	struct udp_entry *e = arg;

	log_debug("udp flow %" PRIu32 ": socks5 association up", e->flow);
}

static void socks_datagram(void *arg, const struct tg_addr *from, const uint8_t *data, size_t len)
{
	struct udp_entry *e = arg;

	/* What a connected socket does when direct: only the destination answers. */
	if (!same_addr(from, &e->dst)) {
		e->rd->socks_udp_stats.drop_foreign++;
		return;
	}
	deliver(e, data, len);
	e->last_used = relay_now_ms();
}

/*
 * The association failed or ended: the client hears ICMP port unreachable (the proxy refused
 * or failed: what a TCP client hears as RST) or host unreachable, and the entry goes. A proxy
 * that did not answer in time gets no ICMP, as a TCP client in consistent mode gets none.
 */
static void socks_end(void *arg, enum tg_open_result result, const char *why)
{
	struct udp_entry *e = arg;
	char dst[TG_ADDR_STRLEN];

	log_debug("udp flow %" PRIu32 " to %s: socks5: %s", e->flow,
	          tg_addr_format(&e->dst, dst, sizeof(dst)), why);
	if (result != TG_OPEN_TIMEOUT)
		send_error(e->rd, e->flow, &e->client, &e->dst, result);
	entry_close(e, why);
}

static const struct socks5_udp_cbs socks_cbs = {
        .prepare = relay_socket_prepare,
        .on_ready = socks_ready,
        .on_datagram = socks_datagram,
        .on_end = socks_end,
};

/*
 * A new entry, going out the way the rules choose for its destination (once per entry, not
 * per datagram). A reject rule answers ICMP host unreachable and keeps nothing.
 */
static struct udp_entry *entry_new(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                                   const struct tg_addr *dst)
{
	const struct relay_upstream *up = relayd_upstream_for(rd, IPPROTO_UDP, dst);
	struct udp_entry *e;
	int fd = -1;

	if (!up) {
		send_error(rd, flow, src, dst, TG_OPEN_REJECTED);
		tg_flow_udp_close(rd->api, flow);
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		goto fail;
	e->rd = rd;
	e->flow = flow;
	e->client = *src;
	e->dst = *dst;
	if (up->kind == RELAY_UPSTREAM_SOCKS5) {
		e->socks = socks5_udp_new(rd->base, up, &rd->connect_timeout, &rd->socks_udp_stats,
		                          &socks_cbs, e);
		if (!e->socks) {
			count_socket_failure(rd, flow, "socks5 association", errno);
			goto fail;
		}
	} else if ((fd = open_socket(rd, flow, src, dst)) < 0) {
		goto fail;
	}
	e->fd = fd;
	/* DNS answers come at once or never: its entries need not live as long. */
	e->timeout_ms = dst->port == DNS_PORT ? rd->dns_timeout_ms : rd->udp_timeout_ms;
	e->last_used = relay_now_ms();
	TAILQ_INSERT_TAIL(&rd->udp, e, entry);
	rd->udp_stats.flows_open++;
	rd->udp_stats.flows_total++;
	tg_flow_set_udata(rd->api, flow, e);
	if (fd >= 0)
		e->ev = event_new(rd->base, fd, EV_READ | EV_PERSIST, on_readable, e);
	e->timer = evtimer_new(rd->base, on_timer, e);
	if ((fd >= 0 && (!e->ev || event_add(e->ev, NULL) < 0)) || !e->timer) {
		log_warnx_ratelimited("udp flow %" PRIu32 ": cannot set up events", flow);
		rd->udp_stats.drop_socket++;
		entry_close(e, "no events");
		return NULL;
	}
	arm_timer(e, e->timeout_ms);
	return e;
fail:
	if (!e)
		rd->udp_stats.drop_socket++;
	free(e);
	/* Nothing to keep: stackd forgets the flow, the next datagram tries again. */
	tg_flow_udp_close(rd->api, flow);
	return NULL;
}

/*
 * Through the proxy: sent, or held while the association is set up (counted as sent here; a
 * full queue is counted by the association). An error that means the proxy is gone ends the
 * entry from the event loop (socks_end).
 */
static void socks_send(struct udp_entry *e, const void *data, size_t len)
{
	struct relayd *rd = e->rd;

	if (socks5_udp_send(e->socks, &e->dst, data, len) >= 0) {
		e->up++;
		e->last_used = relay_now_ms();
		rd->udp_stats.dgrams_up++;
		rd->udp_stats.bytes_up += len;
	} else if (errno == EMSGSIZE) {
		rd->udp_stats.drop_too_big++;
	} else if (errno != EBUSY) {
		rd->udp_stats.drop_send_error++;
	}
}

/*
 * Sends one datagram. A send() can return an ICMP error that an earlier datagram caused; this
 * one was not sent then, so after reporting the error it is tried once more.
 */
static void entry_send(struct udp_entry *e, const void *data, size_t len)
{
	struct relayd *rd = e->rd;

	if (e->socks) {
		socks_send(e, data, len);
		return;
	}
	for (int tries = 0; tries < 2; tries++) {
		if (send(e->fd, data, len, MSG_DONTWAIT) >= 0) {
			e->up++;
			e->last_used = relay_now_ms();
			rd->udp_stats.dgrams_up++;
			rd->udp_stats.bytes_up += len;
			return;
		}
		if (errno != EINTR && !report_error(rd, e->flow, &e->client, &e->dst, errno))
			break;
	}
	if (errno == EMSGSIZE)
		rd->udp_stats.drop_too_big++;
	else
		rd->udp_stats.drop_send_error++;
}

static void count_sent(struct udp_entry *e, size_t bytes)
{
	e->up++;
	e->rd->udp_stats.dgrams_up++;
	e->rd->udp_stats.bytes_up += bytes;
}

/*
 * Datagrams of one size (the last may be shorter) in one sendmsg() with UDP_SEGMENT: the
 * kernel takes them through its stack as one packet and splits them at the end, which saves
 * most of the per-datagram cost of sendmmsg(). Returns how many went (all or none), or -1
 * with errno when the caller should use sendmmsg() (no GSO here, or not for this batch).
 */
static int send_gso(struct udp_entry *e, const struct iovec *dgrams, unsigned n)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {.msg_iov = (struct iovec *)dgrams, .msg_iovlen = n};
	struct cmsghdr *cm;
	size_t seg = dgrams[0].iov_len, total = 0;
	uint16_t gso;

	if (gso_off || e->no_gso || n < 2 || n > GSO_MAX_SEGS || seg == 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		if (dgrams[i].iov_len > seg || (i + 1 < n && dgrams[i].iov_len != seg) ||
		    dgrams[i].iov_len == 0)
			return -1;
		total += dgrams[i].iov_len;
	}
	if (total > tg_udp_batch_max_payload(e->dst.family))
		return -1;
	gso = (uint16_t)seg;
	memset(&ctl, 0, sizeof(ctl));
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(gso));
	memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
	/* An ICMP error an earlier datagram caused fails the first try: report it, try again. */
	for (int tries = 0; tries < 2; tries++) {
		e->rd->udp_stats.send_calls++;
		if (sendmsg(e->fd, &msg, MSG_DONTWAIT) >= 0) {
			e->rd->udp_stats.gso_sends++;
			return (int)n;
		}
		if (errno != EINTR && !report_error(e->rd, e->flow, &e->client, &e->dst, errno))
			break;
	}
	if (errno == ENOPROTOOPT || errno == EOPNOTSUPP)
		gso_off = true; /* a kernel without UDP GSO */
	else if (errno == EIO || errno == EINVAL || errno == EMSGSIZE)
		e->no_gso = true; /* this path: no checksum offload, or segments beyond its MTU */
	return -1;
}

/*
 * Several datagrams in as few sendmmsg() calls as the socket allows. An ICMP error that an
 * earlier datagram caused fails the call before anything was sent: it is reported and the
 * call repeated, as entry_send() does. (One that comes up after the first datagram of a call
 * is lost by the kernel; the next datagram to the closed port brings a new one.) A full
 * socket buffer or any other error drops the rest of the batch, a datagram too big only
 * itself.
 */
static void entry_send_batch(struct udp_entry *e, const struct iovec *dgrams, unsigned n)
{
	static struct mmsghdr msgs[TG_UDP_BATCH_MAX];
	struct relayd *rd = e->rd;
	unsigned i = 0, stuck = 0;

	if (n > TG_UDP_BATCH_MAX) {
		rd->udp_stats.drop_send_error += n - TG_UDP_BATCH_MAX; /* the flow API never does */
		n = TG_UDP_BATCH_MAX;
	}
	for (unsigned k = 0; k < n; k++) {
		memset(&msgs[k].msg_hdr, 0, sizeof(msgs[k].msg_hdr));
		msgs[k].msg_hdr.msg_iov = (struct iovec *)&dgrams[k];
		msgs[k].msg_hdr.msg_iovlen = 1;
	}
	if (send_gso(e, dgrams, n) > 0) {
		for (unsigned k = 0; k < n; k++)
			count_sent(e, dgrams[k].iov_len);
		e->last_used = relay_now_ms();
		return;
	}
	while (i < n) {
		int sent = sendmmsg(e->fd, msgs + i, n - i, MSG_DONTWAIT);

		rd->udp_stats.send_calls++;
		if (sent > 0) {
			for (int k = 0; k < sent; k++)
				count_sent(e, msgs[i + (unsigned)k].msg_len);
			i += (unsigned)sent;
			e->last_used = relay_now_ms();
			continue;
		}
		if (sent < 0 && errno == EMSGSIZE) {
			rd->udp_stats.drop_too_big++;
			i++;
			continue;
		}
		if (++stuck < SEND_TRIES && (sent == 0 || errno == EINTR ||
		                             report_error(rd, e->flow, &e->client, &e->dst, errno)))
			continue;
		break;
	}
	if (i < n)
		rd->udp_stats.drop_send_error += n - i;
}

/* The flow's entry, made by its first datagram; NULL when there is none (the datagrams drop). */
static struct udp_entry *entry_for(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                                   const struct tg_addr *dst)
{
	struct udp_entry *e = tg_flow_udata(rd->api, flow);

	if (!e)
		return entry_new(rd, flow, src, dst); /* stackd makes UDP flows implicitly */
	if (!same_addr(src, &e->client) || !same_addr(dst, &e->dst)) {
		/* stackd keys flows by these addresses: a change means it is confused. */
		rd->udp_stats.drop_mismatch++;
		return NULL;
	}
	return e;
}

void relay_udp_datagram(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                        const struct tg_addr *dst, const void *data, size_t len)
{
	struct udp_entry *e = entry_for(rd, flow, src, dst);

	if (e)
		entry_send(e, data, len);
}

void relay_udp_batch(struct relayd *rd, uint32_t flow, const struct tg_addr *src,
                     const struct tg_addr *dst, const struct iovec *dgrams, unsigned n)
{
	struct udp_entry *e = entry_for(rd, flow, src, dst);

	if (!e)
		return;
	if (e->socks) {
		/* One SOCKS header each: no batching through the proxy (yet). */
		for (unsigned i = 0; i < n; i++)
			socks_send(e, dgrams[i].iov_base, dgrams[i].iov_len);
		return;
	}
	entry_send_batch(e, dgrams, n);
}

void relay_udp_closed(struct relayd *rd, uint32_t flow)
{
	struct udp_entry *e = tg_flow_udata(rd->api, flow);

	if (e)
		entry_free(e, "closed by stackd");
}

void relay_udp_drop_all(struct relayd *rd)
{
	struct udp_entry *e;

	while ((e = TAILQ_FIRST(&rd->udp)) != NULL)
		entry_close(e, "dropped");
}

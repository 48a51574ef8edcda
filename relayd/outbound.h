/*
 * Every outbound socket relayd opens (TCP, UDP, ICMP, to a destination or to a SOCKS5 proxy)
 * goes through relay_socket_prepare() right after socket(): it carries the mark and is bound
 * to the interface the operator configured ([relay] mark, bind_interface; docs/routing.md),
 * so that a host whose routes point into the TUN does not send relayd's own traffic back in.
 */
#ifndef TG_RELAYD_OUTBOUND_H
#define TG_RELAYD_OUTBOUND_H

#include <net/if.h>

struct relay_outbound {
	unsigned mark;            /* SO_MARK; 0: none */
	char ifname[IF_NAMESIZE]; /* SO_BINDTODEVICE; "": none */
};

/* Called once, before the sandbox; the settings hold for every socket from then on. */
void relay_outbound_init(const struct relay_outbound *ob);

/*
 * Applies the settings to a new socket fd of family AF_INET or AF_INET6. Returns 0, or -1
 * with errno set (the caller closes the fd and fails the flow as for a failed socket()).
 */
int relay_socket_prepare(int fd, int family);

/*
 * Once sandboxed: one socket of each family through relay_socket_prepare, so that a mark the
 * process may not set is a clear error at start instead of every flow failing. Returns 0 or -1.
 */
int relay_outbound_selftest(void);

/*
 * With IP_RECVERR a UDP socket also queues each ICMP error it reported through recv()/send():
 * drops up to a bounded number of them, so the queue cannot grow.
 */
void relay_drain_errqueue(int fd);

#endif

/*
 * What stackd adds on top of lwIP's raw API to terminate flows for any destination. Built on
 * the accept-any patch (stackd/lwip-patches/0001-accept-any-destination.patch): the one netif
 * accepts every unicast destination, and a TCP listener or an unconnected UDP pcb whose local
 * port is 0 catches, with the lowest priority, everything no other pcb matched.
 *
 * The original destination of a flow is what lwIP sees as the local end:
 *   TCP: in the accept callback, newpcb->local_ip / newpcb->local_port (the client is
 *        newpcb->remote_ip / newpcb->remote_port).
 *   UDP: in the recv callback, ip_current_dest_addr() and tg_lwip_udp_current_dest_port();
 *        the callback's addr/port arguments are the client.
 *
 * All of these run on stackd's single lwIP thread (NO_SYS), like every lwIP call.
 *
 * What stackd has to do around the patch:
 *   - give the netif an IPv4 address (any will do), or no IPv4 is accepted; IPv6 needs none;
 *   - filter ICMP echo requests before lwIP, which would answer them for every address;
 *   - reject destination port 0 itself: the wildcards take it, with local port 0.
 */
#ifndef TG_LWIP_H
#define TG_LWIP_H

#include <stdint.h>

#include "lwip/err.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

/*
 * A listening pcb for every IPv4 and IPv6 destination and port. Set tcp_accept() (and tcp_arg())
 * on it. Returns NULL if lwIP is out of memory. Close it with tcp_close().
 */
struct tcp_pcb *tg_lwip_tcp_listen_any(void);

/*
 * An unconnected UDP pcb receiving every IPv4 and IPv6 datagram no other pcb takes, including
 * IPv4 broadcasts and multicasts the netif accepts: filter on ip_current_dest_addr(). Set
 * udp_recv() on it. Returns NULL if lwIP is out of memory. Remove it with udp_remove().
 * Never call udp_send()/udp_sendto() on it (lwIP would bind it to an ephemeral port and end
 * the wildcard): answer with tg_lwip_udp_send_from().
 */
struct udp_pcb *tg_lwip_udp_bind_any(void);

/*
 * The destination port of the datagram being delivered, in host order. Only meaningful inside
 * a UDP recv callback.
 */
uint16_t tg_lwip_udp_current_dest_port(void);

/*
 * Sends p (the UDP payload; at most 0xffff - 8 bytes, as pbuf lengths are 16-bit) from
 * src:src_port to dst:dst_port, e.g. a reply from a flow's original destination to the client.
 * pcb is an unconnected pcb such as the wildcard one; it stays unchanged. src and dst must be
 * of the same family. p stays owned by the caller. Returns lwIP's error code (ERR_RTE if no
 * netif is up).
 */
err_t tg_lwip_udp_send_from(struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *src,
                            uint16_t src_port, const ip_addr_t *dst, uint16_t dst_port);

/* How many lwIP assertions failed (and were survived, in release builds); see sys_arch.c. */
uint64_t tg_lwip_assert_count(void);

#endif

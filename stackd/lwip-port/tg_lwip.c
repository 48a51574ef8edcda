/*
 * Wildcard pcbs for the accept-any patch. Port 0 is what marks a pcb as a wildcard (see the
 * patch); lwIP itself never leaves a bound pcb on port 0, so no other pcb can be mistaken
 * for one.
 */
#include "tg_lwip.h"

#include "lwip/ip.h"

struct tcp_pcb *tg_lwip_tcp_listen_any(void)
{
	struct tcp_pcb *pcb, *lpcb;
	err_t err;

	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (pcb == NULL)
		return NULL;
	/*
	 * No tcp_bind(): it would pick an ephemeral port for 0. Listening on the unbound pcb
	 * keeps the local port at 0 and the local address at "any IPv4 or IPv6".
	 */
	lpcb = tcp_listen_with_backlog_and_err(pcb, TCP_DEFAULT_LISTEN_BACKLOG, &err);
	if (lpcb == NULL) {
		/* tcp_listen frees pcb only on success. */
		tcp_abort(pcb);
		return NULL;
	}
	return lpcb;
}

struct udp_pcb *tg_lwip_udp_bind_any(void)
{
	struct udp_pcb *pcb;

	pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (pcb == NULL)
		return NULL;
	/*
	 * udp_input() only looks at pcbs on its list, and udp_bind() is what puts them there;
	 * it also picks an ephemeral port for 0, so set the wildcard port afterwards.
	 */
	if (udp_bind(pcb, IP_ANY_TYPE, 0) != ERR_OK) {
		udp_remove(pcb);
		return NULL;
	}
	pcb->local_port = 0;
	return pcb;
}

uint16_t tg_lwip_udp_current_dest_port(void)
{
	return udp_tg_current_dest_port;
}

err_t tg_lwip_udp_send_from(struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *src,
                            uint16_t src_port, const ip_addr_t *dst, uint16_t dst_port)
{
	struct netif *netif;
	uint16_t saved_port;
	err_t err;

	if (src_port == 0 || IP_GET_TYPE(src) != IP_GET_TYPE(dst) || IP_IS_ANY_TYPE_VAL(*src))
		return ERR_VAL;
	netif = ip_route(src, dst);
	if (netif == NULL)
		return ERR_RTE;
	/*
	 * lwIP takes the source port from the pcb: lend it src_port for this one datagram. A
	 * non-zero port also keeps udp_sendto_if_src() from binding the pcb.
	 */
	saved_port = pcb->local_port;
	pcb->local_port = src_port;
	err = udp_sendto_if_src(pcb, p, dst, dst_port, netif, src);
	pcb->local_port = saved_port;
	return err;
}

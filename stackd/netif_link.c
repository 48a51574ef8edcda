/*
 * lwIP's only network interface: packets arrive from tunio as link A descriptors and leave
 * through link A slots. The TUN carries bare IP packets, so there is no link layer here.
 *
 * Before lwIP sees a packet, a minimal check drops what cannot be parsed and, in consistent
 * handshake mode, takes out SYNs, which wait for relayd's connect result (syn_hold.c). Echo
 * requests, which lwIP would answer for every address, are taken after reassembly (icmp.c).
 */
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"

#include "log.h"
#include "proto.h"
#include "stackd.h"
#include "syn_hold.h"

static struct netif tun_netif;

/* Copies one outgoing packet into a link A slot; no slot means the packet is lost to TCP. */
static err_t link_output(struct netif *netif, struct pbuf *p)
{
	struct stackd *sd = netif->state;
	struct tg_desc d = {.type = TG_MSG_PACKET};

	if (p->tot_len > tg_link_slot_size(sd->link_a)) {
		sd->ctr.drop_malformed++;
		return ERR_MEM;
	}
	d.slot = tg_link_alloc(sd->link_a);
	if (d.slot == TG_NO_SLOT) {
		sd->ctr.drop_no_slot_a++;
		return ERR_MEM;
	}
	d.len = pbuf_copy_partial(p, tg_link_slot(sd->link_a, d.slot), p->tot_len, 0);
	if (tg_link_send(sd->link_a, &d) < 0) {
		tg_link_unalloc(sd->link_a, d.slot);
		sd->ctr.drop_no_slot_a++;
		return ERR_MEM;
	}
	sd->ctr.pkts_out++;
	sd->ctr.bytes_out += d.len;
	return ERR_OK;
}

static err_t output_ip4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	return link_output(netif, p);
}

static err_t output_ip6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
	return link_output(netif, p);
}

static err_t tun_netif_init(struct netif *netif)
{
	struct stackd *sd = netif->state;

	netif->name[0] = 't';
	netif->name[1] = 'g';
	netif->mtu = (u16_t)sd->mtu;
	netif->output = output_ip4;
	netif->output_ip6 = output_ip6;
	netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

int netif_link_init(struct stackd *sd)
{
	ip4_addr_t addr, mask, gw;

	/*
	 * lwIP routes nothing through a default netif without an address. This one is never
	 * seen by clients (every destination is accepted), so a link-local address will do.
	 */
	IP4_ADDR(&addr, 169, 254, 53, 1);
	IP4_ADDR(&mask, 255, 255, 255, 255);
	ip4_addr_set_zero(&gw);
	if (!netif_add(&tun_netif, &addr, &mask, &gw, sd, tun_netif_init, ip_input))
		return -1;
	netif_create_ip6_linklocal_address(&tun_netif, 1);
	netif_set_default(&tun_netif);
	netif_set_up(&tun_netif);
	netif_set_link_up(&tun_netif);
	sd->netif = &tun_netif;
	return 0;
}

/* Returns true if lwIP should not see this packet; counts why. */
static bool filter_packet(struct stackd *sd, const uint8_t *pkt, uint32_t len)
{
	unsigned version;

	if (len < 1) {
		sd->ctr.drop_malformed++;
		return true;
	}
	version = pkt[0] >> 4;
	if (version == 4) {
		unsigned ihl = (pkt[0] & 0x0f) * 4u;

		if (len < IP_HLEN || ihl < IP_HLEN || ihl > len) {
			sd->ctr.drop_malformed++;
			return true;
		}
		return syn_hold_input(pkt, len);
	}
	if (version == 6) {
		if (len < IP6_HLEN) {
			sd->ctr.drop_malformed++;
			return true;
		}
		/* Only a first-header ICMPv6 or TCP is looked at; lwIP handles the rest. */
		return syn_hold_input(pkt, len);
	}
	sd->ctr.drop_malformed++;
	return true;
}

static void input_packet(struct stackd *sd, const uint8_t *pkt, uint32_t len)
{
	struct pbuf *p;

	sd->ctr.pkts_in++;
	sd->ctr.bytes_in += len;
	if (filter_packet(sd, pkt, len))
		return;
	if (len > 0xffff) {
		sd->ctr.drop_malformed++;
		return;
	}
	/* Copy out of shared memory first: lwIP keeps pbufs, and the peer could rewrite them. */
	p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	if (!p) {
		sd->ctr.drop_malformed++;
		return;
	}
	memcpy(p->payload, pkt, len);
	if (sd->netif->input(p, sd->netif) != ERR_OK)
		pbuf_free(p);
}

unsigned netif_link_drain(struct tg_link_end *end, unsigned budget, void *arg)
{
	struct stackd *sd = arg;
	struct tg_desc d[TG_LINK_BURST];
	unsigned n, total = 0;

	while (total < budget && (n = tg_link_recv(end, d, TG_LINK_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			if (!sd->hello_a) {
				struct tg_msg_hello h;

				if (tg_hello_check(end, &d[i], TG_ROLE_TUNIO, &h) < 0)
					fatalx("link A: tunio's HELLO failed, giving up");
				sd->hello_a = true;
				continue;
			}
			if (d[i].type == TG_MSG_PACKET && d[i].slot != TG_NO_SLOT)
				input_packet(sd, tg_link_peer_slot(end, d[i].slot), d[i].len);
			else
				sd->ctr.drop_bad_msg++;
			if (d[i].slot != TG_NO_SLOT)
				tg_link_release(end, d[i].slot);
		}
		total += n;
	}
	/* Returned link A slots may unblock nothing here, but link B may have queued work. */
	stackd_flush_links();
	stackd_lwip_timer_update();
	return total;
}

/*
 * lwIP's only network interface: packets arrive from tunio as link A descriptors and leave
 * through link A slots. A TUN carries bare IP packets, so there is no link layer; a TAP
 * (--tap, docs/modes.md) carries Ethernet frames, and the netif becomes an Ethernet netif
 * with the gateway's MAC and addresses, so that lwIP answers ARP and neighbour solicitations
 * for the gateway itself; proxy ARP/NDP and router solicitations are tap_answer.c's.
 *
 * Before lwIP sees a packet, a minimal check drops what cannot be parsed and, in consistent
 * handshake mode, takes out SYNs, which wait for relayd's connect result (syn_hold.c). Echo
 * requests, which lwIP would answer for every address, are taken after reassembly (icmp.c).
 */
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/ip6.h"
#include "netif/ethernet.h"

#include "log.h"
#include "offload.h"
#include "proto.h"
#include "stackd.h"
#include "syn_hold.h"
#include "tap_answer.h"

static struct netif tun_netif;

/* Copies one outgoing packet into a link A slot; no slot means the packet is lost to TCP. */
static err_t link_output(struct netif *netif, struct pbuf *p)
{
	struct stackd *sd = netif->state;
	struct tg_desc d = {.type = TG_MSG_PACKET};

	if (offload_active(sd))
		return offload_link_output(sd, p);
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
	if (sd->tap) {
		/* lwIP adds and resolves the Ethernet header; link_output sends whole frames. */
		netif->output = etharp_output;
		netif->output_ip6 = ethip6_output;
		netif->linkoutput = link_output;
		netif->hwaddr_len = ETH_HWADDR_LEN;
		memcpy(netif->hwaddr, sd->gw_mac, ETH_HWADDR_LEN);
		netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP | NETIF_FLAG_ETHARP |
		               NETIF_FLAG_ETHERNET | NETIF_FLAG_BROADCAST |
		               NETIF_FLAG_MLD6; /* joins solicited-node groups: ND needs them */
		return ERR_OK;
	}
	netif->output = output_ip4;
	netif->output_ip6 = output_ip6;
	netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

/* TAP: the gateway's global IPv6 address, usable at once (no DAD: the address is ours). */
static int add_gateway_ipv6(struct stackd *sd)
{
	ip6_addr_t a;
	s8_t idx;

	if (!sd->has_gw_ipv6)
		return 0;
	memcpy(&a.addr, sd->gw_ipv6, sizeof(a.addr));
	ip6_addr_clear_zone(&a);
	if (netif_add_ip6_address(&tun_netif, &a, &idx) != ERR_OK)
		return -1;
	netif_ip6_addr_set_state(&tun_netif, idx, IP6_ADDR_PREFERRED);
	return 0;
}

int netif_link_init(struct stackd *sd)
{
	ip4_addr_t addr, mask, gw;

	if (sd->tap) {
		/*
		 * The gateway's own address on the segment: lwIP answers ARP for it, and
		 * resolves clients (which must be on this subnet) with ARP from it.
		 */
		addr.addr = sd->gw_ipv4;
		mask.addr = sd->gw_ipv4_mask;
	} else {
		/*
		 * lwIP routes nothing through a default netif without an address. This one is
		 * never seen by clients (every destination is accepted), so a link-local address
		 * will do.
		 */
		IP4_ADDR(&addr, 169, 254, 53, 1);
		IP4_ADDR(&mask, 255, 255, 255, 255);
	}
	ip4_addr_set_zero(&gw);
	/*
	 * input stays ip_input in both modes: held SYNs are replayed (syn_hold.c) as bare IP
	 * packets through netif->input. TAP frames go through ethernet_input in input_packet.
	 */
	if (!netif_add(&tun_netif, &addr, &mask, &gw, sd, tun_netif_init, ip_input))
		return -1;
	/* From the MAC in TAP mode: the fe80:: address neighbours expect for it. */
	netif_create_ip6_linklocal_address(&tun_netif, 1);
	if (sd->tap) {
		netif_ip6_addr_set_state(&tun_netif, 0, IP6_ADDR_PREFERRED);
		if (add_gateway_ipv6(sd) < 0)
			return -1;
	}
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

/*
 * TAP: returns true if lwIP should not see this frame; counts why. Only frames for the
 * gateway's MAC, broadcast and the IPv4/IPv6 multicast ranges pass: lwIP accepts every IP
 * destination, so it would otherwise terminate traffic between other hosts on the segment.
 * IP frames then go through the same checks as TUN packets, on the packet inside.
 */
static bool filter_frame(struct stackd *sd, const uint8_t *f, uint32_t len)
{
	static const uint8_t bcast[ETH_HWADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint16_t type;

	if (len < SIZEOF_ETH_HDR) {
		sd->ctr.drop_malformed++;
		return true;
	}
	if (memcmp(f, sd->gw_mac, ETH_HWADDR_LEN) != 0 && memcmp(f, bcast, ETH_HWADDR_LEN) != 0 &&
	    !(f[0] == 0x01 && f[1] == 0x00 && f[2] == 0x5e) && !(f[0] == 0x33 && f[1] == 0x33)) {
		sd->ctr.drop_l2_foreign++;
		return true;
	}
	type = (uint16_t)(f[12] << 8 | f[13]);
	switch (type) {
	case ETHTYPE_ARP:
		return false; /* lwIP's etharp checks the rest */
	case ETHTYPE_IP:
	case ETHTYPE_IPV6:
		if (len == SIZEOF_ETH_HDR ||
		    ((f[SIZEOF_ETH_HDR] >> 4) == 4) != (type == ETHTYPE_IP)) {
			sd->ctr.drop_malformed++;
			return true;
		}
		return filter_packet(sd, f + SIZEOF_ETH_HDR, len - SIZEOF_ETH_HDR);
	case ETHTYPE_VLAN:
	case ETHTYPE_QINQ:
		sd->ctr.drop_l2_vlan++; /* not supported: docs/modes.md */
		return true;
	default:
		sd->ctr.drop_l2_ethertype++;
		return true;
	}
}

static void input_packet(struct stackd *sd, const uint8_t *pkt, uint32_t len, bool skip_l4_check)
{
	struct pbuf *p;

	sd->ctr.pkts_in++;
	sd->ctr.bytes_in += len;
	if (sd->tap ? filter_frame(sd, pkt, len) : filter_packet(sd, pkt, len))
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
	if (sd->tap && tap_answer_input(sd, p)) {
		pbuf_free(p); /* answered for lwIP: proxy ARP/NDP, router solicitations */
	} else if (sd->tap) {
		/* Frees p itself, whatever it returns. */
		ethernet_input(p, sd->netif);
	} else if (offload_netif_input(sd, p, skip_l4_check) != ERR_OK) {
		pbuf_free(p);
	}
	/* A SYN may have made a half-open pcb: it counts against the half-open cap now. */
	tcp_flow_claim_half_open();
}

/* A packet behind a vnet header (TG_PKT_F_VNET): offload.c checks it first. */
static void input_vnet_packet(struct stackd *sd, const uint8_t *slot, uint32_t len)
{
	const uint8_t *pkt;
	uint32_t pkt_len;
	bool skip_l4_check;

	if (offload_input_prepare(sd, slot, len, &pkt, &pkt_len, &skip_l4_check))
		input_packet(sd, pkt, pkt_len, skip_l4_check);
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
			if (d[i].type == TG_MSG_PACKET && d[i].slot != TG_NO_SLOT &&
			    (d[i].flags & TG_PKT_F_VNET))
				input_vnet_packet(sd, tg_link_peer_slot(end, d[i].slot), d[i].len);
			else if (d[i].type == TG_MSG_PACKET && d[i].slot != TG_NO_SLOT)
				input_packet(sd, tg_link_peer_slot(end, d[i].slot), d[i].len,
				             false);
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

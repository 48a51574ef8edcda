/*
 * The vnet header between lwIP and link A (offload.h). The checks and the checksum arithmetic
 * are in vnet.c; this file is the part that knows lwIP and stackd's counters.
 *
 * lwIP's checksum switches are per netif (LWIP_CHECKSUM_CTRL_PER_NETIF): once the TUN has
 * proved to carry the header, TCP checksum generation is off for good (vnet_tx_fill() leaves
 * the kernel a partial checksum instead), and the TCP check is switched off around the input
 * of one super-packet at a time.
 */
#include "offload.h"

#include <string.h>

#include "lwip/netif.h"
#include "lwip/pbuf.h"

#include "link.h"

#include "proto.h"
#include "stackd.h"
#include "vnet.h"

static bool vnet_seen;
/* A received packet whose partial checksum stackd finishes; at most one IP packet long. */
static uint8_t scratch[0xffff];

static u16_t netif_flags(void)
{
	return NETIF_CHECKSUM_ENABLE_ALL & ~(vnet_seen ? NETIF_CHECKSUM_GEN_TCP : 0);
}

bool offload_active(const struct stackd *sd)
{
	return vnet_seen && !sd->tap;
}

static void offload_learn(struct stackd *sd)
{
	if (vnet_seen)
		return;
	vnet_seen = true;
	NETIF_SET_CHECKSUM_CTRL(sd->netif, netif_flags());
}

bool offload_input_prepare(struct stackd *sd, const uint8_t *slot, uint32_t len,
                           const uint8_t **pkt, uint32_t *pkt_len, bool *skip_check)
{
	struct tg_vnet_hdr h;

	/* tungate sets IFF_VNET_HDR on a TUN only; a TAP frame never has the header. */
	if (sd->tap || len <= TG_VNET_HDR_LEN || len - TG_VNET_HDR_LEN > sizeof(scratch)) {
		sd->ctr.drop_vnet_bad++;
		return false;
	}
	memcpy(&h, slot, sizeof(h));
	*pkt = slot + TG_VNET_HDR_LEN;
	*pkt_len = len - TG_VNET_HDR_LEN;
	*skip_check = false;
	/*
	 * The packet is in tunio's shared memory and could change under us: the verdict's
	 * bounds depend only on h and len (our copies), so whatever the bytes become, finishing
	 * the checksum stays inside scratch; a changed packet only gets a wrong checksum.
	 */
	switch (vnet_rx_check(&h, *pkt, *pkt_len)) {
	case VNET_RX_DROP:
		sd->ctr.drop_vnet_bad++;
		return false;
	case VNET_RX_PLAIN:
		break;
	case VNET_RX_COMPLETE:
		memcpy(scratch, *pkt, *pkt_len);
		vnet_csum_complete(scratch, *pkt_len, h.csum_start, h.csum_offset);
		*pkt = scratch;
		break;
	case VNET_RX_SKIP_CHECK:
		*skip_check = true;
		if (h.gso_type != VNET_GSO_NONE)
			sd->ctr.vnet_gso_in++;
		break;
	}
	offload_learn(sd);
	return true;
}

err_t offload_netif_input(struct stackd *sd, struct pbuf *p, bool skip_check)
{
	err_t err;

	if (!skip_check)
		return sd->netif->input(p, sd->netif);
	/*
	 * lwIP runs single-threaded without an OS (NO_SYS): input handles this one packet to the
	 * end, replies included, before it returns, so the switch covers this packet alone. A
	 * super-packet is never an IP fragment (vnet_rx_check()), so no reassembly done by this
	 * call can carry an earlier fragment's data past the check. Replies are unaffected: only
	 * the TCP check goes, generation stays as it is.
	 */
	NETIF_SET_CHECKSUM_CTRL(sd->netif, netif_flags() & ~NETIF_CHECKSUM_CHECK_TCP);
	err = sd->netif->input(p, sd->netif);
	NETIF_SET_CHECKSUM_CTRL(sd->netif, netif_flags());
	return err;
}

/* The super-packet being built towards the client (vnet.h); slot TG_NO_SLOT: none. */
static struct {
	const struct tg_link_end *end; /* and its epoch: the slot is of that link only */
	uint32_t epoch;
	uint32_t slot;
	struct vnet_gso g;
} tx = {.slot = TG_NO_SLOT};

/* Queues one finished packet (header already in the slot) for tunio. */
static void tx_send(struct stackd *sd, uint32_t slot, uint32_t len)
{
	struct tg_desc d = {
	        .type = TG_MSG_PACKET, .flags = TG_PKT_F_VNET, .slot = slot, .len = len};

	if (tg_link_send(sd->link_a, &d) < 0) {
		tg_link_unalloc(sd->link_a, slot);
		sd->ctr.drop_no_slot_a++; /* lwIP was told it went out: TCP retransmits */
	}
}

void offload_tx_flush(struct stackd *sd)
{
	struct tg_vnet_hdr h;
	uint8_t *slot;
	uint32_t len;

	if (tx.slot == TG_NO_SLOT)
		return;
	/* Never across a link renewal: the slot belonged to the old segment. */
	if (tx.end != sd->link_a || tx.epoch != tg_link_epoch(sd->link_a)) {
		tx.slot = TG_NO_SLOT;
		return;
	}
	slot = tg_link_slot(sd->link_a, tx.slot);
	len = vnet_gso_close(&tx.g, slot + TG_VNET_HDR_LEN, &h);
	memcpy(slot, &h, sizeof(h));
	if (tx.g.segs > 1)
		sd->ctr.vnet_gso_out++;
	tx_send(sd, tx.slot, TG_VNET_HDR_LEN + len);
	tx.slot = TG_NO_SLOT;
}

/* Appends p to the open super-packet if it continues it. */
static bool tx_coalesce(struct stackd *sd, struct pbuf *p, uint32_t max)
{
	uint8_t hdr[128]; /* IPv4 with options and TCP with options: 120 bytes at most */
	uint16_t hdr_len;
	uint8_t *pkt;

	if (tx.slot == TG_NO_SLOT || tx.end != sd->link_a || tx.epoch != tg_link_epoch(sd->link_a))
		return false;
	pkt = (uint8_t *)tg_link_slot(sd->link_a, tx.slot) + TG_VNET_HDR_LEN;
	hdr_len = pbuf_copy_partial(p, hdr, p->tot_len < sizeof(hdr) ? p->tot_len : sizeof(hdr), 0);
	if (!vnet_gso_fits(&tx.g, pkt, hdr, hdr_len, p->tot_len, max))
		return false;
	pbuf_copy_partial(p, pkt + tx.g.len, (u16_t)(p->tot_len - tx.g.hlen), tx.g.hlen);
	vnet_gso_append(&tx.g, pkt, hdr, p->tot_len);
	return true;
}

err_t offload_link_output(struct stackd *sd, struct pbuf *p)
{
	uint32_t room = tg_link_slot_size(sd->link_a) - TG_VNET_HDR_LEN;
	struct tg_vnet_hdr h;
	uint32_t slot, len;
	uint8_t *pkt;

	if (p->tot_len > room) {
		sd->ctr.drop_malformed++;
		return ERR_MEM;
	}
	sd->ctr.pkts_out++;
	sd->ctr.bytes_out += p->tot_len;
	if (tx_coalesce(sd, p, room))
		return ERR_OK;
	offload_tx_flush(sd);
	slot = tg_link_alloc(sd->link_a);
	if (slot == TG_NO_SLOT) {
		sd->ctr.drop_no_slot_a++;
		return ERR_MEM;
	}
	pkt = (uint8_t *)tg_link_slot(sd->link_a, slot) + TG_VNET_HDR_LEN;
	len = pbuf_copy_partial(p, pkt, p->tot_len, 0);
	if (vnet_gso_open(&tx.g, pkt, len)) {
		tx.end = sd->link_a;
		tx.epoch = tg_link_epoch(sd->link_a);
		tx.slot = slot;
		return ERR_OK;
	}
	/*
	 * Not a segment others may follow: it goes now. lwIP left a TCP checksum at 0
	 * (generation is off), and every TCP packet lwIP sends is unfragmented with no IPv6
	 * extension header, which is what vnet_tx_fill() describes. Anything else (UDP, ICMP)
	 * has its checksum from lwIP and goes with a zero header.
	 */
	vnet_tx_fill(&h, pkt, len);
	memcpy(pkt - TG_VNET_HDR_LEN, &h, sizeof(h));
	tx_send(sd, slot, TG_VNET_HDR_LEN + len);
	return ERR_OK;
}

/*
 * fuzz_vnet: the virtio_net_hdr checks and checksum arithmetic of stackd/vnet.c, which stackd
 * applies to every packet tunio reads from a TUN with offloads (the header comes from the
 * clients' kernel, or from any local user with a packet socket), and the coalescing of TCP
 * segments into GSO packets towards the client.
 *
 * Input: one mode byte. Even: a header (10 bytes) and a packet (the rest): vnet_rx_check(),
 * then vnet_csum_complete() on an exactly sized copy when the verdict says so. Odd: segments,
 * each a 16-bit length and that many bytes; the first opens a super-packet (vnet_gso_open),
 * each next one is appended if vnet_gso_fits(), and the result is closed.
 *
 * Oracles besides ASan/UBSan: a finished checksum plus the pseudo-header sum it replaced is
 * all ones (what the receiver checks); a super-packet never exceeds 64 KiB, its IPv4 header
 * checksum is right, and its TCP checksum, once the kernel would finish it, is right for the
 * whole packet; a super-packet of more than one segment has a GSO type of its IP version.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "inet_csum.h"
#include "vnet.h"

static uint32_t pseudo_sum(const uint8_t *pkt, uint32_t l4, uint32_t len)
{
	uint32_t s = (pkt[0] >> 4) == 4 ? tg_csum_add(pkt + 12, 8, 0) : tg_csum_add(pkt + 8, 32, 0);

	return s + 6 + (len - l4);
}

static void rx_mode(struct fuzz_in *in)
{
	struct tg_vnet_hdr h;
	size_t got;
	const uint8_t *hb = fuzz_take(in, sizeof(h), &got);
	const uint8_t *pkt;
	uint8_t *copy;
	uint32_t len, at;
	uint16_t before;

	memset(&h, 0, sizeof(h));
	memcpy(&h, hb, got);
	pkt = fuzz_take(in, 0xffff, &got);
	len = (uint32_t)got;
	switch (vnet_rx_check(&h, pkt, len)) {
	case VNET_RX_COMPLETE:
		copy = malloc(len ? len : 1);
		memcpy(copy, pkt, len);
		at = (uint32_t)h.csum_start + h.csum_offset;
		before = (uint16_t)(copy[at] << 8 | copy[at + 1]);
		vnet_csum_complete(copy, len, h.csum_start, h.csum_offset);
		if (tg_csum_fold(tg_csum_add(copy + h.csum_start, len - h.csum_start, before)) !=
		    0xffff)
			fuzz_fail("finished checksum does not add up");
		free(copy);
		break;
	case VNET_RX_SKIP_CHECK:
		if (len < 20 || (pkt[0] >> 4 == 4 ? pkt[9] : pkt[6]) != 6)
			fuzz_fail("a packet that is not TCP skips the check");
		break;
	default:
		break;
	}
}

static void gso_mode(struct fuzz_in *in)
{
	static uint8_t big[0x10000 + 128];
	struct vnet_gso g;
	struct tg_vnet_hdr h;
	size_t got;
	const uint8_t *seg = fuzz_take(in, fuzz_u16(in), &got);
	uint32_t len;

	memcpy(big, seg, got);
	if (!vnet_gso_open(&g, big, (uint32_t)got))
		return;
	while (in->n > 0) {
		seg = fuzz_take(in, fuzz_u16(in), &got);
		if (vnet_gso_fits(&g, big, seg, (uint32_t)got, (uint32_t)got, sizeof(big))) {
			memcpy(big + g.len, seg + g.hlen, got - g.hlen);
			vnet_gso_append(&g, big, seg, (uint32_t)got);
		}
	}
	len = vnet_gso_close(&g, big, &h);
	if (len > 0xffff || len != g.len)
		fuzz_fail("super-packet of %u bytes", len);
	if ((big[0] >> 4) == 4 && tg_csum_fold(tg_csum_add(big, g.l4, 0)) != 0xffff)
		fuzz_fail("IPv4 header checksum wrong");
	if (g.segs > 1 && h.gso_type != ((big[0] >> 4) == 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6))
		fuzz_fail("GSO type %u", h.gso_type);
	if (h.flags != VNET_F_NEEDS_CSUM || h.csum_start != g.l4 || h.csum_offset != 16)
		fuzz_fail("partial checksum not described");
	vnet_csum_complete(big, len, h.csum_start, h.csum_offset);
	if (tg_csum_fold(tg_csum_add(big + g.l4, len - g.l4, pseudo_sum(big, g.l4, len))) != 0xffff)
		fuzz_fail("TCP checksum of the super-packet wrong");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	if (fuzz_u8(&in) & 1)
		gso_mode(&in);
	else
		rx_mode(&in);
	return 0;
}

/*
 * Link creation for the supervisor. Only tungate initialises a link's rings: a child that
 * attaches checks the header instead, so a restarted child can never wipe a live ring.
 */
#include "links.h"

#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "link.h"
#include "log.h"
#include "proto.h"

uint32_t tg_link_a_slot_size(unsigned mtu, bool vnet_hdr)
{
	/*
	 * Room for the largest packet plus headroom, in whole cache lines. With the vnet header,
	 * the kernel hands over TCP super-packets of up to 64 KiB whatever the MTU, behind the
	 * header. The slots are reused last-freed-first, so only the slots that a burst needed
	 * at once are ever touched (and counted in RSS/PSS); the rest is address space.
	 */
	if (vnet_hdr)
		mtu = (mtu > 0xffffu ? mtu : 0xffffu) + TG_VNET_HDR_LEN;
	return (mtu + TG_LINK_A_HEADROOM + 63u) & ~63u;
}

static void link_create(struct tg_shm_link *link, const char *name, uint32_t slot_size,
                        uint32_t slot_count, uint32_t epoch)
{
	struct tg_link_params params = {
	        .name = name,
	        .slot_size = slot_size,
	        .slot_count = slot_count,
	        .epoch = epoch,
	};

	link->name = name;
	link->epoch = epoch;
	link->slot_size = slot_size;
	link->slot_count = slot_count;
	link->memfd = tg_link_create(&params);
	if (link->memfd < 0)
		fatal("link %s: create (%u slots of %u bytes)", name, slot_count, slot_size);
	for (int side = 0; side < 2; side++) {
		link->bell[side] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (link->bell[side] < 0)
			fatal("link %s: eventfd", name);
	}
	log_debug("link %s: memfd %d, %u slots of %u bytes per side, bells %d and %d", name,
	          link->memfd, slot_count, slot_size, link->bell[0], link->bell[1]);
}

void tg_links_create(struct tg_shm_link *a, struct tg_shm_link *b, unsigned mtu, bool vnet_hdr)
{
	link_create(a, "A", tg_link_a_slot_size(mtu, vnet_hdr), TG_LINK_A_SLOTS,
	            TG_LINK_FIRST_EPOCH);
	link_create(b, "B", TG_LINK_B_SLOT_SIZE, TG_LINK_B_SLOTS, TG_LINK_FIRST_EPOCH);
}

void tg_links_renew(struct tg_shm_link *link)
{
	uint32_t epoch = link->epoch + 1;

	tg_links_close(link);
	link_create(link, link->name, link->slot_size, link->slot_count, epoch);
}

void tg_links_close(struct tg_shm_link *link)
{
	close(link->memfd);
	close(link->bell[0]);
	close(link->bell[1]);
	link->memfd = link->bell[0] = link->bell[1] = -1;
}

void tg_links_fdarg(const struct tg_shm_link *link, int side, char *buf, size_t len)
{
	snprintf(buf, len, "%d,%d,%d", link->memfd, link->bell[side], link->bell[!side]);
}

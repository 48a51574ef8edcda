/* The HELLO exchange that opens every link: versions and epochs are checked, not assumed. */
#include <string.h>
#include <unistd.h>

#include "link.h"
#include "log.h"
#include "proto.h"

int tg_hello_send(struct tg_link_end *end, enum tg_link_role role, uint32_t window)
{
	struct tg_msg_hello h = {
	        .magic = TG_LINK_MAGIC,
	        .version_min = TG_PROTO_VERSION_MIN,
	        .version_max = TG_PROTO_VERSION_MAX,
	        .epoch = tg_link_epoch(end),
	        .pid = (uint32_t)getpid(),
	        .role = role,
	        .window = window,
	};

	return tg_link_send_copy(end, TG_MSG_HELLO, 0, 0, &h, sizeof(h));
}

int tg_hello_check(struct tg_link_end *end, const struct tg_desc *d, enum tg_link_role peer_role,
                   struct tg_msg_hello *out)
{
	struct tg_msg_hello h;

	if (d->type != TG_MSG_HELLO || d->slot == TG_NO_SLOT || d->len != sizeof(h)) {
		log_warnx("link: expected HELLO, got %s (len %u)", tg_msg_name(d->type), d->len);
		if (d->slot != TG_NO_SLOT)
			tg_link_release(end, d->slot);
		return -1;
	}
	/* Copy out of shared memory before looking at it. */
	memcpy(&h, tg_link_peer_slot(end, d->slot), sizeof(h));
	tg_link_release(end, d->slot);
	if (h.magic != TG_LINK_MAGIC) {
		log_warnx("link: HELLO with bad magic %#x", h.magic);
		return -1;
	}
	if (h.version_min > TG_PROTO_VERSION_MAX || h.version_max < TG_PROTO_VERSION_MIN) {
		log_warnx("link: peer speaks versions %u..%u, we speak %u..%u", h.version_min,
		          h.version_max, TG_PROTO_VERSION_MIN, TG_PROTO_VERSION_MAX);
		return -1;
	}
	if (h.epoch != tg_link_epoch(end)) {
		log_warnx("link: peer HELLO of epoch %u, link is at %u", h.epoch,
		          tg_link_epoch(end));
		return -1;
	}
	if (h.role != (uint32_t)peer_role) {
		log_warnx("link: peer has role %u, expected %u", h.role, peer_role);
		return -1;
	}
	*out = h;
	return 0;
}

/* The UDP_BATCH slot layout (udp_batch.h): the one writer and the one strict reader. */
#include "udp_batch.h"

#include <string.h>

#include "addr.h"
#include "link.h"

/* IPv4: 65535 - 20 - 8; IPv6 without jumbograms: 65535 - 8. */
#define MAX_PAYLOAD4 65507u
#define MAX_PAYLOAD6 65527u

uint32_t tg_udp_batch_max_payload(uint8_t family)
{
	return family == TG_AF_INET4 ? MAX_PAYLOAD4 : MAX_PAYLOAD6;
}

void tg_udp_batch_start(struct tg_udp_batch_writer *w, void *buf, uint32_t cap,
                        const struct tg_msg_udp *h)
{
	w->buf = buf;
	w->cap = cap;
	w->len = (uint32_t)sizeof(*h);
	w->count = 0;
	memcpy(w->buf, h, sizeof(*h));
}

uint8_t *tg_udp_batch_reserve(struct tg_udp_batch_writer *w, size_t len)
{
	uint16_t prefix;
	uint8_t *at;

	if (w->count >= TG_UDP_BATCH_MAX || len > MAX_PAYLOAD6 ||
	    len + TG_UDP_BATCH_REC_HDR > w->cap - w->len)
		return NULL;
	prefix = (uint16_t)len;
	at = w->buf + w->len;
	memcpy(at, &prefix, sizeof(prefix));
	w->len += TG_UDP_BATCH_REC_HDR + (uint32_t)len;
	w->count++;
	return at + TG_UDP_BATCH_REC_HDR;
}

int tg_udp_batch_add(struct tg_udp_batch_writer *w, const void *data, size_t len)
{
	uint8_t *at = tg_udp_batch_reserve(w, len);

	if (!at)
		return -1;
	if (len > 0)
		memcpy(at, data, len);
	return 0;
}

uint32_t tg_udp_batch_finish(struct tg_udp_batch_writer *w, uint16_t *type, uint32_t *arg)
{
	const uint32_t hdr = (uint32_t)sizeof(struct tg_msg_udp);

	if (w->count != 1) {
		*type = TG_MSG_UDP_BATCH;
		*arg = w->count;
		return w->len;
	}
	/* A lone datagram: drop its length prefix, and it is a plain UDP message. */
	memmove(w->buf + hdr, w->buf + hdr + TG_UDP_BATCH_REC_HDR,
	        w->len - hdr - TG_UDP_BATCH_REC_HDR);
	w->len -= TG_UDP_BATCH_REC_HDR;
	*type = TG_MSG_UDP;
	*arg = 0;
	return w->len;
}

uint16_t tg_udp_batch_send(struct tg_link_end *link, uint32_t flow, uint32_t slot,
                           struct tg_udp_batch_writer *w)
{
	struct tg_desc d = {.slot = slot, .flow = flow};

	d.len = tg_udp_batch_finish(w, &d.type, &d.arg);
	if (tg_link_send(link, &d) < 0) {
		tg_link_unalloc(link, slot);
		return TG_MSG_NONE;
	}
	return d.type;
}

enum tg_udp_batch_verdict tg_udp_batch_check(const void *slot, uint32_t len, uint32_t count,
                                             struct tg_msg_udp *h)
{
	struct tg_udp_batch_reader r;
	const uint8_t *data;
	uint32_t dlen;

	if (len < sizeof(*h))
		return TG_UDP_BATCH_SHORT;
	if (count == 0 || count > TG_UDP_BATCH_MAX)
		return TG_UDP_BATCH_COUNT;
	memcpy(h, slot, sizeof(*h));
	tg_udp_batch_read(&r, slot, len, count, h);
	while (r.left > 0) {
		uint16_t prefix;

		if (r.len - r.off < TG_UDP_BATCH_REC_HDR)
			return TG_UDP_BATCH_TRUNCATED;
		memcpy(&prefix, r.p + r.off, sizeof(prefix));
		if (prefix > r.max)
			return TG_UDP_BATCH_TOO_BIG;
		if (!tg_udp_batch_next(&r, &data, &dlen))
			return TG_UDP_BATCH_TRUNCATED;
	}
	return r.off == r.len ? TG_UDP_BATCH_OK : TG_UDP_BATCH_TRAILING;
}

const char *tg_udp_batch_verdict_name(enum tg_udp_batch_verdict v)
{
	switch (v) {
	case TG_UDP_BATCH_OK:
		return "ok";
	case TG_UDP_BATCH_SHORT:
		return "shorter than its header";
	case TG_UDP_BATCH_COUNT:
		return "bad record count";
	case TG_UDP_BATCH_TRUNCATED:
		return "a record goes past the end";
	case TG_UDP_BATCH_TOO_BIG:
		return "a record larger than a UDP payload";
	case TG_UDP_BATCH_TRAILING:
		return "bytes after the last record";
	}
	return "unknown";
}

void tg_udp_batch_read(struct tg_udp_batch_reader *r, const void *slot, uint32_t len,
                       uint32_t count, const struct tg_msg_udp *h)
{
	r->p = slot;
	r->len = len;
	r->off = len < sizeof(*h) ? len : (uint32_t)sizeof(*h);
	r->left = count;
	r->max = tg_udp_batch_max_payload(h->src.family);
}

bool tg_udp_batch_next(struct tg_udp_batch_reader *r, const uint8_t **data, uint32_t *len)
{
	uint16_t prefix;

	if (r->left == 0 || r->len - r->off < TG_UDP_BATCH_REC_HDR)
		return false;
	/* One read of the length, into our memory: everything below uses that copy. */
	memcpy(&prefix, r->p + r->off, sizeof(prefix));
	if (prefix > r->max || prefix > r->len - r->off - TG_UDP_BATCH_REC_HDR) {
		r->left = 0;
		return false;
	}
	*data = r->p + r->off + TG_UDP_BATCH_REC_HDR;
	*len = prefix;
	r->off += TG_UDP_BATCH_REC_HDR + prefix;
	r->left--;
	return true;
}

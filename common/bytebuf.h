/*
 * A bounded FIFO of bytes for one direction of one flow: what could not be handed on yet.
 * Its limit is the flow's window, which is what bounds a flow's memory.
 */
#ifndef TG_BYTEBUF_H
#define TG_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

struct tg_bytebuf {
	uint8_t *data;
	size_t off; /* first unread byte */
	size_t len; /* unread bytes */
	size_t cap;
};

/* Appends len bytes; returns 0, or -1 (nothing appended) if that would pass `limit` bytes. */
int tg_bytebuf_append(struct tg_bytebuf *b, const void *src, size_t len, size_t limit);
static inline const uint8_t *tg_bytebuf_head(const struct tg_bytebuf *b)
{
	return b->data + b->off;
}
void tg_bytebuf_consume(struct tg_bytebuf *b, size_t n);
void tg_bytebuf_free(struct tg_bytebuf *b);

#endif

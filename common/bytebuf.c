#include "bytebuf.h"

#include <stdlib.h>
#include <string.h>

int tg_bytebuf_append(struct tg_bytebuf *b, const void *src, size_t len, size_t limit)
{
	if (len == 0)
		return 0;
	if (b->len + len > limit)
		return -1;
	if (b->off + b->len + len > b->cap) {
		size_t need = b->len + len, cap = b->cap ? b->cap : 4096;
		uint8_t *n;

		/* Slide the unread bytes to the front before growing. */
		if (b->off && need <= b->cap) {
			memmove(b->data, b->data + b->off, b->len);
			b->off = 0;
		} else {
			while (cap < need)
				cap *= 2;
			n = malloc(cap);
			if (!n)
				return -1;
			if (b->len)
				memcpy(n, b->data + b->off, b->len);
			free(b->data);
			b->data = n;
			b->cap = cap;
			b->off = 0;
		}
	}
	memcpy(b->data + b->off + b->len, src, len);
	b->len += len;
	return 0;
}

void tg_bytebuf_consume(struct tg_bytebuf *b, size_t n)
{
	if (n >= b->len) {
		/* Empty: give the memory back, an idle flow should cost nothing. */
		tg_bytebuf_free(b);
		return;
	}
	b->off += n;
	b->len -= n;
}

void tg_bytebuf_free(struct tg_bytebuf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

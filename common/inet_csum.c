/* The internet checksum (inet_csum.h). */
#include "inet_csum.h"

uint32_t tg_csum_add(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t tg_csum_fold(uint32_t sum)
{
	/* Twice: the first fold leaves at most 0x1fffe, the second at most 0xffff. */
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t tg_csum(const void *data, size_t len)
{
	return (uint16_t)~tg_csum_fold(tg_csum_add(data, len, 0));
}

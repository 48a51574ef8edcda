/*
 * The internet checksum (RFC 1071): the one's complement sum of 16-bit big-endian words. One
 * implementation for stackd's own packets (icmp.c), the virtio-net offloads (vnet.c) and the
 * packets tests and fuzzers build and check (tests/support/pkt.c). Sums are taken byte by
 * byte, so the result is the same on any host and data needs no alignment.
 */
#ifndef TG_INET_CSUM_H
#define TG_INET_CSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Adds len bytes of data to sum as big-endian 16-bit words (an odd last byte is the high
 * half of a word padded with zero) and returns the sum, not folded. Carries out of 32 bits
 * are folded back in, so sums may be chained over any number of pieces; a piece other than
 * the last must have an even length.
 */
uint32_t tg_csum_add(const void *data, size_t len, uint32_t sum);

/* Folds a sum to 16 bits, not complemented. */
uint16_t tg_csum_fold(uint32_t sum);

/* The checksum field's value for data whose field is zero: ~fold(add(data, len, 0)). */
uint16_t tg_csum(const void *data, size_t len);

#endif

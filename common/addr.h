/*
 * The endpoint address carried on link B: family, port and an IPv4 or IPv6 address, in a fixed
 * 20-byte wire form so that both sides of a link agree on it whatever their struct padding.
 */
#ifndef TG_ADDR_H
#define TG_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum tg_family {
	TG_AF_INET4 = 4,
	TG_AF_INET6 = 6,
};

struct tg_addr {
	uint8_t family; /* enum tg_family */
	uint8_t reserved;
	uint16_t port;  /* host byte order */
	uint8_t ip[16]; /* IPv4 uses the first 4 bytes, network byte order */
};
_Static_assert(sizeof(struct tg_addr) == 20, "tg_addr is a wire struct");

/* Longest text tg_addr_format() writes: "[v6addr]:port" and a NUL. */
#define TG_ADDR_STRLEN 56

int tg_addr_valid(const struct tg_addr *a);
int tg_addr_to_sockaddr(const struct tg_addr *a, struct sockaddr_storage *ss, socklen_t *len);
int tg_addr_from_sockaddr(struct tg_addr *a, const struct sockaddr *sa);
const char *tg_addr_format(const struct tg_addr *a, char *buf, size_t len);
/* "A.B.C.D:PORT" or "[v6]:PORT" (numeric only). Returns 0, or -1 if it is neither. */
int tg_addr_parse(const char *s, struct tg_addr *a);

#endif

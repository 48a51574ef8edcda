/*
 * Compiler and platform glue for lwIP on Linux (glibc, GCC or Clang). lwIP's arch.h already
 * handles packed structs for these compilers and takes the integer types from <stdint.h>.
 */
#ifndef TG_LWIP_ARCH_CC_H
#define TG_LWIP_ARCH_CC_H

#include <endian.h>
#include <stdint.h>
#include <stdlib.h>

/* lwIP would otherwise assume little-endian; take the truth from the C library. */
#if !defined(BYTE_ORDER) || !defined(LITTLE_ENDIAN) || !defined(BIG_ENDIAN)
#error "<endian.h> did not define BYTE_ORDER (tungate builds with _GNU_SOURCE)"
#endif

/*
 * lwIP would define htons() and friends as macros, which breaks any stackd file that also
 * includes <arpa/inet.h>. The lwip_htons() spellings stay available.
 */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS

/* Only the socket layer uses struct timeval, and it is not built. */
#define LWIP_TIMEVAL_PRIVATE 0

/*
 * Local ports, IPv6 and MLD use LWIP_RAND(). glibc 2.36 has arc4random(): unpredictable, never
 * fails and needs no seeding, unlike lwIP's default of rand().
 */
#define LWIP_RAND() ((u32_t)arc4random())

/* Diagnostics and assertions go to the project logger; see sys_arch.c for the policy. */
void tg_lwip_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tg_lwip_assert(const char *msg, const char *file, int line);

#define LWIP_PLATFORM_DIAG(x)                                                                      \
	do {                                                                                       \
		tg_lwip_diag x;                                                                    \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) tg_lwip_assert((x), __FILE__, __LINE__)

#endif

/*
 * What every fuzz target shares: libFuzzer's entry points (declared here because the build's
 * -Wmissing-prototypes wants a prototype) and a reader that takes fields off the input.
 */
#ifndef TG_FUZZ_H
#define TG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rest of an input. Reads past the end give zeros, so every input is a valid program. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
/* Up to len bytes (fewer at the end of the input); *got says how many. */
const uint8_t *fuzz_take(struct fuzz_in *in, size_t len, size_t *got);

/*
 * Puts data into a fresh memfd and writes "/proc/self/fd/N" to path, so that code which opens
 * files by name reads the input without touching the file system. Returns the fd (close it).
 */
int fuzz_memfd_path(const void *data, size_t len, char *path, size_t pathlen);

/* Stops the run with a message: a broken invariant is a finding like a crash. */
__attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *fmt, ...);

#endif

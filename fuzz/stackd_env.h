/*
 * The stackd fuzzing environment (stackd_env.c), shared by fuzz_stackd_input and
 * fuzz_stackd_link: all of stackd but its main() on two real links, with tunio and relayd
 * played by the fuzzer and lwIP's clock driven by the input.
 */
#ifndef TG_FUZZ_STACKD_ENV_H
#define TG_FUZZ_STACKD_ENV_H

#include <stdbool.h>

#include "fuzz.h"

/* Once per process: lwIP and stackd's modules, as stackd's main() sets them up (TAP mode or not).
 */
void env_init(bool tap);
/* Per input: reads the two configuration bytes, makes fresh links, exchanges the HELLOs. */
void env_begin(struct fuzz_in *in);
/* One operation read from the input: a packet, a relayd message, time passing, ... */
void env_op(struct fuzz_in *in);
/* A relayd message of any shape: type, flow, arg, slot and length from the input. */
void env_relay_raw(struct fuzz_in *in);
/* fuzz_stackd_link: TCP flows in both families, UDP flows and a ping, all established. */
void env_prelude(void);
/* Per input: checks stackd's bookkeeping, resets every flow and pcb, frees the links. */
void env_end(void);

#endif

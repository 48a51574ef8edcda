/*
 * The stackd fuzzing environment (stackd_env.c), shared by fuzz_stackd_input, fuzz_stackd_tap
 * and fuzz_stackd_link: all of stackd but its main() on two real links, with tunio and relayd
 * played by the fuzzer and lwIP's clock driven by the input.
 */
#ifndef TG_FUZZ_STACKD_ENV_H
#define TG_FUZZ_STACKD_ENV_H

#include <stdbool.h>
#include <stdint.h>

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

/*
 * What one stackd fuzz target is (each fuzz_stackd_*.c defines env_target): stackd_target.c's
 * entry points call env_init(tap) once, and per input env_begin(), prelude (if any), op until
 * the input is used up, and env_end().
 */
struct env_target {
	bool tap;                       /* stackd --tap: Ethernet frames on link A */
	void (*prelude)(void);          /* after env_begin(), or NULL */
	void (*op)(struct fuzz_in *in); /* one operation: env_op, or the target's own mix */
};
extern const struct env_target env_target;

/*
 * For replays of known bug classes (tests/unit/test_packet_replay.c), which build their own
 * packets with these and check what came out. env_begin_with() is env_begin() with the two
 * configuration bytes given; env_send() sends one IP packet as tunio and runs both sides;
 * env_wait_ms() lets lwIP's and stackd's clocks run. env_ip() wraps a transport segment from
 * the first client to the first destination (checksums filled in); env_tcp() builds a segment
 * of connection conn as the fuzzer's TCP client does (its sequence numbers tracked). Every
 * packet stackd sends on link A goes to env_out_hook too, after the oracles checked it.
 */
void env_begin_with(uint8_t cfg, uint8_t timeouts);
void env_send(const uint8_t *pkt, uint32_t len);
void env_wait_ms(uint32_t ms);
void env_addrs(bool v6, uint8_t *client, uint8_t *dest);
uint32_t env_ip(uint8_t *out, bool v6, uint8_t proto, const uint8_t *seg, uint32_t seglen);
uint32_t env_tcp(unsigned conn, uint8_t flags, const uint8_t *opt, uint32_t optlen, uint32_t paylen,
                 uint8_t *out);
/* What the fuzzer's relayd saw: flows opened, DATA bytes stackd sent; DATA the other way. */
unsigned env_relay_flows(void);
uint64_t env_relay_bytes_up(void);
uint32_t env_relay_flow_id(unsigned i);
bool env_relay_data(uint32_t flow, const void *data, uint32_t len);
extern void (*env_out_hook)(const uint8_t *pkt, uint32_t len);

#endif

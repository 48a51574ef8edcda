/*
 * fuzz_stackd_tap: fuzz_stackd_input with stackd in TAP mode (--tap, docs/modes.md): link A
 * carries Ethernet frames, stackd is the gateway 10.7.0.254/24 and fd00::fe with its own MAC,
 * and its frame filter (netif_link.c), lwIP's Ethernet input, ARP and neighbour discovery come
 * before everything fuzz_stackd_input reaches. Client packets arrive in frames to the
 * gateway's MAC; raw frames (any MACs, EtherTypes, VLAN tags, ARP) come from the raw-packet
 * operation; the fuzzer's clients answer stackd's ARP requests and neighbour solicitations so
 * that flows get going. Same input format and checks as fuzz_stackd_input (stackd_env.c).
 */
#include "stackd_env.h"

const struct env_target env_target = {.tap = true, .op = env_op};

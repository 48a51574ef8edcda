/*
 * fuzz_stackd_input: stackd's packet input, the most exposed code of tungate. Packets from
 * the TUN (IPv4 and IPv6; TCP, UDP, ICMP, ICMPv6; fragments; anything) go through link A,
 * stackd's own filter (netif_link.c), the consistent handshake's SYN hold, lwIP with the
 * accept-any patch, the ICMP echo relay and the TCP and UDP flow code, while a relayd answers
 * on link B and time passes. Both handshake modes. See stackd_env.c for the input format and
 * what is checked.
 */
#include "stackd_env.h"

const struct env_target env_target = {.op = env_op};

/*
 * fuzz_stackd_link: link B as stackd sees it (flow_link.c and the TCP, UDP, held-SYN and ICMP
 * code it dispatches to). relayd may be compromised, so anything it sends is input. After a
 * fixed prelude that opens TCP flows in both families (through the handshake mode the first
 * byte chooses), two UDP flows and a ping, the input is mostly relayd messages of any type,
 * flow, argument, slot and length, mixed with the operations of fuzz_stackd_input (packets,
 * time) that move the flows on. See stackd_env.c for the format and the checks.
 */
#include "stackd_env.h"

/* Two in three operations are a raw relayd message. */
static void link_op(struct fuzz_in *in)
{
	if (fuzz_u8(in) < 0xaa)
		env_relay_raw(in);
	else
		env_op(in);
}

const struct env_target env_target = {.prelude = env_prelude, .op = link_op};

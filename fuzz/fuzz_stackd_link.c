/*
 * fuzz_stackd_link: link B as stackd sees it (flow_link.c and the TCP, UDP, held-SYN and ICMP
 * code it dispatches to). relayd may be compromised, so anything it sends is input. After a
 * fixed prelude that opens TCP flows in both families (through the handshake mode the first
 * byte chooses), two UDP flows and a ping, the input is mostly relayd messages of any type,
 * flow, argument, slot and length, mixed with the operations of fuzz_stackd_input (packets,
 * time) that move the flows on. See stackd_env.c for the format and the checks.
 */
#include "stackd_env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	env_init(false);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	env_begin(&in);
	env_prelude();
	while (in.n > 0) {
		/* Two in three operations are a raw relayd message. */
		if (fuzz_u8(&in) < 0xaa)
			env_relay_raw(&in);
		else
			env_op(&in);
	}
	env_end();
	return 0;
}

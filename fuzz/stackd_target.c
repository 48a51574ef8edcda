/*
 * libFuzzer's entry points for the stackd targets (fuzz_stackd_input, _tap, _link): the same
 * loop for all three, over what the target's env_target says (stackd_env.h).
 */
#include "stackd_env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	env_init(env_target.tap);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	env_begin(&in);
	if (env_target.prelude)
		env_target.prelude();
	while (in.n > 0)
		env_target.op(&in);
	env_end();
	return 0;
}

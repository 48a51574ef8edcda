/*
 * `tungate run --print-config`: the effective configuration as an INI file, every key of
 * config.c's table in its order; `tungate check` accepts the output. Passwords print as
 * TG_CONFIG_HIDDEN.
 */
#ifndef TG_CONFIG_PRINT_H
#define TG_CONFIG_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

#define TG_CONFIG_HIDDEN "(hidden)"

void tg_config_print(const struct tg_config *cfg, FILE *out);

/* False for a key this file has no printer for (the unit test checks every key). */
bool tg_config_key_printable(const struct tg_config_key *k);

#endif

/*
 * tungate's side of privilege separation (docs/security.md): each child's user must exist
 * before anything starts, the children's chroot directory must be safe, and tungate drops
 * what it no longer needs once the device exists. The policy itself is common/sandbox.c.
 */
#ifndef TG_PRIVSEP_H
#define TG_PRIVSEP_H

#include <stddef.h>

#include "config.h"

/*
 * Looks up privsep.*_user: fills uid and gid, warns about root and shared users. Returns 0,
 * or -1 with a message naming the key in err (a configuration error: exit 2).
 */
int tg_privsep_resolve(struct tg_config *cfg, char *err, size_t errlen);

/* Test only: checks and stores --test-forbidden CHILD:CALL. Returns 0 or -1 (err). */
int tg_privsep_set_test(struct tg_config *cfg, const char *value, char *err, size_t errlen);
/* The call child (by name) is to attempt, or NULL. */
const char *tg_privsep_test_call(const struct tg_config *cfg, const char *child);

/*
 * After the device, links and counters file exist, before the children start: makes the
 * chroot directory (fatal if it is not safe), then drops tungate's own privileges.
 */
void tg_privsep_enter(const struct tg_config *cfg);

#endif

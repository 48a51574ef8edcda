/* fork + exec of one child with an explicit list of inherited fds, and wait-status text. */
#ifndef TG_SPAWN_H
#define TG_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Starts `path` with argv. Only the fds in keep[] (and stdin, stdout, stderr) survive exec;
 * signal handlers and mask start from default. Returns the pid once exec has succeeded, or
 * -1 with errno set if fork or exec failed (a child whose exec failed is already reaped).
 */
pid_t tg_spawn(const char *path, char *const argv[], const int *keep, size_t nkeep);

/* "exited with status 2", "killed by signal 9 (SIGKILL)". */
const char *tg_wait_status_text(int status, char *buf, size_t len);

#endif

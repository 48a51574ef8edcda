/*
 * Process start for the supervisor. Exec errors come back over a close-on-exec pipe, so a
 * missing or broken binary is reported at once by name instead of as a mysterious exit 127.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* After fork: only async-signal-safe calls until exec. */
static void child_exec(const char *path, char *const argv[], const int *keep, size_t nkeep,
                       int errpipe, pid_t parent)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int err;

	/* libevent's handlers would write into the parent's loop: back to defaults first. */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	/* No orphans holding the TUN or a link when tungate itself is killed. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(127);
	/* Whatever fd a library opened without O_CLOEXEC does not leak into the child. */
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
	for (size_t i = 0; i < nkeep; i++)
		if (fcntl(keep[i], F_SETFD, 0) < 0)
			goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(path, argv);
fail:
	err = errno;
	if (write(errpipe, &err, sizeof(err)) < 0) {
		/* the parent sees EOF and a child that exited with 127 */
	}
	_exit(127);
}

/* Returns 0 if exec succeeded (EOF on the pipe), else the child's errno. */
static int exec_result(int fd)
{
	int err;
	ssize_t n;

	do
		n = read(fd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(err) ? err : 0;
}

pid_t tg_spawn(const char *path, char *const argv[], const int *keep, size_t nkeep)
{
	sigset_t all, old;
	int errpipe[2], err;
	pid_t pid, parent = getpid();

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return -1;
	/* Nothing may run a handler in the child before it has reset them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(path, argv, keep, nkeep, errpipe[1], parent);
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(errpipe[1]);
	if (pid < 0) {
		close(errpipe[0]);
		errno = err;
		return -1;
	}
	err = exec_result(errpipe[0]);
	close(errpipe[0]);
	if (err) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = err;
		return -1;
	}
	return pid;
}

const char *tg_wait_status_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (SIG%s)%s", WTERMSIG(status),
		         sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
		         WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "changed state (status %#x)", status);
	return buf;
}

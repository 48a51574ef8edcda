#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_name = "tungate";
static enum tg_log_level log_level = TG_LOG_INFO;
static bool log_to_syslog;

static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void log_init(const char *procname, enum tg_log_level level)
{
	log_name = procname;
	log_level = level;
}

void log_setlevel(enum tg_log_level level)
{
	log_level = level;
}

enum tg_log_level log_getlevel(void)
{
	return log_level;
}

const char *log_procname(void)
{
	return log_name;
}

int log_parse_level(const char *name, enum tg_log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level = (enum tg_log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_parse_target(const char *name, bool *syslog)
{
	if (strcmp(name, "stderr") == 0)
		*syslog = false;
	else if (strcmp(name, "syslog") == 0)
		*syslog = true;
	else
		return -1;
	return 0;
}

int log_open_syslog(void)
{
	tzset(); /* syslog() stamps local time: read /etc/localtime now, not in the chroot */
	openlog(log_name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_to_syslog = true;
	return 0;
}

bool log_count_worth(uint64_t n)
{
	return n > 0 && (n <= LOG_COUNT_FIRST || (n & (n - 1)) == 0);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms, uint32_t *suppressed)
{
	const uint64_t cap = LOG_RATELIMIT_BURST * 1000ull;
	uint64_t tokens = rl->last_ms ? rl->tokens_milli : cap;

	if (rl->last_ms && now_ms > rl->last_ms)
		tokens += (now_ms - rl->last_ms) * LOG_RATELIMIT_PER_SEC;
	if (tokens > cap)
		tokens = cap;
	rl->last_ms = now_ms ? now_ms : 1;
	*suppressed = 0;
	if (tokens < 1000) {
		rl->tokens_milli = (uint32_t)tokens;
		if (rl->suppressed < UINT32_MAX)
			rl->suppressed++;
		return false;
	}
	rl->tokens_milli = (uint32_t)(tokens - 1000);
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

/* One write per line so that lines of the three children never interleave. */
__attribute__((format(printf, 3, 0))) static void vlog(enum tg_log_level level, int errnum,
                                                       const char *fmt, va_list ap)
{
	char msg[1024];
	char line[1200];
	int n;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_syslog) {
		/* The ident (openlog) carries the process name and pid. */
		if (errnum)
			syslog(syslog_prio[level], "%s: %s: %s", level_names[level], msg,
			       strerror(errnum));
		else
			syslog(syslog_prio[level], "%s: %s", level_names[level], msg);
		return;
	}
	if (errnum)
		n = snprintf(line, sizeof(line), "%s[%d]: %s: %s: %s\n", log_name, (int)getpid(),
		             level_names[level], msg, strerror(errnum));
	else
		n = snprintf(line, sizeof(line), "%s[%d]: %s: %s\n", log_name, (int)getpid(),
		             level_names[level], msg);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}

__attribute__((format(printf, 2, 3))) static void log_at(enum tg_log_level level, const char *fmt,
                                                         ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

void log_ratelimited(struct log_ratelimit *rl, enum tg_log_level level, int errnum, const char *fmt,
                     ...)
{
	struct timespec ts;
	uint32_t suppressed;
	int saved = errno; /* as log_warn: callers may go on to look at it */
	va_list ap;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!log_ratelimit_allow(rl, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
	                         &suppressed))
		return;
	if (suppressed)
		log_at(level, "(%u similar messages suppressed)", suppressed);
	va_start(ap, fmt);
	vlog(level, errnum, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(TG_LOG_WARN, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(TG_LOG_WARN, 0, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(TG_LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(TG_LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/*
 * TG_FATAL_ABORTS (the fuzz build): a fatal error aborts, so that a fuzzer reports any fatal()
 * it can reach from its input as a crash with a stack trace instead of a quiet exit.
 */
__attribute__((noreturn)) static void fatal_exit(void)
{
#ifdef TG_FATAL_ABORTS
	abort();
#else
	exit(1);
#endif
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(TG_LOG_ERR, saved, fmt, ap);
	va_end(ap);
	fatal_exit();
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(TG_LOG_ERR, 0, fmt, ap);
	va_end(ap);
	fatal_exit();
}

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_name = "tungate";
static enum tg_log_level log_level = TG_LOG_INFO;

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

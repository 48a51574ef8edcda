/*
 * One logger for every tungate process, in the style of OpenBSD's log.c: each line names the
 * process, warn variants add errno text, fatal variants exit. Nothing reachable from packet
 * input may call fatal(): bad input is dropped and counted instead.
 */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdarg.h>

enum tg_log_level {
	TG_LOG_ERR = 0,
	TG_LOG_WARN,
	TG_LOG_INFO,
	TG_LOG_DEBUG,
};

void log_init(const char *procname, enum tg_log_level level);
void log_setlevel(enum tg_log_level level);
enum tg_log_level log_getlevel(void);
int log_parse_level(const char *name, enum tg_log_level *level);
const char *log_procname(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

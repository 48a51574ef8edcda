/*
 * One logger for every tungate process, in the style of OpenBSD's log.c: each line names the
 * process, warn variants add errno text, fatal variants exit. Nothing reachable from packet
 * input may call fatal(): bad input is dropped and counted instead.
 */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

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

/*
 * Sends every line to syslog (LOG_DAEMON, the process name as ident; journald reads it on a
 * systemd host) instead of stderr. Connects at once (LOG_NDELAY) and loads the time zone, so
 * a child calls it before its chroot and seccomp filter: after them it can only send on the
 * connected socket. Returns 0.
 */
int log_open_syslog(void);
/* "stderr" or "syslog": 0, or -1 for anything else. */
int log_parse_target(const char *name, bool *syslog);

/*
 * A token bucket for messages that input can trigger at packet rate: at most
 * LOG_RATELIMIT_BURST lines at once, refilled at LOG_RATELIMIT_PER_SEC lines a second; what is
 * refused is counted and said ("(N similar messages suppressed)") just before the next line let
 * through. One bucket per call site (the log_*_ratelimited macros declare it).
 */
struct log_ratelimit {
	uint64_t last_ms; /* CLOCK_MONOTONIC of the last refill; 0: never used */
	uint32_t tokens_milli;
	uint32_t suppressed;
};

#define LOG_RATELIMIT_PER_SEC 5
#define LOG_RATELIMIT_BURST   10

/* True if a line may go out at now_ms; *suppressed gets (and clears) the refused count. */
bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms, uint32_t *suppressed);
/* errnum: 0, or an errno whose text ends the line (as log_warn). */
void log_ratelimited(struct log_ratelimit *rl, enum tg_log_level level, int errnum, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

#define log_ratelimited_at_(level, errnum, ...)                                                    \
	do {                                                                                       \
		static struct log_ratelimit log_rl_;                                               \
		log_ratelimited(&log_rl_, (level), (errnum), __VA_ARGS__);                         \
	} while (0)
/*
 * For failures that are counted and logged with their running total ("... (N so far)"): true
 * for the first LOG_COUNT_FIRST and then every power of two, so a burst (new flows at an fd
 * limit) stays a few lines while the count still says how large it grew.
 */
#define LOG_COUNT_FIRST 10u
bool log_count_worth(uint64_t n);

#define log_warn_ratelimited(...)  log_ratelimited_at_(TG_LOG_WARN, errno, __VA_ARGS__)
#define log_warnx_ratelimited(...) log_ratelimited_at_(TG_LOG_WARN, 0, __VA_ARGS__)
#define log_info_ratelimited(...)  log_ratelimited_at_(TG_LOG_INFO, 0, __VA_ARGS__)

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

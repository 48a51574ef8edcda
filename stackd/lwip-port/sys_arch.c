/*
 * The NO_SYS port of lwIP: a millisecond clock for lwIP's timers, and lwIP's diagnostics and
 * assertions routed to the project logger.
 *
 * Assertion policy. lwIP's LWIP_ASSERT() calls LWIP_PLATFORM_ASSERT() and, if that returns,
 * carries on with the next statement; most of lwIP's checks on packet input are followed by
 * code that drops the packet anyway. A release stackd must never die because a client sent a
 * crafted packet, so by default (NDEBUG builds: Release, RelWithDebInfo) an assertion is logged,
 * rate-limited and counted (tg_lwip_assert_count()), and lwIP continues. Debug builds (no
 * NDEBUG) and builds with TG_LWIP_ASSERT_ABORT (fuzzing, and the TG_SANITIZE build, where the
 * tests must see the bug) abort instead.
 */
#include "lwip/opt.h"
#include "lwip/sys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "tg_lwip.h"
#include "tg_lwip_hooks.h"

#if !defined(NDEBUG) || defined(TG_LWIP_ASSERT_ABORT)
#define TG_ASSERT_ABORTS 1
#else
#define TG_ASSERT_ABORTS 0
#endif

/* At most this many assertion lines per second; the rest are only counted. */
#define ASSERT_LOG_BURST 5

static uint64_t assert_count;

/*
 * Weak: the fuzzers and the packet replay test (fuzz/stackd_env.c) define their own clock, so
 * that lwIP's timers advance with the input rather than the wall clock and a finding replays.
 * stackd itself has no other definition.
 */
/*
 * Weak, as sys_now(): the fuzz environment counts instead, so that a finding replays. glibc's
 * arc4random_buf() draws from getrandom(2) (allowed in stackd's sandbox) and never fails.
 * Debian 12's glibc makes one getrandom() call per arc4random() value, which is one system
 * call per connection: the pool draws 64 ISNs per call, each as unpredictable and used once.
 */
__attribute__((weak)) u32_t tg_tcp_isn(void)
{
	static u32_t pool[64];
	static unsigned left;

	if (left == 0) {
		arc4random_buf(pool, sizeof(pool));
		left = sizeof(pool) / sizeof(pool[0]);
	}
	return pool[--left];
}

__attribute__((weak)) u32_t sys_now(void)
{
	struct timespec ts;

	/* Monotonic: lwIP's timers must not jump when the wall clock is set. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Wraps every 49.7 days; lwIP compares times with wrap-safe subtraction. */
	return (u32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

void tg_lwip_diag(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	size_t len;

	/* Debug output is hot when enabled; skip the formatting when nobody will see it. */
	if (log_getlevel() < TG_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* lwIP ends most messages with a newline; the logger adds its own. */
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	if (len > 0)
		log_debug("lwip: %s", msg);
}

/* True if this assertion may be logged; a flood of them must not flood the log. */
static int assert_log_allowed(void)
{
	static u32_t window_start;
	static unsigned int in_window;
	static uint64_t suppressed;
	u32_t now = sys_now();

	if (now - window_start >= 1000) {
		if (suppressed > 0)
			log_warnx("lwip: %llu assertion messages suppressed",
			          (unsigned long long)suppressed);
		window_start = now;
		in_window = 0;
		suppressed = 0;
	}
	if (in_window < ASSERT_LOG_BURST) {
		in_window++;
		return 1;
	}
	suppressed++;
	return 0;
}

void tg_lwip_assert(const char *msg, const char *file, int line)
{
	assert_count++;
	if (TG_ASSERT_ABORTS) {
		log_warnx("lwip: assertion \"%s\" failed at %s:%d, aborting", msg, file, line);
		abort();
	}
	if (assert_log_allowed())
		log_warnx("lwip: assertion \"%s\" failed at %s:%d, continuing", msg, file, line);
}

uint64_t tg_lwip_assert_count(void)
{
	return assert_count;
}

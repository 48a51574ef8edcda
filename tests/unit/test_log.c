/*
 * common/log.c: the rate limiter for per-packet messages (a token bucket per call site) and
 * the line format: one line per message, the process name and pid first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static void test_burst_then_refused(void **state)
{
	struct log_ratelimit rl = {0};
	uint32_t suppressed = 99;

	(void)state;
	for (int i = 0; i < LOG_RATELIMIT_BURST; i++) {
		assert_true(log_ratelimit_allow(&rl, 5000, &suppressed));
		assert_int_equal(suppressed, 0);
	}
	for (int i = 0; i < 7; i++)
		assert_false(log_ratelimit_allow(&rl, 5000, &suppressed));
	/* One token comes back every 1000 / LOG_RATELIMIT_PER_SEC ms; the refused are reported. */
	assert_false(
	        log_ratelimit_allow(&rl, 5000 + 1000 / LOG_RATELIMIT_PER_SEC - 1, &suppressed));
	assert_true(log_ratelimit_allow(&rl, 5000 + 2 * 1000 / LOG_RATELIMIT_PER_SEC, &suppressed));
	assert_int_equal(suppressed, 8);
	assert_true(log_ratelimit_allow(&rl, 5000 + 2 * 1000 / LOG_RATELIMIT_PER_SEC, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_false(
	        log_ratelimit_allow(&rl, 5000 + 2 * 1000 / LOG_RATELIMIT_PER_SEC, &suppressed));
}

/* A flood of 10,000 messages a second for 10 s lets through the burst and the refill only. */
static void test_flood_is_bounded(void **state)
{
	struct log_ratelimit rl = {0};
	uint32_t suppressed, allowed = 0, reported = 0;

	(void)state;
	for (uint64_t t = 0; t < 10000 * 10; t++) {
		if (log_ratelimit_allow(&rl, 1000 + t / 10, &suppressed))
			allowed++;
		reported += suppressed;
	}
	assert_true(allowed <= LOG_RATELIMIT_BURST + 10 * LOG_RATELIMIT_PER_SEC + 1);
	assert_true(allowed >= 10 * LOG_RATELIMIT_PER_SEC);
	/* every refused message is reported, except those after the last line let through */
	assert_true(reported + allowed <= 100000);
	assert_true(reported + allowed >= 100000 - 10 * 1000 / LOG_RATELIMIT_PER_SEC - 10);
}

/* Idle for long: the bucket is full again, never more than the burst. */
static void test_refill_capped(void **state)
{
	struct log_ratelimit rl = {0};
	uint32_t suppressed, allowed = 0;

	(void)state;
	assert_true(log_ratelimit_allow(&rl, 1000, &suppressed));
	for (int i = 0; i < 100; i++)
		allowed += log_ratelimit_allow(&rl, 1000 + 3600 * 1000, &suppressed);
	assert_int_equal(allowed, LOG_RATELIMIT_BURST);
}

/* Runs fn with stderr captured; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
	static char buf[4096];
	int pipefd[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_int_equal(pipe(pipefd), 0);
	dup2(pipefd[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void flood(void)
{
	for (int i = 0; i < 1000; i++)
		log_warnx_ratelimited("packet %d dropped", i);
}

static void test_ratelimited_lines(void **state)
{
	char *out, *line, *save, prefix[64];
	int lines = 0;

	(void)state;
	log_init("stackd", TG_LOG_INFO);
	out = capture_stderr(flood);
	snprintf(prefix, sizeof(prefix), "stackd[%d]: warning: ", (int)getpid());
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, prefix, strlen(prefix)) != 0)
			fail_msg("line \"%s\" does not start with \"%s\"", line, prefix);
		lines++;
	}
	assert_int_equal(lines, LOG_RATELIMIT_BURST);
}

static void drop_at_one_site(unsigned i)
{
	log_warnx_ratelimited("link B: cannot queue DATA for flow %u", i);
}

static void flood_then_one(void)
{
	for (unsigned i = 0; i < 40; i++)
		drop_at_one_site(i);
	usleep(1000 * 1000 / LOG_RATELIMIT_PER_SEC + 50 * 1000); /* one token back */
	drop_at_one_site(99);
}

/* What was refused is said, once a line goes out again: before that line, with the count. */
static void test_suppressed_reported(void **state)
{
	char want[160];

	(void)state;
	log_init("stackd", TG_LOG_INFO);
	snprintf(want, sizeof(want),
	         "stackd[%d]: warning: (%d similar messages suppressed)\n"
	         "stackd[%d]: warning: link B: cannot queue DATA for flow 99\n",
	         (int)getpid(), 40 - LOG_RATELIMIT_BURST, (int)getpid());
	assert_non_null(strstr(capture_stderr(flood_then_one), want));
}

static void flood_quiet(void)
{
	for (int i = 0; i < 10; i++)
		log_info_ratelimited("flow %d opened", i);
}

/* At the warning level, info messages cost nothing and print nothing. */
static void test_level_filters_first(void **state)
{
	(void)state;
	log_init("relayd", TG_LOG_WARN);
	assert_string_equal(capture_stderr(flood_quiet), "");
	log_init("relayd", TG_LOG_INFO);
}

/* Counted failures: the first ten, then powers of two, so a burst stays a few lines. */
static void test_count_worth(void **state)
{
	unsigned logged = 0;

	(void)state;
	assert_false(log_count_worth(0));
	for (uint64_t n = 1; n <= 10; n++)
		assert_true(log_count_worth(n));
	assert_false(log_count_worth(11));
	assert_true(log_count_worth(16));
	assert_false(log_count_worth(17));
	assert_true(log_count_worth(UINT64_C(1) << 40));
	for (uint64_t n = 1; n <= 100000; n++)
		logged += log_count_worth(n);
	assert_int_equal(logged, 10 + 13); /* 16, 32, ..., 65536 */
}

static void test_parse_target(void **state)
{
	bool syslog = true;

	(void)state;
	assert_int_equal(log_parse_target("stderr", &syslog), 0);
	assert_false(syslog);
	assert_int_equal(log_parse_target("syslog", &syslog), 0);
	assert_true(syslog);
	assert_int_equal(log_parse_target("journal", &syslog), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_burst_then_refused),
	        cmocka_unit_test(test_flood_is_bounded),
	        cmocka_unit_test(test_refill_capped),
	        cmocka_unit_test(test_ratelimited_lines),
	        cmocka_unit_test(test_suppressed_reported),
	        cmocka_unit_test(test_level_filters_first),
	        cmocka_unit_test(test_count_worth),
	        cmocka_unit_test(test_parse_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

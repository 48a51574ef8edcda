/* The counters file: publish from a "process", read back as text and JSON, survive garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stats.h"

struct counters {
	uint64_t packets;
	uint64_t drops;
};

static const struct tg_stat_def defs[] = {
        TG_STAT(struct counters, packets),
        TG_STAT(struct counters, drops),
};

static char *print_to_string(const char *path, bool json, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	*rc = tg_stats_print(path, out, json);
	fclose(out);
	return buf;
}

static void test_publish_and_print(void **state)
{
	char path[] = "/tmp/tg-stats-test-XXXXXX";
	int tmp = mkstemp(path), fd, rc;
	struct counters c = {.packets = 42, .drops = 7};
	struct tg_stats_region *r;
	char *text;

	close(tmp);
	fd = tg_stats_create(path);
	assert_true(fd >= 0);
	r = tg_stats_attach(fd, TG_STATS_STACKD);
	assert_non_null(r);
	tg_stats_publish(r, defs, 2, &c);

	text = print_to_string(path, false, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(text, "stackd (pid"));
	assert_non_null(strstr(text, "packets"));
	assert_non_null(strstr(text, "42"));
	free(text);

	c.drops = 9;
	tg_stats_publish(r, defs, 2, &c);
	text = print_to_string(path, true, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(text, "\"packets\": 42"));
	assert_non_null(strstr(text, "\"drops\": 9"));
	assert_null(strstr(text, "tunio")); /* a process that never attached is not shown */
	free(text);

	/* A hostile writer: names without NUL, a count past the table. Bounded output, no crash. */
	memset(r->entry[0].name, 'A', sizeof(r->entry[0].name));
	r->count = 100000;
	text = print_to_string(path, true, &rc);
	assert_int_equal(rc, 0);
	free(text);

	close(fd);
	unlink(path);
}

static void test_missing_or_foreign_file(void **state)
{
	int rc;
	char *text = print_to_string("/nonexistent/tungate.stats", false, &rc);

	assert_int_equal(rc, -1);
	free(text);
	text = print_to_string("/etc/hostname", false, &rc);
	assert_int_equal(rc, -1);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_publish_and_print),
	        cmocka_unit_test(test_missing_or_foreign_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Two real processes share one link: the child produces a million descriptors (sequence
 * number in both the descriptor and its slot), the parent consumes them through the libevent
 * driver. Checks: nothing lost, nothing duplicated, order kept, every slot back at the end,
 * and the producer really slept on its bell (the sleep protocol was exercised, not bypassed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "link.h"
#include "link_event.h"
#include "log.h"
#include "proto.h"

#define COUNT      1000000u
#define SLOTS      256u
#define SLOT_SIZE  64u
#define DEADLINE_S 60

struct consumer {
	struct event_base *base;
	uint64_t expected;
	uint64_t bad;
};

static int wait_bell(struct tg_link_end *end, int timeout_ms)
{
	struct pollfd pfd = {.fd = tg_link_bell_fd(end), .events = POLLIN};

	if (!tg_link_prepare_sleep(end))
		return 1;
	if (poll(&pfd, 1, timeout_ms) < 0)
		return -1;
	tg_link_wake(end);
	return 1;
}

static int produce(int memfd, int bell_self, int bell_peer)
{
	struct tg_link_end *end = tg_link_attach(memfd, 0, bell_self, bell_peer);
	uint64_t sleeps = 0;
	int waited_ms = 0;

	if (!end)
		return 10;
	for (uint32_t seq = 0; seq < COUNT; seq++) {
		struct tg_desc d = {.len = sizeof(uint64_t), .arg = seq, .type = TG_MSG_PACKET};
		uint64_t payload = (uint64_t)seq * 2654435761u;

		while ((d.slot = tg_link_alloc(end)) == TG_NO_SLOT) {
			tg_link_flush(end);
			sleeps++;
			wait_bell(end, 100);
		}
		memcpy(tg_link_slot(end, d.slot), &payload, sizeof(payload));
		if (tg_link_send(end, &d) < 0)
			return 11;
	}
	tg_link_flush(end);
	/* Every slot must come back: nothing leaked on the consumer side. */
	while (tg_link_free_slots(end) != SLOTS) {
		if (waited_ms > DEADLINE_S * 1000)
			return 12;
		wait_bell(end, 10);
		waited_ms += 10;
	}
	if (sleeps == 0)
		return 13;
	if (tg_link_stats(end)->bad_descs != 0)
		return 14;
	tg_link_detach(end);
	return 0;
}

static unsigned drain(struct tg_link_end *end, unsigned budget, void *arg)
{
	struct consumer *c = arg;
	struct tg_desc d[TG_LINK_BURST];
	unsigned total = 0, n;

	while (total < budget && (n = tg_link_recv(end, d, TG_LINK_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			uint64_t payload;

			memcpy(&payload, tg_link_peer_slot(end, d[i].slot), sizeof(payload));
			if (d[i].arg != c->expected ||
			    payload != (uint64_t)c->expected * 2654435761u)
				c->bad++;
			c->expected = (uint64_t)d[i].arg + 1;
			tg_link_release(end, d[i].slot);
		}
		total += n;
	}
	if (c->expected == COUNT) {
		tg_link_flush(end);
		event_base_loopexit(c->base, NULL);
	}
	return total;
}

static void test_million_descriptors_two_processes(void **state)
{
	struct tg_link_params params = {
	        .name = "2proc", .slot_size = SLOT_SIZE, .slot_count = SLOTS, .epoch = 1};
	struct consumer c = {0};
	struct timeval deadline = {DEADLINE_S, 0};
	int memfd = tg_link_create(&params);
	int bell[2] = {eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
	               eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
	struct tg_link_end *end;
	struct tg_link_event *lev;
	int status;
	pid_t pid;

	assert_true(memfd >= 0 && bell[0] >= 0 && bell[1] >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(produce(memfd, bell[0], bell[1]));

	end = tg_link_attach(memfd, 1, bell[1], bell[0]);
	assert_non_null(end);
	c.base = event_base_new();
	lev = tg_link_event_new(c.base, end, drain, &c);
	assert_non_null(lev);
	event_base_loopexit(c.base, &deadline);
	event_base_dispatch(c.base);
	/* Keep serving returned slots until the producer has seen them all and exited. */
	tg_link_flush(end);

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(c.expected, COUNT);
	assert_int_equal(c.bad, 0);
	assert_int_equal(tg_link_stats(end)->rx_descs, COUNT);
	assert_int_equal(tg_link_stats(end)->bad_descs, 0);

	tg_link_event_free(lev);
	tg_link_detach(end);
	event_base_free(c.base);
	close(memfd);
	close(bell[0]);
	close(bell[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_million_descriptors_two_processes),
	};

	log_init("test_link_2proc", TG_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "ctl_event.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdarg.h"
#include "log.h"

struct tg_ctl_event {
	struct event *ev;
	tg_ctl_handler handler;
	void *arg;
};

static void on_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct tg_ctl_event *ce = arg;
	struct tg_ctl_msg msg;
	int fds[TG_CTL_MAX_FDS];
	int n;

	for (;;) {
		n = tg_ctl_recv(fd, &msg, fds);
		if (n == -2) {
			ce->handler(NULL, NULL, 0, ce->arg);
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("control socket");
			return;
		}
		ce->handler(&msg, fds, n, ce->arg);
	}
}

struct tg_ctl_event *tg_ctl_event_new(struct event_base *base, int fd, tg_ctl_handler handler,
                                      void *arg)
{
	struct tg_ctl_event *ce = calloc(1, sizeof(*ce));

	if (!ce)
		return NULL;
	ce->handler = handler;
	ce->arg = arg;
	ce->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_ctl, ce);
	if (!ce->ev || event_add(ce->ev, NULL) < 0) {
		tg_ctl_event_free(ce);
		return NULL;
	}
	return ce;
}

void tg_ctl_event_free(struct tg_ctl_event *ce)
{
	if (!ce)
		return;
	if (ce->ev)
		event_free(ce->ev);
	free(ce);
}

int tg_ctl_take_link(const struct tg_ctl_msg *msg, int *fds, int nfds, unsigned want_link,
                     struct tg_link_fds *fds_io)
{
	if (msg->type != TG_CTL_LINK_RESET || msg->link != want_link || nfds != 3) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -1;
	}
	close(fds_io->memfd);
	close(fds_io->bell_self);
	close(fds_io->bell_peer);
	fds_io->memfd = fds[0];
	fds_io->bell_self = fds[1];
	fds_io->bell_peer = fds[2];
	return 0;
}

/*
 * A child's end of its control socket, on its libevent loop. The handler gets each message
 * with the fds it carried (it owns them), or msg == NULL once tungate is gone (EOF).
 */
#ifndef TG_CTL_EVENT_H
#define TG_CTL_EVENT_H

#include "ctl.h"

struct event_base;
struct tg_ctl_event;

typedef void (*tg_ctl_handler)(const struct tg_ctl_msg *msg, int *fds, int nfds, void *arg);

struct tg_ctl_event *tg_ctl_event_new(struct event_base *base, int fd, tg_ctl_handler handler,
                                      void *arg);
void tg_ctl_event_free(struct tg_ctl_event *ce);

/*
 * The usual handling of LINK_RESET: checks the message carries three fds for `want_link`,
 * then swaps them into *fds_io (closing the old ones). Returns 0, or -1 (fds closed) if the
 * message is not a reset of that link.
 */
struct tg_link_fds;
int tg_ctl_take_link(const struct tg_ctl_msg *msg, int *fds, int nfds, unsigned want_link,
                     struct tg_link_fds *fds_io);

#endif

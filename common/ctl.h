/*
 * The control channel between tungate and each child: a SOCK_SEQPACKET socketpair, one small
 * typed message per packet, with file descriptors attached (SCM_RIGHTS) where a message hands
 * over a new link. EOF means the other end is gone.
 *
 * A child says READY once it is set up; a child that dies before that failed to start, which
 * is what tungate's restart limit counts. tungate -> child: LINK_RESET, and CONFIG after a
 * SIGHUP (log level and timeouts; every value is range-checked by the child again). The child's
 * peer on that link died; the child drops everything it had on the old link (its segment is
 * discarded whole, so no slot can leak and no stale descriptor can be read) and attaches to the new
 * one, whose epoch is higher.
 */
#ifndef TG_CTL_H
#define TG_CTL_H

#include <stdint.h>

#define TG_CTL_MAGIC 0x4c544354u /* "TCTL" */

enum tg_ctl_type {
	TG_CTL_LINK_RESET = 1, /* tungate -> child; fds: memfd, bell_self, bell_peer */
	TG_CTL_READY = 2,      /* child -> tungate: set up, sandboxed, serving; no fds */
	TG_CTL_CONFIG = 3,     /* tungate -> child: settings that change live (SIGHUP) */
};

enum tg_ctl_link {
	TG_CTL_LINK_A = 0,
	TG_CTL_LINK_B = 1,
};

/* What a running child can take without dropping flows; each child uses its own part. */
struct tg_ctl_config {
	uint32_t log_level;
	uint32_t tcp_idle_timeout;
	uint32_t tcp_half_close_timeout;
	uint32_t udp_timeout;
	uint32_t dns_timeout;
	uint32_t connect_timeout;
};

struct tg_ctl_msg {
	uint32_t magic;
	uint32_t type;               /* enum tg_ctl_type */
	uint32_t link;               /* LINK_RESET: enum tg_ctl_link */
	uint32_t epoch;              /* LINK_RESET: the new link's epoch */
	struct tg_ctl_config config; /* CONFIG */
};
_Static_assert(sizeof(struct tg_ctl_msg) == 40, "wire struct");

#define TG_CTL_MAX_FDS 3

/* Returns 0, or -1 with errno set. */
int tg_ctl_send(int sock, const struct tg_ctl_msg *msg, const int *fds, unsigned nfds);
/*
 * Receives one message and up to TG_CTL_MAX_FDS fds (CLOEXEC). Returns the number of fds
 * (>= 0), -1 on error (errno; EAGAIN when nothing is there), or -2 at EOF. A message of the
 * wrong size or magic is refused (-1, EBADMSG) and any fds it carried are closed.
 */
int tg_ctl_recv(int sock, struct tg_ctl_msg *msg, int *fds);
/* A child's READY; failures are ignored (tungate then treats the child as never ready). */
void tg_ctl_send_ready(int sock);

#endif

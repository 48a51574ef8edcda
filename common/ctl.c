#include "ctl.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tg_ctl_send(int sock, const struct tg_ctl_msg *msg, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TG_CTL_MAX_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = sizeof(*msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > TG_CTL_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*msg) ? 0 : -1;
}

static int take_fds(struct msghdr *mh, int *fds)
{
	int n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < TG_CTL_MAX_FDS)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

int tg_ctl_recv(int sock, struct tg_ctl_msg *msg, int *fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (TG_CTL_MAX_FDS + 1))];
		struct cmsghdr align;
	} ctrl;
	struct tg_ctl_msg m;
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = ctrl.buf,
	                    .msg_controllen = sizeof(ctrl.buf)};
	ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	int n;

	if (r == 0)
		return -2;
	if (r < 0)
		return -1;
	n = take_fds(&mh, fds);
	if (r != (ssize_t)sizeof(m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    m.magic != TG_CTL_MAGIC) {
		for (int i = 0; i < n; i++)
			close(fds[i]);
		errno = EBADMSG;
		return -1;
	}
	*msg = m;
	return n;
}

void tg_ctl_send_ready(int sock)
{
	struct tg_ctl_msg m = {.magic = TG_CTL_MAGIC, .type = TG_CTL_READY};

	/* write(), not sendmsg(): a sandboxed child may write to the fds it holds, nothing more. */
	if (sock >= 0 && write(sock, &m, sizeof(m)) != (ssize_t)sizeof(m)) {
		/* tungate is gone or full: it will learn from our exit, if it matters */
	}
}

/*
 * auto-route over rtnetlink with libmnl. The socket is opened inside the TUN's namespace and
 * kept: a netlink socket acts on the namespace it was created in, so removal at exit needs no
 * setns. It does not carry its opener's privilege, though: rtnetlink checks CAP_NET_ADMIN of
 * the socket's opener and of the sender (netlink_net_capable), so tungate keeps that
 * capability while routes are in place (privsep.c, docs/security.md).
 */
#include "route.h"

#include <errno.h>
#include <limits.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "log.h"
#include "route_plan.h"
#include "tun.h"

struct tg_route {
	pid_t owner; /* the tungate that added them: a forked child must never remove them */
	struct mnl_socket *nl;
	unsigned portid;
	unsigned seq;
	unsigned ifindex;
	char path[PATH_MAX]; /* the state file */
	struct tg_route_item added[TG_ROUTE_ITEMS_MAX];
	size_t nadded;
};

/* Sends one request and waits for its acknowledgement. Returns 0 or -1 with errno. */
static int nl_talk(struct tg_route *r, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	ssize_t n;
	int rc;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++r->seq;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
		if (n < 0)
			return -1;
		rc = mnl_cb_run(buf, (size_t)n, r->seq, r->portid, NULL, NULL);
	} while (rc > 0);
	return rc < 0 ? -1 : 0;
}

static void put_route(struct tg_route *r, char *buf, int type, unsigned flags,
                      const struct tg_route_item *it)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = (uint16_t)flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = it->family;
	rtm->rtm_dst_len = it->dst.len;
	rtm->rtm_table = RT_TABLE_UNSPEC; /* RTA_TABLE holds all 32 bits */
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_type = it->throw ? RTN_THROW : RTN_UNICAST;
	rtm->rtm_scope = it->throw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	mnl_attr_put_u32(nlh, RTA_TABLE, it->table);
	if (it->dst.len)
		mnl_attr_put(nlh, RTA_DST, it->family == AF_INET ? 4 : 16, it->dst.addr);
	/* On removal the device may be gone (a crashed run's TUN): match without it. */
	if (!it->throw &&type == RTM_NEWROUTE)
		mnl_attr_put_u32(nlh, RTA_OIF, r->ifindex);
}

static void put_rule(char *buf, int type, unsigned flags, const struct tg_route_item *it)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *frh;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = (uint16_t)flags;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = it->family;
	frh->action = FR_ACT_TO_TBL;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, it->pref);
	mnl_attr_put_u32(nlh, FRA_TABLE, it->table);
	if (it->suppress) {
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	} else {
		frh->flags = FIB_RULE_INVERT;
		mnl_attr_put_u32(nlh, FRA_FWMARK, it->fwmark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	}
}

static int item_send(struct tg_route *r, const struct tg_route_item *it, bool add)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;

	if (it->kind == TG_ITEM_ROUTE)
		put_route(r, buf, add ? RTM_NEWROUTE : RTM_DELROUTE, flags, it);
	else
		put_rule(buf, add ? RTM_NEWRULE : RTM_DELRULE, flags, it);
	return nl_talk(r, (struct nlmsghdr *)buf);
}

/* Gone already is fine: the device took its routes with it, or someone removed it. */
static void item_remove(struct tg_route *r, const struct tg_route_item *it)
{
	char line[TG_ROUTE_LINE_MAX];

	tg_route_item_format(it, line, sizeof(line));
	if (item_send(r, it, false) == 0)
		log_debug("auto-route: removed %s", line);
	else if (errno != ENOENT && errno != ESRCH && errno != ENODEV)
		log_warn("auto-route: cannot remove %s", line);
}

static void state_save(struct tg_route *r)
{
	if (tg_route_state_write(r->path, r->added, r->nadded) < 0)
		log_warn("auto-route: %s: cannot record the routes added", r->path);
}

/* A crashed (or SIGKILLed) tungate of this device left its state file: undo what it says. */
static void leftovers_remove(struct tg_route *r)
{
	struct tg_route_item *old = calloc(TG_ROUTE_ITEMS_MAX, sizeof(*old));
	size_t bad;
	int n;

	if (!old)
		fatal("calloc");
	n = tg_route_state_read(r->path, old, TG_ROUTE_ITEMS_MAX, &bad);
	if (n < 0) {
		if (errno != ENOENT)
			log_warn("auto-route: %s", r->path);
		free(old);
		return;
	}
	log_warnx("auto-route: %s is left from a tungate that did not stop cleanly: removing its "
	          "%d routes and rules%s",
	          r->path, n, bad ? " (some lines were not understood)" : "");
	for (int i = n; i-- > 0;)
		item_remove(r, &old[i]);
	if (unlink(r->path) < 0)
		log_warn("auto-route: unlink %s", r->path);
	free(old);
}

static void nl_open(struct tg_route *r, const struct tg_config *cfg, const char *ifname)
{
	int home = tg_netns_enter(cfg->netns);

	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl || mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		fatal("auto-route: netlink socket");
	r->portid = mnl_socket_get_portid(r->nl);
	r->ifindex = if_nametoindex(ifname);
	if (r->ifindex == 0)
		fatal("auto-route: %s", ifname);
	tg_netns_leave(home);
}

/*
 * An exit through fatal() after setup (a chroot that is not empty, a failed spawn of the event
 * loop) removes the routes too: only SIGKILL and crashes leave them to the next start.
 */
static struct tg_route *active;

static void teardown_at_exit(void)
{
	if (active && active->owner == getpid())
		tg_route_teardown(active);
}

static void items_add(struct tg_route *r, const struct tg_route_item *plan, size_t n)
{
	char line[TG_ROUTE_LINE_MAX];

	for (size_t i = 0; i < n; i++) {
		tg_route_item_format(&plan[i], line, sizeof(line));
		if (item_send(r, &plan[i], true) < 0) {
			/*
			 * A throw route or a rule that exists already does what ours would: used
			 * as it is, and left alone at exit. A "dev TUN" route that exists is
			 * another gateway's (the same table in use twice): ours would silently go
			 * there.
			 */
			if (errno == EEXIST && (plan[i].kind != TG_ITEM_ROUTE || plan[i].throw)) {
				log_warnx("auto-route: %s exists already: not ours to remove",
				          line);
				continue;
			}
			if (errno == EEXIST)
				log_warnx("auto-route: %s exists already, through another device "
				          "or another tungate: set [route] table to one of its own",
				          line);
			else
				log_warn("auto-route: cannot add %s", line);
			tg_route_teardown(r);
			fatalx("auto-route failed: what it had added is removed again");
		}
		log_debug("auto-route: added %s", line);
		r->added[r->nadded++] = plan[i];
		state_save(r);
	}
}

struct tg_route *tg_route_setup(const struct tg_config *cfg, const char *ifname)
{
	struct tg_route_item *plan;
	struct tg_route *r;
	size_t n;

	if (cfg->route_auto == TG_ROUTE_NO)
		return NULL;
	if (!(r = calloc(1, sizeof(*r))) || !(plan = calloc(TG_ROUTE_ITEMS_MAX, sizeof(*plan))))
		fatal("calloc");
	r->seq = (unsigned)time(NULL);
	r->owner = getpid();
	if (mkdir("/run/tungate", 0755) < 0 && errno != EEXIST)
		log_warn("mkdir /run/tungate");
	tg_config_routes_path(cfg, r->path, sizeof(r->path));
	nl_open(r, cfg, ifname);
	leftovers_remove(r);
	n = tg_route_plan(cfg, plan, TG_ROUTE_ITEMS_MAX);
	active = r;
	if (atexit(teardown_at_exit) != 0)
		log_warnx("auto-route: atexit failed: a fatal error will leave the routes");
	items_add(r, plan, n);
	log_info("auto-route: %zu routes and rules through %s (table %u, relay mark %#x), "
	         "recorded in %s",
	         r->nadded, ifname, cfg->route_table, tg_config_relay_mark(cfg), r->path);
	free(plan);
	return r;
}

void tg_route_teardown(struct tg_route *r)
{
	if (!r)
		return;
	active = NULL;
	/* Backwards: the rules go before the routes they point at. */
	while (r->nadded > 0) {
		item_remove(r, &r->added[r->nadded - 1]);
		r->nadded--;
		state_save(r);
	}
	if (unlink(r->path) < 0 && errno != ENOENT)
		log_warn("auto-route: unlink %s", r->path);
	mnl_socket_close(r->nl);
	free(r);
}

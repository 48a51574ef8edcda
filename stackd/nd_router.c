/*
 * Router advertisements (RFC 4861 section 6.2) for [tun] router_advertisements in TAP mode.
 * lwIP, a host, sends none. Each RA offers the /64 of the gateway's IPv6 address as an on-link,
 * autonomous prefix (clients configure an address in it by SLAAC), the gateway's link-local
 * address as default router, its MAC and the MTU. They go out
 *   - unsolicited, to all nodes: the first MAX_INITIAL_RTR_ADVERTISEMENTS at most
 *     MAX_INITIAL_RTR_ADVERT_INTERVAL apart, then every MinRtrAdvInterval..MaxRtrAdvInterval
 *     (RFC 4861's defaults, 200..600 s, chosen at random each time);
 *   - in answer to a router solicitation, after a random 0..MAX_RA_DELAY_TIME: to the asker
 *     alone, or to all nodes when more than one host asks meanwhile or the asker has no address
 *     yet; multicast ones at most once per MIN_DELAY_BETWEEN_RAS. Solicitations from many
 *     hosts so cost at most one RA per delay; a single host asking again and again gets a
 *     unicast RA per solicitation (its own traffic, answered at most one-for-one).
 * When stackd stops, a last RA with router lifetime 0 withdraws the default route (6.2.5).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/nd6.h"

#include "log.h"
#include "stackd.h"
#include "tap_answer.h"

#define MAX_RTR_ADV_INTERVAL_MS  600000u
#define MIN_RTR_ADV_INTERVAL_MS  200000u
#define ROUTER_LIFETIME_S        1800u /* 3 * MaxRtrAdvInterval */
#define INITIAL_ADVERTS          3u
#define INITIAL_INTERVAL_MS      16000u
#define MIN_DELAY_BETWEEN_RAS_MS 3000u
#define MAX_RA_DELAY_MS          500u
#define VALID_LIFETIME_S         2592000u /* AdvValidLifetime: 30 days */
#define PREFERRED_LIFETIME_S     604800u  /* AdvPreferredLifetime: 7 days */
#define ADV_CUR_HOP_LIMIT        64u
#define RA_LEN                                                                                     \
	(sizeof(struct ra_header) + sizeof(struct lladdr_option) + sizeof(struct mtu_option) +     \
	 sizeof(struct prefix_option))

enum reply_to {
	REPLY_NONE,
	REPLY_ASKER,     /* one host asked: unicast */
	REPLY_ALL_NODES, /* several, or one from ::, asked: multicast */
};

static struct {
	struct stackd *sd; /* NULL: router advertisements are off */
	struct event *periodic;
	struct event *reply;
	unsigned initial_left; /* unsolicited RAs still at the short initial interval */
	uint64_t last_all_nodes_ms;
	enum reply_to pending;
	ip6_addr_t asker;
	uint8_t asker_mac[6];
} ra;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fill_ra(const struct stackd *sd, uint8_t *m, uint16_t lifetime)
{
	struct ra_header *h = (struct ra_header *)m;
	struct lladdr_option *ll = (struct lladdr_option *)(h + 1);
	struct mtu_option *mtu = (struct mtu_option *)(ll + 1);
	struct prefix_option *pi = (struct prefix_option *)(mtu + 1);

	memset(m, 0, RA_LEN);
	h->type = ICMP6_TYPE_RA;
	h->current_hop_limit = ADV_CUR_HOP_LIMIT;
	h->router_lifetime = lwip_htons(lifetime);
	/* Reachable time and retransmission timer 0: the clients keep their own. */
	ll->type = ND6_OPTION_TYPE_SOURCE_LLADDR;
	ll->length = 1;
	memcpy(ll->addr, sd->gw_mac, ETH_HWADDR_LEN);
	mtu->type = ND6_OPTION_TYPE_MTU;
	mtu->length = 1;
	mtu->mtu = lwip_htonl(sd->mtu);
	pi->type = ND6_OPTION_TYPE_PREFIX_INFO;
	pi->length = 4;
	pi->prefix_length = 64;
	pi->flags = ND6_PREFIX_FLAG_ON_LINK | ND6_PREFIX_FLAG_AUTONOMOUS;
	pi->valid_lifetime = lwip_htonl(VALID_LIFETIME_S);
	pi->preferred_lifetime = lwip_htonl(PREFERRED_LIFETIME_S);
	memcpy(&pi->prefix, sd->gw_ipv6, 8); /* the /64; the rest stays zero */
}

static void send_ra(uint16_t lifetime, const ip6_addr_t *dst, const uint8_t dst_mac[6])
{
	struct pbuf *p = pbuf_alloc(PBUF_IP, RA_LEN, PBUF_RAM);

	if (!p)
		return;
	fill_ra(ra.sd, p->payload, lifetime);
	if (nd_msg_send(ra.sd, p, nd_gateway_linklocal(ra.sd), dst, dst_mac) == ERR_OK)
		ra.sd->ctr.ra_sent++;
	pbuf_free(p);
}

static void send_all_nodes(uint16_t lifetime)
{
	static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
	ip6_addr_t all_nodes;

	ip6_addr_set_allnodes_linklocal(&all_nodes);
	ip6_addr_clear_zone(&all_nodes);
	send_ra(lifetime, &all_nodes, all_nodes_mac);
	ra.last_all_nodes_ms = now_ms();
}

static void arm(struct event *ev, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000u), .tv_usec = (long)(ms % 1000u) * 1000};

	if (evtimer_add(ev, &tv) < 0)
		log_warnx("router advertisements: cannot arm a timer");
}

static void on_periodic(evutil_socket_t fd, short what, void *arg)
{
	uint32_t ms = MIN_RTR_ADV_INTERVAL_MS +
	              arc4random_uniform(MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS + 1);

	send_all_nodes(ROUTER_LIFETIME_S);
	if (ra.initial_left > 0) {
		ra.initial_left--;
		if (ms > INITIAL_INTERVAL_MS)
			ms = INITIAL_INTERVAL_MS;
	}
	arm(ra.periodic, ms);
	stackd_flush_links();
}

static void on_reply(evutil_socket_t fd, short what, void *arg)
{
	if (ra.pending == REPLY_ASKER)
		send_ra(ROUTER_LIFETIME_S, &ra.asker, ra.asker_mac);
	else if (ra.pending == REPLY_ALL_NODES)
		send_all_nodes(ROUTER_LIFETIME_S);
	ra.pending = REPLY_NONE;
	stackd_flush_links();
}

void nd_router_solicited(struct stackd *sd, const struct nd_solicit *s)
{
	uint64_t now = now_ms(), due = now + arc4random_uniform(MAX_RA_DELAY_MS + 1);
	bool has_address = !ip6_addr_isany_val(s->src);

	if (!ra.sd || ra.pending == REPLY_ALL_NODES)
		return;
	if (ra.pending == REPLY_NONE && has_address) {
		ra.pending = REPLY_ASKER;
		ra.asker = s->src;
		memcpy(ra.asker_mac, s->reply_mac, sizeof(ra.asker_mac));
		arm(ra.reply, due - now);
		return;
	}
	if (ra.pending == REPLY_ASKER && has_address && ip6_addr_cmp_zoneless(&ra.asker, &s->src))
		return; /* the same host again: its answer is on the way */
	ra.pending = REPLY_ALL_NODES;
	if (ra.last_all_nodes_ms && due < ra.last_all_nodes_ms + MIN_DELAY_BETWEEN_RAS_MS)
		due = ra.last_all_nodes_ms + MIN_DELAY_BETWEEN_RAS_MS;
	arm(ra.reply, due - now);
}

int nd_router_init(struct stackd *sd)
{
	char prefix[INET6_ADDRSTRLEN], router[INET6_ADDRSTRLEN];
	uint8_t p[16] = {0};

	if (!sd->tap || !sd->router_advertisements)
		return 0;
	if (!sd->has_gw_ipv6)
		return -1;
	ra.periodic = evtimer_new(sd->base, on_periodic, NULL);
	ra.reply = evtimer_new(sd->base, on_reply, NULL);
	if (!ra.periodic || !ra.reply)
		return -1;
	ra.sd = sd;
	ra.initial_left = INITIAL_ADVERTS - 1; /* the first one goes out now */
	arm(ra.periodic, 0);
	memcpy(p, sd->gw_ipv6, 8);
	log_info("router advertisements: prefix %s/64, router %s",
	         inet_ntop(AF_INET6, p, prefix, sizeof(prefix)),
	         inet_ntop(AF_INET6, nd_gateway_linklocal(sd)->addr, router, sizeof(router)));
	return 0;
}

void nd_router_shutdown(void)
{
	if (!ra.sd)
		return;
	send_all_nodes(0);
	event_free(ra.periodic);
	event_free(ra.reply);
	ra.sd = NULL;
}

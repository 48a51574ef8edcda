/*
 * lwIP with the accept-any patch: hand-built packets go into one netif, and the wildcard TCP
 * listener and UDP pcb must see flows to arbitrary destinations with the original destination
 * intact. Packets are built and checked with tests/support/pkt.c (common/inet_csum.c), not
 * with lwIP's checksum code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

#include "log.h"
#include "pkt.h"
#include "tg_lwip.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define MAX_PKT 2048
#define MAX_OUT 16

/* ---- Packets the netif sent ------------------------------------------------------------- */

static struct {
	uint8_t data[MAX_PKT];
	size_t len;
} out[MAX_OUT];
static int nout;
static int out_overflow;

static void capture(struct pbuf *p)
{
	if (nout == MAX_OUT || p->tot_len > MAX_PKT) {
		out_overflow++;
		return;
	}
	out[nout].len = pbuf_copy_partial(p, out[nout].data, p->tot_len, 0);
	nout++;
}

static err_t output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *next_hop)
{
	capture(p);
	return ERR_OK;
}

static err_t output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *next_hop)
{
	capture(p);
	return ERR_OK;
}

static void clear_out(void)
{
	nout = 0;
	out_overflow = 0;
}

/* ---- Packet building (tests/support/pkt.c) ------------------------------------------------ */

/* One endpoint pair; addresses are 4 or 16 bytes according to v6. */
struct ends {
	int v6;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

static size_t addr_len(const struct ends *e)
{
	return e->v6 ? 16 : 4;
}

/* Writes the IP header for an l4len-byte payload (IPv4: DF, a fixed id); returns its length. */
static size_t put_ip(uint8_t *pkt, const struct ends *e, uint8_t proto, size_t l4len)
{
	return pkt_ip_header(pkt, e->v6, e->src, e->dst, proto, (uint32_t)l4len, 0x1234, 0x4000);
}

/* A TCP segment; a SYN carries MSS 1460 and window scale 7. */
static size_t build_tcp(uint8_t *pkt, const struct ends *e, uint32_t seq, uint32_t ack,
                        uint8_t flags, const char *payload)
{
	static const uint8_t synopts[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
	size_t optlen = (flags & TH_SYN) ? sizeof(synopts) : 0;
	size_t plen = payload ? strlen(payload) : 0;
	size_t l4len = 20 + optlen + plen;
	size_t hlen = put_ip(pkt, e, IP_PROTO_TCP, l4len);
	uint8_t *tcp = pkt + hlen;

	memset(tcp, 0, 20);
	pkt_put16(tcp, e->sport);
	pkt_put16(tcp + 2, e->dport);
	pkt_put32(tcp + 4, seq);
	pkt_put32(tcp + 8, ack);
	tcp[12] = (uint8_t)((20 + optlen) / 4) << 4;
	tcp[13] = flags;
	pkt_put16(tcp + 14, 65535);
	memcpy(tcp + 20, synopts, optlen);
	if (plen > 0)
		memcpy(tcp + 20 + optlen, payload, plen);
	pkt_set_l4_csum(e->v6, e->src, e->dst, IP_PROTO_TCP, tcp, (uint32_t)l4len);
	return hlen + l4len;
}

static size_t build_udp(uint8_t *pkt, const struct ends *e, const char *payload)
{
	size_t l4len = 8 + strlen(payload);
	size_t hlen = put_ip(pkt, e, IP_PROTO_UDP, l4len);
	uint8_t *udp = pkt + hlen;

	pkt_put16(udp, e->sport);
	pkt_put16(udp + 2, e->dport);
	pkt_put16(udp + 4, (uint16_t)l4len);
	pkt_put16(udp + 6, 0);
	memcpy(udp + 8, payload, strlen(payload));
	pkt_set_l4_csum(e->v6, e->src, e->dst, IP_PROTO_UDP, udp, (uint32_t)l4len);
	return hlen + l4len;
}

static struct netif tnetif;

/* Hands a packet to the netif the way stackd does: one PBUF_RAM pbuf, owned by lwIP. */
static void feed(const uint8_t *pkt, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	assert_non_null(p);
	memcpy(p->payload, pkt, len);
	if (tnetif.input(p, &tnetif) != ERR_OK)
		pbuf_free(p);
}

/* ---- Parsing what came out --------------------------------------------------------------- */

struct parsed {
	int v6;
	uint8_t proto;
	const uint8_t *src, *dst;
	const uint8_t *l4;
	size_t l4len;
};

/* Parses out[i] and checks every checksum in it; fails the test if anything is off. */
static void parse_out(int i, struct parsed *pp)
{
	const uint8_t *pkt = out[i].data;
	size_t len = out[i].len;

	assert_true(i < nout);
	assert_true(len >= 20);
	if ((pkt[0] >> 4) == 6) {
		assert_true(len >= 40);
		assert_int_equal(pkt_get16(pkt + 4), len - 40);
		pp->v6 = 1;
		pp->proto = pkt[6];
		pp->src = pkt + 8;
		pp->dst = pkt + 24;
		pp->l4 = pkt + 40;
		pp->l4len = len - 40;
	} else {
		assert_int_equal(pkt[0], 0x45);
		assert_int_equal(pkt_get16(pkt + 2), len);
		assert_int_equal(tg_csum(pkt, 20), 0);
		pp->v6 = 0;
		pp->proto = pkt[9];
		pp->src = pkt + 12;
		pp->dst = pkt + 16;
		pp->l4 = pkt + 20;
		pp->l4len = len - 20;
	}
	assert_true(pp->proto == IP_PROTO_TCP || pp->proto == IP_PROTO_UDP);
	assert_int_equal(
	        pkt_l4_csum(pp->v6, pp->src, pp->dst, pp->proto, pp->l4, (uint32_t)pp->l4len), 0);
}

/* Checks that out[i] is a TCP segment from e's destination back to e's source. */
static void expect_tcp_reply(int i, const struct ends *e, uint8_t flags, uint32_t ack,
                             struct parsed *pp)
{
	parse_out(i, pp);
	assert_int_equal(pp->v6, e->v6);
	assert_int_equal(pp->proto, IP_PROTO_TCP);
	assert_memory_equal(pp->src, e->dst, addr_len(e));
	assert_memory_equal(pp->dst, e->src, addr_len(e));
	assert_int_equal(pkt_get16(pp->l4), e->dport);
	assert_int_equal(pkt_get16(pp->l4 + 2), e->sport);
	assert_int_equal(pp->l4[13], flags);
	assert_int_equal(pkt_get32(pp->l4 + 8), ack);
}

/* ---- lwIP side ----------------------------------------------------------------------------- */

struct accepted {
	int count;
	void *listener_arg;
	struct tcp_pcb *pcb;
	ip_addr_t local_ip, remote_ip;
	uint16_t local_port, remote_port;
	char data[64];
	size_t data_len;
};

static struct accepted acc;
static struct tcp_pcb *wild_listener, *port9090_listener;
static struct udp_pcb *wild_udp, *port7777_udp;
static int wild_tag = 1, port9090_tag = 2;

struct udp_seen {
	int count;
	struct udp_pcb *pcb;
	ip_addr_t src, dst;
	uint16_t sport, dport;
	char data[64];
};

static struct udp_seen useen;

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	if (p == NULL)
		return ERR_OK;
	acc.data_len += pbuf_copy_partial(p, acc.data + acc.data_len,
	                                  (u16_t)(sizeof(acc.data) - 1 - acc.data_len), 0);
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	assert_int_equal(err, ERR_OK);
	acc.count++;
	acc.listener_arg = arg;
	acc.pcb = newpcb;
	ip_addr_copy(acc.local_ip, newpcb->local_ip);
	ip_addr_copy(acc.remote_ip, newpcb->remote_ip);
	acc.local_port = newpcb->local_port;
	acc.remote_port = newpcb->remote_port;
	tcp_recv(newpcb, on_recv);
	return ERR_OK;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port)
{
	size_t n;

	useen.count++;
	useen.pcb = pcb;
	ip_addr_copy(useen.src, *addr);
	useen.sport = port;
	ip_addr_copy(useen.dst, *ip_current_dest_addr());
	useen.dport = tg_lwip_udp_current_dest_port();
	n = pbuf_copy_partial(p, useen.data, sizeof(useen.data) - 1, 0);
	useen.data[n] = '\0';
	pbuf_free(p);
}

static err_t tnetif_init(struct netif *netif)
{
	netif->name[0] = 't';
	netif->name[1] = 'g';
	netif->mtu = 1500;
	netif->output = output4;
	netif->output_ip6 = output6;
	return ERR_OK;
}

static void reset_seen(void)
{
	memset(&acc, 0, sizeof(acc));
	memset(&useen, 0, sizeof(useen));
	clear_out();
}

static int group_setup(void **state)
{
	ip4_addr_t addr, mask, gw;
	ip6_addr_t addr6;

	log_init("test_lwip_accept_any", TG_LOG_WARN);
	lwip_init();
	IP4_ADDR(&addr, 198, 18, 0, 1);
	IP4_ADDR(&mask, 255, 254, 0, 0);
	ip4_addr_set_zero(&gw);
	if (netif_add(&tnetif, &addr, &mask, &gw, NULL, tnetif_init, ip_input) == NULL)
		return -1;
	ip6addr_aton("fd00::1", &addr6);
	netif_ip6_addr_set(&tnetif, 0, &addr6);
	netif_ip6_addr_set_state(&tnetif, 0, IP6_ADDR_VALID);
	netif_set_default(&tnetif);
	netif_set_up(&tnetif);
	netif_set_link_up(&tnetif);

	wild_listener = tg_lwip_tcp_listen_any();
	if (wild_listener == NULL || wild_listener->local_port != 0)
		return -1;
	tcp_arg(wild_listener, &wild_tag);
	tcp_accept(wild_listener, on_accept);

	/* An ordinary listener, to show the wildcard only gets what nobody else wants. */
	port9090_listener = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (port9090_listener == NULL || tcp_bind(port9090_listener, IP_ANY_TYPE, 9090) != ERR_OK)
		return -1;
	port9090_listener = tcp_listen(port9090_listener);
	if (port9090_listener == NULL)
		return -1;
	tcp_arg(port9090_listener, &port9090_tag);
	tcp_accept(port9090_listener, on_accept);

	wild_udp = tg_lwip_udp_bind_any();
	if (wild_udp == NULL || wild_udp->local_port != 0)
		return -1;
	udp_recv(wild_udp, on_udp, NULL);
	port7777_udp = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (port7777_udp == NULL || udp_bind(port7777_udp, IP_ANY_TYPE, 7777) != ERR_OK)
		return -1;
	udp_recv(port7777_udp, on_udp, NULL);
	return 0;
}

static int test_setup(void **state)
{
	reset_seen();
	return 0;
}

static void set_ends4(struct ends *e, const char *src, uint16_t sport, const char *dst,
                      uint16_t dport)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(inet_pton(AF_INET, src, e->src), 1);
	assert_int_equal(inet_pton(AF_INET, dst, e->dst), 1);
	e->sport = sport;
	e->dport = dport;
}

static void set_ends6(struct ends *e, const char *src, uint16_t sport, const char *dst,
                      uint16_t dport)
{
	memset(e, 0, sizeof(*e));
	e->v6 = 1;
	assert_int_equal(inet_pton(AF_INET6, src, e->src), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, e->dst), 1);
	e->sport = sport;
	e->dport = dport;
}

/* Checks an lwIP address against the 4 or 16 bytes of e's source or destination. */
static void expect_addr(const ip_addr_t *a, const struct ends *e, const uint8_t *bytes)
{
	if (e->v6) {
		assert_true(IP_IS_V6(a));
		assert_memory_equal(ip_2_ip6(a)->addr, bytes, 16);
	} else {
		assert_true(IP_IS_V4(a));
		assert_memory_equal(&ip_2_ip4(a)->addr, bytes, 4);
	}
}

/*
 * Runs a full handshake for e against the wildcard listener and checks the accepted pcb: SYN
 * gives a SYN-ACK from the original destination, the final ACK gives exactly one accept with
 * the original destination as the local end; then data reaches the new pcb.
 */
static void handshake(const struct ends *e, void *want_listener)
{
	uint8_t pkt[MAX_PKT];
	struct parsed pp;
	uint32_t iss;

	feed(pkt, build_tcp(pkt, e, 1000, 0, TH_SYN, NULL));
	assert_int_equal(nout, 1);
	expect_tcp_reply(0, e, TH_SYN | TH_ACK, 1001, &pp);
	iss = pkt_get32(pp.l4 + 4);
	assert_int_equal(acc.count, 0);

	feed(pkt, build_tcp(pkt, e, 1001, iss + 1, TH_ACK, NULL));
	assert_int_equal(acc.count, 1);
	assert_ptr_equal(acc.listener_arg, want_listener);
	expect_addr(&acc.local_ip, e, e->dst);
	expect_addr(&acc.remote_ip, e, e->src);
	assert_int_equal(acc.local_port, e->dport);
	assert_int_equal(acc.remote_port, e->sport);
	assert_int_equal(acc.pcb->state, ESTABLISHED);

	/*
	 * The new pcb is found by its exact four-tuple: data arrives, and the second segment
	 * gets an immediate ACK (lwIP delays the ACK of the first).
	 */
	clear_out();
	feed(pkt, build_tcp(pkt, e, 1001, iss + 1, TH_ACK | TH_PSH, "hel"));
	feed(pkt, build_tcp(pkt, e, 1004, iss + 1, TH_ACK | TH_PSH, "lo"));
	assert_int_equal(acc.data_len, 5);
	assert_memory_equal(acc.data, "hello", 5);
	assert_int_equal(nout, 1);
	expect_tcp_reply(0, e, TH_ACK, 1006, &pp);

	tcp_abort(acc.pcb);
	assert_int_equal(out_overflow, 0);
}

static void test_tcp_ipv4_any_destination(void **state)
{
	struct ends e;

	set_ends4(&e, "198.18.0.2", 40000, "198.18.5.5", 8080);
	handshake(&e, &wild_tag);
}

static void test_tcp_ipv6_any_destination(void **state)
{
	struct ends e;

	set_ends6(&e, "fd00::2", 50000, "2001:db8::5", 443);
	handshake(&e, &wild_tag);
}

/*
 * RFC 6528: the next initial sequence number cannot be told from the last ones. lwIP's own
 * generator steps a counter (equal steps here, where no time passes); ours draws each one.
 */
static void test_tcp_isn_unpredictable(void **state)
{
	uint32_t iss[4];

	for (int i = 0; i < 4; i++) {
		uint8_t pkt[MAX_PKT];
		struct parsed pp;
		struct ends e;

		set_ends4(&e, "198.18.0.2", (uint16_t)(41000 + i), "198.18.5.5", 8080);
		feed(pkt, build_tcp(pkt, &e, 1000, 0, TH_SYN, NULL));
		assert_int_equal(nout, i + 1);
		expect_tcp_reply(i, &e, TH_SYN | TH_ACK, 1001, &pp);
		iss[i] = pkt_get32(pp.l4 + 4);
	}
	/* A counter gives equal steps; random draws do so with a chance of 2^-64. */
	assert_false(iss[1] - iss[0] == iss[2] - iss[1] && iss[2] - iss[1] == iss[3] - iss[2]);
}

static void test_tcp_specific_listener_wins(void **state)
{
	struct ends e;

	set_ends4(&e, "198.18.0.2", 40001, "203.0.113.7", 9090);
	handshake(&e, &port9090_tag);
}

static void test_tcp_bad_checksum_dropped(void **state)
{
	uint8_t pkt[MAX_PKT];
	struct ends e;
	size_t len;

	set_ends4(&e, "198.18.0.2", 40002, "198.18.5.5", 8080);
	len = build_tcp(pkt, &e, 1000, 0, TH_SYN, NULL);
	pkt[len - 1] ^= 0x55; /* last option byte */
	feed(pkt, len);
	assert_int_equal(nout, 0);
	assert_int_equal(acc.count, 0);
}

static void test_udp_any_destination(void **state)
{
	uint8_t pkt[MAX_PKT];
	struct ends e;
	struct parsed pp;
	struct pbuf *reply;

	set_ends4(&e, "198.18.0.2", 5000, "198.18.9.9", 5353);
	feed(pkt, build_udp(pkt, &e, "query"));
	assert_int_equal(useen.count, 1);
	assert_ptr_equal(useen.pcb, wild_udp);
	expect_addr(&useen.src, &e, e.src);
	assert_int_equal(useen.sport, 5000);
	expect_addr(&useen.dst, &e, e.dst);
	assert_int_equal(useen.dport, 5353);
	assert_string_equal(useen.data, "query");
	assert_int_equal(nout, 0); /* no ICMP port unreachable */

	/* The answer leaves from the original destination, and the wildcard stays a wildcard. */
	reply = pbuf_alloc(PBUF_TRANSPORT, 6, PBUF_RAM);
	assert_non_null(reply);
	memcpy(reply->payload, "answer", 6);
	assert_int_equal(tg_lwip_udp_send_from(wild_udp, reply, &useen.dst, useen.dport, &useen.src,
	                                       useen.sport),
	                 ERR_OK);
	pbuf_free(reply);
	assert_int_equal(wild_udp->local_port, 0);
	assert_int_equal(nout, 1);
	parse_out(0, &pp);
	assert_int_equal(pp.v6, 0);
	assert_int_equal(pp.proto, IP_PROTO_UDP);
	assert_memory_equal(pp.src, e.dst, 4);
	assert_memory_equal(pp.dst, e.src, 4);
	assert_int_equal(pkt_get16(pp.l4), 5353);
	assert_int_equal(pkt_get16(pp.l4 + 2), 5000);
	assert_int_equal(pp.l4len, 8 + 6);
	assert_memory_equal(pp.l4 + 8, "answer", 6);

	/* Still a wildcard: the next datagram, to elsewhere, arrives too. */
	set_ends4(&e, "198.18.0.2", 5001, "192.0.2.44", 123);
	feed(pkt, build_udp(pkt, &e, "ntp"));
	assert_int_equal(useen.count, 2);
	assert_int_equal(useen.dport, 123);
	expect_addr(&useen.dst, &e, e.dst);
}

static void test_udp_ipv6_any_destination(void **state)
{
	uint8_t pkt[MAX_PKT];
	struct ends e;

	set_ends6(&e, "fd00::2", 6000, "2001:db8::53", 53);
	feed(pkt, build_udp(pkt, &e, "dns"));
	assert_int_equal(useen.count, 1);
	assert_ptr_equal(useen.pcb, wild_udp);
	expect_addr(&useen.src, &e, e.src);
	assert_int_equal(useen.sport, 6000);
	expect_addr(&useen.dst, &e, e.dst);
	assert_int_equal(useen.dport, 53);
	assert_string_equal(useen.data, "dns");
}

static void test_udp_specific_pcb_wins(void **state)
{
	uint8_t pkt[MAX_PKT];
	struct ends e;

	set_ends4(&e, "198.18.0.2", 5002, "198.18.9.9", 7777);
	feed(pkt, build_udp(pkt, &e, "mine"));
	assert_int_equal(useen.count, 1);
	assert_ptr_equal(useen.pcb, port7777_udp);
	assert_int_equal(useen.dport, 7777);
}

static void test_udp_bad_checksum_dropped(void **state)
{
	uint8_t pkt[MAX_PKT];
	struct ends e;
	size_t len;

	set_ends4(&e, "198.18.0.2", 5003, "198.18.9.9", 5353);
	len = build_udp(pkt, &e, "query");
	pkt[len - 1] ^= 0x01;
	feed(pkt, len);
	assert_int_equal(useen.count, 0);
}

static void test_garbage_dropped(void **state)
{
	static const uint8_t tiny[] = {0x45, 0x00, 0x00};
	uint8_t pkt[MAX_PKT];
	struct ends e;
	uint64_t asserts = tg_lwip_assert_count();
	size_t len;

	feed(tiny, sizeof(tiny));

	/* A header claiming 60 bytes of options in a 20-byte packet. */
	set_ends4(&e, "198.18.0.2", 1, "198.18.5.5", 2);
	len = build_tcp(pkt, &e, 1, 0, TH_SYN, NULL);
	pkt[0] = 0x4f;
	feed(pkt, 20);

	/* Total length larger than the packet. */
	len = build_udp(pkt, &e, "short");
	pkt_put16(pkt + 2, 1400);
	pkt_put16(pkt + 10, 0);
	pkt_put16(pkt + 10, tg_csum(pkt, 20));
	feed(pkt, len);

	/* A UDP header cut in half. */
	len = put_ip(pkt, &e, IP_PROTO_UDP, 4);
	memset(pkt + len, 0xab, 4);
	feed(pkt, len + 4);

	/* A TCP header with a data offset past its end, checksum correct. */
	len = build_tcp(pkt, &e, 1, 0, TH_SYN, NULL);
	pkt[20 + 12] = 0xf0;
	pkt_set_l4_csum(false, e.src, e.dst, IP_PROTO_TCP, pkt + 20, (uint32_t)len - 20);
	feed(pkt, len);

	/* IPv6 claiming more payload than there is, and a bare IPv6 header fragment. */
	set_ends6(&e, "fd00::2", 1, "2001:db8::5", 2);
	len = build_udp(pkt, &e, "v6");
	pkt_put16(pkt + 4, 1000);
	feed(pkt, len);
	feed(pkt, 30);

	/* Neither IPv4 nor IPv6, and pure noise. */
	memset(pkt, 0x00, 64);
	feed(pkt, 64);
	for (int i = 0; i < 64; i++)
		pkt[i] = (uint8_t)(i * 37 + 11);
	pkt[0] = 0x45;
	feed(pkt, 64);

	assert_int_equal(nout, 0);
	assert_int_equal(acc.count, 0);
	assert_int_equal(useen.count, 0);
	assert_int_equal(tg_lwip_assert_count(), asserts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_tcp_ipv4_any_destination, test_setup),
	        cmocka_unit_test_setup(test_tcp_ipv6_any_destination, test_setup),
	        cmocka_unit_test_setup(test_tcp_isn_unpredictable, test_setup),
	        cmocka_unit_test_setup(test_tcp_specific_listener_wins, test_setup),
	        cmocka_unit_test_setup(test_tcp_bad_checksum_dropped, test_setup),
	        cmocka_unit_test_setup(test_udp_any_destination, test_setup),
	        cmocka_unit_test_setup(test_udp_ipv6_any_destination, test_setup),
	        cmocka_unit_test_setup(test_udp_specific_pcb_wins, test_setup),
	        cmocka_unit_test_setup(test_udp_bad_checksum_dropped, test_setup),
	        cmocka_unit_test_setup(test_garbage_dropped, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}

/*
 * Shared memory is untrusted (issue #8, docs/security.md): a peer scribbles on the link while
 * the other side runs as the real process does. Each iteration sends one valid message,
 * overwrites one random field of the shared region with a random value (a descriptor field in
 * the ring, a ring header field, or a link B message header in the slot), then lets the
 * receiver consume: link A with stackd's packet loop (netif_link_drain's checks), link B with
 * the flow API's dispatcher on its event loop.
 *
 * Every corruption must end one of three ways, and the test knows which from what it wrote:
 *   - a descriptor or message field: exactly one outcome per message, either delivered
 *     (in bounds: the slot and length passed the link's checks) or counted as a drop
 *     (bad_descs, the consumer's bad-message counter, or the flow API's counters);
 *   - a ring's geometry or index changed: the side that owns it finds out at its next call,
 *     the link is broken and counted once in resets_requested, and a new link (the reset
 *     tungate does by restarting the process) carries a valid message again;
 *   - a field rte_ring never reads (name, flags, sync type): nothing changes.
 * ASan (in the sanitizer build) adds that no access left its object. TG_SEED=N replays a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rte_ring.h>

#include "flowapi.h"
#include "link.h"
#include "link_event.h"
#include "log.h"
#include "proto.h"

#define ITERATIONS 50000u /* per link: 10^5 corruptions in all */
#define SLOT_SIZE  256u
#define SLOTS      16u
#define UDP_FLOW   1u
#define PUMP_MAX   64

/* --- randomness and corruption ---------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void rng_seed(void)
{
	const char *s = getenv("TG_SEED");

	rng_state = s ? strtoull(s, NULL, 0) : 0x7467686f7374696cull;
	if (rng_state == 0)
		rng_state = 1;
	print_message("seed %#llx (TG_SEED replays)\n", (unsigned long long)rng_state);
}

/* Values a hostile peer would try: anything, near misses, one bit, the extremes. */
static uint32_t evil(uint32_t old)
{
	switch (rnd() % 6) {
	case 0:
		return rnd();
	case 1:
		return old + 1 + rnd() % 4;
	case 2:
		return old - 1 - rnd() % 4;
	case 3:
		return old ^ (1u << (rnd() % 32));
	case 4:
		return 0;
	default:
		return 0xffffffffu;
	}
}

/* The descriptor fields, as offsets into struct tg_desc, with their widths. */
static const struct {
	size_t off;
	unsigned width;
} desc_fields[] = {
        {offsetof(struct tg_desc, slot), 4},  {offsetof(struct tg_desc, len), 4},
        {offsetof(struct tg_desc, flow), 4},  {offsetof(struct tg_desc, arg), 4},
        {offsetof(struct tg_desc, type), 2},  {offsetof(struct tg_desc, flags), 2},
        {offsetof(struct tg_desc, epoch), 4},
};
#define NDESC_FIELDS (sizeof(desc_fields) / sizeof(desc_fields[0]))

static void corrupt_desc(struct tg_desc *d)
{
	unsigned f = rnd() % NDESC_FIELDS;
	uint8_t *p = (uint8_t *)d + desc_fields[f].off;

	if (desc_fields[f].width == 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		v = evil(v);
		memcpy(p, &v, 4);
	} else {
		uint16_t v;

		memcpy(&v, p, 2);
		v = (uint16_t)evil(v);
		memcpy(p, &v, 2);
	}
}

/* What tg_link_recv() must accept (docs/protocol.md), written from the spec, not the code. */
static bool desc_valid(const struct tg_desc *d, uint32_t epoch)
{
	if (d->epoch != epoch)
		return false;
	if (d->slot == TG_NO_SLOT)
		return d->len == 0;
	return d->slot < SLOTS && d->len <= SLOT_SIZE;
}

/*
 * A ring header field. The geometry and the four indices are what rte_ring computes with:
 * changing one must break the link. The others it never reads.
 */
struct ring_field {
	volatile uint32_t *p;
	bool checked;
};

static struct ring_field pick_ring_field(struct rte_ring *r)
{
	switch (rnd() % 12) {
	case 0:
		return (struct ring_field){&r->size, true};
	case 1:
		return (struct ring_field){&r->mask, true};
	case 2:
		return (struct ring_field){&r->capacity, true};
	case 3:
		return (struct ring_field){&r->prod.head, true};
	case 4:
		return (struct ring_field){&r->prod.tail, true};
	case 5:
		return (struct ring_field){&r->cons.head, true};
	case 6:
		return (struct ring_field){&r->cons.tail, true};
	case 7:
		return (struct ring_field){(volatile uint32_t *)&r->flags, false};
	case 8:
		return (struct ring_field){&r->prod.single, false};
	case 9:
		return (struct ring_field){&r->cons.single, false};
	default:
		return (struct ring_field){(volatile uint32_t *)(void *)&r->name[rnd() % 7 * 4],
		                           false};
	}
}

/* Overwrites it; returns whether the link must now be found broken. */
static bool corrupt_ring(struct rte_ring *r)
{
	struct ring_field f = pick_ring_field(r);
	uint32_t old = *f.p, v = evil(old);

	*f.p = v;
	return f.checked && v != old;
}

/* The last descriptor the producer put on a ring, where the consumer will read it. */
static struct tg_desc *last_entry(struct rte_ring *r)
{
	return (struct tg_desc *)(void *)(r + 1) + ((r->prod.tail - 1) & r->mask);
}

/* --- a link and a view of its rings --------------------------------------------------- */

struct seg {
	int memfd;
	uint8_t *map;
	size_t size;
	struct rte_ring *ring[2][2]; /* [direction][0 data, 1 free], as rte_ring_init named them */
	uint32_t epoch;
};

static struct rte_ring *find_ring(struct seg *s, const char *name)
{
	for (size_t off = 4096; off + sizeof(struct rte_ring) <= s->size; off += 4096)
		if (strcmp(((struct rte_ring *)(void *)(s->map + off))->name, name) == 0)
			return (struct rte_ring *)(void *)(s->map + off);
	fail_msg("ring %s not found", name);
	return NULL;
}

static void seg_create(struct seg *s, const char *name)
{
	struct tg_link_params params = {
	        .name = name, .slot_size = SLOT_SIZE, .slot_count = SLOTS, .epoch = ++s->epoch};
	struct stat st;
	char rname[32];

	s->memfd = tg_link_create(&params);
	assert_true(s->memfd >= 0);
	assert_int_equal(fstat(s->memfd, &st), 0);
	s->size = (size_t)st.st_size;
	s->map = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	assert_true(s->map != MAP_FAILED);
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 2; k++) {
			snprintf(rname, sizeof(rname), "%s-%d%c", name, d, k ? 'f' : 'd');
			s->ring[d][k] = find_ring(s, rname);
		}
}

static void seg_destroy(struct seg *s)
{
	munmap(s->map, s->size);
	close(s->memfd);
}

/* A ring of either direction, for a header field. */
static struct rte_ring *any_ring(struct seg *s)
{
	return s->ring[rnd() % 2][rnd() % 2];
}

/* Counters that move on the receiving and the sending side. */
struct tally {
	uint64_t delivered, dropped, resets_requested, broken_links, pool_resets;
};

/* --- link A: tunio (side 0) sends packets, stackd's loop (side 1) consumes them ---------- */

struct link_a {
	struct seg seg;
	int bell[2];
	struct tg_link_end *end[2];
	uint64_t bad_msg; /* netif_link_drain's drop_bad_msg */
	uint64_t packets;
};

static void a_attach(struct link_a *a)
{
	seg_create(&a->seg, "ra");
	for (int i = 0; i < 2; i++) {
		a->end[i] = tg_link_attach(a->seg.memfd, i, a->bell[i], a->bell[!i]);
		assert_non_null(a->end[i]);
	}
}

static void a_detach(struct link_a *a)
{
	for (int i = 0; i < 2; i++)
		tg_link_detach(a->end[i]);
	seg_destroy(&a->seg);
}

/*
 * stackd's netif_link_drain(), minus lwIP: a PACKET with a slot is read whole (every byte, so
 * an out-of-bounds slot or length would fault or trip ASan), anything else is a bad message.
 */
static void a_consume(struct link_a *a)
{
	struct tg_link_end *e = a->end[1];
	struct tg_desc d[TG_LINK_BURST];
	unsigned n;

	for (int round = 0; round < PUMP_MAX && (n = tg_link_recv(e, d, TG_LINK_BURST)) > 0;
	     round++) {
		for (unsigned i = 0; i < n; i++) {
			if (d[i].type == TG_MSG_PACKET && d[i].slot != TG_NO_SLOT) {
				const volatile uint8_t *p = tg_link_peer_slot(e, d[i].slot);
				uint8_t sum = 0;

				assert_non_null((const void *)p);
				assert_true(d[i].slot < SLOTS && d[i].len <= SLOT_SIZE);
				for (uint32_t k = 0; k < d[i].len; k++)
					sum ^= p[k];
				(void)sum;
				a->packets++;
			} else {
				a->bad_msg++;
			}
			if (d[i].slot != TG_NO_SLOT)
				tg_link_release(e, d[i].slot);
		}
	}
	tg_link_flush(e);
}

/* tunio sends one packet of random length; returns false when it has no slot left. */
static bool a_send(struct link_a *a, uint32_t tag)
{
	struct tg_desc d = {.type = TG_MSG_PACKET};

	if (tg_link_free_slots(a->end[0]) == 0)
		return false;
	d.slot = tg_link_alloc(a->end[0]);
	d.len = 1 + rnd() % SLOT_SIZE;
	memset(tg_link_slot(a->end[0], d.slot), (int)(tag & 0xff), d.len);
	assert_int_equal(tg_link_send(a->end[0], &d), 0);
	tg_link_flush(a->end[0]);
	return true;
}

/* After a reset: a valid packet gets through, byte for byte. */
static void a_check_usable(struct link_a *a)
{
	struct tg_desc d = {.type = TG_MSG_PACKET, .len = 5}, got[2];

	d.slot = tg_link_alloc(a->end[0]);
	assert_int_not_equal(d.slot, TG_NO_SLOT);
	memcpy(tg_link_slot(a->end[0], d.slot), "again", 5);
	assert_int_equal(tg_link_send(a->end[0], &d), 0);
	tg_link_flush(a->end[0]);
	assert_int_equal(tg_link_recv(a->end[1], got, 2), 1);
	assert_int_equal(got[0].len, 5);
	assert_memory_equal(tg_link_peer_slot(a->end[1], got[0].slot), "again", 5);
	assert_int_equal(tg_link_slots_out(a->end[0]), 1);
	tg_link_release(a->end[1], got[0].slot);
	tg_link_flush(a->end[1]);
	/* back on the ring, not yet taken: the gauge counts it home without taking it */
	assert_int_equal(tg_link_slots_out(a->end[0]), 0);
	assert_int_equal(tg_link_free_slots(a->end[0]), SLOTS);
	assert_int_equal(tg_link_slots_out(a->end[0]), 0);
}

static uint64_t resets_of(struct tg_link_end *const end[2])
{
	return tg_link_stats(end[0])->resets_requested + tg_link_stats(end[1])->resets_requested;
}

/* Replaces a link that broke, or whose pool lies and corruption drained (as tungate would). */
static void a_reset(struct link_a *a, struct tally *t, bool broken)
{
	uint64_t resets = resets_of(a->end);

	if (broken) {
		/* Counted once, on each side that found it. */
		assert_true(resets >= 1 && resets <= 2);
		t->resets_requested += resets;
		t->broken_links++;
	} else {
		assert_int_equal(resets, 0);
		t->pool_resets++;
	}
	a_detach(a);
	a_attach(a);
	a_check_usable(a);
}

static void a_one(struct link_a *a, struct tally *t, uint32_t i)
{
	struct tg_link_end *rx = a->end[1];
	uint64_t bad0 = tg_link_stats(rx)->bad_descs, pk0 = a->packets, bm0 = a->bad_msg;
	bool must_break = false, broken;

	if (!a_send(a, i)) {
		a_reset(a, t, false);
		return;
	}
	if (rnd() % 2) {
		/* A descriptor field: exactly one outcome, the one the spec says. */
		struct tg_desc *d = last_entry(a->seg.ring[0][0]);
		bool valid, packet;

		corrupt_desc(d);
		valid = desc_valid(d, a->seg.epoch);
		packet = d->type == TG_MSG_PACKET && d->slot != TG_NO_SLOT;
		a_consume(a);
		assert_false(tg_link_broken(rx));
		assert_int_equal(tg_link_stats(rx)->bad_descs - bad0, valid ? 0 : 1);
		assert_int_equal(a->packets - pk0, valid && packet ? 1 : 0);
		assert_int_equal(a->bad_msg - bm0, valid && !packet ? 1 : 0);
		if (valid && packet)
			t->delivered++;
		else
			t->dropped++;
		return;
	}
	must_break = corrupt_ring(any_ring(&a->seg));
	a_consume(a);
	/* Each side's next call checks the rings: reclaiming slots is one. */
	tg_link_free_slots(a->end[0]);
	tg_link_free_slots(a->end[1]);
	broken = tg_link_broken(a->end[0]) || tg_link_broken(a->end[1]);
	if (must_break)
		assert_true(broken);
	else
		assert_false(broken);
	if (broken)
		a_reset(a, t, true);
}

static void test_link_a_corruption(void **state)
{
	struct link_a a = {0};
	struct tally t = {0};

	(void)state;
	for (int i = 0; i < 2; i++) {
		a.bell[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(a.bell[i] >= 0);
	}
	a_attach(&a);
	for (uint32_t i = 0; i < ITERATIONS; i++)
		a_one(&a, &t, i);
	a_consume(&a);
	print_message("link A: %llu delivered, %llu dropped, %llu links broken (%llu resets "
	              "requested), %llu pools drained by lies\n",
	              (unsigned long long)t.delivered, (unsigned long long)t.dropped,
	              (unsigned long long)t.broken_links, (unsigned long long)t.resets_requested,
	              (unsigned long long)t.pool_resets);
	/* Every kind of outcome happened, many times. */
	assert_true(t.delivered > ITERATIONS / 10);
	assert_true(t.dropped > ITERATIONS / 10);
	assert_true(t.broken_links > ITERATIONS / 10);
	assert_true(t.resets_requested >= t.broken_links);
	a_detach(&a);
	close(a.bell[0]);
	close(a.bell[1]);
}

/* --- link B: stackd (side 0) sends datagrams and pings, the flow API (side 1) takes them -- */

struct link_b {
	struct seg seg;
	int bell[2];
	struct tg_link_end *s0;
	struct tg_link_end *s1;
	struct event_base *base;
	struct tg_flowapi *api;
	uint64_t delivered; /* any callback that hands a message to the API's user */
	unsigned broken_calls;
	bool hello_ok;
};

static struct link_b *the_b; /* for the broken-link handler */

static void cb_open(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                    const struct tg_addr *dst, enum tg_open_mode mode, void *arg)
{
	((struct link_b *)arg)->delivered++;
}

static void cb_udp(struct tg_flowapi *api, uint32_t flow, const struct tg_addr *src,
                   const struct tg_addr *dst, const void *data, size_t len, void *arg)
{
	const volatile uint8_t *p = data;
	uint8_t sum = 0;

	for (size_t k = 0; k < len; k++)
		sum ^= p[k];
	(void)sum;
	assert_true(len <= SLOT_SIZE);
	((struct link_b *)arg)->delivered++;
}

static void cb_icmp(struct tg_flowapi *api, const struct tg_addr *src, const struct tg_addr *dst,
                    const void *data, size_t len, void *arg)
{
	assert_true(len >= TG_ICMP_ECHO_HDR && len <= SLOT_SIZE);
	((struct link_b *)arg)->delivered++;
}

static const struct tg_flowapi_cbs b_cbs = {
        .on_tcp_open = cb_open,
        .on_udp = cb_udp,
        .on_icmp_echo = cb_icmp,
};

/* The flow API's loop found its link broken: what tungate's restart would follow. */
static void b_broken(struct tg_link_end *end)
{
	assert_ptr_equal(end, the_b->s1);
	the_b->broken_calls++;
}

/* stackd's side: takes what the API sent (its HELLO, CLOSED, ...) and hands the slots back. */
static void s0_collect(struct link_b *b)
{
	struct tg_desc d[TG_LINK_BURST];
	unsigned n;

	for (int round = 0; round < PUMP_MAX && (n = tg_link_recv(b->s0, d, TG_LINK_BURST)) > 0;
	     round++) {
		for (unsigned i = 0; i < n; i++) {
			struct tg_msg_hello h;

			if (d[i].type == TG_MSG_HELLO) {
				b->hello_ok = tg_hello_check(b->s0, &d[i], TG_ROLE_RELAYD, &h) == 0;
				continue;
			}
			if (d[i].slot != TG_NO_SLOT)
				tg_link_release(b->s0, d[i].slot);
		}
	}
	tg_link_flush(b->s0);
}

static void b_step(struct link_b *b)
{
	event_base_loop(b->base, EVLOOP_NONBLOCK);
	s0_collect(b);
}

/* Sum of the API's and the link's drop counters on the receiving side. */
static uint64_t b_drops(struct link_b *b)
{
	const struct tg_flowapi_stats *s = tg_flowapi_stats(b->api);

	return s->bad_msgs + s->late_msgs + s->flows_rejected + s->udp_flows_rejected +
	       tg_link_stats(b->s1)->bad_descs;
}

static void b_handshake(struct link_b *b)
{
	struct tg_msg_hello h = {
	        .magic = TG_LINK_MAGIC,
	        .version_min = TG_PROTO_VERSION_MIN,
	        .version_max = TG_PROTO_VERSION_MAX,
	        .epoch = b->seg.epoch,
	        .pid = (uint32_t)getpid(),
	        .role = TG_ROLE_STACKD,
	        .window = 65536,
	};

	b->hello_ok = false;
	for (int i = 0; i < 1000 && !b->hello_ok; i++)
		b_step(b);
	assert_true(b->hello_ok);
	assert_int_equal(tg_link_send_copy(b->s0, TG_MSG_HELLO, 0, 0, &h, sizeof(h)), 0);
	tg_link_flush(b->s0);
	for (int i = 0; i < 1000 && !tg_flowapi_ready(b->api); i++)
		b_step(b);
	assert_true(tg_flowapi_ready(b->api));
}

static void b_attach_ends(struct link_b *b)
{
	seg_create(&b->seg, "rb");
	b->s0 = tg_link_attach(b->seg.memfd, 0, b->bell[0], b->bell[1]);
	b->s1 = tg_link_attach(b->seg.memfd, 1, b->bell[1], b->bell[0]);
	assert_non_null(b->s0);
	assert_non_null(b->s1);
}

/* One datagram (flow UDP_FLOW) or ping (flow 0) from stackd; false when out of slots. */
static bool b_send(struct link_b *b, bool ping)
{
	uint8_t msg[SLOT_SIZE];
	struct tg_msg_udp h = {.src = {.family = TG_AF_INET4, .port = 40000, .ip = {198, 18, 0, 2}},
	                       .dst = {.family = TG_AF_INET4, .port = 53, .ip = {198, 19, 0, 9}}};
	uint32_t len = (uint32_t)sizeof(h) + TG_ICMP_ECHO_HDR + rnd() % 64;

	if (tg_link_free_slots(b->s0) == 0)
		return false;
	memset(msg, 0x5a, sizeof(msg));
	memcpy(msg, &h, sizeof(h));
	msg[sizeof(h)] = 8; /* an echo request: type, code, checksum, id, sequence */
	assert_int_equal(tg_link_send_copy(b->s0, ping ? TG_MSG_ICMP_ECHO : TG_MSG_UDP,
	                                   ping ? 0 : UDP_FLOW, 0, msg, len),
	                 0);
	tg_link_flush(b->s0);
	return true;
}

/* Runs both sides until the message had an outcome (or clearly has none coming). */
static void b_pump(struct link_b *b, uint64_t before)
{
	for (int i = 0; i < PUMP_MAX && b->delivered + b_drops(b) == before; i++)
		b_step(b);
	b_step(b);
}

static void b_check_usable(struct link_b *b)
{
	uint64_t before = b->delivered;

	assert_true(b_send(b, false));
	b_pump(b, before + b_drops(b));
	assert_int_equal(b->delivered, before + 1);
}

/* As tungate does when it restarts stackd: a new segment, the API moved onto it. */
static void b_reset(struct link_b *b, struct tally *t, bool broken)
{
	struct tg_link_end *old0 = b->s0, *old1 = b->s1;
	uint64_t resets =
	        tg_link_stats(old0)->resets_requested + tg_link_stats(old1)->resets_requested;
	struct seg old = b->seg;

	if (broken) {
		assert_true(resets >= 1 && resets <= 2);
		t->resets_requested += resets;
		t->broken_links++;
	} else {
		assert_int_equal(resets, 0);
		t->pool_resets++;
	}
	b_attach_ends(b);
	assert_int_equal(tg_flowapi_replace_link(b->api, b->s1), 0);
	tg_link_detach(old0);
	tg_link_detach(old1);
	seg_destroy(&old);
	b_handshake(b);
	b_check_usable(b);
}

static void b_one(struct link_b *b, struct tally *t)
{
	bool ping = rnd() % 2, must_break, broken;
	uint64_t before = b->delivered + b_drops(b), delivered0 = b->delivered;
	uint64_t bad0 = tg_link_stats(b->s1)->bad_descs;
	unsigned kind = rnd() % 3;

	if (!b_send(b, ping)) {
		b_reset(b, t, false);
		return;
	}
	if (kind < 2) {
		struct tg_desc *d = last_entry(b->seg.ring[0][0]);
		bool valid;

		if (kind == 0) {
			corrupt_desc(d);
		} else {
			/* The message header in the slot: addresses, ports, the ICMP type. */
			uint8_t *m = tg_link_slot(b->s0, d->slot);
			unsigned at = rnd() % (sizeof(struct tg_msg_udp) + 1);

			m[at] = (uint8_t)evil(m[at]);
		}
		valid = desc_valid(d, b->seg.epoch);
		b_pump(b, before);
		assert_false(tg_link_broken(b->s1));
		/* One message, one outcome: delivered, or dropped and counted. */
		assert_int_equal(b->delivered + b_drops(b), before + 1);
		/* A descriptor the link must refuse never reaches the dispatcher. */
		if (!valid) {
			assert_int_equal(b->delivered, delivered0);
			assert_int_equal(tg_link_stats(b->s1)->bad_descs, bad0 + 1);
		}
		if (b->delivered > delivered0)
			t->delivered++;
		else
			t->dropped++;
		return;
	}
	must_break = corrupt_ring(any_ring(&b->seg));
	b_pump(b, before);
	tg_link_free_slots(b->s0);
	tg_link_free_slots(b->s1);
	broken = tg_link_broken(b->s0) || tg_link_broken(b->s1);
	if (must_break)
		assert_true(broken);
	else
		assert_false(broken);
	if (broken)
		b_reset(b, t, true);
}

static void test_link_b_corruption(void **state)
{
	struct link_b b = {0};
	struct tally t = {0};

	(void)state;
	the_b = &b;
	tg_link_event_set_broken_handler(b_broken);
	for (int i = 0; i < 2; i++) {
		b.bell[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(b.bell[i] >= 0);
	}
	b_attach_ends(&b);
	b.base = event_base_new();
	assert_non_null(b.base);
	b.api = tg_flowapi_new(b.base, b.s1, &b_cbs, &b);
	assert_non_null(b.api);
	b_handshake(&b);
	for (uint32_t i = 0; i < ITERATIONS; i++)
		b_one(&b, &t);
	print_message("link B: %llu messages, %llu links broken (%llu resets requested, %u seen "
	              "by the API's loop), %llu pools drained by lies, %llu bad messages\n",
	              (unsigned long long)(t.delivered + t.dropped),
	              (unsigned long long)t.broken_links, (unsigned long long)t.resets_requested,
	              b.broken_calls, (unsigned long long)t.pool_resets,
	              (unsigned long long)tg_flowapi_stats(b.api)->bad_msgs);
	assert_true(t.broken_links > ITERATIONS / 10);
	assert_true(t.resets_requested >= t.broken_links);
	assert_true(b.broken_calls > 0);
	assert_true(tg_flowapi_stats(b.api)->bad_msgs > ITERATIONS / 20);
	tg_flowapi_free(b.api);
	event_base_free(b.base);
	tg_link_detach(b.s0);
	tg_link_detach(b.s1);
	seg_destroy(&b.seg);
	close(b.bell[0]);
	close(b.bell[1]);
	tg_link_event_set_broken_handler(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_link_a_corruption),
	        cmocka_unit_test(test_link_b_corruption),
	};

	log_init("test_ring_corruption", TG_LOG_ERR);
	rng_seed();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

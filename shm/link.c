/*
 * Link implementation: memfd layout, ring set-up by the creator, attach-time validation, and
 * the per-process endpoint state (private free-slot stack, pending transmit queue, bell).
 */
#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "log.h"

#define LINK_HDR_SIZE  4096u
#define LINK_ALIGN     4096u
#define RING_COOKIE    0x52475452u /* "RTGR" */
#define PENDING_MAX    8192u       /* descriptors one side may queue while the ring is full */
#define MAX_SLOT_SIZE  (1u << 20)
#define MAX_SLOT_COUNT (1u << 16)

enum { RING_DATA = 0, RING_FREE = 1 };
/* This side's four rings, in the order of tg_link_end.own_idx. */
enum { TX_DATA, RX_DATA, TX_FREE, RX_FREE, NRINGS };

struct link_side_state {
	_Atomic uint32_t sleeping; /* set by this side before it waits on its bell */
	uint32_t pid;
	uint8_t pad[56];
};

/* The header at offset 0 of the memfd; read-only after creation except the side states. */
struct link_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t epoch;
	uint32_t slot_size;
	uint32_t slot_count;
	uint32_t data_ring_count;
	uint32_t free_ring_count;
	uint32_t desc_size;
	uint64_t total_size;
	uint64_t ring_off[2][2]; /* [direction][RING_DATA / RING_FREE] */
	uint64_t ring_size[2][2];
	uint32_t ring_cookie[2][2];
	uint64_t pool_off[2]; /* pool of direction d: slots owned by side d */
	char name[32];
	struct link_side_state side[2] __attribute__((aligned(64)));
};
_Static_assert(sizeof(struct link_hdr) <= LINK_HDR_SIZE, "link header fits its page");

struct tg_link_end {
	int side;
	int bell_self;
	int bell_peer;
	uint8_t *base;
	size_t size;
	struct link_hdr *hdr;
	uint32_t epoch;
	uint32_t slot_size;
	uint32_t slot_count;
	uint32_t data_count; /* ring sizes, private copies of what attach validated */
	uint32_t free_count;
	char name[32];
	struct rte_ring *tx_data; /* we produce: our descriptors to the peer */
	struct rte_ring *tx_free; /* we produce: the peer's slots handed back */
	struct rte_ring *rx_data; /* we consume: the peer's descriptors */
	struct rte_ring *rx_free; /* we consume: our slots coming back */
	/*
	 * The ring index only this side moves (producer head and tail on tx rings, consumer
	 * head and tail on rx rings), as we left it: the shared copy must still say the same.
	 */
	uint32_t own_idx[NRINGS];
	uint8_t *own_pool;
	uint8_t *peer_pool;
	uint32_t *free_stack; /* our slots we may allocate */
	uint32_t free_top;
	uint8_t *slot_owned;     /* 1 while the slot is ours (in the stack or allocated) */
	struct tg_desc *pending; /* descriptors waiting for room in tx_data */
	uint32_t pending_len;
	uint32_t *release; /* peer slots to hand back at the next flush */
	uint32_t release_len;
	bool broken; /* a ring header changed under us: the link is not used any more */
	struct tg_link_stats stats;
};

static uint32_t next_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int check_params(const struct tg_link_params *p)
{
	if (p->slot_size == 0 || p->slot_size % 64 || p->slot_size > MAX_SLOT_SIZE)
		return -1;
	if (p->slot_count == 0 || p->slot_count > MAX_SLOT_COUNT)
		return -1;
	return 0;
}

/* Lays out the segment; the same computation validates it on attach. */
static uint64_t layout(struct link_hdr *h, uint32_t slot_size, uint32_t slot_count)
{
	uint64_t off = LINK_HDR_SIZE;

	h->slot_size = slot_size;
	h->slot_count = slot_count;
	/* Room for every slot plus as many slot-less messages (credits, shutdowns). */
	h->data_ring_count = next_pow2(slot_count * 2);
	/* A free ring must hold every slot of its pool at once; capacity is count - 1. */
	h->free_ring_count = next_pow2(slot_count + 1);
	h->desc_size = sizeof(struct tg_desc);
	for (int d = 0; d < 2; d++) {
		h->ring_size[d][RING_DATA] = (uint64_t)rte_ring_get_memsize_elem(
		        sizeof(struct tg_desc), h->data_ring_count);
		h->ring_size[d][RING_FREE] =
		        (uint64_t)rte_ring_get_memsize_elem(sizeof(uint32_t), h->free_ring_count);
		for (int k = 0; k < 2; k++) {
			h->ring_off[d][k] = off;
			off = align_up(off + h->ring_size[d][k], LINK_ALIGN);
		}
	}
	for (int d = 0; d < 2; d++) {
		h->pool_off[d] = off;
		off = align_up(off + (uint64_t)slot_size * slot_count, LINK_ALIGN);
	}
	h->total_size = off;
	return off;
}

int tg_link_create(const struct tg_link_params *params)
{
	struct link_hdr tmp = {0};
	struct link_hdr *h;
	uint64_t size;
	void *base;
	int fd;

	if (check_params(params) < 0) {
		errno = EINVAL;
		return -1;
	}
	size = layout(&tmp, params->slot_size, params->slot_count);
	fd = memfd_create(params->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	/* The size can never change under a process that mapped it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		goto fail;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto fail;
	h = base;
	*h = tmp;
	h->magic = TG_LINK_MAGIC;
	h->version = TG_LINK_VERSION;
	h->epoch = params->epoch;
	strncpy(h->name, params->name, sizeof(h->name) - 1);
	for (int d = 0; d < 2; d++) {
		uint32_t counts[2] = {h->data_ring_count, h->free_ring_count};

		for (int k = 0; k < 2; k++) {
			char rname[32];

			snprintf(rname, sizeof(rname), "%.20s-%d%c", params->name, d,
			         k == RING_DATA ? 'd' : 'f');
			if (rte_ring_init((struct rte_ring *)((uint8_t *)base + h->ring_off[d][k]),
			                  rname, counts[k], RING_F_SP_ENQ | RING_F_SC_DEQ) < 0) {
				munmap(base, size);
				errno = EINVAL;
				goto fail;
			}
			h->ring_cookie[d][k] = RING_COOKIE;
		}
	}
	munmap(base, size);
	return fd;
fail : {
	int saved = errno;

	close(fd);
	errno = saved;
}
	return -1;
}

static int ring_ok(const uint8_t *base, const struct link_hdr *h, int d, int k)
{
	const struct rte_ring *r;
	uint32_t count = k == RING_DATA ? h->data_ring_count : h->free_ring_count;

	if (h->ring_cookie[d][k] != RING_COOKIE)
		return 0;
	r = (const struct rte_ring *)(base + h->ring_off[d][k]);
	return r->size == count && r->mask == count - 1 && r->capacity == count - 1;
}

/* Checks that the header describes exactly the layout we would have built ourselves. */
static int validate(const uint8_t *base, const struct link_hdr *h, uint64_t file_size)
{
	struct link_hdr want = {0};

	if (h->magic != TG_LINK_MAGIC) {
		log_warnx("link: bad magic %#x", h->magic);
		return -1;
	}
	if (h->version != TG_LINK_VERSION) {
		log_warnx("link: layout version %u, this build speaks %u", h->version,
		          TG_LINK_VERSION);
		return -1;
	}
	if (h->slot_size == 0 || h->slot_size % 64 || h->slot_size > MAX_SLOT_SIZE ||
	    h->slot_count == 0 || h->slot_count > MAX_SLOT_COUNT) {
		log_warnx("link: bad slot geometry %u x %u", h->slot_count, h->slot_size);
		return -1;
	}
	layout(&want, h->slot_size, h->slot_count);
	if (want.total_size != h->total_size || h->total_size != file_size ||
	    h->desc_size != sizeof(struct tg_desc) || want.data_ring_count != h->data_ring_count ||
	    want.free_ring_count != h->free_ring_count ||
	    memcmp(want.ring_off, h->ring_off, sizeof(want.ring_off)) != 0 ||
	    memcmp(want.pool_off, h->pool_off, sizeof(want.pool_off)) != 0) {
		log_warnx("link: layout does not match its header");
		return -1;
	}
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 2; k++)
			if (!ring_ok(base, h, d, k)) {
				log_warnx("link: ring %d/%d fails its checks", d, k);
				return -1;
			}
	return 0;
}

/*
 * One ring's shared header as this side must find it: the geometry of creation, our own index
 * where we left it, and the peer's index at most a ring's capacity away from ours (it moves
 * while we look, but only within that distance).
 */
static bool ring_sane(const struct rte_ring *r, uint32_t count, bool producer, uint32_t own)
{
	const volatile struct rte_ring_headtail *mine = producer ? &r->prod : &r->cons;
	uint32_t used;

	if (r->size != count || r->mask != count - 1 || r->capacity != count - 1)
		return false;
	if (mine->head != own || mine->tail != own)
		return false;
	used = producer ? own - r->cons.tail : r->prod.tail - own;
	return used <= count - 1;
}

/*
 * rte_ring keeps its size, mask and indices in the shared header and indexes with them on
 * every burst. The geometry never changes after creation and our own index is only ours to
 * move, so any other value means the peer scribbled on them: from then on the link is not
 * used, counted in resets_requested, and its owner has it replaced (link_event.c exits, and
 * tungate restarts the process on new links). The check is a few loads per burst; a peer
 * racing it between check and use is the remaining window, stated in docs/security.md.
 */
static bool rings_intact(struct tg_link_end *e)
{
	const struct rte_ring *rings[NRINGS] = {e->tx_data, e->rx_data, e->tx_free, e->rx_free};
	const uint32_t counts[NRINGS] = {e->data_count, e->data_count, e->free_count,
	                                 e->free_count};

	if (e->broken)
		return false;
	for (int i = 0; i < NRINGS; i++) {
		if (!ring_sane(rings[i], counts[i], i == TX_DATA || i == TX_FREE, e->own_idx[i])) {
			e->broken = true;
			e->stats.bad_descs++;
			e->stats.resets_requested++;
			log_warnx("link %.20s: ring header %d was overwritten: link abandoned",
			          e->name, i);
			return false;
		}
	}
	return true;
}

static struct rte_ring *ring_at(struct tg_link_end *e, int dir, int kind)
{
	return (struct rte_ring *)(e->base + e->hdr->ring_off[dir][kind]);
}

static void end_free(struct tg_link_end *e)
{
	if (e->base)
		munmap(e->base, e->size);
	free(e->free_stack);
	free(e->slot_owned);
	free(e->pending);
	free(e->release);
	free(e);
}

struct tg_link_end *tg_link_attach(int memfd, int side, int bell_self, int bell_peer)
{
	struct tg_link_end *e;
	struct link_hdr hdr;
	struct stat st;
	int peer = !side;

	if (side != 0 && side != 1)
		return NULL;
	if (fstat(memfd, &st) < 0 || st.st_size < (off_t)LINK_HDR_SIZE) {
		log_warnx("link: memfd %d is not a link segment", memfd);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->size = (size_t)st.st_size;
	e->base = mmap(NULL, e->size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (e->base == MAP_FAILED) {
		e->base = NULL;
		log_warn("link: mmap");
		end_free(e);
		return NULL;
	}
	e->hdr = (struct link_hdr *)e->base;
	/* Validate a private copy: the peer could change the shared one while we look. */
	memcpy(&hdr, e->hdr, sizeof(hdr));
	if (validate(e->base, &hdr, e->size) < 0) {
		end_free(e);
		return NULL;
	}
	e->side = side;
	e->bell_self = bell_self;
	e->bell_peer = bell_peer;
	e->epoch = hdr.epoch;
	e->slot_size = hdr.slot_size;
	e->slot_count = hdr.slot_count;
	e->data_count = hdr.data_ring_count;
	e->free_count = hdr.free_ring_count;
	memcpy(e->name, hdr.name, sizeof(e->name));
	e->name[sizeof(e->name) - 1] = '\0';
	e->tx_data = ring_at(e, side, RING_DATA);
	e->rx_free = ring_at(e, side, RING_FREE);
	e->rx_data = ring_at(e, peer, RING_DATA);
	e->tx_free = ring_at(e, peer, RING_FREE);
	/* Nobody else moves these; rings_intact() holds them to what we leave. */
	e->own_idx[TX_DATA] = e->tx_data->prod.tail;
	e->own_idx[TX_FREE] = e->tx_free->prod.tail;
	e->own_idx[RX_DATA] = e->rx_data->cons.tail;
	e->own_idx[RX_FREE] = e->rx_free->cons.tail;
	e->own_pool = e->base + hdr.pool_off[side];
	e->peer_pool = e->base + hdr.pool_off[peer];
	e->free_stack = calloc(e->slot_count, sizeof(uint32_t));
	e->slot_owned = calloc(e->slot_count, 1);
	e->pending = calloc(PENDING_MAX, sizeof(struct tg_desc));
	e->release = calloc(e->slot_count, sizeof(uint32_t));
	if (!e->free_stack || !e->slot_owned || !e->pending || !e->release) {
		end_free(e);
		return NULL;
	}
	/* Highest index on top so allocation starts at slot 0, which keeps pages warm. */
	for (uint32_t i = 0; i < e->slot_count; i++) {
		e->free_stack[i] = e->slot_count - 1 - i;
		e->slot_owned[i] = 1;
	}
	e->free_top = e->slot_count;
	e->hdr->side[side].pid = (uint32_t)getpid();
	atomic_store(&e->hdr->side[side].sleeping, 0);
	return e;
}

void tg_link_detach(struct tg_link_end *end)
{
	if (end)
		end_free(end);
}

uint32_t tg_link_slot_size(const struct tg_link_end *end)
{
	return end->slot_size;
}

uint32_t tg_link_slot_count(const struct tg_link_end *end)
{
	return end->slot_count;
}

uint32_t tg_link_epoch(const struct tg_link_end *end)
{
	return end->epoch;
}

int tg_link_bell_fd(const struct tg_link_end *end)
{
	return end->bell_self;
}

const struct tg_link_stats *tg_link_stats(const struct tg_link_end *end)
{
	return &end->stats;
}

bool tg_link_broken(const struct tg_link_end *end)
{
	return end->broken;
}

/*
 * Takes back our slots the peer is done with. Each index is checked: the peer may lie. At
 * most one ring's worth per call, so a peer that keeps enqueueing cannot keep us here.
 */
static unsigned reclaim(struct tg_link_end *e)
{
	uint32_t idx[TG_LINK_BURST];
	unsigned n, got = 0, rounds = e->free_count / TG_LINK_BURST + 1;

	if (!rings_intact(e))
		return 0;
	do {
		n = rte_ring_sc_dequeue_burst_elem(e->rx_free, idx, sizeof(uint32_t), TG_LINK_BURST,
		                                   NULL);
		e->own_idx[RX_FREE] += n;
		for (unsigned i = 0; i < n; i++) {
			uint32_t s = idx[i];

			if (s >= e->slot_count || e->slot_owned[s]) {
				e->stats.bad_descs++;
				continue;
			}
			e->slot_owned[s] = 1;
			e->free_stack[e->free_top++] = s;
			got++;
		}
	} while (n == TG_LINK_BURST && --rounds > 0);
	return got;
}

uint32_t tg_link_alloc(struct tg_link_end *end)
{
	if (end->free_top == 0)
		reclaim(end);
	if (end->free_top == 0)
		return TG_NO_SLOT;
	return end->free_stack[--end->free_top];
}

void tg_link_unalloc(struct tg_link_end *end, uint32_t slot)
{
	if (slot < end->slot_count && end->slot_owned[slot])
		end->free_stack[end->free_top++] = slot;
}

uint32_t tg_link_free_slots(struct tg_link_end *end)
{
	reclaim(end);
	return end->free_top;
}

uint32_t tg_link_slots_out(struct tg_link_end *end)
{
	uint32_t back;

	if (!rings_intact(end))
		return 0;
	/* The peer's count may lie; the gauge stays within the pool. */
	back = end->free_top + rte_ring_count(end->rx_free);
	return back >= end->slot_count ? 0 : end->slot_count - back;
}

void *tg_link_slot(struct tg_link_end *end, uint32_t slot)
{
	if (slot >= end->slot_count)
		return NULL;
	return end->own_pool + (size_t)slot * end->slot_size;
}

/* Rings the peer's bell if, and only if, it announced that it sleeps. */
static void ring_peer(struct tg_link_end *e)
{
	uint64_t one = 1;

	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_exchange(&e->hdr->side[!e->side].sleeping, 0)) {
		e->stats.bells_rung++;
		if (write(e->bell_peer, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("link %s: bell", e->name);
	}
}

static void flush_releases(struct tg_link_end *e)
{
	unsigned n;

	if (e->release_len == 0 || !rings_intact(e))
		return;
	/* The free ring holds every slot of the pool, so this cannot fall short. */
	n = rte_ring_sp_enqueue_burst_elem(e->tx_free, e->release, sizeof(uint32_t), e->release_len,
	                                   NULL);
	e->own_idx[TX_FREE] += n;
	if (n < e->release_len)
		memmove(e->release, e->release + n, (e->release_len - n) * sizeof(uint32_t));
	e->release_len -= n;
}

static void flush_pending(struct tg_link_end *e)
{
	unsigned n;

	if (e->pending_len == 0 || !rings_intact(e))
		return;
	n = rte_ring_sp_enqueue_burst_elem(e->tx_data, e->pending, sizeof(struct tg_desc),
	                                   e->pending_len, NULL);
	e->own_idx[TX_DATA] += n;
	if (n < e->pending_len) {
		e->stats.tx_full++;
		memmove(e->pending, e->pending + n, (e->pending_len - n) * sizeof(struct tg_desc));
	}
	e->pending_len -= n;
	e->stats.tx_descs += n;
}

void tg_link_flush(struct tg_link_end *end)
{
	bool work = end->pending_len || end->release_len;

	flush_releases(end);
	flush_pending(end);
	if (work)
		ring_peer(end);
}

bool tg_link_tx_pending(const struct tg_link_end *end)
{
	return end->pending_len > 0 || end->release_len > 0;
}

int tg_link_send(struct tg_link_end *end, const struct tg_desc *desc)
{
	if (end->pending_len == PENDING_MAX) {
		tg_link_flush(end);
		if (end->pending_len == PENDING_MAX)
			return -1;
	}
	end->pending[end->pending_len] = *desc;
	end->pending[end->pending_len].epoch = end->epoch;
	if (desc->slot != TG_NO_SLOT && desc->slot < end->slot_count)
		end->slot_owned[desc->slot] = 0;
	end->pending_len++;
	if (end->pending_len >= TG_LINK_BURST)
		tg_link_flush(end);
	return 0;
}

int tg_link_send_copy(struct tg_link_end *end, uint16_t type, uint32_t flow, uint32_t arg,
                      const void *data, uint32_t len)
{
	struct tg_desc d = {.slot = TG_NO_SLOT, .len = len, .flow = flow, .arg = arg, .type = type};

	if (len > end->slot_size)
		return -1;
	if (len > 0) {
		d.slot = tg_link_alloc(end);
		if (d.slot == TG_NO_SLOT)
			return -1;
		memcpy(tg_link_slot(end, d.slot), data, len);
	}
	if (tg_link_send(end, &d) < 0) {
		if (d.slot != TG_NO_SLOT) {
			end->slot_owned[d.slot] = 1;
			tg_link_unalloc(end, d.slot);
		}
		return -1;
	}
	return 0;
}

/*
 * A descriptor is accepted only if its slot is in range, its length fits the slot and it was
 * sent under the current epoch; anything else is counted and dropped (and its slot, if it
 * names a valid one, is handed back so the pool does not shrink).
 */
static bool desc_ok(const struct tg_link_end *e, const struct tg_desc *d)
{
	if (d->epoch != e->epoch)
		return false;
	if (d->slot == TG_NO_SLOT)
		return d->len == 0;
	return d->slot < e->slot_count && d->len <= e->slot_size;
}

unsigned tg_link_recv(struct tg_link_end *end, struct tg_desc *descs, unsigned max)
{
	unsigned n, kept = 0;

	if (max > TG_LINK_BURST)
		max = TG_LINK_BURST;
	if (!rings_intact(end))
		return 0;
	n = rte_ring_sc_dequeue_burst_elem(end->rx_data, descs, sizeof(struct tg_desc), max, NULL);
	end->own_idx[RX_DATA] += n;
	for (unsigned i = 0; i < n; i++) {
		if (!desc_ok(end, &descs[i])) {
			end->stats.bad_descs++;
			if (descs[i].slot < end->slot_count && descs[i].epoch == end->epoch)
				tg_link_release(end, descs[i].slot);
			continue;
		}
		descs[kept++] = descs[i];
	}
	end->stats.rx_descs += kept;
	return kept;
}

const void *tg_link_peer_slot(struct tg_link_end *end, uint32_t slot)
{
	if (slot >= end->slot_count)
		return NULL;
	return end->peer_pool + (size_t)slot * end->slot_size;
}

void tg_link_release(struct tg_link_end *end, uint32_t slot)
{
	if (slot >= end->slot_count)
		return;
	if (end->release_len == end->slot_count)
		flush_releases(end);
	if (end->release_len < end->slot_count)
		end->release[end->release_len++] = slot;
}

bool tg_link_rx_ready(struct tg_link_end *end)
{
	if (!rings_intact(end))
		return false;
	return rte_ring_count(end->rx_data) > 0 || rte_ring_count(end->rx_free) > 0;
}

bool tg_link_prepare_sleep(struct tg_link_end *end)
{
	/*
	 * Slots that came back may be what a sender of ours waits for: report them as work, so
	 * the drain handler runs once more and retries before we sleep.
	 */
	if (reclaim(end) > 0)
		return false;
	atomic_store(&end->hdr->side[end->side].sleeping, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (tg_link_rx_ready(end)) {
		atomic_store(&end->hdr->side[end->side].sleeping, 0);
		return false;
	}
	return true;
}

void tg_link_wake(struct tg_link_end *end)
{
	uint64_t v;

	atomic_store(&end->hdr->side[end->side].sleeping, 0);
	if (read(end->bell_self, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("link %s: bell read", end->name);
}

/*
 * For tungate's metrics: how many descriptors wait in each direction's data ring. A read-only
 * mapping for the moment of the call; rte_ring_count() reads two indices the children move
 * concurrently and masks their difference, so a torn or hostile value stays within capacity.
 */
int tg_link_usage(int memfd, uint32_t used[2], uint32_t *capacity)
{
	struct link_hdr hdr;
	struct stat st;
	uint8_t *base;
	int rc = -1;

	if (fstat(memfd, &st) < 0 || st.st_size < (off_t)LINK_HDR_SIZE)
		return -1;
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, memfd, 0);
	if (base == MAP_FAILED)
		return -1;
	memcpy(&hdr, base, sizeof(hdr));
	if (validate(base, &hdr, (uint64_t)st.st_size) == 0) {
		for (int d = 0; d < 2; d++)
			used[d] = rte_ring_count(
			        (const struct rte_ring *)(base + hdr.ring_off[d][RING_DATA]));
		*capacity = hdr.data_ring_count - 1;
		rc = 0;
	}
	munmap(base, (size_t)st.st_size);
	return rc;
}

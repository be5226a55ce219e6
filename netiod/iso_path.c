/* Isolated services on the owner worker: a burst crosses as descriptors, verdicts come back. */
#include <string.h>
#include <unistd.h>
#include <poll.h>

#include "iso.h"

static bool lent_take(struct nio_iso *iso, uint32_t idx)
{
	uint64_t bit = 1ull << (idx % 64);

	if (idx >= iso->nbufs || !(iso->lent[idx / 64] & bit))
		return false;
	iso->lent[idx / 64] &= ~bit;
	return true;
}

static void lend(struct nio_iso *iso, uint32_t idx)
{
	iso->lent[idx / 64] |= 1ull << (idx % 64);
}

static struct nio_pkt *pkt_at(struct nio_worker *w, uint32_t idx)
{
	struct nio_worker *group = w - w->id;

	return &group[idx / NIO_ARENA_POOL].pool.pkts[idx % NIO_ARENA_POOL];
}

static uint32_t arena_idx(struct nio_worker *w, const struct nio_pkt *p)
{
	struct nio_worker *group = w - w->id;

	return p->owner * NIO_ARENA_POOL + (uint32_t)(p - group[p->owner].pool.pkts);
}

/* The packets of a service that is not running: dropped, or past it (passthrough). */
static void fail_pkts(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
		      unsigned s, struct nio_pkt **pkts, uint16_t n)
{
	uint16_t kept = 0;

	for (uint16_t i = 0; i < n; i++) {
		/* an empty buffer was lent for pkt_alloc: nothing to pass on */
		if (pl->fail_mode == NIO_FAIL_PASSTHROUGH && pkts[i]->len)
			pkts[kept++] = pkts[i];
		else
			nio_pipeline_drop(pl, pkts[i], NIO_DROP_SERVICE_DOWN);
	}
	if (kept)
		nio_pipeline_resume(w, c, pl, s + 1, pkts, kept);
}

/* A buffer of a port's region (AF_XDP, kmod) is not in the arena: the frame is copied into
 * the worker's pool, counted. NULL: no buffer left. */
static struct nio_pkt *into_arena(struct nio_worker *w, struct nio_iso *iso, struct nio_pkt *p)
{
	struct nio_pkt *q;

	if (!p->region)
		return p;
	q = p->len <= NIO_PKT_MAX_FRAME ? nio_pool_get(&w->pool) : NULL;
	if (!q)
		return NULL;
	memcpy(q->data, p->data, p->len); /* at the pool's standard headroom */
	q->len = p->len;
	q->l3_off = p->l3_off;
	q->l4_off = p->l4_off;
	q->in_port = p->in_port;
	q->out_port = p->out_port;
	q->flags = p->flags;
	q->ip_proto = p->ip_proto;
	q->dscp = p->dscp;
	q->hash = p->hash;
	q->ts_ns = p->ts_ns;
	q->key = p->key;
	q->trace = p->trace;
	p->trace = 0;
	nio_worker_pkt_free(p);
	iso->copied++;
	return q;
}

static void ring_bell(int efd)
{
	uint64_t one = 1;

	(void)!write(efd, &one, sizeof(one));
}

/* Requests published: a host seen asleep is rung now; else the worker owes a look after a
 * fence (nio_iso_poll, nio_iso_sleep_fds), once per turn for every instance. */
static void bell(struct nio_iso *iso)
{
	if (__atomic_load_n(&iso->shm->h_asleep, __ATOMIC_RELAXED))
		ring_bell(iso->req_efd);
	else
		iso->bell_owed = true;
}

void nio_iso_send(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl, unsigned s,
		  struct nio_pkt **pkts, uint16_t n)
{
	struct nio_svc_inst *si = &pl->svcs[s];
	struct nio_iso *iso = si->iso;
	struct nio_xent *ents = nio_iso_ents(iso->req);
	uint32_t head = iso->req_head, mask = NIO_ISO_REQ - 1;
	/* a slot is free once its position is answered (the host's tail is not read) */
	uint32_t room = NIO_ISO_REQ - (head - iso->done);
	uint64_t t0 = nio_iso_clock();
	uint16_t i = 0;

	si->stats[w->id].packets += n;
	for (uint16_t k = 0; k < n; k++)
		si->stats[w->id].bytes += pkts[k]->len;
	if (atomic_load_explicit(&iso->state, memory_order_acquire) != NIO_ISO_UP || iso->corrupt) {
		fail_pkts(w, c, pl, s, pkts, n);
		return;
	}
	for (; i < n && room; i++) {
		struct nio_pkt *p = into_arena(w, iso, pkts[i]);
		uint32_t idx;

		if (!p) {
			nio_pipeline_drop(pl, pkts[i], NIO_DROP_NO_BUFFER);
			continue;
		}
		idx = arena_idx(w, p);
		nio_iso_to_meta(p, &iso->meta[idx]);
		iso->sent[head & mask] = idx;
		ents[head++ & mask] = (struct nio_xent){ .idx = idx,
							 .off = (uint16_t)nio_pkt_headroom(p),
							 .len = (uint16_t)p->len };
		lend(iso, idx);
		room--;
	}
	if (head != iso->req_head) {
		/* release: the entries and slots are written before the host sees the new head */
		nio_ring_store_release(&iso->req->head, head);
		iso->req_head = head;
		bell(iso);
	}
	iso->xcyc += nio_iso_clock() - t0;
	iso->xpkts += i;
	if (i < n)
		fail_pkts(w, c, pl, s, pkts + i, (uint16_t)(n - i));
}

/* A private copy of shared bytes the host may change: the compiler must not read them again. */
static void copy_once(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	__asm__ volatile("" ::: "memory");
}

/* One answer: the packet to go on, or NULL (dropped, or not the host's to give). */
static struct nio_pkt *answer(struct nio_worker *w, struct nio_pipeline *pl,
			      struct nio_svc_stats *st, struct nio_iso *iso,
			      const struct nio_xent *e)
{
	struct nio_xmeta m;
	struct nio_pkt *p;

	if (!lent_take(iso, e->idx)) {
		iso->bad_desc++;
		return NULL;
	}
	p = pkt_at(w, e->idx);
	if (e->xflags & NIO_XF_META)
		copy_once(&m, &iso->meta[e->idx], sizeof(m));
	if (nio_iso_from_ent(e, e->xflags & NIO_XF_META ? &m : NULL, p) < 0 ||
	    e->verdict != NIO_V_PASS ||
	    ((e->xflags & NIO_XF_TOO_BIG) && nio_worker_icmp_too_big(p, e->mtu) < 0)) {
		iso->bad_desc += e->verdict != NIO_V_DROP;
		st->dropped++;
		nio_pipeline_drop(pl, p, NIO_DROP_SERVICE);
		return NULL;
	}
	return p;
}

/* The packets that passed, on to the next service a burst at a time. */
struct passed {
	struct nio_pkt *pkts[NIO_BURST_MAX];
	uint16_t n;
};

/* A run of requests the host passed unchanged (the packets are as they went out: only what
 * may be stale by now is cleared) or kept. */
static void run(struct nio_worker *w, struct nio_iso *iso, const struct nio_xent *e,
		struct passed *out)
{
	for (uint16_t k = 0; k < e->len; k++) {
		uint32_t idx = iso->sent[iso->done++ & (NIO_ISO_REQ - 1)];
		struct nio_pkt *p;

		if (e->verdict != NIO_V_PASS)
			continue;
		if (!lent_take(iso, idx)) {
			iso->bad_desc++; /* the host gave it back before, e.g. with pkt_free */
			continue;
		}
		p = pkt_at(w, idx);
		p->flow = NULL;
		p->svc_state = NULL;
		p->drop_ctr = 0;
		out->pkts[out->n++] = p;
	}
}

/* Bursts of verdicts: passed packets continue with the next service. */
static unsigned collect(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
			unsigned s, struct nio_iso *iso)
{
	struct nio_svc_stats *st = &pl->svcs[s].stats[w->id];
	struct nio_ring *r = iso->resp;
	struct nio_xent *ents = nio_iso_ents(r);
	struct passed out;
	uint32_t tail = r->tail, mask = nio_ring_mask(r->num_slots);
	uint64_t t0 = nio_iso_clock();
	int avail, k;

	/* acquire: pairs with the host's release of head; the entries below it are written.
	 * Read only once the answers read before are used up. */
	if (iso->resp_head == tail)
		iso->resp_head = nio_ring_load_acquire(&r->head);
	avail = nio_ring_pending(iso->resp_head, tail, r->num_slots);
	if (avail < 0) {
		iso->corrupt = true; /* the control thread kills it */
		return 0;
	}
	if (!avail)
		return 0;
	if (avail > (int)c->burst)
		avail = (int)c->burst;
	/* the slots the host wrote come from its core: ask for them all at once (a hint only:
	 * the entries are read again, once, below) */
	for (k = 0; k < avail; k++) {
		const struct nio_xent *e = &ents[(tail + (uint32_t)k) & mask];

		if ((e->xflags & NIO_XF_META) && e->idx < iso->nbufs)
			__builtin_prefetch(&iso->meta[e->idx]);
	}
	out.n = 0;
	for (k = 0; k < avail; k++) {
		struct nio_xent e;
		struct nio_pkt *p;
		int npos;

		copy_once(&e, &ents[tail & mask], sizeof(e));
		npos = nio_iso_positions(&e, iso->done, iso->req_head, iso->sent, NIO_ISO_REQ - 1);
		if (npos < 0) {
			iso->corrupt = true; /* the control thread kills it */
			break;
		}
		if (out.n + (!(e.xflags & NIO_XF_RUN)  ? 1u
			     : e.verdict == NIO_V_PASS ? e.len
						       : 0u) >
		    NIO_BURST_MAX)
			break; /* a burst is full: the rest on the next call */
		tail++;
		if (e.xflags & NIO_XF_RUN) {
			run(w, iso, &e, &out);
			continue;
		}
		iso->done += (uint32_t)npos;
		p = answer(w, pl, st, iso, &e);
		if (p)
			out.pkts[out.n++] = p;
	}
	/* release: the slots are read before the host may reuse them */
	nio_ring_store_release(&r->tail, tail);
	iso->xcyc += nio_iso_clock() - t0;
	st->passed += out.n;
	if (out.n)
		nio_pipeline_resume(w, c, pl, s + 1, out.pkts, out.n);
	return (unsigned)k;
}

/* Buffers the host is done with (pkt_free), home; and buffers it may take for pkt_alloc. */
static unsigned buffers(struct nio_worker *w, struct nio_iso *iso)
{
	struct nio_ring *r = iso->freer, *f = iso->fill;
	uint32_t tail = r->tail, head, *idx = nio_ring_idx(r), *fi = nio_ring_idx(f);
	int avail = nio_ring_pending(nio_ring_load_acquire(&r->head), tail, r->num_slots), used;

	if (avail < 0) {
		iso->corrupt = true;
		return 0;
	}
	for (int k = 0; k < avail; k++) {
		uint32_t i = idx[tail++ & nio_ring_mask(r->num_slots)];

		if (lent_take(iso, i))
			nio_worker_pkt_free(pkt_at(w, i));
		else
			iso->bad_desc++;
	}
	if (avail)
		nio_ring_store_release(&r->tail, tail);
	head = f->head;
	used = nio_ring_pending(head, nio_ring_load_acquire(&f->tail), f->num_slots);
	if (used < 0) {
		iso->corrupt = true; /* else a lying tail would drain the pool into the ring */
		return (unsigned)avail;
	}
	for (uint32_t room = f->num_slots - (uint32_t)used; room; room--) {
		struct nio_pkt *p = nio_pool_get(&w->pool);

		if (!p)
			break;
		/* the slot says what p says: an answer without NIO_XF_META keeps p's */
		nio_iso_to_meta(p, &iso->meta[arena_idx(w, p)]);
		lend(iso, arena_idx(w, p));
		fi[head++ & nio_ring_mask(f->num_slots)] = arena_idx(w, p);
	}
	if (head != f->head)
		nio_ring_store_release(&f->head, head);
	return (unsigned)avail;
}

static void free_entries(struct nio_worker *w, struct nio_iso *iso, struct nio_ring *r)
{
	uint32_t *idx = nio_ring_idx(r);

	for (uint32_t t = r->tail; nio_ring_pending(r->head, t, r->num_slots) > 0; t++)
		if (lent_take(iso, idx[t & nio_ring_mask(r->num_slots)]))
			nio_worker_pkt_free(pkt_at(w, idx[t & nio_ring_mask(r->num_slots)]));
}

static void ring_reset(struct nio_ring *r)
{
	r->head = r->tail = r->flags = 0;
}

/*
 * The host is gone: every buffer it had is the worker's again. Those it had freed or not yet
 * taken for pkt_alloc go home; every other packet (queued for it, held, or answered but not
 * collected: a dying host's answers are not trusted) follows the pipeline's fail-mode.
 */
static void reclaim(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl, unsigned s,
		    struct nio_iso *iso)
{
	struct nio_pkt *batch[NIO_BURST_MAX];
	uint16_t n = 0;

	/* fill entries from tail on were never taken; free entries are the host's pkt_free */
	free_entries(w, iso, iso->fill);
	free_entries(w, iso, iso->freer);
	for (uint32_t word = 0; word < (iso->nbufs + 63) / 64; word++) {
		for (uint64_t b = iso->lent[word]; b; b &= b - 1) {
			batch[n++] = pkt_at(w, word * 64 + (uint32_t)__builtin_ctzll(b));
			iso->reclaimed++;
			if (n == NIO_BURST_MAX) {
				fail_pkts(w, c, pl, s, batch, n);
				n = 0;
			}
		}
		iso->lent[word] = 0;
	}
	if (n)
		fail_pkts(w, c, pl, s, batch, n);
	ring_reset(iso->req);
	ring_reset(iso->resp);
	ring_reset(iso->fill);
	ring_reset(iso->freer);
	iso->req_head = iso->done = iso->resp_head = 0;
	iso->bell_owed = false;
	iso->shm->h_asleep = iso->shm->d_asleep = 0;
	iso->corrupt = false;
	/* release: the rings are reset before the control thread starts a new host on them */
	atomic_store_explicit(&iso->state, NIO_ISO_RECLAIMED, memory_order_release);
	nio_iso_kick();
}

static unsigned poll_one(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
			 unsigned s, struct nio_iso *iso)
{
	int st = atomic_load_explicit(&iso->state, memory_order_acquire);

	if (st == NIO_ISO_DOWN) {
		reclaim(w, c, pl, s, iso);
		return 1;
	}
	if (st != NIO_ISO_UP || iso->corrupt)
		return 0;
	return collect(w, c, pl, s, iso) + buffers(w, iso);
}

/* The looks owed after publishing requests (bell): one fence for every instance. */
static void pay_bells(struct nio_worker *w, struct nio_config *c, bool fenced)
{
	for (unsigned i = 0; i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		for (unsigned s = 0; pl->owner == (int)w->id && s < pl->nsvcs; s++) {
			struct nio_iso *iso = pl->svcs[s].iso;
			uint64_t t0;

			if (!iso || !iso->bell_owed)
				continue;
			t0 = nio_iso_clock();
			if (!fenced)
				nio_iso_fence(); /* pairs with the host's between h_asleep and its look */
			fenced = true;
			if (__atomic_load_n(&iso->shm->h_asleep, __ATOMIC_RELAXED))
				ring_bell(iso->req_efd);
			iso->bell_owed = false;
			iso->xcyc += nio_iso_clock() - t0;
		}
	}
}

/* Each isolated instance of the pipelines this worker owns: verdicts, buffers, faults; then
 * the doorbells owed for this turn's requests. */
unsigned nio_iso_poll(struct nio_worker *w, struct nio_config *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		if (pl->owner != (int)w->id)
			continue;
		for (unsigned s = 0; s < pl->nsvcs; s++)
			if (pl->svcs[s].iso)
				n += poll_one(w, c, pl, s, pl->svcs[s].iso);
	}
	pay_bells(w, c, false);
	return n;
}

/* Before the worker sleeps: a doorbell from each host with something to answer, and the
 * requests' doorbells still owed. Returns the number of descriptors added to fds; pending
 * says whether an answer slipped in. */
unsigned nio_iso_sleep_fds(struct nio_worker *w, struct nio_config *c, struct pollfd *fds,
			   unsigned max, bool *pending)
{
	unsigned n = 0;

	*pending = false;
	for (unsigned i = 0; i < c->npipelines && n < max; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		for (unsigned s = 0; pl->owner == (int)w->id && s < pl->nsvcs && n < max; s++) {
			struct nio_iso *iso = pl->svcs[s].iso;

			if (!iso)
				continue;
			__atomic_store_n(&iso->shm->d_asleep, 1, __ATOMIC_RELAXED);
			fds[n++] = (struct pollfd){ .fd = iso->resp_efd, .events = POLLIN };
		}
	}
	/* pairs with the host's fence between publishing head and its look at d_asleep */
	nio_iso_fence();
	for (unsigned i = 0; i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		for (unsigned s = 0; pl->owner == (int)w->id && s < pl->nsvcs; s++) {
			struct nio_iso *iso = pl->svcs[s].iso;

			/* DOWN: the worker has buffers to take back; a RECLAIMED or FAILED one owes
			 * it nothing (a restart wakes it), so it may sleep instead of spinning */
			if (iso && (nio_ring_load_acquire(&iso->resp->head) != iso->resp->tail ||
				    nio_ring_load_acquire(&iso->freer->head) != iso->freer->tail ||
				    atomic_load(&iso->state) == NIO_ISO_DOWN))
				*pending = true;
		}
	}
	pay_bells(w, c, true);
	return n;
}

/* Awake again: no doorbells wanted while the worker polls. */
void nio_iso_woken(struct nio_worker *w, struct nio_config *c, const struct pollfd *fds, unsigned n)
{
	uint64_t v;

	for (unsigned i = 0; i < n; i++)
		if (fds[i].revents & POLLIN)
			(void)!read(fds[i].fd, &v, sizeof(v));
	for (unsigned i = 0; i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		for (unsigned s = 0; pl->owner == (int)w->id && s < pl->nsvcs; s++)
			if (pl->svcs[s].iso)
				__atomic_store_n(&pl->svcs[s].iso->shm->d_asleep, 0,
						 __ATOMIC_RELAXED);
	}
}

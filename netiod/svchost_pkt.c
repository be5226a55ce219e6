/* netio-svchost: packets in, verdicts out, buffers lent and returned (the host's side of the rings). */
#include <string.h>
#include <unistd.h>

#include "svchost.h"

struct svchost H;

/* The host's private view of the rings: its own indices until published once per turn, the
 * other side's as last read. */
static struct {
	uint32_t req_head;  /* netiod's, read again once the requests read are taken */
	uint32_t resp_tail; /* netiod's, read again once the copy says the ring is full */
	uint32_t fill_head; /* netiod's */
	uint32_t fill_tail, free_head; /* the host's own, published by svchost_flush */
	unsigned bell_owed;	       /* turns since answers went out without a look at d_asleep */
} V;

/* After a restart the rings start empty: every index is 0 (netiod reset them). */
void svchost_view_init(void)
{
	V.req_head = H.req->head;
	V.resp_tail = H.resp->tail;
	V.fill_head = H.fill->head;
	V.fill_tail = H.fill->tail;
	V.free_head = H.freer->head;
}

static void reset(struct nio_pkt *p, uint32_t off)
{
	uint8_t *buf = p->buf;

	memset(p, 0, sizeof(*p));
	p->buf = buf;
	p->buf_size = NIO_PKT_BUF_SIZE;
	p->data = buf + off;
	p->in_port = p->out_port = NIO_PORT_NONE;
}

/* host->pkt_alloc: a buffer netiod lent through the fill ring. */
struct nio_pkt *svchost_pkt_alloc(void)
{
	struct nio_ring *r = H.fill;
	uint32_t idx;

	/* acquire: pairs with netiod's release of head; the entry is written */
	if (V.fill_head == V.fill_tail)
		V.fill_head = nio_ring_load_acquire(&r->head);
	if (nio_ring_pending(V.fill_head, V.fill_tail, r->num_slots) <= 0)
		return NULL;
	idx = nio_ring_idx(r)[V.fill_tail++ & nio_ring_mask(r->num_slots)];
	if (idx >= H.nbufs)
		return NULL;
	reset(&H.pkts[idx], NIO_PKT_HEADROOM);
	H.too_big[idx] = 0;
	return &H.pkts[idx];
}

/* host->pkt_free: the buffer goes back to netiod (the free ring holds every buffer). */
void svchost_pkt_free(struct nio_pkt *p)
{
	struct nio_ring *r = H.freer;

	nio_ring_idx(r)[V.free_head++ & nio_ring_mask(r->num_slots)] = (uint32_t)(p - H.pkts);
}

/* host->icmp_too_big: netiod builds the error when the packet comes back (it knows the
 * ports' addresses); the service passes the packet on unchanged, as it would in netiod. */
int svchost_icmp_too_big(struct nio_pkt *p, uint32_t mtu)
{
	H.too_big[p - H.pkts] = mtu ? mtu : 1;
	p->flags |= NIO_PKT_F_L2DONE;
	return 0;
}

static void from_ent(const struct nio_xent *e, const struct nio_xmeta *m, struct nio_pkt *p)
{
	reset(p, e->off < NIO_PKT_BUF_SIZE ? e->off : 0);
	p->len = e->len <= NIO_PKT_BUF_SIZE - (uint32_t)(p->data - p->buf) ? e->len : 0;
	p->l3_off = m->l3_off;
	p->l4_off = m->l4_off;
	p->in_port = m->in_port;
	p->out_port = m->out_port;
	p->flags = m->flags;
	p->ip_proto = m->ip_proto;
	p->dscp = m->dscp;
	p->hash = m->hash;
	p->ts_ns = m->ts_ns;
	p->key = m->key;
}

/* An answer entry, and the answers' view of the response ring. */
static struct nio_xent *resp_ent(uint32_t *head)
{
	return &nio_iso_ents(H.resp)[(*head)++ & nio_ring_mask(H.resp->num_slots)];
}

/* Positions with no packet to take (a buffer index netiod could not have sent) are answered
 * as kept at once: the worker's record of its positions stays in step. */
static void answer_kept(uint32_t n)
{
	uint32_t head = H.resp->head;

	*resp_ent(&head) = (struct nio_xent){ .xflags = NIO_XF_RUN,
					      .verdict = NIO_V_CONSUMED,
					      .len = (uint16_t)n };
	nio_ring_store_release(&H.resp->head, head);
}

/* Up to max requests, as packets; the first one with a bad buffer index ends the burst (it is
 * answered on its own, as kept, at the next call, once the burst before it is answered). */
unsigned svchost_take(struct nio_pkt **pkts, unsigned max)
{
	struct nio_ring *r = H.req;
	const struct nio_xent *ents = nio_iso_ents(r);
	uint32_t tail = r->tail, mask = nio_ring_mask(r->num_slots), avail;
	unsigned n = 0;

	/* acquire: pairs with netiod's release of head; the entries below it are written */
	if (V.req_head == tail)
		V.req_head = nio_ring_load_acquire(&r->head);
	avail = nio_ring_used(V.req_head, tail);
	if (avail > r->num_slots || !avail)
		return 0;
	if (avail > max)
		avail = max;
	/* the slots' cache lines come from netiod's core: ask for them all at once */
	for (uint32_t k = 0; k < avail; k++)
		if (ents[(tail + k) & mask].idx < H.nbufs)
			__builtin_prefetch(&H.meta[ents[(tail + k) & mask].idx]);
	for (; avail; avail--) {
		struct nio_xent e = ents[tail & mask];

		if (e.idx >= H.nbufs) {
			if (n)
				break;
			answer_kept(1);
			tail++;
			continue;
		}
		tail++;
		from_ent(&e, &H.meta[e.idx], &H.pkts[e.idx]);
		H.too_big[e.idx] = 0;
		H.asked[e.idx] = (uint32_t)e.off << 16 | e.len;
		pkts[n++] = &H.pkts[e.idx];
	}
	/* release: the entries are read before netiod may reuse the slots */
	nio_ring_store_release(&r->tail, tail);
	return n;
}

/* Whether the service changed p's metadata: then the slot gets the new one. */
static bool meta_changed(const struct nio_pkt *p, uint32_t idx)
{
	struct nio_xmeta m;

	nio_iso_to_meta(p, &m);
	if (!memcmp(&m, &H.meta[idx], sizeof(m)))
		return false;
	H.meta[idx] = m;
	return true;
}

/* p's answer, with xflags xf (NIO_XF_REQ: to the request at its position). */
static void to_ent(const struct nio_pkt *p, uint8_t verdict, uint8_t xf, bool meta,
		   struct nio_xent *e)
{
	uint32_t idx = (uint32_t)(p - H.pkts);

	xf |= (H.too_big[idx] ? NIO_XF_TOO_BIG : 0) | (meta ? NIO_XF_META : 0);
	*e = (struct nio_xent){ .idx = idx,
				.off = (uint16_t)(p->data - p->buf),
				.len = (uint16_t)p->len,
				.verdict = verdict,
				.xflags = xf,
				.drop_ctr = p->drop_ctr,
				.mtu = H.too_big[idx] };
}

/* Answers written: netiod sees them, and a worker seen asleep is rung now; else a look after
 * a fence is owed (svchost_flush). */
static void publish(uint32_t head)
{
	if (head == H.resp->head)
		return;
	/* release: the entries and slots are written before netiod sees the new head */
	nio_ring_store_release(&H.resp->head, head);
	if (__atomic_load_n(&H.shm->d_asleep, __ATOMIC_RELAXED))
		svchost_ring(NIO_ISO_FD_RESP);
	else if (!V.bell_owed)
		V.bell_owed = 1;
}

/* The run of positions so far (verdict v, len of them) as one entry. */
static void run_end(uint32_t *head, uint8_t v, uint16_t *len)
{
	if (!*len)
		return;
	*resp_ent(head) = (struct nio_xent){ .xflags = NIO_XF_RUN, .verdict = v, .len = *len };
	*len = 0;
}

/* The answer to position i: the packet taken there (pkts[i] == taken[i]) passed unchanged or
 * kept joins the run (its verdict returned); any other verdict, 0xff. */
static uint8_t in_run(struct nio_pkt *p, const struct nio_pkt *t, uint8_t verdict, bool *meta)
{
	uint32_t idx = (uint32_t)(t - H.pkts);

	if (p != t)
		return NIO_V_CONSUMED; /* the position's packet is not answered here */
	if (verdict == NIO_V_CONSUMED)
		return NIO_V_CONSUMED;
	*meta = meta_changed(p, idx);
	if (verdict == NIO_V_PASS && !*meta && !H.too_big[idx] &&
	    H.asked[idx] == ((uint32_t)(p->data - p->buf) << 16 | p->len))
		return NIO_V_PASS;
	return 0xff;
}

/*
 * The verdicts of a burst taken (taken[i] as svchost_take gave it, pkts[i] as the service left
 * it), answered in the order taken: runs of packets passed unchanged or kept as one entry
 * each, any other answer as its own entry for its position. A packet the service put in
 * place of the one taken goes back as released (and the position as kept).
 */
void svchost_answer(struct nio_pkt *const *pkts, struct nio_pkt *const *taken,
		    const uint8_t *verdicts, unsigned n)
{
	uint32_t head = H.resp->head;
	uint16_t len = 0;
	uint8_t rv = NIO_V_PASS;

	for (unsigned i = 0; i < n; i++) {
		bool meta = false;
		uint8_t v = in_run(pkts[i], taken[i], verdicts[i], &meta);

		if (v != 0xff && (!len || v == rv)) {
			rv = v;
			len++;
		} else if (v != 0xff) {
			run_end(&head, rv, &len);
			rv = v;
			len = 1;
		} else {
			run_end(&head, rv, &len);
			to_ent(pkts[i], verdicts[i], NIO_XF_REQ, meta, resp_ent(&head));
		}
		if (pkts[i] != taken[i] && verdicts[i] != NIO_V_CONSUMED) {
			run_end(&head, rv, &len);
			to_ent(pkts[i], verdicts[i], 0,
			       meta_changed(pkts[i], (uint32_t)(pkts[i] - H.pkts)),
			       resp_ent(&head));
		}
	}
	run_end(&head, rv, &len);
	publish(head);
}

/* Packets the service released (dequeue) or made: they go on, each named by its buffer. */
void svchost_release(struct nio_pkt *const *pkts, unsigned n)
{
	uint32_t head = H.resp->head;

	for (unsigned i = 0; i < n; i++)
		to_ent(pkts[i], NIO_V_PASS, 0, meta_changed(pkts[i], (uint32_t)(pkts[i] - H.pkts)),
		       resp_ent(&head));
	publish(head);
}

void svchost_ring(int efd)
{
	uint64_t one = 1;

	(void)!write(efd, &one, sizeof(one));
}

/*
 * The end of a turn: the buffers freed and taken are published, and the look owed at
 * d_asleep is paid after a fence, in a turn that took no request (the host is idle) or after
 * a few busy ones (a worker that went to sleep meanwhile waits no longer). fenced: the caller
 * has just issued one (sleep_idle).
 */
void svchost_flush(bool idle, bool fenced)
{
	/* release: the free entries are written before netiod sees them */
	if (V.free_head != H.freer->head)
		nio_ring_store_release(&H.freer->head, V.free_head);
	if (V.fill_tail != H.fill->tail)
		nio_ring_store_release(&H.fill->tail, V.fill_tail);
	if (!V.bell_owed || (!idle && !fenced && ++V.bell_owed < 4))
		return;
	if (!fenced)
		nio_iso_fence(); /* pairs with the worker's between d_asleep and its last look */
	if (__atomic_load_n(&H.shm->d_asleep, __ATOMIC_RELAXED))
		svchost_ring(NIO_ISO_FD_RESP);
	V.bell_owed = 0;
}

/* Free response slots (the ring holds every buffer: only a broken netiod fills it). */
unsigned svchost_room(unsigned want)
{
	struct nio_ring *r = H.resp;

	if (nio_ring_free(r->head, V.resp_tail, r->num_slots) < want)
		V.resp_tail = nio_ring_load_acquire(&r->tail);
	return nio_ring_free(r->head, V.resp_tail, r->num_slots);
}

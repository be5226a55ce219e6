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

/* Up to max requests, as packets. */
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
		const struct nio_xent *e = &ents[tail++ & mask];

		if (e->idx >= H.nbufs)
			continue;
		from_ent(e, &H.meta[e->idx], &H.pkts[e->idx]);
		H.too_big[e->idx] = 0;
		pkts[n++] = &H.pkts[e->idx];
	}
	/* release: the entries are read before netiod may reuse the slots */
	nio_ring_store_release(&r->tail, tail);
	return n;
}

/* p's answer; the slot is written only when the service changed the metadata. */
static void to_ent(const struct nio_pkt *p, uint8_t verdict, struct nio_xent *e)
{
	uint32_t idx = (uint32_t)(p - H.pkts);
	struct nio_xmeta m;
	uint8_t xf = H.too_big[idx] ? NIO_XF_TOO_BIG : 0;

	nio_iso_to_meta(p, &m);
	if (memcmp(&m, &H.meta[idx], sizeof(m))) {
		H.meta[idx] = m;
		xf |= NIO_XF_META;
	}
	*e = (struct nio_xent){ .idx = idx,
				.off = (uint16_t)(p->data - p->buf),
				.len = (uint16_t)p->len,
				.verdict = verdict,
				.xflags = xf,
				.drop_ctr = p->drop_ctr,
				.mtu = H.too_big[idx] };
}

/* Verdicts back to netiod; a consumed packet stays here until dequeue or pkt_free. */
void svchost_answer(struct nio_pkt **pkts, const uint8_t *verdicts, unsigned n)
{
	struct nio_ring *r = H.resp;
	uint32_t head = r->head, mask = nio_ring_mask(r->num_slots);

	for (unsigned i = 0; i < n; i++)
		if (verdicts[i] != NIO_V_CONSUMED)
			to_ent(pkts[i], verdicts[i], &nio_iso_ents(r)[head++ & mask]);
	if (head == r->head)
		return;
	/* release: the entries and slots are written before netiod sees the new head */
	nio_ring_store_release(&r->head, head);
	/* a worker seen asleep is rung now; else a look after a fence is owed (svchost_flush) */
	if (__atomic_load_n(&H.shm->d_asleep, __ATOMIC_RELAXED))
		svchost_ring(NIO_ISO_FD_RESP);
	else if (!V.bell_owed)
		V.bell_owed = 1;
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

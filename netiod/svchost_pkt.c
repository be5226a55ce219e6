/* netio-svchost: packets in, verdicts out, buffers lent and returned (the host's side of the rings). */
#include <string.h>
#include <unistd.h>

#include "svchost.h"

struct svchost H;

static struct nio_xdesc *descs(struct nio_ring *r)
{
	return (struct nio_xdesc *)(void *)(r + 1);
}

static void doorbell(struct nio_ring *r, int efd)
{
	uint64_t one = 1;

	/* pairs with the worker's fence between setting NEED_WAKEUP and its last look */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->flags, __ATOMIC_RELAXED) & NIO_RING_F_NEED_WAKEUP)
		(void)!write(efd, &one, sizeof(one));
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
	uint32_t tail = r->tail, idx;

	/* acquire: pairs with netiod's release of head; the entry is written */
	if (nio_ring_load_acquire(&r->head) == tail)
		return NULL;
	idx = nio_ring_idx(r)[tail & nio_ring_mask(r->num_slots)];
	nio_ring_store_release(&r->tail, tail + 1);
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
	uint32_t head = r->head;

	nio_ring_idx(r)[head & nio_ring_mask(r->num_slots)] = (uint32_t)(p - H.pkts);
	nio_ring_store_release(&r->head, head + 1);
}

/* host->icmp_too_big: netiod builds the error when the packet comes back (it knows the
 * ports' addresses); the service passes the packet on unchanged, as it would in netiod. */
int svchost_icmp_too_big(struct nio_pkt *p, uint32_t mtu)
{
	H.too_big[p - H.pkts] = mtu ? mtu : 1;
	p->flags |= NIO_PKT_F_L2DONE;
	return 0;
}

static void from_desc(const struct nio_xdesc *d, struct nio_pkt *p)
{
	reset(p, d->off < NIO_PKT_BUF_SIZE ? d->off : 0);
	p->len = d->len <= NIO_PKT_BUF_SIZE - (uint32_t)(p->data - p->buf) ? d->len : 0;
	p->l3_off = d->l3_off;
	p->l4_off = d->l4_off;
	p->in_port = d->in_port;
	p->out_port = d->out_port;
	p->flags = d->flags;
	p->ip_proto = d->ip_proto;
	p->dscp = d->dscp;
	p->hash = d->hash;
	p->ts_ns = d->ts_ns;
	p->key = d->key;
}

/* Up to max requests, as packets. */
unsigned svchost_take(struct nio_pkt **pkts, unsigned max)
{
	struct nio_ring *r = H.req;
	uint32_t tail = r->tail, mask = nio_ring_mask(r->num_slots);
	uint32_t avail = nio_ring_used(nio_ring_load_acquire(&r->head), tail);
	unsigned n = 0;

	if (avail > r->num_slots)
		avail = 0;
	for (; avail && n < max; avail--) {
		const struct nio_xdesc *d = &descs(r)[tail++ & mask];

		if (d->idx >= H.nbufs)
			continue;
		from_desc(d, &H.pkts[d->idx]);
		H.too_big[d->idx] = 0;
		pkts[n++] = &H.pkts[d->idx];
	}
	/* release: the descriptors are read before netiod may reuse the slots */
	nio_ring_store_release(&r->tail, tail);
	return n;
}

static void to_desc(const struct nio_pkt *p, uint8_t verdict, struct nio_xdesc *d)
{
	uint32_t idx = (uint32_t)(p - H.pkts);

	*d = (struct nio_xdesc){ .idx = idx,
				 .off = (uint32_t)(p->data - p->buf),
				 .len = p->len,
				 .l3_off = p->l3_off,
				 .l4_off = p->l4_off,
				 .in_port = p->in_port,
				 .out_port = p->out_port,
				 .flags = p->flags,
				 .ip_proto = p->ip_proto,
				 .dscp = p->dscp,
				 .hash = p->hash,
				 .verdict = verdict,
				 .too_big = H.too_big[idx] != 0,
				 .drop_ctr = p->drop_ctr,
				 .mtu = H.too_big[idx],
				 .ts_ns = p->ts_ns,
				 .key = p->key };
}

/* Verdicts back to netiod; a consumed packet stays here until dequeue or pkt_free. */
void svchost_answer(struct nio_pkt **pkts, const uint8_t *verdicts, unsigned n)
{
	struct nio_ring *r = H.resp;
	uint32_t head = r->head, mask = nio_ring_mask(r->num_slots);

	for (unsigned i = 0; i < n; i++)
		if (verdicts[i] != NIO_V_CONSUMED)
			to_desc(pkts[i], verdicts[i], &descs(r)[head++ & mask]);
	if (head == r->head)
		return;
	/* release: the descriptors are written before netiod sees the new head */
	nio_ring_store_release(&r->head, head);
	doorbell(r, NIO_ISO_FD_RESP);
}

/* Free response slots (the ring holds every buffer: only a broken netiod fills it). */
unsigned svchost_room(void)
{
	return nio_ring_free(H.resp->head, nio_ring_load_acquire(&H.resp->tail), H.resp->num_slots);
}

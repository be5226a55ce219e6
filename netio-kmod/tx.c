// SPDX-License-Identifier: GPL-2.0
/* TX: the TX ring drained into skbs built around the region's pages, buffers returned
 * through the completion ring once no skb refers to them, and the TX doorbell. */
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/skbuff.h>

#include "netio.h"

/* Frames up to this length are copied into the skb (a page reference and a completion cost
 * more than copying them); longer ones are sent from the region's pages. 0: never copy. */
unsigned int nio_tx_copybreak = 256;
module_param_named(tx_copybreak, nio_tx_copybreak, uint, 0644);
MODULE_PARM_DESC(tx_copybreak, "TX frames up to this length are copied (default 256)");

/* While traffic flows, the kernel drains the TX ring itself this often, without syscalls;
 * 0: only kicks drain it (NIO_RING_F_NEED_WAKEUP always set). */
unsigned int nio_tx_poll_us = 100;
module_param_named(tx_poll_us, nio_tx_poll_us, uint, 0644);
MODULE_PARM_DESC(tx_poll_us, "TX ring polling period while busy, us (default 100, 0: off)");

/* Linear room for the headers the stack pulls out of the frags (no reallocation then). */
#define NIO_TX_PULL  128u
#define NIO_TX_BATCH 64u

static void nio_stat_add(u64 *counter, u64 v)
{
	WRITE_ONCE(*counter, *counter + v);
}

/* ---------------------------------------------------------------- completion ring */

/* Room for n more completions: the owner's tail may lie, then there is none. tx_lock held. */
static u32 nio_comp_reserve(struct nio_queue *q, u32 n)
{
	unsigned long flags;
	int used;
	u32 room;

	spin_lock_irqsave(&q->comp_lock, flags);
	used = nio_ring_pending(q->comp_head, READ_ONCE(q->comp->tail), q->bind->tx_slots);
	room = used < 0 ? 0 : q->bind->tx_slots - used;
	room = room > q->comp_reserved ? room - q->comp_reserved : 0;
	n = min(n, room);
	q->comp_reserved += n;
	spin_unlock_irqrestore(&q->comp_lock, flags);
	return n;
}

static void nio_comp_unreserve(struct nio_queue *q, u32 n)
{
	unsigned long flags;

	spin_lock_irqsave(&q->comp_lock, flags);
	q->comp_reserved -= n;
	spin_unlock_irqrestore(&q->comp_lock, flags);
}

/*
 * Give buffers idx[0..n) back to the owner, then let the region reuse them. Their slots were
 * reserved when the descriptors were taken; only an owner moving its tail backwards can have
 * filled the ring since, and then it loses a buffer (counted). Any context.
 */
static void nio_comp_push_many(struct nio_queue *q, const u32 *idx, u32 n, u64 *counter)
{
	u32 i, mask = nio_ring_mask(q->bind->tx_slots);
	unsigned long flags;
	int used;

	spin_lock_irqsave(&q->comp_lock, flags);
	/* pairs with the owner's release store of tail: entries before it are read */
	used = nio_ring_pending(q->comp_head, smp_load_acquire(&q->comp->tail), q->bind->tx_slots);
	for (i = 0; i < n; i++) {
		if (used < 0 || used >= q->bind->tx_slots) {
			nio_stat_add(&q->stats.comp_lost, 1);
			continue;
		}
		WRITE_ONCE(nio_ring_idx(q->comp)[q->comp_head & mask], idx[i]);
		q->comp_head++;
		used++;
	}
	/* pairs with the owner's acquire load of head */
	smp_store_release(&q->comp->head, q->comp_head);
	q->comp_reserved -= n;
	if (counter)
		nio_stat_add(counter, n);
	spin_unlock_irqrestore(&q->comp_lock, flags);
	/* after the push: a restarted owner reading the bitmap, then the ring, sees them once */
	for (i = 0; i < n; i++)
		clear_bit_unlock(idx[i], q->bind->region->inflight);
}

static void nio_comp_push(struct nio_queue *q, u32 idx, u64 *counter)
{
	nio_comp_push_many(q, &idx, 1, counter);
}

/*
 * The last skb referring to the buffer's pages is gone (or some path copied the frame out of
 * them: success false). Called once per skb holding the ubuf_info; the last call returns the
 * buffer. The skb held a reference on the binding and on this module: the module cannot be
 * removed while skbs built on a region sit in a qdisc (rmmod says it is in use); module_put
 * comes last, like sock_wfree from af_packet's skb destructor.
 */
static void nio_tx_done(struct sk_buff *skb, struct ubuf_info *u, bool success)
{
	struct nio_txbuf *t = container_of(u, struct nio_txbuf, ubuf);
	struct nio_queue *q = t->q;
	struct nio_bind *b = q->bind;
	u32 idx;

	if (!success)
		WRITE_ONCE(t->copied, true);
	if (!refcount_dec_and_test(&u->refcnt))
		return;
	idx = t - b->region->txbufs;
	nio_comp_push(q, idx,
		      READ_ONCE(t->copied) ? &q->stats.tx_path_copied : &q->stats.tx_zerocopy);
	nio_bind_put(b);
	module_put(THIS_MODULE);
}

/* ---------------------------------------------------------------- skbs */

static struct sk_buff *nio_tx_alloc(struct net_device *dev, u32 linear)
{
	unsigned int reserve = LL_RESERVED_SPACE(dev);
	struct sk_buff *skb = alloc_skb(reserve + linear, GFP_ATOMIC | __GFP_NOWARN);

	if (skb)
		skb_reserve(skb, reserve);
	return skb;
}

static void nio_tx_finish_skb(struct sk_buff *skb, struct net_device *dev)
{
	skb->dev = dev;
	skb_reset_mac_header(skb);
	skb_set_network_header(skb, ETH_HLEN);
	skb->protocol = eth_hdr(skb)->h_proto;
	skb->ip_summed = CHECKSUM_NONE;
}

/*
 * The skb of a copied frame, from this CPU's NAPI caches: its head, most often, one the
 * rx_handler just gave back on this CPU (nio_rx_consume), its data a piece of a page fragment;
 * alloc_skb would take both from the slab, each zeroed (init_on_alloc, Debian's default), and
 * free them there again. The caches are per CPU and served with BH disabled, as here: every
 * caller holds tx_lock with BH off or runs in the TX timer's softirq.
 */
static struct sk_buff *nio_tx_alloc_copy(struct net_device *dev, u32 len)
{
	unsigned int reserve = LL_RESERVED_SPACE(dev);
	unsigned int size =
		SKB_DATA_ALIGN(reserve + len) + SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
	struct sk_buff *skb;
	void *data;

	lockdep_assert_in_softirq();
	data = napi_alloc_frag(size);
	if (!data)
		return NULL;
	skb = napi_build_skb(data, size);
	if (!skb) {
		skb_free_frag(data);
		return NULL;
	}
	skb_reserve(skb, reserve);
	return skb;
}

/* A short frame: copied, so the buffer goes back at once. */
static struct sk_buff *nio_tx_copy(struct nio_queue *q, struct net_device *dev,
				   const struct nio_slot *d)
{
	struct sk_buff *skb = nio_tx_alloc_copy(dev, d->len);

	if (!skb)
		return NULL;
	skb_put_data(skb, nio_region_buf(q->bind->region, d->buf_idx) + d->off, d->len);
	nio_tx_finish_skb(skb, dev);
	return skb;
}

/* The frame past its Ethernet header as page frags of the region (a buffer may straddle
 * pages; at most 64 KiB, so within MAX_SKB_FRAGS). */
static void nio_tx_frags(struct sk_buff *skb, const struct nio_region *r, u64 pos, u32 len)
{
	int i = 0;

	while (len) {
		struct page *page = r->pages[pos >> PAGE_SHIFT];
		u32 off = pos & ~PAGE_MASK, n = min_t(u32, len, PAGE_SIZE - off);

		get_page(page);
		skb_fill_page_desc(skb, i++, page, off, n);
		skb->len += n;
		skb->data_len += n;
		skb->truesize += n;
		pos += n;
		len -= n;
	}
}

/* Zero copy: the skb refers to the buffer's pages until its completion (nio_tx_done). */
static struct sk_buff *nio_tx_zerocopy(struct nio_queue *q, struct net_device *dev,
				       const struct nio_slot *d)
{
	struct nio_region *r = q->bind->region;
	struct nio_txbuf *t = &r->txbufs[d->buf_idx];
	u64 pos = (u64)d->buf_idx * r->buf_size + d->off;
	struct sk_buff *skb;

	if (!try_module_get(THIS_MODULE))
		return NULL; /* being unloaded: no completion may outlive the module */
	skb = nio_tx_alloc(dev, NIO_TX_PULL);
	if (!skb) {
		module_put(THIS_MODULE);
		return NULL;
	}
	skb_put_data(skb, r->mem + pos, ETH_HLEN);
	nio_tx_frags(skb, r, pos + ETH_HLEN, d->len - ETH_HLEN);
	nio_bind_get(q->bind);
	t->q = q;
	t->copied = false;
	t->ubuf.callback = nio_tx_done;
	t->ubuf.flags = SKBFL_ZEROCOPY_FRAG;
	refcount_set(&t->ubuf.refcnt, 1);
	skb_zcopy_init(skb, &t->ubuf);
	nio_tx_finish_skb(skb, dev);
	return skb;
}

/* Read a user-written descriptor exactly once into a private copy. */
static void nio_tx_read_desc(const struct nio_slot *s, struct nio_slot *d)
{
	d->buf_idx = READ_ONCE(s->buf_idx);
	d->off = READ_ONCE(s->off);
	d->len = READ_ONCE(s->len);
	d->flags = READ_ONCE(s->flags);
	d->claim = READ_ONCE(s->claim);
	d->reserved = READ_ONCE(s->reserved);
}

static void nio_tx_bad(struct nio_queue *q)
{
	nio_stat_add(&q->stats.tx_bad_desc, 1);
	WRITE_ONCE(q->info->tx_bad_desc, q->stats.tx_bad_desc);
}

/* The buffers of frames copied into their skbs during one drain: returned together at its end
 * (one completion lock and one head store per batch, not per frame). */
struct nio_tx_copied {
	u32 n;
	u32 idx[NIO_TX_BATCH];
};

/* Send one checked descriptor whose buffer this call owns (inflight bit set). */
static void nio_tx_send(struct nio_queue *q, struct net_device *dev, const struct nio_slot *d,
			struct nio_tx_copied *done)
{
	bool copy = d->len <= nio_tx_copybreak;
	struct sk_buff *skb = NULL;
	int rc;

	if (d->len <= dev->mtu + dev->hard_header_len + VLAN_HLEN && netif_running(dev))
		skb = copy ? nio_tx_copy(q, dev, d) : nio_tx_zerocopy(q, dev, d);
	if (!skb) {
		nio_stat_add(&q->stats.tx_errors, 1);
		nio_comp_push(q, d->buf_idx, NULL);
		return;
	}
	if (copy) /* the frame is in the skb: the buffer is the owner's again */
		done->idx[done->n++] = d->buf_idx;
	/* net_xmit_eval() evaluates its argument twice: keep the call out of it */
	rc = dev_queue_xmit(skb);
	if (net_xmit_eval(rc)) {
		nio_stat_add(&q->stats.tx_errors, 1);
		return;
	}
	nio_stat_add(&q->stats.tx_packets, 1);
	nio_stat_add(&q->stats.tx_bytes, d->len);
}

/* One descriptor; false if it was refused without a completion (its reservation is
 * released by the caller). */
static bool nio_tx_one(struct nio_queue *q, struct net_device *dev, const struct nio_slot *s,
		       struct nio_tx_copied *done)
{
	struct nio_region *r = q->bind->region;
	struct nio_slot d;

	nio_tx_read_desc(s, &d);
	if (nio_tx_desc_check(&d, r->nbufs, r->buf_size, ETH_HLEN) != NIO_DESC_OK ||
	    test_and_set_bit_lock(d.buf_idx, r->inflight)) {
		/* out of range, malformed, or a buffer the kernel already holds */
		nio_tx_bad(q);
		return false;
	}
	nio_tx_send(q, dev, &d, done);
	return true;
}

/* Take up to budget (at most NIO_TX_BATCH) descriptors; returns how many, or -EINVAL for a
 * lying head. tx_lock. */
static int nio_tx_drain(struct nio_queue *q, u32 budget)
{
	u32 head, i, refused = 0, mask = nio_ring_mask(q->bind->tx_slots);
	struct nio_tx_copied done = { .n = 0 };
	int n;

	if (!q->dev)
		return -ENODEV;
	/* pairs with the producer's release store of head: the slots before it are written */
	head = smp_load_acquire(&q->tx->head);
	n = nio_ring_pending(head, q->tx_tail, q->bind->tx_slots);
	if (n < 0) {
		nio_tx_bad(q);
		return -EINVAL;
	}
	n = nio_comp_reserve(q, min3(n, (int)budget, (int)NIO_TX_BATCH));
	for (i = 0; i < n; i++)
		if (!nio_tx_one(q, q->dev, &nio_ring_slots(q->tx)[(q->tx_tail + i) & mask], &done))
			refused++;
	if (done.n)
		nio_comp_push_many(q, done.idx, done.n, &q->stats.tx_copied);
	if (refused)
		nio_comp_unreserve(q, refused);
	WRITE_ONCE(q->tx_tail, q->tx_tail + n); /* poll reads it without tx_lock */
	/* pairs with the producer's acquire load of tail: these slots may be reused */
	smp_store_release(&q->tx->tail, q->tx_tail);
	WRITE_ONCE(q->info->tx_packets, q->stats.tx_packets);
	return n;
}

/* ---------------------------------------------------------------- doorbell */

/*
 * While the owner produces, this timer drains the TX ring every tx_poll_us and the ring's
 * NEED_WAKEUP stays clear: no syscall. When a run finds the ring empty it sets the flag, then
 * looks once more (the owner may have published just before seeing it) and stops. A run takes
 * at most NIO_TX_BATCH descriptors, as a NAPI poll its budget: one softirq run handing a
 * whole ring to a device that queues on a CPU's backlog (veth; netdev_max_backlog 1000)
 * would lose what does not fit; a ring that fills between runs makes the owner kick.
 */
static enum hrtimer_restart nio_tx_timer(struct hrtimer *timer)
{
	struct nio_queue *q = container_of(timer, struct nio_queue, tx_timer);
	int n;

	spin_lock(&q->tx_lock);
	n = nio_tx_drain(q, NIO_TX_BATCH);
	if (n == 0) {
		WRITE_ONCE(q->tx->flags, NIO_RING_F_NEED_WAKEUP);
		/* pairs with the owner's barrier between publishing head and reading flags */
		smp_mb();
		n = nio_tx_drain(q, NIO_TX_BATCH);
		if (n > 0)
			WRITE_ONCE(q->tx->flags, 0);
	}
	if (n > 0) {
		nio_stat_add(&q->stats.tx_polls, 1);
	} else {
		/* a lying head or a destroyed binding: the owner's next kick decides */
		if (q->dev)
			WRITE_ONCE(q->tx->flags, NIO_RING_F_NEED_WAKEUP);
		q->tx_polling = false;
	}
	spin_unlock(&q->tx_lock);
	if (n <= 0)
		return HRTIMER_NORESTART;
	hrtimer_forward_now(timer, ns_to_ktime((u64)READ_ONCE(nio_tx_poll_us) * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

void nio_tx_init(struct nio_queue *q)
{
	spin_lock_init(&q->tx_lock);
	spin_lock_init(&q->comp_lock);
	hrtimer_init(&q->tx_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
	q->tx_timer.function = nio_tx_timer;
}

/* The owner rang (ioctl or poll): send what is queued now, then keep polling while busy. */
int nio_tx_kick(struct nio_queue *q)
{
	u32 poll_us = READ_ONCE(nio_tx_poll_us);
	int n, total = 0;

	spin_lock_bh(&q->tx_lock);
	if (poll_us && q->dev)
		WRITE_ONCE(q->tx->flags, 0);
	nio_stat_add(&q->stats.tx_kicks, 1);
	do {
		n = nio_tx_drain(q, NIO_TX_BATCH);
		total += max(n, 0);
		if (n == NIO_TX_BATCH) {
			spin_unlock_bh(&q->tx_lock);
			cond_resched();
			spin_lock_bh(&q->tx_lock);
		}
	} while (n == NIO_TX_BATCH && total < q->bind->tx_slots);
	/* tx_polling, not hrtimer_active(): a run that is stopping has already set the flag
	 * again; (re)arming the timer from here is what keeps the cleared flag true */
	if (poll_us && q->dev && !q->tx_polling) {
		q->tx_polling = true;
		/* pinned: the queue drains on the CPU of its worker's kicks, so frames a
		 * device queues per CPU (veth's backlog) leave in ring order */
		hrtimer_start(&q->tx_timer, ns_to_ktime((u64)poll_us * NSEC_PER_USEC),
			      HRTIMER_MODE_REL_PINNED_SOFT);
	}
	spin_unlock_bh(&q->tx_lock);
	return n < 0 ? n : total;
}

/* The binding is being destroyed (q->dev is NULL already): no timer run may follow. */
void nio_tx_stop(struct nio_queue *q)
{
	hrtimer_cancel(&q->tx_timer);
}

bool nio_tx_pending(struct nio_queue *q)
{
	return READ_ONCE(q->tx->head) != READ_ONCE(q->tx_tail);
}

bool nio_tx_room(struct nio_queue *q)
{
	int used =
		nio_ring_pending(READ_ONCE(q->tx->head), READ_ONCE(q->tx_tail), q->bind->tx_slots);

	return used >= 0 && used < q->bind->tx_slots;
}

// SPDX-License-Identifier: GPL-2.0
/* The shared rings of a binding: layout, and RX (fill ring in, one copy, RX ring out). */
#include <linux/bitops.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/skbuff.h>
#include <linux/vmalloc.h>
#include <net/checksum.h>
#include <asm/unaligned.h>

#include "netio.h"

static void nio_ring_init_hdr(struct nio_ring *r, u32 num_slots, u32 slot_size)
{
	r->magic = NIO_RING_MAGIC;
	r->hdr_size = sizeof(struct nio_ring);
	r->slot_size = slot_size;
	r->num_slots = num_slots;
}

static void nio_ring_init_info(struct nio_bind *b)
{
	struct nio_map_info *info = b->info;

	info->magic = NIO_RING_MAGIC;
	info->abi_version = NIO_ABI_VERSION;
	info->info_size = sizeof(*info);
	info->ifindex = b->ifindex;
	info->map_size = b->map_size;
	info->rx_off = b->rx_off;
	info->fill_off = b->fill_off;
	info->tx_off = b->tx_off;
	info->comp_off = b->comp_off;
	info->region_size = b->region->size;
	info->num_rx_slots = b->rx_slots;
	info->num_tx_slots = b->tx_slots;
	info->nbufs = b->region->nbufs;
	info->buf_size = b->region->buf_size;
	info->headroom = b->headroom;
	info->region_id = b->region->id;
	info->num_queues = b->nqueues;
	info->reserved0 = 0;
	info->queue_stride = b->queue_stride;
	info->qinfo_off = b->qinfo_off;
}

/* Queue 0's block right after the info page's header; the others follow it at one stride. */
static void nio_ring_layout(struct nio_bind *b, const struct nio_geometry *g)
{
	u64 base = nio_align_up(sizeof(struct nio_map_info), NIO_CACHELINE), end;

	b->qinfo_off = base;
	b->rx_off = base + sizeof(struct nio_queue_info);
	b->fill_off = nio_align_up(b->rx_off + nio_ring_bytes(g->rx_slots), NIO_CACHELINE);
	b->tx_off = nio_align_up(b->fill_off + nio_ring_idx_bytes(g->rx_slots), NIO_CACHELINE);
	b->comp_off = nio_align_up(b->tx_off + nio_ring_bytes(g->tx_slots), NIO_CACHELINE);
	end = nio_align_up(b->comp_off + nio_ring_idx_bytes(g->tx_slots), NIO_CACHELINE);
	b->queue_stride = end - base;
	b->map_size = nio_align_up(base + b->queue_stride * g->nqueues, PAGE_SIZE);
}

static void nio_queue_init(struct nio_bind *b, u32 id)
{
	struct nio_queue *q = &b->q[id];
	void *block = b->map + id * b->queue_stride;

	q->bind = b;
	q->id = id;
	q->info = block + b->qinfo_off;
	q->rx = block + b->rx_off;
	q->fill = block + b->fill_off;
	q->tx = block + b->tx_off;
	q->comp = block + b->comp_off;
	spin_lock_init(&q->rx_lock);
	init_waitqueue_head(&q->wq);
	nio_tx_init(q);
}

/* The rings' mapping; the region comes referenced in g (shared) or is created here. */
int nio_ring_alloc(struct nio_bind *b, const struct nio_geometry *g)
{
	struct nio_region *r = g->share ?: nio_region_create(g->nbufs, g->buf_size);
	u32 i;

	if (IS_ERR(r))
		return PTR_ERR(r);
	b->region = r;
	nio_ring_layout(b, g);
	b->q = kcalloc(g->nqueues, sizeof(*b->q), GFP_KERNEL);
	b->map = vmalloc_user(b->map_size);
	if (!b->map || !b->q)
		return -ENOMEM;
	b->nqueues = g->nqueues;
	b->rx_slots = g->rx_slots;
	b->headroom = g->headroom;
	b->tx_slots = g->tx_slots;
	b->info = b->map;
	for (i = 0; i < b->nqueues; i++)
		nio_queue_init(b, i);
	nio_ring_republish(b);
	return 0;
}

void nio_ring_free_mem(struct nio_bind *b)
{
	vfree(b->map);
	b->map = NULL;
	kfree(b->q);
	b->q = NULL;
	if (b->region)
		nio_region_put(b->region);
	b->region = NULL;
}

/* One queue's kernel-owned fields from the private copies; both doorbells start rung. */
static void nio_queue_republish(struct nio_queue *q)
{
	struct nio_bind *b = q->bind;

	memset(q->info, 0, sizeof(*q->info));
	WRITE_ONCE(q->info->rx_packets, q->stats.rx_packets);
	WRITE_ONCE(q->info->rx_dropped_full, q->stats.rx_full);
	WRITE_ONCE(q->info->tx_packets, q->stats.tx_packets);
	WRITE_ONCE(q->info->tx_bad_desc, q->stats.tx_bad_desc);
	nio_ring_init_hdr(q->rx, b->rx_slots, sizeof(struct nio_slot));
	nio_ring_init_hdr(q->fill, b->rx_slots, sizeof(u32));
	nio_ring_init_hdr(q->tx, b->tx_slots, sizeof(struct nio_slot));
	nio_ring_init_hdr(q->comp, b->tx_slots, sizeof(u32));
	WRITE_ONCE(q->rx->flags, NIO_RING_F_NEED_WAKEUP);
	spin_lock_bh(&q->rx_lock);
	smp_store_release(&q->rx->head, q->rx_head);
	smp_store_release(&q->fill->tail, q->fill_tail);
	spin_unlock_bh(&q->rx_lock);
	spin_lock_bh(&q->tx_lock);
	smp_store_release(&q->tx->tail, q->tx_tail);
	WRITE_ONCE(q->tx->flags, NIO_RING_F_NEED_WAKEUP);
	spin_unlock_bh(&q->tx_lock);
	spin_lock_irq(&q->comp_lock);
	smp_store_release(&q->comp->head, q->comp_head);
	spin_unlock_irq(&q->comp_lock);
}

/*
 * Rewrite every kernel-owned field of the mapping from the private copies, undoing whatever a
 * previous owner scribbled there; called when an owner attaches. Both doorbells start rung:
 * the kernel wakes the new owner and waits for its first kick.
 */
void nio_ring_republish(struct nio_bind *b)
{
	u32 i;

	nio_ring_init_info(b);
	for (i = 0; i < b->nqueues; i++)
		nio_queue_republish(&b->q[i]);
}

static void nio_stat_add(u64 *counter, u64 v)
{
	WRITE_ONCE(*counter, *counter + v);
}

/* Complete a CHECKSUM_PARTIAL checksum in the ring copy, as skb_checksum_help would. */
static u16 nio_rx_csum(const struct sk_buff *skb, u8 *frame, u32 mac_len, u32 len)
{
	u32 start = mac_len + skb_checksum_start_offset(skb);
	u32 field = start + skb->csum_offset;
	__wsum csum;

	if (start >= len || field + sizeof(__sum16) > len)
		return NIO_SLOT_F_CSUM_PARTIAL;
	csum = csum_partial(frame + start, len - start, 0);
	put_unaligned(csum_fold(csum) ?: CSUM_MANGLED_0, (__sum16 *)(frame + field));
	return 0;
}

/* The one copy of RX: the whole frame, link-layer header included, into buffer idx. */
static u16 nio_rx_copy(struct nio_queue *q, const struct sk_buff *skb, u32 idx, u32 *lenp)
{
	u32 mac_len = skb->data - skb_mac_header(skb);
	u32 cap = q->bind->region->buf_size - q->bind->headroom;
	u8 *frame = nio_region_buf(q->bind->region, idx) + q->bind->headroom;
	u32 len = min_t(u32, mac_len + skb->len, cap);
	u16 flags = 0;

	memcpy(frame, skb_mac_header(skb), mac_len);
	if (skb_copy_bits(skb, 0, frame + mac_len, len - mac_len))
		return NIO_SLOT_F_TRUNC;
	if (len < mac_len + skb->len) {
		flags |= NIO_SLOT_F_TRUNC;
		nio_stat_add(&q->stats.rx_trunc, 1);
	} else if (skb->ip_summed == CHECKSUM_PARTIAL) {
		flags |= nio_rx_csum(skb, frame, mac_len, len);
	}
	*lenp = len;
	return flags;
}

/*
 * A free buffer from the fill ring, or -1 when it is empty. Each entry is read once; an index
 * out of range, or of a buffer an skb still refers to, is skipped and counted. rx_lock held.
 */
static s64 nio_fill_take(struct nio_queue *q)
{
	/* pairs with the owner's release store of head after it wrote the entries */
	u32 head = smp_load_acquire(&q->fill->head), mask = nio_ring_mask(q->bind->rx_slots), idx;
	int n = nio_ring_pending(head, q->fill_tail, q->bind->rx_slots);
	struct nio_region *r = q->bind->region;

	for (; n > 0; n--) {
		idx = READ_ONCE(nio_ring_idx(q->fill)[q->fill_tail & mask]);
		q->fill_tail++;
		if (idx < r->nbufs && !test_bit(idx, r->inflight))
			return idx;
		nio_stat_add(&q->stats.fill_bad, 1);
	}
	return -1;
}

static void nio_rx_publish(struct nio_queue *q, u32 idx, u32 len, u16 flags, u16 claim_id)
{
	struct nio_slot *s = &nio_ring_slots(q->rx)[q->rx_head & nio_ring_mask(q->bind->rx_slots)];

	WRITE_ONCE(s->buf_idx, idx);
	WRITE_ONCE(s->off, q->bind->headroom);
	WRITE_ONCE(s->len, len);
	WRITE_ONCE(s->flags, flags);
	WRITE_ONCE(s->claim, claim_id);
	WRITE_ONCE(s->reserved, 0);
	WRITE_ONCE(q->rx_head, q->rx_head + 1); /* poll reads it without rx_lock */
	/* pairs with the consumer's acquire load of head: the slot and its buffer are written */
	smp_store_release(&q->rx->head, q->rx_head);
	/* the buffer is in RX before it leaves fill: a restarted owner counting both rings in
	 * this order sees it at least once (netiod rebuilds its free list from them) */
	smp_store_release(&q->fill->tail, q->fill_tail);
}

static bool nio_rx_refuse(struct nio_queue *q, bool nobuf)
{
	if (nobuf)
		nio_stat_add(&q->stats.rx_nobuf, 1);
	nio_stat_add(&q->stats.rx_full, 1);
	WRITE_ONCE(q->info->rx_dropped_full, q->stats.rx_full);
	spin_unlock(&q->rx_lock);
	return false;
}

/*
 * The doorbell of RX: wake the owner only if it said it goes to sleep (ring.h), and only once
 * per sleep: the frames a softirq queues before the woken owner runs (a whole backlog batch
 * when both share a CPU) would each call wake_up on a task that is awake already.
 */
static void nio_rx_wake(struct nio_queue *q)
{
	/* pairs with the owner's barrier between setting the flag and re-reading head, and
	 * with nio_poll's between arming and re-reading head */
	smp_mb();
	if (!(READ_ONCE(q->rx->flags) & NIO_RING_F_NEED_WAKEUP))
		return;
	if (wq_has_sleeper(&q->wq) && atomic_xchg(&q->rx_armed, 0)) {
		nio_stat_add(&q->stats.rx_wakeups, 1);
		wake_up_interruptible_poll(&q->wq, EPOLLIN | EPOLLRDNORM);
	}
}

/* Producer side of RX; runs in softirq on any CPU, so serialised by rx_lock. */
bool nio_ring_rx_enqueue(struct nio_queue *q, const struct sk_buff *skb, u16 claim_id)
{
	u32 tail, len = 0;
	u16 flags;
	s64 idx;
	int used;

	spin_lock(&q->rx_lock);
	/* pairs with the consumer's release store of tail: slots before it are free again */
	tail = smp_load_acquire(&q->rx->tail);
	used = nio_ring_pending(q->rx_head, tail, q->bind->rx_slots);
	if (used < 0 || used == q->bind->rx_slots)
		return nio_rx_refuse(q, false);
	idx = nio_fill_take(q);
	if (idx < 0)
		return nio_rx_refuse(q, true);
	flags = nio_rx_copy(q, skb, idx, &len);
	nio_rx_publish(q, idx, len, flags, claim_id);
	nio_stat_add(&q->stats.rx_packets, 1);
	nio_stat_add(&q->stats.rx_bytes, len);
	WRITE_ONCE(q->info->rx_packets, q->stats.rx_packets);
	spin_unlock(&q->rx_lock);
	nio_rx_wake(q);
	return true;
}

/*
 * Free the RX slots no owner took within the hold time: move the consumer index up to the
 * kernel's head, as a consumer would, and count them. No owner is attached (nio_lock held),
 * so nobody else writes tail; a scribbled tail is simply overwritten.
 */
static void nio_queue_rx_discard(struct nio_queue *q)
{
	int queued;

	spin_lock_bh(&q->rx_lock);
	queued = nio_ring_pending(q->rx_head, READ_ONCE(q->rx->tail), q->bind->rx_slots);
	if (queued > 0)
		nio_stat_add(&q->stats.rx_expired, queued);
	/* pairs with a future owner's acquire load of tail, as the consumer's own store would */
	smp_store_release(&q->rx->tail, q->rx_head);
	spin_unlock_bh(&q->rx_lock);
}

void nio_ring_rx_discard(struct nio_bind *b)
{
	u32 i;

	for (i = 0; i < b->nqueues; i++)
		nio_queue_rx_discard(&b->q[i]);
}

/*
 * The queue a claimed frame goes to: its flow hash (the NIC's RSS hash where the driver gives
 * one) modulo the queues. One flow, one queue: its frames keep their order. The low bits, as
 * an RSS indirection table takes them, so with the NIC's default table a ring is fed by the
 * NIC queues of the same residue; not the recorded RX queue, which a veth leaves as the
 * sender's TX queue, itself the hash's top bit. Softirq, rcu_read_lock.
 */
struct nio_queue *nio_ring_queue(struct nio_bind *b, struct sk_buff *skb)
{
	u32 n = b->nqueues;

	if (n == 1)
		return &b->q[0];
	return &b->q[skb_get_hash(skb) % n];
}

bool nio_ring_rx_ready(struct nio_queue *q)
{
	return READ_ONCE(q->rx_head) != READ_ONCE(q->rx->tail);
}

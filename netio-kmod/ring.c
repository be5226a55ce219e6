// SPDX-License-Identifier: GPL-2.0
/* The shared rings of a binding: layout, and RX (fill ring in, one copy, RX ring out). */
#include <linux/bitops.h>
#include <linux/poll.h>
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
}

/* The rings' mapping; the region comes referenced in g (shared) or is created here. */
int nio_ring_alloc(struct nio_bind *b, const struct nio_geometry *g)
{
	struct nio_region *r = g->share ?: nio_region_create(g->nbufs, g->buf_size);

	if (IS_ERR(r))
		return PTR_ERR(r);
	b->region = r;
	b->rx_off = nio_align_up(sizeof(struct nio_map_info), NIO_CACHELINE);
	b->fill_off = nio_align_up(b->rx_off + nio_ring_bytes(g->rx_slots), NIO_CACHELINE);
	b->tx_off = nio_align_up(b->fill_off + nio_ring_idx_bytes(g->rx_slots), NIO_CACHELINE);
	b->comp_off = nio_align_up(b->tx_off + nio_ring_bytes(g->tx_slots), NIO_CACHELINE);
	b->map_size = nio_align_up(b->comp_off + nio_ring_idx_bytes(g->tx_slots), PAGE_SIZE);
	b->map = vmalloc_user(b->map_size);
	if (!b->map)
		return -ENOMEM;
	b->rx_slots = g->rx_slots;
	b->headroom = g->headroom;
	b->tx_slots = g->tx_slots;
	b->info = b->map;
	b->rx = b->map + b->rx_off;
	b->fill = b->map + b->fill_off;
	b->tx = b->map + b->tx_off;
	b->comp = b->map + b->comp_off;
	nio_ring_republish(b);
	return 0;
}

void nio_ring_free_mem(struct nio_bind *b)
{
	vfree(b->map);
	b->map = NULL;
	if (b->region)
		nio_region_put(b->region);
	b->region = NULL;
}

/*
 * Rewrite every kernel-owned field of the mapping from the private copies, undoing whatever a
 * previous owner scribbled there; called when an owner attaches. Both doorbells start rung:
 * the kernel wakes the new owner and waits for its first kick.
 */
void nio_ring_republish(struct nio_bind *b)
{
	nio_ring_init_info(b);
	nio_ring_init_hdr(b->rx, b->rx_slots, sizeof(struct nio_slot));
	nio_ring_init_hdr(b->fill, b->rx_slots, sizeof(u32));
	nio_ring_init_hdr(b->tx, b->tx_slots, sizeof(struct nio_slot));
	nio_ring_init_hdr(b->comp, b->tx_slots, sizeof(u32));
	WRITE_ONCE(b->rx->flags, NIO_RING_F_NEED_WAKEUP);
	spin_lock_bh(&b->rx_lock);
	smp_store_release(&b->rx->head, b->rx_head);
	smp_store_release(&b->fill->tail, b->fill_tail);
	spin_unlock_bh(&b->rx_lock);
	spin_lock_bh(&b->tx_lock);
	smp_store_release(&b->tx->tail, b->tx_tail);
	WRITE_ONCE(b->tx->flags, NIO_RING_F_NEED_WAKEUP);
	spin_unlock_bh(&b->tx_lock);
	spin_lock_irq(&b->comp_lock);
	smp_store_release(&b->comp->head, b->comp_head);
	spin_unlock_irq(&b->comp_lock);
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
static u16 nio_rx_copy(struct nio_bind *b, const struct sk_buff *skb, u32 idx, u32 *lenp)
{
	u32 mac_len = skb->data - skb_mac_header(skb);
	u32 cap = b->region->buf_size - b->headroom;
	u8 *frame = nio_region_buf(b->region, idx) + b->headroom;
	u32 len = min_t(u32, mac_len + skb->len, cap);
	u16 flags = 0;

	memcpy(frame, skb_mac_header(skb), mac_len);
	if (skb_copy_bits(skb, 0, frame + mac_len, len - mac_len))
		return NIO_SLOT_F_TRUNC;
	if (len < mac_len + skb->len) {
		flags |= NIO_SLOT_F_TRUNC;
		nio_stat_add(&b->stats.rx_trunc, 1);
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
static s64 nio_fill_take(struct nio_bind *b)
{
	/* pairs with the owner's release store of head after it wrote the entries */
	u32 head = smp_load_acquire(&b->fill->head), mask = nio_ring_mask(b->rx_slots), idx;
	int n = nio_ring_pending(head, b->fill_tail, b->rx_slots);
	struct nio_region *r = b->region;

	for (; n > 0; n--) {
		idx = READ_ONCE(nio_ring_idx(b->fill)[b->fill_tail & mask]);
		b->fill_tail++;
		if (idx < r->nbufs && !test_bit(idx, r->inflight))
			return idx;
		nio_stat_add(&b->stats.fill_bad, 1);
	}
	return -1;
}

static void nio_rx_publish(struct nio_bind *b, u32 idx, u32 len, u16 flags, u16 claim_id)
{
	struct nio_slot *s = &nio_ring_slots(b->rx)[b->rx_head & nio_ring_mask(b->rx_slots)];

	WRITE_ONCE(s->buf_idx, idx);
	WRITE_ONCE(s->off, b->headroom);
	WRITE_ONCE(s->len, len);
	WRITE_ONCE(s->flags, flags);
	WRITE_ONCE(s->claim, claim_id);
	WRITE_ONCE(s->reserved, 0);
	WRITE_ONCE(b->rx_head, b->rx_head + 1); /* poll reads it without rx_lock */
	/* pairs with the consumer's acquire load of head: the slot and its buffer are written */
	smp_store_release(&b->rx->head, b->rx_head);
	/* the buffer is in RX before it leaves fill: a restarted owner counting both rings in
	 * this order sees it at least once (netiod rebuilds its free list from them) */
	smp_store_release(&b->fill->tail, b->fill_tail);
}

static bool nio_rx_refuse(struct nio_bind *b, bool nobuf)
{
	if (nobuf)
		nio_stat_add(&b->stats.rx_nobuf, 1);
	nio_stat_add(&b->stats.rx_full, 1);
	WRITE_ONCE(b->info->rx_dropped_full, b->stats.rx_full);
	spin_unlock(&b->rx_lock);
	return false;
}

/* The doorbell of RX: wake the owner only if it said it goes to sleep (ring.h). */
static void nio_rx_wake(struct nio_bind *b)
{
	/* pairs with the owner's barrier between setting the flag and re-reading head */
	smp_mb();
	if (!(READ_ONCE(b->rx->flags) & NIO_RING_F_NEED_WAKEUP))
		return;
	if (wq_has_sleeper(&b->wq)) {
		nio_stat_add(&b->stats.rx_wakeups, 1);
		wake_up_interruptible_poll(&b->wq, EPOLLIN | EPOLLRDNORM);
	}
}

/* Producer side of RX; runs in softirq on any CPU, so serialised by rx_lock. */
bool nio_ring_rx_enqueue(struct nio_bind *b, const struct sk_buff *skb, u16 claim_id)
{
	u32 tail, len = 0;
	u16 flags;
	s64 idx;
	int used;

	spin_lock(&b->rx_lock);
	/* pairs with the consumer's release store of tail: slots before it are free again */
	tail = smp_load_acquire(&b->rx->tail);
	used = nio_ring_pending(b->rx_head, tail, b->rx_slots);
	if (used < 0 || used == b->rx_slots)
		return nio_rx_refuse(b, false);
	idx = nio_fill_take(b);
	if (idx < 0)
		return nio_rx_refuse(b, true);
	flags = nio_rx_copy(b, skb, idx, &len);
	nio_rx_publish(b, idx, len, flags, claim_id);
	nio_stat_add(&b->stats.rx_packets, 1);
	nio_stat_add(&b->stats.rx_bytes, len);
	WRITE_ONCE(b->info->rx_packets, b->stats.rx_packets);
	spin_unlock(&b->rx_lock);
	nio_rx_wake(b);
	return true;
}

/*
 * Free the RX slots no owner took within the hold time: move the consumer index up to the
 * kernel's head, as a consumer would, and count them. No owner is attached (nio_lock held),
 * so nobody else writes tail; a scribbled tail is simply overwritten.
 */
void nio_ring_rx_discard(struct nio_bind *b)
{
	int queued;

	spin_lock_bh(&b->rx_lock);
	queued = nio_ring_pending(b->rx_head, READ_ONCE(b->rx->tail), b->rx_slots);
	if (queued > 0)
		nio_stat_add(&b->stats.rx_expired, queued);
	/* pairs with a future owner's acquire load of tail, as the consumer's own store would */
	smp_store_release(&b->rx->tail, b->rx_head);
	spin_unlock_bh(&b->rx_lock);
}

bool nio_ring_rx_ready(struct nio_bind *b)
{
	return READ_ONCE(b->rx_head) != READ_ONCE(b->rx->tail);
}

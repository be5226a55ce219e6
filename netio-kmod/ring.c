// SPDX-License-Identifier: GPL-2.0
/* The shared rings of a binding: layout, the RX producer and the TX consumer. */
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/poll.h>
#include <linux/skbuff.h>
#include <linux/vmalloc.h>
#include <net/checksum.h>
#include <asm/unaligned.h>

#include "netio.h"

#define NIO_MAX_MAP_SIZE (256ull << 20)

static void nio_ring_init_hdr(struct nio_ring *r, u32 num_slots)
{
	r->magic = NIO_RING_MAGIC;
	r->hdr_size = sizeof(struct nio_ring);
	r->slot_size = sizeof(struct nio_slot);
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
	info->tx_off = b->tx_off;
	info->buf_off = b->buf_off;
	info->num_rx_slots = b->rx_slots;
	info->num_tx_slots = b->tx_slots;
	info->nbufs = b->nbufs;
	info->buf_size = b->buf_size;
	info->headroom = NIO_RX_HEADROOM;
}

int nio_ring_alloc(struct nio_bind *b, u32 rx_slots, u32 tx_slots, u32 buf_size)
{
	b->rx_off = nio_align_up(sizeof(struct nio_map_info), NIO_CACHELINE);
	b->tx_off = nio_align_up(b->rx_off + nio_ring_bytes(rx_slots), NIO_CACHELINE);
	b->buf_off = nio_align_up(b->tx_off + nio_ring_bytes(tx_slots), PAGE_SIZE);
	b->nbufs = rx_slots + tx_slots;
	b->map_size = nio_align_up(b->buf_off + (u64)b->nbufs * buf_size, PAGE_SIZE);
	if (b->map_size > NIO_MAX_MAP_SIZE)
		return -E2BIG;
	b->map = vmalloc_user(b->map_size);
	if (!b->map)
		return -ENOMEM;
	b->rx_slots = rx_slots;
	b->tx_slots = tx_slots;
	b->buf_size = buf_size;
	b->info = b->map;
	b->rx = b->map + b->rx_off;
	b->tx = b->map + b->tx_off;
	b->bufs = b->map + b->buf_off;
	nio_ring_init_info(b);
	nio_ring_republish(b);
	return 0;
}

void nio_ring_free_mem(struct nio_bind *b)
{
	vfree(b->map);
	b->map = NULL;
}

/*
 * Rewrite every kernel-owned field of the mapping from the private copies, undoing whatever a
 * previous owner scribbled there; called when an owner attaches.
 */
void nio_ring_republish(struct nio_bind *b)
{
	nio_ring_init_info(b);
	nio_ring_init_hdr(b->rx, b->rx_slots);
	nio_ring_init_hdr(b->tx, b->tx_slots);
	spin_lock_bh(&b->rx_lock);
	smp_store_release(&b->rx->head, b->rx_head);
	spin_unlock_bh(&b->rx_lock);
	mutex_lock(&b->tx_lock);
	smp_store_release(&b->tx->tail, b->tx_tail);
	mutex_unlock(&b->tx_lock);
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

/* Copy the whole frame, link-layer header included, into buffer idx; returns the slot flags. */
static u16 nio_rx_copy(struct nio_bind *b, const struct sk_buff *skb, u32 idx, u32 *lenp)
{
	u32 mac_len = skb->data - skb_mac_header(skb);
	u32 cap = b->buf_size - NIO_RX_HEADROOM;
	u8 *frame = b->bufs + (u64)idx * b->buf_size + NIO_RX_HEADROOM;
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

/* Producer side of RX; runs in softirq on any CPU, so serialised by rx_lock. */
bool nio_ring_rx_enqueue(struct nio_bind *b, const struct sk_buff *skb, u16 claim_id)
{
	struct nio_slot *s;
	u32 tail, idx, len = 0;
	u16 flags;
	int used;

	spin_lock(&b->rx_lock);
	/* pairs with the consumer's release store of tail: slots before it are free again */
	tail = smp_load_acquire(&b->rx->tail);
	used = nio_ring_pending(b->rx_head, tail, b->rx_slots);
	if (used < 0 || used == b->rx_slots) {
		nio_stat_add(&b->stats.rx_full, 1);
		WRITE_ONCE(b->info->rx_dropped_full, b->stats.rx_full);
		spin_unlock(&b->rx_lock);
		return false;
	}
	idx = b->rx_head & nio_ring_mask(b->rx_slots);
	flags = nio_rx_copy(b, skb, idx, &len);
	s = &b->rx->slots[idx];
	WRITE_ONCE(s->buf_idx, idx);
	WRITE_ONCE(s->off, NIO_RX_HEADROOM);
	WRITE_ONCE(s->len, len);
	WRITE_ONCE(s->flags, flags);
	WRITE_ONCE(s->claim, claim_id);
	WRITE_ONCE(s->reserved, 0);
	WRITE_ONCE(b->rx_head, b->rx_head + 1); /* poll reads it without rx_lock */
	/* pairs with the consumer's acquire load of head: the slot and its buffer are written */
	smp_store_release(&b->rx->head, b->rx_head);
	nio_stat_add(&b->stats.rx_packets, 1);
	nio_stat_add(&b->stats.rx_bytes, len);
	WRITE_ONCE(b->info->rx_packets, b->stats.rx_packets);
	spin_unlock(&b->rx_lock);
	if (wq_has_sleeper(&b->wq))
		wake_up_interruptible_poll(&b->wq, EPOLLIN | EPOLLRDNORM);
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

static void nio_tx_bad(struct nio_bind *b)
{
	nio_stat_add(&b->stats.tx_bad_desc, 1);
	WRITE_ONCE(b->info->tx_bad_desc, b->stats.tx_bad_desc);
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

static struct sk_buff *nio_tx_skb(struct nio_bind *b, struct net_device *dev,
				  const struct nio_slot *d)
{
	unsigned int reserve = LL_RESERVED_SPACE(dev);
	struct sk_buff *skb;

	skb = alloc_skb(reserve + d->len, GFP_KERNEL | __GFP_NOWARN);
	if (!skb)
		return NULL;
	skb_reserve(skb, reserve);
	skb_put_data(skb, b->bufs + (u64)d->buf_idx * b->buf_size + d->off, d->len);
	skb->dev = dev;
	skb_reset_mac_header(skb);
	skb_set_network_header(skb, ETH_HLEN);
	skb->protocol = eth_hdr(skb)->h_proto;
	skb->ip_summed = CHECKSUM_NONE;
	return skb;
}

static void nio_tx_one(struct nio_bind *b, struct net_device *dev, const struct nio_slot *s)
{
	struct nio_slot d;
	struct sk_buff *skb;
	int rc;

	nio_tx_read_desc(s, &d);
	if (nio_tx_desc_check(&d, b->nbufs, b->buf_size, ETH_HLEN) != NIO_DESC_OK) {
		nio_tx_bad(b);
		return;
	}
	if (d.len > dev->mtu + dev->hard_header_len + VLAN_HLEN || !netif_running(dev)) {
		nio_stat_add(&b->stats.tx_errors, 1);
		return;
	}
	skb = nio_tx_skb(b, dev, &d);
	if (!skb) {
		nio_stat_add(&b->stats.tx_errors, 1);
		return;
	}
	/* net_xmit_eval() evaluates its argument twice: keep the call out of it */
	rc = dev_queue_xmit(skb);
	if (net_xmit_eval(rc)) {
		nio_stat_add(&b->stats.tx_errors, 1);
		return;
	}
	nio_stat_add(&b->stats.tx_packets, 1);
	nio_stat_add(&b->stats.tx_bytes, d.len);
}

/* Consumer side of TX: send every slot the owner published; returns how many were taken. */
int nio_ring_tx(struct nio_bind *b)
{
	u32 head, i, mask = nio_ring_mask(b->tx_slots);
	int n;

	mutex_lock(&b->tx_lock);
	if (!b->dev) {
		mutex_unlock(&b->tx_lock);
		return -ENODEV;
	}
	/* pairs with the producer's release store of head: the slots before it are written */
	head = smp_load_acquire(&b->tx->head);
	n = nio_ring_pending(head, b->tx_tail, b->tx_slots);
	if (n < 0) {
		nio_tx_bad(b);
		mutex_unlock(&b->tx_lock);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		nio_tx_one(b, b->dev, &b->tx->slots[(b->tx_tail + i) & mask]);
		if ((i & 63) == 63)
			cond_resched();
	}
	WRITE_ONCE(b->tx_tail, b->tx_tail + n); /* poll reads it without tx_lock */
	/* pairs with the producer's acquire load of tail: these slots may be reused */
	smp_store_release(&b->tx->tail, b->tx_tail);
	WRITE_ONCE(b->info->tx_packets, b->stats.tx_packets);
	mutex_unlock(&b->tx_lock);
	return n;
}

bool nio_ring_rx_ready(struct nio_bind *b)
{
	return READ_ONCE(b->rx_head) != READ_ONCE(b->rx->tail);
}

bool nio_ring_tx_room(struct nio_bind *b)
{
	int used = nio_ring_pending(READ_ONCE(b->tx->head), READ_ONCE(b->tx_tail), b->tx_slots);

	return used >= 0 && used < b->tx_slots;
}

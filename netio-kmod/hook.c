// SPDX-License-Identifier: GPL-2.0
/* Where packets enter: the rx_handler on each bound NIC, splitting claimed from the rest. */
#include <linux/if_arp.h>
#include <linux/if_vlan.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>

#include "netio.h"

static LIST_HEAD(nio_nics); /* nio_lock */

/*
 * A frame now in the ring: its skb is done with. In softirq (the backlog's or a driver's NAPI
 * poll) its head goes to this CPU's NAPI cache, from which the TX path's next copy on this CPU
 * takes it back (nio_tx_alloc_copy), instead of to the slab; elsewhere (a driver receiving in
 * process context) as usual.
 */
static void nio_rx_consume(struct sk_buff *skb)
{
	if (in_serving_softirq())
		napi_consume_skb(skb, 1);
	else
		consume_skb(skb);
}

/*
 * A GSO frame (veth or virtio with offloads on) is cut into wire-size frames for the ring, as
 * the device would have sent them. Frames that do not fit are dropped whatever the fail mode:
 * part of the burst is already with the owner.
 */
static rx_handler_result_t nio_rx_gso(struct nio_claim *c, struct nio_claim_stats *s,
				      struct nio_queue *q, struct sk_buff *skb)
{
	struct sk_buff *segs, *seg, *next;

	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb) {
		s->dropped++;
		return RX_HANDLER_CONSUMED;
	}
	__skb_push(skb, skb->data - skb_mac_header(skb));
	segs = __skb_gso_segment(skb, 0, false);
	if (IS_ERR_OR_NULL(segs)) {
		s->dropped++;
		kfree_skb(skb);
		return RX_HANDLER_CONSUMED;
	}
	if (segs != skb)
		consume_skb(skb);
	skb_list_walk_safe(segs, seg, next) {
		skb_mark_not_on_list(seg);
		if (nio_ring_rx_enqueue(q, seg, c->id)) {
			s->queued++;
			nio_rx_consume(seg);
		} else {
			s->dropped++;
			kfree_skb(seg);
		}
	}
	return RX_HANDLER_CONSUMED;
}

/* A claimed packet: into its owner's ring, else what the claim's fail mode says. */
static rx_handler_result_t nio_rx_claimed(struct nio_claim *c, struct sk_buff *skb)
{
	struct nio_claim_stats *s = this_cpu_ptr(c->stats);
	struct nio_bind *b = c->bind;
	struct nio_queue *q;

	s->packets++;
	s->bytes += skb->len;
	if (READ_ONCE(b->owner)) {
		/* before segmentation: every segment of a burst on the flow's queue */
		q = nio_ring_queue(b, skb);
		if (skb_is_gso(skb))
			return nio_rx_gso(c, s, q, skb);
		if (nio_ring_rx_enqueue(q, skb, c->id)) {
			s->queued++;
			nio_rx_consume(skb);
			return RX_HANDLER_CONSUMED;
		}
	}
	if (c->fail_mode == NETIO_FAIL_PASSTHROUGH) {
		s->passed++;
		return RX_HANDLER_PASS;
	}
	s->dropped++;
	kfree_skb(skb);
	return RX_HANDLER_CONSUMED;
}

/* Runs in softirq under rcu_read_lock; everything unclaimed passes untouched. */
static rx_handler_result_t nio_rx_handler(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct nio_nic *nic = rcu_dereference(skb->dev->rx_handler_data);
	struct nio_claim_table *t;
	struct nio_claim *c;
	struct nio_key k;
	u32 reason;

	/* frames for other stations (promiscuous mode) are not the gateway's to take */
	if (skb->pkt_type == PACKET_LOOPBACK || skb->pkt_type == PACKET_OTHERHOST ||
	    skb_vlan_tag_present(skb) || !skb_mac_header_was_set(skb))
		return RX_HANDLER_PASS;
	t = rcu_dereference(nic->table);
	if (!t || !t->n)
		return RX_HANDLER_PASS;
	c = nio_claim_lookup(t, skb, &k);
	if (!c)
		return RX_HANDLER_PASS;
	reason = nio_keep_reason(skb, t, &k, &c);
	if (reason) {
		this_cpu_ptr(c->stats)->kept++;
		this_cpu_ptr(c->bind->kept)->n[reason]++;
		return RX_HANDLER_PASS;
	}
	return nio_rx_claimed(c, skb);
}

static struct nio_nic *nio_nic_find(struct net_device *dev)
{
	struct nio_nic *nic;

	list_for_each_entry(nic, &nio_nics, node)
		if (nic->dev == dev)
			return nic;
	return NULL;
}

/* The NIC entry for dev, hooking its rx_handler on first use. rtnl and nio_lock held. */
struct nio_nic *nio_nic_get(struct net_device *dev)
{
	struct nio_nic *nic = nio_nic_find(dev);
	int err;

	if (nic)
		return nic;
	if (dev->type != ARPHRD_ETHER || dev->addr_len != ETH_ALEN)
		return ERR_PTR(-EOPNOTSUPP);
	nic = kzalloc(sizeof(*nic), GFP_KERNEL);
	if (!nic)
		return ERR_PTR(-ENOMEM);
	nic->dev = dev;
	INIT_LIST_HEAD(&nic->bindings);
	err = netdev_rx_handler_register(dev, nio_rx_handler, nic);
	if (err) {
		kfree(nic);
		return ERR_PTR(err);
	}
	netdev_hold(dev, &nic->tracker, GFP_KERNEL);
	list_add_tail(&nic->node, &nio_nics);
	return nic;
}

/* Unhook a NIC no binding uses any more. rtnl and nio_lock held. */
void nio_nic_maybe_release(struct nio_nic *nic)
{
	if (!list_empty(&nic->bindings))
		return;
	/* waits for every rx_handler run in flight (synchronize_net) */
	netdev_rx_handler_unregister(nic->dev);
	list_del(&nic->node);
	kfree(rcu_dereference_protected(nic->table, lockdep_is_held(&nio_lock)));
	netdev_put(nic->dev, &nic->tracker);
	kfree(nic);
}

void nio_nic_publish(struct nio_nic *nic, struct nio_claim_table *t)
{
	struct nio_claim_table *old;

	old = rcu_replace_pointer(nic->table, t, lockdep_is_held(&nio_lock));
	if (old)
		kfree_rcu(old, rcu);
}

/* Destroy every binding of dev (every binding at all when dev is NULL). rtnl held. */
void nio_nics_teardown(struct net_device *dev)
{
	struct nio_nic *nic, *tmp;
	struct nio_bind *b;
	bool last;

	mutex_lock(&nio_lock);
	list_for_each_entry_safe(nic, tmp, &nio_nics, node) {
		if (dev && nic->dev != dev)
			continue;
		/* destroying the last binding frees nic: test for it before */
		do {
			b = list_first_entry(&nic->bindings, struct nio_bind, nic_node);
			last = list_is_singular(&nic->bindings);
			nio_bind_destroy(b, dev ? NETIO_GONE_DEVICE : NETIO_GONE_UNLOAD);
		} while (!last);
	}
	mutex_unlock(&nio_lock);
}

// SPDX-License-Identifier: GPL-2.0
/* Bindings: creation, ownership by a /dev/netio file, the hold timer and destruction. */
#include <linux/fs.h>
#include <linux/nsproxy.h>
#include <linux/idr.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/rtnetlink.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "netio.h"

DEFINE_MUTEX(nio_lock);
static DEFINE_IDR(nio_binds); /* nio_lock */
static struct workqueue_struct *nio_wq;

void nio_bind_get(struct nio_bind *b)
{
	kref_get(&b->ref);
}

static void nio_bind_release(struct kref *ref)
{
	struct nio_bind *b = container_of(ref, struct nio_bind, ref);

	nio_ring_free_mem(b);
	put_pid(b->owner_pid);
	free_percpu(b->kept);
	kfree(b);
}

void nio_bind_put(struct nio_bind *b)
{
	kref_put(&b->ref, nio_bind_release);
}

/*
 * The hold time bounds how long queued packets wait, not the drop policy: a binding with a
 * secure claim stays, dropping, until it is unbound or an owner attaches; the packets it
 * queued are discarded. Without a secure claim nothing is guarded and the binding goes.
 * rtnl and nio_lock held.
 */
static void nio_bind_expire(struct nio_bind *b)
{
	if (!nio_claims_secure(b)) {
		pr_info("binding %u (%s) expired after %u ms without owner\n", b->id, b->name,
			b->hold_ms);
		nio_bind_destroy(b, NETIO_GONE_HOLD);
		return;
	}
	b->expired = true;
	nio_ring_rx_discard(b);
	pr_info("binding %u (%s): no owner after %u ms, queue discarded; its secure claims drop "
		"until it is unbound or an owner attaches\n",
		b->id, b->name, b->hold_ms);
}

static void nio_bind_hold_expire(struct work_struct *work)
{
	struct nio_bind *b = container_of(to_delayed_work(work), struct nio_bind, hold_work);

	rtnl_lock();
	mutex_lock(&nio_lock);
	/* an owner may have attached while this work waited for the locks */
	if (!b->dead && !b->owner)
		nio_bind_expire(b);
	mutex_unlock(&nio_lock);
	rtnl_unlock();
	nio_bind_put(b);
}

/* A pending hold timer holds a reference. nio_lock held. */
static void nio_bind_hold_start(struct nio_bind *b)
{
	if (!b->hold_ms)
		return;
	nio_bind_get(b);
	if (!queue_delayed_work(nio_wq, &b->hold_work, msecs_to_jiffies(b->hold_ms)))
		nio_bind_put(b);
}

static void nio_bind_hold_stop(struct nio_bind *b)
{
	if (cancel_delayed_work(&b->hold_work))
		nio_bind_put(b);
}

static struct nio_bind *nio_bind_alloc(struct net_device *dev, const char *name, u32 hold_ms)
{
	struct nio_bind *b = kzalloc(sizeof(*b), GFP_KERNEL);

	if (!b)
		return NULL;
	b->kept = alloc_percpu(struct nio_kept_stats);
	if (!b->kept) {
		kfree(b);
		return NULL;
	}
	kref_init(&b->ref);
	strscpy(b->name, name, sizeof(b->name));
	b->ifindex = dev->ifindex;
	b->hold_ms = hold_ms;
	INIT_DELAYED_WORK(&b->hold_work, nio_bind_hold_expire);
	return b;
}

/* A new binding without owner: its hold timer runs until one attaches. rtnl and nio_lock held. */
struct nio_bind *nio_bind_create(struct net_device *dev, const char *name,
				 const struct nio_geometry *g, u32 hold_ms)
{
	struct nio_bind *b = nio_bind_alloc(dev, name, hold_ms);
	struct nio_nic *nic;
	int err = -ENOMEM, id;
	u32 i;

	if (!b) {
		if (g->share)
			nio_region_put(g->share);
		return ERR_PTR(-ENOMEM);
	}
	err = nio_ring_alloc(b, g);
	if (err)
		goto err_ring;
	id = idr_alloc(&nio_binds, b, 1, 0, GFP_KERNEL);
	if (id < 0) {
		err = id;
		goto err_ring;
	}
	b->id = id;
	nic = nio_nic_get(dev);
	if (IS_ERR(nic)) {
		err = PTR_ERR(nic);
		goto err_nic;
	}
	b->nic = nic;
	b->dev = dev;
	for (i = 0; i < b->nqueues; i++)
		b->q[i].dev = dev;
	list_add_tail(&b->nic_node, &nic->bindings);
	nio_bind_hold_start(b);
	return b;

err_nic:
	idr_remove(&nio_binds, b->id);
err_ring:
	nio_bind_put(b);
	return ERR_PTR(err);
}

/* A binding is seen only from its device's network namespace. nio_lock held. */
static bool nio_bind_in(const struct nio_bind *b, const struct net *net)
{
	return net_eq(dev_net(b->dev), net);
}

struct nio_bind *nio_bind_find(u32 id, const struct net *net)
{
	struct nio_bind *b;

	if (id > INT_MAX)
		return NULL;
	b = idr_find(&nio_binds, id);
	return b && nio_bind_in(b, net) ? b : NULL;
}

struct nio_bind *nio_bind_find_name(struct net_device *dev, const char *name)
{
	struct nio_bind *b;
	int id;

	idr_for_each_entry(&nio_binds, b, id)
		if (b->dev == dev && !strcmp(b->name, name))
			return b;
	return NULL;
}

/* The binding of net with the lowest id >= *id, for dumps. nio_lock held. */
struct nio_bind *nio_bind_next(int *id, const struct net *net)
{
	struct nio_bind *b;

	for (; (b = idr_get_next(&nio_binds, id)); (*id)++)
		if (nio_bind_in(b, net))
			return b;
	return NULL;
}

/*
 * Unhook the binding's claims, wait out the rx_handlers that may still see them, and drop the
 * list's reference; owner and mappings keep the memory until they let go. rtnl and nio_lock.
 */
void nio_bind_destroy(struct nio_bind *b, u32 reason)
{
	struct nio_nic *nic = b->nic;
	unsigned int i;
	struct nio_queue *q;

	if (b->dead)
		return;
	nio_genl_notify_gone(b, dev_net(b->dev), reason);
	WRITE_ONCE(b->dead, true);
	idr_remove(&nio_binds, b->id);
	list_del(&b->nic_node);
	nio_nic_rebuild(nic);
	nio_nic_maybe_release(nic);
	synchronize_net();
	for (i = 0; i < b->nclaims; i++)
		nio_claim_free(b->claims[i]);
	kfree(b->claims);
	b->claims = NULL;
	b->nclaims = 0;
	for (q = b->q; q < b->q + b->nqueues; q++) {
		spin_lock_bh(&q->tx_lock);
		q->dev = NULL;
		spin_unlock_bh(&q->tx_lock);
		nio_tx_stop(q);
		wake_up_interruptible_poll(&q->wq, EPOLLERR);
	}
	b->dev = NULL;
	b->nic = NULL;
	nio_bind_hold_stop(b);
	nio_bind_put(b);
}

/* Make f the owner of binding id; returns it with a reference for f. */
struct nio_bind *nio_bind_attach(u32 id, struct file *f)
{
	struct nio_bind *b;
	int err = 0;

	mutex_lock(&nio_lock);
	b = nio_bind_find(id, current->nsproxy->net_ns);
	if (!b)
		err = -ENOENT;
	else if (b->owner)
		err = -EBUSY;
	else if (f->private_data)
		err = -EISCONN;
	if (err) {
		mutex_unlock(&nio_lock);
		return ERR_PTR(err);
	}
	nio_bind_get(b);
	nio_bind_hold_stop(b);
	b->expired = false;
	nio_ring_republish(b);
	b->owner_pid = get_pid(task_tgid(current));
	WRITE_ONCE(b->owner, f);
	WRITE_ONCE(f->private_data, &b->q[0]); /* read locklessly by poll, mmap and KICK */
	mutex_unlock(&nio_lock);
	return b;
}

/*
 * Let f serve queue q of binding id, whose owner is the caller's process: that owner's other
 * workers poll and kick their queues on files of their own. Returns the queue with a
 * reference on the binding for f; the owner's file keeps the ownership.
 */
struct nio_queue *nio_bind_attach_queue(u32 id, u32 queue, struct file *f)
{
	struct nio_bind *b;
	int err = 0;

	mutex_lock(&nio_lock);
	b = nio_bind_find(id, current->nsproxy->net_ns);
	if (!b)
		err = -ENOENT;
	else if (!b->owner || b->owner_pid != task_tgid(current))
		err = -EPERM;
	else if (!queue || queue >= b->nqueues)
		err = -EINVAL;
	else if (f->private_data)
		err = -EISCONN;
	if (err) {
		mutex_unlock(&nio_lock);
		return ERR_PTR(err);
	}
	nio_bind_get(b);
	WRITE_ONCE(f->private_data, &b->q[queue]);
	mutex_unlock(&nio_lock);
	return &b->q[queue];
}

/* The owner's file is closing: queued packets stay for the hold time. */
void nio_bind_detach(struct nio_bind *b, struct file *f)
{
	mutex_lock(&nio_lock);
	if (b->owner == f) {
		WRITE_ONCE(b->owner, NULL);
		put_pid(b->owner_pid);
		b->owner_pid = NULL;
		if (!b->dead)
			nio_bind_hold_start(b);
	}
	mutex_unlock(&nio_lock);
	nio_bind_put(b);
}

/* Only the owner's process may change an owned binding. nio_lock held. */
bool nio_bind_may_change(const struct nio_bind *b)
{
	return !b->owner || b->owner_pid == task_tgid(current);
}

/* enum netio_hold_state, and the time left until expiry while waiting. nio_lock held. */
u32 nio_bind_hold_state(const struct nio_bind *b, u32 *left_ms)
{
	long left;

	*left_ms = 0;
	if (b->owner)
		return NETIO_HOLD_ATTACHED;
	if (b->expired)
		return NETIO_HOLD_EXPIRED;
	if (delayed_work_pending(&b->hold_work)) {
		left = (long)(READ_ONCE(b->hold_work.timer.expires) - jiffies);
		*left_ms = left > 0 ? jiffies_to_msecs(left) : 0;
	}
	return NETIO_HOLD_WAITING;
}

/* The binding's counters: its queues' summed, and the buffers its queues hold for TX. */
void nio_bind_stats_sum(const struct nio_bind *b, struct nio_bind_stats *sum, u64 *inflight)
{
	const u64 *from;
	u64 *to = (u64 *)sum;
	u32 i, j;

	BUILD_BUG_ON(sizeof(*sum) % sizeof(u64));
	memset(sum, 0, sizeof(*sum));
	*inflight = 0;
	for (i = 0; i < b->nqueues; i++) {
		from = (const u64 *)&b->q[i].stats;
		for (j = 0; j < sizeof(*sum) / sizeof(u64); j++)
			to[j] += READ_ONCE(from[j]);
		*inflight += READ_ONCE(b->q[i].comp_reserved);
	}
}

void nio_bind_kept_sum(const struct nio_bind *b, struct nio_kept_stats *sum)
{
	int cpu, i;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu)
		for (i = 0; i <= NETIO_KEPT_MAX; i++)
			sum->n[i] += READ_ONCE(per_cpu_ptr(b->kept, cpu)->n[i]);
}

int nio_bind_init(void)
{
	nio_wq = alloc_workqueue("netio", 0, 0);
	return nio_wq ? 0 : -ENOMEM;
}

/* After every binding is destroyed: waits for hold timers that were already running. */
void nio_bind_uninit(void)
{
	destroy_workqueue(nio_wq);
	idr_destroy(&nio_binds);
}

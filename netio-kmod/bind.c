// SPDX-License-Identifier: GPL-2.0
/* Bindings: creation, ownership by a /dev/netio file, the hold timer and destruction. */
#include <linux/fs.h>
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
	kfree(b);
}

void nio_bind_put(struct nio_bind *b)
{
	kref_put(&b->ref, nio_bind_release);
}

static void nio_bind_hold_expire(struct work_struct *work)
{
	struct nio_bind *b = container_of(to_delayed_work(work), struct nio_bind, hold_work);

	rtnl_lock();
	mutex_lock(&nio_lock);
	/* an owner may have attached while this work waited for the locks */
	if (!b->dead && !b->owner) {
		pr_info("binding %u (%s) expired after %u ms without owner\n", b->id, b->name,
			b->hold_ms);
		nio_bind_destroy(b, NETIO_GONE_HOLD);
	}
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
	kref_init(&b->ref);
	strscpy(b->name, name, sizeof(b->name));
	b->ifindex = dev->ifindex;
	b->hold_ms = hold_ms;
	spin_lock_init(&b->rx_lock);
	mutex_init(&b->tx_lock);
	init_waitqueue_head(&b->wq);
	INIT_DELAYED_WORK(&b->hold_work, nio_bind_hold_expire);
	return b;
}

/* A new binding without owner: its hold timer runs until one attaches. rtnl and nio_lock held. */
struct nio_bind *nio_bind_create(struct net_device *dev, const char *name, u32 rx_slots,
				 u32 tx_slots, u32 buf_size, u32 hold_ms)
{
	struct nio_bind *b = nio_bind_alloc(dev, name, hold_ms);
	struct nio_nic *nic;
	int err = -ENOMEM, id;

	if (!b)
		return ERR_PTR(-ENOMEM);
	err = nio_ring_alloc(b, rx_slots, tx_slots, buf_size);
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
	list_add_tail(&b->nic_node, &nic->bindings);
	nio_bind_hold_start(b);
	return b;

err_nic:
	idr_remove(&nio_binds, b->id);
err_ring:
	nio_bind_put(b);
	return ERR_PTR(err);
}

struct nio_bind *nio_bind_find(u32 id)
{
	if (id > INT_MAX)
		return NULL;
	return idr_find(&nio_binds, id);
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

/* The binding with the lowest id >= *id, for dumps. nio_lock held. */
struct nio_bind *nio_bind_next(int *id)
{
	return idr_get_next(&nio_binds, id);
}

/*
 * Unhook the binding's claims, wait out the rx_handlers that may still see them, and drop the
 * list's reference; owner and mappings keep the memory until they let go. rtnl and nio_lock.
 */
void nio_bind_destroy(struct nio_bind *b, u32 reason)
{
	struct nio_nic *nic = b->nic;
	unsigned int i;

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
	mutex_lock(&b->tx_lock);
	b->dev = NULL;
	mutex_unlock(&b->tx_lock);
	b->nic = NULL;
	nio_bind_hold_stop(b);
	wake_up_interruptible_poll(&b->wq, EPOLLERR);
	nio_bind_put(b);
}

/* Make f the owner of binding id; returns it with a reference for f. */
struct nio_bind *nio_bind_attach(u32 id, struct file *f)
{
	struct nio_bind *b;
	int err = 0;

	mutex_lock(&nio_lock);
	b = nio_bind_find(id);
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
	nio_ring_republish(b);
	b->owner_pid = get_pid(task_tgid(current));
	WRITE_ONCE(b->owner, f);
	WRITE_ONCE(f->private_data, b); /* read locklessly by poll, mmap and KICK */
	mutex_unlock(&nio_lock);
	return b;
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

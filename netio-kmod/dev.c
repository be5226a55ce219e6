// SPDX-License-Identifier: GPL-2.0
/* /dev/netio: attach to a binding or one of its queues, map its rings and region, poll for RX,
 * kick TX. */
#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "netio.h"

static int nio_open(struct inode *inode, struct file *f)
{
	/* misc_open left the miscdevice here; this file owns no binding yet */
	f->private_data = NULL;
	return 0;
}

/* The queue the file serves: queue 0 for the owner's file. */
static struct nio_queue *nio_file_queue(struct file *f)
{
	return READ_ONCE(f->private_data);
}

static struct nio_bind *nio_file_bind(struct file *f)
{
	struct nio_queue *q = nio_file_queue(f);

	return q ? q->bind : NULL;
}

static int nio_release(struct inode *inode, struct file *f)
{
	struct nio_bind *b = nio_file_bind(f);

	if (b)
		nio_bind_detach(b, f);
	return 0;
}

static long nio_attach_queue(struct file *f, void __user *arg)
{
	struct netio_queue_attach a;
	struct nio_queue *q;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	q = nio_bind_attach_queue(a.bind_id, a.queue, f);
	return IS_ERR(q) ? PTR_ERR(q) : 0;
}

/* A snapshot of the buffers the kernel holds for TX, for an owner rebuilding its free list:
 * bit i of 64-bit word i / 64 is buffer i. */
static long nio_copy_inflight(struct nio_bind *b, void __user *to)
{
	struct nio_region *r = b->region;
	size_t bytes = DIV_ROUND_UP(r->nbufs, 64) * sizeof(u64);
	u64 *words = kvmalloc(bytes, GFP_KERNEL);
	long err = 0;

	if (!words)
		return -ENOMEM;
	bitmap_to_arr64(words, r->inflight, r->nbufs);
	if (copy_to_user(to, words, bytes))
		err = -EFAULT;
	kvfree(words);
	return err;
}

static long nio_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct nio_queue *q;
	struct nio_bind *b;
	u32 id;

	switch (cmd) {
	case NETIO_IOC_ATTACH:
		if (get_user(id, (u32 __user *)arg))
			return -EFAULT;
		b = nio_bind_attach(id, f);
		return IS_ERR(b) ? PTR_ERR(b) : 0;
	case NETIO_IOC_ATTACH_QUEUE:
		return nio_attach_queue(f, (void __user *)arg);
	case NETIO_IOC_KICK:
		q = nio_file_queue(f);
		return q ? nio_tx_kick(q) : -EBADFD;
	case NETIO_IOC_INFLIGHT:
		b = nio_file_bind(f);
		return b ? nio_copy_inflight(b, (void __user *)arg) : -EBADFD;
	default:
		return -ENOTTY;
	}
}

/* Each mapping holds the binding so its memory outlives a destroy while still mapped. */
static void nio_vm_open(struct vm_area_struct *vma)
{
	nio_bind_get(vma->vm_private_data);
}

static void nio_vm_close(struct vm_area_struct *vma)
{
	nio_bind_put(vma->vm_private_data);
}

static const struct vm_operations_struct nio_vm_ops = {
	.open = nio_vm_open,
	.close = nio_vm_close,
};

static int nio_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct nio_bind *b = nio_file_bind(f);
	unsigned long size = vma->vm_end - vma->vm_start;
	int err;

	if (!b)
		return -EBADFD;
	if (READ_ONCE(b->dead))
		return -ENODEV;
	if (vma->vm_pgoff == NIO_MMAP_REGION >> PAGE_SHIFT)
		return nio_region_mmap(b->region, vma);
	if (vma->vm_pgoff || size > b->map_size)
		return -EINVAL;
	err = remap_vmalloc_range(vma, b->map, 0);
	if (err)
		return err;
	vma->vm_ops = &nio_vm_ops;
	vma->vm_private_data = b;
	nio_bind_get(b);
	return 0;
}

/* Like netmap's txsync in poll: whatever the owner queued on TX goes out first. */
static __poll_t nio_poll(struct file *f, poll_table *wait)
{
	struct nio_queue *q = nio_file_queue(f);
	__poll_t mask = 0;

	if (!q)
		return EPOLLERR;
	poll_wait(f, &q->wq, wait);
	/* after poll_wait: the next RX frame wakes this wait (and only the first one does) */
	atomic_set(&q->rx_armed, 1);
	/* pairs with the RX producer's barrier: it sees the owner's NEED_WAKEUP and rx_armed,
	 * or this sees its head */
	smp_mb();
	if (READ_ONCE(q->bind->dead))
		return EPOLLERR;
	if (nio_tx_pending(q))
		nio_tx_kick(q);
	if (nio_ring_rx_ready(q))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (nio_tx_room(q))
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static const struct file_operations nio_fops = {
	.owner = THIS_MODULE,
	.open = nio_open,
	.release = nio_release,
	.unlocked_ioctl = nio_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = nio_mmap,
	.poll = nio_poll,
	.llseek = noop_llseek,
};

static struct miscdevice nio_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "netio",
	.fops = &nio_fops,
	.mode = 0600,
};

int nio_dev_init(void)
{
	return misc_register(&nio_misc);
}

void nio_dev_uninit(void)
{
	misc_deregister(&nio_misc);
}

// SPDX-License-Identifier: GPL-2.0
/* The buffer region (UMEM) of one or more bindings: memory, pages, and its mapping. */
#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "netio.h"

static atomic_t nio_region_ids = ATOMIC_INIT(0);

/* Every page of the region, looked up once: TX builds frags from them per packet. */
static int nio_region_pages(struct nio_region *r)
{
	unsigned long i, n = r->size >> PAGE_SHIFT;

	r->pages = kvcalloc(n, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		r->pages[i] = vmalloc_to_page(r->mem + (i << PAGE_SHIFT));
	return 0;
}

static void nio_region_free(struct nio_region *r)
{
	/* a page an skb still holds (get_page per frag) outlives vfree */
	vfree(r->mem);
	kvfree(r->pages);
	bitmap_free(r->inflight);
	kvfree(r->txbufs);
	kfree(r);
}

struct nio_region *nio_region_create(u32 nbufs, u32 buf_size)
{
	struct nio_region *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return ERR_PTR(-ENOMEM);
	kref_init(&r->ref);
	r->id = atomic_inc_return(&nio_region_ids);
	r->nbufs = nbufs;
	r->buf_size = buf_size;
	r->size = nio_align_up((u64)nbufs * buf_size, PAGE_SIZE);
	if (r->size > NIO_MAX_MAP_SIZE) {
		kfree(r);
		return ERR_PTR(-E2BIG);
	}
	r->mem = vmalloc_user(r->size);
	r->inflight = bitmap_zalloc(nbufs, GFP_KERNEL);
	r->txbufs = kvcalloc(nbufs, sizeof(*r->txbufs), GFP_KERNEL);
	if (!r->mem || !r->inflight || !r->txbufs || nio_region_pages(r)) {
		nio_region_free(r);
		return ERR_PTR(-ENOMEM);
	}
	return r;
}

void nio_region_get(struct nio_region *r)
{
	kref_get(&r->ref);
}

static void nio_region_release(struct kref *ref)
{
	nio_region_free(container_of(ref, struct nio_region, ref));
}

/* May run in softirq, from the last TX completion of a destroyed binding. */
void nio_region_put(struct nio_region *r)
{
	kref_put(&r->ref, nio_region_release);
}

u8 *nio_region_buf(const struct nio_region *r, u32 idx)
{
	return r->mem + (u64)idx * r->buf_size;
}

static void nio_region_vm_open(struct vm_area_struct *vma)
{
	nio_region_get(vma->vm_private_data);
}

static void nio_region_vm_close(struct vm_area_struct *vma)
{
	nio_region_put(vma->vm_private_data);
}

static const struct vm_operations_struct nio_region_vm_ops = {
	.open = nio_region_vm_open,
	.close = nio_region_vm_close,
};

/* Each mapping holds the region, so its memory outlives every binding while mapped. */
int nio_region_mmap(struct nio_region *r, struct vm_area_struct *vma)
{
	int err;

	if (vma->vm_end - vma->vm_start > r->size)
		return -EINVAL;
	err = remap_vmalloc_range(vma, r->mem, 0);
	if (err)
		return err;
	vma->vm_ops = &nio_region_vm_ops;
	vma->vm_private_data = r;
	nio_region_get(r);
	return 0;
}

/* Fixed-size packet buffer pool: one per worker, allocated once, a free stack on the data path. */
#include <stdlib.h>
#include <sys/mman.h>

#include "netiod.h"

int nio_pool_init(struct nio_pool *pool, uint32_t size)
{
	size_t bytes = (size_t)size * NIO_PKT_BUF_SIZE;

	pool->shared = false;
	pool->mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pool->mem == MAP_FAILED)
		return -1;
	pool->pkts = calloc(size, sizeof(*pool->pkts));
	pool->free = calloc(size, sizeof(*pool->free));
	if (!pool->pkts || !pool->free) {
		nio_pool_fini(pool);
		return -1;
	}
	pool->size = size;
	for (uint32_t i = 0; i < size; i++) {
		pool->pkts[i].buf = pool->mem + (size_t)i * NIO_PKT_BUF_SIZE;
		pool->pkts[i].buf_size = NIO_PKT_BUF_SIZE;
		pool->pkts[i].owner = pool->id;
		pool->free[i] = &pool->pkts[i];
	}
	pool->nfree = size;
	return 0;
}

void nio_pool_fini(struct nio_pool *pool)
{
	if (pool->mem && pool->mem != MAP_FAILED && !pool->shared)
		munmap(pool->mem, (size_t)pool->size * NIO_PKT_BUF_SIZE);
	free(pool->pkts);
	free(pool->free);
	pool->mem = NULL;
	pool->pkts = NULL;
	pool->free = NULL;
	pool->nfree = pool->size = 0;
	pool->shared = false;
}

/* A fresh packet: empty frame at the standard headroom, metadata cleared. */
struct nio_pkt *nio_pool_get(struct nio_pool *pool)
{
	struct nio_pkt *p;

	if (!pool->nfree)
		return NULL;
	p = pool->free[--pool->nfree];
	nio_pkt_reset(p, NIO_PKT_HEADROOM);
	return p;
}

void nio_pool_put(struct nio_pool *pool, struct nio_pkt *p)
{
	pool->free[pool->nfree++] = p;
}

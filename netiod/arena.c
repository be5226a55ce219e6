/* The packet arena: every worker's pool in one memfd, so isolated services can map it too. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "isolate.h"
#include "netiod.h"

/*
 * Sized for NIO_MAX_WORKERS pools up front: a memfd's pages exist only once touched, so the
 * pools of workers that never run cost address space, not memory, and the arena exists
 * before the configuration says how many workers there are (an isolated service is started
 * while the configuration loads, before the workers).
 */
static uint8_t *arena;
static int arena_fd = -1;

#define ARENA_BYTES ((size_t)NIO_MAX_WORKERS * NIO_ARENA_POOL * NIO_PKT_BUF_SIZE)

static int arena_open(void)
{
	int fd;
	void *m;

	if (arena)
		return 0;
	fd = memfd_create("netio:packets", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)ARENA_BYTES) < 0) {
		close(fd);
		return -1;
	}
	m = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (m == MAP_FAILED) {
		close(fd);
		return -1;
	}
	arena = m;
	arena_fd = fd;
	return 0;
}

int nio_arena_fd(void)
{
	return arena_open() < 0 ? -1 : arena_fd;
}

size_t nio_arena_size(void)
{
	return ARENA_BYTES;
}

/* Worker id's pool, its buffers in the arena (a shared mapping, unlike nio_pool_init). */
int nio_pool_init_shared(struct nio_pool *pool, unsigned id)
{
	if (id >= NIO_MAX_WORKERS || arena_open() < 0)
		return -1;
	pool->pkts = calloc(NIO_ARENA_POOL, sizeof(*pool->pkts));
	pool->free = calloc(NIO_ARENA_POOL, sizeof(*pool->free));
	if (!pool->pkts || !pool->free) {
		free(pool->pkts);
		free(pool->free);
		return -1;
	}
	pool->id = id;
	pool->mem = arena + (size_t)id * NIO_ARENA_POOL * NIO_PKT_BUF_SIZE;
	pool->shared = true;
	pool->size = NIO_ARENA_POOL;
	for (uint32_t i = 0; i < NIO_ARENA_POOL; i++) {
		pool->pkts[i].buf = pool->mem + (size_t)i * NIO_PKT_BUF_SIZE;
		pool->pkts[i].buf_size = NIO_PKT_BUF_SIZE;
		pool->pkts[i].owner = id;
		pool->free[i] = &pool->pkts[i];
	}
	pool->nfree = NIO_ARENA_POOL;
	return 0;
}

/* Packets between workers: SPSC rings of packet pointers, filled and drained in bursts. */
#include <stdlib.h>

#include "netiod.h"

/*
 * One producer and one consumer; free-running 32-bit indices masked by size - 1 (DPDK
 * rte_ring). Each side loads the other's index once per burst and publishes its own once per
 * burst, so a burst of n packets costs two atomic accesses, not 2n.
 */
int nio_pktring_init(struct nio_pktring *r, unsigned size)
{
	if (size < 2 || (size & (size - 1)))
		return -1;
	r->slots = calloc(size, sizeof(*r->slots));
	if (!r->slots)
		return -1;
	r->mask = size - 1;
	atomic_store(&r->head, 0);
	atomic_store(&r->tail, 0);
	return 0;
}

void nio_pktring_fini(struct nio_pktring *r)
{
	free(r->slots);
	r->slots = NULL;
}

/* Producer: enqueue a prefix of pkts; returns how many fitted. */
uint16_t nio_pktring_put(struct nio_pktring *r, struct nio_pkt *const *pkts, uint16_t n)
{
	unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
	/* acquire: pairs with the consumer's release of tail, its reads of the slots are done */
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	unsigned room = r->mask + 1 - (head - tail);
	uint16_t k = n < room ? n : (uint16_t)room;

	for (uint16_t i = 0; i < k; i++)
		r->slots[(head + i) & r->mask] = pkts[i];
	/* release: the slots are written before the consumer can see the new head */
	atomic_store_explicit(&r->head, head + k, memory_order_release);
	return k;
}

/* Consumer: dequeue up to max, oldest first. */
uint16_t nio_pktring_get(struct nio_pktring *r, struct nio_pkt **pkts, uint16_t max)
{
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* acquire: pairs with the producer's release of head, the slots are visible */
	unsigned head = atomic_load_explicit(&r->head, memory_order_acquire);
	unsigned avail = head - tail;
	uint16_t k = max < avail ? max : (uint16_t)avail;

	for (uint16_t i = 0; i < k; i++)
		pkts[i] = r->slots[(tail + i) & r->mask];
	/* release: the slots are read before the producer may overwrite them */
	atomic_store_explicit(&r->tail, tail + k, memory_order_release);
	return k;
}

unsigned nio_pktring_count(struct nio_pktring *r)
{
	return atomic_load(&r->head) - atomic_load(&r->tail);
}

/* Control thread, every worker paused: visit each queued packet (remapping port indices). */
void nio_pktring_each(struct nio_pktring *r, void (*fn)(struct nio_pkt *, void *), void *arg)
{
	unsigned head = atomic_load(&r->head);

	for (unsigned i = atomic_load(&r->tail); i != head; i++)
		fn(r->slots[i & r->mask], arg);
}

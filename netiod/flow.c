/* The per-worker flow cache: 5-tuple -> pipeline, next hop and per-service state. */
#include <stdlib.h>
#include <string.h>

#include "netiod.h"

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int nio_flow_table_init(struct nio_flow_table *t, uint32_t capacity, size_t state_stride)
{
	memset(t, 0, sizeof(*t));
	t->capacity = capacity;
	t->nbuckets = pow2_at_least(capacity);
	t->state_stride = (state_stride + 15) & ~(size_t)15;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->entries = calloc(capacity, sizeof(*t->entries));
	if (t->state_stride)
		t->state_mem = calloc(capacity, t->state_stride);
	if (!t->buckets || !t->entries || (t->state_stride && !t->state_mem)) {
		nio_flow_table_fini(t);
		return -1;
	}
	for (uint32_t i = 0; i < capacity; i++) {
		t->entries[i].state = t->state_stride ? t->state_mem + i * t->state_stride : NULL;
		t->entries[i].next = t->free_list;
		t->free_list = &t->entries[i];
	}
	return 0;
}

void nio_flow_table_fini(struct nio_flow_table *t)
{
	free(t->buckets);
	free(t->entries);
	free(t->state_mem);
	memset(t, 0, sizeof(*t));
}

static struct nio_flow **bucket(struct nio_flow_table *t, uint32_t hash)
{
	return &t->buckets[hash & (t->nbuckets - 1)];
}

struct nio_flow *nio_flow_lookup(struct nio_flow_table *t, const struct nio_flow_key *k,
				 uint32_t hash)
{
	t->lookups++;
	for (struct nio_flow *f = *bucket(t, hash); f; f = f->next) {
		if (f->hash == hash && !memcmp(&f->key, k, sizeof(*k))) {
			t->hits++;
			return f;
		}
	}
	return NULL;
}

void nio_flow_remove(struct nio_flow_table *t, struct nio_flow *f)
{
	struct nio_flow **pp = bucket(t, f->hash);

	while (*pp && *pp != f)
		pp = &(*pp)->next;
	if (*pp)
		*pp = f->next;
	f->next = t->free_list;
	t->free_list = f;
	t->count--;
}

/* Table full (so every entry is live): evict the least recently used entry of a small sample (cheap approximate LRU). */
static void evict_one(struct nio_flow_table *t, uint32_t hash,
		      void (*evict_cb)(struct nio_flow *, void *), void *arg)
{
	struct nio_flow *victim = NULL;

	for (uint32_t i = 0; i < 8; i++) {
		struct nio_flow *f = &t->entries[(hash + i * 7919u) % t->capacity];

		if (!victim || f->last_ns < victim->last_ns)
			victim = f;
	}
	if (evict_cb)
		evict_cb(victim, arg);
	nio_flow_remove(t, victim);
	t->evictions++;
}

/* Insert a new flow; if the table is full, evict_cb sees the victim before its entry is reused. */
struct nio_flow *nio_flow_insert(struct nio_flow_table *t, const struct nio_flow_key *k,
				 uint32_t hash, uint64_t now_ns,
				 void (*evict_cb)(struct nio_flow *, void *), void *arg)
{
	struct nio_flow *f;
	uint8_t *state;

	if (!t->capacity)
		return NULL;
	if (!t->free_list)
		evict_one(t, hash, evict_cb, arg);
	f = t->free_list;
	t->free_list = f->next;
	state = f->state;
	memset(f, 0, sizeof(*f));
	f->state = state;
	if (state)
		memset(state, 0, t->state_stride);
	f->key = *k;
	f->hash = hash;
	f->last_ns = now_ns;
	f->pipeline = -1;
	f->next = *bucket(t, hash);
	*bucket(t, hash) = f;
	t->count++;
	t->inserts++;
	return f;
}

/* Remove the flows of bucket b idle for idle_ns or longer; how many. */
static unsigned expire_bucket(struct nio_flow_table *t, uint32_t b, uint64_t now_ns,
			      uint64_t idle_ns, void (*cb)(struct nio_flow *, void *), void *arg)
{
	struct nio_flow *f = t->buckets[b], *next;
	unsigned n = 0;

	for (; f; f = next) {
		next = f->next;
		if (now_ns - f->last_ns < idle_ns)
			continue;
		if (cb)
			cb(f, arg);
		nio_flow_remove(t, f);
		n++;
	}
	return n;
}

unsigned nio_flow_expire(struct nio_flow_table *t, uint64_t now_ns, uint64_t idle_ns,
			 void (*cb)(struct nio_flow *, void *), void *arg)
{
	unsigned n = 0;

	for (uint32_t b = 0; b < t->nbuckets; b++)
		n += expire_bucket(t, b, now_ns, idle_ns, cb, arg);
	return n;
}

/*
 * The same over the next nb buckets only, from where the last call stopped (wrapping). The
 * worker checks its table a slice at a time: a whole scan of the default 65536 buckets took
 * ~160 us under load, once a second, and a packet arriving meanwhile waited for it (the
 * afxdp port's RTT p99).
 */
unsigned nio_flow_expire_some(struct nio_flow_table *t, uint32_t nb, uint64_t now_ns,
			      uint64_t idle_ns, void (*cb)(struct nio_flow *, void *), void *arg)
{
	unsigned n = 0;

	if (!t->count)
		return 0; /* an idle gateway's table: nothing to look at */
	for (uint32_t i = 0; i < nb && i < t->nbuckets; i++) {
		n += expire_bucket(t, t->expire_next, now_ns, idle_ns, cb, arg);
		t->expire_next = (t->expire_next + 1) & (t->nbuckets - 1);
	}
	return n;
}

void nio_flow_flush(struct nio_flow_table *t, void (*cb)(struct nio_flow *, void *), void *arg)
{
	nio_flow_expire(t, UINT64_MAX, 0, cb, arg);
}

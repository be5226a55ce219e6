/* Unit tests of the flow cache: insert, lookup, per-flow state, eviction when full, expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

static struct nio_flow_key key(uint16_t sport)
{
	struct nio_flow_key k = { .sport = sport, .dport = 80, .proto = 6, .family = 4 };

	return k;
}

static unsigned detached;
static uint64_t evicted_ns;

static void note_evict(struct nio_flow *f, void *arg)
{
	(void)arg;
	evicted_ns = f->last_ns;
	detached++;
}

static void count_detach(struct nio_flow *f, void *arg)
{
	(void)f;
	(void)arg;
	detached++;
}

static void test_insert_lookup_state(void **state)
{
	struct nio_flow_table t;
	struct nio_flow *f;
	struct nio_flow_key k = key(1000);

	(void)state;
	assert_int_equal(nio_flow_table_init(&t, 64, 24), 0);
	assert_null(nio_flow_lookup(&t, &k, nio_flow_hash(&k)));
	f = nio_flow_insert(&t, &k, nio_flow_hash(&k), 5, note_evict, NULL);
	assert_non_null(f);
	assert_int_equal(f->pipeline, -1);
	assert_non_null(f->state);
	memset(f->state, 0xab, 24);
	assert_ptr_equal(nio_flow_lookup(&t, &k, nio_flow_hash(&k)), f);
	assert_int_equal(t.count, 1);
	nio_flow_remove(&t, f);
	assert_null(nio_flow_lookup(&t, &k, nio_flow_hash(&k)));
	/* a reused entry starts with zeroed state */
	f = nio_flow_insert(&t, &k, nio_flow_hash(&k), 6, note_evict, NULL);
	for (int i = 0; i < 24; i++)
		assert_int_equal(f->state[i], 0);
	nio_flow_table_fini(&t);
}

static void test_full_table_evicts_oldest_sampled(void **state)
{
	struct nio_flow_table t;

	(void)state;
	assert_int_equal(nio_flow_table_init(&t, 16, 0), 0);
	detached = 0;
	for (uint16_t i = 0; i < 16; i++) {
		struct nio_flow_key k = key(i);

		assert_non_null(
			nio_flow_insert(&t, &k, nio_flow_hash(&k), 100 + i, note_evict, NULL));
	}
	assert_int_equal(detached, 0);
	for (uint16_t i = 16; i < 64; i++) {
		struct nio_flow_key k = key(i);

		assert_non_null(
			nio_flow_insert(&t, &k, nio_flow_hash(&k), 100 + i, note_evict, NULL));
		assert_int_equal(detached, i - 15u);
		assert_true(evicted_ns < 100u + i);
		assert_int_equal(t.count, 16);
		assert_non_null(nio_flow_lookup(&t, &k, nio_flow_hash(&k)));
	}
	assert_int_equal(t.evictions, 48);
	/* every live entry is still reachable */
	for (uint32_t i = 0; i < t.capacity; i++)
		assert_ptr_equal(nio_flow_lookup(&t, &t.entries[i].key, t.entries[i].hash),
				 &t.entries[i]);
	nio_flow_table_fini(&t);
}

static void test_expire(void **state)
{
	struct nio_flow_table t;

	(void)state;
	assert_int_equal(nio_flow_table_init(&t, 128, 0), 0);
	for (uint16_t i = 0; i < 100; i++) {
		struct nio_flow_key k = key(i);

		nio_flow_insert(&t, &k, nio_flow_hash(&k), i < 40 ? 1000 : 5000, NULL, NULL);
	}
	detached = 0;
	assert_int_equal(nio_flow_expire(&t, 6000, 3000, count_detach, NULL), 40);
	assert_int_equal(detached, 40);
	assert_int_equal(t.count, 60);
	nio_flow_flush(&t, count_detach, NULL);
	assert_int_equal(t.count, 0);
	assert_int_equal(detached, 100);
	nio_flow_table_fini(&t);
}

/* A slice of buckets at a time: each call looks only at its own buckets, and a whole round of
 * slices expires what one full scan does. */
static void test_expire_slices(void **state)
{
	struct nio_flow_table t;
	unsigned in_first = 0, total = 0;

	(void)state;
	assert_int_equal(nio_flow_table_init(&t, 128, 0), 0);
	for (uint16_t i = 0; i < 100; i++) {
		struct nio_flow_key k = key(i);
		uint32_t h = nio_flow_hash(&k);

		nio_flow_insert(&t, &k, h, i < 40 ? 1000 : 5000, NULL, NULL);
		in_first += i < 40 && (h & (t.nbuckets - 1)) < 32;
	}
	detached = 0;
	assert_int_equal(nio_flow_expire_some(&t, 32, 6000, 3000, count_detach, NULL), in_first);
	assert_int_equal(t.count, 100 - in_first);
	total = in_first;
	for (int i = 0; i < 3; i++)
		total += nio_flow_expire_some(&t, 32, 6000, 3000, count_detach, NULL);
	assert_int_equal(total, 40);
	assert_int_equal(detached, 40);
	assert_int_equal(t.count, 60);
	/* the next round starts over at bucket 0 and finds nothing more to expire */
	assert_int_equal(t.expire_next, 0);
	assert_int_equal(nio_flow_expire_some(&t, 1000, 6000, 3000, count_detach, NULL), 0);
	nio_flow_table_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_lookup_state),
		cmocka_unit_test(test_full_table_evicts_oldest_sampled),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_expire_slices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

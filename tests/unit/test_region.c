/* Unit tests of buffer regions: geometry checks, per-worker free lists, a buffer never in two
 * places, everything home after a burst of gets, moves and frees, and deferred freeing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

static const struct {
	uint32_t nbufs, buf_size;
	unsigned nworkers;
	const char *why; /* NULL: accepted */
} geometry[] = {
	{ 64, 4096, 2, NULL },		{ 3, 4096, 2, NULL }, /* uneven split */
	{ 64, 3000, 2, "geometry" },			      /* not a power of two */
	{ 64, 2048, 2, "geometry" },			      /* smaller than a packet buffer */
	{ 0, 4096, 1, "geometry" },			      /* empty */
	{ 64, 4096, 0, "geometry" },			      /* no worker */
	{ 40000, 4096, 2, "geometry" },			      /* more than a worker may own */
};

static void test_geometry(void **state)
{
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(geometry) / sizeof(geometry[0]); i++) {
		struct nio_region *r =
			nio_region_create("t", geometry[i].nbufs, geometry[i].buf_size,
					  geometry[i].nworkers, err, sizeof(err));

		if (!geometry[i].why) {
			assert_non_null(r);
			assert_int_equal(nio_region_home(r), geometry[i].nbufs);
			nio_region_unref(r);
		} else {
			assert_null(r);
			assert_non_null(strstr(err, geometry[i].why));
		}
	}
}

/* Each worker gets its share, no more; buffers map to their offsets and back. */
static void test_lists(void **state)
{
	char err[256];
	struct nio_region *r = nio_region_create("t", 64, 4096, 2, err, sizeof(err));
	struct nio_pkt *got[64];
	unsigned n = 0;

	(void)state;
	assert_non_null(r);
	while ((got[n] = nio_region_get(r, 1)))
		n++;
	assert_int_equal(n, 32);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(got[i]->owner, 1);
		assert_ptr_equal(nio_region_of(got[i]), r);
		assert_ptr_equal(got[i]->data, got[i]->buf + NIO_PKT_HEADROOM);
		assert_int_equal(got[i]->buf_size, 4096);
		assert_ptr_equal(nio_region_pkt(r, (uint64_t)(got[i]->data - r->mem)), got[i]);
	}
	assert_null(nio_region_pkt(r, r->size));
	assert_int_equal(nio_region_home(r), 32);
	for (unsigned i = 0; i < n; i++)
		nio_region_put(r, got[i]);
	assert_int_equal(r->free[1].n, 32);
	assert_int_equal(nio_region_home(r), 64);
	nio_region_unref(r);
}

/* Freeing a buffer twice (a driver bug) is counted; the buffer is listed once. */
static void test_double_put(void **state)
{
	char err[256];
	struct nio_region *r = nio_region_create("t", 8, 4096, 1, err, sizeof(err));
	struct nio_pkt *p;

	(void)state;
	p = nio_region_get(r, 0);
	nio_region_put(r, p);
	nio_region_put(r, p);
	assert_int_equal(r->double_puts, 1);
	assert_int_equal(nio_region_home(r), 8);
	nio_region_unref(r);
}

/* Each buffer index is on at most one list, once, exactly when home[] says so. */
static void check_lists(const struct nio_region *r)
{
	uint8_t *seen = calloc(r->nbufs, 1);

	assert_non_null(seen);
	for (unsigned w = 0; w < r->nworkers; w++)
		for (uint32_t k = 0; k < r->free[w].n; k++) {
			uint32_t i = r->free[w].idx[k];

			assert_true(i < r->nbufs);
			assert_int_equal(seen[i], 0);
			assert_int_equal(r->pkts[i].owner, w);
			seen[i] = 1;
		}
	for (uint32_t i = 0; i < r->nbufs; i++)
		assert_int_equal(seen[i], r->home[i]);
	free(seen);
}

/*
 * Two "workers" receive into their fill rings, forward by moving a buffer to a TX ring, copy
 * some into a fresh buffer, and complete and free in random order; at every step no buffer is
 * in two places, and at the end every one is home.
 */
static void test_burst_all_back(void **state)
{
	enum { NB = 256, STEPS = 20000 };
	char err[256];
	struct nio_region *r = nio_region_create("t", NB, 4096, 2, err, sizeof(err));
	struct nio_pkt *out[NB]; /* in a ring or in flight */
	unsigned nout = 0;

	(void)state;
	srand(7);
	for (unsigned s = 0; s < STEPS; s++) {
		int op = rand() % 3;

		if (op < 2) { /* receive (or copy into a fresh buffer) on a worker */
			struct nio_pkt *p = nio_region_get(r, (unsigned)op);

			if (p)
				out[nout++] = p;
		} else if (nout) { /* complete or free any one of them */
			unsigned k = (unsigned)rand() % nout;

			nio_region_put(r, out[k]);
			out[k] = out[--nout];
		}
		assert_int_equal(nio_region_home(r) + nout, NB);
		if (s % 1000 == 0)
			check_lists(r);
	}
	while (nout)
		nio_region_put(r, out[--nout]);
	check_lists(r);
	assert_int_equal(nio_region_home(r), NB);
	assert_int_equal(r->double_puts, 0);
	nio_region_unref(r);
}

/* A port closing while a buffer is still held (a shaper's queue) leaves the region until the
 * buffer is back; then collect frees it. */
static void test_deferred_free(void **state)
{
	char err[256];
	struct nio_region *r = nio_region_create("t", 8, 4096, 1, err, sizeof(err));
	struct nio_pkt *p = nio_region_get(r, 0), probe = { .region = p->region };

	(void)state;
	nio_region_ref(r);
	nio_region_unref(r);
	nio_region_unref(r); /* the last port */
	nio_regions_collect(false);
	assert_ptr_equal(nio_region_of(&probe), r); /* p still out */
	nio_region_put(r, p);
	nio_regions_collect(false);
	assert_null(nio_region_of(&probe));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),      cmocka_unit_test(test_lists),
		cmocka_unit_test(test_double_put),    cmocka_unit_test(test_burst_all_back),
		cmocka_unit_test(test_deferred_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

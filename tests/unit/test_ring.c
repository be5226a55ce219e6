/* Unit tests of the ring ABI helpers shared by netio.ko and netiod (include/netio/ring.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netio/ring.h>

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

/* used/free/pending for head and tail anywhere on the 32-bit circle, wrap-around included */
static void test_indices(void **state)
{
	static const struct {
		uint32_t head, tail, n;
		uint32_t used, free;
		int pending;
	} rows[] = {
		{ 0, 0, 8, 0, 8, 0 },
		{ 5, 0, 8, 5, 3, 5 },
		{ 8, 0, 8, 8, 0, 8 },
		{ 9, 0, 8, 9, UINT32_MAX, -1 },	   /* head ran past a full ring */
		{ 0, 1, 8, UINT32_MAX, 9, -1 },	   /* tail ahead of head */
		{ 2, UINT32_MAX - 1, 8, 4, 4, 4 }, /* head wrapped, tail not yet */
		{ 0, UINT32_MAX - 7, 8, 8, 0, 8 }, /* full across the wrap */
		{ 3, UINT32_MAX - 7, 8, 11, UINT32_MAX - 2, -1 },
		{ UINT32_MAX, UINT32_MAX, 1024, 0, 1024, 0 },
		{ 0x80000000u, 0x7ffffc00u, 1024, 1024, 0, 1024 },
		{ 0x80000000u, 0x7ffffbffu, 1024, 1025, UINT32_MAX, -1 },
	};

	(void)state;
	for (size_t i = 0; i < ROWS(rows); i++) {
		print_message("row %zu: head %u tail %u\n", i, rows[i].head, rows[i].tail);
		assert_int_equal(nio_ring_used(rows[i].head, rows[i].tail), rows[i].used);
		assert_int_equal(nio_ring_free(rows[i].head, rows[i].tail, rows[i].n),
				 rows[i].free);
		assert_int_equal(nio_ring_pending(rows[i].head, rows[i].tail, rows[i].n),
				 rows[i].pending);
	}
}

/* Walking a producer and a consumer through 2^32 keeps slot indices in step. */
static void test_wrap_walk(void **state)
{
	const uint32_t n = 16, mask = nio_ring_mask(n);
	uint32_t head = UINT32_MAX - 40, tail = head;

	(void)state;
	for (int step = 0; step < 100; step++) {
		uint32_t burst = (uint32_t)(step % 5) + 1;

		if (nio_ring_free(head, tail, n) >= burst)
			head += burst;
		assert_true(nio_ring_used(head, tail) <= n);
		while (nio_ring_used(head, tail) > 3) {
			assert_int_equal(tail & mask, tail % n);
			tail++;
		}
	}
	/* both indices did cross 2^32 */
	assert_int_equal(head, 259);
	assert_int_equal(tail, 256);
}

static void test_sizes(void **state)
{
	static const struct {
		uint32_t n;
		int valid;
	} rows[] = {
		{ 0, 0 },    { 1, 0 },	  { 2, 1 },	{ 3, 0 },	    { 64, 1 },
		{ 1000, 0 }, { 1024, 1 }, { 32768, 1 }, { 0x80000000u, 1 }, { UINT32_MAX, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ROWS(rows); i++)
		assert_int_equal(nio_ring_valid_size(rows[i].n), rows[i].valid);
	assert_int_equal(nio_ring_mask(1024), 1023);
	assert_int_equal(nio_ring_bytes(0), 3 * NIO_CACHELINE);
	assert_int_equal(nio_ring_bytes(1024), 3 * NIO_CACHELINE + 1024 * 24);
	assert_int_equal(nio_ring_bytes(UINT32_MAX), 3 * NIO_CACHELINE + 24ull * UINT32_MAX);
	assert_int_equal(nio_align_up(0, 64), 0);
	assert_int_equal(nio_align_up(1, 64), 64);
	assert_int_equal(nio_align_up(4096, 4096), 4096);
	assert_int_equal(nio_align_up(4097, 4096), 8192);
}

/* The checks the kernel applies to every TX descriptor, boundaries and overflow included. */
static void test_tx_desc(void **state)
{
	const uint32_t nbufs = 2048, bs = 2048;
	static const struct {
		struct nio_slot d;
		enum nio_desc_err want;
	} rows[] = {
		{ { .buf_idx = 0, .off = 0, .len = 60 }, NIO_DESC_OK },
		{ { .buf_idx = 2047, .off = 0, .len = 2048 }, NIO_DESC_OK },
		{ { .buf_idx = 5, .off = 2034, .len = 14 }, NIO_DESC_OK },
		{ { .buf_idx = 2048, .off = 0, .len = 60 }, NIO_DESC_BUF_IDX },
		{ { .buf_idx = UINT32_MAX, .off = 0, .len = 60 }, NIO_DESC_BUF_IDX },
		{ { .buf_idx = 0, .off = 0, .len = 2049 }, NIO_DESC_BOUNDS },
		{ { .buf_idx = 0, .off = 2035, .len = 14 }, NIO_DESC_BOUNDS },
		{ { .buf_idx = 0, .off = 2048, .len = 0 }, NIO_DESC_SHORT },
		/* off + len wraps to a small value in 32 bits */
		{ { .buf_idx = 0, .off = UINT32_MAX, .len = 60 }, NIO_DESC_BOUNDS },
		{ { .buf_idx = 0, .off = 0xfffff000u, .len = 0x1000 }, NIO_DESC_BOUNDS },
		{ { .buf_idx = 0, .off = 60, .len = UINT32_MAX }, NIO_DESC_BOUNDS },
		{ { .buf_idx = 0, .off = 0, .len = 13 }, NIO_DESC_SHORT },
		{ { .buf_idx = 0, .off = 0, .len = 0 }, NIO_DESC_SHORT },
		{ { .buf_idx = 0, .len = 60, .flags = 1 }, NIO_DESC_RESERVED },
		{ { .buf_idx = 0, .len = 60, .claim = 3 }, NIO_DESC_RESERVED },
		{ { .buf_idx = 0, .len = 60, .reserved = 1ull << 63 }, NIO_DESC_RESERVED },
	};

	(void)state;
	for (size_t i = 0; i < ROWS(rows); i++) {
		print_message("row %zu\n", i);
		assert_int_equal(nio_tx_desc_check(&rows[i].d, nbufs, bs, 14), rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_indices),
		cmocka_unit_test(test_wrap_walk),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_tx_desc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

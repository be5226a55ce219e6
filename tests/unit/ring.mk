# Ring ABI: index arithmetic across 2^32 wrap-around, layout helpers, TX descriptor checks.
TESTS += test_ring
test_ring_SRCS := tests/unit/test_ring.c

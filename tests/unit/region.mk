# Buffer regions: per-worker free lists, ownership accounting, deferred freeing.
TESTS += test_region
test_region_SRCS := tests/unit/test_region.c netiod/region.c netiod/log.c netiod/units.c netiod/addr.c

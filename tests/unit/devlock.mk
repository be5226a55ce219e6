# devlock.c: one netiod per device, counted holds in one process, the holder named to another.
TESTS += test_devlock
test_devlock_SRCS := tests/unit/test_devlock.c netiod/devlock.c netiod/log.c

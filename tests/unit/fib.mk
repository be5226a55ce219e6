# fib.c: route and neighbour lookups in a fib snapshot.
TESTS += test_fib
test_fib_SRCS := tests/unit/test_fib.c netiod/fib.c netiod/addr.c netiod/parse.c
CFLAGS_test_fib := -I$(TOP)/netiod

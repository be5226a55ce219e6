# The packet tracer's records (the data path half; test_workers runs it with two workers).
TESTS += test_trace
test_trace_SRCS := tests/unit/test_trace.c netiod/trace.c $(CORE)

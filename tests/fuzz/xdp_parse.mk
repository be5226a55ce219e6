# The afxdp port's XDP parser as user space C, against netiod's parser.
FUZZERS += fuzz_xdp_parse
fuzz_xdp_parse_SRCS := tests/fuzz/fuzz_xdp_parse.c netiod/parse.c netiod/guard.c $(FUZZ_CORE)

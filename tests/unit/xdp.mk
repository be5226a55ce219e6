# The afxdp port's XDP program under BPF_PROG_TEST_RUN: claims, kept traffic, fail-mode.
TESTS += test_xdp
test_xdp_SRCS := tests/unit/test_xdp.c netiod/xdp_prog.c netiod/claims.c $(CORE)
test_xdp_LIBS := -lxdp -lbpf

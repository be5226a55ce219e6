# The tunnel service's decap parser (and encap with its ICMP errors) on arbitrary frames.
FUZZERS += fuzz_tunnel
fuzz_tunnel_SRCS := services/tunnel/tunnel.c services/tunnel/encap.c services/tunnel/decap.c \
	tests/fuzz/fuzz_tunnel.c tests/unit/fake_host.c

# The tunnel service: encap/decap vectors, round trips, malformed input, PMTU, config errors.
TESTS += test_tunnel
test_tunnel_SRCS := services/tunnel/tunnel.c services/tunnel/encap.c services/tunnel/decap.c \
	tests/unit/test_tunnel.c tests/unit/fake_host.c

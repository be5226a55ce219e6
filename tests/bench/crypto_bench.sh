#!/bin/sh
# Crypto service cost per packet (ns, Gbit/s of inner bytes) for ESP encap and decap through the
# plugin with each engine, against one raw OpenSSL EVP AEAD call per packet, at 64 B, simple
# IMIX (7:4:1 of 64/576/1420) and 1420 B inner IP packets. usage: crypto_bench.sh [BUILD_DIR] [ENGINE]
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
O=$(mkdir -p "${1:-$REPO/build}/tests/bench" && cd "${1:-$REPO/build}" && pwd)
engine=${2:-}
defs="" libs="-lcrypto -lpthread"
if [ ! -f /usr/include/intel-ipsec-mb.h ]; then
	engine=openssl
else
	defs="-DNIO_HAVE_IPSECMB=1"
	libs="$libs -lIPSec_MB"
fi
# shellcheck disable=SC2086
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter $defs \
	-I"$REPO/include" -o "$O/tests/bench/crypto_bench" "$REPO/tests/bench/crypto_bench.c" \
	"$REPO"/services/crypto/*.c "$REPO/tests/unit/fake_host.c" $libs
# shellcheck disable=SC2086
exec "$O/tests/bench/crypto_bench" $engine

#!/bin/sh
# netns tier: run every tests/netns/*.sh (except this and lib.sh) with the build dir; 77 = skip.
set -u
O=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export O
if [ "$(id -u)" -ne 0 ]; then
	echo "netns: needs root; skipped"
	exit 0
fi
pass=0
fail=0
skip=0
for t in "$here"/*.sh; do
	case "$(basename "$t")" in lib.sh | run.sh) continue ;; esac
	echo "netns: $(basename "$t")"
	timeout 300 sh "$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)); echo "FAILED: $(basename "$t") (exit $rc)" ;;
	esac
done
# The gateway's key tests once more on afxdp ports (an XDP program and AF_XDP sockets).
for t in gateway.sh routing.sh; do
	echo "netns: $t (NETIO_DRIVER=afxdp)"
	NETIO_DRIVER=afxdp timeout 300 sh "$here/$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)); echo "FAILED: $t on afxdp (exit $rc)" ;;
	esac
done
# The crypto tests once more with every crypto instance isolated (netio-svchost), kill -9 included.
echo "netns: crypto.sh (CRYPTO_ISOLATE=1)"
CRYPTO_ISOLATE=1 timeout 300 sh "$here/crypto.sh"
rc=$?
case $rc in
0) pass=$((pass + 1)) ;;
77) skip=$((skip + 1)) ;;
*) fail=$((fail + 1)); echo "FAILED: crypto.sh isolated (exit $rc)" ;;
esac
echo "netns: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

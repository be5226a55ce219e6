#!/bin/sh
# netiod's kmod port driver turns pipelines into claims (claims.c and its set_claims op, driven by
# tests/vm/kmodclaims.c): the claim set the module holds, and refusal of another owner's
# overlapping pipelines with the module's reason. Env REPO, O, NETIO_TOOLS.
set -eu
T=${NETIO_TOOLS:-$O/vm}/nioring
K=${NETIO_TOOLS:-$O/vm}/kmodclaims
W=$(mktemp -d)
owner=

fail() {
	echo "FAIL: $*"
	cat "$W"/* 2>/dev/null
	exit 1
}

cleanup() {
	[ -z "$owner" ] || kill "$owner" 2>/dev/null || true
	[ -z "$owner" ] || wait "$owner" 2>/dev/null || true
	ip link del pk0 2>/dev/null || true
	rmmod netio 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

insmod "$REPO/netio-kmod/netio.ko"
modprobe veth
ip link add pk0 type veth peer name pk1
ip link set pk0 up
ip link set pk1 up

"$K" pk0 lan 60 >"$W/lan" 2>&1 &
owner=$!
i=0
until grep -q "claims installed" "$W/lan"; do
	i=$((i + 1))
	[ $i -lt 100 ] && kill -0 "$owner" 2>/dev/null || fail "kmodclaims did not install claims"
	sleep 0.2
done
id=$(sed -n 's/.*netio.ko binding \([0-9]*\) on pk0.*/\1/p' "$W/lan")
[ -n "$id" ] || fail "no binding id in the driver's log"
"$T" show "$id" | awk '$1 == "claim" { print $2, $12, $14, $18, $22, $24 }' >"$W/claims"
cat >"$W/want" <<'WANT'
0 2 17 198.51.100.0/24 5000-5001 secure
64 2 0 203.0.113.0/24 0-65535 passthrough
65 10 0 2001:db8:3::/48 0-65535 passthrough
192 0 6 any 7000-7000 secure
193 0 17 any 7000-7000 secure
194 0 132 any 7000-7000 secure
WANT
diff -u "$W/want" "$W/claims" || fail "claims in the module differ (id family proto dst dport mode)"
echo "   6 claims from 4 pipelines, as expected"

if "$K" pk0 intruder 0 >"$W/intruder" 2>&1; then fail "a second owner installed overlapping claims"; fi
grep -q "claim overlaps another owner's claim" "$W/intruder" || fail "no reason given to the second owner"
echo "   second owner refused: $(grep claims: "$W/intruder")"
kill "$owner"
wait "$owner" 2>/dev/null || true
owner=
rmmod netio
echo "kmod_claims: all passed"

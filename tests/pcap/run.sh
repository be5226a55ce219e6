#!/bin/sh
# pcap tier: replay in.pcap through the real daemon (pcap ports) and compare the written
# pcaps byte for byte with what gen.py built independently; then check the counters.
set -u
O=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAILED: pcap: $*"
	[ -f "$work/netiod.log" ] && tail -n 20 "$work/netiod.log"
	echo "pcap: 0 passed, 1 failed"
	exit 1
}

/usr/bin/python3 "$here/gen.py" "$work" >"$work/expect.json" 2>/dev/null || fail "gen.py"
cp "$here/pcap.conf" "$work/"
cd "$work" || exit 1
"$O/netiod/netiod" -f -c pcap.conf -P "$O/services" -S "$work/ctl.sock" -s "$work" \
	>"$work/netiod.log" 2>&1 &
pid=$!
ctl() { "$O/netiod/netioctl" -s "$work/ctl.sock" "$@"; }

# Wait (bounded: 10 s) until the input is exhausted and every packet is accounted for.
rx=$(jq .rx expect.json)
i=0
while :; do
	got=$(ctl -j stats 2>/dev/null | jq '.ports[] | select(.name=="in") | .rx_packets')
	done=$(ctl -j status 2>/dev/null | jq .inputs_done)
	[ "$done" = true ] && [ "$got" = "$rx" ] && break
	i=$((i + 1))
	[ $i -gt 100 ] && fail "daemon did not consume the input (rx=$got of $rx)"
	sleep 0.1
done
sleep 0.2
ctl -j stats >stats.json || fail "netioctl stats"
kill -TERM "$pid"
wait "$pid" || fail "netiod exited with status $?"
pid=

# Byte comparison (order-insensitive across pipelines: a burst is grouped by pipeline).
/usr/bin/python3 - <<'PY' || fail "output frames differ"
from scapy.all import rdpcap
import sys
ok = True
for got, exp in (("out.pcap", "expect-out.pcap"), ("back.pcap", "expect-back.pcap")):
    g = sorted(bytes(p) for p in rdpcap(got))
    e = sorted(bytes(p) for p in rdpcap(exp))
    if g != e:
        ok = False
        print(f"{got}: {len(g)} frames, expected {len(e)}")
        for x in set(g) ^ set(e):
            print(("unexpected " if x in g else "missing    ") + x.hex())
sys.exit(0 if ok else 1)
PY

check() { # jq-expression expected-value description
	v=$(jq "$1" stats.json)
	[ "$v" = "$2" ] || fail "$3: got $v, expected $2"
}
port_in='.ports[] | select(.name=="in")'
check "$port_in.rx_ignored" "$(jq .ignored expect.json)" "ignored (ARP) frames"
check "$port_in.rx_unclaimed" "$(jq .unclaimed expect.json)" "unclaimed frames"
for r in $(jq -r '.drops | keys[]' expect.json); do
	check "$port_in.drops[\"$r\"]" "$(jq ".drops[\"$r\"]" expect.json)" "drops $r"
done
check '[.pipelines[].tx_packets] | add' "$(($(jq .tx expect.json) + $(jq .back expect.json)))" "frames sent"
check '.pipelines[] | select(.name=="v4") | .services[0].counters["dropped-prefix"]' "$(jq .mark_dropped expect.json)" "mark drops"
check '.pipelines[] | select(.name=="v4") | .drops["ttl-exceeded"]' "$(jq .ttl expect.json)" "ttl-exceeded"
check '.pipelines[] | select(.name=="web") | .services[0].counters.marked' 1 "re-marked packets"
check '.pipelines[] | select(.name=="v4") | .drops["mtu-exceeded"]' "$(jq .mtu_v4 expect.json)" "IPv4 over the MTU"
check '.pipelines[] | select(.name=="v6") | .drops["mtu-exceeded"]' "$(jq .mtu_v6 expect.json)" "IPv6 over the MTU"
# Never forwarded (link-scope multicast, broadcast, unicast in an L2 broadcast), per pipeline.
for pl in $(jq -r '.pipeline_drops | keys[]' expect.json); do
	for r in $(jq -r ".pipeline_drops.$pl | keys[]" expect.json); do
		check ".pipelines[] | select(.name==\"$pl\") | .drops[\"$r\"]" \
			"$(jq ".pipeline_drops.$pl[\"$r\"]" expect.json)" "pipeline $pl drops $r"
	done
done
# ICMP errors RFC 1812 4.3.2.7 / RFC 4443 2.4(e) forbid, counted where they were held back.
for pl in $(jq -r '.suppressed | keys[]' expect.json); do
	check ".pipelines[] | select(.name==\"$pl\") | .icmp_suppressed" \
		"$(jq ".suppressed.$pl" expect.json)" "pipeline $pl icmp_suppressed"
done
check '.pipelines[] | select(.name=="tun6") | .services[0].counters["icmp-too-big"]' \
	"$(jq .tun6_icmp expect.json)" "frag-needed for IPv4 inside GENEVE over IPv6"
echo "pcap: 1 passed, 0 failed"

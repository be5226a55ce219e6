#!/bin/sh
# VXLAN: netiod's tunnel service against the Linux kernel's vxlan device. Ping and TCP both
# ways over IPv4 and IPv6 inner packets, fragmentation of packets without DF, PMTU discovery
# through ICMP too-big, bad VNI counted.
#
#   lan 192.0.2.10 -- gw (netiod: tunnel end 203.0.113.1, not a kernel address) -- wan eth0
#   wan: eth0 203.0.113.9 = VXLAN end; vx0 (VNI 42) 203.0.113.130/25, 2001:db8:b::130/64
#   The site behind the tunnel is 203.0.113.128/25 and 2001:db8:b::/64 on vx0.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VXMAC=02:00:00:00:0b:01 # wan's vx0: the inner destination MAC netiod writes
command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }

setup_topology
vxlan_site "$VXMAC"
gwmac=$(ip -n "$NS_GW" -j link show gw-wan | jq -r '.[0].address')

cat >"$WORK/vxlan.conf" <<CONF
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-site {
	match { in = "lan" dst = { "203.0.113.128/25", "2001:db8:b::/64" } }
	service tunnel {
		type = "vxlan" local = "203.0.113.1" remote = "203.0.113.9" vni = 42
		inner-dst-mac = "$VXMAC" icmp-src4 = "192.0.2.1" icmp-src6 = "2001:db8:1::1"
	}
	out = "wan"
}
pipeline from-site {
	match { in = "wan" dst = "203.0.113.1" proto = "udp" dport = "4789" }
	service tunnel { type = "vxlan" mode = "decap" local = "203.0.113.1" remote = "203.0.113.9" vni = 42 }
	out = "lan"
}
CONF
start_netiod "$WORK/vxlan.conf"

svc() { stat ".pipelines[] | select(.name==\"$1\") | .services[0].counters[\"$2\"]"; }

# Neighbours are learnt on first use (netiod asks the kernel): allow a few lost pings.
for _ in $(seq 30); do
	lan ping -c 1 -W 1 203.0.113.130 >/dev/null 2>&1 && break
	sleep 0.2
done
lan ping -c 1 -W 1 203.0.113.130 >/dev/null 2>&1 || fail "no ping through the tunnel after warm-up"

# 1. Ping both ways, both inner families.
e0=$(svc to-site encap)
d0=$(svc from-site decap)
lan ping -c 20 -i 0.02 -W 1 203.0.113.130 >"$WORK/ping4" || fail "lan->site ping: $(tail -n 2 "$WORK/ping4")"
wan ping -c 20 -i 0.02 -W 1 192.0.2.10 >"$WORK/ping4r" || fail "site->lan ping: $(tail -n 2 "$WORK/ping4r")"
for _ in $(seq 10); do
	lan ping -6 -c 1 -W 1 2001:db8:b::130 >/dev/null 2>&1 && break
	sleep 0.2
done
lan ping -6 -c 20 -i 0.02 -W 1 2001:db8:b::130 >"$WORK/ping6" || fail "lan->site ping6: $(tail -n 2 "$WORK/ping6")"
wan ping -6 -c 20 -i 0.02 -W 1 2001:db8:1::10 >"$WORK/ping6r" || fail "site->lan ping6: $(tail -n 2 "$WORK/ping6r")"
for f in ping4 ping4r ping6 ping6r; do
	grep -q " 20 received, 0% packet loss" "$WORK/$f" && ! grep -q "rror\|nreachable" "$WORK/$f" ||
		fail "$f: loss or ICMP errors: $(grep -v "bytes from" "$WORK/$f")"
done
e1=$(svc to-site encap)
d1=$(svc from-site decap)
[ $((e1 - e0)) -ge 80 ] || fail "encap counted $((e1 - e0)) packets for 80 pings"
[ $((d1 - d0)) -ge 80 ] || fail "decap counted $((d1 - d0)) packets for 80 pings"
ok "ping IPv4 and IPv6 both ways through VXLAN (encap +$((e1 - e0)), decap +$((d1 - d0)))"

# 2. TCP, 3 s each way, bounded.
iperf3_server wan 203.0.113.130
lan timeout 20 iperf3 -c 203.0.113.130 -t 3 -J >"$WORK/iperf1.json" || fail "iperf3 lan->site"
b1=$(jq '.end.sum_received.bytes' "$WORK/iperf1.json")
[ "$b1" -gt 100000 ] || fail "lan->site TCP moved only $b1 bytes"
iperf3_server lan 192.0.2.10
wan timeout 20 iperf3 -c 192.0.2.10 -t 3 -J >"$WORK/iperf2.json" || fail "iperf3 site->lan"
b2=$(jq '.end.sum_received.bytes' "$WORK/iperf2.json")
[ "$b2" -gt 100000 ] || fail "site->lan TCP moved only $b2 bytes"
ok "TCP lan->site $(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORK/iperf1.json") Mbit/s, site->lan $(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORK/iperf2.json") Mbit/s"

# 3. Fragmentation: a 3028-byte ping without DF leaves the lan host as two 1500-byte fragments
# and a small one; the two do not fit the tunnel, so netiod fragments them again (as a router
# in front of a tunnel device would). Linux's vxlan end must receive only fragments that fit
# vx0 (1450), reassemble, and answer: its reply, fragmented by Linux itself, comes back.
f0=$(svc to-site fragmented)
e0=$(svc to-site encap)
# not through wan(): $! must be the capture itself, which the kill below then stops; immediate
# mode: the pings are in the file then, not in a ring block waiting for its timeout
ip netns exec "$NS_WAN" timeout 20 tcpdump --immediate-mode -nn -U -i vx0 -w "$WORK/vx0.pcap" 'ip src 192.0.2.10' \
	2>"$WORK/tcpdump.err" &
dump=$!
for _ in $(seq 50); do
	grep -q "listening on" "$WORK/tcpdump.err" && break
	sleep 0.1
done
lan ping -M dont -s 3000 -c 5 -i 0.1 -W 1 203.0.113.130 >"$WORK/frag4" 2>&1 ||
	fail "3028-byte ping without DF: $(tail -n 2 "$WORK/frag4")"
sleep 0.5
kill "$dump" 2>/dev/null
wait "$dump" 2>/dev/null
grep -q " 5 received, 0% packet loss" "$WORK/frag4" || fail "fragmented ping lost packets: $(tail -n 2 "$WORK/frag4")"
[ $(($(svc to-site fragmented) - f0)) -eq 10 ] ||
	fail "fragmented counted $(($(svc to-site fragmented) - f0)), want 10 (two 1500-byte fragments per ping)"
[ $(($(svc to-site encap) - e0)) -eq 25 ] ||
	fail "encap counted $(($(svc to-site encap) - e0)) packets, want 25 (five fragments per ping)"
nfrag=$(tcpdump -nn -r "$WORK/vx0.pcap" 'icmp or (ip[6:2] & 0x1fff != 0)' 2>/dev/null | wc -l)
nbig=$(tcpdump -nn -r "$WORK/vx0.pcap" 'greater 1465' 2>/dev/null | wc -l)
[ "$nfrag" -eq 25 ] || { tcpdump -nn -v -r "$WORK/vx0.pcap" >&2; fail "Linux's vx0 saw $nfrag fragments, want 25"; }
[ "$nbig" -eq 0 ] || fail "$nbig inner packets larger than vx0's 1450-byte MTU"
ok "fragmentation: 5 pings of 3028 bytes without DF as 25 inner fragments of at most 1450 bytes, reassembled by Linux and answered"

# 4. Path MTU: 1500-byte packets with DF cannot take 50 bytes of VXLAN in a 1500 path; the
# sender learns 1450 from netiod's ICMP error and a 1450-byte packet then goes through.
t0=$(svc to-site icmp-too-big)
lan ping -M "do" -s 1472 -c 1 -W 1 203.0.113.130 >"$WORK/pmtu4" 2>&1 && fail "a 1500-byte DF packet went through"
grep -q "mtu = 1450" "$WORK/pmtu4" || fail "no fragmentation-needed (mtu 1450): $(cat "$WORK/pmtu4")"
lan ip route get 203.0.113.130 | grep -q "mtu 1450" || fail "the lan host did not learn mtu 1450"
lan ping -M "do" -s 1422 -c 3 -i 0.05 -W 1 203.0.113.130 >/dev/null || fail "1450-byte ping failed"
lan ping -6 -M "do" -s 1452 -c 1 -W 1 2001:db8:b::130 >"$WORK/pmtu6" 2>&1 && fail "a 1500-byte IPv6 packet went through"
lan ip -6 route get 2001:db8:b::130 | grep -q "mtu 1450" || fail "the lan host did not learn IPv6 mtu 1450: $(cat "$WORK/pmtu6")"
lan ping -6 -M "do" -s 1402 -c 3 -i 0.05 -W 1 2001:db8:b::130 >/dev/null || fail "1450-byte IPv6 ping failed"
[ $(($(svc to-site icmp-too-big) - t0)) -ge 2 ] || fail "icmp-too-big not counted"
ok "PMTU: ICMP fragmentation-needed and packet-too-big with mtu 1450, then 1450-byte packets pass"

# 5. A wrong VNI and a truncated VXLAN header are counted by reason and dropped.
wan /usr/bin/python3 - "$gwmac" <<'PY' || fail "scapy could not send"
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import Ether, IP, UDP, ICMP, Raw, sendp
from scapy.layers.vxlan import VXLAN
outer = Ether(dst=sys.argv[1]) / IP(src="203.0.113.9", dst="203.0.113.1") / UDP(sport=50000, dport=4789)
inner = Ether() / IP(src="203.0.113.130", dst="192.0.2.10") / ICMP()
sendp([outer / VXLAN(vni=43) / inner, outer / Raw(b"\x08\x00\x00")], iface="eth0", verbose=False)
PY
sleep 0.3
[ "$(svc from-site wrong-vni)" -ge 1 ] || fail "wrong VNI not counted"
[ "$(svc from-site truncated-tunnel)" -ge 1 ] || fail "truncated VXLAN header not counted"
lan ping -c 3 -i 0.05 -W 1 203.0.113.130 >/dev/null || fail "tunnel stopped after bad packets"
ok "bad VNI and truncated header counted: $(ctl -j stats | jq -c '.pipelines[] | select(.name=="from-site") | .services[0].counters | with_entries(select(.value > 0))')"

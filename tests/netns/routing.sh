#!/bin/sh
# Routing like a router: reject routes (blackhole, unreachable, prohibit) drop with the kernel's
# ICMP; a multipath route spreads flows over its next hops, each flow on one; a pipeline with
# `table = 100` routes by that table; the first packet to an unresolved neighbour waits for it
# instead of being lost; a port device deleted and created again is reopened by itself.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

setup_topology
# The wan host answers for the destinations behind the gateway's routes. A second MAC on the
# wan link (macvlan, ARP answered only by the interface holding the address) is the second
# next hop of the multipath route.
for a in 203.0.113.1 203.0.113.2 203.0.113.3 203.0.113.4 203.0.113.70 203.0.113.200; do
	ip -n "$NS_WAN" addr add "$a/32" dev lo
done
for a in 2001:db8:3::1 2001:db8:3::2 2001:db8:3::3 2001:db8:3::4; do
	ip -n "$NS_WAN" addr add "$a/128" dev lo
done
wan sysctl -qw net.ipv4.conf.all.arp_ignore=1
ip -n "$NS_WAN" link add mv0 link eth0 type macvlan mode bridge
ip -n "$NS_WAN" addr add 198.51.100.11/24 dev mv0
ip -n "$NS_WAN" link set mv0 up
no_offload "$NS_WAN" mv0
ip -n "$NS_GW" route add 203.0.113.0/26 via 198.51.100.10
ip -n "$NS_GW" route add blackhole 203.0.113.1/32
ip -n "$NS_GW" route add unreachable 203.0.113.2/32
ip -n "$NS_GW" route add prohibit 203.0.113.3/32
ip -n "$NS_GW" -6 route add 2001:db8:3::/48 via 2001:db8:2::10
ip -n "$NS_GW" -6 route add blackhole 2001:db8:3::1/128
ip -n "$NS_GW" -6 route add unreachable 2001:db8:3::2/128
ip -n "$NS_GW" -6 route add prohibit 2001:db8:3::3/128
ip -n "$NS_GW" route add 203.0.113.128/25 nexthop via 198.51.100.10 weight 1 nexthop via 198.51.100.11 weight 3
ip -n "$NS_GW" route add table 100 203.0.113.64/26 via 198.51.100.10

cat >"$WORK/routing.conf" <<'EOF'
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-wan {
	match { in = "lan" dst = { "198.51.100.0/24", "203.0.113.0/26", "203.0.113.128/25" } }
}
pipeline to-vrf {
	match { in = "lan" dst = "203.0.113.64/26" }
	table = 100
}
pipeline to-wan6 {
	match { in = "lan" dst = { "2001:db8:2::/48", "2001:db8:3::/48" } }
}
pipeline to-lan {
	match { in = "wan" dst = { "192.0.2.0/24", "2001:db8:1::/48" } }
}
EOF
start_netiod "$WORK/routing.conf"
warm_up
warm_up_to -6 2001:db8:2::10

pl() { echo ".pipelines[] | select(.name==\"$1\") | $2"; }
drops() { stat "$(pl "$1" ".drops[\"$2\"] // 0")"; }

# 1. Reject routes. A unicast route covers them: forwarding them would get an answer. The
# gateway's kernel answers IPv6 ones itself too (ip6_pkt_drop does not ask whether it
# forwards): netiod's own errors are told apart by capturing what its pipelines send.
lan ping -c 1 -W 2 203.0.113.4 >/dev/null || fail "the unicast route behind the reject routes does not work"
lan ping -6 -c 1 -W 2 2001:db8:3::4 >/dev/null || fail "the IPv6 unicast route behind the reject routes does not work"
for p in to-wan to-wan6; do
	ctl capture start $p "$WORK/rej-$p.pcap" stage out count 10 >/dev/null || fail "capture start $p"
done
for v in "" -6; do
	pfx=203.0.113.
	[ -n "$v" ] && pfx=2001:db8:3::
	lan ping $v -c 2 -i 0.3 -W 2 "${pfx}1" >"$WORK/bh$v" 2>&1 && fail "a ping through a blackhole route was answered"
	lan ping $v -c 1 -W 2 "${pfx}2" >"$WORK/un$v" 2>&1 && fail "a ping through an unreachable route was answered"
	lan ping $v -c 1 -W 2 "${pfx}3" >"$WORK/pr$v" 2>&1 && fail "a ping through a prohibit route was answered"
done
for p in to-wan to-wan6; do
	ctl capture stop $p >/dev/null || fail "capture stop $p"
done
grep -qi unreachable "$WORK/bh" && fail "a blackhole route sent an ICMP error: $(cat "$WORK/bh")"
grep -q "Destination Host Unreachable" "$WORK/un" || fail "unreachable: no host unreachable: $(cat "$WORK/un")"
grep -q "Packet filtered" "$WORK/pr" || fail "prohibit: no communication prohibited (code 13): $(cat "$WORK/pr")"
/usr/bin/python3 - "$WORK" <<'PY' || fail "netiod's ICMP errors are wrong"
import sys
from scapy.all import rdpcap, IP, ICMP, IPv6, ICMPv6DestUnreach
w = sys.argv[1]
v4 = [(p[ICMP].type, p[ICMP].code, p[IP].dst) for p in rdpcap(f"{w}/rej-to-wan.pcap")]
v6 = [(p[ICMPv6DestUnreach].code, p[IPv6].dst) for p in rdpcap(f"{w}/rej-to-wan6.pcap")]
assert v4 == [(3, 1, "192.0.2.10"), (3, 13, "192.0.2.10")], v4
assert v6 == [(0, "2001:db8:1::10"), (1, "2001:db8:1::10")], v6
PY
for t in blackhole:2 unreachable:1 prohibit:1; do
	[ "$(drops to-wan "${t%:*}")" -eq "${t#*:}" ] || fail "to-wan ${t%:*} drops: $(drops to-wan "${t%:*}")"
	[ "$(drops to-wan6 "${t%:*}")" -eq "${t#*:}" ] || fail "to-wan6 ${t%:*} drops: $(drops to-wan6 "${t%:*}")"
done
ok "blackhole / unreachable / prohibit: dropped and counted; netiod sent ICMP 3/1, 3/13, ICMPv6 1/0, 1/1, nothing for blackholes"

# 2. Multipath (weights 1 and 3): 64 UDP flows of 3 packets each to 203.0.113.200, captured
# as sent.
gw ping -c 1 -W 1 198.51.100.10 >/dev/null
gw ping -c 1 -W 1 198.51.100.11 >/dev/null || fail "the second next hop does not answer"
ctl capture start to-wan "$WORK/ecmp.pcap" stage out count 192 >/dev/null || fail "capture start"
lan /usr/bin/python3 - <<'PY' || fail "could not send the UDP flows"
import socket, time
for rnd in range(3):
    for sport in range(40000, 40064):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("192.0.2.10", sport))
        s.sendto(b"x", ("203.0.113.200", 9))
        s.close()
    time.sleep(0.2)
PY
for _ in $(seq 50); do
	[ "$(stat "$(pl to-wan .capture.captured // 192)")" -ge 192 ] && break
	sleep 0.1
done
ctl capture stop to-wan >/dev/null
/usr/bin/python3 - "$WORK/ecmp.pcap" "$(wan cat /sys/class/net/eth0/address)" "$(wan cat /sys/class/net/mv0/address)" <<'PY' || fail "multipath spread is wrong"
import sys
from scapy.all import rdpcap, Ether, UDP
pcap, mac_a, mac_b = sys.argv[1:]
seen = {}
for p in rdpcap(pcap):
    if UDP in p and p[UDP].dport == 9:
        seen.setdefault(p[UDP].sport, set()).add(p[Ether].dst)
assert len(seen) == 64, f"{len(seen)} flows captured"
assert all(len(m) == 1 for m in seen.values()), "a flow used two next hops"
a = sum(1 for m in seen.values() if mac_a in m)
b = sum(1 for m in seen.values() if mac_b in m)
# weights 1:3, 16/48 expected; the flows and the hash are fixed, so is the split
assert a + b == 64 and a >= 5 and b >= 1.5 * a, f"split {a}/{b}"
print(f"  flows per next hop: {a}/{b}")
PY
ok "multipath: 64 flows over both next hops by their weights, each flow's packets on one"

# 3. table = 100: 203.0.113.64/26 exists only there.
ip -n "$NS_GW" route get 203.0.113.70 >/dev/null 2>&1 && fail "the main table routes 203.0.113.70"
lan ping -c 3 -i 0.2 -W 2 203.0.113.70 >/dev/null || fail "no answer through the pipeline with table = 100"
[ "$(stat "$(pl to-vrf .tx_packets)")" -ge 3 ] || fail "to-vrf did not forward"
ok "a pipeline with table = 100 routes by that table"

# 4. A fresh neighbour: the first ping after a flush is answered, having waited in the queue.
q=$(stat "$(pl to-wan .neigh_queued)")
ip -n "$NS_GW" neigh flush dev gw-wan
ip -n "$NS_GW" neigh flush dev gw-lan
lan ping -c 1 -W 5 198.51.100.10 >"$WORK/fresh" || fail "the first ping to a flushed neighbour was lost: $(cat "$WORK/fresh")"
[ "$(stat "$(pl to-wan .neigh_queued)")" -gt "$q" ] || fail "to-wan neigh_queued did not grow"
ok "first ping after 'ip neigh flush' answered, $(($(stat "$(pl to-wan .neigh_queued)") - q)) packet(s) queued"

# 5. The wan device is deleted, then created again under the same name: netiod follows it.
portj() { ctl -j port list | jq -r ".[] | select(.name==\"wan\") | $1"; }
old_ifindex=$(portj .ifindex)
ip -n "$NS_GW" link del gw-wan
for _ in $(seq 50); do
	[ "$(portj .state)" = gone ] && break
	sleep 0.1
done
[ "$(portj .state)" = gone ] || fail "port wan is not gone after its device was deleted"
grep -q "port wan: device gw-wan deleted" "$WORK/netiod.log" || fail "no log line for the deleted device"
ip link add eth0 netns "$NS_WAN" type veth peer name gw-wan netns "$NS_GW"
ip -n "$NS_GW" link set gw-wan up
no_offload "$NS_GW" gw-wan
ip -n "$NS_GW" addr add 198.51.100.1/24 dev gw-wan
ip -n "$NS_GW" addr add 2001:db8:2::1/64 dev gw-wan nodad
host_side "$NS_WAN" eth0 198.51.100.10/24 198.51.100.1 2001:db8:2::10/64 2001:db8:2::1
for _ in $(seq 50); do
	[ "$(portj .state)" = up ] && break
	sleep 0.1
done
[ "$(portj .state)" = up ] || fail "port wan did not come back: $(ctl port list)"
[ "$(portj .ifindex)" != "$old_ifindex" ] || fail "port wan kept the old ifindex $old_ifindex"
grep -q "port wan: device gw-wan is back (ifindex $(portj .ifindex)): reopened" "$WORK/netiod.log" ||
	fail "no log line for the reopened port"
warm_up
lan ping -c 5 -i 0.1 -W 2 198.51.100.10 >/dev/null || fail "traffic does not flow after the device came back"
lan ping -6 -c 3 -i 0.1 -W 2 2001:db8:2::10 >/dev/null || fail "IPv6 does not flow after the device came back"
ok "gw-wan deleted (port gone) and created again: reopened on ifindex $(portj .ifindex), traffic flows"

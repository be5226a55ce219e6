#!/bin/sh
# The kernel keeps what is the kernel's, enforced in netio.ko: with a catch-all pipeline
# (match { in = "lan" }) on kmod ports, pings and TCP to the gateway, IPv6 neighbour discovery,
# a router solicitation, MLD, link-local multicast and broadcast are answered or counted by the
# gateway's kernel, while transit traffic still crosses only through netiod (the gateway kernel
# does not forward). Env REPO, O.
#
#   kk-lan eth0 192.0.2.10 2001:db8:1::10 -- gw-lan [kk-gw: netiod] gw-wan -- eth0 198.51.100.10 kk-wan
set -eu
W=$(mktemp -d)
L=kk-lan
G=kk-gw
R=kk-wan
NETIOD=

log() { echo "== $(date +%T) $*"; }

fail() {
	echo "FAIL: $*"
	[ -f "$W/netiod.log" ] && tail -n 20 "$W/netiod.log"
	gw "$O/netiod/netioctl" kernel list 2>&1 || true
	dmesg | tail -n 20
	exit 1
}

cleanup() {
	[ -z "$NETIOD" ] || kill -TERM "$NETIOD" 2>/dev/null || true
	[ -z "$NETIOD" ] || wait "$NETIOD" 2>/dev/null || true
	for ns in $L $G $R; do ip netns del $ns 2>/dev/null || true; done
	rmmod netio 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

if [ ! -x "$O/netiod/netiod" ]; then
	echo "netiod is not built in $O: skipped (make build O=$O)"
	exit 77
fi

gw() { ip netns exec $G "$@"; }
lan() { ip netns exec $L "$@"; }
ctl() { gw "$O/netiod/netioctl" -s "$W/netiod.sock" "$@"; }
# one number out of the module's view of the lan binding: kern '.kept.local'
kern() { gw "$O/netiod/netioctl" -j kernel list | jq -r ".[] | select(.device == \"gw-lan\") | $1"; }
snmp6() { gw awk -v k="$1" '$1 == k { print $2 }' /proc/net/dev_snmp6/gw-lan; }

setup() {
	dmesg -C
	insmod "$REPO/netio-kmod/netio.ko"
	modprobe veth
	# one ip process per namespace: every exec is slow under TCG
	printf 'netns add %s\n' $L $G $R | ip -b -
	# the lan host sends only the router solicitations the test counts
	ip netns exec $L sysctl -qw net.ipv6.conf.default.router_solicitations=0
	ip -b - <<-EOF
		link add eth0 netns $L type veth peer name gw-lan netns $G
		link add eth0 netns $R type veth peer name gw-wan netns $G
	EOF
	# IPv4 transit can cross only through netiod; IPv6 forwarding makes the gateway a router
	# that listens to ff02::2 (and so counts router solicitations); no IPv6 transit here
	gw sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.icmp_echo_ignore_broadcasts=0
	ip -n $G -b - <<-EOF
		link set lo up
		link set gw-lan up
		link set gw-wan up
		addr add 192.0.2.1/24 dev gw-lan
		addr add 2001:db8:1::1/64 dev gw-lan nodad
		addr add 198.51.100.1/24 dev gw-wan
	EOF
	ip -n $L -b - <<-EOF
		link set lo up
		link set eth0 up
		addr add 192.0.2.10/24 dev eth0
		addr add 2001:db8:1::10/64 dev eth0 nodad
		route add default via 192.0.2.1
	EOF
	ip -n $R -b - <<-EOF
		link set lo up
		link set eth0 up
		addr add 198.51.100.10/24 dev eth0
		route add default via 198.51.100.1
	EOF
	cat >"$W/netiod.conf" <<-EOF
		port lan { device = "gw-lan" driver = "kmod" }
		port wan { device = "gw-wan" driver = "kmod" }
		pipeline lan-all { match { in = "lan" } out = "wan" }
		pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
	EOF
}

setup
# no shell function in between: $! must be netiod itself (ip netns exec execs it)
ip netns exec $G "$O/netiod/netiod" -f -c "$W/netiod.conf" -P "$O/services" -S "$W/netiod.sock" \
	-s "$W" >"$W/netiod.log" 2>&1 &
NETIOD=$!
i=0
until lan ping -c 1 -W 1 198.51.100.10 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 40 ] || fail "no transit through netiod"
	kill -0 "$NETIOD" 2>/dev/null || fail "netiod exited"
	sleep 0.2
done
[ "$(kern '.claims | length')" -ge 1 ] || fail "netiod installed no claim on lan"

log "a catch-all claim on lan: the gateway's kernel still answers what is its own"
rs0=$(snmp6 Icmp6InRouterSolicits)
lan ping -c 3 -i 0.2 -W 2 192.0.2.1 >"$W/ping-gw" || fail "ping to the gateway: $(tail -n 2 "$W/ping-gw")"
gw iperf3 -s -1 -D -B 192.0.2.1 --logfile "$W/iperf-s.log"
sleep 0.5
lan timeout 60 iperf3 -c 192.0.2.1 -n 200K >"$W/iperf.out" 2>&1 ||
	fail "TCP to a listener on the gateway: $(tail -n 3 "$W/iperf.out")"
lan ping -6 -c 2 -i 0.2 -W 2 2001:db8:1::1 >"$W/ping-gw6" ||
	fail "ping6 to the gateway (neighbour discovery): $(tail -n 2 "$W/ping-gw6")"
lan ip -6 neigh show 2001:db8:1::1 dev eth0 | grep -qE 'lladdr .* (REACHABLE|STALE|DELAY|PROBE)' ||
	fail "the gateway's IPv6 neighbour entry did not resolve: $(lan ip -6 neigh)"
lan ping -b -c 2 -i 0.2 -W 2 192.0.2.255 >"$W/ping-bc" 2>&1 ||
	fail "subnet broadcast ping not answered by the gateway: $(tail -n 2 "$W/ping-bc")"
lan ping -c 2 -i 0.2 -W 2 224.0.0.1 >"$W/ping-mc" 2>&1 ||
	fail "all-hosts multicast ping not answered by the gateway: $(tail -n 2 "$W/ping-mc")"
# a router solicitation to ff02::2 (hop limit 255) and an MLD report (joining ff02::1:3; only
# the module's counter sees it: the gateway is no multicast router listening to ff02::16)
lan python3 - <<'EOF' || fail "could not send the RS or join the group"
import socket, struct, time
idx = socket.if_nametoindex("eth0")
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
for _ in range(3):
    s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, idx))
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
             socket.inet_pton(socket.AF_INET6, "ff02::1:3") + struct.pack("@I", idx))
time.sleep(3)
EOF
rs=$(($(snmp6 Icmp6InRouterSolicits) - rs0))
[ "$rs" = 3 ] || fail "the gateway's kernel counted $rs router solicitations on gw-lan, want 3"
echo "   ping, TCP, ND, broadcast and multicast pings answered; the kernel counted $rs RS"

log "meanwhile transit goes through netiod: the module's claim and netiod's pipeline count it"
q0=$(kern '[.claims[].queued] | add')
p0=$(ctl -j stats | jq '.pipelines[] | select(.name == "lan-all") | .packets')
lan ping -c 20 -i 0.05 -W 2 198.51.100.10 >"$W/ping-transit" ||
	fail "transit ping lost: $(tail -n 2 "$W/ping-transit")"
q=$(($(kern '[.claims[].queued] | add') - q0))
p=$(($(ctl -j stats | jq '.pipelines[] | select(.name == "lan-all") | .packets') - p0))
[ "$q" -ge 20 ] || fail "the lan claim queued $q transit frames, want 20"
[ "$p" -ge 20 ] || fail "netiod's lan-all pipeline saw $p packets, want 20"
echo "   20 transit pings: claim queued $q, pipeline lan-all $p"

log "the module counts what it kept for the kernel, per reason"
kern '.kept' >"$W/kept"
for want in local:8 nd:1 broadcast:2 ll_mcast:2 mld:1; do
	n=$(jq -r ".${want%:*}" "$W/kept")
	[ "$n" -ge "${want#*:}" ] || fail "kept.${want%:*} = $n, want >= ${want#*:}: $(cat "$W/kept")"
done
[ "$(kern '[.claims[].kept] | add')" -ge 14 ] || fail "claims counted too few kept frames"
echo "   kept: $(jq -c . "$W/kept")"
gw "$O/netiod/netioctl" kernel list
kill -TERM "$NETIOD"
wait "$NETIOD" 2>/dev/null || true
NETIOD=
rmmod netio
if dmesg | grep -E 'BUG|WARNING|Oops|general protection|Call Trace'; then fail "kernel complained"; fi
echo "kmod_kernel: all passed"

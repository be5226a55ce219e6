#!/bin/sh
# Path MTU through a tunnel whose outer and inner families differ: IPv4 inside VXLAN over an
# IPv6 underlay to the Linux kernel's vxlan, no `mtu` configured, the wan link at 1400 bytes.
# The tunnel takes the output port's MTU (1400 - 70 = 1330 for the inner packet) and answers
# too-big IPv4 packets with DF with fragmentation-needed from the lan port's own address, so
# TCP's path MTU discovery gets a 1 MB transfer through and a DF ping learns mtu 1330.
#
#   lan 192.0.2.10 -- gw (netiod: tunnel end 2001:db8:ff::1) -- wan eth0 (MTU 1400)
#   wan: eth0 2001:db8:ff::9 = VXLAN end; vx6 (VNI 42) 203.0.113.130/25
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VXMAC=02:00:00:00:0b:01
GWVMAC=02:00:00:00:0b:02

setup_topology
gw ip link set gw-wan mtu 1400
wan ip link set eth0 mtu 1400
wan ip link add vx6 address $VXMAC type vxlan id 42 local 2001:db8:ff::9 remote 2001:db8:ff::1 \
	dstport 4789 2>/dev/null || { echo "skip: this kernel has no vxlan"; exit 77; }
gwmac=$(ip -n "$NS_GW" -j link show gw-wan | jq -r '.[0].address')
wanmac=$(ip -n "$NS_WAN" -j link show eth0 | jq -r '.[0].address')

# Underlay: 2001:db8:ff::1 exists only in netiod; static neighbours both ways.
wan ip addr add 2001:db8:ff::9/128 dev eth0 nodad
wan ip -6 route add 2001:db8:ff::1/128 dev eth0
wan ip -6 neigh replace 2001:db8:ff::1 lladdr "$gwmac" dev eth0 nud permanent
gw ip -6 route add 2001:db8:ff::9/128 dev gw-wan
gw ip -6 neigh replace 2001:db8:ff::9 lladdr "$wanmac" dev gw-wan nud permanent
gw ip route add blackhole 203.0.113.128/25
gw ip -6 route add blackhole 2001:db8:ff::1/128
# vx6 (no lower device named, so not bound to eth0's MTU) claims 1500 bytes: the site's TCP
# advertises an MSS of 1460 and the lan sender must learn the smaller path MTU from netiod
# (only small ACKs travel site -> lan).
wan ip link set vx6 mtu 1500 || fail "vx6 mtu 1500"
wan ip link set vx6 up
no_offload "$NS_WAN" vx6
wan ip addr add 203.0.113.130/25 dev vx6
wan ip route add 192.0.2.0/24 via 203.0.113.129 dev vx6
wan ip neigh replace 203.0.113.129 lladdr $GWVMAC dev vx6 nud permanent

cat >"$WORK/pmtu.conf" <<CONF
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-site {
	match { in = "lan" dst = "203.0.113.128/25" }
	service tunnel {
		type = "vxlan" local = "2001:db8:ff::1" remote = "2001:db8:ff::9" vni = 42
		inner-dst-mac = "$VXMAC"
	}
	out = "wan"
}
pipeline from-site {
	match { in = "wan" dst = "2001:db8:ff::1" proto = "udp" dport = "4789" }
	service tunnel {
		type = "vxlan" mode = "decap" local = "2001:db8:ff::1" remote = "2001:db8:ff::9" vni = 42
	}
	out = "lan"
}
CONF
start_netiod "$WORK/pmtu.conf"
svc() { stat ".pipelines[] | select(.name==\"$1\") | .services[0].counters[\"$2\"] // 0"; }

warm_up_to 203.0.113.130
ctl -j stats | jq -r '.pipelines[] | select(.name=="to-site") | .services[0].status' |
	grep -q "mtu 1400" || fail "tunnel status does not show the wan port's mtu 1400: $(ctl -j stats)"

# 1. TCP with DF (Linux's default): 1 MB lan -> site, bounded by 20 s.
wan timeout 25 /usr/bin/python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("203.0.113.130", 5001))
s.listen(1)
s.settimeout(20)
c, _ = s.accept()
c.settimeout(20)
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    n += len(d)
print(n)
' >"$WORK/tcp.out" 2>"$WORK/tcp.err" &
srv=$!
for _ in $(seq 50); do
	wan ss -Hltn "sport = :5001" | grep -q . && break
	sleep 0.1
done
lan timeout 20 /usr/bin/python3 -c '
import socket
s = socket.create_connection(("203.0.113.130", 5001), timeout=15)
s.sendall(b"x" * 1000000)
s.close()
' 2>"$WORK/tcp-client.err" || fail "TCP client: $(cat "$WORK/tcp-client.err")"
wait "$srv"
[ "$(cat "$WORK/tcp.out")" = 1000000 ] ||
	fail "site received $(cat "$WORK/tcp.out") of 1000000 bytes: $(cat "$WORK/tcp.err")"
lan ip route get 203.0.113.130 | grep -q "mtu 1330" ||
	fail "the lan host did not learn mtu 1330: $(lan ip route get 203.0.113.130)"
[ "$(svc to-site icmp-too-big)" -ge 1 ] || fail "no too-big counted"
ok "TCP 1 MB through IPv4-in-VXLAN-over-IPv6: path MTU 1330 learnt from netiod's ICMP"

# 2. A DF ping one byte too big gets frag-needed with mtu 1330 (to an address the lan host has
# no path MTU for yet); one that fits passes.
lan ping -M "do" -s 1303 -c 1 -W 1 203.0.113.131 >"$WORK/pmtu4" 2>&1 && fail "a 1331-byte DF packet went through"
grep -q "mtu = 1330" "$WORK/pmtu4" || fail "no fragmentation-needed (mtu 1330): $(cat "$WORK/pmtu4")"
lan ping -M "do" -s 1302 -c 3 -i 0.05 -W 1 203.0.113.130 >/dev/null || fail "1330-byte ping failed"
[ "$(stat '.pipelines[] | select(.name=="to-site") | .drops["mtu-exceeded"] // 0')" -eq 0 ] ||
	fail "outer packets over the wan MTU reached the output port"
ok "DF ping: frag-needed with mtu 1330 from the lan port, then 1330-byte packets pass"

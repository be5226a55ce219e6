#!/bin/sh
# make demo: lan host -- gateway (netiod) -- wan host in namespaces; ping, a short iperf3 run,
# the counters, then teardown.
set -u
O=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
TEST_NAME=demo
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (namespaces): sudo make demo" >&2
	exit 1
fi
. "$top/tests/netns/lib.sh"

say() { printf '\n== %s\n' "$*"; }

# The VXLAN site: the wan host's kernel vxlan device (VNI 42, 203.0.113.9 <-> 203.0.113.1) with
# 203.0.113.130/25 behind it. 203.0.113.1 lives only in netiod, so the gateway's kernel stays
# out of the tunnel; the underlay neighbours are static.
setup_site() {
	wan ip link add vx0 address 02:00:00:00:0b:01 type vxlan id 42 local 203.0.113.9 \
		remote 203.0.113.1 dstport 4789 dev eth0 || fail "vxlan device"
	wan ip addr add 203.0.113.9/32 dev eth0
	wan ip route add 203.0.113.1/32 dev eth0
	wan ip neigh replace 203.0.113.1 lladdr "$(gw cat /sys/class/net/gw-wan/address)" \
		dev eth0 nud permanent
	gw ip route add 203.0.113.9/32 dev gw-wan
	gw ip neigh replace 203.0.113.9 lladdr "$(wan cat /sys/class/net/eth0/address)" \
		dev gw-wan nud permanent
	gw ip route add blackhole 203.0.113.128/25
	wan sysctl -qw net.ipv6.conf.vx0.disable_ipv6=1 # no IPv6 multicast chatter in the tunnel
	wan ip link set vx0 up
	no_offload "$NS_WAN" vx0
	wan ip addr add 203.0.113.130/25 dev vx0
	# only the site's own answers go back through the tunnel (the wan host keeps its route)
	wan ip rule add from 203.0.113.128/25 table 42
	wan ip route add 192.0.2.0/24 via 203.0.113.129 dev vx0 onlink table 42
	wan ip neigh replace 203.0.113.129 lladdr 02:00:00:00:0b:02 dev vx0 nud permanent
}

say "topology"
setup_topology
setup_site
echo "lan 192.0.2.10 2001:db8:1::10 -- [gw-lan | netiod | gw-wan] -- wan 198.51.100.10 2001:db8:2::10"
echo "VXLAN (VNI 42) netiod 203.0.113.1 <-> 203.0.113.9 wan kernel vx0 -- site 203.0.113.130"
echo "gateway kernel: ip_forward=$(gw sysctl -n net.ipv4.ip_forward) (netiod is the only forwarder)"
start_netiod "$top/conf/demo.conf"
ctl status
say "pipelines"
ctl pipeline list
warm_up
warm_up_to -6 2001:db8:2::10
say "ping lan -> wan (IPv4 and IPv6)"
lan ping -c 5 -i 0.2 198.51.100.10 || fail "ping"
lan ping -6 -c 3 -i 0.2 2001:db8:2::10 || fail "ping -6"
say "ping lan -> site 203.0.113.130 through the VXLAN tunnel (the wan kernel's vxlan is the peer)"
warm_up_to 203.0.113.130
lan ping -c 5 -i 0.2 203.0.113.130 || fail "ping through the tunnel"
say "iperf3 TCP lan -> wan, 3 s (the wan port shaped to 50 Mbit/s by its qos block)"
iperf3_server wan 198.51.100.10
lan timeout 20 iperf3 -c 198.51.100.10 -t 3 -f m | grep -E "sender|receiver" || fail "iperf3"
say "netioctl stats"
ctl stats
say "netioctl service list"
ctl service list
say "teardown"
stop_netiod
echo "demo: done"

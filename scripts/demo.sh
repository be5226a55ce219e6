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

say "topology"
setup_topology
echo "lan 192.0.2.10 2001:db8:1::10 -- [gw-lan | netiod | gw-wan] -- wan 198.51.100.10 2001:db8:2::10"
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
say "iperf3 TCP lan -> wan, 3 s (uplink shaped to 50 Mbit/s by the qos service)"
iperf3_server wan 198.51.100.10
lan timeout 20 iperf3 -c 198.51.100.10 -t 3 -f m | grep -E "sender|receiver" || fail "iperf3"
say "netioctl stats"
ctl stats
say "netioctl service list"
ctl service list
say "teardown"
stop_netiod
echo "demo: done"

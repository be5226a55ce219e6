#!/bin/sh
# Tunnels the host kernel lacks: netiod's tunnel service against the Linux GENEVE, GRE (key),
# IPIP, ip6gre and ip6tnl devices of the VM's Debian kernel (run inside the test VM by
# scripts/vm-run.sh with env REPO, O). Ping both ways through each, IPv4 and IPv6 inside.
#
#   lan 192.0.2.10 -- gw (netiod; tunnel end 203.0.113.1 / 2001:db8:ffff::1, known to netiod
#   only) -- wan eth0 203.0.113.9 / 2001:db8:ffff::9 = the kernel's tunnel end, device tun0
#   with the site 203.0.113.128/25, 2001:db8:b::/64 behind it.
: "${REPO:?REPO must name the repository}" "${O:?O must name the build directory}"
[ -x "$O/netiod/netiod" ] && [ -f "$O/services/tunnel.so" ] ||
	{ echo "skip: netiod or tunnel.so not built in $O"; exit 77; }
# The kernel's module autoloader runs in the initramfs, not in this chroot: load them here.
for m in veth geneve ip_gre ipip ip6_gre ip6_tunnel; do
	modprobe "$m" || { echo "skip: cannot load $m"; exit 77; }
done
. "$REPO/tests/netns/lib.sh"

TUNMAC=02:00:00:00:0b:01 # wan's GENEVE device: the inner destination MAC netiod writes
GWVMAC=02:00:00:00:0b:02 # the gateway as that device's next hop

setup_underlay() {
	gwmac=$(ip -n "$NS_GW" -j link show gw-wan | jq -r '.[0].address')
	wanmac=$(ip -n "$NS_WAN" -j link show eth0 | jq -r '.[0].address')
	wan ip addr add 203.0.113.9/32 dev eth0
	wan ip addr add 2001:db8:ffff::9/128 dev eth0 nodad
	wan ip route add 203.0.113.1/32 dev eth0 src 203.0.113.9
	wan ip -6 route add 2001:db8:ffff::1/128 dev eth0 src 2001:db8:ffff::9
	wan ip neigh replace 203.0.113.1 lladdr "$gwmac" dev eth0 nud permanent
	wan ip -6 neigh replace 2001:db8:ffff::1 lladdr "$gwmac" dev eth0 nud permanent
	gw ip route add 203.0.113.9/32 dev gw-wan
	gw ip -6 route add 2001:db8:ffff::9/128 dev gw-wan
	gw ip neigh replace 203.0.113.9 lladdr "$wanmac" dev gw-wan nud permanent
	gw ip -6 neigh replace 2001:db8:ffff::9 lladdr "$wanmac" dev gw-wan nud permanent
	# The gateway's kernel sees copies of what netiod handles: without these routes it would
	# answer them with ICMPv6 no-route errors, which the peers' tunnels relay to the pingers.
	gw ip route add blackhole 203.0.113.1/32
	gw ip route add blackhole 203.0.113.128/25
	gw ip -6 route add blackhole 2001:db8:ffff::1/128
	gw ip -6 route add blackhole 2001:db8:b::/64
}

# site_routes L2 FAMILIES: addresses on tun0 and the way back to the lan through it.
site_routes() {
	wan ip link set tun0 up
	wan ip addr add 203.0.113.130/25 dev tun0
	case $2 in *6*) wan ip addr add 2001:db8:b::130/64 dev tun0 nodad ;; esac
	if [ "$1" = l2 ]; then
		wan ip route add 192.0.2.0/24 via 203.0.113.129 dev tun0
		wan ip neigh replace 203.0.113.129 lladdr $GWVMAC dev tun0 nud permanent
		wan ip -6 route add 2001:db8:1::/64 via 2001:db8:b::1 dev tun0
		wan ip -6 neigh replace 2001:db8:b::1 lladdr $GWVMAC dev tun0 nud permanent
	else
		wan ip route add 192.0.2.0/24 dev tun0
		case $2 in *6*) wan ip -6 route add 2001:db8:1::/64 dev tun0 ;; esac
	fi
}

write_conf() { # OPTIONS DECAP-MATCH
	cat >"$WORK/tunnel.conf" <<CONF
spin-us = 0
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-site {
	match { in = "lan" dst = { "203.0.113.128/25", "2001:db8:b::/64" } }
	service tunnel { $1 }
	out = "wan"
}
pipeline from-site {
	match { in = "wan" $2 }
	service tunnel { $1 mode = "decap" }
	out = "lan"
}
CONF
}

# clean PING-OUTPUT: every echo answered, no ICMP error on the way.
clean() { grep -q " 3 received" "$1" && ! grep -q "rror\|nreachable" "$1"; }

# ping_both NAME FAMILY LAN-SIDE SITE-SIDE: warm up both ways (netiod learns neighbours from the
# kernel on first use), then three pings each way.
ping_both() {
	f=-$2
	for _ in $(seq 20); do
		lan ping "$f" -c 1 -W 1 "$4" >/dev/null 2>&1 && break
		sleep 0.2
	done
	for _ in $(seq 10); do
		wan ping "$f" -c 1 -W 1 "$3" >/dev/null 2>&1 && break
		sleep 0.2
	done
	lan ping "$f" -c 3 -i 0.2 -W 2 "$4" >"$WORK/ping" 2>&1 && clean "$WORK/ping" ||
		fail "$1: lan->site IPv$2 ping: $(grep -v "bytes from" "$WORK/ping")"
	wan ping "$f" -c 3 -i 0.2 -W 2 "$3" >"$WORK/ping" 2>&1 && clean "$WORK/ping" ||
		fail "$1: site->lan IPv$2 ping: $(grep -v "bytes from" "$WORK/ping")"
}

# counters PIPELINE: that pipeline's tunnel counters, from one stats call.
counters() { ctl -j stats | jq -c ".pipelines[] | select(.name==\"$1\") | .services[0].counters"; }

# tunnel_case NAME L2|L3 FAMILIES NETIOD-OPTIONS DECAP-MATCH -- ip link add tun0 ARGS...
tunnel_case() {
	name=$1 l2=$2 fams=$3
	write_conf "$4" "$5"
	shift 6
	wan ip link add tun0 "$@" || fail "$name: ip link add tun0 $*"
	site_routes "$l2" "$fams"
	start_netiod "$WORK/tunnel.conf"
	case $fams in *4*) ping_both "$name" 4 192.0.2.10 203.0.113.130 ;; esac
	case $fams in *6*) ping_both "$name" 6 2001:db8:1::10 2001:db8:b::130 ;; esac
	enc=$(counters to-site | jq .encap)
	dec=$(counters from-site | jq .decap)
	[ "$enc" -ge 3 ] && [ "$dec" -ge 3 ] || fail "$name: encap $enc, decap $dec packets"
	ok "$name: ping both ways, IPv$(echo "$fams" | sed 's/46/4 and IPv6/') inside (encap $enc, decap $dec)"
	stop_netiod
	wan ip link del tun0
}

setup_topology
setup_underlay
V4='local = "203.0.113.1" remote = "203.0.113.9"'
V6='local = "2001:db8:ffff::1" remote = "2001:db8:ffff::9"'

tunnel_case geneve l2 46 \
	"type = \"geneve\" $V4 vni = 42 inner-dst-mac = \"$TUNMAC\"" \
	'dst = "203.0.113.1" proto = "udp" dport = "6081"' \
	-- address $TUNMAC type geneve id 42 remote 203.0.113.1
tunnel_case gre-key l3 46 \
	"type = \"gre\" $V4 key = 1001" 'dst = "203.0.113.1" proto = "gre"' \
	-- type gre local 203.0.113.9 remote 203.0.113.1 key 1001
tunnel_case ipip l3 4 \
	"type = \"ipip\" $V4" 'dst = "203.0.113.1" proto = "ipip"' \
	-- type ipip local 203.0.113.9 remote 203.0.113.1
# IPv6 outer: the kernel's default encapsulation-limit destination option included.
tunnel_case ip6gre-key l3 46 \
	"type = \"gre\" $V6 key = 7" 'dst = "2001:db8:ffff::1" proto = "gre"' \
	-- type ip6gre local 2001:db8:ffff::9 remote 2001:db8:ffff::1 key 7
tunnel_case ip6ip6 l3 6 \
	"type = \"ipip\" $V6" 'dst = "2001:db8:ffff::1" proto = "ipv6"' \
	-- type ip6tnl mode ip6ip6 local 2001:db8:ffff::9 remote 2001:db8:ffff::1

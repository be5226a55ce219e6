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

mac() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }

# Every process costs under TCG: the ip commands go in batches, one per namespace, and every
# neighbour is static, so no first packet waits for ARP/ND or for netiod to learn a neighbour.
setup_underlay() {
	gwmac=$(mac "$NS_GW" gw-wan)
	wanmac=$(mac "$NS_WAN" eth0)
	gwlanmac=$(mac "$NS_GW" gw-lan)
	lanmac=$(mac "$NS_LAN" eth0)
	lan ip -batch - <<EOF || fail "lan neighbours"
neigh replace 192.0.2.1 lladdr $gwlanmac dev eth0 nud permanent
neigh replace 2001:db8:1::1 lladdr $gwlanmac dev eth0 nud permanent
EOF
	wan ip -batch - <<EOF || fail "wan underlay"
addr add 203.0.113.9/32 dev eth0
addr add 2001:db8:ffff::9/128 dev eth0 nodad
route add 203.0.113.1/32 dev eth0 src 203.0.113.9
route add 2001:db8:ffff::1/128 dev eth0 src 2001:db8:ffff::9
neigh replace 203.0.113.1 lladdr $gwmac dev eth0 nud permanent
neigh replace 2001:db8:ffff::1 lladdr $gwmac dev eth0 nud permanent
EOF
	# The blackholes: the gateway's kernel sees copies of what netiod handles and would
	# answer them with ICMPv6 no-route errors, which the peers' tunnels relay to the pingers.
	gw ip -batch - <<EOF || fail "gateway underlay"
route add 203.0.113.9/32 dev gw-wan
route add 2001:db8:ffff::9/128 dev gw-wan
neigh replace 203.0.113.9 lladdr $wanmac dev gw-wan nud permanent
neigh replace 2001:db8:ffff::9 lladdr $wanmac dev gw-wan nud permanent
route add blackhole 203.0.113.1/32
route add blackhole 203.0.113.128/25
route add blackhole 2001:db8:ffff::1/128
route add blackhole 2001:db8:b::/64
neigh replace 192.0.2.10 lladdr $lanmac dev gw-lan nud permanent
neigh replace 2001:db8:1::10 lladdr $lanmac dev gw-lan nud permanent
EOF
}

# site_routes L2 FAMILIES: addresses on tun0 and the way back to the lan through it.
site_routes() {
	{
		echo "link set tun0 up"
		echo "addr add 203.0.113.130/25 dev tun0"
		case $2 in *6*) echo "addr add 2001:db8:b::130/64 dev tun0 nodad" ;; esac
		if [ "$1" = l2 ]; then
			echo "route add 192.0.2.0/24 via 203.0.113.129 dev tun0"
			echo "neigh replace 203.0.113.129 lladdr $GWVMAC dev tun0 nud permanent"
			case $2 in *6*)
				echo "route add 2001:db8:1::/64 via 2001:db8:b::1 dev tun0"
				echo "neigh replace 2001:db8:b::1 lladdr $GWVMAC dev tun0 nud permanent"
				;;
			esac
		else
			echo "route add 192.0.2.0/24 dev tun0"
			case $2 in *6*) echo "route add 2001:db8:1::/64 dev tun0" ;; esac
		fi
	} | wan ip -batch - || fail "routes through tun0"
}

write_conf() { # OPTIONS DECAP-MATCH
	cat >"$WORK/tunnel.conf" <<CONF
spin-us = 0
port lan { device = "gw-lan" driver = "afpacket" ring-frames = 256 }
port wan { device = "gw-wan" driver = "afpacket" ring-frames = 256 }
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

# clean PING-OUTPUT: every echo answered, no ICMP error on the way (shell builtins only: every
# process costs under TCG).
clean() {
	all=0
	while IFS= read -r line; do
		case $line in
		*rror* | *nreachable*) return 1 ;;
		*" 3 received"*) all=1 ;;
		esac
	done <"$1"
	[ $all = 1 ]
}

# ping_both NAME FAMILY LAN-SIDE SITE-SIDE: wait until a ping gets through both ways (netiod
# has just started), then three pings each way.
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
	[ "$2" = 4 ] || return 0
	# 3028 bytes without DF: netiod fragments the lan host's 1500-byte fragments again to
	# fit the tunnel; Linux's tunnel end reassembles them and its answer comes back.
	lan ping -4 -M dont -s 3000 -c 3 -i 0.2 -W 2 "$4" >"$WORK/ping" 2>&1 && clean "$WORK/ping" ||
		fail "$1: 3028-byte IPv4 ping without DF: $(grep -v "bytes from" "$WORK/ping")"
	frags=$(ctl -j stats | jq '[.pipelines[] | .services[0].counters.fragmented // 0] | add')
	[ "$frags" -ge 6 ] || fail "$1: fragmented counted $frags inner packets, want 6"
}

# counters: "ENCAP DECAP", the tunnel services' packet counts, from one stats call.
counters() {
	ctl -j stats | jq -r '[.pipelines[] | .services[0].counters | .encap + .decap] | join(" ")'
}

# tunnel_case NAME L2|L3 FAMILIES NETIOD-OPTIONS DECAP-MATCH -- ip link add tun0 ARGS...
tunnel_case() {
	name=$1 l2=$2 fams=$3
	write_conf "$4" "$5"
	shift 6
	ip -n "$NS_WAN" link add tun0 "$@" || fail "$name: ip link add tun0 $*"
	site_routes "$l2" "$fams"
	start_netiod "$WORK/tunnel.conf"
	case $fams in *4*) ping_both "$name" 4 192.0.2.10 203.0.113.130 ;; esac
	case $fams in *6*) ping_both "$name" 6 2001:db8:1::10 2001:db8:b::130 ;; esac
	# shellcheck disable=SC2046
	set -- $(counters)
	[ "${1:-0}" -ge 3 ] && [ "${2:-0}" -ge 3 ] || fail "$name: encap ${1:-?}, decap ${2:-?} packets"
	case $fams in 46) inside="IPv4 and IPv6" ;; *) inside=IPv$fams ;; esac
	case $fams in *4*) inside="$inside, big IPv4 fragmented" ;; esac
	ok "$name: ping both ways, $inside inside (encap $1, decap $2)"
	stop_netiod
	ip -n "$NS_WAN" link del tun0
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

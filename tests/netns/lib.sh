# Shared helpers for netns tests (sourced): a lan host, a gateway running netiod, a wan host.
#   lan  eth0 192.0.2.10/24    2001:db8:1::10/64  --  gw-lan 192.0.2.1/24    2001:db8:1::1/64
#   wan  eth0 198.51.100.10/24 2001:db8:2::10/64  --  gw-wan 198.51.100.1/24 2001:db8:2::1/64
# The gateway's kernel does not forward (ip_forward=0): netiod is the only forwarder.
# GW_OFFLOADS=1 turns the gateway devices' offloads on (GRO, GSO, TSO, checksums), as on a NIC.
# VETH_QUEUES=N gives each veth N receive and transmit queues.
# NETIO_DRIVER=afxdp runs the gateway's afpacket ports as afxdp ports (an XDP program and AF_XDP
# sockets; libxdp's bpffs is one the test mounts, so what netiod pins outlives netiod).
# Requires: O (build dir). Provides: NS_LAN NS_GW NS_WAN, WORK, start_netiod, stop_netiod, ctl.

: "${O:?O must name the build directory}"
PFX="nio$$"
NS_LAN="$PFX-lan"
NS_GW="$PFX-gw"
NS_WAN="$PFX-wan"
WORK=$(mktemp -d /tmp/netio-netns.XXXXXX)
SOCK="$WORK/netiod.sock"
NETIOD_PID=
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}

lan() { ip netns exec "$NS_LAN" "$@"; }
gw() { ip netns exec "$NS_GW" "$@"; }
wan() { ip netns exec "$NS_WAN" "$@"; }
ctl() { ip netns exec "$NS_GW" "$O/netiod/netioctl" -s "$SOCK" "$@"; }

cleanup() {
	stop_netiod
	if [ -n "${LIBXDP_BPFFS:-}" ] && [ "$LIBXDP_BPFFS" = "$WORK/bpffs" ]; then
		umount "$LIBXDP_BPFFS" 2>/dev/null
	fi
	for ns in "$NS_LAN" "$NS_GW" "$NS_WAN" ${EXTRA_NS:-}; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAILED: $TEST_NAME: $*"
	if [ -f "$WORK/netiod.log" ]; then
		echo "--- netiod log (last 30 lines)"
		tail -n 30 "$WORK/netiod.log"
	fi
	exit 1
}

ok() { echo "  ok  $TEST_NAME: $*"; }

# No offloads: a frame must be complete when netiod sees it (no GSO super-frames, no
# partial checksums left for hardware that veth does not have).
no_offload() { # ns dev
	ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

host_side() { # ns dev addr4 gw4 addr6 gw6
	ip -n "$1" link set lo up
	ip -n "$1" link set "$2" up
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$1" addr add "$5" dev "$2" nodad
	ip -n "$1" route add default via "$4"
	ip -n "$1" -6 route add default via "$6"
	no_offload "$1" "$2"
}

setup_topology() {
	for ns in "$NS_LAN" "$NS_GW" "$NS_WAN"; do
		ip netns add "$ns" || fail "ip netns add $ns"
	done
	# VETH_QUEUES=N: N receive and transmit queues per veth (a multi-queue NIC)
	_q=${VETH_QUEUES:+numtxqueues $VETH_QUEUES numrxqueues $VETH_QUEUES}
	# shellcheck disable=SC2086
	ip link add eth0 netns "$NS_LAN" $_q type veth peer name gw-lan netns "$NS_GW" $_q
	# shellcheck disable=SC2086
	ip link add eth0 netns "$NS_WAN" $_q type veth peer name gw-wan netns "$NS_GW" $_q
	gw sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
	ip -n "$NS_GW" link set lo up
	for d in gw-lan gw-wan; do
		ip -n "$NS_GW" link set "$d" up
		if [ -n "${GW_OFFLOADS:-}" ]; then
			gw ethtool -K "$d" gro on gso on tso on tx on rx on >/dev/null ||
				fail "ethtool -K $d: offloads on"
		else
			no_offload "$NS_GW" "$d"
		fi
	done
	ip -n "$NS_GW" addr add 192.0.2.1/24 dev gw-lan
	ip -n "$NS_GW" addr add 2001:db8:1::1/64 dev gw-lan nodad
	ip -n "$NS_GW" addr add 198.51.100.1/24 dev gw-wan
	ip -n "$NS_GW" addr add 2001:db8:2::1/64 dev gw-wan nodad
	host_side "$NS_LAN" eth0 192.0.2.10/24 192.0.2.1 2001:db8:1::10/64 2001:db8:1::1
	host_side "$NS_WAN" eth0 198.51.100.10/24 198.51.100.1 2001:db8:2::10/64 2001:db8:2::1
}

# use_bpffs: a bpffs of the test's own for libxdp and netiod's pins (ip netns exec gives each
# command a fresh /sys, so /sys/fs/bpf would not outlive a netiod).
use_bpffs() {
	[ -n "${LIBXDP_BPFFS:-}" ] && return 0
	mkdir -p "$WORK/bpffs"
	mount -t bpf bpf "$WORK/bpffs" || fail "mount -t bpf"
	LIBXDP_BPFFS="$WORK/bpffs"
	export LIBXDP_BPFFS
}

# start_netiod CONF: run netiod in the gateway namespace and wait (<= 5 s) for its socket.
# PLUGIN_DIR (default $O/services) is where it loads plugins from.
# NETIOD_ARGS (default -f: one worker) are the extra flags; "" lets 'workers' decide.
# NETIO_WORKERS=N runs any test's gateway with N workers (e.g. NETIO_WORKERS=2 make check-netns).
start_netiod() {
	if [ -n "${NETIO_WORKERS:-}" ]; then
		{ echo "workers = $NETIO_WORKERS"; grep -v '^workers' "$1"; } >"$WORK/netiod.conf"
		NETIOD_ARGS=""
	else
		cp "$1" "$WORK/netiod.conf"
	fi
	if [ -n "${NETIO_DRIVER:-}" ]; then
		sed -i "s/driver = \"afpacket\"/driver = \"$NETIO_DRIVER\"/" "$WORK/netiod.conf"
	fi
	if grep -q 'driver = "afxdp"' "$WORK/netiod.conf"; then
		use_bpffs
	fi
	# shellcheck disable=SC2086
	ip netns exec "$NS_GW" "$O/netiod/netiod" ${NETIOD_ARGS--f} -c "$WORK/netiod.conf" -P "${PLUGIN_DIR:-$O/services}" \
		-S "$SOCK" -s "$WORK" >>"$WORK/netiod.log" 2>&1 &
	NETIOD_PID=$!
	for _ in $(seq 50); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$NETIOD_PID" 2>/dev/null || fail "netiod exited at start"
		sleep 0.1
	done
	fail "netiod did not open its control socket"
}

stop_netiod() {
	[ -n "$NETIOD_PID" ] || return 0
	kill -TERM "$NETIOD_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$NETIOD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$NETIOD_PID" 2>/dev/null
	wait "$NETIOD_PID" 2>/dev/null
	NETIOD_PID=
}

# listening ERRFILE: wait (bounded) until the tcpdump whose stderr goes to ERRFILE captures; a
# fixed sleep was not always enough under load (CI runs captured nothing)
listening() {
	for _ in $(seq 150); do
		grep -q "listening on" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "tcpdump did not start capturing: $(cat "$1")"
}

# ready PID ERRFILE TEXT: wait (bounded, 10 s) until the process PID, whose stderr goes to
# ERRFILE, has written TEXT there (it says so once it is set up); fail with its last words if it
# exits first or never does
ready() {
	for _ in $(seq 100); do
		grep -q "$3" "$2" 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	fail "no '$3' from process $1: $(tail -n 3 "$2")"
}

# stat JQ: a number from 'netioctl -j stats'
stat() { ctl -j stats | jq "$1"; }

# Prime the kernel's neighbour tables on both sides (netiod never ARPs itself), bounded.
warm_up() {
	warm_up_to 198.51.100.10
}

# warm_up_to ADDR [ping options]: the same for any destination (e.g. -6 2001:db8:2::10).
warm_up_to() {
	for _ in $(seq 30); do
		lan ping "$@" -c 1 -W 1 >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "no connectivity to $* through netiod after warm-up"
}

# iperf3_server NS-FUNCTION ADDRESS [PORT]: a one-shot iperf3 server, waited for (<= 5 s) until
# it listens, so a client on a loaded machine never races its start.
iperf3_server() {
	_port=${3:-5201}
	"$1" iperf3 -s -1 -D -B "$2" -p "$_port" --logfile "$WORK/iperf-s-$_port.log" ||
		fail "iperf3 server on $2:$_port"
	for _ in $(seq 50); do
		"$1" ss -Hltn "sport = :$_port" | grep -q . && return 0
		sleep 0.1
	done
	fail "iperf3 server on $2:$_port did not start listening"
}

# to_wan_conf: on stdout, the gateway configuration whose pipeline to-wan (lan ->
# 198.51.100.0/24) runs the service lines read from stdin, and a plain to-lan pipeline back.
to_wan_conf() {
	printf '%s\n' 'port lan { device = "gw-lan" driver = "afpacket" }' \
		'port wan { device = "gw-wan" driver = "afpacket" }' 'pipeline to-wan {' \
		'	match { in = "lan" dst = "198.51.100.0/24" }'
	cat
	printf '%s\n' '	out = "wan"' '}' 'pipeline to-lan {' \
		'	match { in = "wan" dst = "192.0.2.0/24" }' '	out = "lan"' '}'
}

# qos_status: the qos service's status lines ("KIND NAME key value ...") as JSON:
# {"class": {NAME: {key: value}}, "policer": {NAME: {...}}}
qos_status() {
	ctl -j stats | jq '.pipelines[] | select(.name=="to-wan") | .services[0].status |
		reduce (split("\n")[] | select(length > 0) | split(" ")) as $w ({};
			.[$w[0]][$w[1]] = ([$w[2:] | _nwise(2) | {(.[0]): (.[1] | tonumber? // .)}] | add))'
}

# vxlan_site VXMAC: the wan host as the Linux end of a VXLAN tunnel to netiod (skip, 77, when the
# kernel has none): eth0 203.0.113.9 is the underlay end, vx0 (VNI 42, MAC VXMAC: the inner
# destination MAC netiod must write) holds the site 203.0.113.128/25 and 2001:db8:b::/64 and
# reaches the lan through vx0. netiod's end 203.0.113.1 is no kernel address.
vxlan_site() {
	_gwvmac=02:00:00:00:0b:02 # the gateway as vx0's next hop; netiod rewrites inner L2 anyway
	wan ip link add vx0 address "$1" type vxlan id 42 local 203.0.113.9 remote 203.0.113.1 \
		dstport 4789 dev eth0 2>/dev/null || { echo "skip: this kernel has no vxlan"; exit 77; }
	_gwmac=$(ip -n "$NS_GW" -j link show gw-wan | jq -r '.[0].address')
	_wanmac=$(ip -n "$NS_WAN" -j link show eth0 | jq -r '.[0].address')
	# Underlay: 203.0.113.1 exists only in netiod, so the gateway's kernel (ip_forward=0) drops
	# its copies of the VXLAN packets quietly; both sides know each other's MAC statically.
	wan ip addr add 203.0.113.9/32 dev eth0
	wan ip route add 203.0.113.1/32 dev eth0
	wan ip neigh replace 203.0.113.1 lladdr "$_gwmac" dev eth0 nud permanent
	gw ip route add 203.0.113.9/32 dev gw-wan
	gw ip neigh replace 203.0.113.9 lladdr "$_wanmac" dev gw-wan nud permanent
	# The gateway's kernel also sees the packets netiod handles: quiet it, or it would answer
	# the lan's packets to the site with ICMPv6 no-route errors.
	gw ip route add blackhole 203.0.113.128/25
	gw ip -6 route add blackhole 2001:db8:b::/64
	# Overlay on the wan side: the lan is reached through vx0.
	wan ip link set vx0 up
	no_offload "$NS_WAN" vx0
	wan ip addr add 203.0.113.130/25 dev vx0
	wan ip addr add 2001:db8:b::130/64 dev vx0 nodad
	wan ip route add 192.0.2.0/24 via 203.0.113.129 dev vx0
	wan ip neigh replace 203.0.113.129 lladdr $_gwvmac dev vx0 nud permanent
	wan ip -6 route add 2001:db8:1::/64 via 2001:db8:b::1 dev vx0
	wan ip -6 neigh replace 2001:db8:b::1 lladdr $_gwvmac dev vx0 nud permanent
}

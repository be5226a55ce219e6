#!/bin/sh
# RTT a gateway adds at low load: ping at 10/s from the lan host to the wan host through the
# kernel (ip_forward), netiod on afpacket ports and netiod on afxdp ports, one after the other;
# afxdp is the default (the worker spins spin-us, then sleeps in poll(2): each ping wakes it),
# afxdp-busy has poll = "busy" (a worker that never sleeps: what the data path adds without the
# wake-up), afxdp-napi poll = "napi" (busy, and the sockets busy-poll the veths' receive).
# For netiod it also reports the worker's sleeps per ping (idle_sleeps): the wake-ups an RTT costs.
# xsk_fwd-busy is the bare AF_XDP forwarder (tests/bench/xsk_fwd.c) never sleeping: what any
# AF_XDP copy-mode forwarder adds on veth; xsk_fwd sleeps in poll(2) when idle (netiod's
# default); xsk_fwd-busy-d64 keeps 64 buffers per fill ring (most recently used first: warm).
# usage: rtt.sh BUILD_DIR   (root; env: RTT_COUNT=200 pings per gateway, RTT_ROUNDS=2,
#   RTT_GWS: the gateways, default all)
set -u
O=$(cd "${1:?usage: rtt.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=rtt
export O
. "$here/../netns/lib.sh"

COUNT=${RTT_COUNT:-200}
ROUNDS=${RTT_ROUNDS:-2}
RES="$WORK/rtt"

# the gateway.conf pipelines on DRIVER ports, as NAME (default DRIVER), with more lines first
gw_conf() { # DRIVER [NAME LINE]
	{
		[ -z "${3:-}" ] || echo "$3"
		sed "s/driver = \"afpacket\"/driver = \"$1\"/" "$here/../netns/gateway.conf" |
			grep -v metrics-listen
	} >"$WORK/rtt-${2:-$1}.conf"
}

# pings NAME: COUNT echo round trips, one RTT (us) per line into RES as "NAME us"
pings() {
	lan ping -c "$COUNT" -i 0.1 -W 1 198.51.100.10 |
		sed -n 's/.* time=\([0-9.]*\) ms/\1/p' | awk -v n="$1" '{ printf "%s %.0f\n", n, $1 * 1000 }' >>"$RES"
}

mac_of() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }

# xsk_fwd between gw-lan and gw-wan, each way to the host behind; words: busy, dN (-d N)
start_xsk_fwd() {
	opts=
	for w in "$@"; do
		case $w in busy) opts="$opts -b" ;; d[0-9]*) opts="$opts -d ${w#d}" ;; esac
	done
	use_bpffs
	: >"$WORK/xsk_fwd.log"
	# shellcheck disable=SC2086
	ip netns exec "$NS_GW" "$O/tests/bench/xsk_fwd" $opts gw-lan gw-wan "$(mac_of "$NS_WAN" eth0)" \
		"$(mac_of "$NS_LAN" eth0)" 2>>"$WORK/xsk_fwd.log" &
	XSK_PID=$! # ip netns exec execs: the forwarder itself
	ready "$XSK_PID" "$WORK/xsk_fwd.log" 'xsk_fwd: ready'
}

stop_xsk_fwd() {
	kill -TERM "$XSK_PID"
	wait "$XSK_PID" 2>/dev/null
	for d in gw-lan gw-wan; do gw ip link set dev "$d" xdp off; done
}

with() { # kernel | afpacket | afxdp | afxdp-busy | afxdp-napi | xsk_fwd[-busy][-dN]
	case $1 in xsk_fwd*)
		gw sysctl -qw net.ipv4.ip_forward=0
		# shellcheck disable=SC2046
		start_xsk_fwd $(echo "${1#xsk_fwd}" | tr '-' ' ')
		warm_up
		pings "$1"
		stop_xsk_fwd
		return
		;;
	esac
	if [ "$1" = kernel ]; then
		gw sysctl -qw net.ipv4.ip_forward=1
	else
		gw sysctl -qw net.ipv4.ip_forward=0
		start_netiod "$WORK/rtt-$1.conf"
	fi
	warm_up
	[ "$1" = kernel ] || s0=$(stat .worker.idle_sleeps)
	pings "$1"
	if [ "$1" != kernel ]; then
		echo "sleeps-$1 $(($(stat .worker.idle_sleeps) - s0))" >>"$RES"
		stop_netiod
		for d in gw-lan gw-wan; do gw ip link set dev "$d" xdp off; done
	fi
}

# pct NAME P: the P-th percentile RTT of NAME (us)
pct() {
	awk -v n="$1" '$1 == n { print $2 }' "$RES" | sort -n |
		awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print NR ? v[i] : "—" }'
}

setup_topology
gw_conf afpacket
gw_conf afxdp
gw_conf afxdp afxdp-busy 'poll = "busy"'
gw_conf afxdp afxdp-napi 'poll = "napi"'
GWS=${RTT_GWS:-kernel afpacket afxdp afxdp-busy afxdp-napi xsk_fwd xsk_fwd-busy xsk_fwd-busy-d64}
: >"$RES"
for _ in $(seq "$ROUNDS"); do
	for g in $GWS; do with "$g"; done
done
printf '\n#### RTT through an idle gateway: ping at 10/s, %s pings x %s rounds per gateway, interleaved\n\n' \
	"$COUNT" "$ROUNDS"
echo "| gateway | replies | p50 µs | p99 µs | p50 added over the kernel µs | p99 added over the kernel µs | worker sleeps per ping |"
echo "|---|---:|---:|---:|---:|---:|---:|"
k50=$(pct kernel 50)
k99=$(pct kernel 99)
for g in $GWS; do
	n=$(awk -v n="$g" '$1 == n' "$RES" | wc -l)
	p50=$(pct "$g" 50)
	p99=$(pct "$g" 99)
	sl=$(awk -v n="sleeps-$g" -v c="$COUNT" -v r="$ROUNDS" '$1 == n { s += $2; k++ }
		END { if (k) printf "%.2f", s / (c * r); else print "—" }' "$RES")
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$g" "$n" "$p50" "$p99" $((p50 - k50)) \
		$((p99 - k99)) "$sl"
done

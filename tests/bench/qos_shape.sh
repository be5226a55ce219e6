#!/bin/sh
# qos shaper against the kernel's tbf and htb on one veth testbed (lan -> gateway -> wan), in
# one run: rate error of a 2x UDP flood and p99 RTT of two pings sharing the shaper with it.
# usage: qos_shape.sh BUILD_DIR   (root; env: QS_RUNS=5 QS_RATES="10 100" (Mbit/s) QS_BUDGET=270 (s))
#
# Each shaper runs at the rate with a bucket of 10 ms of it and 64-packet FIFOs, no AQM:
#   netiod  qos { rate burst codel=false limit=64  class ef { dscp=ef prio=0 }  class bulk { prio=1 } }
#   tbf     tbf rate burst limit=64x1442 bytes: one FIFO for everything
#   htb     root rate=ceil, burst; ef (u32 on the DSCP) prio 0 and bulk prio 1, both ceil=rate,
#           each with pfifo limit 64
# Per run: iperf3 -u at twice the rate (1400-byte datagrams, 1442-byte frames) for 5 s; over
# seconds 1.5 to 4.5, the rate is the Ethernet frame bytes the wan host received (the unit all
# three shapers charge), and two pings at 10 ms intervals measure RTT: one plain (it waits in the
# bulk FIFO behind ~64 frames) and one marked EF (it gets the priority class where there is one).
# The return path is not shaped: the kernel forwards it for tbf/htb, netiod for netiod. Rows
# kernel-base and netiod-base are the pings alone through the bare forwarders (no shaper, no
# flood): the path's own RTT, which for netiod's afpacket ports includes the TPACKET_V3 block
# retire timer on the low-rate direction. Runs are interleaved (run 1 of every row, then run 2,
# ...); figures are median (min - max) over runs.
set -u
O=$(cd "${1:?usage: qos_shape.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034 # read by lib.sh
TEST_NAME=qos_shape
export O
. "$here/../netns/lib.sh"
trap 'cleanup; exit 1' INT TERM

RUNS=${QS_RUNS:-5}
RATES=${QS_RATES:-10 100}
BUDGET=${QS_BUDGET:-270} # seconds; make bench gives each script 300 (a round takes ~50 s)
SHAPERS="netiod tbf htb"
BASES="kernel-base netiod-base" # no shaper, no flood: the RTT of the forwarding path itself
LIMIT=64
RES="$WORK/results"

command -v iperf3 >/dev/null || { echo "Not run: no iperf3"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "Not run: needs root"; exit 0; }

netiod_conf() { # MBIT (0: no qos service)
	cat <<CONF
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-wan {
	match { in = "lan" dst = "198.51.100.0/24" }
CONF
	[ "$1" -eq 0 ] || cat <<CONF
	service qos {
		rate = "${1}mbit" burst = "$(($1 * 1250))" codel = false limit = $LIMIT
		class ef { dscp = "ef" prio = 0 }
		class bulk { prio = 1 }
	}
CONF
	cat <<CONF
	out = "wan"
}
pipeline to-lan {
	match { in = "wan" dst = "192.0.2.0/24" }
	out = "lan"
}
CONF
}

# up SHAPER MBIT / down SHAPER: put a shaper on the lan -> wan path, take it off
up() {
	b=$(($2 * 1250))
	case $1 in
	netiod | netiod-base)
		netiod_conf "$2" >"$WORK/qos.conf"
		start_netiod "$WORK/qos.conf"
		;;
	kernel-base)
		gw sysctl -qw net.ipv4.ip_forward=1
		;;
	tbf)
		gw sysctl -qw net.ipv4.ip_forward=1
		gw tc qdisc replace dev gw-wan root tbf rate "${2}mbit" burst "$b" limit $((LIMIT * 1442))
		;;
	htb)
		gw sysctl -qw net.ipv4.ip_forward=1
		gw tc qdisc replace dev gw-wan root handle 1: htb default 20
		gw tc class add dev gw-wan parent 1: classid 1:1 htb rate "${2}mbit" ceil "${2}mbit" \
			burst "$b" cburst "$b" quantum 1514
		gw tc class add dev gw-wan parent 1:1 classid 1:10 htb rate "$(($2 * 10))kbit" \
			ceil "${2}mbit" burst "$b" cburst "$b" prio 0 quantum 1514
		gw tc class add dev gw-wan parent 1:1 classid 1:20 htb rate "$(($2 * 990))kbit" \
			ceil "${2}mbit" burst "$b" cburst "$b" prio 1 quantum 1514
		gw tc qdisc add dev gw-wan parent 1:10 pfifo limit $LIMIT
		gw tc qdisc add dev gw-wan parent 1:20 pfifo limit $LIMIT
		gw tc filter add dev gw-wan parent 1: protocol ip prio 1 u32 match ip tos 0xb8 0xfc \
			flowid 1:10
		;;
	esac || fail "$1 at $2 Mbit/s would not start"
	warm_up
}

down() {
	case $1 in
	netiod | netiod-base) stop_netiod ;;
	kernel-base) gw sysctl -qw net.ipv4.ip_forward=0 ;;
	*)
		gw tc qdisc del dev gw-wan root
		gw sysctl -qw net.ipv4.ip_forward=0
		;;
	esac
}

# sample: "BYTES US", the wan host's received bytes and the time, read by bash builtins together
sample() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	wan bash -c 'a=${EPOCHREALTIME/./}; read -r b </sys/class/net/eth0/statistics/rx_bytes
		c=${EPOCHREALTIME/./}; echo "$b $(((a + c) / 2))"'
}

# p99 FILE: 99th percentile of the RTTs ping printed (ms), and the share of probes lost (%)
p99() {
	sed -n 's/.* time=\([0-9.]*\) ms$/\1/p' "$1" | sort -n | awk -v sent=300 '
		{ v[NR] = $1 }
		END { if (NR == 0) { print "- 100"; exit }
		      i = int(NR * 0.99 + 0.999); printf "%s %.1f\n", v[i], (sent - NR) * 100 / sent }'
}

# one SHAPER MBIT: a 5 s flood through the shaper (none at 0 Mbit/s: the pings alone, for the
# path's own RTT); appends "SHAPER MBIT err% p99-plain lost p99-EF lost late-max-us late-lost-us"
one() {
	up "$1" "$2"
	if [ "$2" -gt 0 ]; then
		iperf3_server wan 198.51.100.10 5401
		lan timeout 20 iperf3 -u -b "$(($2 * 2))M" -l 1400 -t 5 -c 198.51.100.10 -p 5401 \
			>"$WORK/iperf.log" 2>&1 &
		client=$!
		sleep 1.5
	fi
	lan timeout 8 ping -n -i 0.01 -c 300 -w 6 198.51.100.10 >"$WORK/ping-be" 2>&1 &
	pbe=$!
	lan timeout 8 ping -n -i 0.01 -c 300 -w 6 -Q 0xb8 198.51.100.10 >"$WORK/ping-ef" 2>&1 &
	pef=$!
	s0=$(sample)
	sleep 3
	s1=$(sample)
	wait "$pbe" "$pef"
	err=-
	late="- -"
	if [ "$2" -gt 0 ]; then
		wait "$client" || fail "iperf3 ($1, $2 Mbit/s): $(tail -n 2 "$WORK/iperf.log")"
		err=$(awk -v b0="${s0% *}" -v t0="${s0#* }" -v b1="${s1% *}" -v t1="${s1#* }" -v r="$2" \
			'BEGIN { printf "%.3f", ((b1 - b0) * 8 / (t1 - t0) - r) * 100 / r }')
		[ "$1" != netiod ] ||
			late=$(stat '.pipelines[0].services[0].counters | "\(."late-max-us") \(."late-lost-us")"' | tr -d '"')
	fi
	down "$1"
	echo "$1 $2 $err $(p99 "$WORK/ping-be") $(p99 "$WORK/ping-ef") $late" >>"$RES"
}

# summary SHAPER MBIT COLUMN: median (min-max) of one column over the runs
summary() {
	awk -v s="$1" -v m="$2" -v c="$3" '$1 == s && $2 == m && $c != "-" { print $c }' "$RES" | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
			printf "%s (%s – %s)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

setup_topology
: >"$RES"
start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
done_runs=0
round=0
for run in $(seq "$RUNS"); do
	# no round that would end past the budget, judged by the last one (+25 %)
	t=$(date +%s)
	[ $((t - start + round * 5 / 4)) -le "$BUDGET" ] || break
	for s in $BASES; do
		one "$s" 0
	done
	for mbit in $RATES; do
		for s in $SHAPERS; do
			one "$s" "$mbit"
		done
	done
	done_runs=$run
	round=$(($(date +%s) - t))
done

echo "qos shaper vs tc tbf / htb: median (min – max) of $done_runs interleaved runs; load average at start:"
echo "$load0, at the end: $(cut -d' ' -f1-3 /proc/loadavg); budget ${BUDGET} s, used $(($(date +%s) - start)) s"
echo
row() { printf '%-6s %-12s %-24s %-22s %-16s %-22s %-16s\n' "$@"; }
row rate shaper "rate error %" "p99 RTT ms, plain" "plain lost %" "p99 RTT ms, EF" "EF lost %"
for mbit in 0 $RATES; do
	for s in $([ "$mbit" -eq 0 ] && echo "$BASES" || echo "$SHAPERS"); do
		row "$([ "$mbit" -eq 0 ] && echo - || echo "${mbit}M")" "$s" "$(summary "$s" "$mbit" 3)" \
			"$(summary "$s" "$mbit" 4)" "$(summary "$s" "$mbit" 5)" "$(summary "$s" "$mbit" 6)" \
			"$(summary "$s" "$mbit" 7)"
	done
done
echo
echo "per run: shaper Mbit/s rate-error% p99-plain-ms lost% p99-EF-ms lost% (netiod: late-max-us late-lost-us)"
cat "$RES"

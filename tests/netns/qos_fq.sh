#!/bin/sh
# qos flow queues: 4 bulk TCP flows and a sparse flow (ping) in one class of the wan port's
# shaper at 10 Mbit/s. Asserted: the bulk flows share within a Jain index of 0.98 (bytes each
# received, from iperf3's receiver side), the sparse flow's p99 RTT under that load stays
# within a few ms of its RTT through the idle gateway (a FIFO adds the whole standing queue:
# tens of ms), and the link is used (>= 85 % of the rate as TCP goodput). The shaper's parts
# come as structured data: 'netioctl -j stats' lists the class and the active flows as JSON
# objects (4 bulk flows to port 5301 while they run), and /metrics has the class's counters as
# labelled series that pass promtool check metrics. A run that passes counts; a failing run on
# a machine that starved netiod's worker (its lateness counter, or the idle RTT, say so) is
# retried once; if both failed starved the test checks the structured counters and exits 77
# with the figures printed.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

MBIT=10
SLACK_MS=${QOS_FQ_SLACK_MS:-5} # p99 over base the test allows
command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }

setup_topology
cat >"$WORK/fq.conf" <<CONF
metrics-listen = "127.0.0.1:9110"
port lan { device = "gw-lan" driver = "afpacket" }
port wan {
	device = "gw-wan" driver = "afpacket"
	qos { rate = "${MBIT}mbit" flows = 1024 }
}
pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
CONF
# pings PERIOD COUNT FILE: RTTs in ms, one a line
pings() {
	lan ping -i "$1" -c "$2" -W 1 198.51.100.10 | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' >"$3"
}
# p99 FILE (ms, as a decimal) and the median
p99() { sort -n "$1" | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }'; }
p50() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
objs='.pipelines[] | select(.name=="egress:wan") | .services[0].objects[]'
late() { stat '.pipelines[] | select(.name=="egress:wan") | .services[0].counters."late-max-us"'; }

# load TRY: a fresh netiod, idle pings, then 4 bulk flows for 12 s with pings in the middle.
# Sets the figures and starved: evidence that the machine, not the shaper, set them (the
# shaper's worker was more than SLACK_MS late past a release time, or the idle path's own RTT
# was above 10 ms): a starved run that fails its assertions does not count.
load() {
	start_netiod "$WORK/fq.conf"
	warm_up
	pings 0.05 40 "$WORK/base"
	iperf3_server wan 198.51.100.10 5301
	lan timeout 40 iperf3 -c 198.51.100.10 -p 5301 -P 4 -t 12 -J >"$WORK/iperf.json" 2>&1 &
	client=$!
	sleep 3 # past slow start: the queues stand
	# snapshots of the shaper's objects meanwhile: a flow is listed while it has packets
	(for k in 1 2 3 4 5 6 7 8; do
		ctl -j stats >"$WORK/during.$k.json"
		sleep 0.5
	done) &
	snaps=$!
	pings 0.02 300 "$WORK/load"
	wait $snaps
	wait $client || fail "iperf3: $(tail -n 5 "$WORK/iperf.json")"
	late_us=$(late)
	answered=$(wc -l <"$WORK/load")
	base50=$(p50 "$WORK/base")
	load50=$(p50 "$WORK/load")
	load99=$(p99 "$WORK/load")
	# the receiver's bytes per stream, and Jain's index over them
	jq -r '.end.streams[].receiver.bytes' "$WORK/iperf.json" >"$WORK/bytes"
	[ "$(wc -l <"$WORK/bytes")" -eq 4 ] || fail "iperf3 reported $(wc -l <"$WORK/bytes") streams"
	jain=$(awk '{ s += $1; q += $1 * $1; n++ } END { printf "%.4f", s * s / (n * q) }' "$WORK/bytes")
	bps=$(jq '.end.sum_received.bits_per_second | floor' "$WORK/iperf.json")
	echo "  run $1: base RTT p50 $base50 ms; under 4 bulk flows p50 $load50 ms p99 $load99 ms" \
		"($answered of 300 answered); Jain $jain over $(tr '\n' ' ' <"$WORK/bytes")bytes;" \
		"goodput $bps bit/s; worker late <= $late_us us"
	starved=0
	[ "$late_us" -le $((SLACK_MS * 1000)) ] && awk -v b="$base50" 'BEGIN { exit !(b <= 10) }' ||
		starved=1
}

# judge: the assertions of a run; prints why it failed and returns 1
judge() {
	why=""
	awk -v j="$jain" 'BEGIN { exit !(j >= 0.98) }' || why="bulk flows share unfairly: Jain $jain"
	# TCP goodput under the L2 rate: headers are ~4 % of a 1514-byte frame
	[ "$bps" -ge $((MBIT * 1000000 * 85 / 100)) ] || why="the link was underused: $bps bit/s"
	[ "$answered" -ge 290 ] || why="the sparse flow lost pings: $answered of 300 answered"
	awk -v p="$load99" -v b="$base50" -v s="$SLACK_MS" 'BEGIN { exit !(p <= b + s) }' ||
		why="sparse p99 $load99 ms is more than $SLACK_MS ms over the base $base50 ms"
	[ -z "$why" ]
}

# A run that passes counts whatever the machine did; a failing one counts unless it was starved.
judged=0
for try in 1 2; do
	load "$try"
	if judge; then
		judged=1
		break
	fi
	[ "$starved" -eq 1 ] || fail "$why"
	echo "  run $try does not count ($why): the worker was up to $late_us us late, idle RTT $base50 ms"
	[ "$try" -eq 2 ] || stop_netiod
done
if [ "$judged" -eq 1 ]; then
	ok "sparse p99 $load99 ms (base $base50 ms), Jain $jain, $bps bit/s"
fi

# structured counters: the flows seen while iperf3 ran, the class now, /metrics series
cat "$WORK"/during.*.json | jq -c "$objs | select(.kind==\"flow\" and .dport==\"5301\" and
	.class==\"root\" and .src==\"192.0.2.10\" and .proto==\"6\")" >"$WORK/flows.json"
nbulk=$(jq -r .sport "$WORK/flows.json" | sort -u | wc -l)
# iperf3's 4 data connections (its control connection is sparse: rarely caught queued)
[ "$nbulk" -ge 4 ] && [ "$nbulk" -le 5 ] ||
	fail "netioctl -j stats listed $nbulk bulk flows over 8 snapshots, not 4"
jq -se 'map(select(.counters."sent-bytes" > 0 and (.gauges | index("queue-packets")) != null)) |
	length > 0' "$WORK/flows.json" >/dev/null || fail "flow objects without their counters"
sent=$(stat "$objs | select(.kind==\"class\" and .name==\"root\") | .counters.\"sent-bytes\"")
[ "$sent" -gt $((bps / 8 * 10)) ] || fail "class root: sent-bytes $sent"
gw python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9110/metrics", timeout=5).read().decode(), end="")' \
	>"$WORK/metrics.txt" || fail "GET /metrics"
m=$(awk '$1 ~ /^netio_service_object_total\{pipeline="egress:wan",service="qos",kind="class",object="root",parent="-",counter="sent-bytes"\}$/ { print $2 }' \
	"$WORK/metrics.txt")
[ "${m:-0}" -ge "$sent" ] || fail "/metrics: class root sent-bytes ${m:-missing}, netioctl $sent"
grep -q '^netio_service_object_current{pipeline="egress:wan",service="qos",kind="class",object="root",parent="-",name="queue-packets"} ' \
	"$WORK/metrics.txt" || fail "/metrics: no queue-packets gauge of class root"
if command -v promtool >/dev/null; then
	promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.txt" 2>&1 ||
		fail "promtool check metrics: $(cat "$WORK/promtool.txt")"
fi
ok "classes and flows as JSON objects and labelled /metrics series ($nbulk bulk flows listed)"
if [ "$judged" -eq 0 ]; then
	echo "skip: the machine starved netiod's worker in both runs: fairness and latency not judged"
	exit 77
fi

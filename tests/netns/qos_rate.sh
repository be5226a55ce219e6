#!/bin/sh
# qos shaper: a UDP flood at twice the configured 10 Mbit/s leaves netiod at 10 Mbit/s; the
# kernel's tbf on the same testbed, in the same run, is the reference for what it can measure.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

RATE=10000000
command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }

cat >"$WORK/qos.conf" <<'CONF'
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-wan {
	match { in = "lan" dst = "198.51.100.0/24" }
	service qos { rate = "10mbit" }
	out = "wan"
}
pipeline to-lan {
	match { in = "wan" dst = "192.0.2.0/24" }
	out = "lan"
}
CONF

# sample: "BYTES NS", the wan host's received bytes and the time, read together in one shell
# so that starting a process in the namespace does not skew the rate
sample() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	wan sh -c 'echo $(cat /sys/class/net/eth0/statistics/rx_bytes) $(date +%s%N)'
}

# flood LABEL: 20 Mbit/s of UDP for 10 s (bounded by timeout); prints the L2 rate in bit/s that
# reached the wan host between seconds 2 and 9, past the initial burst and before the drain.
# The window is long because a late worker makes up to 100 ms of missed sending at once.
flood() {
	iperf3_server wan 198.51.100.10 5301
	lan timeout 30 iperf3 -u -b 20M -l 1400 -t 10 -c 198.51.100.10 -p 5301 \
		>"$WORK/iperf-$1.log" 2>&1 &
	client=$!
	sleep 2
	s0=$(sample)
	sleep 7
	s1=$(sample)
	wait $client || fail "iperf3 client ($1): $(tail -n 3 "$WORK/iperf-$1.log")"
	echo $(((${s1% *} - ${s0% *}) * 8 * 1000000000 / (${s1#* } - ${s0#* })))
}

# within RATE_BPS PERCENT: is the measured rate within PERCENT of the configured one?
within() { [ $(($1 > RATE ? $1 - RATE : RATE - $1)) -le $((RATE * $2 / 100)) ]; }

setup_topology

# 1. netiod alone forwards, through the qos service; a second run if the first was starved.
svc='.pipelines[] | select(.name=="to-wan") | .services[0].counters'
results=
for try in 1 2; do
	start_netiod "$WORK/qos.conf"
	warm_up
	mark=$(wc -l <"$WORK/netiod.log")
	sent0=$(stat "$svc.\"sent-bytes\"")
	netiod=$(flood "netiod-$try")
	sent1=$(stat "$svc.\"sent-bytes\"")
	drops=$(stat "$svc | .\"queue-limit-drops\" + .\"codel-drops\"")
	stop_netiod
	[ "$drops" -gt 0 ] || fail "a 2x flood dropped nothing"
	[ $((sent1 - sent0)) -gt $((RATE * 7 / 8)) ] || fail "qos counted only $((sent1 - sent0)) bytes sent"
	[ "$netiod" -le $((RATE * 103 / 100)) ] || fail "netiod let $netiod bit/s through, above $RATE + 3%"
	results="$results $netiod"
	within "$netiod" 3 && break
	# A worker that cannot even drain its RX ring was starved of CPU by other load: the
	# shortfall says nothing about the shaper. Anything else is a failure.
	tail -n "+$((mark + 1))" "$WORK/netiod.log" | grep -q "RX ring full" ||
		fail "netiod shaped to $netiod bit/s, want $RATE +- 3%"
	echo "  netiod starved of CPU in run $try ($netiod bit/s): the kernel dropped frames"
done

# 2. Reference: the kernel forwards and tbf shapes gw-wan to the same rate.
gw sysctl -qw net.ipv4.ip_forward=1
gw tc qdisc replace dev gw-wan root tbf rate 10mbit burst 16k latency 200ms ||
	{ echo "skip: no tbf"; exit 77; }
lan ping -c 2 -W 1 198.51.100.10 >/dev/null || fail "kernel forwarding for the reference"
tbf=$(flood tbf)
gw tc qdisc del dev gw-wan root
ok "reference tbf: $tbf bit/s"
within "$netiod" 3 || { echo "skip: netiod starved of CPU in both runs:$results bit/s"; exit 77; }
ok "netiod qos: $netiod bit/s for 10 Mbit/s offered 20 (tbf $tbf), $drops dropped"

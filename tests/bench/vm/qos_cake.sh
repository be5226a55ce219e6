#!/bin/sh
# Inside the bench VM (its Debian kernel has sch_cake and fq_codel): the wan port shaped by
# netiod's port shaper with flow queues (afpacket ports, and kmod ports on netio.ko), by CAKE,
# and by htb + fq_codel, on one veth testbed (lan -> gateway -> wan), runs interleaved, at each
# rate of QC_MBIT: at 10 Mbit/s the emulated CPUs forward what the shapers let through (goodput
# near the rate: the shaper is the bottleneck, its queue is where the packets wait), at 20 they
# cannot (goodput ~55-65 % of the rate: the queues form in front of the shapers). Per run: 4
# bulk TCP flows (iperf3 -P 4, 15 s) and a ping every 20 ms over seconds 4 to 13. Figures:
# goodput (iperf3's receiver) and its share of the rate, Jain's index over the 4 flows'
# received bytes, the ping's p50 and p99 RTT and loss; the base row is the ping alone through
# each gateway; for netiod, its shaper's worst lateness past a release time (late-max-us: how
# long the worker was kept off the CPU). QC_SHAPERS may add netiod-kmod-fifo: the kmod row with
# worker-sched = "fifo 10" (the worker alone at real-time priority); netiod-kmod-nopin: the
# kmod row with the worker allowed on every vCPU; netiod-kmod-rt: the kmod row with
# netiod's threads at real-time priority (chrt -f 10), as the kernel's softirqs that run CAKE
# are (BENCHMARKS.md: it made the worker later, not earlier, under TCG); and netiod-kmod-base:
# netiod-kmod run from another build directory (QC_BASE_O), to compare two builds under the
# same conditions. Env REPO, O; QC_RUNS (3), QC_MBIT ("10 20": each rate in turn, a table
# each), QC_SHAPERS (the rows); QC_TRACE=1: for netiod rows, trace the shaper's worker with
# the VM kernel's scheduler events over the ping and print where its longest gaps went
# (runnable but not run, and who ran instead; asleep past its timeout; on the CPU).
# vm-timeout: 2400
: "${REPO:?REPO must name the repository}" "${O:?O must name the build directory}"
# shellcheck disable=SC2034 # read by lib.sh
TEST_NAME=qos_cake
export O
. "$REPO/tests/netns/lib.sh"
# the VM sees no host environment: vmbench.sh hands QC_* over in the shared build dir
[ -f "$O/vm/bench.env" ] && . "$O/vm/bench.env"

RUNS=${QC_RUNS:-3}
MBITS=${QC_MBIT:-10 20}
SHAPERS=${QC_SHAPERS:-"netiod netiod-kmod cake htb-fq_codel"}
KO=$REPO/netio-kmod/netio.ko
RES="$WORK/results"
# each run's line as it comes, in the shared build dir: a VM that times out keeps what it had
PROGRESS="$O/vm/qos_cake.progress"
command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }
modprobe veth || { echo "skip: cannot load veth"; exit 77; }
modprobe sch_cake || { echo "skip: no sch_cake"; exit 77; }
modprobe sch_fq_codel && modprobe sch_htb || { echo "skip: no fq_codel or htb"; exit 77; }
insmod "$KO" || SHAPERS=$(echo "$SHAPERS" | tr ' ' '\n' | grep -v kmod) # not without the module

netiod_conf() { # DRIVER [GLOBAL-LINE]
	cat <<CONF
${2:-}
port lan { device = "gw-lan" driver = "$1" }
port wan {
	device = "gw-wan" driver = "$1"
	qos { rate = "${MBIT}mbit" flows = 1024 }
}
pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
CONF
}

up() {
	case $1 in
	netiod)
		netiod_conf afpacket >"$WORK/qc.conf"
		start_netiod "$WORK/qc.conf"
		;;
	netiod-kmod-fifo) # the worker alone at SCHED_FIFO 10, sleeping to its release times
		netiod_conf kmod 'worker-sched = "fifo 10"' >"$WORK/qc.conf"
		start_netiod "$WORK/qc.conf"
		;;
	netiod-kmod-nopin) # the worker let run on either vCPU (it pins itself at start)
		netiod_conf kmod >"$WORK/qc.conf"
		start_netiod "$WORK/qc.conf"
		taskset -a -p -c 0-1 "$NETIOD_PID" >/dev/null
		;;
	netiod-kmod | netiod-kmod-rt)
		netiod_conf kmod >"$WORK/qc.conf"
		start_netiod "$WORK/qc.conf"
		[ "$1" = netiod-kmod ] || chrt -a -f -p 10 "$NETIOD_PID" >/dev/null
		;;
	netiod-kmod-base) # another build's netiod and plugins (QC_BASE_O), for an A/B in one VM run
		netiod_conf kmod >"$WORK/qc.conf"
		o=$O
		O=$QC_BASE_O
		start_netiod "$WORK/qc.conf"
		O=$o
		;;
	cake)
		gw sysctl -qw net.ipv4.ip_forward=1
		gw tc qdisc replace dev gw-wan root cake bandwidth "${MBIT}mbit"
		;;
	htb-fq_codel)
		gw sysctl -qw net.ipv4.ip_forward=1
		gw tc qdisc replace dev gw-wan root handle 1: htb default 10
		gw tc class add dev gw-wan parent 1: classid 1:10 htb rate "${MBIT}mbit" \
			ceil "${MBIT}mbit"
		gw tc qdisc add dev gw-wan parent 1:10 fq_codel
		;;
	esac || fail "$1 would not start"
	warm_up
}

down() {
	case $1 in
	netiod) stop_netiod ;;
	netiod-kmod*) # the bindings outlive netiod (hold-time): the next setup needs bare devices
		stop_netiod
		rmmod netio && insmod "$KO" || fail "could not reload netio.ko"
		;;
	*)
		gw tc qdisc del dev gw-wan root
		gw sysctl -qw net.ipv4.ip_forward=0
		;;
	esac
}

# rtts FILE: the RTTs (ms) ping printed, sorted; "p50 p99 lost%" of COUNT probes
rtts() {
	sed -n 's/.* time=\([0-9.]*\) ms$/\1/p' "$1" | sort -n | awk -v sent="$2" '
		{ v[NR] = $1 }
		END { if (!NR) { print "- - 100"; exit }
		      printf "%s %s %.1f\n", v[int((NR + 1) / 2)], v[int(NR * 0.99 + 0.999)],
			(sent - NR) * 100 / sent }'
}

# netiod's shaper: the worker's worst lateness past a release time, ms ("-" for the kernel's)
late_ms() {
	case $1 in
	netiod*) stat '.pipelines[] | select(.name=="egress:wan") | .services[0].counters."late-max-us"' |
		awk '{ printf "%.1f", $1 / 1000 }' ;;
	*) echo - ;;
	esac
}

# The worker (-f: one): the thread that is not the main (control) thread.
worker_tid() {
	for t in /proc/"$NETIOD_PID"/task/*; do
		[ "${t##*/}" = "$NETIOD_PID" ] || echo "${t##*/}"
	done | head -n 1
}

trace_start() { # the worker's switches and wake-ups, and the kernel's schedstats
	T=/sys/kernel/tracing
	[ -f $T/trace ] || mount -t tracefs nodev $T || return 0
	WTID=$(worker_tid)
	sysctl -qw kernel.sched_schedstats=1
	echo 0 >$T/tracing_on
	echo >$T/trace
	echo 4096 >$T/buffer_size_kb
	echo "prev_pid == $WTID || next_pid == $WTID" >$T/events/sched/sched_switch/filter
	echo "pid == $WTID" >$T/events/sched/sched_wakeup/filter
	echo 1 >$T/events/sched/sched_switch/enable
	echo 1 >$T/events/sched/sched_wakeup/enable
	echo 1 >$T/tracing_on
}

# trace_stop LABEL: the worker's 3 longest stretches of each kind, ms, and who ran instead
trace_stop() {
	[ -n "${WTID:-}" ] || return 0
	echo 0 >$T/tracing_on
	echo 0 >$T/events/sched/sched_switch/enable
	echo 0 >$T/events/sched/sched_wakeup/enable
	{
		echo "== $1 (worker tid $WTID)"
		grep -E 'wait_max|sleep_max|exec_max|nr_involuntary|nr_voluntary|wait_sum|wait_count' 			"/proc/$NETIOD_PID/task/$WTID/sched" | tr -s ' ' | tr '\n' ';'
		echo
		awk -v w="$WTID" -f "$REPO/tests/bench/vm/qos_gaps.awk" $T/trace
	} | tee -a "$PROGRESS" >>"$WORK/trace.txt"
	echo >$T/trace
	WTID=
}

# one SHAPER: appends "MBIT SHAPER goodput-Mbit jain p50 p99 lost base-p50 late-max-ms
# goodput-%-of-rate"
one() {
	up "$1"
	lan timeout 10 ping -n -i 0.05 -c 60 198.51.100.10 >"$WORK/base" 2>&1
	iperf3_server wan 198.51.100.10 5401
	lan timeout 60 iperf3 -c 198.51.100.10 -p 5401 -P 4 -t 15 -J >"$WORK/iperf.json" 2>&1 &
	client=$!
	sleep 4
	case "${QC_TRACE:-}$1" in 1netiod*) trace_start ;; esac
	lan timeout 15 ping -n -i 0.02 -c 450 198.51.100.10 >"$WORK/ping" 2>&1
	trace_stop "$MBIT $1"
	wait "$client" || fail "iperf3 ($1): $(tail -n 3 "$WORK/iperf.json")"
	late=$(late_ms "$1")
	down "$1"
	jain=$(jq -r '.end.streams[].receiver.bytes' "$WORK/iperf.json" |
		awk '{ s += $1; q += $1 * $1; n++ } END { printf "%.4f", n ? s * s / (n * q) : 0 }')
	gp=$(jq '.end.sum_received.bits_per_second / 1e6 * 100 | floor / 100' "$WORK/iperf.json")
	share=$(awk -v g="$gp" -v r="$MBIT" 'BEGIN { printf "%.0f", g * 100 / r }')
	echo "$MBIT $1 $gp $jain $(rtts "$WORK/ping" 450) $(rtts "$WORK/base" 60 | cut -d' ' -f1)" \
		"$late $share" | tee -a "$PROGRESS" >>"$RES"
}

summary() { # MBIT SHAPER COLUMN: median (min – max) over the runs
	awk -v r="$1" -v s="$2" -v c="$3" '$1 == r && $2 == s && $c != "-" { print $c }' "$RES" |
		sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
			printf "%s (%s – %s)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

row() { printf '%-15s %-22s %-16s %-25s %-22s %-22s %-16s %-20s %-20s\n' "$@"; }

table() { # MBIT
	echo "qos at $1 Mbit/s, 4 TCP flows + a ping every 20 ms, in the QEMU/TCG VM: median (min – max)"
	echo "of $RUNS interleaved runs; load average $(cat "$WORK/load.$1")"
	echo "(goodput % of rate: near 100 when the shaper is the bottleneck, far below when the VM is)"
	row shaper "goodput Mbit/s" "% of rate" "Jain (4 flows)" "ping p50 ms" "ping p99 ms" \
		"ping lost %" "base p50 ms" "worker late max ms"
	for s in $SHAPERS; do
		row "$s" "$(summary "$1" "$s" 3)" "$(summary "$1" "$s" 10)" "$(summary "$1" "$s" 4)" \
			"$(summary "$1" "$s" 5)" "$(summary "$1" "$s" 6)" "$(summary "$1" "$s" 7)" \
			"$(summary "$1" "$s" 8)" "$(summary "$1" "$s" 9)"
	done
	echo
}

setup_topology
: >"$RES"
echo "qos_cake $(date -u) QC_MBIT='$MBITS' QC_RUNS=$RUNS QC_SHAPERS='$SHAPERS'" >>"$PROGRESS"
for MBIT in $MBITS; do
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	for _ in $(seq "$RUNS"); do
		for s in $SHAPERS; do
			one "$s"
		done
	done
	echo "at the start $load0, at the end $(cut -d' ' -f1-3 /proc/loadavg) (the VM's)" \
		>"$WORK/load.$MBIT"
done
for MBIT in $MBITS; do
	table "$MBIT"
done
echo "per run: rate-Mbit shaper goodput-Mbit/s jain p50-ms p99-ms lost% base-p50-ms late-max-ms"
echo "goodput-%-of-rate"
cat "$RES"
[ ! -f "$WORK/trace.txt" ] || cat "$WORK/trace.txt"
rmmod netio 2>/dev/null
exit 0

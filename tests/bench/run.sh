#!/bin/sh
# make bench: build the bench programs, run membench, a callgrind profile and the veth bench, and
# write their results into BENCHMARKS.md's generated part (tests/bench/splice.sh).
# usage: run.sh BUILD_DIR   (env: BENCH_RUNS=5 BENCH_PACKETS=200000, VB_* for vethbench.sh, BENCH_VM=0 skips the VM part)
set -eu
O=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out="$top/BENCHMARKS.md"
RUNS=${BENCH_RUNS:-5}
PACKETS=${BENCH_PACKETS:-200000}
tmp=$(mktemp -d /tmp/netio-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

make -C "$here" O="$O" --no-print-directory

ver() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "not installed"; }

machine() {
	echo "## Machine"
	echo
	echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores online"
	echo "- kernel: $(uname -r); date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- libevent $(ver libevent-dev), libpcap $(ver libpcap-dev), libssl $(ver libssl-dev)," \
		"libipsec-mb $(ver libipsec-mb-dev), gcc $(ver gcc), netsniff-ng (trafgen) $(ver netsniff-ng)"
	echo "- git: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

membench() {
	cmd="$O/tests/bench/membench -P $O/services -s $tmp -r $RUNS -n $PACKETS"
	echo "## 1. In-memory: netiod's worker, pipelines and plugins, no I/O"
	echo
	echo "Command: \`$cmd\`"
	echo
	$cmd 2>"$tmp/membench.err" || echo "**membench exited with $?** (see the notes below the tables)"
	grep -v '^<6>' "$tmp/membench.err" | sed 's/^/    /' || true
}

mcbench() {
	cmd="$O/tests/bench/mcbench -P $O/services -r $RUNS"
	echo
	echo "## 1b. Workers: 1 against 2 workers in memory, and the cost of a handoff"
	echo
	echo "Command: \`$cmd\`; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	$cmd 2>"$tmp/mcbench.err" || echo "**mcbench exited with $?**"
}

xbench() {
	cmd="$O/tests/bench/xbench -r $RUNS"
	echo
	echo "## 1d. The floor of a crossing: two cores, two rings, nothing else"
	echo
	echo "Command: \`$cmd\`; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	$cmd 2>&1 || echo "**xbench exited with $?**"
}

classbench() {
	cmd="$O/tests/bench/classbench"
	echo
	echo "## 1c. Classifying a new flow: the pipeline scan against netio.ko's claim hint"
	echo
	echo "Command: \`$cmd\`; TSC cycles per classification, medians of 9 alternated passes over"
	echo "4096 flows; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	$cmd 2>/dev/null || echo "**classbench exited with $?**"
}

# Instruction counts are repeatable where cycles are not: where the null chain spends them.
PROFILE_PKTS=20000
profile() {
	command -v valgrind >/dev/null || return 0
	toggles="--toggle-collect=nio_parse --toggle-collect=nio_flow_hash --toggle-collect=nio_flow_lookup --toggle-collect=nio_pipeline_run"
	cmd="valgrind --tool=callgrind $toggles $O/tests/bench/membench -P $O/services -s $tmp -r 1 -n $PROFILE_PKTS -c null -m '64 B' -b 32"
	echo
	echo "### Profile of the null chain, 64 B, burst 32: instructions per packet (callgrind)"
	echo
	echo "Command: \`$cmd\`, then \`callgrind_annotate\`; counted in nio_parse, nio_flow_hash, nio_flow_lookup and"
	echo "nio_pipeline_run (services, output, TX to the sink) and their callees, over $((PROFILE_PKTS + 4096)) packets."
	echo
	# shellcheck disable=SC2086
	valgrind --tool=callgrind $toggles --callgrind-out-file="$tmp/cg.out" "$O/tests/bench/membench" \
		-P "$O/services" -s "$tmp" -r 1 -n "$PROFILE_PKTS" -c null -m '64 B' -b 32 >"$tmp/cg.log" 2>&1 ||
		{ echo "Not measured: $(grep -v '^[=<]' "$tmp/cg.log" | tail -n 1; grep '^<2>' "$tmp/cg.log")"; return 0; }
	echo '| instructions per packet | function |'
	echo '|---:|---|'
	callgrind_annotate "$tmp/cg.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -n 14 |
		awk -v n=$((PROFILE_PKTS + 4096)) '{ v = $1; gsub(",", "", v)
			sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); sub(/ \[.*\]$/, ""); printf "| %.1f | %s |\n", v / n, $0 }'
}

vethbench() {
	echo
	echo "## 2. veth testbed: gen → gateway → sink namespaces"
	echo
	echo "Command: \`sh tests/bench/vethbench.sh $O\` (VB_RUNS=${VB_RUNS:-5} VB_DUR=${VB_DUR:-2} VB_STEPS=${VB_STEPS:-6})"
	echo
	if [ "$(id -u)" -ne 0 ] || ! command -v trafgen >/dev/null; then
		echo "Not run: needs root and trafgen (netsniff-ng)."
		return 0
	fi
	sh "$here/vethbench.sh" "$O" 2>"$tmp/veth.err" || echo "**vethbench.sh exited with $?**: $(tail -n 3 "$tmp/veth.err")"
}

rtt() {
	echo
	echo "## 2b. RTT added at low load: kernel, afpacket port, afxdp port (poll sleep, busy, napi), the bare AF_XDP loop (xsk_fwd)"
	echo
	echo "Command: \`sh tests/bench/rtt.sh $O\` (RTT_COUNT=${RTT_COUNT:-200} RTT_ROUNDS=${RTT_ROUNDS:-2})"
	echo
	if [ "$(id -u)" -ne 0 ]; then
		echo "Not run: needs root."
		return 0
	fi
	sh "$here/rtt.sh" "$O" 2>"$tmp/rtt.err" || echo "**rtt.sh exited with $?**: $(tail -n 3 "$tmp/rtt.err")"
}

vmbench() {
	echo
	echo "## 3. The kmod port: the veth testbed inside the QEMU/TCG test VM"
	echo
	echo "Command: \`VB_RUNS=${VB_RUNS:-3} sh tests/bench/vmbench.sh $O\` (tests/bench/vm/vethbench_kmod.sh inside the VM: pktgen on one vCPU, every setup's gateway work on the other;"
	echo "60-byte frames only, no zero-loss search;"
	echo "then tests/bench/vm/qos_cake.sh: the qos port shaper with flow queues against CAKE and htb + fq_codel at 10 Mbit/s,"
	echo "a rate the VM forwards, so the shapers are the bottleneck, and at 20 Mbit/s, which it cannot)"
	echo
	echo "The host kernel cannot load netio.ko, so netiod's kmod port is measured where it can run: Debian's kernel"
	echo "under QEMU/TCG (2 vCPUs, software emulation). Every row shares that emulation, so only the ratios mean"
	echo "something, and only roughly: TCG's cost per instruction is not the hardware's."
	echo
	if [ "$(id -u)" -ne 0 ] || [ "${BENCH_VM:-1}" = 0 ]; then
		echo "Not run: needs root (BENCH_VM=0 skips it)."
		return 0
	fi
	sh "$here/vmbench.sh" "$O" 2>&1 || echo "**vmbench.sh exited with $?**"
}

others() { # benches other parts of the tree put here: qos_bench.sh, crypto*.sh
	for f in "$here"/qos*.sh "$here"/crypto*.sh; do
		[ -f "$f" ] || continue
		echo
		echo "## $(basename "$f")"
		echo
		echo "Command: \`sh tests/bench/$(basename "$f") $O\`"
		echo
		echo '```'
		timeout 300 sh "$f" "$O" 2>&1 | head -n 100 || echo "exited with $?"
		echo '```'
	done
}

{
	echo
	machine
	echo
	membench
	profile
	mcbench
	classbench
	xbench
	vethbench
	rtt
	vmbench
	others
	echo
} >"$tmp/generated.md"

# Only the part between the markers is make bench's: the sections written by hand around it stay.
if sh "$here/splice.sh" "$tmp/generated.md" "$out"; then
	echo "bench: wrote the generated part of $out"
else
	cp "$tmp/generated.md" "$out.generated"
	echo "bench: $out unchanged; the generated part is in $out.generated"
	exit 1
fi

#!/bin/sh
# Inside the bench VM, only with VB_PROFILE=1 (vmbench.sh passes it; make bench does not): where
# netiod's process spends the gateway CPU on the kmod port at saturation. The veth testbed of
# vethbench.sh (pktgen on CPU 0, RPS hands gw-lan's receive to CPU 1, where netiod's one worker
# runs; null chain), flooded for VB_PROFILE_DUR s (default 3) with netiod: natively, its user and
# system time per frame it received (/proc/PID/stat), CPU 1's ticks and netio.ko's counters; what
# a clock read costs on CPU 1 (the VM's clocksource is hpet: a system call each); its threads'
# system calls per frame (a hist trigger on the raw_syscalls tracepoint); and under callgrind
# (perf has no PMU under TCG; VB_PROFILE_CG=0 leaves it out) the instructions its worker executes
# per frame by function, the user half only. And (part "perf") the whole gateway CPU, kernel
# included, sampled by perf with a software clock (cpu-clock is an hrtimer: no PMU needed), for
# the kernel's own forward and for netiod-kmod (and netiod-kmod:alt with VB_NETIO_KO_ALT) in one
# boot: packets per CPU-1-second without perf, then where CPU 1's samples land per forwarded frame.
# Env REPO, O; VB_PROFILE_PARTS (default "perf ticks syscalls cg"; cg also needs VB_PROFILE_CG != 0).
# vm-timeout: 1500
: "${REPO:?REPO must name the repository}" "${O:?O must name the build directory}"
# shellcheck disable=SC1091 # written by vmbench.sh
[ -f "$O/vm/bench.env" ] && . "$O/vm/bench.env"
[ "${VB_PROFILE:-0}" = 1 ] || { echo "skip: VB_PROFILE=1 runs it"; exit 77; }
set -u
DUR=${VB_PROFILE_DUR:-3}
PARTS=" ${VB_PROFILE_PARTS:-perf ticks syscalls cg} "
[ "${VB_PROFILE_CG:-1}" = 1 ] || PARTS=$(echo "$PARTS" | sed 's/ cg / /')
part() { case $PARTS in *" $1 "*) return 0 ;; esac; return 1; }
case $PARTS in *" cg "*) command -v valgrind >/dev/null || { echo "skip: no valgrind"; exit 77; } ;; esac
case $PARTS in *" perf "*) perf version >/dev/null 2>&1 || { echo "skip: no perf (linux-perf)"; exit 77; } ;; esac
L=kp-lan
G=kp-gw
R=kp-wan
W=$(mktemp -d)
NETIOD=

fail() {
	echo "FAIL: $*"
	tail -n 20 "$W/netiod.log" 2>/dev/null
	exit 1
}

stop_netiod() {
	[ -n "$NETIOD" ] || return 0
	kill -TERM "$NETIOD" 2>/dev/null
	timeout 300 sh -c "while kill -0 $NETIOD 2>/dev/null; do sleep 0.5; done"
	wait "$NETIOD" 2>/dev/null
	NETIOD=
}

cleanup() {
	stop_netiod
	ip netns exec $L sh -c 'echo stop >/proc/net/pktgen/pgctrl' 2>/dev/null
	for ns in $L $G $R; do ip netns del "$ns" 2>/dev/null; done
	rmmod netio 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

modprobe veth && modprobe pktgen || { echo "skip: no veth or pktgen"; exit 77; }
insmod "$REPO/netio-kmod/netio.ko" || fail "insmod netio.ko"
gw() { ip netns exec $G "$@"; }
ctl() { gw "$O/netiod/netioctl" -s "$W/netiod.sock" "$@"; }
mac_of() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }

for ns in $L $G $R; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add eth0 netns $L type veth peer name gw-lan netns $G
ip link add eth0 netns $R type veth peer name gw-wan netns $G
for ns in $L $G $R; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
for x in "$L eth0" "$G gw-lan" "$G gw-wan" "$R eth0"; do
	# shellcheck disable=SC2086
	set -- $x
	ip -n "$1" link set "$2" up
	# as vethbench.sh: no offloads, every frame a wire-size frame
	ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1
done
gw sysctl -qw net.ipv4.ip_forward=0
ip -n $G addr add 192.0.2.1/24 dev gw-lan
ip -n $G addr add 198.51.100.1/24 dev gw-wan
# 198.51.100.99: nobody has it, the sink's kernel drops the frames without an answer
ip -n $G neigh add 198.51.100.99 lladdr "$(mac_of $R eth0)" dev gw-wan nud permanent
gw sh -c 'echo 2 >/sys/class/net/gw-lan/queues/rx-0/rps_cpus'
ip netns exec $R sh -c 'echo 1 >/sys/class/net/eth0/queues/rx-0/rps_cpus'
cat >"$W/netiod.conf" <<EOF
port lan { device = "gw-lan" driver = "kmod" }
port wan { device = "gw-wan" driver = "kmod" }
pipeline fwd { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
EOF
# valgrind's own system calls are outside netiod's allow-list
{ echo "seccomp = false"; cat "$W/netiod.conf"; } >"$W/netiod-cg.conf"

pg() { ip netns exec $L sh -c "echo '$2' >/proc/net/pktgen/$1" || fail "pktgen: $1: $2"; }
pg kpktgend_0 rem_device_all
pg kpktgend_0 "add_device eth0"
for c in "count 0" "pkt_size 60" "delay 0" "clone_skb 0" "burst 1" "dst 198.51.100.99" \
	"dst_mac $(mac_of $G gw-lan)" "src_min 192.0.2.10" "src_max 192.0.2.10" \
	"udp_src_min 1024" "udp_src_max 1279" "udp_dst_min 9" "udp_dst_max 9"; do
	pg eth0 "$c"
done

start_netiod() { # config command-prefix...
	conf=$1
	shift
	# no shell function in between: $! must be netiod itself (ip netns exec and taskset exec)
	ip netns exec $G taskset -c 1 "$@" "$O/netiod/netiod" -f -c "$conf" -P "$O/services" \
		-S "$W/netiod.sock" -s "$W" >>"$W/netiod.log" 2>&1 &
	NETIOD=$!
	for _ in $(seq 600); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$NETIOD" 2>/dev/null || break
		sleep 0.5
	done
	fail "netiod did not start"
}

# "frames utime stime kicks tx_polls rx_full turns sleeps cpu1_user cpu1_system cpu1_softirq
#  cpu1_idle": netiod's lan port, its process (ticks), netio.ko's bindings, its worker's turns and
# sleeps, and what CPU 1 did (/proc/stat ticks: a softirq that interrupts netiod is charged to
# netiod's system time, as without IRQ_TIME_ACCOUNTING its run time too)
counters() {
	st=$(ctl -j stats)
	echo "$(echo "$st" | jq '[.workers[].ports[] | select(.name == "lan") | .rx_packets] | add')" \
		"$(awk '{ print $14, $15 }' "/proc/$NETIOD/stat")" \
		"$(gw "$O/netiod/netioctl" -j kernel list | jq -r '[.[] | .stats] |
			"\(map(.tx_kicks) | add) \(map(.tx_polls) | add) \(map(.rx_full) | add)"')" \
		"$(echo "$st" | jq -r '.workers[0] | "\(.loops) \(.idle_sleeps)"')" \
		"$(awk '$1 == "cpu1" { print $2 + $3, $4, $7 + $8, $5 + $6 }' /proc/stat)"
}

flood() { # seconds: pktgen flat out for that long -> "before" and "after" counters in $W
	counters >"$W/before"
	ip netns exec $L sh -c 'echo start >/proc/net/pktgen/pgctrl' &
	pgpid=$!
	sleep "$1"
	ip netns exec $L sh -c 'echo stop >/proc/net/pktgen/pgctrl'
	wait "$pgpid"
	counters >"$W/after"
}

ticks_part() {
	hz=$(getconf CLK_TCK)
	CS=/sys/devices/system/clocksource/clocksource0
	cs0=$(cat $CS/current_clocksource)
	echo "#### netiod on the kmod port at saturation (pktgen, 60 B, ${DUR} s): where its process's CPU goes"
	echo
	echo "Clocksources: $(cat $CS/available_clocksource) (current: $cs0). Rows: the clocksource the flood ran with."
	echo
	echo "| clocksource | frames netiod received | netiod user µs per frame | netiod system µs per frame | CPU 1 busy: user / system / irq+softirq (ticks) | worker turns per 1000 | worker sleeps per 1000 | TX kicks per 1000 | TX timer drains per 1000 | RX ring full per 1000 |"
	echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"
	# Every clock read (netiod's clock_gettime, the kernel's ktime_get) goes to the clocksource: the
	# VM's own is hpet (TCG's TSC is not trusted), an emulated device register, and clock_gettime
	# has no vDSO path for it (a system call each time)
	for cs in $cs0 tsc; do
		case " $(cat $CS/available_clocksource) " in *" $cs "*) ;; *) continue ;; esac
		echo "$cs" >$CS/current_clocksource || continue
		rmmod netio && insmod "$REPO/netio-kmod/netio.ko" || fail "could not reload netio.ko"
		start_netiod "$W/netiod.conf"
		flood "$DUR"
		stop_netiod
		cat "$W/before" "$W/after" | tr '\n' ' ' | awk -v hz="$hz" -v cs="$cs" '{
			f = $13 - $1; if (f <= 0) { printf "| %s | 0 (netiod received nothing) |\n", cs; exit }
			b = ($21 - $9) + ($22 - $10) + ($23 - $11)
			printf "| %s | %d | %.1f | %.1f | %.2f / %.2f / %.2f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", cs,
				f, ($14 - $2) * 1e6 / hz / f, ($15 - $3) * 1e6 / hz / f, ($21 - $9) / b, ($22 - $10) / b,
				($23 - $11) / b, ($19 - $7) * 1000 / f, ($20 - $8) * 1000 / f, ($16 - $4) * 1000 / f,
				($17 - $5) * 1000 / f, ($18 - $6) * 1000 / f }'
	done
	echo "$cs0" >$CS/current_clocksource
}

syscalls_part() {
	# The same flood, netiod's system calls counted by the kernel (a hist trigger on the
	# raw_syscalls tracepoint, its threads only: strace would slow each call down).
	# What one clock read costs on CPU 1 against another system call, idle and beside a flood
	# (pktgen on CPU 0; netiod stopped, what reaches the gateway is dropped)
	callcost() { # label
		taskset -c 1 python3 -c 'import os, time
def cost(f, n = 3000):
    for _ in range(n): f() # TCG translates the code on its first run: not timed
    t = time.perf_counter_ns()
    for _ in range(n): f()
    return (time.perf_counter_ns() - t) / n / 1000
print("| %s | %.1f | %.1f |" % ("'"$1"'", cost(time.monotonic_ns), cost(os.getppid)))'
	}
	echo
	echo "One system call on CPU 1, µs (3000 of each after 3000 untimed, timed by the same clock):"
	echo
	echo "| while | clock_gettime (CLOCK_MONOTONIC) | getppid |"
	echo "|---|---:|---:|"
	callcost idle
	ip netns exec $L sh -c 'echo start >/proc/net/pktgen/pgctrl' &
	pgpid=$!
	sleep 1
	callcost "pktgen flat out on CPU 0"
	ip netns exec $L sh -c 'echo stop >/proc/net/pktgen/pgctrl'
	wait "$pgpid"
	TR=/sys/kernel/tracing
	[ -d $TR/events ] || mount -t tracefs nodev $TR || fail "no tracefs"
	rmmod netio && insmod "$REPO/netio-kmod/netio.ko" || fail "could not reload netio.ko"
	start_netiod "$W/netiod.conf"
	filter=$(for t in /proc/"$NETIOD"/task/*; do printf 'common_pid == %s || ' "${t##*/}"; done)
	trig="hist:keys=id.syscall:vals=hitcount:sort=hitcount.descending if ${filter% || }"
	echo "$trig" >$TR/events/raw_syscalls/sys_enter/trigger || fail "hist trigger: $trig"
	flood "$DUR"
	cp $TR/events/raw_syscalls/sys_enter/hist "$W/hist"
	echo "!$trig" >$TR/events/raw_syscalls/sys_enter/trigger
	stop_netiod
	frames=$(cat "$W/before" "$W/after" | tr '\n' ' ' | awk '{ print $13 - $1 }')
	echo
	echo "System calls of netiod's threads during the same flood (${DUR} s; $frames frames received):"
	echo
	echo "| system call | calls per 1000 frames |"
	echo "|---|---:|"
	sed -n 's/^{ id: *\([a-z_0-9]*\) .*hitcount: *\([0-9]*\).*/\1 \2/p' "$W/hist" |
		awk -v f="$frames" 'f > 0 { printf "| %s | %.1f |\n", $1, $2 * 1000 / f }'
	grep -q hitcount "$W/hist" || { echo; sed 's/^/    /' "$W/hist" | tail -n 5; }
}

cg_part() {

	# The same flood under callgrind: the worker's instructions only (worker_main and below).
	rmmod netio && insmod "$REPO/netio-kmod/netio.ko" || fail "could not reload netio.ko"
	start_netiod "$W/netiod-cg.conf" valgrind --tool=callgrind --collect-atstart=no --toggle-collect=worker_main \
		--callgrind-out-file="$W/cg.out"
	flood "$DUR"
	# shellcheck disable=SC2046
	set -- $(cat "$W/before" "$W/after")
	frames=$((${13} - $1))
	stop_netiod
	[ -s "$W/cg.out" ] || fail "callgrind wrote nothing"
	[ "$frames" -gt 0 ] || fail "netiod received nothing under callgrind"
	cp "$W/cg.out" "$O/vm/kmod_profile.cg.out" # for callgrind_annotate on the host
	echo
	echo "Under callgrind (the same flood, ${DUR} s; $frames frames received): instructions per frame in netiod's worker, inclusive"
	echo
	echo "| instructions per frame | function |"
	echo "|---:|---|"
	callgrind_annotate --inclusive=yes "$W/cg.out" 2>"$W/cga.err" | grep -E '^ *[0-9,]+ \(' | head -n 30 |
		awk -v n="$frames" '{ v = $1; gsub(",", "", v)
			sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); sub(/ \[.*\]$/, ""); printf "| %.0f | %s |\n", v / n, $0 }'
	echo
	echo "Self (exclusive) instructions per frame, top 20:"
	echo
	echo "| instructions per frame | function |"
	echo "|---:|---|"
	callgrind_annotate "$W/cg.out" 2>>"$W/cga.err" | grep -E '^ *[0-9,]+ \(' | head -n 20 |
		awk -v n="$frames" '{ v = $1; gsub(",", "", v)
			sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); sub(/ \[.*\]$/, ""); printf "| %.0f | %s |\n", v / n, $0 }'
	[ ! -s "$W/cga.err" ] || { echo; sed 's/^/    /' "$W/cga.err"; }
}

# "forwarded busy total": frames gw-wan sent, CPU 1's busy and total ticks (/proc/stat, idle
# being measured under NO_HZ), at one instant
fwd_counters() {
	echo "$(gw cat /sys/class/net/gw-wan/statistics/tx_packets)" \
		"$(awk '$1 == "cpu1" { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)"
}

# One setup flooded twice: DUR s without perf (the ratio), then DUR s with perf sampling CPU 1
# (where it goes); both after 1 s of flood, so the rings and the backlog are full.
perf_flood() { # setup
	ip netns exec $L sh -c 'echo start >/proc/net/pktgen/pgctrl' &
	pgpid=$!
	sleep 1
	fwd_counters >"$W/p0"
	sleep "$DUR"
	fwd_counters >"$W/p1"
	HOME=$W perf record -q -N -e cpu-clock -c "$PERIOD_NS" -C 1 -g -o "$W/perf.$1" -- sleep "$DUR" \
		>"$W/perf.$1.log" 2>&1 || fail "perf record: $(tail -n 3 "$W/perf.$1.log")"
	fwd_counters >"$W/p2"
	ip netns exec $L sh -c 'echo stop >/proc/net/pktgen/pgctrl'
	wait "$pgpid"
	cat "$W/p0" "$W/p1" "$W/p2" | tr '\n' ' ' >"$W/pc.$1"
	echo >>"$W/pc.$1"
}

# perf's report of one setup, made while its module is loaded (perf resolves the module's
# symbols from /proc/kallsyms): perf gives the split of CPU 1's busy samples (idle: the halt and
# the idle loop, left out), the flood without perf the total, busy µs of CPU 1 per frame
# forwarded; each row is its share of that total. By self samples, with callees (children), and
# by task and binary.
IDLE='clear_bss|common_startup|x86_64_start|default_idle|safe_halt|do_idle|cpu_idle|cpuidle|amd_e400_idle|arch_cpu_idle|start_secondary|secondary_startup|cpu_startup_entry|rest_init|start_kernel'
perf_table() { # setup
	rep() {
		f=$W/perf.$1
		shift
		HOME=$W perf report -i "$f" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep %
	}
	rep "$1" -n --no-children --sort sym >"$W/self.$1"
	rep "$1" --children --sort sym >"$W/children.$1"
	rep "$1" -n --no-children --sort comm,dso >"$W/comm.$1"
	# "total idle": samples
	awk -v idle="$IDLE" '{ t += $2 } $0 ~ idle { i += $2 } END { print t + 0, i + 0 }' "$W/self.$1" >"$W/ptotal.$1"
	u=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($4 > $1) ? ($5 - $2) / hz * 1e6 / ($4 - $1) : 0 }' "$W/pc.$1")
	# shellcheck disable=SC2046
	set -- "$1" "$u" $(cat "$W/ptotal.$1")
	{
		echo
		echo "$1: $(printf %.1f "$2") µs of CPU 1 busy per frame forwarded; $3 samples under perf, $4 of them idle. By symbol, self, top 30:"
		echo
		echo "| µs per frame | % of busy | symbol |"
		echo "|---:|---:|---|"
		awk -v u="$2" -v b="$(($3 - $4))" -v idle="$IDLE" '$0 ~ idle { next } ++k <= 30 {
			n = $2; sub(/^ *[0-9.]+% +[0-9]+ +/, ""); printf "| %.2f | %.1f | %s |\n", n / b * u, 100 * n / b, $0 }' "$W/self.$1"
		echo
		echo "$1, by symbol with its callees (children), top 45:"
		echo
		echo "| µs per frame | % of busy | symbol |"
		echo "|---:|---:|---|"
		awk -v u="$2" -v t="$3" -v b="$(($3 - $4))" -v idle="$IDLE" '$0 ~ idle { next } ++k <= 45 {
			pc = $1; sub(/%/, "", pc); n = pc / 100 * t; sub(/^ *[0-9.]+% +[0-9.]+% +/, "")
			printf "| %.2f | %.1f | %s |\n", n / b * u, 100 * n / b, $0 }' "$W/children.$1"
		echo
		echo "$1, by task and binary (idle included):"
		echo
		echo "| µs per frame | % of busy | task | binary |"
		echo "|---:|---:|---|---|"
		awk -v u="$2" -v b="$(($3 - $4))" '{ printf "| %.2f | %.1f | %s | %s |\n", $2 / b * u, 100 * $2 / b, $3, $4 }' "$W/comm.$1"
	} >"$W/rep.$1"
}

perf_part() {
	PERIOD_NS=${VB_PROFILE_PERIOD_NS:-500000}
	echo
	echo "#### The gateway CPU at saturation, sampled by perf (cpu-clock every $((PERIOD_NS / 1000)) µs on CPU 1; pktgen, 60 B, ${DUR} s)"
	echo
	echo "VM: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); meltdown: $(cat /sys/devices/system/cpu/vulnerabilities/meltdown);" \
		"spectre_v2: $(cat /sys/devices/system/cpu/vulnerabilities/spectre_v2); clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource);" \
		"init_on_alloc: $(grep -o 'init_on_alloc=[0-9]*' /proc/cmdline || echo default); cmdline: $(sed 's/NETIO_[A-Z_]*=[^ ]* *//g' /proc/cmdline)"
	setups="kernel netiod-kmod"
	[ -z "${VB_NETIO_KO_ALT:-}" ] || setups="$setups netiod-kmod:alt"
	for s in $setups; do
		case $s in
		kernel)
			gw sysctl -qw net.ipv4.ip_forward=1
			perf_flood "$s"
			perf_table "$s"
			gw sysctl -qw net.ipv4.ip_forward=0
			;;
		*)
			ko=$REPO/netio-kmod/netio.ko
			[ "$s" = netiod-kmod ] || ko=$VB_NETIO_KO_ALT
			rmmod netio && insmod "$ko" || fail "could not load $ko"
			start_netiod "$W/netiod.conf"
			perf_flood "$s"
			perf_table "$s"
			stop_netiod
			rmmod netio && insmod "$REPO/netio-kmod/netio.ko" || fail "could not reload netio.ko"
			;;
		esac
	done
	echo
	echo "| setup | frames forwarded in ${DUR} s | CPU 1 busy | kpps per CPU-1-second | / kernel | while perf ran (longer than ${DUR} s): frames, CPU 1 busy |"
	echo "|---|---:|---:|---:|---:|---|"
	# pc.SETUP: "frames busy total" at 1 s, at 1 + DUR s (perf starts), at the end
	kpps() { awk -v hz="$(getconf CLK_TCK)" '{ b = $5 - $2; print (b > 0 ? ($4 - $1) / (b / hz) / 1000 : 0) }' "$W/pc.$1"; }
	k=$(kpps kernel)
	for s in $setups; do
		awk -v s="$s" -v v="$(kpps "$s")" -v k="$k" '{
			printf "| %s | %d | %.2f | %.1f | %s | %d, %.2f |\n", s, $4 - $1, ($5 - $2) / ($6 - $3), v,
				(k > 0 ? sprintf("%.2f", v / k) : "n/a"), $7 - $4, ($8 - $5) / ($9 - $6) }' "$W/pc.$s"
	done
	for s in $setups; do
		cat "$W/rep.$s"
	done
}

for p in $PARTS; do
	"${p}_part"
done

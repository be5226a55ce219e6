#!/bin/sh
# veth testbed: gen -> gateway -> sink namespaces; MRR, zero-loss rate and packets per gateway CPU-second.
# usage: vethbench.sh BUILD_DIR   (root; env: VB_RUNS=5 VB_DUR=2 VB_STEPS=6 VB_SETUPS VB_SETUPS_1518
#   VB_GEN=trafgen|pktgen)
#   VB_STEPS=0 skips the zero-loss search. Setup netiod-kmod (netiod with driver "kmod", null
#   chain) needs /dev/netio and VB_NETIO_KO, the module reloaded after each run to drop the
#   binding and its claims (which would otherwise hold the frames of the next setup).
#   A setup "netiod:nospin" runs netiod with spin-us = 0 (no busy-polling when idle), "netiod:spinN"
#   with spin-us = N, "netiod:burstN" with burst = N;
#   "netiod-kmod:cb0", "netiod-kmod:poll20" set netio.ko's tx_copybreak, tx_poll_us (ablations).
#   Setup netiod-afxdp runs netiod with driver "afxdp" (its XDP program on the gateway's veths,
#   AF_XDP sockets in copy mode), detached again after the run; netiod-afxdp:nospin the same
#   with spin-us = 0, netiod-afxdp:busy with poll = "busy" (the worker never sleeps),
#   netiod-afxdp:napi with poll = "napi" (busy, and the sockets busy-poll the veths' receive).
#   Setup xsk_fwd is the AF_XDP ceiling (tests/bench/xsk_fwd.c: the bare copy-mode forwarder,
#   sleeping in poll(2) when idle); xsk_fwd:rxonly receives and recycles without transmitting
#   (its received count is the loop's own: nothing reaches the sink); xsk_fwd:busy never
#   sleeps; xsk_fwd:napN naps N us when idle instead of poll(2), so each turn finds a batch
#   (fewest CPU-seconds per frame: no wake-up per frame); xsk_fwd:rxonly+napN both.
#
# Gateway CPU: veth hands a frame to the receiver's backlog on the sender's CPU and the softirq
# runs in the sender's context, so the kernel's gateway work (receive, and with ip_forward the
# forwarding and the sink's receive) is charged to trafgen. It is measured as the CPU time
# (schedstat, ns, blind to other load) of trafgen's processes and the generator CPU's ksoftirqd,
# minus the same per offered packet in a "drop" round of the same run (the gateway's kernel drops
# every frame: ip_forward=0, no forwarder), plus everything the gateway CPU, where the forwarder
# is pinned, did meanwhile (snap).
#
# VB_GEN=pktgen (the VM: pktgen.ko loaded; trafgen under QEMU/TCG offers only 5-26 kpps, so no
# gateway is ever saturated) generates in the kernel on the generator CPU instead, and RPS on the
# gateway's ingress veth hands every frame to the gateway CPU's backlog: the kernel's receive and
# ip_forward, netio.ko's rx_handler copy and the forwarder all run on the gateway CPU, whatever
# the setup (the sink's receive is steered to the generator CPU). The gateway CPU is then simply
# everything /proc/stat says that CPU did (no drop round, no baseline), for every setup alike;
# each row also shows which CPU's backlog processed the frames (/proc/net/softnet_stat), the
# check that the kernel's forward ran there. Both ways read their counters through one snap().
# A CPU cost that is not positive gives "n/a" packets per CPU-s, left out of medians and ratios.
set -u
O=$(cd "${1:?usage: vethbench.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=vethbench
export O
. "$here/../netns/lib.sh"
trap 'cleanup; exit 1' INT TERM

RUNS=${VB_RUNS:-5}
DUR=${VB_DUR:-2}
STEPS=${VB_STEPS:-6}
SETUPS=${VB_SETUPS:-kernel afp_fwd xsk_fwd xsk_fwd:rxonly xsk_fwd:nap200 xsk_fwd:rxonly+nap200 netiod netiod-afxdp netiod-afxdp:nospin netiod-afxdp:busy netiod-afxdp:napi netiod:nospin netiod:mark netiod:tunnel netiod:mark+qos+crypto+tunnel}
SETUPS_1518=${VB_SETUPS_1518-kernel afp_fwd netiod netiod-afxdp}
GEN=${VB_GEN:-trafgen}
GEN_CPU=0
GW_CPU=$(($(nproc) - 1))
LANDEV=gw-lan
WANDEV=gw-wan
SINK_IP=198.51.100.99 # nobody has it: the sink's kernel drops the frames without an answer
RES="$WORK/results"
FWD_PID=
RX_COUNTER= # a setup's received count is this file's first u64 (xsk_fwd -c), not the sink's

[ "$GW_CPU" -ge 1 ] || fail "needs two CPUs"
taskset -pc "$GEN_CPU" $$ >/dev/null # this shell and trafgen on one CPU, the gateway on the other

mac_of() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }

# A process parked in each end namespace, so their counters can be read from /proc/PID/net/dev.
anchor() {
	ip netns exec "$1" sleep 3600 >/dev/null 2>&1 &
	echo $!
}

link_up() { # ns dev
	ip -n "$1" link set "$2" up
	no_offload "$1" "$2"
}

setup() {
	for ns in "$NS_LAN" "$NS_GW" "$NS_WAN"; do
		ip netns add "$ns" || fail "ip netns add $ns"
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0
		ip -n "$ns" link set lo up
	done
	ip link add eth0 netns "$NS_LAN" type veth peer name "$LANDEV" netns "$NS_GW"
	ip link add eth0 netns "$NS_WAN" type veth peer name "$WANDEV" netns "$NS_GW"
	for x in "$NS_LAN eth0" "$NS_GW $LANDEV" "$NS_GW $WANDEV" "$NS_WAN eth0"; do
		# shellcheck disable=SC2086
		link_up $x
	done
	ip -n "$NS_GW" addr add 192.0.2.1/24 dev "$LANDEV"
	ip -n "$NS_GW" addr add 198.51.100.1/24 dev "$WANDEV"
	ip -n "$NS_WAN" addr add 198.51.100.10/24 dev eth0
	GWLAN_MAC=$(mac_of "$NS_GW" "$LANDEV")
	GEN_MAC=$(mac_of "$NS_LAN" eth0)
	SINK_MAC=$(mac_of "$NS_WAN" eth0)
	ip -n "$NS_GW" neigh add "$SINK_IP" lladdr "$SINK_MAC" dev "$WANDEV" nud permanent
	[ "$GEN" = trafgen ] || pg_setup
	SOFTIRQ_PID=$(ps -e -o pid=,comm= | awk -v d="ksoftirqd/$GEN_CPU" '$2 == d { print $1 }')
	GW_SOFTIRQ_PID=$(ps -e -o pid=,comm= | awk -v d="ksoftirqd/$GW_CPU" '$2 == d { print $1 }')
	GEN_PID=$(anchor "$NS_LAN")
	SINK_PID=$(anchor "$NS_WAN")
	od -An -tx1 -N 20 /dev/urandom | tr -d ' \n' >"$WORK/bench.key"
	chmod 600 "$WORK/bench.key"
}

# trafgen config: SIZE-byte frames (no FCS) from gen to SINK_IP, 256 UDP flows (sport 1024-1279).
tg_conf() {
	cat >"$WORK/tg-$1.cfg" <<EOF
{ $(echo "$GWLAN_MAC" | sed 's/^/0x/; s/:/, 0x/g'), $(echo "$GEN_MAC" | sed 's/^/0x/; s/:/, 0x/g'), 0x08, 0x00,
  0x45, 0x00, c16($(($1 - 14))), 0x00, 0x00, 0x40, 0x00, 64, 17, csumip(14, 33),
  192, 0, 2, 10, $(echo "$SINK_IP" | tr . ,),
  0x04, dinc(0, 255), 0x00, 0x09, c16($(($1 - 34))), 0x00, 0x00,
  fill(0x5a, $(($1 - 42))) }
EOF
}

dev_pkts() { # pid rx|tx|txall: eth0 packets in that process's namespace (txall: sent + dropped)
	awk -v f="$2" '$1 == "eth0:" { print (f == "rx") ? $3 : (f == "tx") ? $11 : $11 + $13 }' "/proc/$1/net/dev"
}

# pktgen in the lan namespace (its kpktgend_GEN_CPU thread): SIZE-byte frames to SINK_IP, 256
# UDP flows (sport 1024-1279), as trafgen's. RPS on the gateway's ingress veth: every frame is
# received on the gateway CPU (veth queues it on the backlog of the CPU RPS picks).
pg() { # file command
	ip netns exec "$NS_LAN" sh -c "echo '$2' >/proc/net/pktgen/$1" || fail "pktgen: $1: $2"
}

pg_setup() {
	ip netns exec "$NS_LAN" test -w /proc/net/pktgen/pgctrl || fail "no pktgen (modprobe pktgen)"
	pg "kpktgend_$GEN_CPU" rem_device_all
	pg "kpktgend_$GEN_CPU" "add_device eth0"
	for c in "clone_skb 0" "burst 1" "dst $SINK_IP" "dst_mac $GWLAN_MAC" "src_min 192.0.2.10" \
		"src_max 192.0.2.10" "udp_src_min 1024" "udp_src_max 1279" "udp_dst_min 9" "udp_dst_max 9"; do
		pg eth0 "$c"
	done
	ip netns exec "$NS_GW" sh -c "echo $(printf %x $((1 << GW_CPU))) >/sys/class/net/$LANDEV/queues/rx-0/rps_cpus" ||
		fail "could not steer $LANDEV's receive to CPU $GW_CPU (RPS)"
	# The sink's receive is no gateway work: on the generator CPU. On the gateway CPU it would
	# share that CPU's backlog (netdev_max_backlog frames) with the generator's flood, and a
	# forwarder that transmits outside the backlog's processing (netiod's kicks, netio.ko's TX
	# timer) would find it full and lose what it sent (netio.ko's tx_errors).
	ip netns exec "$NS_WAN" sh -c "echo $(printf %x $((1 << GEN_CPU))) >/sys/class/net/eth0/queues/rx-0/rps_cpus" ||
		fail "could not steer the sink's receive to CPU $GEN_CPU (RPS)"
}

tg_pids() { ps -e -o pid=,pgid= | awk -v g="$TG_PID" '$2 == g { print $1 }'; }

# One line, read by one process at one instant (under TCG the generator CPU is flat out, and
# a shell that forks once per counter read them hundreds of ms apart):
# "time gen_tx received generator_side_ns gateway_cpu_ns forwarder_own_ns generator_cpu_ns
#  gw_backlog_frames gen_backlog_frames gw_backlog_drops forwarder_process_ns"
# - time: /proc/uptime (10 ms), the CPUs' own clock. A CPU's busy time is that clock minus its
#   idle, iowait and steal time: busy time read from /proc/stat's user..softirq ticks misses
#   every tick a vCPU under QEMU/TCG did not get (the host ran something else), while the idle
#   time is measured (NO_HZ).
# - received: the sink's eth0, or the loop's own count (RX_COUNTER, xsk_fwd -c; od feeds it).
# - gateway_cpu_ns: everything the gateway CPU did, while a forwarder runs (pktgen: always). The
#   forwarder is pinned there, and the softirqs it leaves behind run there too, in its context
#   or, while it sleeps, in the idle task's (netio.ko's TX timer, a TX completion), where the
#   forwarder's own run time would not see them.
# - forwarder_own_ns: schedstat of the forwarder's threads and the gateway CPU's ksoftirqd
#   (blind to other load on that CPU; softirqs run in the forwarder's context, such as the
#   receiving stack inside a copy-mode sendto, are its time too); forwarder_process_ns the
#   forwarder's threads alone.
# - generator_side_ns: trafgen's processes and the generator CPU's ksoftirqd (schedstat), the
#   kernel's gateway work charged to trafgen (derive subtracts the drop round's); pktgen: 0.
# - gen_tx: with pktgen it counts what veth dropped too.
# - the backlog columns: /proc/net/softnet_stat's processed and dropped of either CPU.
snap() {
	side=0
	# shellcheck disable=SC2046
	side=
	[ "$GEN" = pktgen ] || side="$(tg_pids) $SOFTIRQ_PID"
	# shellcheck disable=SC2046,SC2086
	{ [ -z "$RX_COUNTER" ] || od -An -tu8 -N8 "$RX_COUNTER"; } | awk -v gw="cpu$GW_CPU" \
		-v gen="cpu$GEN_CPU" -v gwl=$((GW_CPU + 1)) -v genl=$((GEN_CPU + 1)) -v hz="$(getconf CLK_TCK)" \
		-v gwon="$([ "$GEN" = pktgen ] || [ -n "$FWD_PID" ] && echo 1)" -v pg="$([ "$GEN" = pktgen ] && echo 1)" \
		-v gdev="/proc/$GEN_PID/net/dev" -v sdev="/proc/$SINK_PID/net/dev" -v rxc="$RX_COUNTER" \
		-v sidef="$(for p in $side; do echo /proc/"$p"/task/*/schedstat; done)" \
		-v fwdf="$(for p in ${FWD_PID:-}; do echo /proc/"$p"/task/*/schedstat; done)" \
		-v sirqf="$([ -z "$FWD_PID" ] || echo "/proc/$GW_SOFTIRQ_PID/schedstat")" '
	function hex(x, i, v) {
		for (i = 1; i <= length(x); i++) v = v * 16 + index("0123456789abcdef", substr(x, i, 1)) - 1
		return v
	}
	function eth0(file, f, line) { # the eth0 counters in f (a byte count may run into the name)
		while ((getline line <file) > 0)
			if (sub(/^ *eth0:/, "", line)) { split(line, f, " "); close(file); return 1 }
		close(file)
		return 0
	}
	function ns(files, a, i, n, line, s) { # the run times in these schedstat files (gone: 0)
		n = split(files, a, " ")
		for (i = 1; i <= n; i++) {
			if ((getline line <a[i]) > 0) s += line + 0
			close(a[i])
		}
		return s
	}
	function busy(f) { return up - (f[5] + f[6] + f[9]) * 1e9 / hz }
	BEGIN {
		getline line <"/proc/uptime"
		up = line * 1e9
		while ((getline line <"/proc/stat") > 0) {
			split(line, f, " ")
			if (f[1] == gw) gwc = busy(f)
			if (f[1] == gen) genc = busy(f)
		}
		for (i = 1; (getline line <"/proc/net/softnet_stat") > 0; i++) {
			split(line, f, " ")
			if (i == gwl) { gwb = hex(f[1]); gwd = hex(f[2]) }
			if (i == genl) genb = hex(f[1])
		}
		if (eth0(gdev, f)) tx = f[10] + (pg ? f[12] : 0)
		if (eth0(sdev, f)) rx = f[2]
		proc = ns(fwdf)
		own = proc + ns(sirqf)
		side = ns(sidef)
		if (rxc != "") { getline line; rx = line + 0 }
		printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", up, tx, rx, side,
			(gwon ? gwc : 0), own, genc, gwb, genb, gwd, proc
	}'
}

# ------------------------------------------------------------------ the gateways

DRIVER=afpacket
netiod_conf() { # services... ("nospin": spin-us = 0, the worker sleeps as soon as it is idle;
	# "busy", "napi": poll = "busy" | "napi")
	case " $* " in *" nospin "*) printf 'spin-us = 0\n' ;; esac
	for w in "$@"; do
		case $w in
		spin[0-9]*) printf 'spin-us = %s\n' "${w#spin}" ;;
		burst[0-9]*) printf 'burst = %s\n' "${w#burst}" ;;
		esac
	done
	case " $* " in *" busy "*) printf 'poll = "busy"\n' ;; *" napi "*) printf 'poll = "napi"\n' ;; esac
	printf 'port lan { device = "%s" driver = "%s" }\n' "$LANDEV" "$DRIVER"
	printf 'port wan { device = "%s" driver = "%s" }\n' "$WANDEV" "$DRIVER"
	printf 'pipeline fwd {\n\tmatch { in = "lan" dst = "198.51.100.0/24" }\n'
	for s in "$@"; do
		case $s in
		mark) printf '\tservice mark { dscp = 10 }\n' ;;
		qos) printf '\tservice qos { policer all { cir = "100gbit" cbs = "64m" ebs = "64m" } }\n' ;;
		crypto) printf '\tservice crypto { sa out { spi = "0x1001" direction = "out" cipher = "aes128-gcm" key-file = "%s" local = "198.51.100.1" remote = "%s" } }\n' "$WORK/bench.key" "$SINK_IP" ;;
		tunnel) printf '\tservice tunnel { type = "vxlan" local = "198.51.100.1" remote = "%s" vni = 42 mtu = 9000 }\n' "$SINK_IP" ;;
		esac
	done
	printf '\tout = "wan"\n}\n'
}

start_netiod_pinned() { # services...
	netiod_conf "$@" >"$WORK/netiod.conf"
	ip netns exec "$NS_GW" taskset -c "$GW_CPU" "$O/netiod/netiod" -f -c "$WORK/netiod.conf" \
		-P "$O/services" -S "$SOCK" -s "$WORK" >>"$WORK/netiod.log" 2>&1 &
	NETIOD_PID=$!
	FWD_PID=$!
	for _ in $(seq 50); do
		ctl status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "netiod did not start ($*)"
}

# Ablations of netio.ko's module parameters: netiod-kmod:cbN sets tx_copybreak to N,
# netiod-kmod:pollN tx_poll_us to N (stop_gw reloads the module: the defaults come back);
# netiod-kmod:alt runs another build of the module, VB_NETIO_KO_ALT (two builds in one run).
kmod_params() { # setup words...
	for w in "$@"; do
		case $w in
		alt) rmmod netio && insmod "${VB_NETIO_KO_ALT:?VB_NETIO_KO_ALT must name netio.ko}" ||
			fail "could not load $VB_NETIO_KO_ALT" ;;
		cb[0-9]*) echo "${w#cb}" >/sys/module/netio/parameters/tx_copybreak ;;
		poll[0-9]*) echo "${w#poll}" >/sys/module/netio/parameters/tx_poll_us ;;
		esac
	done
}

# What the module did for one kmod run, summed over the bindings: "kc NAME SIZE RUN frames
# received wake-ups TX kicks TX timer drains RX-ring-full drops TX errors"
kmod_counters() { # name size run
	ip netns exec "$NS_GW" "$O/netiod/netioctl" -j kernel list 2>/dev/null | jq -r --arg k \
		"kc $1 $2 $3" '[.[] | .stats] | "\($k) \(map(.rx_packets) | add) \(map(.rx_wakeups) | add) \(map(.tx_kicks) | add) \(map(.tx_polls) | add) \(map(.rx_full) | add) \(map(.tx_errors) | add)"' >>"$RES"
}

# The bare AF_XDP forwarder, pinned like the others; words: rxonly, busy, napN (xsk_fwd.c).
start_xsk_fwd() { # words...
	opts=
	for w in "$@"; do
		case $w in
		rxonly) opts="$opts -r" ;;
		busy) opts="$opts -b" ;;
		nap[0-9]*) opts="$opts -n ${w#nap}" ;;
		esac
	done
	use_bpffs
	: >"$WORK/xsk_fwd.log"
	# shellcheck disable=SC2086
	ip netns exec "$NS_GW" taskset -c "$GW_CPU" "$O/tests/bench/xsk_fwd" $opts \
		-c "$WORK/xsk_fwd.cnt" "$LANDEV" "$WANDEV" "$SINK_MAC" 2>>"$WORK/xsk_fwd.log" &
	FWD_PID=$!
	XSK_UP=1
	case " $* " in *" rxonly "*) RX_COUNTER="$WORK/xsk_fwd.cnt" ;; esac
	ready "$FWD_PID" "$WORK/xsk_fwd.log" 'xsk_fwd: ready'
}

start_gw() { # kernel | afp_fwd | xsk_fwd [words] | netiod [services...]
	gw sysctl -qw net.ipv4.ip_forward=0
	FWD_PID=
	case $1 in
	drop) ;;
	kernel) gw sysctl -qw net.ipv4.ip_forward=1 ;;
	afp_fwd)
		ip netns exec "$NS_GW" taskset -c "$GW_CPU" "$O/tests/bench/afp_fwd" "$LANDEV" \
			"$WANDEV" "$SINK_MAC" 2>>"$WORK/afp_fwd.log" &
		FWD_PID=$!
		sleep 0.3
		;;
	xsk_fwd)
		shift
		start_xsk_fwd "$@"
		;;
	netiod)
		shift
		start_netiod_pinned "$@"
		;;
	netiod-afxdp)
		shift
		use_bpffs
		DRIVER=afxdp
		AFXDP_UP=1
		start_netiod_pinned "$@"
		DRIVER=afpacket
		;;
	netiod-kmod)
		shift
		kmod_params "$@"
		DRIVER=kmod
		KMOD_UP=1
		start_netiod_pinned "$@"
		DRIVER=afpacket
		;;
	esac
}

stop_gw() {
	if [ -n "$NETIOD_PID" ]; then
		stop_netiod
		if [ -n "${AFXDP_UP:-}" ]; then
			# the program stays after netiod (fail-mode): the next setup needs the devices bare
			for d in "$LANDEV" "$WANDEV"; do ip -n "$NS_GW" link set dev "$d" xdp off; done
			AFXDP_UP=
		fi
		if [ -n "${KMOD_UP:-}" ]; then
			rmmod netio && insmod "${VB_NETIO_KO:?VB_NETIO_KO must name netio.ko}" ||
				fail "could not reload netio.ko"
			KMOD_UP=
		fi
	elif [ -n "$FWD_PID" ]; then
		kill -TERM "$FWD_PID"
		wait "$FWD_PID" 2>/dev/null
	fi
	if [ -n "${XSK_UP:-}" ]; then
		[ -z "${VB_LOGS:-}" ] || cat "$WORK/xsk_fwd.log" >>"$VB_LOGS"
		# xsk_fwd detaches its program; a killed one would leave it
		for d in "$LANDEV" "$WANDEV"; do ip -n "$NS_GW" link set dev "$d" xdp off; done
		XSK_UP=
	fi
	FWD_PID=
	RX_COUNTER=
}

# ------------------------------------------------------------------ measurements

# trafgen in its own process group (it forks a sender per CPU), in the background -> TG_PID;
# or pktgen (VB_GEN=pktgen), TG_PID the writer of its "start", which returns when it is done.
tg() { # size rate(pps, 0 = flat out) count
	if [ "$GEN" = pktgen ]; then
		pg eth0 "pkt_size $1"
		pg eth0 "count $3"
		if [ "$2" -gt 0 ]; then pg eth0 "ratep $2"; else pg eth0 "delay 0"; fi
		setsid ip netns exec "$NS_LAN" sh -c 'echo start >/proc/net/pktgen/pgctrl' \
			>>"$WORK/pktgen.log" 2>&1 &
		TG_PID=$!
		return
	fi
	rate=
	[ "$2" -gt 0 ] && rate="-b ${2}pps"
	# shellcheck disable=SC2086
	setsid ip netns exec "$NS_LAN" trafgen -o eth0 -i "$WORK/tg-$1.cfg" -P 1 -Q -C -n "$3" \
		$rate >>"$WORK/trafgen.log" 2>&1 &
	TG_PID=$!
}

tg_stop() {
	[ "$GEN" = trafgen ] || ip netns exec "$NS_LAN" sh -c 'echo stop >/proc/net/pktgen/pgctrl'
	kill -INT "-$TG_PID" 2>/dev/null
	timeout 10 sh -c "while kill -0 $TG_PID 2>/dev/null; do sleep 0.1; done" ||
		kill -KILL "-$TG_PID" 2>/dev/null
	wait "$TG_PID" 2>/dev/null
}

tg_started() { # gen_tx_before: wait (<= VB_START_WAIT s, default 5) until gen's counter moves
	for _ in $(seq $((${VB_START_WAIT:-5} * 10))); do
		[ "$(dev_pkts "$GEN_PID" tx)" -gt "$1" ] && return 0
		sleep 0.1
	done
	fail "$GEN sent nothing: $(grep -v 'system socket memory' "$WORK/$GEN.log" 2>/dev/null | tail -n 5)"
}

# "offered_pps received_pps gateway_cpu_per_s generator_side_ns_per_offered_packet
# "offered_pps received_pps gateway_cpu_per_s generator_side_ns_per_offered_packet
#  forwarder_own_cpu_per_s generator_cpu_per_s gw_backlog_fps gen_backlog_fps gw_backlog_drops_ps
#  forwarder_process_cpu_per_s"
rates() { # snapA snapB
	echo "$1 $2" | awk '{
		dt = ($12 - $1) / 1e9; n = $13 - $2
		printf "%.0f %.0f %.4f %.1f %.4f %.4f %.0f %.0f %.0f %.4f\n", n / dt, ($14 - $3) / dt,
			($16 - $5) / 1e9 / dt, (n > 0 ? ($15 - $4) / n : 0), ($17 - $6) / 1e9 / dt,
			($18 - $7) / 1e9 / dt, ($19 - $8) / dt, ($20 - $9) / dt, ($21 - $10) / dt,
			($22 - $11) / 1e9 / dt }'
}

# "eff NAME SIZE RUN gateway_cpu_per_s packets_per_gateway_cpu_s cpu_per_s packets_per_cpu_s":
# the generator side's ns per packet above the drop round's (pktgen: none, no drop round),
# plus the gateway CPU (columns 5 and 6) or plus the forwarder's own time (7 and 8: blind to
# other load on the gateway CPU, but also to softirqs run there in the idle task's context).
# A CPU cost that is not positive (no forwarder process, or less than the drop round's) has
# no packets per CPU-s: "n/a".
derive() {
	awk -v g="$GEN" '$1 == "mrr" && $2 == "drop" { base[$3 " " $4] = $8 }
	     $1 == "mrr" { row[NR] = $0 }
	     END { for (i in row) { split(row[i], f, " "); b = base[f[3] " " f[4]]
		if (g == "pktgen") b = 0
		else if (f[2] == "drop" || b == "") continue
		cpu = f[7] + f[5] * (f[8] - b) / 1e9; own = f[9] + f[5] * (f[8] - b) / 1e9
		printf "eff %s %s %s %.3f %s %.3f %s\n", f[2], f[3], f[4], cpu, per(f[6], cpu),
			own, per(f[6], own) } }
	function per(n, c) { return c > 0 ? sprintf("%.0f", n / c) : "n/a" }' \
		"$RES" >>"$RES"
}

# MRR: trafgen flat out for DUR s once it runs -> one result line
mrr() { # name size run
	tg "$2" 0 100000000
	tg_started "$(dev_pkts "$GEN_PID" tx)"
	sleep 0.3
	a=$(snap)
	sleep "$DUR"
	b=$(snap)
	tg_stop
	echo "mrr $1 $2 $3 $(rates "$a" "$b")" >>"$RES"
	case $1 in netiod-kmod*) kmod_counters "$@" ;; esac
}

# One fixed-rate trial of exactly rate*DUR packets; prints the packets lost.
trial() { # size rate
	a=$(snap)
	tg "$1" "$2" $(($2 * DUR))
	timeout $((DUR * 4 + 5)) sh -c "while kill -0 $TG_PID 2>/dev/null; do sleep 0.1; done"
	tg_stop
	sleep 0.3
	b=$(snap)
	echo "$a $b" | awk '{ lost = ($13 - $2) - ($14 - $3); print (lost > 0 ? lost : 0) }'
}

# Highest zero-loss rate: a binary search on the offered rate between 0 and the setup's median
# MRR, a trial at each step, at most STEPS trials and no more once the bracket is within 1/32
# of the MRR (the first trial is at the MRR: a setup that loses nothing there is done).
ndr() { # name size run
	top=$(awk -v n="$1" -v s="$2" '$1 == "mrr" && $2 == n && $3 == s { print $6 }' "$RES" |
		sort -n | awk '{ v[NR] = $1 } END { print NR ? int(v[int((NR + 1) / 2)]) : 0 }')
	lo=0
	hi=$top
	rate=$hi
	for _ in $(seq "$STEPS"); do
		[ "$rate" -gt 0 ] || break
		if [ "$(trial "$2" "$rate")" -eq 0 ]; then lo=$rate; else hi=$rate; fi
		[ $((hi - lo)) -gt $((top / 32)) ] || break
		rate=$(((lo + hi) / 2))
	done
	echo "ndr $1 $2 $3 $lo" >>"$RES"
}

with_gw() { # setup fn args...: start the gateway, run fn, stop it
	s=$1
	shift
	# shellcheck disable=SC2046
	start_gw $(echo "$s" | tr ':+' '  ')
	"$@"
	stop_gw
}

# Low-load latency: 100 pings at 10/s from gen to the sink's address through an idle gateway;
# the requests take the setup's path, the replies the kernel's (netio.ko claims only what goes
# to 198.51.100.0/24 from lan, so the kernel may forward the rest: kernel and kmod setups only).
rtt() { # name run
	gw sysctl -qw net.ipv4.ip_forward=1
	# neighbours resolved first: the first ping through a fresh gateway waits for ARP
	ip netns exec "$NS_LAN" ping -n -i 0.2 -c 3 -W 1 198.51.100.10 >/dev/null 2>&1
	ip netns exec "$NS_LAN" ping -n -i 0.1 -c "${VB_PINGS:-100}" -W 1 198.51.100.10 2>/dev/null |
		sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g | awk -v n="$1" -v r="$2" '
		{ v[NR] = $1 * 1000 }
		END { if (NR) printf "rtt %s 0 %s %.0f %.0f %d\n", n, r, v[int((NR + 1) / 2)],
			v[int(NR * 0.99 + 0.999)], NR }' >>"$RES"
}

rtt_setup() {
	ip -n "$NS_LAN" addr add 192.0.2.10/24 dev eth0
	ip -n "$NS_LAN" route add 198.51.100.0/24 via 192.0.2.1
	ip -n "$NS_WAN" route add 192.0.2.0/24 via 198.51.100.1
}

# Rounds interleave the setups, so a ratio compares runs a few seconds apart.
run_all() {
	for r in $(seq "$RUNS"); do
		# (pktgen: no drop round, the gateway CPU needs no baseline)
		drop=drop
		[ "$GEN" = trafgen ] || drop=
		for s in $drop $SETUPS; do with_gw "$s" mrr "$s" 60 "$r"; done
		[ -z "$SETUPS_1518" ] || for s in $drop $SETUPS_1518; do with_gw "$s" mrr "$s" 1514 "$r"; done
	done
	case " $SETUPS " in *" netiod-kmod"*)
		rtt_setup
		for r in $(seq "$RUNS"); do
			for s in $SETUPS; do
				case $s in kernel | netiod-kmod*) with_gw "$s" rtt "$s" "$r" ;; esac
			done
		done
		;;
	esac
	[ "$STEPS" -gt 0 ] || return 0
	for r in $(seq "$RUNS"); do
		for s in $SETUPS; do with_gw "$s" ndr "$s" 60 "$r"; done
	done
}

# ------------------------------------------------------------------ tables

med() { # scale fmt: median (min–max) of the numbers on stdin ("n/a": no CPU cost, left out)
	sort -g | awk -v sc="$1" -v f="$2" '$1 == "n/a" { na++; next } { v[++n] = $1 * sc } END {
		if (!n) { print na ? "n/a" : "—"; exit }
		m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf f " (" f "–" f ")\n", m, v[1], v[n] }'
}

agg() { # kind name size col scale fmt
	awk -v k="$1" -v n="$2" -v s="$3" -v c="$4" '$1 == k && $2 == n && $3 == s { print $c }' "$RES" |
		med "$5" "$6"
}

# per-run ratio of setup a over setup b
ratio() { # a b size kind col (mrr 6: received pps, eff 6: packets per gateway CPU-s)
	awk -v a="$1" -v b="$2" -v s="$3" -v k="$4" -v c="$5" '$1 == k && $3 == s && ($2 == a || $2 == b) {
		if ($2 == a) x[$4] = $c; else y[$4] = $c }
		END { for (r in x) if (x[r] == "n/a" || y[r] == "n/a") print "n/a"
			else if (y[r] > 0) print x[r] / y[r] }' "$RES" | med 1 %.2f
}

table_mrr() { # size setups...
	size=$1
	shift
	printf '\n#### %s-byte frames (%s B with FCS), %s flat out: median (min–max) of %s runs of %s s\n\n' \
		"$size" $((size + 4)) "$GEN" "$RUNS" "$DUR"
	echo "| gateway | offered Mpps | received Mpps | gateway CPU-s per s | of which the gateway CPU | kpps per gateway CPU-s | of which forwarder's own | kpps per CPU-s, forwarder's own |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for s in "$@"; do
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$(agg mrr "$s" "$size" 5 1e-6 %.3f)" \
			"$(agg mrr "$s" "$size" 6 1e-6 %.3f)" "$(agg eff "$s" "$size" 5 1 %.2f)" \
			"$(agg mrr "$s" "$size" 7 1 %.2f)" "$(agg eff "$s" "$size" 6 1e-3 %.0f)" \
			"$(agg mrr "$s" "$size" 9 1 %.2f)" "$(agg eff "$s" "$size" 8 1e-3 %.0f)"
	done
	[ "$GEN" = pktgen ] || return 0
	printf '\nWhere it ran (%s B): generator CPU %s and gateway CPU %s busy (CPU-s per s); frames their backlogs processed, and backlog drops, per frame offered\n\n' \
		"$size" "$GEN_CPU" "$GW_CPU"
	echo "| gateway | generator CPU-s per s | gateway CPU-s per s | of which the forwarder process | backlog frames on the gateway CPU | on the generator CPU | backlog drops |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for s in "$@"; do
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$(agg mrr "$s" "$size" 10 1 %.2f)" \
			"$(agg mrr "$s" "$size" 7 1 %.2f)" "$(agg mrr "$s" "$size" 14 1 %.2f)" "$(per_offered "$s" "$size" 11)" \
			"$(per_offered "$s" "$size" 12)" "$(per_offered "$s" "$size" 13)"
	done
}

per_offered() { # name size col: that mrr column per frame offered, median (min–max)
	awk -v n="$1" -v s="$2" -v c="$3" '$1 == "mrr" && $2 == n && $3 == s && $5 > 0 { print $c / $5 }' "$RES" |
		med 1 %.2f
}

table_ndr() {
	printf '\n#### Highest zero-loss rate, 60-byte frames: binary search below the median MRR, at most %s trials of %s s (to 1/32 of the MRR), median (min–max) of %s searches\n\n' \
		"$STEPS" "$DUR" "$RUNS"
	echo "| gateway | zero-loss Mpps |"
	echo "|---|---:|"
	for s in $SETUPS; do
		printf '| %s | %s |\n' "$s" "$(agg ndr "$s" 60 5 1e-6 %.3f)"
	done
}

table_rtt() {
	printf '\n#### Ping RTT through an idle gateway, 10/s, requests through the setup, replies through the kernel: median over %s runs of %s pings (min–max), us\n\n' \
		"$RUNS" "${VB_PINGS:-100}"
	echo "| gateway | p50 | p99 | p99 added over the kernel (per run) |"
	echo "|---|---:|---:|---:|"
	for s in $SETUPS; do
		case $s in kernel | netiod-kmod*) ;; *) continue ;; esac
		printf '| %s | %s | %s | %s |\n' "$s" "$(agg rtt "$s" 0 5 1 %.0f)" "$(agg rtt "$s" 0 6 1 %.0f)" \
			"$(awk -v a="$s" '$1 == "rtt" && ($2 == a || $2 == "kernel") {
				if ($2 == a) x[$4] = $6; else y[$4] = $6 }
				END { for (r in x) if (r in y) print x[r] - y[r] }' "$RES" | med 1 %.0f)"
	done
}

table_targets() {
	printf '\n#### Targets: per-run ratios at MRR, median (min–max)\n\n'
	echo "| ratio | frames | packets per gateway CPU-s | received pps (MRR) | packets per CPU-s, forwarder's own time |"
	echo "|---|---|---:|---:|---:|"
	for size in 60 ${SETUPS_1518:+1514}; do
		echo "| R4: netiod null chain / kernel ip_forward (target ≥ 1.0 per CPU-s) | $size B | $(ratio netiod kernel $size eff 6) | $(ratio netiod kernel $size mrr 6) | $(ratio netiod kernel $size eff 8) |"
		echo "| R5: netiod afpacket port / bare TPACKET_V3 loop (target ≥ 0.9) | $size B | $(ratio netiod afp_fwd $size eff 6) | $(ratio netiod afp_fwd $size mrr 6) | $(ratio netiod afp_fwd $size eff 8) |"
		echo "| bare TPACKET_V3 loop / kernel ip_forward | $size B | $(ratio afp_fwd kernel $size eff 6) | $(ratio afp_fwd kernel $size mrr 6) | $(ratio afp_fwd kernel $size eff 8) |"
		case " $([ "$size" = 60 ] && echo "$SETUPS" || echo "$SETUPS_1518") " in *" netiod:nospin "*)
			echo "| R4, spin-us 0: netiod:nospin / kernel ip_forward | $size B | $(ratio netiod:nospin kernel $size eff 6) | $(ratio netiod:nospin kernel $size mrr 6) | $(ratio netiod:nospin kernel $size eff 8) |"
			echo "| R5, spin-us 0: netiod:nospin / bare TPACKET_V3 loop | $size B | $(ratio netiod:nospin afp_fwd $size eff 6) | $(ratio netiod:nospin afp_fwd $size mrr 6) | $(ratio netiod:nospin afp_fwd $size eff 8) |" ;;
		esac
		case " $([ "$size" = 60 ] && echo "$SETUPS" || echo "$SETUPS_1518") " in *" xsk_fwd "*)
			echo "| bare AF_XDP loop / kernel ip_forward | $size B | $(ratio xsk_fwd kernel $size eff 6) | $(ratio xsk_fwd kernel $size mrr 6) | $(ratio xsk_fwd kernel $size eff 8) |"
			echo "| netiod afxdp port / bare AF_XDP loop | $size B | $(ratio netiod-afxdp xsk_fwd $size eff 6) | $(ratio netiod-afxdp xsk_fwd $size mrr 6) | $(ratio netiod-afxdp xsk_fwd $size eff 8) |" ;;
		esac
		case " $([ "$size" = 60 ] && echo "$SETUPS" || echo "$SETUPS_1518") " in *" xsk_fwd:nap200 "*)
			echo "| bare AF_XDP loop napping 200 us when idle (batches) / kernel ip_forward | $size B | $(ratio xsk_fwd:nap200 kernel $size eff 6) | $(ratio xsk_fwd:nap200 kernel $size mrr 6) | $(ratio xsk_fwd:nap200 kernel $size eff 8) |" ;;
		esac
		case " $SETUPS " in *" netiod-afxdp "*)
			echo "| afxdp port: netiod-afxdp null chain / kernel ip_forward (target ≥ 1.0 per CPU-s) | $size B | $(ratio netiod-afxdp kernel $size eff 6) | $(ratio netiod-afxdp kernel $size mrr 6) | $(ratio netiod-afxdp kernel $size eff 8) |"
			echo "| netiod afxdp port / netiod afpacket port | $size B | $(ratio netiod-afxdp netiod $size eff 6) | $(ratio netiod-afxdp netiod $size mrr 6) | $(ratio netiod-afxdp netiod $size eff 8) |" ;;
		esac
		case " $SETUPS " in *" netiod-afxdp:nospin "*)
			echo "| afxdp port, spin-us 0: netiod-afxdp:nospin / kernel ip_forward | $size B | $(ratio netiod-afxdp:nospin kernel $size eff 6) | $(ratio netiod-afxdp:nospin kernel $size mrr 6) | $(ratio netiod-afxdp:nospin kernel $size eff 8) |" ;;
		esac
		for m in busy napi; do
			case " $SETUPS " in *" netiod-afxdp:$m "*)
				echo "| afxdp port, poll $m: netiod-afxdp:$m / kernel ip_forward | $size B | $(ratio netiod-afxdp:$m kernel $size eff 6) | $(ratio netiod-afxdp:$m kernel $size mrr 6) | $(ratio netiod-afxdp:$m kernel $size eff 8) |"
				echo "| afxdp port, poll $m / poll sleep (the default) | $size B | $(ratio netiod-afxdp:$m netiod-afxdp $size eff 6) | $(ratio netiod-afxdp:$m netiod-afxdp $size mrr 6) | $(ratio netiod-afxdp:$m netiod-afxdp $size eff 8) |" ;;
			esac
		done
		case " $SETUPS " in *" netiod-kmod "*) ;; *) continue ;; esac
		echo "| R4 on the kmod port: netiod-kmod null chain / kernel ip_forward (target ≥ 1.0 per CPU-s) | $size B | $(ratio netiod-kmod kernel $size eff 6) | $(ratio netiod-kmod kernel $size mrr 6) | $(ratio netiod-kmod kernel $size eff 8) |"
		echo "| netiod kmod port / netiod afpacket port | $size B | $(ratio netiod-kmod netiod $size eff 6) | $(ratio netiod-kmod netiod $size mrr 6) | $(ratio netiod-kmod netiod $size eff 8) |"
		case " $SETUPS " in *" netiod-kmod:nospin "*) ;; *) continue ;; esac
		echo "| R4, kmod port, spin-us 0: netiod-kmod:nospin / kernel ip_forward | $size B | $(ratio netiod-kmod:nospin kernel $size eff 6) | $(ratio netiod-kmod:nospin kernel $size mrr 6) | $(ratio netiod-kmod:nospin kernel $size eff 8) |"
		echo "| kmod port / afpacket port, both spin-us 0 | $size B | $(ratio netiod-kmod:nospin netiod:nospin $size eff 6) | $(ratio netiod-kmod:nospin netiod:nospin $size mrr 6) | $(ratio netiod-kmod:nospin netiod:nospin $size eff 8) |"
	done
}

ns_per() { # setup col: ns per frame received, per run (eff 6: gateway CPU, 8: forwarder's own)
	awk -v n="$1" -v c="$2" '$1 == "eff" && $2 == n && $3 == 60 && $c + 0 > 0 { print 1e9 / $c }' "$RES"
}

ns_diff() { # a b col: per run, a's ns per frame minus b's
	awk -v a="$1" -v b="$2" -v c="$3" '$1 == "eff" && $3 == 60 && $c + 0 > 0 && ($2 == a || $2 == b) {
		if ($2 == a) x[$4] = 1e9 / $c; else y[$4] = 1e9 / $c }
		END { for (r in x) if (r in y) print x[r] - y[r] }' "$RES" | med 1 %.0f
}

# What the AF_XDP setups spend per frame received (the sink's count, or for rxonly the loop's
# own), and per run the difference to a counterpart: the copy-mode transmit (xsk_fwd[:napN] -
# xsk_fwd:rxonly[+napN]), netiod's share (netiod-afxdp - xsk_fwd).
table_xsk() {
	printf '\n#### AF_XDP setups at MRR, 60 B: ns of CPU per frame received, median (min–max)\n\n'
	echo "| setup | ns per frame, gateway CPU | ns per frame, forwarder's own | per-run difference (forwarder's own) |"
	echo "|---|---:|---:|---|"
	for s in $SETUPS; do
		case $s in kernel | xsk_fwd* | netiod-afxdp*) ;; *) continue ;; esac
		case $s in
		xsk_fwd) d="xsk_fwd:rxonly" ;;
		xsk_fwd:nap*) d="xsk_fwd:rxonly+${s#xsk_fwd:}" ;;
		netiod-afxdp) d="xsk_fwd" ;;
		*) d= ;;
		esac
		case " $SETUPS " in *" $d "*) diff="$(ns_diff "$s" "$d" 8) over $d" ;; *) diff=— ;; esac
		printf '| %s | %s | %s | %s |\n' "$s" "$(ns_per "$s" 6 | med 1 %.0f)" \
			"$(ns_per "$s" 8 | med 1 %.0f)" "$diff"
	done
}

kc_per() { # setup column: that kc column per 1000 frames received, median (min–max)
	awk -v n="$1" -v c="$2" '$1 == "kc" && $2 == n && $5 > 0 { print 1000 * $c / $5 }' "$RES" | med 1 %.0f
}

# Each kmod setup (ablations among them) against the kernel in the same runs, and what netio.ko
# did per 1000 frames it received (the whole run: start, the MRR window, stop).
table_kmod() {
	printf '\n#### kmod setups at MRR, 60 B: per-run ratios to the kernel, median (min–max); netio.ko per 1000 frames received\n\n'
	echo "| setup | packets per gateway CPU-s / kernel | received pps / kernel | wake-ups | TX kicks | TX timer drains | RX ring full drops | TX errors |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for s in $SETUPS; do
		case $s in netiod-kmod*) ;; *) continue ;; esac
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$(ratio "$s" kernel 60 eff 6)" \
			"$(ratio "$s" kernel 60 mrr 6)" "$(kc_per "$s" 6)" "$(kc_per "$s" 7)" "$(kc_per "$s" 8)" \
			"$(kc_per "$s" 9)" "$(kc_per "$s" 10)"
	done
}

setup
tg_conf 60
tg_conf 1514
: >"$RES"
run_all
derive
[ -z "${VB_RESULTS:-}" ] || cp "$RES" "$VB_RESULTS"
table_mrr 60 $SETUPS
[ -z "$SETUPS_1518" ] || table_mrr 1514 $SETUPS_1518
[ "$STEPS" -eq 0 ] || table_ndr
table_targets
case " $SETUPS " in *" xsk_fwd"*) table_xsk ;; esac
case " $SETUPS " in *" netiod-kmod"*) table_kmod && table_rtt ;; esac

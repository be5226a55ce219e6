#!/bin/bash
# make soak: SOAK_SECONDS (default 3600) of mixed traffic through every service netiod ships,
# with reloads (good and bad), service replace and kill -9 + restart, then figures and verdict.
#
#   lan 192.0.2.10 -- gw (netiod A) -- gw-wan -- wan 198.51.100.10 (mark + qos; replies via mark)
#                                               wan eth0 203.0.113.9: Linux vxlan vx0 (VNI 42),
#                                               site 203.0.113.128/25 behind it (tunnel)
#                              \-- gw-out -- b-wan (netiod B) b-lan -- hb 203.0.113.70 (crypto ESP)
#   ESP ends 203.0.113.17 (A) and 203.0.113.25 (B) exist only in the netiods (static neighbours).
#
# Fails when: netiod's RSS or fd count grows within a lifetime or from one lifetime to the next;
# a monotonic counter goes backwards within a lifetime; any packet of the secure flow (its inner
# addresses or its payload marker) is seen unencrypted on gw-out or gw-wan; a traffic class has
# no reply for longer than SOAK_GAP seconds; a reload, replace or restart does not do its job.
# Results (samples, pings, captures, summary) stay in SOAK_OUT (default BUILD_DIR/soak).
set -u
O=$(cd "${1:?usage: soak.sh BUILD_DIR}" && pwd)
export O
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root"; exit 1; }
for c in tcpdump jq iperf3 python3; do
	command -v "$c" >/dev/null || { echo "soak: needs $c"; exit 1; }
done

SOAK_SECONDS=${SOAK_SECONDS:-3600}
SAMPLE=${SOAK_SAMPLE:-5}           # s between RSS/fd/CPU and counter samples
RELOAD_EVERY=${SOAK_RELOAD_EVERY:-20}
REPLACE_EVERY=${SOAK_REPLACE_EVERY:-30}
KILL_EVERY=${SOAK_KILL_EVERY:-600} # kill -9 of A; B every second time
BURST_EVERY=${SOAK_BURST_EVERY:-20} # a 5 s iperf3 burst, rotating over the three destinations
export SOAK_WARMUP=${SOAK_WARMUP:-60} SOAK_GAP=${SOAK_GAP:-30}
export SOAK_RSS_TOL_KB=${SOAK_RSS_TOL_KB:-4096}
export SOAK_FD_TOL=${SOAK_FD_TOL:-2}
OUT=${SOAK_OUT:-$O/soak}
GIT_HEAD=$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)
MARKER=4e4554494f534f414b5345435245542e # "NETIOSOAKSECRET." as ping payload pattern
MAC_A=02:00:00:00:0a:01
MAC_B=02:00:00:00:0b:01
VXMAC=02:00:00:00:0c:01

rm -rf "$OUT"
mkdir -p "$OUT/snap"
: >"$OUT/counters.err"
# shellcheck disable=SC2034 # TEST_NAME and EXTRA_NS are lib.sh's
TEST_NAME=soak
. "$here/../netns/lib.sh"
NS_B="$PFX-gwb"
NS_HB="$PFX-hb"
# shellcheck disable=SC2034
EXTRA_NS="$NS_B $NS_HB"
WB="$WORK/b"
mkdir -p "$WB"
BG=

soak_cleanup() {
	for p in $BG; do kill "$p" 2>/dev/null; done
	cp "$WORK/netiod.log" "$OUT/netiod-a.log" 2>/dev/null
	cp "$WB/netiod.log" "$OUT/netiod-b.log" 2>/dev/null
	cleanup
}
trap soak_cleanup EXIT
trap 'exit 1' INT TERM

hb() { ip netns exec "$NS_HB" "$@"; }
# lib.sh's ctl with a bound: a hung daemon must fail the soak, not hang it
ctl() { ip netns exec "$NS_GW" timeout 30 "$O/netiod/netioctl" -s "$SOCK" "$@"; }
ctl_b() { NS_GW=$NS_B SOCK=$WB/netiod.sock ctl "$@"; }
log() { echo "$(date -u +%T) $*" | tee -a "$OUT/events.log"; }
now() { date +%s; }

# start_b CONF: lib.sh's start_netiod pointed at the second gateway
start_b() {
	local a=$NETIOD_PID
	NS_GW=$NS_B WORK=$WB SOCK=$WB/netiod.sock start_netiod "$1"
	PID_B=$NETIOD_PID
	NETIOD_PID=$a
}

topology() {
	setup_topology
	vxlan_site "$VXMAC"
	for ns in "$NS_B" "$NS_HB"; do
		ip netns add "$ns" || fail "ip netns add $ns"
		ip -n "$ns" link set lo up
	done
	ip link add gw-out netns "$NS_GW" address $MAC_A type veth peer name b-wan netns "$NS_B" address $MAC_B
	ip link add eth0 netns "$NS_HB" type veth peer name b-lan netns "$NS_B"
	ip netns exec "$NS_B" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
	for x in "$NS_GW gw-out" "$NS_B b-wan" "$NS_B b-lan"; do
		# shellcheck disable=SC2086 # split into namespace and device on purpose
		set -- $x
		ip -n "$1" link set "$2" up
		no_offload "$1" "$2"
	done
	ip -n "$NS_GW" addr add 203.0.113.18/28 dev gw-out
	ip -n "$NS_B" addr add 203.0.113.26/28 dev b-wan
	ip -n "$NS_B" addr add 203.0.113.65/26 dev b-lan
	ip -n "$NS_GW" neigh add 203.0.113.25 lladdr $MAC_B dev gw-out nud permanent
	ip -n "$NS_B" neigh add 203.0.113.17 lladdr $MAC_A dev b-wan nud permanent
	ip -n "$NS_GW" route add 203.0.113.64/26 via 203.0.113.25
	ip -n "$NS_B" route add 192.0.2.0/24 via 203.0.113.17
	hb ip link set eth0 up
	no_offload "$NS_HB" eth0
	hb ip addr add 203.0.113.70/26 dev eth0
	hb ip route add default via 203.0.113.65
	# full 1500-byte routes: the secure flow's hosts learn the path MTU from ESP's ICMP too-big
	lan ip route add 203.0.113.64/26 via 192.0.2.1
	# vxlan_site sends the wan host's way to the lan through the tunnel; the mark-qos class's
	# replies take the plain way back (pipeline to-lan)
	wan ip rule add from 198.51.100.10 lookup 100
	wan ip route add 192.0.2.0/24 via 198.51.100.1 dev eth0 table 100
}

key() { # file bytes
	od -An -tx1 -N "$2" /dev/urandom | tr -d ' \n' >"$WORK/$1"
	chmod 600 "$WORK/$1"
}

# conf_a TAG RATE [EXTRA]: gateway A; TAG and RATE vary between the good reloads, EXTRA makes
# a bad one
conf_a() {
	cat <<EOF
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
port out { device = "gw-out" driver = "afpacket" }
pipeline to-secure {
	match { in = "lan" dst = "203.0.113.64/26" }
	service crypto {
		engine = "auto"
		sa ab { spi = "0x1001" direction = "out" cipher = "aes128-gcm" key-file = "$WORK/k-ab"
			local = "203.0.113.17" remote = "203.0.113.25" inner-dst = { "203.0.113.64/26" } }
	}
	out = "out"
	fail-mode = "secure"
}
pipeline from-secure {
	match { in = "out" dst = "203.0.113.17/32" }
	service crypto {
		engine = "auto"
		sa ba { spi = "0x2001" direction = "in" cipher = "chacha20-poly1305" key-file = "$WORK/k-ba"
			local = "203.0.113.17" remote = "203.0.113.25" esn = "yes"
			inner-src = { "203.0.113.64/26" } inner-dst = { "192.0.2.0/24" } }
	}
	out = "lan"
	fail-mode = "secure"
}
pipeline to-site {
	match { in = "lan" dst = "203.0.113.128/25" }
	service tunnel {
		type = "vxlan" local = "203.0.113.1" remote = "203.0.113.9" vni = 42
		inner-dst-mac = "$VXMAC" icmp-src4 = "192.0.2.1"
	}
	out = "wan"
}
pipeline from-site {
	match { in = "wan" dst = "203.0.113.1" proto = "udp" dport = "4789" }
	service tunnel { type = "vxlan" mode = "decap" local = "203.0.113.1" remote = "203.0.113.9" vni = 42 }
	out = "lan"
}
pipeline to-wan {
	match { in = "lan" dst = "198.51.100.0/24" }
	service mark { tag = "$1" dscp = 10 }
	service qos {
		rate = "$2" default = "bulk"
		class ping { rate = "1mbit" prio = 0 proto = "icmp" }
		class bulk { rate = "1mbit" prio = 1 }
	}
	out = "wan"
}
pipeline to-lan {
	match { in = "wan" dst = "192.0.2.0/24" }
	service mark { tag = "to-lan" }
	out = "lan"
	${3:-}
}
EOF
}

conf_b() {
	cat <<EOF
port lan { device = "b-lan" driver = "afpacket" }
port wan { device = "b-wan" driver = "afpacket" }
pipeline to-peer {
	match { in = "lan" dst = "192.0.2.0/24" }
	service crypto {
		engine = "auto"
		sa ba { spi = "0x2001" direction = "out" cipher = "chacha20-poly1305" key-file = "$WORK/k-ba"
			local = "203.0.113.25" remote = "203.0.113.17" esn = "yes" inner-dst = { "192.0.2.0/24" } }
	}
	out = "wan"
	fail-mode = "secure"
}
pipeline from-peer {
	match { in = "wan" dst = "203.0.113.25/32" }
	service crypto {
		engine = "auto"
		sa ab { spi = "0x1001" direction = "in" cipher = "aes128-gcm" key-file = "$WORK/k-ab"
			local = "203.0.113.25" remote = "203.0.113.17" inner-src = { "192.0.2.0/24" } }
	}
	out = "lan"
	fail-mode = "secure"
}
EOF
}

write_confs() {
	key k-ab 20
	key k-ba 36
	conf_a soak-0 20mbit >"$OUT/a-0.conf"
	conf_a soak-1 30mbit >"$OUT/a-1.conf"
	conf_b >"$OUT/b.conf"
	# bad: an unknown option, a syntax error, a rate without a unit, a key readable by others
	conf_a soak-0 20mbit 'colour = "red"' >"$OUT/bad-0.conf"
	conf_a soak-0 20mbit 'out = {' >"$OUT/bad-1.conf"
	conf_a soak-0 20mbit | sed 's/rate = "20mbit"/rate = "20 furlongs"/' >"$OUT/bad-2.conf"
	cp "$WORK/k-ab" "$WORK/k-open"
	chmod 644 "$WORK/k-open"
	conf_a soak-0 20mbit | sed "s|$WORK/k-ab|$WORK/k-open|" >"$OUT/bad-3.conf"
}

# lifetimes: A and B each count their starts; every sample is tagged with the daemon's lifetime
LIFE_A=0
LIFE_B=0
start_a_life() {
	start_netiod "$1"
	LIFE_A=$((LIFE_A + 1))
	log "A lifetime $LIFE_A: pid $NETIOD_PID"
}
start_b_life() {
	start_b "$OUT/b.conf"
	LIFE_B=$((LIFE_B + 1))
	log "B lifetime $LIFE_B: pid $PID_B"
}

# sample D PID LIFE CTL: one line of samples.tsv, and the counters checked against the last
# sample of the same lifetime; snap/D-LIFE-GEN.json keeps the last counters of each generation
sample() {
	local d=$1 pid=$2 life=$3 ctlf=$4 rss fds cpu gen
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	cpu=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)
	{ [ -n "$rss" ] && [ -n "$cpu" ]; } || fail "netiod $d (pid $pid) is gone"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(now)" "$d" "$life" "$rss" "$fds" "$cpu" >>"$OUT/samples.tsv"
	gen=$("$ctlf" -j status | jq .generation) || fail "netioctl status on $d"
	"$ctlf" -j stats >"$OUT/stats-$d.new" || fail "netioctl stats on $d"
	if [ -s "$OUT/stats-$d.json" ] && [ "$(cut -d' ' -f1 "$OUT/stats-$d.life")" = "$life" ]; then
		python3 "$here/soak.py" counters "$OUT/stats-$d.json" "$OUT/stats-$d.new" "$d$life" \
			"$(cut -d' ' -f2 "$OUT/stats-$d.life")" "$gen" >>"$OUT/counters.err" ||
			fail "counter went backwards: $(tail -n 5 "$OUT/counters.err")"
	fi
	mv "$OUT/stats-$d.new" "$OUT/stats-$d.json"
	echo "$life $gen" >"$OUT/stats-$d.life"
	cp "$OUT/stats-$d.json" "$OUT/snap/$d-$life-$gen.json"
}

generation() { ctl -j status | jq .generation; }

GOOD=0
BAD=0
RELOADS_B=0
RELOADS=0
reload() {
	local g0 g1 rc f
	g0=$(generation)
	if [ $((RELOADS % 2)) -eq 0 ]; then
		sample A "$NETIOD_PID" "$LIFE_A" ctl # the old generation's last counters
		CUR_A="$OUT/a-$((GOOD % 2)).conf"
		ctl reload "$CUR_A" >/dev/null 2>"$OUT/reload.err" || fail "good reload $CUR_A: $(cat "$OUT/reload.err")"
		g1=$(generation)
		[ "$g1" -gt "$g0" ] || fail "good reload left generation $g0"
		GOOD=$((GOOD + 1))
		# B takes a good reload of its unchanged configuration now and then
		if [ $((GOOD % 3)) -eq 0 ]; then
			sample B "$PID_B" "$LIFE_B" ctl_b
			RELOADS_B=$((RELOADS_B + 1))
			ctl_b reload "$OUT/b.conf" >/dev/null 2>"$OUT/reload.err" ||
				fail "good reload of B: $(cat "$OUT/reload.err")"
		fi
	else
		f="$OUT/bad-$((BAD % 4)).conf"
		ctl reload "$f" >/dev/null 2>"$OUT/reload.err"
		rc=$?
		[ $rc -eq 2 ] || fail "bad reload $f exited $rc: $(cat "$OUT/reload.err")"
		[ "$(generation)" = "$g0" ] || fail "bad reload $f changed the generation"
		echo "$(basename "$f"): $(cat "$OUT/reload.err")" >>"$OUT/bad-reloads.log"
		BAD=$((BAD + 1))
	fi
	RELOADS=$((RELOADS + 1))
}

REPLACES=0
MARK_ALT=0 # 1 while A runs services-alt/mark.so (version 2)
replace() {
	local so v
	if [ $MARK_ALT -eq 0 ]; then so="$O/services-alt/mark.so" v=2; else so="$O/services/mark.so" v=1; fi
	ctl service replace mark "$so" >/dev/null 2>"$OUT/replace.err" || fail "service replace: $(cat "$OUT/replace.err")"
	[ "$(ctl -j service list | jq -r '.[] | select(.name=="mark") | .version')" = $v ] ||
		fail "replace did not load mark version $v"
	MARK_ALT=$((1 - MARK_ALT))
	REPLACES=$((REPLACES + 1))
}

KILLS_A=0
KILLS_B=0
kill_a() {
	sample A "$NETIOD_PID" "$LIFE_A" ctl
	log "kill -9 A (pid $NETIOD_PID)"
	kill -KILL "$NETIOD_PID"
	wait "$NETIOD_PID" 2>/dev/null
	NETIOD_PID=
	KILLS_A=$((KILLS_A + 1))
	start_a_life "$CUR_A"
	MARK_ALT=0 # a new process loads -P's plugins
}
kill_b() {
	sample B "$PID_B" "$LIFE_B" ctl_b
	log "kill -9 B (pid $PID_B)"
	kill -KILL "$PID_B"
	wait "$PID_B" 2>/dev/null
	KILLS_B=$((KILLS_B + 1))
	start_b_life
}

# the secure flow must never be seen in clear: on the outside link anything that is not ESP,
# on the wan link the secure site's addresses, bare or inside VXLAN (inner IPv4 src/dst)
captures() {
	ip netns exec "$NS_GW" tcpdump -n -U -s 256 -c 200000 -i gw-out -w "$OUT/out-clear.pcap" 'not esp' \
		2>"$OUT/tcpdump-out.err" &
	DUMP_OUT=$!
	ip netns exec "$NS_GW" tcpdump -n -U -s 256 -c 200000 -i gw-wan -w "$OUT/wan-secure.pcap" \
		'net 203.0.113.64/26 or (udp port 4789 and (udp[42:4] & 0xffffffc0 = 0xcb007140 or udp[46:4] & 0xffffffc0 = 0xcb007140))' \
		2>"$OUT/tcpdump-wan.err" &
	DUMP_WAN=$!
	BG="$BG $DUMP_OUT $DUMP_WAN"
	for f in out wan; do
		for _ in $(seq 100); do
			grep -q "listening on" "$OUT/tcpdump-$f.err" && break
			sleep 0.1
		done
		grep -q "listening on" "$OUT/tcpdump-$f.err" || fail "tcpdump on $f did not start"
	done
}

# a ping per traffic class for the whole run, one timestamped line per reply (ip execs ping, so
# $! is ping itself)
pings() {
	local w=$((SOAK_SECONDS + 5))
	ip netns exec "$NS_LAN" ping -D -n -i 0.1 -W 2 -w "$w" 198.51.100.10 >"$OUT/ping-mark-qos.log" 2>&1 &
	BG="$BG $!"
	ip netns exec "$NS_LAN" ping -D -n -i 0.1 -W 2 -w "$w" 203.0.113.130 >"$OUT/ping-tunnel.log" 2>&1 &
	BG="$BG $!"
	ip netns exec "$NS_LAN" ping -D -n -i 0.1 -W 2 -w "$w" -s 120 -p "$MARKER" 203.0.113.70 >"$OUT/ping-crypto.log" 2>&1 &
	BG="$BG $!"
}

BURSTS=0
burst() { # a bounded TCP burst, rotating destinations; a failed one is counted, not fatal
	local dst port c
	case $((BURSTS % 3)) in
	0) dst=198.51.100.10 port=5301 c=mark-qos ;;
	1) dst=203.0.113.130 port=5302 c=tunnel ;;
	2) dst=203.0.113.70 port=5303 c=crypto ;;
	esac
	lan timeout 20 iperf3 -c "$dst" -p "$port" -t 5 -b 20M -J >"$OUT/iperf.json" 2>/dev/null
	echo "$c $(jq '.end.sum_received.bytes // 0' "$OUT/iperf.json" 2>/dev/null || echo 0)" >>"$OUT/bursts.log"
	jq -r --arg c "$c" '.error // empty | "\(now | todate) \($c): \(.)"' "$OUT/iperf.json" >>"$OUT/bursts.err" 2>/dev/null
	BURSTS=$((BURSTS + 1))
}

servers() {
	wan iperf3 -s -D -B 198.51.100.10 -p 5301 --logfile "$WORK/iperf-5301.log" || fail "iperf3 server"
	wan iperf3 -s -D -B 203.0.113.130 -p 5302 --logfile "$WORK/iperf-5302.log" || fail "iperf3 server"
	hb iperf3 -s -D -B 203.0.113.70 -p 5303 --logfile "$WORK/iperf-5303.log" || fail "iperf3 server"
}

# last_reply LOG: epoch second of the last reply in a ping log (0 when none)
last_reply() {
	tac "$1" | awk -F'[][]' '/bytes from/ { printf "%d\n", $2; found = 1; exit } END { if (!found) print 0 }'
}

topology
write_confs
CUR_A="$OUT/a-0.conf"
start_a_life "$CUR_A"
start_b_life
warm_up
warm_up_to 203.0.113.130
warm_up_to 203.0.113.70
servers
captures
CLK=$(getconf CLK_TCK)
T0=$(now)
END=$((T0 + SOAK_SECONDS))
log "soak: namespaces $PFX-*, results in $OUT"
log "soak: $SOAK_SECONDS s from $(date -u -d "@$T0" +%T), sample $SAMPLE s, reload $RELOAD_EVERY s," \
	"replace $REPLACE_EVERY s, kill -9 $KILL_EVERY s, burst $BURST_EVERY s"
pings
next_sample=$T0 next_reload=$((T0 + RELOAD_EVERY)) next_replace=$((T0 + REPLACE_EVERY))
next_kill=$((T0 + KILL_EVERY)) next_burst=$((T0 + BURST_EVERY))
while [ "$(now)" -lt "$END" ]; do
	t=$(now)
	if [ "$t" -ge "$next_sample" ]; then
		sample A "$NETIOD_PID" "$LIFE_A" ctl
		sample B "$PID_B" "$LIFE_B" ctl_b
		for c in mark-qos tunnel crypto; do
			l=$(last_reply "$OUT/ping-$c.log")
			[ "$l" -eq 0 ] && l=$T0
			[ $((t - l)) -le "$SOAK_GAP" ] || fail "no $c reply for $((t - l)) s (limit $SOAK_GAP s)"
		done
		{ kill -0 "$DUMP_OUT" 2>/dev/null && kill -0 "$DUMP_WAN" 2>/dev/null; } || fail "a capture stopped early"
		next_sample=$((t + SAMPLE))
	fi
	if [ "$t" -ge "$next_reload" ]; then reload; next_reload=$((t + RELOAD_EVERY)); fi
	if [ "$t" -ge "$next_replace" ]; then replace; next_replace=$((t + REPLACE_EVERY)); fi
	if [ "$t" -ge "$next_kill" ] && [ $((END - t)) -gt $((SOAK_WARMUP + 3 * SAMPLE)) ]; then
		kill_a
		[ $((KILLS_A % 2)) -eq 0 ] && kill_b
		next_kill=$((t + KILL_EVERY))
	fi
	if [ "$t" -ge "$next_burst" ] && [ $((END - t)) -gt 25 ]; then burst; next_burst=$(($(now) + BURST_EVERY)); fi
	sleep 1
done
sample A "$NETIOD_PID" "$LIFE_A" ctl
sample B "$PID_B" "$LIFE_B" ctl_b
log "soak: traffic done; reloads $GOOD good + $BAD bad, replaces $REPLACES, kill -9 A $KILLS_A B $KILLS_B"
T1=$(now)
for p in $BG; do kill -INT "$p" 2>/dev/null; done # ping prints its totals on SIGINT
for p in $BG; do wait "$p" 2>/dev/null; done
BG=
printf 'duration %s\nt_end %s\nreloads_good %s\nreloads_bad %s\nreloads_b %s\nreplaces %s\nkills_a %s\nkills_b %s\nbursts %s\nclk_tck %s\ngit %s\nload %s\n' \
	"$((T1 - T0))" "$T1" "$GOOD" "$BAD" "$RELOADS_B" "$REPLACES" "$KILLS_A" "$KILLS_B" "$BURSTS" "$CLK" \
	"$GIT_HEAD" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/run.txt"
python3 "$here/soak.py" summary "$OUT" | tee "$OUT/summary.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "see $OUT/summary.txt"
echo "soak: passed ($OUT)"

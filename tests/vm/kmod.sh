#!/bin/sh
# netio.ko with real traffic (run inside the test VM by scripts/vm-run.sh; env REPO, O):
# claimed flows go through the rings and the forwarder, everything else stays with the kernel,
# fail modes without owner, restart without loss, secure demultiplexing, forwarding by
# descriptor move in a shared region with every buffer back after 10^6 packets, zero-copy TX,
# a hostile ring writer (TX, fill, completion), NIC removal and module unload with skbs built
# on a region still queued in a qdisc. nioring (tests/vm/nioring.c) is built by
# scripts/vm-test.sh.
#
#   nio-c --veth-- gw-c [VM root ns: netio.ko, nioring] gw-s --veth-- nio-s
#   192.0.2.2        192.0.2.1                  198.51.100.1       198.51.100.2
#   2001:db8:1::2    2001:db8:1::1              2001:db8:2::1      2001:db8:2::2
set -eu
T=${NETIO_TOOLS:-$O/vm}/nioring
W=$(mktemp -d)
C=nio-c
S=nio-s
NET=198.51.100.0/24
pids=""

log() { echo "== $*"; }

fail() {
	echo "FAIL: $*"
	for id in ${IN:-} ${OUT:-}; do echo "binding $id:"; $T show "$id" 2>&1 | tr '\n' ' '; echo; done
	ip netns exec $S nstat -az 2>/dev/null | grep -E 'Udp(InDatagrams|InErrors|InCsumErrors|NoPorts|RcvbufErrors)'
	ip -s link show gw-s 2>/dev/null
	dmesg | tail -n 20
	exit 1
}

cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	ip netns del $C 2>/dev/null || true
	ip netns del $S 2>/dev/null || true
	ip link del nio-t0 2>/dev/null || true
	ip link del nio-q0 2>/dev/null || true
	ip link del nio-d0 2>/dev/null || true
	rmmod netio 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

bg() {
	"$@" &
	pids="$pids $!"
}

expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }

# show output: "key value" lines and "claim ID packets N queued N dropped N passed N"
stat_of() { $T show "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
claim_of() {
	$T show "$1" | awk -v id="$2" -v k="$3" \
		'$1 == "claim" && $2 == id { for (i = 3; i < NF; i += 2) if ($i == k) print $(i + 1) }'
}

# wait_for FILE TEXT: shell builtins only, since every process costs time under TCG
wait_for() {
	i=0
	while [ $i -lt 100 ]; do
		if [ -f "$1" ]; then
			while IFS= read -r line; do
				case $line in *"$2"*) return 0 ;; esac
			done <"$1"
		fi
		i=$((i + 1))
		sleep 0.2
	done
	fail "timed out waiting for '$2' in $1"
}

# must_fail ERRNAME CMD...: the command fails and says why
must_fail() {
	want=$1
	shift
	if out=$("$@" 2>&1); then fail "'$*' succeeded, want $want"; fi
	echo "$out" | grep -q "$want" || fail "'$*': '$out', want $want"
	echo "   refused as expected: $out"
}

recv_start() { # recv_start PORT SECONDS EXPECT: count UDP datagrams arriving in nio-s
	ip netns exec $S "$T" udp-recv "$1" "$2" "$3" >"$W/r$1" &
	eval "recv_$1=$!"
	wait_for "$W/r$1" ready
}

recv_check() { # recv_check PORT WANT
	eval "wait \$recv_$1" || true
	expect_eq "$(awk '/^count/ { print $2 }' "$W/r$1")" "$2" "datagrams to port $1 at nio-s"
}

send() { ip netns exec $C "$T" udp-send 198.51.100.2 "$1" "$2"; }
send6() { ip netns exec $C "$T" udp-send 2001:db8:2::2 "$1" "$2"; }

dmesg_clean() {
	if dmesg | grep -E 'BUG|WARNING|Oops|KASAN|general protection|Call Trace|corruption'; then
		fail "kernel complained (above)"
	fi
}

setup() {
	dmesg -C
	insmod "$REPO/netio-kmod/netio.ko"
	[ -c /dev/netio ] || fail "no /dev/netio"
	modprobe veth
	ip netns add $C
	ip netns add $S
	ip link add gw-c type veth peer name eth0 netns $C
	ip link add gw-s type veth peer name eth0 netns $S
	ip addr add 192.0.2.1/24 dev gw-c
	ip addr add 198.51.100.1/24 dev gw-s
	ip link set gw-c up
	ip link set gw-s up
	for ns in $C $S; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done
	ip -n $C addr add 192.0.2.2/24 dev eth0
	ip -n $S addr add 198.51.100.2/24 dev eth0
	ip -n $C route add default via 192.0.2.1
	ip -n $S route add default via 198.51.100.1
	ip addr add 2001:db8:1::1/64 dev gw-c nodad
	ip addr add 2001:db8:2::1/64 dev gw-s nodad
	ip -n $C addr add 2001:db8:1::2/64 dev eth0 nodad
	ip -n $S addr add 2001:db8:2::2/64 dev eth0 nodad
	ip -n $C -6 route add default via 2001:db8:1::1
	ip -n $S -6 route add default via 2001:db8:2::1
	sysctl -qw net.ipv4.ip_forward=1
	sysctl -qw net.ipv6.conf.all.forwarding=1
	SMAC=$(cat /sys/class/net/gw-s/address)
	DMAC=$(ip netns exec $S cat /sys/class/net/eth0/address)
}

setup
log "bind and claim"
IN=$($T bind gw-c lan 120000)
# wan sends from lan's region: a forward is a descriptor move
OUT=$($T bind gw-s wan 120000 1024 0 "$IN")
expect_eq "$(stat_of "$OUT" region)" "$(stat_of "$IN" region)" "region shared by lan and wan"
$T claims "$IN" "id=1,proto=udp,dst=$NET,dport=5000" \
	"id=2,proto=udp,dst=$NET,dport=5001,mode=secure" \
	"id=3,proto=udp,dst=$NET,dport=5002,mode=passthrough" \
	"id=4,proto=udp,dst=$NET,dport=5003,mode=secure" \
	"id=5,proto=udp,dst=2001:db8:2::/64,dport=5010" \
	"id=6,proto=tcp,dst=$NET,dport=5201" \
	"id=7,proto=udp,dst=$NET,dport=5020"
must_fail ENOENT $T bind gw-s other 120000 1024 0 999
must_fail EINVAL $T claims "$IN" "id=9,proto=1,dport=80"
must_fail EINVAL $T claims "$IN" "id=1,dport=80-70,proto=udp"

log "claimed flow through the rings, the rest through the kernel"
bg $T fwd "$IN" "$OUT" "$DMAC" "$SMAC" 90 150 >"$W/fwd1"
wait_for "$W/fwd1" attached
ip netns exec $C ping -c 2 -W 3 192.0.2.1 >/dev/null || fail "ping to the gateway itself"
ip netns exec $C ping -c 2 -W 3 198.51.100.1 >/dev/null || fail "ping to the gateway's wan address"
ip -n $C neigh show 192.0.2.1 | grep -q lladdr || fail "no ARP entry for the gateway in $C"
recv_start 5000 90 100
recv_start 7000 90 100
recv_start 5010 90 50
recv_start 7010 90 50
send 5000 100
send 7000 100
send6 5010 50
send6 7010 50
recv_check 5000 100
recv_check 7000 100
recv_check 5010 50
recv_check 7010 50
wait_for "$W/fwd1" forwarded
expect_eq "$(awk '/forwarded/ { print $2 }' "$W/fwd1")" 150 "frames forwarded by nioring"
expect_eq "$(awk '/^kicks/ { print $6 }' "$W/fwd1")" 0 "copies made by the forwarder"
grep -q "attached region shared" "$W/fwd1" || fail "forwarder did not see one region"
expect_eq "$(claim_of "$IN" 1 queued)" 100 "claim 1 (IPv4) queued"
expect_eq "$(claim_of "$IN" 5 queued)" 50 "claim 5 (IPv6) queued"
expect_eq "$(stat_of "$OUT" tx_packets)" 150 "wan tx_packets"

log "no owner: secure claims drop, passthrough claims reach the kernel"
expect_eq "$(stat_of "$IN" owner_pid)" 0 "owner after the forwarder exited"
recv_start 5001 4 50
recv_start 5002 90 50
send 5001 50
send 5002 50
recv_check 5001 0
recv_check 5002 50
expect_eq "$(claim_of "$IN" 2 dropped)" 50 "claim 2 (secure) dropped"
expect_eq "$(claim_of "$IN" 3 passed)" 50 "claim 3 (passthrough) passed"

log "kill -9 of the owner, restart within the hold time: no queued packet lost"
bg $T hold "$IN" 60 >"$W/hold1"
holder=$!
wait_for "$W/hold1" attached
send 5003 200
expect_eq "$(claim_of "$IN" 4 queued)" 200 "claim 4 queued while the owner sleeps"
kill -9 $holder
wait $holder 2>/dev/null || true
expect_eq "$(stat_of "$IN" owner_pid)" 0 "owner after kill -9"
recv_start 5003 90 200
$T fwd "$IN" "$OUT" "$DMAC" "$SMAC" 90 200 >"$W/fwd2"
expect_eq "$(awk '/forwarded/ { print $2 }' "$W/fwd2")" 200 "frames the restarted owner found queued"
recv_check 5003 200

log "secure demultiplexing: a second process cannot take an owned flow"
bg $T hold "$IN" 60 >"$W/hold2"
holder=$!
wait_for "$W/hold2" attached
OTHER=$($T bind gw-c intruder 120000)
must_fail EBUSY $T claims "$OTHER" "id=1,proto=udp,dst=198.51.100.2/32,dport=5003"
must_fail EBUSY $T claims "$OTHER" "id=1,proto=any"
$T claims "$OTHER" "id=1,proto=udp,dst=$NET,dport=6000-6010"
must_fail EPERM $T claims "$IN" "id=1,proto=any"
must_fail EPERM $T unbind "$IN"
must_fail EBUSY $T hold "$IN" 1
$T unbind "$OTHER"
kill -9 $holder
wait $holder 2>/dev/null || true

log "iperf3 and a flood through the shared region: 10^6 packets, every buffer back"
tx0=$(stat_of "$OUT" tx_packets)
rx0=$(stat_of "$IN" rx_packets)
bg $T fwd "$IN" "$OUT" "$DMAC" "$SMAC" 280 >"$W/fwd4"
fwd4=$!
wait_for "$W/fwd4" attached
ip netns exec $S timeout 60 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
pids="$pids $!"
sleep 1
ip netns exec $C timeout 60 iperf3 -c 198.51.100.2 -p 5201 -t 5 -M 1400 >"$W/iperf" 2>&1 ||
	fail "iperf3 through the forwarder: $(tail -n 3 "$W/iperf")"
grep -E 'sender|receiver' "$W/iperf" | sed 's/^/   /'
i=0
while [ $(($(stat_of "$IN" rx_packets) - rx0)) -lt 1000000 ] && [ $i -lt 25 ]; do
	ip netns exec $C "$T" udp-flood 198.51.100.2 5020 100000 1000 >/dev/null
	i=$((i + 1))
done
kill -TERM $fwd4
wait $fwd4 || true
cat "$W/fwd4" | sed 's/^/   /'
echo "   wan: $($T show "$OUT" | grep -E '^(tx_|comp_)' | tr '\n' ' ')"
fwded=$(awk '/forwarded/ { print $2 }' "$W/fwd4")
[ "$fwded" -ge 1000000 ] || fail "only $fwded packets forwarded"
[ $(($(stat_of "$OUT" tx_packets) - tx0)) -ge 1000000 ] || fail "wan sent fewer than 10^6"
expect_eq "$(stat_of "$OUT" tx_inflight)" 0 "buffers the kernel still holds after the load"
expect_eq "$(stat_of "$OUT" comp_lost)" 0 "completions lost"
expect_eq "$(awk '/^buffers/ { print $3 + $5 == $7 }' "$W/fwd4")" 1 \
	"free + fill buffers = region (none leaked): $(grep buffers "$W/fwd4")"
[ "$(stat_of "$OUT" tx_path_copied)" -gt 0 ] || fail "no frame went out from the region's pages"
[ "$(stat_of "$OUT" tx_polls)" -gt 0 ] || fail "the kernel never drained TX without a kick"

log "zero copy to a device that keeps the pages: the buffers come back uncopied"
modprobe dummy
ip link add nio-d0 type dummy
ip link set nio-d0 up
SINK=$($T bind nio-d0 sink 120000 1024 0 "$IN")
bg $T fwd "$IN" "$SINK" "$DMAC" "$SMAC" 60 2000 >"$W/fwd5"
fwd5=$!
wait_for "$W/fwd5" attached
ip netns exec $C "$T" udp-flood 198.51.100.2 5020 2000 1000 >/dev/null
sleep 1
kill -TERM $fwd5 2>/dev/null || true
wait $fwd5 || true
echo "   sink: $($T show "$SINK" | grep -E '^tx_' | tr '\n' ' ')"
[ "$(stat_of "$SINK" tx_zerocopy)" -gt 0 ] || fail "no zero-copy completion on the dummy device"
expect_eq "$(stat_of "$SINK" tx_inflight)" 0 "buffers the kernel still holds for the sink"
expect_eq "$(awk '/^buffers/ { print $3 + $5 == $7 }' "$W/fwd5")" 1 \
	"free + fill buffers = region after the sink: $(grep buffers "$W/fwd5")"
$T unbind "$SINK"

log "hostile writer on the mapped rings, with claimed traffic arriving"
HOSTILE=$($T bind gw-s hostile 120000)
$T claims "$HOSTILE" "id=1,proto=udp,dst=192.0.2.0/24,dport=9000"
ip netns exec $S "$T" udp-send 192.0.2.2 9000 300 &
sender=$!
$T scribble "$HOSTILE" 4
wait $sender
expect_eq "$(claim_of "$HOSTILE" 1 packets)" 300 "claimed packets met by the hostile owner's ring"
echo "   hostile: $($T show "$HOSTILE" | grep -E '^(rx_|tx_|fill_|comp_)' | tr '\n' ' ')"
[ "$(stat_of "$HOSTILE" tx_bad_desc)" -gt 0 ] || fail "hostile TX descriptors not counted"
[ "$(stat_of "$HOSTILE" fill_bad)" -gt 0 ] || fail "hostile fill entries not counted"
i=0
while [ "$(stat_of "$HOSTILE" tx_inflight)" != 0 ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "the hostile owner's TX buffers never came back"
	sleep 0.2
done
$T unbind "$HOSTILE"
$T scribble "$OUT" 2
bad=$(stat_of "$OUT" tx_bad_desc)
[ "$bad" -gt 0 ] || fail "tx_bad_desc did not move ($bad)"
echo "   tx_bad_desc $bad"
dmesg_clean
recv_start 5000 90 20
$T fwd "$IN" "$OUT" "$DMAC" "$SMAC" 90 20 >"$W/fwd3" &
fwd3=$!
wait_for "$W/fwd3" attached
send 5000 20
wait $fwd3
recv_check 5000 20

log "a binding nobody attaches to expires after its hold time"
EXP=$($T bind gw-s shortlived 1000)
i=0
while $T show "$EXP" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "binding $EXP still there long after its 1 s hold time"
	sleep 0.2
done

log "NIC removal tears the binding down"
ip link add nio-t0 type veth peer name nio-t1
ip link set nio-t0 up
TID=$($T bind nio-t0 gone 0)
bg $T hold "$TID" 30 >"$W/hold3"
wait_for "$W/hold3" attached
ip link del nio-t0
wait_for "$W/hold3" "binding gone"
must_fail ENOENT $T show "$TID"

log "skbs on a region's pages queued in a slow qdisc: the binding goes, the pages stay"
ip link add nio-q0 type veth peer name nio-q1
ip link set nio-q0 up
ip link set nio-q1 up
tc qdisc add dev nio-q0 root tbf rate 8kbit burst 1600 limit 1000000
Q=$($T bind nio-q0 queued 0)
expect_eq "$($T send "$Q" 40 1000)" "sent 40" "frames handed to TX"
queued=$(stat_of "$Q" tx_inflight)
[ "$queued" -ge 30 ] || fail "only $queued frames held in the qdisc"
echo "   $queued frames in the tbf qdisc"
$T unbind "$Q"

log "unload with rings attached"
bg $T hold "$IN" 60 >"$W/hold4"
holder=$!
wait_for "$W/hold4" attached
send 5003 10
if rmmod netio 2>/dev/null; then fail "rmmod succeeded under an attached owner"; fi
kill -9 $holder
wait $holder 2>/dev/null || true
expect_eq "$(claim_of "$IN" 4 queued)" 210 "claim 4 queued before unload"
must_fail "in use" rmmod netio
tc qdisc del dev nio-q0 root
rmmod netio
[ ! -e /dev/netio ] || fail "/dev/netio still there after rmmod"
insmod "$REPO/netio-kmod/netio.ko"
rmmod netio
dmesg_clean
echo "kmod: all passed"

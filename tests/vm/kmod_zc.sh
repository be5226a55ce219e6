#!/bin/sh
# netio.ko's fast path (run inside the test VM by scripts/vm-run.sh; env REPO, O): forwarding by
# descriptor move between two NICs sharing a region under iperf3 and a flood, every buffer back
# after 10^6 packets; zero-copy TX to a device that keeps the pages; skbs built on a region
# queued in a slow qdisc when the binding goes, and rmmod refused until they are gone; one
# buffer given several times in one TX drain leaves once and comes back once.
# The topology is in tests/vm/kmod.lib. 10^6 packets take minutes under TCG on a loaded host:
# vm-timeout: 900
set -eu
. "$REPO/tests/vm/kmod.lib"

setup
IN=$($T bind gw-c lan 120000)
OUT=$($T bind gw-s wan 120000 1024 0 "$IN")
$T claims "$IN" "id=6,proto=tcp,dst=$NET,dport=5201" "id=7,proto=udp,dst=$NET,dport=5020"

log "iperf3 and a flood through the shared region: 10^6 packets, every buffer back"
tx0=$(($(stat_of "$OUT" tx_packets) + $(stat_of "$OUT" tx_errors)))
rx0=$(stat_of "$IN" rx_packets)
bg $T fwd "$IN" "$OUT" "$DMAC" "$SMAC" 840 >"$W/fwd4"
fwd4=$!
wait_for "$W/fwd4" attached
ip netns exec $S timeout 90 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
pids="$pids $!"
# under TCG on a loaded host the server may take seconds to listen: a SYN before that is refused
i=0
until ip netns exec $S ss -Hltn 'sport = :5201' | grep -q .; do
	i=$((i + 1))
	[ $i -lt 150 ] || fail "iperf3 server not listening after 30 s"
	sleep 0.2
done
ip netns exec $C timeout 60 iperf3 -c 198.51.100.2 -p 5201 -t 5 -M 1400 >"$W/iperf" 2>&1 ||
	fail "iperf3 through the forwarder: $(tail -n 3 "$W/iperf")"
grep -E 'sender|receiver' "$W/iperf" | sed 's/^/   /'
i=0
while [ $(($(stat_of "$IN" rx_packets) - rx0)) -lt 1000000 ] && [ $i -lt 25 ]; do
	ip netns exec $C "$T" udp-flood 198.51.100.2 5020 100000 1000 >/dev/null
	i=$((i + 1))
done
kill -0 $fwd4 2>/dev/null || fail "the forwarder ended before the flood did: $(cat "$W/fwd4")"
kill -TERM $fwd4
wait $fwd4 || true
cat "$W/fwd4" | sed 's/^/   /'
echo "   wan: $($T show "$OUT" | grep -E '^(tx_|comp_)' | tr '\n' ' ')"
fwded=$(awk '/forwarded/ { print $2 }' "$W/fwd4")
[ "$fwded" -ge 1000000 ] || fail "only $fwded packets forwarded"
# every forwarded buffer was taken by the kernel: sent, or refused by veth's full peer backlog
[ $(($(stat_of "$OUT" tx_packets) + $(stat_of "$OUT" tx_errors) - tx0)) -ge 1000000 ] ||
	fail "wan took fewer than 10^6"
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

log "one buffer given three times in one drain: one frame leaves, two are refused, the buffer comes back once"
# a copied frame (up to tx_copybreak) hands its buffer back at the end of the drain: until
# then the buffer is the kernel's, and the same index again is a bad descriptor. No IPv6 on
# the pair, so that the peer counts only what the binding sends.
ip link add nio-u0 type veth peer name nio-u1
for d in nio-u0 nio-u1; do
	sysctl -qw net.ipv6.conf.$d.disable_ipv6=1
	ip link set $d up
done
U=$($T bind nio-u0 dup 0)
bad0=$(stat_of "$U" tx_bad_desc)
tx0=$(stat_of "$U" tx_packets)
rx0=$(cat /sys/class/net/nio-u1/statistics/rx_packets)
expect_eq "$($T send-dup "$U" 100 3)" "buffer back 1 other 0" "completions for a buffer given 3 times"
expect_eq $(($(stat_of "$U" tx_bad_desc) - bad0)) 2 "descriptors refused as tx_bad_desc"
expect_eq $(($(stat_of "$U" tx_packets) - tx0)) 1 "frames sent"
expect_eq $(($(cat /sys/class/net/nio-u1/statistics/rx_packets) - rx0)) 1 "frames the peer received"
expect_eq "$(stat_of "$U" tx_inflight)" 0 "buffers the kernel still holds"
$T unbind "$U"
ip link del nio-u0

log "skbs on a region's pages queued in a slow qdisc: the binding goes, the pages stay"
modprobe sch_tbf
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

log "unload while skbs on a region wait in the qdisc"
must_fail "in use" rmmod netio
tc qdisc del dev nio-q0 root
rmmod netio
dmesg_clean
echo "kmod_zc: all passed"

#!/bin/sh
# netio.ko with real traffic (run inside the test VM by scripts/vm-run.sh; env REPO, O):
# claimed flows go through the rings and the forwarder, everything else stays with the kernel,
# fail modes without owner, restart without loss (the free list rebuilt from the rings),
# secure demultiplexing, forwarding by descriptor move in a shared region, a hostile ring
# writer (TX, fill, completion rings), NIC removal and module unload. The fast path under load
# is kmod_zc.sh. nioring (tests/vm/nioring.c) is built by scripts/vm-test.sh.
# The topology is in tests/vm/kmod.lib.
set -eu
. "$REPO/tests/vm/kmod.lib"

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

log "hostile writer on the mapped rings, with claimed traffic arriving"
HOSTILE=$($T bind gw-s hostile 120000)
$T claims "$HOSTILE" "id=1,proto=udp,dst=192.0.2.0/24,dport=9000"
bg $T scribble "$HOSTILE" 4 wait-fill >"$W/scribble"
scribbler=$!
wait_for "$W/scribble" attached
# The scribbler's TX floods the CPU's backlog that gw-s's receive shares too: what the
# kernel drops there (gw-s rx_dropped) never reaches the hook; everything else must meet
# the claim.
dropped0=$(cat /sys/class/net/gw-s/statistics/rx_dropped)
ip netns exec $S "$T" udp-send 192.0.2.2 9000 300
wait $scribbler
grep -q "bad fill entries consumed" "$W/scribble" || fail "$(cat "$W/scribble")"
dropped=$(($(cat /sys/class/net/gw-s/statistics/rx_dropped) - dropped0))
[ "$dropped" -lt 150 ] || fail "gw-s dropped $dropped of 300 frames before the hook"
expect_eq "$(claim_of "$HOSTILE" 1 packets)" $((300 - dropped)) \
	"claimed packets met by the hostile owner's ring ($dropped dropped in the backlog)"
echo "   hostile: $($T show "$HOSTILE" | grep -E '^(rx_|tx_|fill_|comp_)' | tr '\n' ' ')"
[ "$(stat_of "$HOSTILE" tx_bad_desc)" -gt 0 ] || fail "hostile TX descriptors not counted"
[ "$(stat_of "$HOSTILE" fill_bad)" -ge 4 ] || fail "hostile fill entries not counted"
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

log "unload with rings attached"
bg $T hold "$IN" 60 >"$W/hold4"
holder=$!
wait_for "$W/hold4" attached
send 5003 10
if rmmod netio 2>/dev/null; then fail "rmmod succeeded under an attached owner"; fi
kill -9 $holder
wait $holder 2>/dev/null || true
expect_eq "$(claim_of "$IN" 4 queued)" 210 "claim 4 queued before unload"
rmmod netio
[ ! -e /dev/netio ] || fail "/dev/netio still there after rmmod"
insmod "$REPO/netio-kmod/netio.ko"
rmmod netio
dmesg_clean
echo "kmod: all passed"

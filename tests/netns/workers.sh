#!/bin/sh
# Two workers: every flow's packets stay in order (32 sequence-numbered UDP flows, half of them
# through a service that runs on one worker and is handed the other's packets), nothing is lost
# across a reload and two service replaces under that load, per-worker counters add up to the
# totals and to what the wan host received, and TCP passes.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

NETIOD_ARGS=""
setup_topology
start_netiod "$here/workers.conf"
[ "$(ctl -j status | jq .workers)" = 2 ] || fail "netiod does not run 2 workers"
warm_up

wanstat() { stat '[.ports[] | select(.name=="wan") | .tx_packets] | add'; }
# the wan host's kernel: frames its interface received, datagrams its UDP sockets had no room for
wan_rx() { wan cat /sys/class/net/eth0/statistics/rx_packets; }
udp_full() { wan awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }
FLOWS=16 COUNT=3000
# 1. 2 x 16 flows, 3000 datagrams each, while the configuration is reloaded and both services
# are replaced: no loss in netiod, no reordering.
wan /usr/bin/python3 "$here/seqflow.py" recv 198.51.100.10 6000 4 $FLOWS 90 >"$WORK/recv-mark" &
r1=$!
wan /usr/bin/python3 "$here/seqflow.py" recv 198.51.100.10 7000 4 $FLOWS 90 >"$WORK/recv-owned" &
r2=$!
for _ in $(seq 50); do
	[ "$(wan ss -Hlun 'sport >= :6000 and sport <= :7003' | wc -l)" -ge 8 ] && break
	sleep 0.1
done
tx0=$(wanstat) rx0=$(wan_rx) full0=$(udp_full)
lan timeout 90 /usr/bin/python3 "$here/seqflow.py" send 198.51.100.10 6000 4 4 $COUNT >"$WORK/sent-mark" &
s1=$!
lan timeout 90 /usr/bin/python3 "$here/seqflow.py" send 198.51.100.10 7000 4 4 $COUNT >"$WORK/sent-owned" &
s2=$!
sleep 0.5
ctl reload "$WORK/netiod.conf" >/dev/null || fail "reload under load"
sleep 0.3
ctl service replace mark "$O/services-alt/mark.so" >/dev/null || fail "replace mark under load"
sleep 0.3
ctl service replace qos >/dev/null || fail "replace qos under load"
kill -0 $s1 2>/dev/null && kill -0 $s2 2>/dev/null ||
	fail "the senders finished before the reload and replaces were over: nothing was shown"
wait $s1 $s2 $r1 $r2
sent=$(($(cat "$WORK/sent-mark") + $(cat "$WORK/sent-owned") + 2 * FLOWS * 3)) # + end markers
tx=$(($(wanstat) - tx0)) rx=$(($(wan_rx) - rx0)) full=$(($(udp_full) - full0))
[ "$(ctl -j stats | jq '[.workers[].handoff.full] | add')" -eq 0 ] || fail "handoff rings overflowed"
[ "$rx" -ge "$tx" ] || fail "port wan sent $tx frames, the wan host's interface received $rx"
got=0
for f in mark owned; do
	r="$WORK/recv-$f"
	[ "$(jq .flows "$r")" = $FLOWS ] || fail "$f: $(jq -c . "$r") flows arrived, sent $FLOWS"
	[ "$(jq .reordered "$r")" = 0 ] || fail "$f: reordered within a flow: $(jq -c . "$r")"
	got=$((got + $(jq '.received + .end_markers' "$r")))
done
# a receiver starved of CPU may overflow its sockets: that is the wan host's kernel, counted
[ $((got + full)) -eq "$tx" ] ||
	fail "the wan host's sockets got $got and refused $full of $sent datagrams"
ok "32 flows x $COUNT datagrams across a reload and 2 replaces: none reordered, wan host's interface got all $tx netiod sent ($full refused by its full sockets)"

# 2. Both workers took traffic; the qos pipeline ran on its owner only, mark on both.
ctl -j stats >"$WORK/stats"
js() { jq "$1" "$WORK/stats"; }
for w in 0 1; do
	[ "$(js ".workers[$w].ports[] | select(.name==\"lan\") | .rx_packets")" -gt 0 ] ||
		fail "worker $w received nothing from the fanout group"
	[ "$(js ".workers[$w].pipelines[] | select(.name==\"to-wan\") | .packets")" -gt 0 ] ||
		fail "worker $w ran no to-wan (mark) packet"
done
owner=$(js '.pipelines[] | select(.name=="owned") | .worker')
other=$((1 - owner))
[ "$(js ".workers[$other].pipelines[] | select(.name==\"owned\") | .packets")" -eq 0 ] ||
	fail "the qos pipeline ran on worker $other, its owner is $owner"
[ "$(js '[.workers[].handoff.out] | add')" -gt 0 ] || fail "no packet was handed over"
[ "$(js '[.workers[].handoff.full] | add')" -eq 0 ] || fail "handoff rings overflowed"
ok "fanout spread the flows over both workers; qos ran on worker $owner only ($(js '[.workers[].handoff.out] | add') handed over)"

# 3. Per-worker rows add up to the totals, for every port and pipeline counter shown.
for k in rx_packets rx_bytes tx_packets tx_bytes; do
	for p in lan wan; do
		t=$(js ".ports[] | select(.name==\"$p\") | .$k")
		s=$(js "[.workers[].ports[] | select(.name==\"$p\") | .$k] | add")
		[ "$t" -eq "$s" ] || fail "port $p $k: total $t, workers add up to $s"
	done
done
for k in packets bytes tx_packets; do
	for p in owned to-wan to-lan; do
		t=$(js ".pipelines[] | select(.name==\"$p\") | .$k")
		s=$(js "[.workers[].pipelines[] | select(.name==\"$p\") | .$k] | add")
		[ "$t" -eq "$s" ] || fail "pipeline $p $k: total $t, workers add up to $s"
	done
done
ok "per-worker counters add up to the totals"

# 1b. Nothing lost in netiod: every datagram the lan host sent left port wan, except frames the
# kernel dropped because a worker, starved of CPU on this loaded machine, let its socket ring
# fill (128 blocks of 1 ms); netiod logs those (PACKET_STATISTICS) when it closes the port.
stop_netiod
ring=$(sed -n 's/.*port lan: the kernel dropped \([0-9]*\) frames.*/\1/p' "$WORK/netiod.log" |
	awk '{ s += $1 } END { print s + 0 }')
[ $((sent - tx)) -le "$ring" ] ||
	fail "lan host sent $sent datagrams, netiod sent $tx to wan and the kernel's rings dropped only $ring"
[ "$tx" -eq "$sent" ] && ok "all $sent datagrams forwarded" ||
	ok "$tx of $sent datagrams forwarded; the other $((sent - tx)) were dropped by starved kernel rings ($ring), not in netiod"
start_netiod "$here/workers.conf"
warm_up

# 4. TCP through two workers. The fanout hash is symmetric: a worker that forwarded one of its
# connections' segments (to-wan) also forwarded the other direction (to-lan), and no other.
wrows() { ctl -j stats | jq -c "[.workers[].pipelines[] | select(.name==\"$1\") | .packets]"; }
w0=$(wrows to-wan) l0=$(wrows to-lan)
iperf3_server wan 198.51.100.10
lan timeout 20 iperf3 -c 198.51.100.10 -t 3 -J >"$WORK/iperf.json" || fail "iperf3 client"
bytes=$(jq '.end.sum_received.bytes' "$WORK/iperf.json")
[ "$bytes" -gt 100000 ] || fail "iperf3 moved only $bytes bytes"
w1=$(wrows to-wan) l1=$(wrows to-lan)
for w in 0 1; do
	dw=$(($(echo "$w1" | jq ".[$w]") - $(echo "$w0" | jq ".[$w]")))
	dl=$(($(echo "$l1" | jq ".[$w]") - $(echo "$l0" | jq ".[$w]")))
	[ $((dw > 0)) -eq $((dl > 0)) ] ||
		fail "worker $w forwarded $dw lan->wan but $dl wan->lan packets: directions split"
done
ok "iperf3 TCP $(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORK/iperf.json") Mbit/s, $(jq '.end.sum_sent.retransmits' "$WORK/iperf.json") retransmits; both directions of each connection on one worker"

#!/bin/sh
# qos per-class counters, machine-readable through 'netioctl -j stats' (the status lines, "class
# NAME key value ..."): two UDP floods overload a 10 Mbit/s root 2x, one ECN-capable into a
# class whose CoDel marks, one not into a class whose CoDel drops; a third class stays idle.
# Each class must show what it did (sent, queue-limit-drops, codel-drops, ecn-marks,
# queue-packets, delay-us), the classes must add up to the instance counters, and the wan host
# must receive exactly as many CE-marked packets as the marking class counted.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }
command -v tcpdump >/dev/null || { echo "skip: no tcpdump"; exit 77; }

to_wan_conf >"$WORK/qos.conf" <<'CONF'
	service qos {
		rate = "10mbit"
		limit = 300
		class ect { proto = "udp" dport = "5331" ecn = true }
		class plain { proto = "udp" dport = "5332" }
		class idle { proto = "udp" dport = "5333" }
		class other { }
	}
CONF


# get FILE JQ: a number from a saved status
get() { jq "$2" "$1"; }

svc='.pipelines[] | select(.name=="to-wan") | .services[0].counters'

setup_topology
start_netiod "$WORK/qos.conf"
warm_up
# CE-marked packets of either flood as they reach the wan host (bounded in count and time)
# not through wan(): $! must be the capture itself (timeout passes the INT below on to
# tcpdump); a subshell ignores it and the capture ran into its timeout; immediate mode: what
# the INT stops is in the file
ip netns exec "$NS_WAN" timeout 30 tcpdump --immediate-mode -i eth0 -nn -U -c 100000 -w "$WORK/ce.pcap" \
	'udp and (dst port 5331 or dst port 5332) and ip[1] & 3 == 3' 2>"$WORK/tcpdump.log" &
tcpdump_pid=$!
for p in 5331 5332; do
	iperf3_server wan 198.51.100.10 $p
done
# -S 2: ToS byte 0x02, ECT(0) with DSCP 0; a UDP socket keeps the ECN bits it is given
lan timeout 30 iperf3 -u -b 10M -l 1400 -t 8 -S 2 -c 198.51.100.10 -p 5331 \
	>"$WORK/iperf-5331.log" 2>&1 &
client_ect=$!
lan timeout 30 iperf3 -u -b 10M -l 1400 -t 8 -c 198.51.100.10 -p 5332 \
	>"$WORK/iperf-5332.log" 2>&1 &
client_plain=$!
sleep 5
qos_status >"$WORK/mid.json"
wait "$client_ect" || fail "iperf3 client 5331: $(tail -n 3 "$WORK/iperf-5331.log")"
wait "$client_plain" || fail "iperf3 client 5332: $(tail -n 3 "$WORK/iperf-5332.log")"

# In the middle of the floods: both queues stand (each class gets half of the root, 5 Mbit/s,
# for 10 offered), the marking class marks and never drops by CoDel, the other drops.
m="$WORK/mid.json"
for c in ect plain; do
	[ "$(get "$m" ".class.$c.\"queue-packets\"")" -ge 100 ] ||
		fail "class $c: queue of $(get "$m" ".class.$c.\"queue-packets\"") packets under a 2x flood"
	[ "$(get "$m" ".class.$c.\"sent\"")" -gt 1000 ] || fail "class $c sent too little: $(jq -c ".class.$c" "$m")"
done
[ "$(get "$m" '.class.ect."ecn-marks"')" -gt 0 ] || fail "class ect marked nothing: $(jq -c .class.ect "$m")"
[ "$(get "$m" '.class.ect."codel-drops"')" -eq 0 ] || fail "class ect dropped by CoDel: $(jq -c .class.ect "$m")"
[ "$(get "$m" '.class.plain."codel-drops"')" -gt 0 ] || fail "class plain: no CoDel drops: $(jq -c .class.plain "$m")"
[ "$(get "$m" '.class.plain."ecn-marks"')" -eq 0 ] || fail "class plain marked: $(jq -c .class.plain "$m")"
[ "$(get "$m" '.class.idle | .sent + ."queue-packets" + ."queue-limit-drops" + ."codel-drops"')" -eq 0 ] ||
	fail "class idle counted traffic: $(jq -c .class.idle "$m")"
# The last packet's sojourn is what the standing queue holds at the class's 5 Mbit/s (1442-byte
# frames), within a factor of two: the queue length and the delay are read at different moments.
q=$(get "$m" '.class.ect."queue-packets"')
d=$(get "$m" '.class.ect."delay-us"')
want=$((q * 1442 * 8 / 5))
if [ "$d" -lt $((want / 2)) ] || [ "$d" -gt $((want * 2)) ]; then
	fail "class ect: delay $d us for $q packets queued, want about $want us"
fi

# After the floods have drained, the classes add up to the instance's counters exactly.
for _ in $(seq 50); do
	[ "$(stat "$svc.\"queue-packets\"")" -eq 0 ] && break
	sleep 0.1
done
qos_status >"$WORK/end.json"
ctl -j stats | jq "$svc" >"$WORK/ctr.json"
e="$WORK/end.json"
for k in sent sent-bytes queue-limit-drops codel-drops ecn-marks queue-packets; do
	sum=$(jq "[.class[].\"$k\"] | add" "$e")
	tot=$(jq ".\"$k\"" "$WORK/ctr.json")
	[ "$sum" -eq "$tot" ] || fail "classes add up to $k $sum, the instance counts $tot"
done

# The wan host saw every CE mark the class counted, and only on the marking class's flow.
sleep 0.5
kill -INT "$tcpdump_pid" 2>/dev/null
wait "$tcpdump_pid"
ce=$(tcpdump -nn -r "$WORK/ce.pcap" 'dst port 5331' 2>/dev/null | wc -l)
ce_plain=$(tcpdump -nn -r "$WORK/ce.pcap" 'dst port 5332' 2>/dev/null | wc -l)
marks=$(get "$e" '.class.ect."ecn-marks"')
grep -q "^0 packets dropped by kernel" "$WORK/tcpdump.log" ||
	fail "tcpdump lost packets: $(cat "$WORK/tcpdump.log")"
[ "$ce" -eq "$marks" ] || fail "the wan host received $ce CE packets, class ect counted $marks marks"
[ "$ce_plain" -eq 0 ] || fail "$ce_plain CE packets of the non-ECN flow"
ok "per class: ect sent $(get "$e" .class.ect.sent) marked $marks (all $ce seen CE at the wan host)," \
	"plain sent $(get "$e" .class.plain.sent) codel-dropped $(get "$e" '.class.plain."codel-drops"')," \
	"mid-flood queues $(get "$m" '.class.ect."queue-packets"')/$(get "$m" '.class.plain."queue-packets"') packets, ect delay $d us"

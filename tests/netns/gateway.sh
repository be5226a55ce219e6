#!/bin/sh
# Gateway: ping and TCP pass only through netiod; counters match; unclaimed traffic stays with
# the kernel; service replace under load loses nothing; a bad reload changes nothing; malformed
# frames are counted and dropped.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

setup_topology
start_netiod "$here/gateway.conf"
warm_up
warm_up_to -6 2001:db8:2::10

pl() { echo ".pipelines[] | select(.name==\"$1\") | $2"; }

# 1. Counters match the packets sent: 50 echo requests one way, 50 replies the other.
a=$(stat "$(pl to-wan .packets)")
b=$(stat "$(pl to-lan .tx_packets)")
lan ping -c 50 -i 0.02 -W 1 198.51.100.10 >"$WORK/ping" || fail "ping lost packets: $(tail -n 2 "$WORK/ping")"
a2=$(stat "$(pl to-wan .packets)")
b2=$(stat "$(pl to-lan .tx_packets)")
[ $((a2 - a)) -eq 50 ] || fail "to-wan counted $((a2 - a)) packets for 50 pings"
[ $((b2 - b)) -eq 50 ] || fail "to-lan sent $((b2 - b)) packets for 50 replies"
ok "50 pings, counters 50/50"
metric=$(gw /usr/bin/python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9110/metrics", timeout=5).read().decode())' |
	awk '$1 == "netio_pipeline_packets_total{pipeline=\"to-wan\"}" { print $2 }')
[ "$metric" = "$(stat "$(pl to-wan .packets)")" ] || fail "metrics say $metric to-wan packets"
ok "Prometheus metrics agree with netioctl ($metric packets)"
# 1b. pcap capture at the pipeline's input and as sent (TTL decremented, MACs rewritten).
for stage in in out; do
	ctl capture start to-wan "$WORK/cap-$stage.pcap" stage $stage count 5 >/dev/null ||
		fail "capture start $stage"
	lan ping -c 5 -i 0.02 -W 1 198.51.100.10 >/dev/null || fail "ping during capture"
	[ "$(stat "$(pl to-wan .capture.captured)")" = 5 ] || fail "capture did not count 5 packets"
	ctl capture stop to-wan >/dev/null || fail "capture stop"
done
/usr/bin/python3 - "$WORK" "$(gw cat /sys/class/net/gw-wan/address)" <<'PY' || fail "captured frames are wrong"
import sys
from scapy.all import rdpcap, IP, Ether
work, wan_mac = sys.argv[1], sys.argv[2]
cin, cout = rdpcap(f"{work}/cap-in.pcap"), rdpcap(f"{work}/cap-out.pcap")
assert len(cin) == 5 and len(cout) == 5, (len(cin), len(cout))
assert all(p[IP].ttl == 64 and p[IP].dst == "198.51.100.10" for p in cin), "input stage"
assert all(p[IP].ttl == 63 and p[Ether].src == wan_mac for p in cout), "output stage"
PY
ok "capture at input and output stages: 5 + 5 frames, TTL 64 -> 63, source MAC of gw-wan"
lan ping -6 -c 20 -i 0.02 -W 1 2001:db8:2::10 >/dev/null || fail "IPv6 ping lost packets"
[ "$(stat "$(pl to-wan6 .tx_packets)")" -ge 20 ] || fail "IPv6 pipeline did not forward"
ok "IPv6 ping through netiod"

# 2. TCP: a short iperf3 run (3 s), bounded.
iperf3_server wan 198.51.100.10
lan timeout 20 iperf3 -c 198.51.100.10 -t 3 -J >"$WORK/iperf.json" || fail "iperf3 client"
bytes=$(jq '.end.sum_received.bytes' "$WORK/iperf.json")
[ "$bytes" -gt 100000 ] || fail "iperf3 moved only $bytes bytes"
[ "$(stat "$(pl to-wan .tx_bytes)")" -gt "$bytes" ] || fail "to-wan sent fewer bytes than iperf3 received"
ok "iperf3 TCP $(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORK/iperf.json") Mbit/s through netiod"

# 3. Unclaimed: the gateway's own address and unmatched destinations stay with the kernel.
u=$(stat '.ports[] | select(.name=="lan") | .rx_unclaimed')
p=$(stat "$(pl to-wan .packets)")
lan ping -c 5 -i 0.05 -W 1 192.0.2.1 >/dev/null || fail "the kernel did not answer a ping to the gateway"
lan ping -c 3 -i 0.05 -W 1 203.0.113.7 >/dev/null 2>&1 && fail "an unmatched destination was forwarded"
u2=$(stat '.ports[] | select(.name=="lan") | .rx_unclaimed')
# an afpacket port sees a copy of what the kernel keeps; an afxdp port's XDP program never
# hands it to netiod at all
if [ "${NETIO_DRIVER:-afpacket}" = afxdp ]; then
	[ $((u2 - u)) -eq 0 ] || fail "rx_unclaimed grew by $((u2 - u)) on afxdp, expected 0"
else
	[ $((u2 - u)) -ge 8 ] || fail "rx_unclaimed grew by $((u2 - u)), expected >= 8"
fi
[ "$(stat "$(pl to-wan .packets)")" -eq "$p" ] || fail "unclaimed packets reached a pipeline"
ok "unclaimed traffic left to the kernel ($((u2 - u)) frames)"

# 4. Replace the mark service during a ping run: no loss, new version, counters carried over
# (mark hands its own over in save_state: the host must not add them a second time).
seen=$(stat "$(pl to-wan '.services[0].counters.seen')")
given=$(stat "$(pl to-wan '.services[0].packets')")
lan ping -c 150 -i 0.01 -W 1 198.51.100.10 >"$WORK/ping-replace" &
ping_pid=$!
sleep 0.5
ctl service replace mark "$O/services-alt/mark.so" >/dev/null || fail "service replace"
wait $ping_pid || fail "ping lost packets across service replace: $(tail -n 2 "$WORK/ping-replace")"
[ "$(ctl -j service list | jq -r '.[] | select(.name=="mark") | .version')" = 2 ] ||
	fail "replace did not load version 2"
seen2=$(stat "$(pl to-wan '.services[0].counters.seen')")
[ "$seen2" -eq $((seen + 150)) ] || fail "mark counted $seen -> $seen2 for 150 pings across replace"
given2=$(stat "$(pl to-wan '.services[0].packets')")
[ "$given2" -eq $((given + 150)) ] || fail "service packets went $given -> $given2 for 150 pings across replace"
ok "service replace under 150 pings: no loss, state handed over, counters $seen -> $seen2"

# 4a. An upgrade under the same path: overwritten in place (same inode) and renamed onto it.
# 'replace' without a path reloads the file it came from; the new code must run, not the
# copy dlopen already holds for that name.
mark_runs() { # version: service list, the instance's own status and real packets agree
	[ "$(ctl -j service list | jq -r '.[] | select(.name=="mark") | .version')" = "$1" ] ||
		fail "service list: mark is not version $1 after $2"
	stat "$(pl to-wan '.services[0].status')" | grep -q " v$1 " ||
		fail "to-wan runs $(stat "$(pl to-wan '.services[0].status')") after $2, not v$1"
	s0=$(stat "$(pl to-wan '.services[0].counters.seen')")
	lan ping -c 5 -i 0.02 -W 1 198.51.100.10 >/dev/null || fail "ping after $2"
	[ "$(stat "$(pl to-wan '.services[0].counters.seen')")" -ge $((s0 + 5)) ] ||
		fail "the mark instance saw no packets after $2"
}
mkdir -p "$WORK/plugins"
cp "$O/services/mark.so" "$WORK/plugins/mark.so"
ctl service replace mark "$WORK/plugins/mark.so" >/dev/null || fail "service replace from a copy"
mark_runs 1 "replace from $WORK/plugins"
ino=$(command stat -c %i "$WORK/plugins/mark.so")
cp "$O/services-alt/mark.so" "$WORK/plugins/mark.so"
[ "$(command stat -c %i "$WORK/plugins/mark.so")" = "$ino" ] || fail "cp did not overwrite in place"
ctl service replace mark >/dev/null || fail "service replace after cp in place"
mark_runs 2 "cp in place + replace"
cp "$O/services/mark.so" "$WORK/plugins/mark.so.new"
mv "$WORK/plugins/mark.so.new" "$WORK/plugins/mark.so"
ctl service replace mark >/dev/null || fail "service replace after rename"
mark_runs 1 "rename + replace"
ok "replace after an upgrade in place (cp, same inode) and by rename: the new code runs"

# 4b. Plugins in use cannot be unloaded; a bad plugin path is an error reply (exit 2).
ctl service unload mark 2>"$WORK/unload.err" && fail "unloaded a service in use"
[ $? -eq 2 ] || fail "unload of a used service: wrong exit status"
grep -q "used by 2 pipeline" "$WORK/unload.err" || fail "unload error: $(cat "$WORK/unload.err")"
ctl service load /nonexistent/x.so 2>/dev/null
[ $? -eq 2 ] || fail "loading a missing plugin did not exit 2"
ctl service unload tunnel >/dev/null || fail "unload of an unused service"
ctl service load "$O/services/tunnel.so" >/dev/null || fail "load"
ctl -j service list | jq -e '.[] | select(.name=="tunnel")' >/dev/null || fail "tunnel not listed after load"
ok "service unload refused while in use, unload/load of an unused one"

# 4c. TTL / hop limit expiry is answered with time-exceeded from the gateway's port address.
lan ping -c 1 -t 1 -W 2 198.51.100.10 >"$WORK/ttl" 2>&1
grep -q "From 192.0.2.1.*Time to live exceeded" "$WORK/ttl" || fail "no ICMP time exceeded: $(cat "$WORK/ttl")"
lan ping -6 -c 1 -t 1 -W 2 2001:db8:2::10 >"$WORK/hlim" 2>&1
grep -q "From 2001:db8:1::1.*Time exceeded" "$WORK/hlim" || fail "no ICMPv6 time exceeded: $(cat "$WORK/hlim")"
ok "TTL and hop limit expiry answered with time exceeded"

# 5. A bad reload returns exit 2 with file:line and leaves the running configuration.
gen=$(ctl -j status | jq .generation)
sed 's/tag = "to-wan"/tag = "to-wan" colour = "red"/' "$here/gateway.conf" >"$WORK/bad.conf"
ctl reload "$WORK/bad.conf" 2>"$WORK/reload.err"
rc=$?
[ $rc -eq 2 ] || fail "bad reload exited $rc, expected 2"
grep -q "bad.conf:8: " "$WORK/reload.err" || fail "reload error lacks file:line: $(cat "$WORK/reload.err")"
[ "$(ctl -j status | jq .generation)" = "$gen" ] || fail "a failed reload changed the generation"
lan ping -c 10 -i 0.02 -W 1 198.51.100.10 >/dev/null || fail "traffic stopped after a bad reload"
ok "bad reload: exit 2, '$(cat "$WORK/reload.err")', traffic flowing"
# 5a. A good reload (SIGHUP, then netioctl reload) keeps every total: a pipeline's, its
# service's and the service's own counters go on from where they were, counted once.
totals() {
	ctl -j stats | jq -r "[($(pl to-wan .packets)), ($(pl to-wan .tx_bytes)), ($(pl to-wan '.services[0].packets')), ($(pl to-wan '.services[0].counters.seen')), ($(pl to-lan .packets))] | @tsv"
}
before=$(totals)
kill -HUP "$NETIOD_PID"
for _ in $(seq 100); do [ "$(ctl -j status | jq .generation)" -gt "$gen" ] && break; sleep 0.1; done
[ "$(ctl -j status | jq .generation)" -gt "$gen" ] || fail "SIGHUP did not reload"
ctl reload "$WORK/netiod.conf" >/dev/null || fail "a good netioctl reload failed"
lan ping -c 10 -i 0.02 -W 1 198.51.100.10 >/dev/null || fail "traffic stopped after a good reload"
after=$(totals)
echo "$before" "$after" | awk '{ d = $6 - $1; b = $7 - $2; s = $8 - $3; m = $9 - $4; r = $10 - $5
	exit !(d == 10 && b > 0 && s == 10 && m == 10 && r == 10) }' ||
	fail "counters across two good reloads and 10 pings: [$before] -> [$after] (packets, tx_bytes, service packets, seen, to-lan packets)"
metric=$(gw /usr/bin/python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9110/metrics", timeout=5).read().decode())' |
	awk '$1 == "netio_pipeline_packets_total{pipeline=\"to-wan\"}" { print $2 }')
[ "$metric" = "$(stat "$(pl to-wan .packets)")" ] || fail "metrics say $metric to-wan packets after reload"
ok "SIGHUP and netioctl reload: counters carried over, [$before] -> [$after]"

# 6. Malformed frames are counted as drops; the daemon keeps running. An afxdp port's XDP
# program claims only what it can parse: the unparsable ones are the kernel's, and the frames
# go to the gateway's MAC (a broadcast frame is the kernel's too).
if [ "${NETIO_DRIVER:-afpacket}" = afxdp ]; then
	dmac=$(gw cat /sys/class/net/gw-lan/address)
else
	dmac=ff:ff:ff:ff:ff:ff
fi
lan /usr/bin/python3 - "$dmac" <<'PY' || fail "scapy could not send"
import sys
from scapy.all import Ether, IP, UDP, Raw, sendp, get_if_hwaddr
import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
good = bytes(IP(src="192.0.2.10", dst="198.51.100.10") / UDP(sport=9, dport=9) / Raw(b"abcd"))
frames = [good[:12], bytes([0x43]) + good[1:], good[:2] + b"\x05\xdc" + good[4:]]
eth = Ether(src=get_if_hwaddr("eth0"), dst=sys.argv[1], type=0x0800)
sendp([eth / Raw(f) for f in frames], iface="eth0", verbose=False)
PY
sleep 0.3
drops='.ports[] | select(.name=="lan") | .drops'
if [ "${NETIO_DRIVER:-afpacket}" = afxdp ]; then
	[ "$(stat "$drops[\"truncated-ip\"] // 0")" -eq 0 ] || fail "XDP claimed a truncated header"
	[ "$(stat "$drops[\"bad-ihl\"] // 0")" -eq 0 ] || fail "XDP claimed a bad IHL"
else
	[ "$(stat "$drops[\"truncated-ip\"]")" -ge 1 ] || fail "truncated IPv4 header not counted"
	[ "$(stat "$drops[\"bad-ihl\"]")" -ge 1 ] || fail "bad IHL not counted"
fi
[ "$(stat "$drops[\"bad-ip-length\"]")" -ge 1 ] || fail "bad total length not counted"
lan ping -c 3 -i 0.05 -W 1 198.51.100.10 >/dev/null || fail "forwarding stopped after malformed frames"
ok "malformed frames counted: $(ctl -j stats | jq -c "$drops")"

# 7. Only netiod forwards: stop it and traffic stops; start it again and traffic resumes.
stop_netiod
lan ping -c 3 -i 0.2 -W 1 198.51.100.10 >/dev/null 2>&1 && fail "traffic flowed with netiod stopped"
ok "netiod stopped: no forwarding"
start_netiod "$here/gateway.conf"
warm_up
ok "netiod restarted: forwarding again"

# 8. A link flap: the packet socket reports ENETDOWN once; netiod clears it (poll_errors) rather
# than waking on it forever, keeps the port up and forwards again once the link is back.
gw ip link set gw-lan down
sleep 0.3
gw ip link set gw-lan up
warm_up
e=$(stat '.ports[] | select(.name=="lan") | .poll_errors')
# an AF_XDP socket reports no error for a link down: it just receives nothing meanwhile
[ "$e" -ge 1 ] || [ "${NETIO_DRIVER:-afpacket}" = afxdp ] ||
	fail "the link flap left no poll error on lan"
[ "$(ctl -j port list | jq -r '.[] | select(.name=="lan") | .state')" = up ] || fail "lan not up after the flap"
sleep 1
t0=$(awk '{ print $14 + $15 }' "/proc/$NETIOD_PID/stat")
sleep 2
t1=$(awk '{ print $14 + $15 }' "/proc/$NETIOD_PID/stat")
[ $((t1 - t0)) -lt 50 ] || fail "idle netiod used $((t1 - t0)) clock ticks in 2 s after the flap: woken by the error"
lan ping -c 5 -i 0.05 -W 1 198.51.100.10 >/dev/null || fail "no forwarding after the link flap"
ok "link flap: $e poll error(s) cleared, idle netiod used $((t1 - t0)) ticks in 2 s, forwarding again"

#!/bin/sh
# The running state through netioctl -j, checked against real traffic: config show is what
# netiod -t -v prints; route get names the pipeline, next hop and MAC the packets then take on
# the wire; flow show lists the flows pinged; stats clear resets netioctl's view while /metrics
# keeps counting; an AF_PACKET RX ring overflow (netiod stopped, a burst) is counted as
# rx-ring-full drops; /metrics passes promtool check metrics and has each family contiguous.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v promtool >/dev/null || fail "promtool missing: run scripts/deps.sh as root"
setup_topology
# Two next hops on the wan host with different MACs: eth0 198.51.100.10 and mv0 .11 (macvlan);
# behind them 203.0.113.5 and 203.0.113.130 (addresses of the wan host itself).
# arp_ignore: each answers ARP for its own address only, or eth0 would answer for both.
wan sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth0.arp_ignore=1
wan ip link add mv0 link eth0 type macvlan mode bridge
wan ip addr add 198.51.100.11/24 dev mv0
wan ip link set mv0 up
wan ip addr add 203.0.113.5/32 dev lo
wan ip addr add 203.0.113.130/32 dev lo
no_offload "$NS_WAN" mv0
gw ip route add 203.0.113.0/25 via 198.51.100.10
gw ip route add 203.0.113.128/25 via 198.51.100.11
cat >"$WORK/state.conf" <<'C'
metrics-listen = "127.0.0.1:9110"
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" ring-frames = 64 }
pipeline to-wan {
	match { in = "lan" dst = { "198.51.100.0/24", "203.0.113.0/24" } }
	service mark { }
}
pipeline to-lan {
	match { in = "wan" dst = "192.0.2.0/24" }
	service qos { rate = "100mbit" }
	out = "lan"
}
C
start_netiod "$WORK/state.conf"
warm_up
for a in 198.51.100.11 203.0.113.5 203.0.113.130; do warm_up_to "$a"; done
metrics() {
	gw python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9110/metrics", timeout=5).read().decode(), end="")'
}
metric() { metrics | awk -v k="$1" '$1 == k { print $2 }'; }
pl() { echo ".pipelines[] | select(.name==\"$1\") | $2"; }

# 1. config show: the netiod -t -v printer's text, and the same in JSON.
ctl config show >"$WORK/show.txt" || fail "config show"
gw "$O/netiod/netiod" -t -v -P "$O/services" -c "$WORK/netiod.conf" >"$WORK/t.txt" 2>/dev/null ||
	fail "netiod -t -v"
cmp -s "$WORK/show.txt" "$WORK/t.txt" || fail "config show differs from netiod -t -v: $(diff "$WORK/t.txt" "$WORK/show.txt")"
ctl -j config show >"$WORK/show.json" || fail "config show -j"
jq -e '[.pipelines[].name] == ["to-wan", "to-lan"] and
	.pipelines[0].match.dst == ["198.51.100.0/24", "203.0.113.0/24"] and
	.pipelines[0].out == null and .pipelines[1].out == "lan" and
	.pipelines[1].services[0].name == "qos" and .pipelines[1].services[0].options.rate == "100mbit" and
	([.ports[].device] == ["gw-lan", "gw-wan"])' "$WORK/show.json" >/dev/null ||
	fail "config show -j: $(cat "$WORK/show.json")"
ok "config show is netiod -t -v's text; -j has the same pipelines, matches, services, ports"

# 1b. Usage errors of these verbs: exit 1, naming what was wrong.
while IFS=: read -r args want; do
	# shellcheck disable=SC2086
	out=$(ctl $args 2>&1)
	[ $? -eq 1 ] || fail "netioctl $args: not a usage error ($out)"
	echo "$out" | grep -qF "$want" || fail "netioctl $args: '$out' does not say: $want"
done <<'CASES'
route get 192.0.2.9 colour red:unknown argument 'colour' for 'route get'
route get 192.0.2.9 sport x:bad sport 'x'
route get:missing ADDRESS
flow show src:'src' needs a value
stats port lan port wan:'port' given twice
config show extra:unexpected argument 'extra'
CASES
jq -e '.ok == false and .exit == 2 and (.error | contains("\"dst\" must be an IPv4 or IPv6 address"))' \
	>/dev/null <<J || fail "route get of no address: not a daemon error"
$(ctl -j route get nowhere 2>&1)
J
ok "usage errors name the wrong word; a bad address is the daemon's error (exit 2)"

# 2. The mirror: both routes and both neighbours as the kernel has them.
ctl -j route show table main >"$WORK/routes.json" || fail "route show"
jq -e '.routes | any(.dst == "203.0.113.128/25" and .via == "198.51.100.11" and .port == "wan")' \
	"$WORK/routes.json" >/dev/null || fail "route show: $(cat "$WORK/routes.json")"
mac10=$(wan cat /sys/class/net/eth0/address)
mac11=$(wan cat /sys/class/net/mv0/address)
ctl -j neigh show >"$WORK/neigh.json" || fail "neigh show"
jq -e --arg m "$mac11" '.neighbours | any(.addr == "198.51.100.11" and .mac == $m and .port == "wan")' \
	"$WORK/neigh.json" >/dev/null || fail "neigh show: $(cat "$WORK/neigh.json")"
ok "route show and neigh show list the kernel's routes and neighbours"

# 3. route get, then the packets: the next hop's MAC on the wire is the one route get named.
for dst in 203.0.113.5 203.0.113.130; do
	ctl -j route get $dst from 192.0.2.10 proto icmp >"$WORK/get-$dst.json" || fail "route get $dst"
done
jq -e --arg m "$mac10" '.verdict == "pipeline" and .pipeline == "to-wan" and .in == "lan" and
	.next_hop == "198.51.100.10" and .out == "wan" and .mac == $m and .route.dst == "203.0.113.0/25"' \
	"$WORK/get-203.0.113.5.json" >/dev/null || fail "route get 203.0.113.5: $(cat "$WORK/get-203.0.113.5.json")"
jq -e --arg m "$mac11" '.pipeline == "to-wan" and .next_hop == "198.51.100.11" and .mac == $m and
	(.neighbour | test("reachable|stale|delay|probe"))' \
	"$WORK/get-203.0.113.130.json" >/dev/null || fail "route get 203.0.113.130: $(cat "$WORK/get-203.0.113.130.json")"
fpk() { ctl -j flow show dst "$1" | jq '[.flows[] | select(.src == "192.0.2.10") | .packets] | add // 0'; }
f5=$(fpk 203.0.113.5)
f130=$(fpk 203.0.113.130)
wan timeout 20 tcpdump -l -e -n -i eth0 -c 6 'icmp[icmptype] == 8 and dst net 203.0.113.0/24' \
	>"$WORK/wire.txt" 2>"$WORK/tcpdump.err" &
dump=$!
listening "$WORK/tcpdump.err"
lan ping -c 3 -i 0.2 -W 2 203.0.113.5 >/dev/null || fail "ping 203.0.113.5"
lan ping -c 3 -i 0.2 -W 2 203.0.113.130 >/dev/null || fail "ping 203.0.113.130"
wait $dump
for dst in 203.0.113.5 203.0.113.130; do
	want=$(jq -r .mac "$WORK/get-$dst.json")
	seen=$(awk -v d="$dst:" '$0 ~ d { sub(",", "", $4); print $4 }' "$WORK/wire.txt" | sort -u)
	[ "$seen" = "$want" ] || fail "to $dst the wire shows MAC '$seen', route get said $want: $(cat "$WORK/wire.txt")"
done
ok "route get names the pipeline, next hop and MAC the echo requests took (two next hops)"
jq -e '.verdict == "local"' >/dev/null <<J || fail "route get to the gateway's own address"
$(ctl -j route get 192.0.2.1 from 192.0.2.10)
J
jq -e '.verdict == "unclaimed" and .in == "wan"' >/dev/null <<J || fail "route get unclaimed"
$(ctl -j route get 203.0.113.5 in wan)
J
ok "route get: the gateway's own address is local, an unmatched packet unclaimed"

# 4. flow show: the two flows just pinged, 3 more packets each, and their replies.
ctl -j flow show dst 203.0.113.0/24 pipeline to-wan >"$WORK/flows.json" || fail "flow show"
jq -e --argjson a "$((f5 + 3))" --argjson b "$((f130 + 3))" '.matched == 2 and
	([.flows[] | select(.src == "192.0.2.10" and .proto == 1 and .in == "lan" and
		.out == "wan") | [.dst, .packets]] | sort) == [["203.0.113.130", $b], ["203.0.113.5", $a]]' \
	"$WORK/flows.json" >/dev/null || fail "flow show (want $f5 + 3, $f130 + 3): $(cat "$WORK/flows.json")"
jq -e '[.flows[] | select(.dst == "192.0.2.10" and .pipeline == "to-lan") | .src] | index("203.0.113.5") != null' \
	>/dev/null <<J || fail "flow show pipeline to-lan lists no reply flow"
$(ctl -j flow show pipeline to-lan)
J
ok "flow show lists the pinged flows (3 packets each) and their replies"
# 8000 UDP flows: a reply of over 1 MiB must arrive whole (one reply of any size goes out)
lan python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in range(1, 8001):
    s.sendto(b"x", ("198.51.100.10", p))
    if p % 500 == 0: time.sleep(0.01)' || fail "UDP flows"
n=0
for _ in $(seq 10); do # bounded: until the worker has taken every frame from the ring
	sleep 0.5
	ctl -j flow show dst 198.51.100.10 >"$WORK/many.json" || fail "flow show of many flows"
	last=$n
	n=$(jq '[.flows[] | select(.proto == 17)] | length' "$WORK/many.json")
	[ "$n" -eq "$last" ] && break
done
[ "$n" -eq 8000 ] || fail "flow show listed $n of 8000 UDP flows ($(ctl -j stats port lan | jq -c .ports[0].drops))"
size=$(jq -c . "$WORK/many.json" | wc -c) # about the daemon's own compact reply
[ "$size" -gt 1048576 ] || fail "the reply was small: $size bytes"
ok "flow show of $n flows: the reply ($size bytes) arrives whole, workers paused $(jq .paused_us "$WORK/many.json") us"

# 5. stats clear: netioctl's view restarts from 0, /metrics keeps the totals.
before=$(metric 'netio_pipeline_packets_total{pipeline="to-wan"}')
[ "${before:-0}" -ge 6 ] || fail "to-wan counted ${before:-nothing} packets"
ctl stats clear >/dev/null || fail "stats clear"
ctl -j stats pipeline to-wan >"$WORK/s0.json" || fail "stats pipeline to-wan"
jq -e '(.pipelines | length) == 1 and .pipelines[0].packets == 0 and .ports == [] and
	.cleared_ms_ago >= 0' "$WORK/s0.json" >/dev/null || fail "after clear: $(cat "$WORK/s0.json")"
lan ping -c 2 -i 0.2 -W 2 203.0.113.5 >/dev/null || fail "ping after clear"
[ "$(ctl -j stats pipeline to-wan | jq '.pipelines[0].packets')" = 2 ] ||
	fail "after clear and 2 pings: $(ctl -j stats pipeline to-wan | jq -c .pipelines)"
after=$(metric 'netio_pipeline_packets_total{pipeline="to-wan"}')
[ "$after" -eq $((before + 2)) ] || fail "/metrics went from $before to $after over 2 pings"
ctl -j stats port lan | jq -e '(.ports | length) == 1 and .ports[0].name == "lan" and .pipelines == []' \
	>/dev/null || fail "stats port lan"
ctl stats port nosuch >/dev/null 2>&1
[ $? -eq 2 ] || fail "stats port nosuch: not a daemon error"
ok "stats clear: the view shows 0, then 2; /metrics $before -> $after; stats port/pipeline filter"

# 6. Every drop is visible: with netiod stopped, a burst of 3000 frames of 1000 bytes overflows
# the wan port's RX ring (ring-frames 64: 4 blocks of 64 KiB, at most ~240 such frames).
kill -STOP "$NETIOD_PID"
wan python3 - <<'PY' || { kill -CONT "$NETIOD_PID"; fail "burst"; }
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3000):
    s.sendto(b"x" * 1000, ("192.0.2.10", 9))
PY
kill -CONT "$NETIOD_PID"
for _ in $(seq 50); do # the worker reads the kernel's count about once a second
	ctl -j stats port wan >"$WORK/ring.json" || fail "stats after the burst"
	full=$(jq '.ports[0].drops["rx-ring-full"] // 0' "$WORK/ring.json")
	[ "$full" -ge 1000 ] && break
	sleep 0.1
done
[ "$full" -ge 1000 ] || fail "ring overflow: $full rx-ring-full drops counted: $(cat "$WORK/ring.json")"
[ "$(jq .ports[0].rx_ring_freezes "$WORK/ring.json")" -ge 1 ] || fail "no ring freeze counted"
m=$(metric 'netio_port_drops_total{port="wan",reason="rx-ring-full"}')
[ "${m:-0}" -ge "$full" ] || fail "/metrics has ${m:-no} rx-ring-full drops, netioctl $full"
ok "AF_PACKET ring overflow: $full frames counted as rx-ring-full in stats and /metrics"

# 7. /metrics with all this traffic: promtool's checks, and each family one contiguous group,
# _total exactly on counters, gauges typed as such, a build_info series.
metrics >"$WORK/metrics.txt" || fail "GET /metrics"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.txt" 2>&1 ||
	fail "promtool check metrics: $(cat "$WORK/promtool.txt")"
awk '
/^# TYPE / { if ($3 in type) { print "second TYPE for " $3; bad = 1 }
	type[$3] = $4; cur = $3; next }
/^#/ { next }
{ n = $1; sub(/\{.*/, "", n)
  if (n != cur) { print n " outside its family group"; bad = 1 }
  if ((n ~ /_total$/) != (type[n] == "counter")) { print n " is a " type[n]; bad = 1 } }
END { exit bad }' "$WORK/metrics.txt" >"$WORK/families.txt" ||
	fail "/metrics families: $(head -n 5 "$WORK/families.txt")"
grep -q '^# TYPE netio_build_info gauge$' "$WORK/metrics.txt" &&
	grep -q '^netio_build_info{version="[^"]*",.*} 1$' "$WORK/metrics.txt" || fail "no netio_build_info"
grep -q '^# TYPE netio_service_current gauge$' "$WORK/metrics.txt" &&
	grep -q '^netio_service_current{pipeline="to-lan",service="qos",name="queue-packets"} ' \
		"$WORK/metrics.txt" || fail "the qos queue length is not a gauge"
ok "/metrics passes promtool check metrics; families contiguous, gauges typed, build_info"

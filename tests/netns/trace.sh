#!/bin/sh
# Packet tracer: netioctl trace start/show/stop/clear with real pings through netiod. A pipeline
# filter with count 3 records exactly 3 packets with every step (in port, pipeline, each
# service's verdict, route, out port); a service drop, a TTL-1 ping, a blackhole route and a
# neighbour that never answers show the drop and its reason, a resolved one the wait; a port
# filter takes only that port's packets; bad requests get error replies; a reload forgets the
# trace.
. "$(dirname "$0")/lib.sh"

setup_topology
printf '%s\n' '	service mark { dscp = 10 drop-dst = "198.51.100.99/32" }' \
	'	service qos { policer all { cir = "1gbit" cbs = "64k" ebs = "64k" } }' |
	to_wan_conf >"$WORK/trace.conf"
start_netiod "$WORK/trace.conf"
warm_up

# wait_traced N: until N records are done (<= 10 s), sending pings meanwhile with "$@".
wait_traced() {
	_n=$1
	shift
	for _ in $(seq 50); do
		[ "$(ctl -j trace show | jq "[.packets[] | select(.done)] | length")" -ge "$_n" ] &&
			return 0
		"$@" >/dev/null 2>&1
		sleep 0.2
	done
	ctl trace show
	fail "fewer than $_n traced packets done"
}

# --- a pipeline, count 3: exactly 3 packets, every step
ctl trace start pipeline to-wan count 3 >/dev/null || fail "trace start"
lan ping -c 5 -i 0.2 -W 1 198.51.100.10 >/dev/null || fail "ping through netiod while tracing"
wait_traced 3 lan ping -c 1 -W 1 198.51.100.10
sleep 0.5 # any further packet would be recorded by now
ctl -j trace show >"$WORK/show.json"
[ "$(jq '.packets | length' "$WORK/show.json")" = 3 ] ||
	fail "count 3 traced $(jq '.packets | length' "$WORK/show.json") packets"
[ "$(jq '.armed' "$WORK/show.json")" = false ] || fail "trace still armed after 3 packets"
# each: in lan, pipeline to-wan, mark then qos passing, routed to the wan host, out wan (with
# NETIO_WORKERS=2 a packet another worker received is handed to qos' owner and looked up again)
for i in 0 1 2; do
	p=".packets[$i]"
	got=$(jq -c "$p | [.packet.dst, (.steps | map(.step) | join(\" \") | sub(\" handoff flow\"; \"\")),
		(.steps[] | select(.step == \"rx\") | .port),
		(.steps[] | select(.step == \"pipeline\") | .pipeline),
		[.steps[] | select(.step == \"service\") | \"\(.service)=\(.verdict)\"],
		(.steps[] | select(.step == \"route\") | .out),
		(.steps[] | select(.step == \"tx\") | .port)]" "$WORK/show.json")
	want='["198.51.100.10","rx parse flow pipeline guard service service route l2-rewrite tx","lan","to-wan",["mark=pass","qos=pass"],"wan","wan"]'
	[ "$got" = "$want" ] || fail "packet $i: $got, expected $want"
done
# a handoff keeps the record: what follows it was done by the worker it names
jq -e '[.packets[] | .steps as $s | range(0; $s | length) as $i | select($s[$i].step == "handoff") |
	$s[$i].to as $t | $s[$i + 1:][] | select(.worker != $t)] | length == 0' "$WORK/show.json" >/dev/null ||
	fail "steps after a handoff by another worker: $(jq -c '.packets' "$WORK/show.json")"
[ "$(jq '[.packets[].steps[] | select(.step == "guard") | .ttl] | unique' -c "$WORK/show.json")" = "[63]" ] ||
	fail "guard steps do not show TTL 63"
ok "pipeline filter, count 3: 3 packets, rx lan -> to-wan -> mark, qos pass -> tx wan"
ctl trace show | grep -q '^Packet 3 (worker [0-9]): ipv4 icmp 192.0.2.10 -> 198.51.100.10' ||
	fail "text output: $(ctl trace show)"
ctl trace show | grep -q 'us w[0-9] tx: port wan, len 98' || fail "text output has no tx step"

# --- a service drop: the verdict and the counter it was counted under
ctl trace start pipeline to-wan count 1 >/dev/null || fail "trace start"
wait_traced 1 lan ping -c 1 -W 1 198.51.100.99
got=$(ctl -j trace show | jq -c '.packets[0].steps | map(select(.step == "service" or .step == "drop"))')
want='[{"step":"service","worker":W,"t_us":T,"service":"mark","index":1,"verdict":"drop","reason":"dropped-prefix"},{"step":"drop","worker":W,"t_us":T,"reason":"service"}]'
[ "$(echo "$got" | sed 's/"t_us":[0-9]*/"t_us":T/g; s/"worker":[0-9]*/"worker":W/g')" = "$want" ] ||
	fail "service drop: $got"
ok "service drop: mark drop (dropped-prefix), then drop reason service"

# --- TTL 1: dropped as ttl-exceeded, the ICMP error sent back out of lan
ctl trace start pipeline to-wan count 1 >/dev/null || fail "trace start"
lan ping -c 1 -t 1 -W 1 198.51.100.10 >"$WORK/ttl.out" 2>&1
grep -q "Time to live exceeded" "$WORK/ttl.out" || fail "no time exceeded: $(cat "$WORK/ttl.out")"
wait_traced 1 true
got=$(ctl -j trace show | jq -c '[.packets[0].steps[] | select(.step == "drop" or .step == "icmp-error" or .step == "tx") | [.step, .reason // .about // .port, .sent]]')
[ "$got" = '[["drop","ttl-exceeded",null],["icmp-error","ttl-exceeded",true],["tx","lan",null]]' ] ||
	fail "TTL 1: $got"
ok "TTL 1: drop ttl-exceeded, ICMP time exceeded sent, out lan"

# --- a blackhole route in the gateway's kernel: netiod drops the packet as the kernel would
gw ip route add blackhole 198.51.100.77/32
for _ in 1 2 3 4 5; do # until netiod's mirror of the routes has it (a netlink notification)
	ctl trace start pipeline to-wan count 1 >/dev/null || fail "trace start"
	wait_traced 1 lan ping -c 1 -W 1 198.51.100.77
	got=$(ctl -j trace show | jq -c '[.packets[0].steps[-1] | .step, .reason]')
	[ "$got" = '["drop","blackhole"]' ] && break
done
[ "$got" = '["drop","blackhole"]' ] || fail "blackhole route: $got"
ok "blackhole route: drop blackhole"

# --- a next hop without a neighbour entry: the packet waits for the kernel to resolve it, then
# leaves; one to an address nobody answers for is dropped when the wait times out (3 s)
for _ in 1 2 3 4 5; do # until netiod's mirror of the neighbours has lost the entry
	gw ip neigh flush dev gw-wan
	ctl trace start pipeline to-wan count 1 >/dev/null || fail "trace start"
	wait_traced 1 lan ping -c 1 -W 2 198.51.100.10
	got=$(ctl -j trace show | jq -c '[.packets[0].steps[] | .step] | .[-4:]')
	[ "$got" = '["route","neighbour-wait","l2-rewrite","tx"]' ] && break
done
[ "$got" = '["route","neighbour-wait","l2-rewrite","tx"]' ] || fail "neighbour wait: $got"
ctl trace start pipeline to-wan count 1 >/dev/null || fail "trace start"
wait_traced 1 lan ping -c 1 -W 5 198.51.100.11
got=$(ctl -j trace show | jq -c '[.packets[0].steps[-2:][] | [.step, .via // .reason]]')
[ "$got" = '[["neighbour-wait","198.51.100.11"],["drop","neigh-timeout"]]' ] ||
	fail "neighbour timeout: $got"
ok "neighbour: waited, then out; nobody answering: drop neigh-timeout"

# --- a port filter: only packets received on wan (the replies), whatever the pipeline
ctl trace start port wan count 4 >/dev/null || fail "trace start port wan"
wait_traced 4 lan ping -c 2 -i 0.2 -W 1 198.51.100.10
ctl -j trace show >"$WORK/port.json"
[ "$(jq '[.packets[].steps[0] | select(.step == "rx" and .port == "wan")] | length' "$WORK/port.json")" = 4 ] ||
	fail "port filter took packets of another port: $(jq -c '[.packets[].steps[0]]' "$WORK/port.json")"
jq -e '[.packets[] | select(any(.steps[]; .step == "pipeline" and .pipeline == "to-lan") and
	any(.steps[]; .step == "tx" and .port == "lan"))] | length >= 1' "$WORK/port.json" >/dev/null ||
	fail "no reply traced through to-lan to lan"
ok "port filter: 4 packets, all received on wan, replies through to-lan"

# --- stop and clear
ctl trace start count 1000 >/dev/null || fail "trace start count 1000"
ctl trace stop >/dev/null || fail "trace stop"
n=$(ctl -j trace show | jq '.traced')
lan ping -c 2 -i 0.2 -W 1 198.51.100.10 >/dev/null
[ "$(ctl -j trace show | jq '.traced')" = "$n" ] || fail "a stopped trace kept recording"
[ "$(ctl -j trace show | jq '.armed')" = false ] || fail "stopped trace still armed"
ctl trace clear >/dev/null || fail "trace clear"
[ "$(ctl -j trace show | jq -c '[.traced, .count]')" = "[0,0]" ] || fail "clear kept records"
ok "stop: no new records; clear: none left"

# --- errors: replies, not crashes
expect_error() { # exit-status message-part args...
	_rc=$1 _msg=$2
	shift 2
	out=$(ctl "$@" 2>&1)
	rc=$?
	[ "$rc" = "$_rc" ] || fail "netioctl $*: exit $rc, expected $_rc ($out)"
	echo "$out" | grep -q "$_msg" || fail "netioctl $*: '$out' does not say '$_msg'"
}
expect_error 2 "no pipeline named 'nope'" trace start pipeline nope
expect_error 2 "no port named 'nope'" trace start port nope
expect_error 2 'from 1 to 1000' trace start count 0
expect_error 2 'from 1 to 1000' trace start count 1001
expect_error 2 'not both' trace start pipeline to-wan port lan
expect_error 1 "bad count (a number of packets): 'many'" trace start count many
expect_error 1 "a value is missing after 'pipeline'" trace start pipeline
expect_error 1 "unknown argument for 'trace start' (it takes pipeline, port, count): 'via'" \
	trace start via x
expect_error 1 "unknown command 'begin' for 'trace'" trace begin
ok "bad requests: error replies (exit 2), usage errors (exit 1)"

# --- a reload forgets the trace
ctl trace start pipeline to-wan count 5 >/dev/null || fail "trace start"
wait_traced 1 lan ping -c 1 -W 1 198.51.100.10
ctl reload >/dev/null || fail "reload"
[ "$(ctl -j trace show | jq -c '[.traced, .armed]')" = "[0,false]" ] ||
	fail "a trace survived the reload: $(ctl -j trace show | jq -c '[.traced, .armed]')"
lan ping -c 1 -W 1 198.51.100.10 >/dev/null || fail "ping after reload"
kill -0 "$NETIOD_PID" || fail "netiod died"
ok "reload: the trace is gone"

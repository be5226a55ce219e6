#!/bin/sh
# afxdp ports make real claims, which afpacket taps cannot: with the gateway's kernel forwarding
# ON, a claimed flow goes through netiod only (each datagram arrives once) and an unclaimed one
# through the kernel only; under a catch-all claim the gateway's kernel still answers its own
# ping and neighbour discovery; while netiod is stopped, and after a kill -9, the XDP program
# drops the secure pipeline's flow and hands the passthrough one to the kernel; a restarted
# netiod takes the program over and forwards again. Frames are moved, never copied. Two workers
# on veths with two queues: each worker has the AF_XDP socket of its queue.
here=$(cd "$(dirname "$0")" && pwd)
VETH_QUEUES=2
NETIOD_ARGS=""
. "$here/lib.sh"

COUNT=200
FLOW() { wan /usr/bin/python3 "$here/seqflow.py" "$@"; }

# flow PORT TIMEOUT: PORT's datagrams as the wan host saw them, one JSON line ($COUNT sent)
flow() {
	FLOW recv 198.51.100.10 "$1" 1 1 "$2" >"$WORK/recv-$1" &
	_r=$!
	for _ in $(seq 50); do
		wan ss -Hlun "sport = :$1" | grep -q . && break
		sleep 0.1
	done
	lan timeout 60 /usr/bin/python3 "$here/seqflow.py" send 198.51.100.10 "$1" 1 1 $COUNT \
		>/dev/null || fail "sender on port $1"
	wait $_r
	cat "$WORK/recv-$1"
}
got() { echo "$1" | jq -r "$2"; }

# once JSON WHAT: every datagram arrived exactly once (a second forwarder would double them)
once() {
	[ "$(got "$1" .received)" -eq $COUNT ] && [ "$(got "$1" .reordered)" -eq 0 ] &&
		[ "$(got "$1" .end_markers)" -eq 3 ] || fail "$2: $1"
}
pl() { stat ".pipelines[] | select(.name==\"$1\") | .tx_packets"; }

if ! /usr/bin/python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null; then
	echo "afxdp: no AF_XDP sockets in this kernel; skipped"
	exit 77
fi
setup_topology
gw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
cat >"$WORK/afxdp.conf" <<'EOF'
workers = 2
port lan { device = "gw-lan" driver = "afxdp" }
port wan { device = "gw-wan" driver = "afxdp" }
pipeline secure {
	match { in = "lan" dst = "198.51.100.0/24" proto = "udp" dport = "5001" }
	out = "wan"
	fail-mode = "secure"
}
pipeline pass {
	match { in = "lan" dst = "198.51.100.0/24" proto = "udp" dport = "5002" }
	out = "wan"
	fail-mode = "passthrough"
}
pipeline from-wan {
	match { in = "wan" }
	out = "lan"
	fail-mode = "passthrough"
}
EOF
start_netiod "$WORK/afxdp.conf"
[ "$(ctl -j port list | jq -r '[.[] | .driver + "/" + .claims + "/" + .mode] | unique | .[]')" = \
	afxdp/enforced/copy ] || fail "port list: $(ctl port list)"
grep -q "port lan: AF_XDP on gw-lan, 2 queue(s), copy mode" "$WORK/netiod.log" ||
	fail "not one socket per queue: $(grep AF_XDP "$WORK/netiod.log")"
warm_up
ok "afxdp ports up, claims enforced, copy mode on veth, 2 queues (port list, log)"

# 1. Kernel forwarding on: claimed flows through netiod alone, unclaimed through the kernel alone.
r=$(flow 5001 30)
once "$r" "claimed flow not delivered exactly once with the kernel forwarding too"
[ "$(pl secure)" -ge $COUNT ] || fail "pipeline secure sent $(pl secure), not the flow"
rx0=$(stat '.ports[] | select(.name=="lan") | .rx_packets')
r=$(flow 5003 30)
once "$r" "unclaimed flow not forwarded by the kernel"
rx1=$(stat '.ports[] | select(.name=="lan") | .rx_packets')
[ $((rx1 - rx0)) -eq 0 ] || fail "netiod received $((rx1 - rx0)) frames of an unclaimed flow"
ok "kernel forwarding on: claimed flow once through netiod ($(pl secure) sent), unclaimed once through the kernel alone"

# 16 flows of the claimed port: the veth spreads them over its two queues, each worker's socket
# takes its own, and every datagram arrives once, in order.
FLOW recv 198.51.100.10 5001 1 16 30 >"$WORK/recv-16" &
r16=$!
for _ in $(seq 50); do
	wan ss -Hlun "sport = :5001" | grep -q . && break
	sleep 0.1
done
lan timeout 60 /usr/bin/python3 "$here/seqflow.py" send 198.51.100.10 5001 1 16 50 >/dev/null ||
	fail "sender of 16 flows"
wait $r16
r=$(cat "$WORK/recv-16")
[ "$(got "$r" .received)" -eq 800 ] && [ "$(got "$r" .reordered)" -eq 0 ] ||
	fail "16 flows over 2 queues: $r"
for w in 0 1; do
	n=$(stat ".workers[$w].ports[] | select(.name==\"lan\") | .rx_packets")
	[ "$n" -gt 0 ] || fail "worker $w received nothing on its queue's socket"
done
per=$(ctl -j stats | jq -r '[.workers[].ports[] | select(.name=="lan") | .rx_packets] | map(tostring) | join("/")')
ok "2 queues, 2 workers: each worker's socket received ($per frames), 16 flows in order"

# 2. Everything from wan is claimed: the gateway's own addresses and ND stay with its kernel.
wan ip neigh flush dev eth0
wan ping -c 3 -i 0.2 -W 1 198.51.100.1 >/dev/null || fail "the kernel did not answer a ping to the gateway"
wan ping -6 -c 3 -i 0.2 -W 1 2001:db8:2::1 >/dev/null || fail "no IPv6 ping (ND) to the gateway"
wan ping -c 3 -i 0.2 -W 1 192.0.2.10 >/dev/null || fail "wan -> lan through the catch-all claim"
[ "$(pl from-wan)" -ge 3 ] || fail "the catch-all pipeline forwarded $(pl from-wan) packets"
ok "catch-all claim: ping and ND to the gateway answered by its kernel, transit through netiod"

# 3. Frames moved in place between the two ports: no copy anywhere.
c=$(stat '[.ports[] | .rx_copies + .tx_copies] | add')
[ "$c" -eq 0 ] || fail "$c frames copied between afxdp ports"
ctl stats | grep -q '^copies: 0 in, 0 out, 0.00 per frame sent' || fail "stats: $(ctl stats | grep copies)"
ok "afxdp to afxdp: 0 copies per forwarded frame"

# 4. A reload that drops lan hands the device back to the kernel (program detached); one that
# brings it back, the ports listed in the other order, claims again by the new indices.
{ echo 'forward-nothing = true'; grep '^port wan' "$WORK/afxdp.conf"; } >"$WORK/wan-only.conf"
ctl reload "$WORK/wan-only.conf" >/dev/null || fail "reload without lan"
gw ip link show gw-lan | grep -q 'prog/xdp' && fail "lan's XDP program stayed after the port went"
{ grep '^port wan' "$WORK/afxdp.conf"; grep -v '^port wan' "$WORK/afxdp.conf"; } >"$WORK/swapped.conf"
ctl reload "$WORK/swapped.conf" >/dev/null || fail "reload bringing lan back"
w0=$(pl from-wan)
wan ping -c 3 -i 0.2 -W 1 192.0.2.10 >/dev/null || fail "wan -> lan after lan came back"
[ $(($(pl from-wan) - w0)) -ge 3 ] || fail "from-wan +$(($(pl from-wan) - w0)) after lan came back"
# both ports kept, both indices changed: the claims go by the new ones
ctl reload "$WORK/afxdp.conf" >/dev/null || fail "reload back to the first configuration"
s0=$(pl secure)
r=$(flow 5001 30)
once "$r" "claimed flow after the reloads"
[ $(($(pl secure) - s0)) -ge $COUNT ] || fail "secure +$(($(pl secure) - s0)) after the reloads"
ok "reloads: lan dropped (program detached), back, ports reordered twice: claims follow the indices"

# 4b. poll = "napi" by reload: the workers never sleep and their sockets busy-poll the veths'
# receive (setsockopt by each worker, refused options would be logged); the claimed flow
# still arrives once, in order.
{ echo 'poll = "napi"'; cat "$WORK/afxdp.conf"; } >"$WORK/busy.conf"
ctl reload "$WORK/busy.conf" >/dev/null || fail "reload to poll napi"
[ "$(ctl -j config show | jq -r .poll)" = napi ] || fail "config show: poll $(ctl -j config show | jq .poll)"
sl0=$(stat .worker.idle_sleeps)
s0=$(pl secure)
r=$(flow 5001 30)
once "$r" "claimed flow with poll napi"
[ $(($(pl secure) - s0)) -ge $COUNT ] || fail "secure +$(($(pl secure) - s0)) with poll napi"
sl1=$(stat .worker.idle_sleeps)
[ "$sl1" -eq "$sl0" ] || fail "poll napi: the workers slept $((sl1 - sl0)) times during the flow"
grep "busy-poll" "$WORK/netiod.log" && fail "a socket refused busy-poll"
ctl reload "$WORK/afxdp.conf" >/dev/null || fail "reload back to poll sleep"
ok "poll napi: claimed flow once through netiod, the workers never slept (then back to sleep)"

# 5. netiod kept off its CPU (SIGSTOP) while a burst larger than its socket's RX ring (4096)
# arrives: the frames the kernel could not queue are counted as rx-ring-full, and with what
# netiod received they add up to what the XDP program redirected to it.
N=8000
lanport() { stat ".ports[] | select(.name==\"lan\") | $1"; }
seen() { echo $(($(lanport .rx_packets) + $(lanport '.drops["rx-ring-full"] // 0'))); }
s0=$(seen)
x0=$(lanport .xdp.redirected)
kill -STOP "$NETIOD_PID"
lan /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
for i in range('$N'):
    s.sendto(b"x" * 18, ("198.51.100.10", 5001))
' || fail "burst sender"
sleep 0.5
kill -CONT "$NETIOD_PID"
x=$(($(lanport .xdp.redirected) - x0))
for _ in $(seq 50); do
	[ "$(seen)" -ge $((s0 + x)) ] && break
	sleep 0.2
done
d=$(lanport '.drops["rx-ring-full"] // 0')
[ "$(seen)" -eq $((s0 + x)) ] && [ "$d" -gt 0 ] ||
	fail "burst of $N, $x redirected: received + rx-ring-full went from $s0 to $(seen) (rx-ring-full $d)"
ok "a burst of $N while netiod was stopped: $x redirected, $d counted as rx-ring-full, the rest received"

# failmode WHEN: with netiod gone, secure drops its flow and passthrough leaves it to the kernel
failmode() {
	r=$(flow 5001 4)
	[ "$(got "$r" .received)" -eq 0 ] || fail "$1: the secure flow leaked: $r"
	r=$(flow 5002 30)
	once "$r" "$1: the passthrough flow was not handed to the kernel"
	ok "$1: secure flow dropped in XDP, passthrough flow forwarded by the kernel once"
}
resumed() {
	start_netiod "$WORK/afxdp.conf"
	grep -q "taken over from the previous netiod" "$WORK/netiod.log" || fail "$1: no takeover logged"
	r=$(flow 5001 30)
	once "$r" "$1: secure flow after the restart"
	[ "$(pl secure)" -ge $COUNT ] || fail "$1: netiod did not forward after the restart"
	# the program counted what it did meanwhile, in maps that outlived netiod
	d=$(stat '.ports[] | select(.name=="lan") | .xdp.fail_dropped')
	[ "$d" -ge "$2" ] || fail "$1: the XDP program counted $d secure drops, expected >= $2"
	ok "$1: restarted netiod took the program over and forwards again"
}

# 6. netiod stopped (SIGTERM), then killed (kill -9): the program and its claims stay.
stop_netiod
failmode "netiod stopped"
resumed "after a stop" $COUNT
: >"$WORK/netiod.log"
kill -KILL "$NETIOD_PID"
wait "$NETIOD_PID" 2>/dev/null
NETIOD_PID=
failmode "netiod killed (-9)"
resumed "after kill -9" $((2 * COUNT))

#!/bin/sh
# ESP between two netiod gateways: IPv4 and IPv6 inner and outer, both engines on the wire,
# nothing in clear between the gateways, replays refused, kill -9 never reuses a sequence number,
# a receiver killed after the peer passed 2^32 resynchronises its extended sequence numbers,
# inner packets that no longer fit a 1500-byte path after ESP get ICMP too-big (PMTU discovery).
#
#  ha 192.0.2.10       gwa a-lan 192.0.2.1   a-wan 203.0.113.2   gwb b-wan 203.0.113.10
#     2001:db8:a::10       2001:db8:a::1          2001:db8:f::2       2001:db8:f::10
#                                                                      b-lan 198.51.100.1  hb 198.51.100.20
#                                                                            2001:db8:b::1    2001:db8:b::20
# The tunnel endpoints 203.0.113.1/.9 and 2001:db8:f::1/::9 belong to netiod alone: the
# kernels never see them as local (static neighbours point at the peer's MAC), so only netiod
# can answer ESP. The gateways' kernels do not forward.
set -u
: "${O:=${1:?usage: crypto.sh BUILD_DIR}}"
# CRYPTO_ISOLATE=1: every crypto instance isolated (isolate = true, netio-svchost)
ISO=${CRYPTO_ISOLATE:+1}
# a watchdog a loaded CI host cannot trip by keeping a healthy child off the CPU
ISO_OPTS='isolate = true watchdog = "250ms"'
O=$(cd "$O" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "crypto: needs root"; exit 77; }
[ -x "$O/netiod/netiod" ] && [ -f "$O/services/crypto.so" ] || { echo "crypto: not built"; exit 77; }
command -v tcpdump >/dev/null && command -v jq >/dev/null || { echo "crypto: no tcpdump/jq"; exit 77; }

PFX="nioc$$"
HA="$PFX-ha" GWA="$PFX-gwa" GWB="$PFX-gwb" HB="$PFX-hb"
WORK=$(mktemp -d /tmp/netio-crypto.XXXXXX)
MAC_A=02:00:00:00:0a:01
MAC_B=02:00:00:00:0b:01
PID_A= PID_B=

cleanup() {
	for p in $PID_A $PID_B; do kill -KILL "$p" 2>/dev/null; done
	for ns in "$HA" "$GWA" "$GWB" "$HB"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAILED: crypto: $*"
	for g in a b; do
		[ -f "$WORK/gw$g.log" ] && { echo "--- netiod gw$g (last 20 lines)"; tail -n 20 "$WORK/gw$g.log"; }
	done
	exit 1
}
ok() { echo "  ok  crypto: $*"; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl() { in_ns "$1" "$O/netiod/netioctl" -s "$WORK/gw$2.sock" -j stats; }
# svc GW PIPELINE JQ: a value of the crypto service of a pipeline
svc() { ctl "$(gw_ns "$1")" "$1" | jq -r ".pipelines[] | select(.name==\"$2\") | .services[0] | $3"; }
gw_ns() { [ "$1" = a ] && echo "$GWA" || echo "$GWB"; }

quiet() { ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true; }

topology() {
	for ns in "$HA" "$GWA" "$GWB" "$HB"; do
		ip netns add "$ns" || fail "netns add"
		ip -n "$ns" link set lo up
	done
	ip link add eth0 netns "$HA" type veth peer name a-lan netns "$GWA"
	ip link add a-wan netns "$GWA" address $MAC_A type veth peer name b-wan netns "$GWB" address $MAC_B
	ip link add eth0 netns "$HB" type veth peer name b-lan netns "$GWB"
	for x in "$HA eth0" "$GWA a-lan" "$GWA a-wan" "$GWB b-wan" "$GWB b-lan" "$HB eth0"; do
		set -- $x
		ip -n "$1" link set "$2" up
		quiet "$1" "$2"
	done
	for g in "$GWA" "$GWB"; do
		in_ns "$g" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
	done
	ip -n "$HA" addr add 192.0.2.10/24 dev eth0
	ip -n "$HA" addr add 2001:db8:a::10/64 dev eth0 nodad
	ip -n "$HA" route add default via 192.0.2.1
	ip -n "$HA" -6 route add default via 2001:db8:a::1
	ip -n "$HB" addr add 198.51.100.20/24 dev eth0
	ip -n "$HB" addr add 2001:db8:b::20/64 dev eth0 nodad
	ip -n "$HB" route add default via 198.51.100.1
	ip -n "$HB" -6 route add default via 2001:db8:b::1
	ip -n "$GWA" addr add 192.0.2.1/24 dev a-lan
	ip -n "$GWA" addr add 2001:db8:a::1/64 dev a-lan nodad
	ip -n "$GWA" addr add 203.0.113.2/24 dev a-wan
	ip -n "$GWA" addr add 2001:db8:f::2/64 dev a-wan nodad
	ip -n "$GWB" addr add 198.51.100.1/24 dev b-lan
	ip -n "$GWB" addr add 2001:db8:b::1/64 dev b-lan nodad
	ip -n "$GWB" addr add 203.0.113.10/24 dev b-wan
	ip -n "$GWB" addr add 2001:db8:f::10/64 dev b-wan nodad
	ip -n "$GWA" neigh add 203.0.113.9 lladdr $MAC_B dev a-wan nud permanent
	ip -n "$GWA" neigh add 2001:db8:f::9 lladdr $MAC_B dev a-wan nud permanent
	ip -n "$GWB" neigh add 203.0.113.1 lladdr $MAC_A dev b-wan nud permanent
	ip -n "$GWB" neigh add 2001:db8:f::1 lladdr $MAC_A dev b-wan nud permanent
	# routes to the far site keep the non-forwarding kernels from answering "unreachable"
	ip -n "$GWA" route add 198.51.100.0/24 via 203.0.113.9
	ip -n "$GWA" -6 route add 2001:db8:b::/48 via 2001:db8:f::9
	ip -n "$GWB" route add 192.0.2.0/24 via 203.0.113.1
	ip -n "$GWB" -6 route add 2001:db8:a::/48 via 2001:db8:f::1
}

key() { # file hexbytes
	od -An -tx1 -N "$2" /dev/urandom | tr -d ' \n' >"$WORK/$1"
	chmod 600 "$WORK/$1"
}

# sa NAME SPI DIR CIPHER LOCAL REMOTE KEY EXTRA: one SA block
sa() {
	printf '\t\tsa %s { spi = "%s" direction = "%s" cipher = "%s" key-file = "%s/%s"\n\t\t\tlocal = "%s" remote = "%s" %s }\n' \
		"$1" "$2" "$3" "$4" "$WORK" "$7" "$5" "$6" "$8"
}

# gateway config: conf ME PEER LANNET4 LANNET6 PEERNET4 PEERNET6 ENGINE OUT4 OUT6 IN4 IN6
conf() {
	cat <<EOF
port lan { device = "$2-lan" driver = "afpacket" }
port wan { device = "$2-wan" driver = "afpacket" }
pipeline to-peer {
	match { in = "lan" dst = { "$5", "$6" } }
	service crypto {
		engine = "$7"${ISO:+ $ISO_OPTS}
$8
$9
	}
	out = "wan"
	fail-mode = "secure"
}
pipeline from-peer {
	match { in = "wan" dst = { "$3", "$4" } }
	service crypto {
		engine = "$7"${ISO:+ $ISO_OPTS}
${10}
${11}
	}
	out = "lan"
	fail-mode = "secure"
}
EOF
}

# Gateway A (the sender killed below) runs two workers: its ESP pipelines have one owner each,
# the other worker hands their packets over; B runs one (-f).
write_confs() {
	{ echo "workers = 2"; conf a a 203.0.113.1/32 2001:db8:f::1/128 198.51.100.0/24 2001:db8:b::/48 openssl \
		"$(sa ab4 0x1001 out aes128-gcm 203.0.113.1 203.0.113.9 k-ab4 'inner-dst = { "198.51.100.0/24" }')" \
		"$(sa ab6 0x1002 out aes256-gcm 2001:db8:f::1 2001:db8:f::9 k-ab6 'esn = "yes" inner-dst = { "2001:db8:b::/48" }')" \
		"$(sa ba4 0x2001 in chacha20-poly1305 203.0.113.1 203.0.113.9 k-ba4 'esn = "yes" inner-src = { "198.51.100.0/24" } inner-dst = { "192.0.2.0/24" }')" \
		"$(sa ba6 0x2002 in aes128-gcm 2001:db8:f::1 2001:db8:f::9 k-ba6 'inner-src = { "2001:db8:b::/48" }')"
	} >"$WORK/gwa.conf"
	conf b b 203.0.113.9/32 2001:db8:f::9/128 192.0.2.0/24 2001:db8:a::/48 auto \
		"$(sa ba4 0x2001 out chacha20-poly1305 203.0.113.9 203.0.113.1 k-ba4 'esn = "yes" inner-dst = { "192.0.2.0/24" }')" \
		"$(sa ba6 0x2002 out aes128-gcm 2001:db8:f::9 2001:db8:f::1 k-ba6 'inner-dst = { "2001:db8:a::/48" }')" \
		"$(sa ab4 0x1001 in aes128-gcm 203.0.113.9 203.0.113.1 k-ab4 'inner-src = { "192.0.2.0/24" }')" \
		"$(sa ab6 0x1002 in aes256-gcm 2001:db8:f::9 2001:db8:f::1 k-ab6 'esn = "yes" replay-window = 64 inner-src = { "2001:db8:a::/48" }')" \
		>"$WORK/gwb.conf"
}

start() { # a|b
	ns=$(gw_ns "$1")
	mkdir -p "$WORK/state-$1"
	# isolated, crypto writes its sequence reservations as the child's user (netiod as root: nobody)
	[ -z "$ISO" ] || chown nobody "$WORK/state-$1"
	one=-f
	[ "$1" = a ] && one=
	# ip execs netiod: $! is the daemon itself, so kill -9 below hits it
	# shellcheck disable=SC2086
	ip netns exec "$ns" "$O/netiod/netiod" $one -c "$WORK/gw$1.conf" -P "$O/services" \
		-S "$WORK/gw$1.sock" -s "$WORK/state-$1" >>"$WORK/gw$1.log" 2>&1 &
	eval "PID_$(echo "$1" | tr ab AB)=$!"
	for _ in $(seq 50); do
		ctl "$ns" "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "netiod gw$1 did not start"
}

# reach ADDR [ping options]: ping from ha until it answers (bounded), for neighbour warm-up
reach() {
	a=$1
	shift
	for _ in $(seq 30); do
		in_ns "$HA" ping "$@" -c 1 -W 1 "$a" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "no answer from $a through the tunnel"
}

topology
key k-ab4 20
key k-ab6 36
key k-ba4 36
key k-ba6 20
write_confs

# 0. A key file others can read is refused, with the reason.
chmod 644 "$WORK/k-ab4"
in_ns "$GWA" "$O/netiod/netiod" -t -c "$WORK/gwa.conf" -P "$O/services" -s "$WORK/state-t" \
	>/dev/null 2>"$WORK/t.err" && fail "netiod -t accepted a key file with mode 644"
grep -q "group/other" "$WORK/t.err" || fail "no clear key-file error: $(cat "$WORK/t.err")"
chmod 600 "$WORK/k-ab4"
ok "key file readable by others refused: $(tail -n 1 "$WORK/t.err" | cut -c1-90)..."

start a
start b
reach 198.51.100.20
reach 2001:db8:b::20 -6

# The sequence state file of a key (seq.c): crypto-<first 8 bytes of SHA-256(label NUL key)>.seq
seq_file() {
	/usr/bin/python3 -c 'import hashlib, sys
km = bytes.fromhex(open(sys.argv[1]).read().strip())
print("crypto-" + hashlib.sha256(b"netio-crypto-seq-v1\0" + km).hexdigest()[:16] + ".seq")' "$WORK/$1"
}
# top GW SA: the top of an inbound SA's window, from the status line
win_top() { svc "$1" from-peer .status | sed -n "s/.*sa $2 in [^;]* top \([0-9]*\) .*/\1/p"; }

# 1. Pings both families, nothing in clear on the wire between the gateways.
ip netns exec "$GWA" timeout 20 tcpdump -n -U -i a-wan -w "$WORK/wire.pcap" -c 400 >/dev/null 2>&1 &
dump=$!
for _ in $(seq 20); do [ -s "$WORK/wire.pcap" ] && break; sleep 0.1; done
sleep 0.5
in_ns "$HA" ping -c 40 -i 0.02 -W 1 198.51.100.20 >"$WORK/p4" || fail "IPv4 ping lost: $(tail -n 2 "$WORK/p4")"
in_ns "$HA" ping -6 -c 40 -i 0.02 -W 1 -s 1300 2001:db8:b::20 >"$WORK/p6" ||
	fail "IPv6 ping lost: $(tail -n 2 "$WORK/p6")"
sleep 0.5
kill "$dump" 2>/dev/null
wait "$dump" 2>/dev/null
esp=$(tcpdump -n -r "$WORK/wire.pcap" esp 2>/dev/null | wc -l)
clear=$(tcpdump -n -r "$WORK/wire.pcap" 'icmp or icmp6 and not ip6[40] >= 133' 2>/dev/null | wc -l)
# a loaded host's capture misses some; the exact count is the counters' job below
[ "$esp" -ge 40 ] || fail "only $esp ESP packets on the wire for 160 echo packets"
[ "$clear" -eq 0 ] || fail "$clear ICMP packets in clear between the gateways"
tcpdump -n -r "$WORK/wire.pcap" esp 2>/dev/null | grep -q 'spi=0x00001002' || fail "no IPv6 ESP SA on the wire"
ok "80 IPv4 + 80 IPv6 echo packets: $esp ESP on the wire, 0 in clear"

enc=$(svc a to-peer '.counters."enc-packets"')
dec=$(svc b from-peer '.counters."dec-packets"')
[ "$enc" -ge 80 ] && [ "$dec" -ge 80 ] || fail "counters: gwa enc $enc, gwb dec $dec"
st_a=$(svc a to-peer .status)
st_b=$(svc b from-peer .status)
echo "$st_a" | grep -q '^engine openssl' || fail "gwa engine: $st_a"
ok "gwa: ${st_a%%;*}; gwb: ${st_b%%;*}; enc $enc, dec $dec"

# 2. Path MTU: every link is 1500 bytes, so a full-size inner packet no longer fits once ESP is
# added. A DF ping of 1472 bytes gets "fragmentation needed" with the largest inner size that
# fits (1500 - 20 outer - 8 ESP - 8 IV - 16 ICV - 2, rounded down to 4n+2 = 1446), an IPv6 one of
# 1500 bytes "packet too big" with 1426 (IPv6 outside); the hosts' kernels then send smaller.
too0=$(svc a to-peer '.counters."icmp-too-big"')
in_ns "$HA" ping -M do -s 1472 -c 1 -W 2 198.51.100.20 >"$WORK/df4" 2>&1
grep -q 'Frag needed and DF set (mtu = 1446)' "$WORK/df4" || fail "DF ping of 1472: $(cat "$WORK/df4")"
in_ns "$HA" ip route get 198.51.100.20 | grep -q 'mtu 1446' ||
	fail "ha learnt no path MTU: $(in_ns "$HA" ip route get 198.51.100.20)"
in_ns "$HA" ping -6 -M do -s 1452 -c 1 -W 2 2001:db8:b::20 >"$WORK/df6" 2>&1
grep -q 'Packet too big: mtu=1426' "$WORK/df6" || fail "IPv6 ping of 1500 bytes: $(cat "$WORK/df6")"
too=$(svc a to-peer '.counters."icmp-too-big"')
[ "$too" -eq $((too0 + 2)) ] || fail "gwa counted $too icmp-too-big, expected $((too0 + 2))"
in_ns "$HA" ping -M do -s 1418 -c 3 -i 0.2 -W 2 198.51.100.20 >"$WORK/fit4" ||
	fail "a DF ping of 1446 bytes did not pass: $(tail -n 2 "$WORK/fit4")"
in_ns "$HA" ping -6 -M do -s 1378 -c 3 -i 0.2 -W 2 2001:db8:b::20 >"$WORK/fit6" ||
	fail "an IPv6 ping of 1426 bytes did not pass: $(tail -n 2 "$WORK/fit6")"
ok "MTU 1500: frag-needed mtu 1446 (IPv4), packet-too-big mtu 1426 (IPv6), counted; packets of that size pass"

# 3. TCP over the tunnel at MTU 1500 (PMTU discovery as above), bounded.
if command -v iperf3 >/dev/null; then
	in_ns "$HB" iperf3 -s -1 -D -B 198.51.100.20 --logfile "$WORK/iperf-s.log" || fail "iperf3 server"
	# a loaded host must not let the client race the server's start
	for _ in $(seq 50); do
		in_ns "$HB" ss -Hltn 'sport = :5201' | grep -q . && break
		sleep 0.1
	done
	# forget the path MTU learnt above: TCP finds it itself
	in_ns "$HA" ip route flush cache
	too0=$(svc a to-peer '.counters."icmp-too-big"')
	in_ns "$HA" timeout 20 iperf3 -c 198.51.100.20 -t 3 -J >"$WORK/iperf.json" ||
		fail "iperf3 client: $(jq -r '.error // empty' "$WORK/iperf.json" 2>/dev/null | head -c 200)"
	bytes=$(jq '.end.sum_received.bytes' "$WORK/iperf.json")
	[ "$bytes" -gt 100000 ] || fail "iperf3 moved only $bytes bytes"
	[ "$(svc a to-peer '.counters."icmp-too-big"')" -gt "$too0" ] || fail "iperf3 at MTU 1500 got no ICMP too-big"
	auth=$(svc b from-peer '.counters."auth-failures"')
	[ "$auth" -eq 0 ] || fail "$auth authentication failures"
	ok "iperf3 TCP $(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORK/iperf.json") Mbit/s through ESP, 0 auth failures"
fi

# 4. Replayed ESP frames are refused by the window.
# Debian's python3 has scapy (deps.sh); a python3 earlier in PATH may not
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if "$PY" -c 'import scapy' 2>/dev/null; then
	dup=$(svc b from-peer '.counters."replay-duplicate"')
	old=$(svc b from-peer '.counters."replay-too-old"')
	tcpdump -n -r "$WORK/wire.pcap" -w "$WORK/replay.pcap" 'esp and ether src '$MAC_A 2>/dev/null
	in_ns "$GWA" "$PY" -c "
from scapy.all import rdpcap, sendp
sendp(rdpcap('$WORK/replay.pcap')[:50], iface='a-wan', verbose=0)" || fail "scapy replay"
	sleep 0.5
	dup2=$(svc b from-peer '.counters."replay-duplicate"')
	old2=$(svc b from-peer '.counters."replay-too-old"')
	n=$((dup2 - dup + old2 - old))
	[ "$n" -eq 50 ] || fail "50 replayed frames, $n refused as replays"
	ok "50 replayed ESP frames refused ($((dup2 - dup)) duplicate, $((old2 - old)) too old)"
fi

# 5. kill -9 of the sender: after restart no sequence number is used twice.
last=$(sed -n 's/.* next \([0-9]*\)/\1/p' "$WORK"/state-a/crypto-*.seq | sort -n | tail -n 1)
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
PID_A=
ip netns exec "$GWA" timeout 20 tcpdump -n -l -i a-wan -c 5 'esp and ether src '$MAC_A >"$WORK/after" 2>/dev/null &
dump=$!
sleep 0.5
start a
reach 198.51.100.20
wait "$dump" 2>/dev/null
first=$(sed -n 's/.*spi=0x00001001,seq=0x\([0-9a-f]*\).*/\1/p' "$WORK/after" | head -n 1)
[ -n "$first" ] || fail "no ESP from the restarted gateway: $(cat "$WORK/after")"
first=$(printf '%d' "0x$first")
[ "$first" -ge "$last" ] || fail "after kill -9 the sender used seq $first below the reserved mark $last"
in_ns "$HA" ping -c 10 -i 0.05 -W 1 198.51.100.20 >/dev/null || fail "ping after restart"
ok "kill -9 and restart: first seq $first >= reserved mark $last (nonces never reused)"

[ "$(in_ns "$GWA" "$O/netiod/netioctl" -s "$WORK/gwa.sock" -j status | jq .workers)" = 2 ] ||
	fail "gateway A does not run two workers"

# 6. Twenty kill -9 / restart cycles under traffic: every ESP frame gateway A ever sent is on
# the capture; no (SPI, sequence number) pair may appear twice, and B keeps accepting.
KILLS=20
dup0=$(svc b from-peer '.counters."replay-duplicate"')
auth0=$(svc b from-peer '.counters."auth-failures"')
ip netns exec "$GWA" timeout 120 tcpdump -n -U -i a-wan -w "$WORK/kills.pcap" \
	"esp and ether src $MAC_A" >/dev/null 2>&1 &
dump=$!
for _ in $(seq 20); do [ -s "$WORK/kills.pcap" ] && break; sleep 0.1; done
in_ns "$HA" ping -q -i 0.005 -c 12000 -W 1 198.51.100.20 >/dev/null 2>&1 &
flood=$!
for _ in $(seq "$KILLS"); do
	sleep 0.3
	kill -KILL "$PID_A"
	wait "$PID_A" 2>/dev/null
	start a
done
sleep 0.5
kill "$flood" 2>/dev/null
wait "$flood" 2>/dev/null
reach 198.51.100.20
in_ns "$HA" ping -c 10 -i 0.05 -W 1 198.51.100.20 >/dev/null || fail "ping after $KILLS kills"
sleep 0.3
kill "$dump" 2>/dev/null
wait "$dump" 2>/dev/null
/usr/bin/python3 - "$WORK/kills.pcap" >"$WORK/kills.out" <<'PY' || fail "$(cat "$WORK/kills.out")"
import sys
from scapy.all import rdpcap
from scapy.layers.ipsec import ESP
seen, dups = set(), 0
for p in rdpcap(sys.argv[1]):
    if ESP in p:
        k = (p[ESP].spi, p[ESP].seq)
        dups += k in seen
        seen.add(k)
print(f"{len(seen)} ESP frames, {dups} repeated (SPI, seq) pairs")
sys.exit(1 if dups or len(seen) < 100 else 0)
PY
[ "$(svc b from-peer '.counters."replay-duplicate"')" -eq "$dup0" ] || fail "B saw replays after the kills"
[ "$(svc b from-peer '.counters."auth-failures"')" -eq "$auth0" ] || fail "B saw auth failures after the kills"
ok "$KILLS x kill -9 under traffic: $(cat "$WORK/kills.out"); B counted no replay and no auth failure"

# 7. ESN past 2^32, then kill -9 of the receiver: it restarts with an empty window, infers the
# peer's numbers into subspace 0 and every ICV fails, until it resynchronises (RFC 4303 A3).
# A's ab6 (IPv6, ESN) starts 150 below 2^32: its reservation is seeded in the state file.
f="$WORK/state-a/$(seq_file k-ab6)"
[ -f "$f" ] || fail "no sequence state file $f for ab6"
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
PID_A=
echo "netio-crypto-seq 1 next $((4294967296 - 150))" >"$f"
start a
reach 2001:db8:b::20 -6
# rounds of 100 until B has followed A past 2^32 (a loaded host may lose a few)
for _ in 1 2 3 4; do
	in_ns "$HA" ping -6 -q -c 100 -i 0.01 -W 1 2001:db8:b::20 >"$WORK/wrap" 2>&1
	t=$(win_top b ab6)
	[ "${t:-0}" -gt $((4294967296 + 10)) ] && break
done
[ "${t:-0}" -gt $((4294967296 + 10)) ] || fail "B's ab6 window did not pass 2^32 (top ${t:-?}): $(tail -n 2 "$WORK/wrap")"
kill -KILL "$PID_B"
wait "$PID_B" 2>/dev/null
PID_B=
start b
[ "$(win_top b ab6)" = 0 ] || fail "restarted B's window is not empty"
in_ns "$HA" ping -6 -q -c 12 -i 0.05 -W 1 2001:db8:b::20 >/dev/null 2>&1
for _ in $(seq 20); do
	in_ns "$HA" ping -6 -c 1 -W 1 2001:db8:b::20 >/dev/null 2>&1 && break
done
auth=$(svc b from-peer '.counters."auth-failures"')
rs=$(svc b from-peer '.counters."esn-resyncs"')
t=$(win_top b ab6)
in_ns "$HA" ping -6 -c 1 -W 1 2001:db8:b::20 >/dev/null 2>&1 ||
	fail "restarted B does not decrypt A's ESN packets: $auth auth failures, top ${t:-?}, resyncs ${rs:-none}"
[ "$rs" = 1 ] || fail "B counted $rs ESN resynchronisations, expected 1"
[ "$auth" -ge 8 ] || fail "B counted only $auth auth failures before resynchronising"
[ "${t:-0}" -gt 4294967296 ] || fail "B's ab6 window is at ${t:-?} after the resync"
dec=$(svc b from-peer '.counters."dec-packets"')
in_ns "$HA" ping -6 -c 30 -i 0.02 -W 1 2001:db8:b::20 >"$WORK/after-resync" ||
	fail "ping lost after the resync: $(tail -n 2 "$WORK/after-resync")"
[ "$(svc b from-peer '.counters."auth-failures"')" = "$auth" ] || fail "auth failures after the resync"
[ "$(svc b from-peer '.counters."dec-packets"')" -ge $((dec + 30)) ] || fail "B did not decrypt the 30 pings"
ok "ESN: A passed 2^32, B killed -9 and restarted: $auth auth failures, 1 resync to top $t, then 30/30 pings, no auth failure"
exit 0

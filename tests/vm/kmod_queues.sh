#!/bin/sh
# Per-queue rings (ring ABI 3) inside the test VM (2 vCPUs): netiod with two workers binds each
# kmod port with two ring sets, one per worker; the NICs are two-queue veths. Flows spread over
# both queues, each queue is polled by its own worker, nothing is lost and no flow is
# reordered; a hostile writer on queue 1 of a binding leaves the module and the other queue
# working. Env REPO, O.
#
#   nq-lan eth0 192.0.2.10 -- gw-lan [nq-gw: netiod, workers = 2] gw-wan -- eth0 198.51.100.10 nq-wan
set -eu
T=${NETIO_TOOLS:-$O/vm}/nioring
W=$(mktemp -d)
L=nq-lan
G=nq-gw
R=nq-wan
NETIOD=
pids=""

log() { echo "== $*"; }

fail() {
	echo "FAIL: $*"
	[ -f "$W/netiod.log" ] && tail -n 30 "$W/netiod.log"
	[ -n "$NETIOD" ] && ctl -j stats | jq -c '.workers[] | [.ports[] | {name, rx_packets, tx_packets, drops}]'
	ctl kernel list 2>/dev/null || true
	ip netns exec $R nstat -az 2>/dev/null | grep -E 'Udp(InDatagrams|InErrors|RcvbufErrors)'
	ip -n $L -s link show eth0
	ip -n $G -s link show gw-wan
	dmesg | tail -n 20
	exit 1
}

expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }

stop_netiod() {
	[ -n "$NETIOD" ] || return 0
	kill -TERM "$NETIOD" 2>/dev/null || true
	wait "$NETIOD" 2>/dev/null || true
	NETIOD=
}

cleanup() {
	stop_netiod
	[ -z "${BACKLOG:-}" ] || sysctl -qw net.core.netdev_max_backlog="$BACKLOG"
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	for ns in $L $G $R; do ip netns del $ns 2>/dev/null || true; done
	rmmod netio 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

if [ ! -x "$O/netiod/netiod" ]; then
	echo "netiod is not built in $O: skipped (make build O=$O)"
	exit 77
fi

gw() { ip netns exec $G "$@"; }
lan() { ip netns exec $L "$@"; }
ctl() { gw "$O/netiod/netioctl" -s "$W/netiod.sock" "$@"; }

host() { # ns addr4 gw4
	ip -n "$1" link set lo up
	ip -n "$1" link set eth0 up
	ip -n "$1" addr add "$2" dev eth0
	ip -n "$1" route add default via "$3"
}

setup() {
	dmesg -C
	insmod "$REPO/netio-kmod/netio.ko"
	modprobe veth
	for ns in $L $G $R; do ip netns add $ns; done
	for side in lan:$L wan:$R; do
		ip link add eth0 netns "${side#*:}" numtxqueues 2 numrxqueues 2 type veth \
			peer name "gw-${side%%:*}" netns $G numtxqueues 2 numrxqueues 2
	done
	gw sysctl -qw net.ipv4.ip_forward=0
	ip -n $G link set lo up
	ip -n $G link set gw-lan up
	ip -n $G link set gw-wan up
	ip -n $G addr add 192.0.2.1/24 dev gw-lan
	ip -n $G addr add 198.51.100.1/24 dev gw-wan
	host $L 192.0.2.10/24 192.0.2.1
	host $R 198.51.100.10/24 198.51.100.1
	cat >"$W/netiod.conf" <<-EOF
		workers = 2
		port lan { device = "gw-lan" driver = "kmod" }
		port wan { device = "gw-wan" driver = "kmod" }
		pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
		pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
	EOF
}

start_netiod() {
	ip netns exec $G "$O/netiod/netiod" -c "$W/netiod.conf" -P "$O/services" \
		-S "$W/netiod.sock" -s "$W" >>"$W/netiod.log" 2>&1 &
	NETIOD=$!
}

warm_up() {
	i=0
	until lan ping -c 1 -W 1 198.51.100.10 >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 40 ] || fail "no connectivity through netiod"
		kill -0 "$NETIOD" 2>/dev/null || fail "netiod exited"
		sleep 0.2
	done
}

# kernel list: the binding of a port, and its fields
bind_of() { ctl -j kernel list | jq -r ".[] | select(.name == \"$1\") | $2"; }

setup
start_netiod
warm_up

log "netiod binds each port with one ring set per worker"
for port in lan wan; do
	expect=2
	got=$(bind_of $port .queues)
	[ "$got" = "$expect" ] || fail "binding $port has $got queues, want $expect: $(ctl kernel list)"
done
grep -q "port lan: netio.ko binding [0-9]* on gw-lan, 2 queue(s)" "$W/netiod.log" ||
	fail "netiod did not log two queues: $(grep 'port lan' "$W/netiod.log")"
LAN=$(bind_of lan .id)
WAN=$(bind_of wan .id)
echo "   lan binding $LAN, wan binding $WAN: 2 queues each"

log "64 UDP flows over both queues and both workers: none lost, none reordered"
rx0=$(bind_of lan '.queue_rx | @sh')
full0=$(bind_of lan .stats.rx_full)
ip netns exec $R "$T" udp-order 7000 120 16000 >"$W/order" &
recv=$!
i=0
until grep -q ready "$W/order" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "receiver not ready"
	sleep 0.2
done
# 64 flows: which queue a flow takes depends on hashes seeded at boot, so enough of them that
# each queue gets some (a flow misses queue 1 with p <= 3/4 on veth: p^64 ~ 1e-8)
# from one CPU: veth queues a frame on the sending CPU's backlog, so a sender moving between
# CPUs could reorder a flow before the gateway sees it; and backlogs deep enough for the
# bursts a TX ring drains into veth under TCG (a NIC would push back instead)
BACKLOG=$(sysctl -n net.core.netdev_max_backlog)
sysctl -qw net.core.netdev_max_backlog=20000
lan taskset -c 0 "$T" udp-flows 198.51.100.10 7000 64 250 4000 || fail "udp-flows"
wait $recv || true
sed 's/^/   /' "$W/order"
expect_count=$(awk '/^count/ { print $2 }' "$W/order")
[ "$expect_count" = 16000 ] || fail "$expect_count of 16000 datagrams arrived"
[ "$(awk '/^flows/ { print $2 }' "$W/order")" = 64 ] || fail "not every flow arrived"
[ "$(awk '/^reordered/ { print $2 }' "$W/order")" = 0 ] || fail "datagrams of a flow were reordered"
rx1=$(bind_of lan '.queue_rx | @sh')
# shellcheck disable=SC2086
set -- $rx0 $rx1
q0=$(($3 - $1))
q1=$(($4 - $2))
echo "   lan RX per queue: $q0 + $q1"
[ "$q0" -gt 0 ] && [ "$q1" -gt 0 ] || fail "one queue got everything: $q0 + $q1"
[ $((q0 + q1)) -ge 16000 ] || fail "the queues took $((q0 + q1)) frames, want >= 16000"
st=$(ctl -j stats)
rxw=$(echo "$st" | jq '[.workers[] | .ports[] | select(.name=="lan") | select(.rx_packets > 0)] | length')
[ "$rxw" = 2 ] || fail "lan was received on by $rxw workers, want 2"
txw=$(echo "$st" | jq '[.workers[] | .ports[] | select(.name=="wan") | select(.tx_packets > 0)] | length')
[ "$txw" = 2 ] || fail "wan was sent on by $txw workers, want 2"
hand=$(echo "$st" | jq '[.workers[].handoff.out] | add')
[ "$hand" = 0 ] || fail "$hand packets handed between workers: each queue's worker forwards it"
echo "   both workers received on lan and sent on wan, no handoff"
expect_eq "$(bind_of lan .stats.rx_full)" "$full0" "lan frames dropped for a full ring"

log "kill -9 netiod and restart: the two-queue bindings are re-attached"
kill -9 "$NETIOD"
wait "$NETIOD" 2>/dev/null || true
NETIOD=
start_netiod
warm_up
expect_eq "$(bind_of lan .id)" "$LAN" "lan binding after the restart"
lan ping -c 10 -i 0.05 -W 2 198.51.100.10 >/dev/null || fail "ping after restart"
stop_netiod

log "a hostile writer on queue 1 of a two-queue binding: counted, the module unharmed"
gw "$T" unbind "$LAN" # netiod's claims on gw-lan would overlap the hostile binding's
H=$(NIORING_QUEUES=2 gw "$T" bind gw-lan hostile 0 1024 4096 0 256)
gw "$T" claims "$H" "id=1,proto=udp,dst=198.51.100.0/24,dport=7001"
expect_eq "$(gw "$T" show "$H" | awk '$1 == "queues" { print $2 }')" 2 "hostile binding's queues"
NIORING_QUEUE=1 gw "$T" scribble "$H" 5 >"$W/scribble" 2>&1 &
sc=$!
pids="$pids $sc"
lan "$T" udp-flows 198.51.100.10 7001 64 50 || fail "udp-flows to the hostile binding"
wait $sc || fail "scribbler: $(cat "$W/scribble")"
grep -q '^kicks' "$W/scribble" || fail "scribbler did not run: $(cat "$W/scribble")"
bad=$(gw "$T" show "$H" | awk '$1 == "tx_bad_desc" { print $2 }')
[ "$bad" -gt 0 ] || fail "hostile TX descriptors on queue 1 not counted"
echo "   tx_bad_desc $bad, $(grep kicks "$W/scribble")"
gw "$T" unbind "$H"
# the module still forwards for netiod on both queues afterwards
start_netiod
warm_up
lan ping -c 5 -i 0.05 -W 2 198.51.100.10 >/dev/null || fail "no forwarding after the hostile writer"
stop_netiod
rmmod netio
if dmesg | grep -E 'BUG|WARNING|Oops|KASAN|general protection|Call Trace|corruption'; then
	fail "kernel complained (above)"
fi
echo "kmod_queues: all passed"

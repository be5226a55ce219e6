#!/bin/sh
# netiod with driver "kmod" (netiod/port_kmod.c) inside the test VM: the gateway kernel does not
# forward, so pings cross only through netio.ko's rings and netiod; a kill -9 of netiod drops
# the secure flows, and a restarted netiod re-attaches to the same rings. Env REPO, O.
#
#   nk-lan eth0 192.0.2.10 2001:db8:1::10 -- gw-lan [nk-gw: netiod] gw-wan -- eth0 198.51.100.10 2001:db8:2::10 nk-wan
set -eu
T=${NETIO_TOOLS:-$O/vm}/nioring
W=$(mktemp -d)
L=nk-lan
G=nk-gw
R=nk-wan
NETIOD=

log() { echo "== $*"; }

fail() {
	echo "FAIL: $*"
	[ -f "$W/netiod.log" ] && tail -n 30 "$W/netiod.log"
	dmesg | tail -n 20
	exit 1
}

stop_netiod() {
	[ -n "$NETIOD" ] || return 0
	kill -TERM "$NETIOD" 2>/dev/null || true
	wait "$NETIOD" 2>/dev/null || true
	NETIOD=
}

cleanup() {
	stop_netiod
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

host() { # ns addr4 gw4 addr6 gw6
	ip -n "$1" link set lo up
	ip -n "$1" link set eth0 up
	ip -n "$1" addr add "$2" dev eth0
	ip -n "$1" addr add "$4" dev eth0 nodad
	ip -n "$1" route add default via "$3"
	ip -n "$1" -6 route add default via "$5"
}

setup() {
	dmesg -C
	insmod "$REPO/netio-kmod/netio.ko"
	modprobe veth
	for ns in $L $G $R; do ip netns add $ns; done
	ip link add eth0 netns $L type veth peer name gw-lan netns $G
	ip link add eth0 netns $R type veth peer name gw-wan netns $G
	gw sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
	ip -n $G link set lo up
	ip -n $G link set gw-lan up
	ip -n $G link set gw-wan up
	ip -n $G addr add 192.0.2.1/24 dev gw-lan
	ip -n $G addr add 2001:db8:1::1/64 dev gw-lan nodad
	ip -n $G addr add 198.51.100.1/24 dev gw-wan
	ip -n $G addr add 2001:db8:2::1/64 dev gw-wan nodad
	host $L 192.0.2.10/24 192.0.2.1 2001:db8:1::10/64 2001:db8:1::1
	host $R 198.51.100.10/24 198.51.100.1 2001:db8:2::10/64 2001:db8:2::1
	# two workers: a kmod port has one ring pair, polled by one worker that spreads the flows
	# over both by hash; the other sends on it under the port's TX lock
	cat >"$W/netiod.conf" <<-EOF
		workers = 2
		port lan { device = "gw-lan" driver = "kmod" hold-time = "90s" }
		port wan { device = "gw-wan" driver = "kmod" }
		pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
		pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
		pipeline to-wan6 { match { in = "lan" dst = "2001:db8:2::/48" } out = "wan" }
		pipeline to-lan6 { match { in = "wan" dst = "2001:db8:1::/48" } out = "lan" }
	EOF
}

# The bindings netiod will find by port name (4 KiB buffers with 256 bytes of headroom, as it
# processes packets in place, in one region); netiod sets the hold time from its hold-time
# option when it re-binds them.
# netiod installs the claims itself: claim id = pipeline id << 6 | index, so the IPv4
# pipelines to-wan (0) and to-lan (1) claim ids 0 on lan and 64 on wan.
claim() {
	LAN=$(gw "$T" bind gw-lan lan 120000 1024 4096 0 256)
	WAN=$(gw "$T" bind gw-wan wan 120000 1024 4096 "$LAN" 256)
}

start_netiod() {
	# no shell function in between: $! must be netiod itself (ip netns exec execs it)
	ip netns exec $G "$O/netiod/netiod" -c "$W/netiod.conf" -P "$O/services" \
		-S "$W/netiod.sock" -s "$W" >>"$W/netiod.log" 2>&1 &
	NETIOD=$!
}

# The kernel's neighbour tables fill on the first packets (netiod never ARPs itself).
warm_up() { # ping options
	i=0
	until lan ping "$@" -c 1 -W 1 >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 40 ] || fail "no connectivity through netiod: ping $*"
		kill -0 "$NETIOD" 2>/dev/null || fail "netiod exited"
		sleep 0.2
	done
}

ctl() { "$O/netiod/netioctl" -s "$W/netiod.sock" "$@"; }

queued() { gw "$T" show "$1" | awk -v id="$2" '$1 == "claim" && $2 == id { print $6 }'; }
dropped() { gw "$T" show "$1" | awk -v id="$2" '$1 == "claim" && $2 == id { print $8 }'; }

setup
claim
log "netiod on kmod ports forwards IPv4 and IPv6 (the gateway kernel does not)"
start_netiod
warm_up 198.51.100.10
warm_up -6 2001:db8:2::10
[ "$(gw "$T" show "$LAN" | grep -c '^claim')" -eq 2 ] || fail "netiod did not install lan's claims: $(gw "$T" show "$LAN")"
[ "$(gw "$T" show "$LAN" | awk '$1 == "hold_ms" { print $2 }')" = 90000 ] || fail "netiod did not apply hold-time"
before=$(queued "$LAN" 0)
lan ping -c 20 -i 0.05 -W 2 198.51.100.10 >"$W/ping4" || fail "IPv4 ping lost: $(tail -n 2 "$W/ping4")"
lan ping -6 -c 10 -i 0.05 -W 2 2001:db8:2::10 >"$W/ping6" || fail "IPv6 ping lost: $(tail -n 2 "$W/ping6")"
[ $(($(queued "$LAN" 0) - before)) -eq 20 ] || fail "claim lan/0 queued $(($(queued "$LAN" 0) - before)), want 20"
[ "$(queued "$WAN" 64)" -ge 20 ] || fail "the replies did not come through the wan ring"
echo "   20 + 10 pings through netio.ko and netiod"
# every claim here is certain (no earlier pipeline overlaps it): each new flow on either port
# was classified by the claim id netio.ko wrote in its RX slot, none by the scan
hint() { "$O/netiod/netioctl" -s "$W/netiod.sock" -j stats | jq ".ports[] | select(.name == \"$1\") | .flows_hinted"; }
[ "$(hint lan)" -ge 2 ] && [ "$(hint wan)" -ge 2 ] ||
	fail "flows classified by claim id: lan $(hint lan), wan $(hint wan); want >= 2 each (IPv4, IPv6)"
echo "   flows classified by netio.ko's claim id: lan $(hint lan), wan $(hint wan)"
lan ping -c 2 -W 2 192.0.2.1 >/dev/null || fail "ping to the gateway itself"

log "TCP with the veth offloads on: GSO frames are cut to wire size before the ring"
ip netns exec $R iperf3 -s -1 -D -B 198.51.100.10 --logfile "$W/iperf-s.log"
sleep 0.5
p0=$(gw "$T" show "$LAN" | awk '$1 == "claim" && $2 == 0 { print $4 }')
q0=$(queued "$LAN" 0)
lan timeout 90 iperf3 -c 198.51.100.10 -n 2M >"$W/iperf.out" 2>&1 || fail "iperf3: $(tail -n 3 "$W/iperf.out")"
p1=$(gw "$T" show "$LAN" | awk '$1 == "claim" && $2 == 0 { print $4 }')
echo "   claim lan/0: $((p1 - p0)) frames received, $(($(queued "$LAN" 0) - q0)) queued after GSO"
trunc=$(gw "$T" show "$LAN" | awk '$1 == "rx_trunc" { print $2 }')
[ "$trunc" = 0 ] || fail "$trunc frames were truncated into the ring"
echo "   2 MB of TCP through netiod: $(grep -E 'receiver' "$W/iperf.out" | awk '{ print $7, $8 }')"
st=$("$O/netiod/netioctl" -s "$W/netiod.sock" -j stats)
rxw=$(echo "$st" | jq '[.workers[] | .ports[] | select(.name=="lan") | select(.rx_packets > 0)] | length')
[ "$rxw" = 1 ] || fail "the lan ring was polled by $rxw workers, want exactly 1 of 2"
echo "   2 workers: lan's ring polled by one, handoffs $(echo "$st" | jq -c '[.workers[].handoff.out]')"

log "a flood wakes netiod once per poll(2) wait, not once per frame"
# pktgen floods lan on the other vCPU and RPS hands every frame to the backlog of the vCPU the
# lan worker runs on: the softirq there queues a whole batch into the ring while the worker,
# woken by the first frame, waits for the CPU. Each frame of the batch used to call wake_up on
# it again (242-580 per 1000 frames at saturation); one wake-up per wait bounds them by the
# worker's sleeps (the poll of a wait woken by another of its files re-arms once more: 2 each).
modprobe pktgen || fail "cannot load pktgen"
lw=$(echo "$st" | jq -c '[.workers[] | select(any(.ports[]; .name == "lan" and .rx_packets > 0))][0]')
wid=$(echo "$lw" | jq .id)
wcpu=$(echo "$lw" | jq .cpu)
case $wcpu in 0 | 1) gcpu=$((1 - wcpu)) ;; *) fail "the lan worker runs on CPU '$wcpu', want 0 or 1 (2 vCPUs)" ;; esac
pg() { lan sh -c "echo '$2' >/proc/net/pktgen/$1" || fail "pktgen: $1: $2"; }
pg "kpktgend_$gcpu" rem_device_all
pg "kpktgend_$gcpu" "add_device eth0"
for c in "count 60000" "pkt_size 60" "delay 0" "clone_skb 0" "burst 1" "dst 198.51.100.10" \
	"dst_mac $(ip -n $G -j link show gw-lan | jq -r '.[0].address')" "src_min 192.0.2.10" \
	"src_max 192.0.2.10" "udp_src_min 1024" "udp_src_max 1024" "udp_dst_min 9" "udp_dst_max 9"; do
	pg eth0 "$c"
done
gw sh -c "echo $((1 << wcpu)) >/sys/class/net/gw-lan/queues/rx-0/rps_cpus"
wake_stats() { # "frames wake-ups sleeps": lan's binding (netioctl kernel list), its worker
	echo "$(gw "$O/netiod/netioctl" -j kernel list | jq -r '.[] | select(.device == "gw-lan") | "\(.stats.rx_packets) \(.stats.rx_wakeups)"')" \
		"$(ctl -j stats | jq ".workers[] | select(.id == $wid) | .idle_sleeps")"
}
w0=$(wake_stats)
lan timeout 120 sh -c 'echo start >/proc/net/pktgen/pgctrl' || lan sh -c 'echo stop >/proc/net/pktgen/pgctrl'
w1=$(wake_stats)
pg "kpktgend_$gcpu" rem_device_all
gw sh -c "echo 0 >/sys/class/net/gw-lan/queues/rx-0/rps_cpus"
# shellcheck disable=SC2086
set -- $w0 $w1
frames=$(($4 - $1)) wakeups=$(($5 - $2)) sleeps=$(($6 - $3))
echo "   $frames frames into lan's ring (worker $wid on CPU $wcpu, pktgen on $gcpu): $wakeups wake-ups, $sleeps worker sleeps"
[ "$frames" -ge 20000 ] || fail "the flood put only $frames frames into lan's ring"
[ "$wakeups" -le $((2 * sleeps + 32)) ] ||
	fail "$wakeups RX wake-ups for $sleeps worker sleeps ($((wakeups * 1000 / frames)) per 1000 frames): more than one per poll wait"
lan ping -c 3 -i 0.2 -W 2 198.51.100.10 >/dev/null || fail "no forwarding after the flood"

log "kill -9 netiod: secure claims drop; a restarted netiod re-attaches"
kill -9 "$NETIOD"
wait "$NETIOD" 2>/dev/null || true
NETIOD=
d=$(dropped "$LAN" 0)
if lan ping -c 3 -i 0.2 -W 1 198.51.100.10 >/dev/null 2>&1; then fail "ping crossed without netiod"; fi
[ "$(dropped "$LAN" 0)" -ge $((d + 3)) ] || fail "secure claim did not drop without owner"
start_netiod
warm_up 198.51.100.10
lan ping -c 10 -i 0.05 -W 2 198.51.100.10 >"$W/ping4b" || fail "ping after restart: $(tail -n 2 "$W/ping4b")"
[ "$(gw "$T" show "$LAN" | awk '$1 == "owner_pid" { print $2 }')" != 0 ] || fail "lan binding has no owner"

log "a full RX ring: what netio.ko dropped shows in netiod's stats as rx-ring-full"
rxfull() { gw "$T" show "$LAN" | awk '$1 == "rx_full" { print $2 }'; }
f0=$(rxfull)
kill -STOP "$NETIOD" # the owner stays attached: the 1024-slot ring fills, the rest is dropped
lan python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3000): s.sendto(b"x" * 200, ("198.51.100.10", 9))' || { kill -CONT "$NETIOD"; fail "burst"; }
kill -CONT "$NETIOD"
f1=$(rxfull)
[ $((f1 - f0)) -ge 1000 ] || fail "netio.ko counted $((f1 - f0)) ring-full drops for 3000 frames into 1024 slots"
for _ in $(seq 50); do # netiod's worker reads the module's count about once a second
	got=$(ctl -j stats port lan | jq '.ports[0].drops["rx-ring-full"] // 0')
	[ "$got" = "$f1" ] && break
	sleep 0.1
done
[ "$got" = "$f1" ] || fail "netioctl shows $got rx-ring-full drops, netio.ko $f1"
echo "   $((f1 - f0)) of 3000 frames found the ring full; netioctl stats counts the binding's $got"
lan ping -c 3 -i 0.2 -W 2 198.51.100.10 >/dev/null || fail "no forwarding after the overflow"

log "a reload that drops the wan port releases its binding at once; putting it back binds again"
printf '%s\n' 'port lan { device = "gw-lan" driver = "kmod" hold-time = "90s" }' \
	'pipeline hairpin { match { in = "lan" dst = "198.51.100.0/24" } out = "lan" }' >"$W/lan-only.conf"
ctl reload "$W/lan-only.conf" || fail "reload without the wan port: $(tail -n 3 "$W/netiod.log")"
grep -q "port wan: netio.ko binding $WAN released" "$W/netiod.log" ||
	fail "no release of binding $WAN: $(tail -n 3 "$W/netiod.log")"
if gw "$T" show "$WAN" >/dev/null 2>&1; then fail "binding $WAN outlived its port"; fi
gw "$T" show "$LAN" >/dev/null || fail "the lan binding went with it"
ctl reload "$W/netiod.conf" || fail "reload with the wan port back: $(tail -n 3 "$W/netiod.log")"
warm_up 198.51.100.10
lan ping -c 5 -i 0.05 -W 2 198.51.100.10 >/dev/null || fail "no forwarding after the wan port came back"
echo "   binding $WAN released by the reload, wan bound again and forwarding"

log "the wan device disappears under netiod: the binding's event marks the port gone"
ip -n $G link del gw-wan
for _ in $(seq 50); do
	grep -q "destroyed binding .* on gw-wan (device removed)" "$W/netiod.log" && break
	sleep 0.1
done
grep -q "destroyed binding .* on gw-wan (device removed)" "$W/netiod.log" ||
	fail "netiod did not report the lost binding: $(tail -n 3 "$W/netiod.log")"
[ "$(ctl -j port list | jq -r '.[] | select(.name == "wan") | .state')" = gone ] ||
	fail "port list does not show wan gone: $(ctl port list)"
[ "$(ctl -j port list | jq -r '.[] | select(.name == "lan") | .state')" = up ] || fail "lan is not up"
# the dead binding's fd reports POLLERR: the worker must stop polling it, not spin on it
sleep 1
t0=$(awk '{ print $14 + $15 }' "/proc/$NETIOD/stat")
sleep 2
t1=$(awk '{ print $14 + $15 }' "/proc/$NETIOD/stat")
[ $((t1 - t0)) -lt 100 ] || fail "idle netiod used $((t1 - t0)) clock ticks in 2 s: spinning on the dead port"
ctl status >/dev/null || fail "netiod stopped answering"
echo "   wan gone (event and port list), idle netiod used $((t1 - t0)) ticks in 2 s"
stop_netiod
rmmod netio
if dmesg | grep -E 'BUG|WARNING|Oops|general protection|Call Trace'; then fail "kernel complained"; fi
echo "netiod_kmod: all passed"

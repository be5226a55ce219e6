#!/bin/sh
# Secure stays closed: netiod killed with a 1 s hold-time on a gateway whose kernel forwards;
# long past the hold time the secure claims still drop (nothing reaches the wan host through
# the kernel), the packets queued meanwhile are discarded, `netioctl kernel list` shows the
# orphaned bindings, a restarted netiod re-attaches to them, and `netioctl kernel unbind`
# releases them so the kernel forwards again. Env REPO, O.
#
#   ks-lan eth0 192.0.2.10 -- gw-lan [ks-gw: netiod, ip_forward=1] gw-wan -- eth0 198.51.100.10 ks-wan
set -eu
W=$(mktemp -d)
L=ks-lan
G=ks-gw
R=ks-wan
NETIOD=

log() { echo "== $(date +%T) $*"; }

fail() {
	echo "FAIL: $*"
	[ -f "$W/netiod.log" ] && tail -n 20 "$W/netiod.log"
	[ -z "$NETIOD" ] || kctl -s "$W/netiod.sock" stats 2>&1 || true
	kctl kernel list 2>&1 || true
	dmesg | tail -n 20
	exit 1
}

cleanup() {
	[ -z "$NETIOD" ] || kill -9 "$NETIOD" 2>/dev/null || true
	[ -z "$NETIOD" ] || wait "$NETIOD" 2>/dev/null || true
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
kctl() { gw "$O/netiod/netioctl" "$@"; }
# the module's view, taken once (every process is slow under TCG) and queried with jq:
# snap; kern gw-lan .hold_state
snap() { kctl -j kernel list >"$W/kernel.json"; }
kern() { jq -r ".[] | select(.device == \"$1\") | $2" "$W/kernel.json"; }
# echo requests the wan host's kernel received so far
echos() {
	ip netns exec $R awk '$1 == "Icmp:" && $2 !~ /^[0-9]/ { for (i = 2; i <= NF; i++) if ($i == "InEchos") c = i }
		$1 == "Icmp:" && $2 ~ /^[0-9]/ { print $c }' /proc/net/snmp
}

start_netiod() {
	# no shell function in between: $! must be netiod itself (ip netns exec execs it)
	ip netns exec $G "$O/netiod/netiod" -f -c "$W/netiod.conf" -P "$O/services" \
		-S "$W/netiod.sock" -s "$W" >>"$W/netiod.log" 2>&1 &
	NETIOD=$!
	# the kernel forwards too: only claims in place prove the traffic meets netiod
	i=0
	until snap && [ "$(kern gw-lan '.hold_state + " " + (.claims | length | tostring)')" = "attached 1" ] &&
		[ "$(kern gw-wan '.hold_state + " " + (.claims | length | tostring)')" = "attached 1" ]; do
		i=$((i + 1))
		[ $i -lt 60 ] || fail "netiod did not attach and claim: $(tail -n 3 "$W/netiod.log")"
		kill -0 "$NETIOD" 2>/dev/null || fail "netiod exited: $(tail -n 3 "$W/netiod.log")"
		sleep 0.5
	done
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

# until the module says the lan binding is past its hold time (1 s; bounded at 20 s)
wait_expired() {
	i=0
	until snap && [ "$(kern gw-lan .hold_state)" = expired ] && [ "$(kern gw-wan .hold_state)" = expired ]; do
		i=$((i + 1))
		[ $i -lt 40 ] || fail "bindings not expired long after their 1 s hold time"
		sleep 0.5
	done
}

dmesg -C
insmod "$REPO/netio-kmod/netio.ko"
modprobe veth
# one ip process per namespace: every exec is slow under TCG
printf 'netns add %s\n' $L $G $R | ip -b -
ip -b - <<EOF
link add eth0 netns $L type veth peer name gw-lan netns $G
link add eth0 netns $R type veth peer name gw-wan netns $G
EOF
# the gateway's kernel forwards: whatever netio.ko lets through is routed to the wan host
gw sysctl -qw net.ipv4.ip_forward=1
ip -n $G -b - <<EOF
link set lo up
link set gw-lan up
link set gw-wan up
addr add 192.0.2.1/24 dev gw-lan
addr add 198.51.100.1/24 dev gw-wan
EOF
ip -n $L -b - <<EOF
link set lo up
link set eth0 up
addr add 192.0.2.10/24 dev eth0
route add default via 192.0.2.1
EOF
ip -n $R -b - <<EOF
link set lo up
link set eth0 up
addr add 198.51.100.10/24 dev eth0
route add default via 198.51.100.1
EOF
cat >"$W/netiod.conf" <<-EOF
	port lan { device = "gw-lan" driver = "kmod" hold-time = "1s" }
	port wan { device = "gw-wan" driver = "kmod" hold-time = "1s" }
	pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" fail-mode = "secure" }
	pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" fail-mode = "secure" }
EOF

log "netiod forwards; stopped, it leaves 5 pings queued in the ring; then kill -9"
start_netiod
warm_up
snap
[ "$(kern gw-lan '.claims[0].queued')" -ge 1 ] || fail "the warm-up ping did not cross netiod's ring"
e0=$(echos)
kill -STOP "$NETIOD"
if lan ping -c 5 -i 0.2 -W 1 198.51.100.10 >/dev/null 2>&1; then fail "ping answered with netiod stopped"; fi
kill -9 "$NETIOD"
wait "$NETIOD" 2>/dev/null || true
NETIOD=
sleep 3

log "past the 1 s hold time the secure claims still drop: nothing leaks through the kernel"
if lan ping -c 3 -i 0.2 -W 1 198.51.100.10 >"$W/leak" 2>&1; then
	fail "ping crossed the gateway's kernel after the hold time: $(tail -n 2 "$W/leak")"
fi
[ "$(echos)" = "$e0" ] || fail "the wan host received $(($(echos) - e0)) echo requests without netiod"
wait_expired
kctl kernel list | tee "$W/list"
grep -q "no owner, hold time over: secure claims drop until unbound" "$W/list" || fail "list does not say so"
snap
[ "$(kern gw-lan .attached)" = false ] || fail "lan binding shows an owner"
[ "$(kern gw-lan .stats.rx_expired)" = 5 ] || fail "rx_expired $(kern gw-lan .stats.rx_expired), want the 5 queued pings"
[ "$(kern gw-lan '.claims[0].fail_mode')" = secure ] || fail "lan claim is not secure"
[ "$(kern gw-lan '.claims[0].dropped')" -ge 3 ] || fail "lan claim dropped $(kern gw-lan '.claims[0].dropped'), want >= 3"
echo "   5 queued pings discarded, $(kern gw-lan '.claims[0].dropped') dropped, none reached the wan host"

log "a restarted netiod re-attaches to the orphaned bindings (the discarded pings stay discarded)"
lan_id=$(kern gw-lan .id)
wan_id=$(kern gw-wan .id)
start_netiod
sleep 1
[ "$(echos)" = "$e0" ] || fail "the restarted netiod sent $(($(echos) - e0)) stale pings from the discarded queue"
warm_up
grep -q "port lan: netio.ko binding $lan_id on gw-lan.*taken over past its hold time" "$W/netiod.log" ||
	fail "netiod did not say it took binding $lan_id over: $(grep 'port lan' "$W/netiod.log")"
snap
[ "$(kern gw-lan .id)" = "$lan_id" ] || fail "netiod made a new lan binding instead of taking over $lan_id"
[ "$(kern gw-lan .owner_pid)" = "$NETIOD" ] || fail "lan binding owner $(kern gw-lan .owner_pid), want netiod $NETIOD"
[ "$(kern gw-wan .hold_state)" = attached ] || fail "wan binding not attached"
q0=$(kern gw-lan '.claims[0].queued')
e0=$(echos)
lan ping -c 10 -i 0.05 -W 2 198.51.100.10 >"$W/ping2" || fail "ping after restart: $(tail -n 2 "$W/ping2")"
snap
[ $(($(kern gw-lan '.claims[0].queued') - q0)) -ge 10 ] || fail "the pings did not cross netiod's ring"
[ $(($(echos) - e0)) = 10 ] || fail "wan host got $(($(echos) - e0)) echos for 10 pings"
out=$(kctl kernel unbind gw-lan 2>&1) && fail "unbind of netiod's binding succeeded: $out"
echo "$out" | grep -q "attached to pid $NETIOD" || fail "unbind refusal does not name the owner: $out"
echo "   bindings $lan_id and $wan_id taken over; unbind refused: $out"

log "netioctl kernel unbind releases the orphaned bindings: the kernel forwards again"
kill -9 "$NETIOD"
wait "$NETIOD" 2>/dev/null || true
NETIOD=
wait_expired
if lan ping -c 2 -i 0.2 -W 1 198.51.100.10 >/dev/null 2>&1; then fail "ping crossed before the unbind"; fi
kctl kernel unbind gw-lan >"$W/unbind" || fail "unbind gw-lan: $(cat "$W/unbind")"
kctl kernel unbind "$wan_id" >>"$W/unbind" || fail "unbind $wan_id: $(cat "$W/unbind")"
cat "$W/unbind"
[ "$(kctl -j kernel list)" = "[]" ] || fail "bindings left after the unbinds: $(kctl kernel list)"
lan ping -c 3 -i 0.2 -W 2 198.51.100.10 >"$W/ping3" || fail "the kernel does not forward after the unbinds"
rc=0
kctl kernel unbind gw-lan 2>"$W/err" || rc=$?
[ $rc = 2 ] && grep -q "no netio.ko binding on gw-lan" "$W/err" || fail "second unbind: rc $rc, $(cat "$W/err")"
rc=0
kctl kernel bogus 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "a usage error exits $rc, want 1"
rmmod netio
rc=0
kctl kernel list 2>"$W/err" || rc=$?
[ $rc = 2 ] && grep -q "netio.ko is not loaded" "$W/err" || fail "without the module: rc $rc, $(cat "$W/err")"
if dmesg | grep -E 'BUG|WARNING|Oops|general protection|Call Trace'; then fail "kernel complained"; fi
echo "kmod_secure: all passed"

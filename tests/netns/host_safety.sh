#!/bin/sh
# An afpacket gateway on a real host: netiod refuses to start, check (-t) or reload while the
# kernel forwards what it forwards, unless kernel-forwarding = "allow"; it reports secure
# pipelines on taps; it turns GRO off on its devices (offloads on, as on a NIC), so TCP through
# it runs at a sane rate, or with offloads = "refuse" refuses with the ethtool command; a second
# netiod on a device in use is refused (a kill -9 leaves no stale lock), one in another network
# namespace on a same-named device is not. Every check runs, the failures are listed at the end.
here=$(cd "$(dirname "$0")" && pwd)
GW_OFFLOADS=1
PFX2="n2$$"
EXTRA_NS="$PFX2-gw $PFX2-h"
. "$here/lib.sh"

errors=0
mark=0
bad() {
	echo "FAILED: $TEST_NAME: $*"
	errors=$((errors + 1))
}
# passed MESSAGE: "ok" if no check failed since the last one
passed() {
	[ "$errors" -eq "$mark" ] && ok "$*"
	mark=$errors
}
has() { grep -qF -- "$2" "$1"; } # FILE TEXT

# refused CONF: netiod in the gateway namespace must refuse to start (bounded: 10 s); its
# output in $WORK/refused.log
refused() {
	gw timeout 10 "$O/netiod/netiod" -f -c "$1" -P "$O/services" -S "$WORK/other.sock" \
		-s "$WORK" >"$WORK/refused.log" 2>&1 && return 1
	[ $? -ne 124 ] # 124: timeout killed a netiod that started
}
gro() { gw ethtool -k "$1" | awk '$1 == "generic-receive-offload:" { print $2 }'; }

setup_topology
[ "$(gro gw-lan)" = on ] && [ "$(gro gw-wan)" = on ] || fail "could not turn GRO on for the test"
cp "$here/gateway.conf" "$WORK/gw.conf"
{ echo 'kernel-forwarding = "allow"'; cat "$here/gateway.conf"; } >"$WORK/allow.conf"
sed 's/device = "gw-lan" driver = "afpacket"/& offloads = "refuse"/' "$here/gateway.conf" \
	>"$WORK/refuse.conf"
sed '/metrics-listen/d' "$here/gateway.conf" >"$WORK/second.conf" # nothing else to collide on
sed 's/device = "gw-lan" driver = "afpacket"/device = "gw-lan" driver = "auto"/' \
	"$here/gateway.conf" >"$WORK/auto.conf"

# 1. The kernel forwards IPv4: -t and start refuse, naming the sysctl and the fix; nothing is
# touched (GRO still on). kernel-forwarding = "allow" starts.
gw sysctl -qw net.ipv4.ip_forward=1
if gw "$O/netiod/netiod" -t -P "$O/services" -c "$WORK/gw.conf" >"$WORK/t.log" 2>&1; then
	bad "netiod -t accepts afpacket ports with net.ipv4.ip_forward=1"
elif ! has "$WORK/t.log" "sysctl -w net.ipv4.ip_forward=0"; then
	bad "netiod -t does not say how to fix ip_forward: $(cat "$WORK/t.log")"
fi
if ! refused "$WORK/gw.conf"; then
	bad "netiod started with net.ipv4.ip_forward=1"
elif ! has "$WORK/refused.log" "the kernel forwards IPv4 (net.ipv4.ip_forward = 1)" ||
	! has "$WORK/refused.log" "run 'sysctl -w net.ipv4.ip_forward=0'"; then
	bad "refusal does not name the sysctl and the fix: $(tail -n 1 "$WORK/refused.log")"
fi
[ "$(gro gw-lan)" = on ] || bad "a refused start changed gw-lan's offloads"
passed "ip_forward=1: -t and start refused with 'sysctl -w net.ipv4.ip_forward=0'"
start_netiod "$WORK/allow.conf"
passed "kernel-forwarding = \"allow\": started with ip_forward=1"

# 2. A reload that would forward twice is refused (IPv4, then IPv6 forwarding); the running
# configuration stays.
gen=$(ctl -j status | jq .generation)
ctl reload "$WORK/gw.conf" >"$WORK/reload.log" 2>&1 && bad "reload accepted with ip_forward=1"
has "$WORK/reload.log" "net.ipv4.ip_forward" || bad "reload error: $(cat "$WORK/reload.log")"
gw sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=1
ctl reload "$WORK/gw.conf" >"$WORK/reload.log" 2>&1 && bad "reload accepted with IPv6 forwarding"
has "$WORK/reload.log" "sysctl -w net.ipv6.conf.all.forwarding=0" ||
	bad "IPv6 reload error: $(cat "$WORK/reload.log")"
# IPv6 forwarding does not matter to a configuration that forwards IPv4 only
to_wan_conf </dev/null >"$WORK/v4.conf"
gw "$O/netiod/netiod" -t -P "$O/services" -c "$WORK/v4.conf" >"$WORK/t.log" 2>&1 ||
	bad "IPv6 forwarding refused an IPv4-only configuration: $(cat "$WORK/t.log")"
gw sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv4.conf.gw-wan.forwarding=1
ctl reload "$WORK/gw.conf" >"$WORK/reload.log" 2>&1 && bad "reload accepted with gw-wan forwarding"
has "$WORK/reload.log" "run 'sysctl -w net.ipv4.conf.gw-wan.forwarding=0'" ||
	bad "per-device reload error: $(cat "$WORK/reload.log")"
[ "$(ctl -j status | jq .generation)" = "$gen" ] || bad "a refused reload changed the generation"
gw sysctl -qw net.ipv4.conf.gw-wan.forwarding=0
ctl reload "$WORK/gw.conf" >/dev/null || bad "reload refused with forwarding off"
passed "reloads refused while IPv4 (all or one device) or IPv6 forwarding is on, accepted once off"

# 3. Secure pipelines on taps: a warning at start and reload, and in netioctl.
n=$(grep -c "pipeline 'to-wan': fail-mode secure is not enforced on lan (afpacket gw-lan), wan (afpacket gw-wan)" "$WORK/netiod.log")
[ "$n" -ge 2 ] || bad "the secure warning was logged $n times (start + reload: 2)"
[ "$(ctl -j pipeline list | jq -r '.[] | select(.name=="to-wan") | .secure')" = not-enforced ] ||
	bad "pipeline list does not say secure is not enforced"
ctl pipeline list | grep -q "secure not-enforced" || bad "netioctl pipeline list text"
[ "$(ctl -j port list | jq -r '[.[].claims] | unique | join(",")')" = tap ] ||
	bad "port list does not show the ports as taps"
passed "secure pipelines on afpacket ports reported (log, pipeline list, port list)"

# 4. Offloads: GRO is off on both devices, each change logged, and TCP runs at a sane rate
# (> 20 Mbit/s; with GRO on, merged frames are dropped as oversize and TCP crawls at < 1).
[ "$(gro gw-lan)" = off ] && [ "$(gro gw-wan)" = off ] || bad "GRO is still on"
has "$WORK/netiod.log" "port lan: turned gro off on gw-lan" || bad "the GRO change is not logged"
warm_up
iperf3_server wan 198.51.100.10
lan timeout 20 iperf3 -c 198.51.100.10 -t 2 -J >"$WORK/iperf.json" || bad "iperf3 client"
bps=$(jq '.end.sum_received.bits_per_second // 0 | floor' "$WORK/iperf.json")
[ "$bps" -gt 20000000 ] || bad "TCP through netiod at $bps bit/s (want > 20 Mbit/s)"
passed "GRO turned off on gw-lan and gw-wan, TCP $((bps / 1000000)) Mbit/s"

# 5. A second netiod on the same devices is refused and names the first; the first goes on.
if ! refused "$WORK/second.conf"; then
	bad "a second netiod started on devices in use"
elif ! has "$WORK/refused.log" "gw-lan is already used by another netiod" ||
	! has "$WORK/refused.log" "pid $NETIOD_PID (netiod)"; then
	bad "the refusal does not name the holder: $(tail -n 1 "$WORK/refused.log")"
fi
lan ping -c 3 -i 0.05 -W 1 198.51.100.10 >/dev/null || bad "the first netiod stopped forwarding"
passed "second netiod refused (held by pid $NETIOD_PID), the first forwards"
# kill -9 leaves no stale lock
kill -KILL "$NETIOD_PID"
wait "$NETIOD_PID" 2>/dev/null
NETIOD_PID=
: >"$WORK/netiod.log"
start_netiod "$WORK/auto.conf"
# driver = "auto" says what it picked and why (this host has no netio.ko, but AF_XDP)
if [ ! -e /dev/netio ]; then
	has "$WORK/netiod.log" "port lan: driver auto -> afxdp (/dev/netio absent: netio.ko not loaded; AF_XDP sockets and the XDP program are available)" ||
		bad "no log of the driver auto picked: $(grep 'port lan' "$WORK/netiod.log")"
fi
passed "after kill -9 a new netiod takes the devices (lan: driver auto -> afxdp, logged)"

# 6. Another namespace, a device of the same name: its own netiod starts alongside.
ip netns add "$PFX2-gw" && ip netns add "$PFX2-h" || fail "ip netns add"
ip link add gw-lan netns "$PFX2-gw" type veth peer name eth0 netns "$PFX2-h"
ip netns exec "$PFX2-gw" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
ip -n "$PFX2-gw" link set gw-lan up
printf '%s\n' 'port lan { device = "gw-lan" driver = "afpacket" }' \
	'pipeline p { match { in = "lan" dst = "198.51.100.0/24" } out = "lan" }' >"$WORK/ns2.conf"
ip netns exec "$PFX2-gw" "$O/netiod/netiod" -f -c "$WORK/ns2.conf" -P "$O/services" \
	-S "$WORK/ns2.sock" -s "$WORK" >"$WORK/ns2.log" 2>&1 &
pid2=$!
up=0
for _ in $(seq 50); do
	ip netns exec "$PFX2-gw" "$O/netiod/netioctl" -s "$WORK/ns2.sock" status >/dev/null 2>&1 &&
		up=1 && break
	kill -0 "$pid2" 2>/dev/null || break
	sleep 0.1
done
[ "$up" = 1 ] || bad "a netiod on gw-lan of another namespace did not start: $(tail -n 1 "$WORK/ns2.log")"
kill -TERM "$pid2" 2>/dev/null
wait "$pid2" 2>/dev/null
passed "a netiod on a same-named device in another namespace runs alongside"

# 7. offloads = "refuse": the start is refused with the ethtool command; GRO stays as it was.
stop_netiod
gw ethtool -K gw-lan gro on >/dev/null || fail "ethtool -K gw-lan gro on"
if ! refused "$WORK/refuse.conf"; then
	bad "offloads = \"refuse\" started with GRO on"
elif ! has "$WORK/refused.log" "run 'ethtool -K gw-lan gro off'"; then
	bad "the refusal does not give the ethtool command: $(tail -n 1 "$WORK/refused.log")"
fi
[ "$(gro gw-lan)" = on ] || bad "offloads = \"refuse\" changed gw-lan's offloads"
passed "offloads = \"refuse\": refused with 'ethtool -K gw-lan gro off', nothing changed"

[ "$errors" -eq 0 ] || fail "$errors check(s) failed"

#!/bin/sh
# Least privilege: netiod started as root with `user =` opens its ports, then runs as that user
# with CAP_NET_RAW + CAP_NET_ADMIN only (afpacket) and its seccomp filter, and still forwards,
# reloads (a new pipeline, a new port), replaces a plugin and captures. The control socket
# belongs to control-group: a member may use netioctl, another user may not. sd_notify
# messages arrive in order (READY, RELOADING, READY, ..., STOPPING). A pcap-only netiod keeps no
# capability and refuses a reload that adds an afpacket port with a clear error. A system call
# outside the allow-list stops netiod with a log line naming it.
. "$(dirname "$0")/lib.sh"

OP=64998      # an operator's uid/gid (no account needed)
CTL_GID=64999 # the control group
NET_CAPS=0000000000003000 # CAP_NET_ADMIN (12) | CAP_NET_RAW (13)

# status PID FIELD: a line of /proc/PID/status without its name
status() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }

# as_op [--groups G | --clear-groups] netioctl-args...: netioctl as the operator's uid
as_op() {
	_g=$1
	shift
	# shellcheck disable=SC2086
	setpriv --reuid=$OP --regid=$OP $_g "$O/netiod/netioctl" -s "$SOCK" "$@"
}

setup_topology
chmod 755 "$WORK" # netiod, once unprivileged, reads its configuration there on reload
cat >"$WORK/base.conf" <<'CONF'
user = "nobody"
group = "nogroup"
control-group = "64999"
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-wan {
	match { in = "lan" dst = "198.51.100.0/24" }
	service mark { }
	out = "wan"
}
pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
CONF

# The service manager's end of NOTIFY_SOCKET: one line per datagram, its lines joined by '|'.
python3 - "$WORK/notify.sock" "$WORK/notify.log" >/dev/null 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "w", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY
NOTIFY_PID=$!
trap 'kill "$NOTIFY_PID" 2>/dev/null; cleanup' EXIT INT TERM
for _ in $(seq 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.1; done
export NOTIFY_SOCKET="$WORK/notify.sock"
start_netiod "$WORK/base.conf"
unset NOTIFY_SOCKET
warm_up
lan ping -c 10 -i 0.05 -W 1 198.51.100.10 >/dev/null || fail "ping through the unprivileged netiod"
ok "started as root with user = nobody: 10 pings forwarded"

# Every thread (the workers start after the drop) runs as nobody with the two capabilities.
for t in /proc/"$NETIOD_PID"/task/*; do
	tid=${t##*/}
	[ "$(status "$NETIOD_PID/task/$tid" Uid)" = "65534 65534 65534 65534" ] ||
		fail "thread $tid: Uid $(status "$NETIOD_PID/task/$tid" Uid)"
	[ "$(status "$NETIOD_PID/task/$tid" Gid)" = "65534 65534 65534 65534" ] ||
		fail "thread $tid: Gid $(status "$NETIOD_PID/task/$tid" Gid)"
	for f in CapEff CapPrm CapBnd; do
		[ "$(status "$NETIOD_PID/task/$tid" $f)" = $NET_CAPS ] ||
			fail "thread $tid: $f $(status "$NETIOD_PID/task/$tid" $f), expected $NET_CAPS"
	done
	for f in CapInh CapAmb; do
		[ "$(status "$NETIOD_PID/task/$tid" $f)" = 0000000000000000 ] ||
			fail "thread $tid: $f $(status "$NETIOD_PID/task/$tid" $f)"
	done
	[ "$(status "$NETIOD_PID/task/$tid" Seccomp)" = 2 ] || fail "thread $tid: no seccomp filter"
	[ "$(status "$NETIOD_PID/task/$tid" NoNewPrivs)" = 1 ] || fail "thread $tid: NoNewPrivs"
done
[ "$(status "$NETIOD_PID" Groups)" = 65534 ] || fail "Groups: $(status "$NETIOD_PID" Groups)"
nthreads=$(ls /proc/"$NETIOD_PID"/task | wc -l)
ok "$nthreads threads: uid/gid 65534, CapEff=CapPrm=CapBnd=$NET_CAPS, no ambient, Seccomp 2"

# The control socket: the operator in the control group may use it, without it may not.
[ "$(command stat -c '%u:%g %a' "$SOCK")" = "65534:$CTL_GID 660" ] ||
	fail "control socket is $(command stat -c '%u:%g %a' "$SOCK")"
as_op --groups=$CTL_GID -j stats | jq -e '.ports | length == 2' >/dev/null ||
	fail "a member of the control group could not run netioctl stats"
as_op --clear-groups stats >/dev/null 2>"$WORK/op.err" && fail "a non-member ran netioctl stats"
grep -q "Permission denied" "$WORK/op.err" || fail "non-member: $(cat "$WORK/op.err")"
ok "control socket 65534:$CTL_GID 0660: member ran 'netioctl stats', non-member refused"

# Reload: a new pipeline (IPv6) and a new afpacket port (CAP_NET_RAW was kept for that).
ip link add gw-x netns "$NS_GW" type veth peer name x-peer netns "$NS_GW"
ip -n "$NS_GW" link set gw-x up
ip -n "$NS_GW" link set x-peer up
no_offload "$NS_GW" gw-x
{
	cat "$WORK/base.conf"
	printf '%s\n' 'port x { device = "gw-x" driver = "afpacket" }' \
		'pipeline to-wan6 { match { in = "lan" dst = "2001:db8:2::/64" } out = "wan" }' \
		'pipeline to-lan6 { match { in = "wan" dst = "2001:db8:1::/64" } out = "lan" }'
} >"$WORK/more.conf"
ctl reload "$WORK/more.conf" >/dev/null || fail "reload with a new pipeline and port"
ctl -j port list | jq -e '[.[] | select(.name == "x")] | length == 1' >/dev/null ||
	fail "port x not open after reload: $(ctl port list)"
warm_up_to -6 2001:db8:2::10
[ "$(ctl -j stats | jq '.pipelines[] | select(.name == "to-wan6") | .packets')" -ge 1 ] ||
	fail "no packets through the reloaded to-wan6 pipeline"
ok "reload as nobody: new port gw-x open, new pipeline to-wan6 forwards"

# The wan device deleted and created again with GRO on: netiod reopens the port (CAP_NET_RAW)
# and turns GRO off (CAP_NET_ADMIN).
wstate() { ctl -j port list | jq -r '.[] | select(.name == "wan") | .state'; }
ip -n "$NS_GW" link del gw-wan
for _ in $(seq 50); do [ "$(wstate)" = gone ] && break; sleep 0.1; done
[ "$(wstate)" = gone ] || fail "port wan is not gone after its device was deleted"
ip link add eth0 netns "$NS_WAN" type veth peer name gw-wan netns "$NS_GW"
gw ethtool -K gw-wan gro on >/dev/null 2>&1 || fail "ethtool -K gw-wan gro on"
ip -n "$NS_GW" link set gw-wan up
ip -n "$NS_GW" addr add 198.51.100.1/24 dev gw-wan
host_side "$NS_WAN" eth0 198.51.100.10/24 198.51.100.1 2001:db8:2::10/64 2001:db8:2::1
for _ in $(seq 50); do [ "$(wstate)" = up ] && break; sleep 0.1; done
[ "$(wstate)" = up ] || fail "port wan did not come back: $(ctl port list)"
gw ethtool -k gw-wan | grep -q '^generic-receive-offload: off' || fail "GRO still on for gw-wan"
warm_up
ok "gw-wan deleted and created again with GRO on: reopened as nobody, GRO turned off, forwarding"

# Plugin code is loaded from a memfd copy, captures are written as the user.
ctl service replace mark "$O/services/mark.so" >/dev/null || fail "service replace after the drop"
mkdir "$WORK/cap" && chown 65534:65534 "$WORK/cap"
ctl capture start to-wan "$WORK/cap/in.pcap" count 3 >/dev/null || fail "capture start"
lan ping -c 3 -i 0.1 -W 1 198.51.100.10 >/dev/null || fail "ping during capture"
ctl capture stop to-wan >/dev/null 2>&1
[ "$(command stat -c %u "$WORK/cap/in.pcap")" = 65534 ] && [ "$(command stat -c %s "$WORK/cap/in.pcap")" -gt 24 ] ||
	fail "capture file: $(ls -ln "$WORK/cap")"
ok "service replace (memfd) and capture (file owned by nobody) work after the drop"

ctl reload "$WORK/nonexistent.conf" >/dev/null 2>&1 && fail "reload of a missing file"
stop_netiod
kill "$NOTIFY_PID"
seq=$(cut -d= -f1 "$WORK/notify.log" | tr '\n' ' ')
[ "$seq" = "READY RELOADING READY RELOADING READY STOPPING " ] || fail "sd_notify sequence: $seq"
grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]*|STATUS=reloading ' "$WORK/notify.log" ||
	fail "RELOADING without MONOTONIC_USEC: $(cat "$WORK/notify.log")"
grep -q '^READY=1|STATUS=reload failed, running generation 2: ' "$WORK/notify.log" ||
	fail "failed reload status: $(cat "$WORK/notify.log")"
ok "sd_notify: $seq(with MONOTONIC_USEC and STATUS)"

# As systemd starts it (User=, AmbientCapabilities=): already unprivileged, netiod keeps what
# afpacket needs and clears the ambient set; its socket goes into a directory of its own.
mkdir "$WORK/run" && chown 65534:65534 "$WORK/run"
grep -v '^user\|^group\|^control-group' "$WORK/base.conf" >"$WORK/unit.conf"
ip netns exec "$NS_GW" setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=+net_raw,+net_admin --ambient-caps=+net_raw,+net_admin "$O/netiod/netiod" -f \
	-c "$WORK/unit.conf" -P "$O/services" -S "$WORK/run/netiod.sock" -s "$WORK/run" \
	>>"$WORK/netiod.log" 2>&1 &
NETIOD_PID=$!
SOCK="$WORK/run/netiod.sock"
for _ in $(seq 50); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
ctl status >/dev/null 2>&1 || fail "netiod started with ambient capabilities did not come up"
warm_up
for f in CapEff CapPrm; do
	[ "$(status "$NETIOD_PID" $f)" = $NET_CAPS ] || fail "unit-style: $f $(status "$NETIOD_PID" $f)"
done
[ "$(status "$NETIOD_PID" CapAmb)" = 0000000000000000 ] || fail "unit-style: ambient set kept"
[ "$(status "$NETIOD_PID" CapInh)" = 0000000000000000 ] || fail "unit-style: inheritable set kept"
stop_netiod
[ ! -e "$SOCK" ] || fail "unit-style: the control socket was left behind"
SOCK="$WORK/netiod.sock"
ok "started unprivileged with ambient CAP_NET_RAW,CAP_NET_ADMIN: forwards, keeps both, ambient cleared"

# pcap only: no capability at all; a reload adding an afpacket port says why it cannot.
python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))' \
	>"$WORK/empty.pcap"
chmod 644 "$WORK/empty.pcap"
mkdir "$WORK/out" && chown 65534:65534 "$WORK/out"
cat >"$WORK/pcap.conf" <<CONF
user = "nobody"
group = "nogroup"
port p { driver = "pcap" input = "$WORK/empty.pcap" output = "$WORK/out/p.pcap" }
pipeline all { match { in = "p" } out = "p" dst-mac = "02:00:00:00:00:01" }
CONF
start_netiod "$WORK/pcap.conf"
for f in CapEff CapPrm CapBnd CapAmb; do
	[ "$(status "$NETIOD_PID" $f)" = 0000000000000000 ] ||
		fail "pcap only: $f $(status "$NETIOD_PID" $f)"
done
[ "$(status "$NETIOD_PID" Seccomp)" = 2 ] || fail "pcap only: no seccomp filter"
{ cat "$WORK/pcap.conf"; echo 'port lan { device = "gw-lan" driver = "afpacket" }'; } >"$WORK/pcap2.conf"
ctl reload "$WORK/pcap2.conf" >/dev/null 2>"$WORK/reload.err" && fail "afpacket port added without CAP_NET_RAW"
grep -q "the afpacket driver needs CAP_NET_ADMIN,CAP_NET_RAW, which netiod gave up after start" "$WORK/reload.err" ||
	fail "reload error: $(cat "$WORK/reload.err")"
ok "pcap only: CapEff=CapPrm=CapBnd=0; adding an afpacket port: $(cut -d: -f3- "$WORK/reload.err" | cut -c1-60)..."

# A plugin whose constructor makes a system call outside the allow-list (chroot): netiod stops
# by SIGSYS and says which call.
cat >"$WORK/evil.c" <<'C'
#include <sys/syscall.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) { syscall(SYS_chroot, "/"); }
C
cc -shared -fPIC -o "$WORK/evil.so" "$WORK/evil.c" || fail "cc evil.so"
chmod 644 "$WORK/evil.so"
ctl service load "$WORK/evil.so" >/dev/null 2>&1
wait "$NETIOD_PID"
rc=$?
NETIOD_PID=
[ $rc -eq $((128 + 31)) ] || fail "netiod exit status $rc after a forbidden system call, not SIGSYS"
grep -q "seccomp: system call $(printf '#include <sys/syscall.h>\nSYS_chroot\n' | cpp -P | tail -n 1) is not in netiod's allow-list" \
	"$WORK/netiod.log" || fail "no log line for the forbidden system call"
ok "a forbidden system call (chroot) stopped netiod by SIGSYS: $(grep -o 'seccomp: system call [0-9]*' "$WORK/netiod.log")"

#!/bin/sh
# afxdp ports under least privilege: netiod started as root with `user = "nobody"` attaches its
# XDP program and opens its AF_XDP sockets, then runs as nobody with CAP_NET_RAW, CAP_NET_ADMIN,
# CAP_BPF and CAP_PERFMON only, and still forwards a claimed flow, takes a port away by reload
# (the program detached from its device, which libxdp could not do without CAP_SYS_ADMIN) and
# brings it back (program, claims and sockets again, loaded as nobody).
. "$(dirname "$0")/lib.sh"

CAPS=000000c000003000 # CAP_NET_ADMIN (12) | CAP_NET_RAW (13) | CAP_PERFMON (38) | CAP_BPF (39)

status() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
pl() { stat ".pipelines[] | select(.name==\"$1\") | .tx_packets"; }
xdp_on() { gw ip link show "$1" | grep -q 'prog/xdp'; }

if ! /usr/bin/python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null; then
	echo "afxdp_privs: no AF_XDP sockets in this kernel; skipped"
	exit 77
fi
setup_topology
chmod 755 "$WORK" # netiod, once unprivileged, reads its configuration there on reload
cat >"$WORK/afxdp.conf" <<'CONF'
user = "nobody"
group = "nogroup"
port lan { device = "gw-lan" driver = "afxdp" }
port wan { device = "gw-wan" driver = "afxdp" }
pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
CONF
{ grep -v '^port lan\|^pipeline' "$WORK/afxdp.conf"; echo 'forward-nothing = true'; } >"$WORK/wan-only.conf"
{ echo 'poll = "napi"'; cat "$WORK/afxdp.conf"; } >"$WORK/napi.conf"
chmod 644 "$WORK"/*.conf
start_netiod "$WORK/afxdp.conf"
warm_up
p0=$(pl to-wan)
lan ping -c 10 -i 0.05 -W 1 198.51.100.10 >/dev/null || fail "ping through the unprivileged netiod"
[ $(($(pl to-wan) - p0)) -ge 10 ] || fail "to-wan forwarded $(($(pl to-wan) - p0)) of 10 pings"
for t in /proc/"$NETIOD_PID"/task/*; do
	tid=${t##*/}
	[ "$(status "$NETIOD_PID/task/$tid" Uid)" = "65534 65534 65534 65534" ] ||
		fail "thread $tid: Uid $(status "$NETIOD_PID/task/$tid" Uid)"
	[ "$(status "$NETIOD_PID/task/$tid" CapEff)" = $CAPS ] ||
		fail "thread $tid: CapEff $(status "$NETIOD_PID/task/$tid" CapEff), expected $CAPS"
done
ok "afxdp ports as nobody with CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON: 10 pings forwarded"

ctl reload "$WORK/wan-only.conf" >/dev/null || fail "reload without lan: $(tail -n 3 "$WORK/netiod.log")"
! xdp_on gw-lan || fail "lan's XDP program stayed after the port went"
xdp_on gw-wan || fail "wan's XDP program went with lan"
ctl reload "$WORK/afxdp.conf" >/dev/null || fail "reload bringing lan back: $(tail -n 3 "$WORK/netiod.log")"
xdp_on gw-lan || fail "lan came back without its XDP program"
p0=$(pl to-wan)
lan ping -c 10 -i 0.05 -W 1 198.51.100.10 >/dev/null || fail "ping after lan came back"
[ $(($(pl to-wan) - p0)) -ge 10 ] || fail "to-wan forwarded $(($(pl to-wan) - p0)) of 10 after the reloads"
[ "$(stat '.ports[] | select(.name=="lan") | .xdp.redirected')" -ge 10 ] ||
	fail "lan's new program redirected nothing"
ok "as nobody: a reload took lan and its XDP program away, another brought both back, forwarding"

# poll = "napi" as nobody: the workers turn their sockets' busy-poll options on with the
# CAP_NET_ADMIN netiod kept (SO_PREFER_BUSY_POLL and raising SO_BUSY_POLL need it; a refusal
# is logged), and forward.
ctl reload "$WORK/napi.conf" >/dev/null || fail "reload to poll napi: $(tail -n 3 "$WORK/netiod.log")"
p0=$(pl to-wan)
lan ping -c 10 -i 0.05 -W 1 198.51.100.10 >/dev/null || fail "ping with poll napi"
[ $(($(pl to-wan) - p0)) -ge 10 ] || fail "to-wan forwarded $(($(pl to-wan) - p0)) of 10 with poll napi"
! grep "busy-poll" "$WORK/netiod.log" || fail "a worker could not turn busy-poll on as nobody"
ok "as nobody, poll napi: the sockets took the busy-poll options, 10 pings forwarded"

#!/bin/sh
# netiod on kmod ports as user nobody inside the test VM: after the drop it keeps CAP_NET_ADMIN
# only (netio.ko's genetlink commands) and its seccomp filter, forwards through the module's
# rings, and a reload installs a new pipeline's claims; a reload adding a kmod port fails with
# the /dev/netio hint until the group may open the device, then works. Env REPO, O.
#
#   kp-lan eth0 192.0.2.10 2001:db8:1::10 -- gw-lan [kp-gw: netiod] gw-wan -- eth0 198.51.100.10 kp-wan
set -eu
W=$(mktemp -d)
L=kp-lan
G=kp-gw
R=kp-wan
NETIOD=

fail() {
	echo "FAIL: $*"
	[ -f "$W/netiod.log" ] && tail -n 20 "$W/netiod.log"
	exit 1
}

cleanup() {
	[ -z "$NETIOD" ] || { kill -TERM "$NETIOD" 2>/dev/null; wait "$NETIOD" 2>/dev/null; } || true
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
status() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$NETIOD/status"; }

host() { # ns addr4 gw4 addr6 gw6
	ip -n "$1" link set lo up
	ip -n "$1" link set eth0 up
	ip -n "$1" addr add "$2" dev eth0
	ip -n "$1" addr add "$4" dev eth0 nodad
	ip -n "$1" route add default via "$3"
	ip -n "$1" -6 route add default via "$5"
}

warm_up() { # ping options
	i=0
	until lan ping "$@" -c 1 -W 1 >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 40 ] || fail "no connectivity through netiod: ping $*"
		kill -0 "$NETIOD" 2>/dev/null || fail "netiod exited"
		sleep 0.2
	done
}

insmod "$REPO/netio-kmod/netio.ko"
modprobe veth
for ns in $L $G $R; do ip netns add $ns; done
ip link add eth0 netns $L type veth peer name gw-lan netns $G
ip link add eth0 netns $R type veth peer name gw-wan netns $G
ip link add gw-x netns $G type veth peer name x-peer netns $G
gw sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
for d in lo gw-lan gw-wan gw-x x-peer; do ip -n $G link set $d up; done
ip -n $G addr add 192.0.2.1/24 dev gw-lan
ip -n $G addr add 2001:db8:1::1/64 dev gw-lan nodad
ip -n $G addr add 198.51.100.1/24 dev gw-wan
ip -n $G addr add 2001:db8:2::1/64 dev gw-wan nodad
host $L 192.0.2.10/24 192.0.2.1 2001:db8:1::10/64 2001:db8:1::1
host $R 198.51.100.10/24 198.51.100.1 2001:db8:2::10/64 2001:db8:2::1
chmod 755 "$W"
cat >"$W/base.conf" <<EOF
user = "nobody"
group = "nogroup"
port lan { device = "gw-lan" driver = "kmod" hold-time = "0s" }
port wan { device = "gw-wan" driver = "kmod" hold-time = "0s" }
pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
EOF
ip netns exec $G "$O/netiod/netiod" -f -c "$W/base.conf" -P "$O/services" -S "$W/netiod.sock" \
	-s "$W" >>"$W/netiod.log" 2>&1 &
NETIOD=$!
warm_up 198.51.100.10
lan ping -c 10 -i 0.05 -W 2 198.51.100.10 >/dev/null || fail "ping through the unprivileged netiod"
[ "$(status Uid)" = 65534 ] || fail "Uid $(status Uid)"
[ "$(status CapEff)" = 0000000000001000 ] || fail "CapEff $(status CapEff), want CAP_NET_ADMIN"
[ "$(status CapPrm)" = 0000000000001000 ] || fail "CapPrm $(status CapPrm)"
[ "$(status Seccomp)" = 2 ] || fail "no seccomp filter"
echo "   kmod as nobody: 10 pings, CapEff=CapPrm=CAP_NET_ADMIN, Seccomp 2"

{
	cat "$W/base.conf"
	echo 'pipeline to-wan6 { match { in = "lan" dst = "2001:db8:2::/48" } out = "wan" }'
	echo 'pipeline to-lan6 { match { in = "wan" dst = "2001:db8:1::/48" } out = "lan" }'
} >"$W/v6.conf"
ctl reload "$W/v6.conf" >/dev/null || fail "reload with IPv6 pipelines"
warm_up -6 2001:db8:2::10
echo "   reload as nobody: the IPv6 pipelines' claims installed, IPv6 forwarded"

{ cat "$W/v6.conf"; echo 'port x { device = "gw-x" driver = "kmod" hold-time = "0s" }'; } >"$W/x.conf"
ctl reload "$W/x.conf" >/dev/null 2>"$W/x.err" && fail "a kmod port opened without access to /dev/netio"
grep -q "/dev/netio: Permission denied (netiod runs unprivileged: give its group" "$W/x.err" ||
	fail "reload error: $(cat "$W/x.err")"
chgrp nogroup /dev/netio
chmod 0660 /dev/netio
ctl reload "$W/x.conf" >/dev/null || fail "reload with port x once nogroup may open /dev/netio"
ctl port list | grep -q "name x .*state up" || fail "port x: $(ctl port list)"
lan ping -c 3 -i 0.1 -W 2 198.51.100.10 >/dev/null || fail "ping after adding port x"
echo "   new kmod port: refused with the /dev/netio hint, opened once the group may use the device"

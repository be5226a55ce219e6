#!/bin/sh
# A reload that would move an afxdp port's device to a port it cannot take over (the port
# renamed; its driver written "auto" instead of "afxdp") fails with a file:line error that
# says what holds the device and what to do, never the AF_XDP socket's EINVAL, and the running
# configuration keeps forwarding; done as the error says (a reload without the port, then one
# with it) the change applies and traffic flows through the new port.
here=$(cd "$(dirname "$0")" && pwd)
NETIOD_ARGS=""
. "$here/lib.sh"

if ! /usr/bin/python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null; then
	echo "afxdp_reload: no AF_XDP sockets in this kernel; skipped"
	exit 77
fi

# conf WAN-PORT WAN-DRIVER: lan and wan ports, forwarding both ways (no WAN-PORT: lan alone)
conf() {
	echo 'port lan { device = "gw-lan" driver = "afxdp" }'
	[ -n "$1" ] || echo 'forward-nothing = true'
	[ -z "$1" ] || echo "port $1 { device = \"gw-wan\" driver = \"$2\" }"
	[ -z "$1" ] || printf '%s\n' 'pipeline to-wan {' \
		'	match { in = "lan" dst = "198.51.100.0/24" }' "	out = \"$1\"" '}' \
		'pipeline to-lan {' "	match { in = \"$1\" dst = \"192.0.2.0/24\" }" '	out = "lan"' '}'
}
gen() { ctl -j status | jq .generation; }
sent() { stat '.pipelines[] | select(.name=="to-wan") | .tx_packets'; }
# forwards WHAT: 5 pings lan -> wan, all through netiod's to-wan pipeline
forwards() {
	s0=$(sent)
	lan ping -c 5 -i 0.2 -W 2 198.51.100.10 >"$WORK/ping" 2>&1 || fail "$1: $(tail -n 2 "$WORK/ping")"
	[ $(($(sent) - s0)) -ge 5 ] || fail "$1: the pings did not go through netiod ($(($(sent) - s0)) sent)"
}
# refused FILE WHAT: the reload fails with FILE:2's error about gw-wan; nothing changed
refused() {
	g=$(gen)
	if ctl reload "$WORK/$1" >"$WORK/reload.out" 2>&1; then fail "$2: the reload succeeded"; fi
	grep -q "$WORK/$1:2: port '[a-z]*' (afxdp gw-wan): the running port 'wan' (driver afxdp) holds gw-wan; a reload keeps it only with the same name, driver and options" "$WORK/reload.out" ||
		fail "$2: not the error wanted: $(cat "$WORK/reload.out")"
	[ "$(gen)" = "$g" ] || fail "$2: the failed reload changed the generation"
	forwards "$2: the running configuration after the refused reload"
	ok "$2: refused ($1:2: ... holds gw-wan ...), still forwarding"
}

setup_topology
conf wan afxdp >"$WORK/a.conf"
conf uplink afxdp >"$WORK/renamed.conf"
conf wan auto >"$WORK/auto.conf"
conf >"$WORK/none.conf"
start_netiod "$WORK/a.conf"
warm_up
forwards "afxdp ports"

refused renamed.conf "wan renamed uplink"
# auto picks afxdp where netio.ko is not loaded: the same device, the driver written otherwise
[ -e /dev/netio ] || refused auto.conf 'driver "afxdp" written "auto"'

ctl reload "$WORK/none.conf" >"$WORK/reload.out" 2>&1 || fail "reload without wan: $(cat "$WORK/reload.out")"
ctl reload "$WORK/renamed.conf" >"$WORK/reload.out" 2>&1 || fail "reload with uplink: $(cat "$WORK/reload.out")"
[ "$(ctl -j port list | jq -r '.[] | select(.device=="gw-wan") | .name')" = uplink ] ||
	fail "gw-wan is not port uplink: $(ctl -j port list)"
warm_up
forwards "after the two reloads, through uplink"
ok "reloaded without the port, then with it renamed: forwarding through uplink"

#!/bin/sh
# qos priority: while a UDP flood at twice the rate fills the bulk class's queue (about a second
# deep), ping in a priority-0 class keeps a small delay and loses nothing.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }

to_wan_conf >"$WORK/qos.conf" <<'CONF'
	service qos {
		rate = "10mbit"
		class interactive { proto = "icmp" prio = 0 }
		class bulk { prio = 1 codel = false limit = 800 }
	}
CONF


# delay_max CLASS: the worst queueing delay of the class, in microseconds
delay_max() {
	qos_status | jq ".class.$1.\"delay-max-us\""
}

setup_topology
start_netiod "$WORK/qos.conf"
warm_up
iperf3_server wan 198.51.100.10 5321
lan timeout 30 iperf3 -u -b 20M -l 1400 -t 8 -c 198.51.100.10 -p 5321 >"$WORK/iperf.log" 2>&1 &
client=$!
sleep 2
lan ping -c 20 -i 0.2 -W 2 198.51.100.10 >"$WORK/ping" 2>&1
ping_rc=$?
wait $client || fail "iperf3 client: $(tail -n 3 "$WORK/iperf.log")"
[ $ping_rc -eq 0 ] || fail "ping lost packets under load: $(tail -n 2 "$WORK/ping")"
# rtt min/avg/max/mdev = a/b/c/d ms
avg=$(sed -n 's|^rtt .* = [0-9.]*/\([0-9]*\)\.[0-9]*/.*|\1|p' "$WORK/ping")
bulk=$(delay_max bulk)
# shellcheck disable=SC2015 # fail exits
[ -n "$avg" ] && [ -n "$bulk" ] || fail "could not read ping or class delays"
[ "$bulk" -ge 300000 ] || fail "bulk queue delay only $bulk us: the flood did not fill it"
# Behind the bulk queue ping would wait as long as bulk does; in its own priority class it only
# waits for the packet on the wire and the worker's wake-ups, whatever the machine's load.
[ $((avg * 10)) -le $((bulk / 1000)) ] ||
	fail "ping averaged $avg ms behind a bulk queue of $((bulk / 1000)) ms"
ok "ping avg $avg ms while bulk waited up to $((bulk / 1000)) ms"

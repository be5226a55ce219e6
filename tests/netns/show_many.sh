#!/bin/sh
# A qos service with 400 classes (and root and the default): 'netioctl stats' shows every class
# whole, in the text output and in -j (the status lines and the objects), however long the
# status text grows (~75 KB here; netiod once cut it at 64 KB, ~350 classes of short names).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

N=400
{
	echo '	service qos {'
	echo '		rate = "100mbit"'
	for i in $(seq $N); do
		echo "		class c$i { proto = \"udp\" dport = \"$((10000 + i))\" }"
	done
	echo '		class other { }'
	echo '	}'
} | to_wan_conf >"$WORK/many.conf"

status() { ctl -j stats | jq -r '.pipelines[] | select(.name=="to-wan") | .services[0].status'; }
objects() { ctl -j stats | jq '[.pipelines[] | select(.name=="to-wan") | .services[0].objects[]? | select(.kind=="class")] | length'; }

# every_class WHERE: all N+2 classes (with root and the default) in -j's status, once each and
# whole, and in the text output
every_class() {
	status >"$WORK/status"
	n=$(grep -c '^class ' "$WORK/status")
	[ "$n" -eq $((N + 2)) ] || fail "$1: -j stats shows $n of $((N + 2)) classes; last line: $(tail -n 1 "$WORK/status")"
	for i in 1 $((N / 2)) $N; do
		grep -q "^class c$i parent root rate .* delay-max-us [0-9]*$" "$WORK/status" ||
			fail "$1: class c$i is not shown whole: $(grep "^class c$i " "$WORK/status")"
	done
	grep -q '^class other ' "$WORK/status" || fail "$1: the default class is not shown"
	ctl stats >"$WORK/text"
	[ "$(grep -c '^ *class c[0-9]* parent ' "$WORK/text")" -eq $N ] ||
		fail "$1: netioctl stats shows $(grep -c '^ *class c[0-9]* parent ' "$WORK/text") of $N classes"
}

setup_topology
start_netiod "$WORK/many.conf"
every_class "in netiod"
[ "$(objects)" -eq $((N + 2)) ] || fail "-j stats has $(objects) class objects, want $((N + 2))"
echo "  ok  $TEST_NAME: $((N + 2)) qos classes shown whole (text, -j status, objects)"

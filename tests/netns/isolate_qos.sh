#!/bin/sh
# qos isolated (isolate = true): a shaper class and a policer run in netio-svchost; traffic is
# shaped and policed there, and `netioctl stats` and /metrics keep answering (they once called
# the plugin's objects() on netiod's handle of the isolated instance and spun on junk). An
# isolated instance's parts (classes, policers) are not shown: they live in its host. The tree
# has 1000 more classes, so that the block's options (handed to the host as JSON: ~930 KB, near
# the limit) are far above the 4 KB an instance once could take.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v jq >/dev/null || { echo "skip: no jq"; exit 77; }

setup_topology
{
	echo 'metrics-listen = "127.0.0.1:9111"'
	{
		printf '%s\n' '	service qos {' '		isolate = true' '		watchdog = "1s"' \
			'		rate = "50mbit"' '		class bulk { rate = "20mbit" }'
		i=0
		while [ $i -lt 1000 ]; do
			printf '\t\tclass spare%03d { rate = "100kbit" proto = "udp" dport = "%d" }\n' \
				$i $((40000 + i))
			i=$((i + 1))
		done
		printf '%s\n' '		policer tiny { cir = "8kbit" cbs = "1500" ebs = "0" dport = "5999" }' '	}'
	} | to_wan_conf
} >"$WORK/iq.conf"
start_netiod "$WORK/iq.conf"
pid=$(ctl -j service list | jq '.[].running[] | select(.instance=="to-wan/qos") | .pid')
[ "$(ctl -j service list | jq '.[].running[] | select(.instance=="to-wan/qos") | .isolated')" = true ] &&
	[ "$pid" -gt 0 ] && [ "$pid" != "$NETIOD_PID" ] || fail "qos is not isolated: $(ctl -j service list)"
warm_up
lan ping -c 20 -i 0.05 -W 2 198.51.100.10 >"$WORK/ping" 2>&1 || fail "ping through the isolated shaper: $(tail -n 2 "$WORK/ping")"

# 40 datagrams of 1000 B at once to the policed port: an 8 kbit/s policer with a 1500-byte
# bucket passes one, perhaps two; netiod counts the rest as the host's drops
wan timeout 20 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.10", 5999)); s.settimeout(3); n = 0
try:
    while True:
        s.recv(2048); n += 1
except socket.timeout:
    pass
print(n)' >"$WORK/rx" &
rx=$!
sleep 0.5
lan python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(40):
    s.sendto(bytes(1000), ("198.51.100.10", 5999))'
wait "$rx"
got=$(cat "$WORK/rx")
[ "$got" -ge 1 ] && [ "$got" -le 3 ] || fail "the isolated policer let $got of 40 datagrams through, want 1-3"
ok "qos isolated in pid $pid: ping shaped through class bulk, the policer passed $got of 40"

st=$(ctl -t 5 -j stats) || fail "netioctl stats does not answer: $st"
dropped=$(printf "%s\n" "$st" | jq '.pipelines[] | select(.name=="to-wan") | .services[0].dropped')
[ "$dropped" -ge 37 ] || fail "the isolated qos counted $dropped drops, want >= 37: $st"
[ "$(printf "%s\n" "$st" | jq '.pipelines[] | select(.name=="to-wan") | .services[0] | has("objects")')" = false ] ||
	fail "stats show objects of an isolated instance"
gw python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9111/metrics", timeout=5).read().decode(), end="")' \
	>"$WORK/metrics" || fail "/metrics does not answer"
grep -q '^netio_service_dropped_total{pipeline="to-wan",service="qos"} '"$dropped"'$' "$WORK/metrics" ||
	fail "/metrics lacks the isolated qos's $dropped drops: $(grep 'pipeline="to-wan"' "$WORK/metrics" | head -n 20)"
ctl -j stats >/dev/null || fail "netioctl stats does not answer after /metrics"
ok "stats ($dropped dropped by the isolated qos) and /metrics answer; the instance's parts stay in its host"

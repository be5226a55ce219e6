#!/bin/sh
# qos DRR: two UDP floods of 15 Mbit/s each into classes weighted 3:1 under a 10 Mbit/s root
# share it 3:1, counted by the classes themselves over a window in the middle of the run (DRR
# shares by bytes sent, whatever the timing, so this holds on a loaded machine too).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }

to_wan_conf >"$WORK/qos.conf" <<'CONF'
	service qos {
		rate = "10mbit"
		class heavy { proto = "udp" dport = "5311" weight = 3 }
		class light { proto = "udp" dport = "5312" weight = 1 }
		class other { }
	}
CONF


# sent: "HEAVY LIGHT", the bytes each class has sent, from one snapshot of the status lines
sent() {
	qos_status | jq -r '.class | "\(.heavy."sent-bytes") \(.light."sent-bytes")"'
}

setup_topology
start_netiod "$WORK/qos.conf"
warm_up
for p in 5311 5312; do
	iperf3_server wan 198.51.100.10 $p
done
for p in 5311 5312; do
	lan timeout 30 iperf3 -u -b 15M -l 1200 -t 8 -c 198.51.100.10 -p $p \
		>"$WORK/iperf-$p.log" 2>&1 &
	eval "client_$p=\$!"
done
sleep 2
# shellcheck disable=SC2046 # split into the two numbers on purpose
set -- $(sent)
h0=$1 l0=$2
sleep 5
# shellcheck disable=SC2046
set -- $(sent)
h1=$1 l1=$2
# shellcheck disable=SC2154
wait "$client_5311" || fail "iperf3 client 5311: $(tail -n 3 "$WORK/iperf-5311.log")"
# shellcheck disable=SC2154
wait "$client_5312" || fail "iperf3 client 5312: $(tail -n 3 "$WORK/iperf-5312.log")"
h=$((h1 - h0))
l=$((l1 - l0))
[ "$l" -gt 0 ] || fail "the light class sent nothing"
ratio=$((h * 1000 / l))
# shellcheck disable=SC2015 # fail exits
[ "$ratio" -ge 2850 ] && [ "$ratio" -le 3150 ] ||
	fail "heavy:light = $ratio/1000 ($h:$l bytes), want 3 +- 5%"
ok "weights 3:1 -> bytes $h:$l = $ratio/1000"

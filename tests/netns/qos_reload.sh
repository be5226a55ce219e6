#!/bin/sh
# qos reload: the packets a shaper holds move to the new instance when the configuration is
# reloaded (save_state/restore_state), so changing the rate mid-queue loses none of them.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }

conf() { # RATE
	cat <<CONF
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-wan {
	match { in = "lan" dst = "198.51.100.0/24" proto = "udp" }
	service qos { rate = "$1" codel = false limit = 4000 }
	out = "wan"
}
pipeline control {
	match { in = "lan" dst = "198.51.100.0/24" }
	out = "wan"
}
pipeline to-lan {
	match { in = "wan" dst = "192.0.2.0/24" }
	out = "lan"
}
CONF
}

ctr() { stat ".pipelines[] | select(.name==\"to-wan\") | .services[0].counters.\"$1\""; }
rx_packets() { wan cat /sys/class/net/eth0/statistics/rx_packets; }

setup_topology
conf 10mbit >"$WORK/qos.conf"
conf 20mbit >"$WORK/qos-fast.conf"
start_netiod "$WORK/qos.conf"
warm_up
iperf3_server wan 198.51.100.10 5351
rx0=$(rx_packets)
# 3 s at twice the rate, within the queue limit: nothing is dropped, about 3 s stays queued.
# iperf3's TCP control connection bypasses the shaper, so the client ends with the queue full.
lan timeout 30 iperf3 -u -b 20M -l 1400 -t 3 -c 198.51.100.10 -p 5351 >"$WORK/iperf.log" 2>&1 ||
	fail "iperf3 client: $(tail -n 3 "$WORK/iperf.log")"
[ "$(ctr queue-limit-drops)" -eq 0 ] || fail "the queue overflowed before the reload"
accepted=$(ctr queued)
ctl reload "$WORK/qos-fast.conf" >/dev/null || fail "reload"
held=$(ctr queue-packets)
[ "$held" -gt 100 ] || fail "only $held packets held after the reload"
for _ in $(seq 100); do
	[ "$(ctr queue-packets)" -eq 0 ] && break
	sleep 0.1
done
[ "$(ctr queue-packets)" -eq 0 ] || fail "the new instance did not drain its queue"
sleep 0.5
delivered=$(($(rx_packets) - rx0))
# Everything the old instance accepted reaches the wan host (the control packets and pings
# come on top; a lost queue would be thousands short).
[ "$delivered" -ge "$accepted" ] ||
	fail "$accepted packets accepted, $delivered delivered across the reload"
ok "reload mid-queue: $held packets handed over, $accepted accepted, $delivered delivered"

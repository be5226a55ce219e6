#!/bin/sh
# qos policer: RFC 2698 trTCM (CIR 2 Mbit/s, PIR 4 Mbit/s) on an 8 Mbit/s UDP flood passes
# green as is, re-marks yellow AF12 (checksum intact: the receiver's IP layer accepts every
# one), drops red, and lets no more than PIR through.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v iperf3 >/dev/null || { echo "skip: no iperf3"; exit 77; }
command -v tcpdump >/dev/null || { echo "skip: no tcpdump"; exit 77; }

to_wan_conf >"$WORK/qos.conf" <<'CONF'
	service qos {
		policer flood {
			type = "trtcm"  cir = "2mbit"  cbs = "16k"  pir = "4mbit"  pbs = "16k"
			green = "pass"  yellow = "af12"  red = "drop"
			proto = "udp"
		}
	}
CONF

ctr() { stat ".pipelines[] | select(.name==\"to-wan\") | .services[0].counters.\"$1\""; }
# shellcheck disable=SC2016 # awk's own $5: InHdrErrors
hdr_errors() { wan awk '/^Ip: [0-9]/ { print $5 }' /proc/net/snmp; }

setup_topology
start_netiod "$WORK/qos.conf"
warm_up
iperf3_server wan 198.51.100.10 5341
# not through wan(): $! must be the capture itself (ip netns exec execs timeout), or the kill
# below ends a subshell and the file is read while tcpdump still writes it; immediate mode and
# -U: every packet is in the file when it is killed (a ring block waiting for its timeout is lost)
ip netns exec "$NS_WAN" timeout 20 tcpdump --immediate-mode -nn -U -i eth0 -w "$WORK/wan.pcap" 'udp and port 5341' \
	2>"$WORK/tcpdump.err" &
dump=$!
for _ in $(seq 50); do
	grep -q "listening on" "$WORK/tcpdump.err" && break
	sleep 0.1
done
errs0=$(hdr_errors)
lan timeout 30 iperf3 -u -b 8M -l 1200 -t 6 -c 198.51.100.10 -p 5341 -J >"$WORK/iperf.json" ||
	fail "iperf3 client"
sleep 1
kill "$dump" 2>/dev/null
wait "$dump" 2>/dev/null
green=$(ctr green)
yellow=$(ctr yellow)
red=$(ctr red)
received=$(jq '.end.sum.packets - .end.sum.lost_packets' "$WORK/iperf.json")
af12=$(wan tcpdump -nn -r "$WORK/wan.pcap" 'ip[1] & 0xfc = 48' 2>/dev/null | wc -l)

# shellcheck disable=SC2015 # fail exits
[ "$yellow" -gt 0 ] && [ "$red" -gt 0 ] || fail "colours green $green yellow $yellow red $red"
[ "$(ctr marked)" -eq "$yellow" ] || fail "marked $(ctr marked) != yellow $yellow"
[ "$(ctr policer-drops)" -eq "$red" ] || fail "policer-drops $(ctr policer-drops) != red $red"
# A busy host may lose a frame on the way out (TX ring, capture buffer), and iperf3 counts
# its datagrams its own way: allow 1 %.
near() { [ $(($1 > $2 ? ($1 - $2) * 100 : ($2 - $1) * 100)) -le "$2" ]; }
near "$af12" "$yellow" || fail "the wan host saw $af12 AF12 packets for $yellow yellow"
errs=$(hdr_errors)
[ "$errs" -eq "$errs0" ] || fail "the wan host counted $((errs - errs0)) IP header errors"
near "$received" $((green + yellow)) ||
	fail "iperf3 received $received datagrams, green + yellow = $((green + yellow))"
# PIR bounds what passes: 4 Mbit/s of 1242-byte frames for 6 s, plus the two buckets.
[ $(((green + yellow) * 1242)) -le $((4000000 * 6 / 8 + 2 * 16384 + 1242)) ] ||
	fail "$((green + yellow)) packets passed, more than PIR allows"
ok "trTCM: green $green, yellow $yellow ($af12 AF12 at the receiver), red $red dropped"

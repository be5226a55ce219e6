#!/bin/sh
# NAT-T on an afxdp port: a pipeline claiming UDP 4500 to the gateway's own address (an ESP
# endpoint with UDP encapsulation, RFC 3948) takes the ESP in it, while the XDP program leaves
# what is not ESP to the gateway's kernel: IKE behind the 4-byte non-ESP marker and the 1-byte
# NAT keepalive reach the IKE daemon's socket (here a plain UDP socket on 198.51.100.1:4500)
# and count as kept. On UDP 4500 to another port or address nothing changes.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if ! /usr/bin/python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null; then
	echo "afxdp_natt: no AF_XDP sockets in this kernel; skipped"
	exit 77
fi
setup_topology
cat >"$WORK/natt.conf" <<'EOF'
port lan { device = "gw-lan" driver = "afxdp" }
port wan { device = "gw-wan" driver = "afxdp" }
pipeline esp-in-udp {
	match { in = "wan" dst = "198.51.100.1" proto = "udp" dport = "4500" }
	out = "lan"
	fail-mode = "secure"
}
EOF
start_netiod "$WORK/natt.conf"

# the "IKE daemon": every datagram its socket on 4500 receives, as hex, one per line
gw /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.1", 4500))
s.settimeout(4)
while True:
    try:
        d = s.recv(2048)
    except socket.timeout:
        break
    print(d.hex(), flush=True)
' >"$WORK/ike.got" &
RECV=$!
for _ in $(seq 50); do
	gw ss -Hlun 'sport = :4500' | grep -q . && break
	sleep 0.1
done
xdp() { stat ".ports[] | select(.name==\"wan\") | .xdp.$1"; }
pin() { stat '.pipelines[] | select(.name=="esp-in-udp") | .packets'; }
kept0=$(xdp kept)
in0=$(pin)
# 3 IKE messages (non-ESP marker), 3 keepalives, 3 ESP packets (a non-zero SPI first)
wan /usr/bin/python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.10", 4500))
for i in range(3):
    s.sendto(bytes(4) + b"ike-%d" % i, ("198.51.100.1", 4500))
    s.sendto(b"\xff", ("198.51.100.1", 4500))
    s.sendto(bytes.fromhex("c0000001") + bytes(40), ("198.51.100.1", 4500))
    time.sleep(0.05)
'
wait $RECV
ike=$(grep -c '^00000000' "$WORK/ike.got")
ka=$(grep -cx 'ff' "$WORK/ike.got")
esp=$(grep -c '^c0000001' "$WORK/ike.got")
[ "$ike" -eq 3 ] && [ "$ka" -eq 3 ] ||
	fail "the gateway's kernel got $ike of 3 IKE messages and $ka of 3 keepalives on 4500"
[ "$esp" -eq 0 ] || fail "the gateway's kernel got $esp ESP packets the pipeline claims"
kept=$(($(xdp kept) - kept0))
n=$(($(pin) - in0))
[ "$kept" -ge 6 ] || fail "the XDP program counted $kept kept, want >= 6"
[ "$n" -eq 3 ] || fail "the pipeline took $n datagrams, want the 3 ESP ones"
ok "UDP 4500 to the gateway: IKE (3) and keepalives (3) to the kernel's socket ($kept kept), ESP (3) to the pipeline"

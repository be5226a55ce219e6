#!/bin/sh
# vm-timeout: 900
# Stock strongSwan drives netiod's ESP through the kernel's XFRM (crypto sa-source = "kernel").
# Two gateways, each with Debian's charon and a PSK IKEv2 connection: A runs netiod on kmod
# ports following A's kernel SAs, B is plain Linux xfrm. The tunnel comes up, ping and TCP
# pass both ways, the wire between A and B shows ESP with the SPIs charon negotiated and
# nothing in clear, A's kernel processes none of it (its SAs' replay counters stay zero; their
# byte and packet counters are netiod's), a forced rekey and a run of short rekey_time rekeys
# under a continuous ping lose nothing, tearing the connection down makes the secure pipelines
# drop, rekey_packets rekeys on netiod's soft expiries and life_packets ends an SA at exactly
# its limit. Then the same with forced UDP encapsulation (NAT-T, encap = yes) for AES-GCM and
# ChaCha20-Poly1305: ESP in UDP 4500 both ways, IKE on 4500 (and NAT keepalives) kept for A's
# kernel by netio.ko although netiod claims UDP 4500 to A, a forced rekey without loss. Env
# REPO, O.
#
#   lan 192.0.2.10 -- gw-lan [A: netiod + charon, kernel forwards nothing] gw-wan 198.51.100.1
#   -- eth0 198.51.100.10 [B: charon, Linux xfrm; the site 203.0.113.130 on lo]
: "${REPO:?REPO must name the repository}" "${O:?O must name the build directory}"
[ -x "$O/netiod/netiod" ] && [ -f "$O/services/crypto.so" ] ||
	{ echo "skip: netiod or crypto.so not built in $O"; exit 77; }
[ -x /usr/lib/ipsec/charon ] && command -v swanctl >/dev/null ||
	{ echo "skip: strongswan-charon and strongswan-swanctl are not installed (scripts/deps.sh)"; exit 77; }
. "$REPO/tests/netns/lib.sh"
T0=$(date +%s)
ok() { echo "  ok  $TEST_NAME: $* ($(($(date +%s) - T0)) s)"; }
step() { echo "  ..  $* ($(($(date +%s) - T0)) s)"; }

for m in veth xfrm_user esp4 xfrm4_tunnel tunnel4 ctr gcm ghash_generic ghash_clmulni_intel \
	aesni_intel cryptd crypto_simd chacha20poly1305 chacha_generic chacha_x86_64 \
	poly1305_generic poly1305_x86_64 seqiv echainiv sha3_generic jitterentropy_rng drbg; do
	modprobe "$m" 2>&1 | head -n 1
done
[ -d /sys/module/esp4 ] || { echo "skip: no esp4 here"; exit 77; }
insmod "$REPO/netio-kmod/netio.ko" || fail "insmod netio.ko"
CHARON_A=
CHARON_B=
DUMP=
finish() {
	[ -z "$DUMP" ] || kill "$DUMP" 2>/dev/null
	for p in $CHARON_A $CHARON_B; do kill "$p" 2>/dev/null; done
	cleanup
	rmmod netio 2>/dev/null
}
trap finish EXIT
trap 'exit 1' INT TERM # vm-run.sh's timeout: clean up and stop

PSK=0sbmV0aW8tdm0tdGVzdC1wc2stbm90LWEtc2VjcmV0
SITE=203.0.113.130

# charon_conf NAME: a strongswan.conf of its own (vici socket, log), loading only what a PSK
# IKEv2 connection needs (Debian's gmp does the DH; no openssl plugin is installed)
charon_conf() {
	cat >"$WORK/$1.strongswan.conf" <<EOF
charon {
	load = random nonce aes sha1 sha2 hmac gmp kdf kernel-netlink socket-default vici
	install_routes = no
	install_virtual_ip = no
	retransmit_tries = 3
	keep_alive = 2s
	filelog {
		$1 {
			path = $WORK/$1.charon.log
			time_format = %s
			time_add_ms = yes
			flush_line = yes
			default = 1
			ike = 2
			knl = 2
			cfg = 1
		}
	}
	plugins {
		vici {
			socket = unix://$WORK/$1.vici
		}
	}
}
swanctl {
	load = random nonce
}
EOF
}

# swanctl_conf NAME LOCAL REMOTE LOCAL_TS REMOTE_TS ESP_PROPOSAL EXTRA-CHILD-LINE [EXTRA-CONN-LINE]
swanctl_conf() {
	cat >"$WORK/$1.swanctl.conf" <<EOF
connections {
	site {
		version = 2
		local_addrs = $2
		remote_addrs = $3
		proposals = aes128-sha256-modp2048
		$8
		local {
			auth = psk
			id = $2
		}
		remote {
			auth = psk
			id = $3
		}
		children {
			net {
				local_ts = $4
				remote_ts = $5
				esp_proposals = $6
				mode = tunnel
				$7
			}
		}
	}
}
secrets {
	ike-site {
		id = $3
		secret = $PSK
	}
}
EOF
}

# start_charon NAME NS: charon in the namespace, with a /run of its own (its pid file is fixed)
start_charon() {
	STRONGSWAN_CONF="$WORK/$1.strongswan.conf" ip netns exec "$2" unshare -m --propagation private \
		sh -c 'mount -t tmpfs tmpfs /run && exec /usr/lib/ipsec/charon' >"$WORK/$1.charon.out" 2>&1 &
	eval "CHARON_$1=$!"
	for _ in $(seq 100); do
		[ -S "$WORK/$1.vici" ] && return 0
		sleep 0.1
	done
	fail "charon $1 did not open its vici socket: $(tail -n 5 "$WORK/$1.charon.out" "$WORK/$1.charon.log")"
}

sw() { # NAME COMMAND [ARGS]: swanctl towards charon NAME
	_n=$1
	_c=$2
	shift 2
	STRONGSWAN_CONF="$WORK/$_n.strongswan.conf" swanctl "$_c" --uri "unix://$WORK/$_n.vici" "$@"
}

load_conns() { # NAME
	sw "$1" --load-all --file "$WORK/$1.swanctl.conf" >"$WORK/$1.load.out" 2>&1 ||
		fail "swanctl --load-all ($1): $(cat "$WORK/$1.load.out")"
}

# the SPI (8 hex digits) of the newest installed CHILD_SA of charon NAME in direction in|out
spi_of() {
	sw "$1" --list-sas --raw 2>/dev/null | grep -o "spi-$2=[0-9a-f]*" | tail -n 1 | cut -d= -f2
}

gw_xfrm() { gw ip -s xfrm state; }
# packets the kernel shows for A's SA SPI (lifetime current), and netiod's count for it
kern_packets() {
	gw ip -s xfrm state | awk -v s="spi 0x$1" 'index($0, s) { f = 1 }
		c { sub(/\(packets\)/, "", $2); print $2; exit }
		f && /lifetime current:/ { c = 1 }'
}
sa_status() { ctl -j stats | jq -r '.pipelines[].services[0].status'; }
sa_packets() { sa_status | grep -o "spi 0x$1 [^;]*" | grep -o 'packets [0-9]*' | head -n 1 | cut -d' ' -f2; }
svc() { stat ".pipelines[] | select(.name==\"$1\") | .services[0].counters[\"$2\"]"; }

# capture NAME [FILTER]: tcpdump on gw-wan into $WORK/NAME.pcap, capturing when this returns.
# Started as a simple command, not through the gw function: $! must be tcpdump itself, or
# the kill in capture_stop ends only the subshell and tcpdump goes on writing the file (a
# later capture to the same file would then interleave two writers' records). Immediate
# mode: each packet reaches the file as it comes, none waits in a ring block the kill loses.
capture() {
	rm -f "$WORK/$1.pcap" "$WORK/$1.err"
	# shellcheck disable=SC2086 # FILTER is words for tcpdump
	ip netns exec "$NS_GW" tcpdump --immediate-mode -n -i gw-wan -U -B 8192 -w "$WORK/$1.pcap" ${2:-} \
		>/dev/null 2>"$WORK/$1.err" &
	DUMP=$!
	listening "$WORK/$1.err"
}
# capture_stop NAME: stop the capture once its file stops growing (under load tcpdump may trail
# the wire); the kernel must have dropped none of it and nothing may still write its file
capture_stop() {
	_size=-1
	for _ in $(seq 40); do
		[ "$(wc -c <"$WORK/$1.pcap")" = "$_size" ] && break # (stat is lib.sh's netioctl stats)
		_size=$(wc -c <"$WORK/$1.pcap")
		sleep 0.5
	done
	kill "$DUMP"
	wait "$DUMP" 2>/dev/null
	DUMP=
	grep -q '^0 packets dropped by kernel' "$WORK/$1.err" ||
		fail "capture $1 is not whole: $(grep 'packets' "$WORK/$1.err")"
	_w=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "$WORK/$1.pcap" 2>/dev/null)
	[ -z "$_w" ] || fail "capture $1: $_w still writes $1.pcap after the kill"
}
# wire NAME OUT [FILTER]: the capture as text in $WORK/OUT; one tcpdump cannot read whole (a
# record header that is no record) fails the test rather than count what it could read
wire() {
	_f=$1
	_o=$2
	shift 2
	tcpdump -tt -n -r "$WORK/$_f.pcap" "$@" >"$WORK/$_o" 2>"$WORK/$_o.err" ||
		fail "tcpdump -r $_f.pcap: $(tail -n 2 "$WORK/$_o.err")"
}

setup_topology
wan ip addr add $SITE/32 dev lo
wan ip route add 192.0.2.0/24 via 198.51.100.1 dev eth0
# A answers ARP and IKE itself; netiod forwards lan <-> tunnel
cat >"$WORK/a.conf" <<EOF
port lan { device = "gw-lan" driver = "kmod" }
port wan { device = "gw-wan" driver = "kmod" }
pipeline to-site {
	match { in = "lan" dst = "203.0.113.128/25" }
	service crypto { sa-source = "kernel" local = "198.51.100.1" remote = "198.51.100.10" }
	out = "wan"
	fail-mode = "secure"
}
pipeline from-site {
	match { in = "wan" dst = "198.51.100.1" proto = "esp" }
	service crypto { sa-source = "kernel" local = "198.51.100.1" remote = "198.51.100.10" }
	out = "lan"
	fail-mode = "secure"
}
EOF
charon_conf A
charon_conf B
swanctl_conf A 198.51.100.1 198.51.100.10 192.0.2.0/24 203.0.113.128/25 aes128gcm16 ""
swanctl_conf B 198.51.100.10 198.51.100.1 203.0.113.128/25 192.0.2.0/24 aes128gcm16 ""
start_charon A "$NS_GW"
start_charon B "$NS_WAN"
step "charon up"
load_conns A
load_conns B
step "connections loaded"
NETIOD_ARGS=""
start_netiod "$WORK/a.conf"
step "netiod up"

# ---------------------------------------------------------------- tunnel up
capture wire
sw A --initiate --child net --timeout 60 >"$WORK/initiate.out" 2>&1 ||
	fail "swanctl --initiate: $(tail -n 5 "$WORK/initiate.out"; tail -n 20 "$WORK/A.charon.log")"
step "initiated"
OUT_SPI=$(spi_of A out)
IN_SPI=$(spi_of A in)
[ -n "$OUT_SPI" ] && [ -n "$IN_SPI" ] || fail "no CHILD_SA SPIs from swanctl: $(sw A --list-sas)"
for _ in $(seq 50); do
	grep -q "following kernel SA out 0x$OUT_SPI" "$WORK/netiod.log" &&
		grep -q "following kernel SA in 0x$IN_SPI" "$WORK/netiod.log" && break
	sleep 0.1
done
grep -q "following kernel SA in 0x$IN_SPI" "$WORK/netiod.log" ||
	fail "netiod does not follow the SAs charon installed (out $OUT_SPI in $IN_SPI)"
ok "tunnel up: charon installed out 0x$OUT_SPI in 0x$IN_SPI, netiod follows both"

for _ in $(seq 20); do
	lan ping -c 1 -W 1 $SITE >/dev/null 2>&1 && break
	sleep 0.3
done
lan ping -c 10 -i 0.1 -W 2 $SITE >"$WORK/ping" 2>&1 || fail "lan->site ping: $(tail -n 2 "$WORK/ping")"
wan ping -c 10 -i 0.1 -W 2 -I $SITE 192.0.2.10 >"$WORK/ping" 2>&1 ||
	fail "site->lan ping: $(tail -n 2 "$WORK/ping")"
iperf3_server wan $SITE
lan timeout 90 iperf3 -c $SITE -n 256K >"$WORK/iperf" 2>&1 || fail "TCP lan->site: $(tail -n 3 "$WORK/iperf")"
iperf3_server wan $SITE
lan timeout 90 iperf3 -c $SITE -n 256K -R >"$WORK/iperf" 2>&1 || fail "TCP site->lan: $(tail -n 3 "$WORK/iperf")"
enc=$(svc to-site enc-packets)
dec=$(svc from-site dec-packets)
[ "$enc" -ge 20 ] && [ "$dec" -ge 20 ] || fail "netiod counted enc $enc dec $dec"
ok "ping and 256 KB of TCP both ways through netiod's ESP (enc $enc, dec $dec)"

# A's kernel never processed the claimed ESP (its replay counters and error counters stay at
# zero); what it shows as the SAs' traffic is what netiod counted and pushed (NEWAE)
gw_xfrm >"$WORK/a-xfrm"
[ "$(grep -c 'seq 0x0, oseq 0x0' "$WORK/a-xfrm")" -eq 2 ] ||
	fail "A's kernel sent or received ESP itself: $(cat "$WORK/a-xfrm")"
nz=$(gw awk '$2 != 0' /proc/net/xfrm_stat)
[ -z "$nz" ] || fail "A's kernel counted xfrm errors: $nz"
np=$(sa_packets "$OUT_SPI")
[ -n "$np" ] && [ "$np" -gt 0 ] || fail "netioctl shows no packets for SA $OUT_SPI: $(sa_status)"
for _ in $(seq 20); do # netiod pushes its counts every 200 ms
	[ "$(kern_packets "$OUT_SPI")" = "$np" ] && break
	sleep 0.5
done
[ "$(kern_packets "$OUT_SPI")" = "$np" ] ||
	fail "A's kernel shows $(kern_packets "$OUT_SPI") packets on SA $OUT_SPI, netiod counted $np"
ok "A's kernel SAs: replay counters 0, no xfrm errors; their counters are netiod's ($np packets out)"

capture_stop wire
wire wire wire.txt
grep -q "198.51.100.1 > 198.51.100.10: ESP(spi=0x$OUT_SPI" "$WORK/wire.txt" ||
	fail "no ESP with SPI $OUT_SPI from A on the wire: $(head -n 5 "$WORK/wire.txt")"
grep -q "198.51.100.10 > 198.51.100.1: ESP(spi=0x$IN_SPI" "$WORK/wire.txt" ||
	fail "no ESP with SPI $IN_SPI to A on the wire"
wire wire wire-clear.txt 'net 192.0.2.0/24 or host 203.0.113.130'
clear=$(wc -l <"$WORK/wire-clear.txt")
[ "$clear" -eq 0 ] || fail "$clear packets in clear on the wire"
wire wire wire-ike.txt 'udp port 500'
ike=$(wc -l <"$WORK/wire-ike.txt")
[ "$ike" -ge 2 ] || fail "no IKE on the wire"
ok "the wire: ESP spi 0x$OUT_SPI out, 0x$IN_SPI in, IKE on udp 500 ($ike), nothing in clear"

# ---------------------------------------------------------------- rekey without loss
# ping_flow N FILE: N pings 50 ms apart from the lan host to the site, in the background
ping_flow() {
	lan ping -D -c "$1" -i 0.05 -W 3 $SITE >"$2" 2>&1 &
	FLOW=$!
}
# no_loss FILE WHAT: every ping of the flow got its reply
no_loss() {
	wait "$FLOW"
	grep -q ' 0% packet loss' "$1" && return 0
	loss_report "$1"
	fail "$2: $(grep 'packet loss' "$1")"
}
# loss_report FILE: which pings went unanswered, and who may have dropped them
loss_report() {
	echo "    --- pings without a reply (icmp_seq):"
	n=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$1")
	for i in $(seq "${n:-0}"); do grep -q "icmp_seq=$i " "$1" || printf ' %s' "$i"; done
	echo
	echo "    --- netiod crypto counters"
	ctl -j stats | jq -c '.pipelines[] | {name, c: .services[0].counters}'
	echo "    --- B's kernel xfrm errors"
	wan cat /proc/net/xfrm_stat | awk '$2 != 0'
	echo "    --- A's outbound policy (its template's SPI is the SA in use)"
	gw ip xfrm policy list dir out
	echo "    --- charon A/B SA installs and deletes"
	grep -h -i "adding SAD\|deleting SAD\|outbound CHILD_SA\|rekeyed\|CHILD_SA .* established" \
		"$WORK/A.charon.log" "$WORK/B.charon.log" 2>/dev/null | tail -n 40
}
followed() { grep -c "following kernel SA out" "$WORK/netiod.log"; }

old_out=$OUT_SPI
old_in=$IN_SPI
f0=$(followed)
ping_flow 120 "$WORK/ping-rekey"
sleep 2
sw A --rekey --child net >"$WORK/rekey.out" 2>&1 || fail "swanctl --rekey on A: $(cat "$WORK/rekey.out")"
sleep 3
sw B --rekey --child net >"$WORK/rekey.out" 2>&1 || fail "swanctl --rekey on B: $(cat "$WORK/rekey.out")"
no_loss "$WORK/ping-rekey" "forced rekeys (A, then B) under a 120-packet flow"
OUT_SPI=$(spi_of A out)
IN_SPI=$(spi_of A in)
[ "$OUT_SPI" != "$old_out" ] && [ "$IN_SPI" != "$old_in" ] || fail "the rekeys did not change the SPIs"
[ $(($(followed) - f0)) -ge 2 ] || fail "netiod followed $(($(followed) - f0)) new outbound SAs, want 2"
for _ in $(seq 100); do # charon deletes the rekeyed inbound SA after delete_rekeyed_delay (5 s)
	grep -q "kernel SA 0x$old_in gone" "$WORK/netiod.log" && break
	sleep 0.1
done
grep -q "kernel SA 0x$old_out gone" "$WORK/netiod.log" && grep -q "kernel SA 0x$old_in gone" "$WORK/netiod.log" ||
	fail "netiod still holds the rekeyed SAs $old_out/$old_in"
ok "two forced rekeys under a 120-packet ping: no loss; now out 0x$OUT_SPI in 0x$IN_SPI, the old pair gone"

# ---------------------------------------------------------------- teardown: secure drops
capture down
nosa0=$(svc to-site no-sa)
sw A --terminate --ike site --timeout 30 >"$WORK/term.out" 2>&1 || fail "swanctl --terminate: $(cat "$WORK/term.out")"
for _ in $(seq 50); do
	grep -q "kernel SA 0x$OUT_SPI gone" "$WORK/netiod.log" && break
	sleep 0.1
done
grep -q "kernel SA 0x$OUT_SPI gone" "$WORK/netiod.log" || fail "netiod did not see the SAs go"
if lan ping -c 5 -i 0.2 -W 1 $SITE >/dev/null 2>&1; then fail "ping crossed without a tunnel"; fi
sleep 1
capture_stop down
nosa=$(($(svc to-site no-sa) - nosa0))
[ "$nosa" -ge 5 ] || fail "the secure pipeline dropped $nosa packets without SA, want >= 5"
wire down down.txt 'net 192.0.2.0/24 or host 203.0.113.130 or esp'
clear=$(wc -l <"$WORK/down.txt")
[ "$clear" -eq 0 ] || fail "$clear packets on the wire after the teardown: $(head -n 3 "$WORK/down.txt")"
ok "connection down: $nosa packets dropped (no-sa), nothing on the wire"

# ---------------------------------------------------------------- rekey_time: a run of rekeys
swanctl_conf A 198.51.100.1 198.51.100.10 192.0.2.0/24 203.0.113.128/25 aes128gcm16 \
	"rekey_time = 5s
				rand_time = 0
				life_time = 60s"
load_conns A
f0=$(followed)
sw A --initiate --child net --timeout 60 >"$WORK/initiate.out" 2>&1 ||
	fail "swanctl --initiate (rekey_time): $(tail -n 5 "$WORK/initiate.out")"
ping_flow 250 "$WORK/ping-rekeys"
no_loss "$WORK/ping-rekeys" "a 250-packet ping across rekey_time = 5s rekeys"
n=$(($(followed) - f0 - 1))
[ "$n" -ge 3 ] || fail "only $n rekeys during the flow (rekey_time = 5s), want >= 3"
ok "$n rekeys in a row (rekey_time = 5s) under a 250-packet ping: no loss"

# ---------------------------------------------------------------- packet lifetimes
# netiod counts the packets (the kernel sees none) and reports the soft expiry charon rekeys on
sw A --terminate --ike site --timeout 30 >"$WORK/term.out" 2>&1 || fail "swanctl --terminate: $(cat "$WORK/term.out")"
swanctl_conf A 198.51.100.1 198.51.100.10 192.0.2.0/24 203.0.113.128/25 aes128gcm16 \
	"rekey_packets = 50
				rand_packets = 0
				life_packets = 100000"
load_conns A
f0=$(followed)
s0=$(grep -c "soft lifetime reached" "$WORK/netiod.log")
sw A --initiate --child net --timeout 60 >"$WORK/initiate.out" 2>&1 ||
	fail "swanctl --initiate (rekey_packets): $(tail -n 5 "$WORK/initiate.out")"
sa_status | grep -q "life-packets 50/100000" || fail "netioctl does not show the SA's lifetimes: $(sa_status)"
ping_flow 160 "$WORK/ping-life"
no_loss "$WORK/ping-life" "a 160-packet ping across rekey_packets = 50 rekeys"
soft=$(($(grep -c "soft lifetime reached" "$WORK/netiod.log") - s0))
n=$(($(followed) - f0 - 1))
[ "$soft" -ge 2 ] && [ "$n" -ge 2 ] ||
	fail "rekey_packets = 50 over 160 packets: $soft soft expiries reported, $n rekeys; want >= 2 each"
ok "rekey_packets = 50: netiod reported $soft soft expiries, charon rekeyed $n times, no loss"

# ---------------------------------------------------------------- hard packet limit
# life_packets = 40 without a rekey: the 40th packet is the SA's last, the wire shows no 41st
# on it (charon then creates a new CHILD_SA, which the rest of the pings may use)
sw A --terminate --ike site --timeout 30 >"$WORK/term.out" 2>&1 || fail "swanctl --terminate: $(cat "$WORK/term.out")"
swanctl_conf A 198.51.100.1 198.51.100.10 192.0.2.0/24 203.0.113.128/25 aes128gcm16 \
	"rekey_packets = 0
				rand_packets = 0
				life_packets = 40"
load_conns A
sw A --initiate --child net --timeout 60 >"$WORK/initiate.out" 2>&1 ||
	fail "swanctl --initiate (life_packets): $(tail -n 5 "$WORK/initiate.out")"
OUT_SPI=$(spi_of A out)
capture hard esp
lan ping -c 60 -i 0.05 -W 1 $SITE >"$WORK/ping-hard" 2>&1
for _ in $(seq 50); do
	grep -q "kernel SA 0x$OUT_SPI gone" "$WORK/netiod.log" && break
	sleep 0.1
done
grep -q "kernel SA 0x$OUT_SPI gone" "$WORK/netiod.log" || fail "the hard limit did not end SA $OUT_SPI"
sleep 1
capture_stop hard
wire hard hard.txt
sent=$(grep -c "198.51.100.1 > 198.51.100.10: ESP(spi=0x$OUT_SPI" "$WORK/hard.txt")
[ "$sent" -eq 40 ] || fail "SA $OUT_SPI with life_packets = 40 sent $sent ESP packets"
ok "life_packets = 40: exactly 40 ESP packets on SA 0x$OUT_SPI, then the kernel deleted it ($(grep -o '[0-9]* received' "$WORK/ping-hard") of 60 pings)"

# ---------------------------------------------------------------- NAT-T: ESP in UDP 4500
# encap = yes makes charon float to 4500 after IKE_SA_INIT and install UDP-encapsulated SAs
# (XFRMA_ENCAP); netiod's inbound pipeline takes UDP 4500 to A, where netio.ko leaves what is
# not ESP (IKE's non-ESP marker, NAT keepalives) to A's kernel, i.e. to charon.
sw A --terminate --ike site --timeout 30 >"$WORK/term.out" 2>&1 || fail "swanctl --terminate: $(cat "$WORK/term.out")"
sed 's/dst = "198.51.100.1" proto = "esp"/dst = "198.51.100.1" proto = "udp" dport = "4500"/' \
	"$WORK/a.conf" >"$WORK/a-natt.conf"
ctl reload "$WORK/a-natt.conf" >"$WORK/reload.out" 2>&1 || fail "reload for NAT-T: $(cat "$WORK/reload.out")"
natt_kept() { ctl -j kernel list | jq -r '.[] | select(.device == "gw-wan") | .kept.natt // 0'; }

# natt_diag CIPHER: what decides the kept check, and a copy of the run's files in the VM run's
# directory
natt_diag() {
	echo "    --- the wire on udp 4500 and 500 (not ESP)"
	grep -E '\.(500|4500) > ' "$WORK/natt-$1.txt" | grep -v 'UDP-encap: ESP' | sed 's/^/    /'
	echo "    --- charon A: packets and retransmits"
	tail -n +"$((nlines_a + 1))" "$WORK/A.charon.log" | grep -i 'packet\|retransmit' | sed 's/^/    /'
	echo "    --- charon B: packets and retransmits"
	tail -n +"$((nlines_b + 1))" "$WORK/B.charon.log" | grep -i 'packet\|retransmit' | sed 's/^/    /'
	echo "    --- netio.ko gw-wan before / after"
	jq -c '.[] | select(.device == "gw-wan") | {kept, claims}' "$WORK/natt-kernel0.json"
	ctl -j kernel list | jq -c '.[] | select(.device == "gw-wan") | {kept, claims}'
	echo "    --- netiod from-site before / after, ports after"
	jq -c '.pipelines[] | select(.name == "from-site") | .services[0].counters' "$WORK/natt-stats0.json"
	ctl -j stats | jq -c '.pipelines[] | select(.name == "from-site") | .services[0].counters'
	ctl -j stats | jq -c '.ports'
	[ -z "${NETIO_TOOLS:-}" ] || { mkdir -p "$NETIO_TOOLS/ipsec_charon" && cp "$WORK"/* "$NETIO_TOOLS/ipsec_charon/" 2>/dev/null; }
}

# natt_run CIPHER REKEY: tunnel up with encap = yes, traffic both ways, the wire, A's kernel;
# REKEY = yes: a forced rekey under a ping flow
natt_run() {
	swanctl_conf A 198.51.100.1 198.51.100.10 192.0.2.0/24 203.0.113.128/25 "$1" "" "encap = yes"
	swanctl_conf B 198.51.100.10 198.51.100.1 203.0.113.128/25 192.0.2.0/24 "$1" "" "encap = yes"
	load_conns A
	load_conns B
	kept0=$(natt_kept)
	ctl -j kernel list >"$WORK/natt-kernel0.json"
	ctl -j stats >"$WORK/natt-stats0.json"
	nlines_a=$(wc -l <"$WORK/A.charon.log")
	nlines_b=$(wc -l <"$WORK/B.charon.log")
	notesp0=$(svc from-site udp-not-esp)
	capture "natt-$1"
	sw A --initiate --child net --timeout 60 >"$WORK/initiate.out" 2>&1 ||
		fail "swanctl --initiate ($1, encap): $(tail -n 5 "$WORK/initiate.out"; tail -n 20 "$WORK/A.charon.log")"
	OUT_SPI=$(spi_of A out)
	IN_SPI=$(spi_of A in)
	for _ in $(seq 50); do
		grep -q "following kernel SA in 0x$IN_SPI (ESP in UDP 4500 -> 4500)" "$WORK/netiod.log" && break
		sleep 0.1
	done
	grep -q "following kernel SA out 0x$OUT_SPI (ESP in UDP 4500 -> 4500)" "$WORK/netiod.log" &&
		grep -q "following kernel SA in 0x$IN_SPI (ESP in UDP 4500 -> 4500)" "$WORK/netiod.log" ||
		fail "netiod does not follow the UDP-encapsulated SAs $OUT_SPI/$IN_SPI: $(grep "$OUT_SPI\|$IN_SPI" "$WORK/netiod.log")"
	sa_status | grep -q "spi 0x$OUT_SPI [^;]*udp 4500->4500" || fail "netioctl does not show SA $OUT_SPI in UDP: $(sa_status)"
	ok "$1, encap = yes: charon installed ESP-in-UDP SAs out 0x$OUT_SPI in 0x$IN_SPI, netiod follows both"

	enc0=$(svc to-site enc-packets)
	dec0=$(svc from-site dec-packets)
	for _ in $(seq 20); do
		lan ping -c 1 -W 1 $SITE >/dev/null 2>&1 && break
		sleep 0.3
	done
	lan ping -c 10 -i 0.1 -W 2 $SITE >"$WORK/ping" 2>&1 || fail "$1 NAT-T lan->site ping: $(tail -n 2 "$WORK/ping")"
	wan ping -c 10 -i 0.1 -W 2 -I $SITE 192.0.2.10 >"$WORK/ping" 2>&1 ||
		fail "$1 NAT-T site->lan ping: $(tail -n 2 "$WORK/ping")"
	iperf3_server wan $SITE
	lan timeout 90 iperf3 -c $SITE -n 128K >"$WORK/iperf" 2>&1 || fail "$1 NAT-T TCP lan->site: $(tail -n 3 "$WORK/iperf")"
	iperf3_server wan $SITE
	lan timeout 90 iperf3 -c $SITE -n 128K -R >"$WORK/iperf" 2>&1 || fail "$1 NAT-T TCP site->lan: $(tail -n 3 "$WORK/iperf")"
	enc=$(($(svc to-site enc-packets) - enc0))
	dec=$(($(svc from-site dec-packets) - dec0))
	[ "$enc" -ge 20 ] && [ "$dec" -ge 20 ] || fail "$1 NAT-T: netiod counted enc $enc dec $dec"
	ok "$1 NAT-T: ping and 128 KB of TCP both ways through netiod's ESP in UDP (enc $enc, dec $dec)"

	gw_xfrm >"$WORK/a-xfrm"
	[ "$(grep -c 'seq 0x0, oseq 0x0' "$WORK/a-xfrm")" -eq 2 ] ||
		fail "$1 NAT-T: A's kernel sent or received ESP itself: $(cat "$WORK/a-xfrm")"
	grep -q "encap type espinudp sport 4500 dport 4500" "$WORK/a-xfrm" || fail "A's SAs are not UDP-encapsulated: $(cat "$WORK/a-xfrm")"
	nz=$(gw awk '$2 != 0' /proc/net/xfrm_stat)
	[ -z "$nz" ] || fail "$1 NAT-T: A's kernel counted xfrm errors: $nz"
	np=$(sa_packets "$OUT_SPI")
	for _ in $(seq 20); do
		[ "$(kern_packets "$OUT_SPI")" = "$np" ] && break
		sleep 0.5
	done
	[ "$(kern_packets "$OUT_SPI")" = "$np" ] ||
		fail "$1 NAT-T: A's kernel shows $(kern_packets "$OUT_SPI") packets on SA $OUT_SPI, netiod counted $np"
	ok "$1 NAT-T: A's kernel SAs: replay counters 0, no xfrm errors, their counters netiod's ($np out)"

	if [ "$2" = yes ]; then
		old_out=$OUT_SPI
		ping_flow 100 "$WORK/ping-natt-rekey"
		sleep 2
		sw A --rekey --child net >"$WORK/rekey.out" 2>&1 || fail "swanctl --rekey (NAT-T): $(cat "$WORK/rekey.out")"
		no_loss "$WORK/ping-natt-rekey" "$1 NAT-T: a forced rekey under a 100-packet flow"
		OUT_SPI=$(spi_of A out)
		[ "$OUT_SPI" != "$old_out" ] || fail "$1 NAT-T: the rekey did not change the SPI"
		grep -q "following kernel SA out 0x$OUT_SPI (ESP in UDP" "$WORK/netiod.log" ||
			fail "$1 NAT-T: netiod does not follow the rekeyed SA $OUT_SPI"
		ok "$1 NAT-T: a forced rekey (IKE on UDP 4500) under a 100-packet ping: no loss, now out 0x$OUT_SPI"
	fi

	sleep 1
	capture_stop "natt-$1"
	kept=$(($(natt_kept) - kept0))
	notesp=$(($(svc from-site udp-not-esp) - notesp0))
	wire "natt-$1" "natt-$1.txt"
	grep -q "198.51.100.1.4500 > 198.51.100.10.4500: UDP-encap: ESP(spi=0x$OUT_SPI" "$WORK/natt-$1.txt" ||
		fail "$1 NAT-T: no ESP in UDP 4500 with SPI $OUT_SPI from A on the wire: $(grep -m 5 4500 "$WORK/natt-$1.txt")"
	grep -q "198.51.100.10.4500 > 198.51.100.1.4500: UDP-encap: ESP(spi=0x$IN_SPI" "$WORK/natt-$1.txt" ||
		fail "$1 NAT-T: no ESP in UDP 4500 with SPI $IN_SPI to A on the wire"
	wire "natt-$1" "natt-$1-esp.txt" 'ip proto 50'
	esp=$(wc -l <"$WORK/natt-$1-esp.txt")
	[ "$esp" -eq 0 ] || fail "$1 NAT-T: $esp ESP packets not in UDP on the wire"
	wire "natt-$1" "natt-$1-clear.txt" 'net 192.0.2.0/24 or host 203.0.113.130'
	clear=$(wc -l <"$WORK/natt-$1-clear.txt")
	[ "$clear" -eq 0 ] || fail "$1 NAT-T: $clear packets in clear on the wire"
	# what A's kernel must get on 4500: IKE behind the non-ESP marker and NAT keepalives
	ike=$(grep -c "198.51.100.10.4500 > 198.51.100.1.4500: NONESP-encap: isakmp" "$WORK/natt-$1.txt")
	ka=$(grep -c "198.51.100.10.4500 > 198.51.100.1.4500: isakmp-nat-keep-alive" "$WORK/natt-$1.txt")
	[ "$ike" -ge 1 ] || fail "$1 NAT-T: no IKE on udp 4500 to A on the wire: $(grep -m 5 4500 "$WORK/natt-$1.txt")"
	[ "$kept" -ge $((ike + ka)) ] && [ "$notesp" -eq 0 ] || {
		natt_diag "$1"
		fail "$1 NAT-T: netio.ko kept $kept non-ESP packets on 4500 for A's kernel, the wire shows $ike IKE and $ka keepalives to A; netiod dropped $notesp as udp-not-esp"
	}
	ok "$1 NAT-T: the wire: ESP in UDP 4500 spi 0x$OUT_SPI out, 0x$IN_SPI in, no bare ESP, nothing in clear, $ike IKE and $ka keepalives to A on 4500, $kept kept by netio.ko (natt), none reached netiod"
	sw A --terminate --ike site --timeout 30 >"$WORK/term.out" 2>&1 || fail "swanctl --terminate: $(cat "$WORK/term.out")"
}
natt_run aes128gcm16 yes
natt_run chacha20poly1305 no

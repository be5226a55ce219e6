#!/bin/sh
# netiod's XDP program shares the device with another one through libxdp's dispatcher: a
# counting program (tests/netns/xdp/xdp_count.bpf.c, run first) loaded before netiod stays
# on gw-lan when netiod attaches, sees the claimed flow that netiod forwards, stays when a
# reload drops the port (netiod's program goes alone) and when netiod is stopped (its program
# stays for fail-mode) or restarted (it takes its program over). Skipped (77) where libxdp
# cannot build a dispatcher (a kernel without BTF or freplace): it then attaches alone; the VM
# tier runs it (tests/vm/xdp_coexist.sh).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

OTHER="$O/tests/netns/xdp_other"
COUNT=50
[ -x "$OTHER" ] || fail "$OTHER missing: make -C tests/netns"

progs() { gw "$OTHER" list gw-lan | tr '\n' ' ' | sed 's/ $//'; }
counted() { gw "$OTHER" count gw-lan || fail "xdp_count gone from gw-lan: $(progs)"; }
tx() { stat '.pipelines[] | select(.name=="to-wan") | .tx_packets'; }

# send N: N UDP datagrams to the wan host's port 7001 (the one xdp_count counts)
send() {
	lan timeout 60 /usr/bin/python3 "$here/seqflow.py" send 198.51.100.10 7001 1 1 "$1" \
		>/dev/null || fail "sender"
}

# expect_counted BEFORE N WHAT: xdp_count saw exactly N more frames (bounded wait)
expect_counted() {
	for _ in $(seq 50); do
		[ "$(counted)" -ge $(($1 + $2)) ] && break
		sleep 0.1
	done
	[ "$(counted)" -eq $(($1 + $2)) ] || fail "$3: xdp_count saw $(($(counted) - $1)) of $2"
}

if ! /usr/bin/python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null; then
	echo "xdp_coexist: no AF_XDP sockets in this kernel; skipped"
	exit 77
fi
setup_topology
use_bpffs
gw "$OTHER" attach gw-lan "$O/tests/netns/xdp_count.bpf.o" || fail "attach xdp_count"
case $(progs) in
"dispatcher xdp_count") ;;
"legacy xdp_count")
	echo "xdp_coexist: libxdp attached without a dispatcher (no kernel BTF/freplace); skipped"
	exit 77
	;;
*) fail "after attaching xdp_count: $(progs)" ;;
esac
# seqflow's start and end markers are datagrams to the same port
MARKERS=3

sed 's/driver = "afpacket"/driver = "afxdp"/' >"$WORK/gw.conf" <<'CONF'
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-wan {
	match { in = "lan" dst = "198.51.100.0/24" }
	out = "wan"
}
pipeline to-lan {
	match { in = "wan" dst = "192.0.2.0/24" }
	out = "lan"
}
CONF
start_netiod "$WORK/gw.conf"
[ "$(progs)" = "dispatcher xdp_count netio_xdp" ] || fail "after netiod attached: $(progs)"
warm_up
c0=$(counted)
t0=$(tx)
send $COUNT
expect_counted "$c0" $((COUNT + MARKERS)) "claimed flow through netiod"
[ "$(tx)" -ge $((t0 + COUNT)) ] || fail "netiod forwarded $(($(tx) - t0)) of the $COUNT frames"
ok "netiod's program joined xdp_count in gw-lan's dispatcher; both saw the $COUNT claimed frames"

# A reload without the lan port detaches netiod's program, and only it.
{ echo 'forward-nothing = true'; grep '^port wan' "$WORK/gw.conf"; } >"$WORK/nolan.conf"
ctl reload "$WORK/nolan.conf" >/dev/null || fail "reload without lan"
[ "$(progs)" = "dispatcher xdp_count" ] || fail "after a reload dropped lan: $(progs)"
c0=$(counted)
send 20
expect_counted "$c0" $((20 + MARKERS)) "with netiod's program detached"
ctl reload "$WORK/gw.conf" >/dev/null || fail "reload with lan back"
[ "$(progs)" = "dispatcher xdp_count netio_xdp" ] || fail "after lan came back: $(progs)"
ok "a reload that drops lan took netiod's program off and left xdp_count; lan back: both again"

# Stopped, netiod leaves its program for fail-mode; a new netiod takes it over, xdp_count stays.
stop_netiod
[ "$(progs)" = "dispatcher xdp_count netio_xdp" ] || fail "after netiod stopped: $(progs)"
start_netiod "$WORK/gw.conf"
[ "$(progs)" = "dispatcher xdp_count netio_xdp" ] || fail "after a restart: $(progs)"
grep -q "taken over" "$WORK/netiod.log" || fail "the restarted netiod loaded a second program"
ok "stopped, netiod left its program beside xdp_count; restarted, it took it over, xdp_count stayed"

#!/bin/sh
# The control socket under hostile clients and bad input: a reply always goes out (even quoting
# bytes that are not UTF-8), unread replies are bounded per connection, idle connections close,
# extra connections are refused, running out of descriptors does not spin the main thread;
# capture files are never followed through a symlink nor overwritten.
. "$(dirname "$0")/lib.sh"

# ctl with a bound: a request that gets no reply must fail the test, not hang it
tctl() { timeout 10 ip netns exec "$NS_GW" "$O/netiod/netioctl" -s "$SOCK" "$@"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$NETIOD_PID/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$NETIOD_PID/status"; }
cstat() { tctl -j status | jq ".control.$1"; }

# clients.py MODE ...: the hostile clients, run in the gateway namespace.
cat >"$WORK/clients.py" <<'PY'
import socket, sys, time
mode, path = sys.argv[1], sys.argv[2]

def conn(block=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(block)
    s.connect(path)
    return s

if mode == "idle":  # connect, say nothing: the daemon must hang up (EOF) within 10 s
    s = conn()
    s.settimeout(10)
    t = time.time()
    print("eof" if s.recv(1) == b"" else "data", round(time.time() - t, 1))
elif mode == "limit":  # hold N connections, then the next one must read a refusal
    held = [conn() for _ in range(int(sys.argv[3]))]
    for s in held:  # each of them is served
        s.sendall(b'{"cmd":"status"}\n')
        s.settimeout(10)
        assert s.recv(65536).startswith(b'{"ok":true'), "a held connection was not served"
    s = conn()
    s.settimeout(10)
    print(s.recv(65536).decode().strip())
elif mode == "flood":  # ask N times, never read; then netiod's RSS (KiB) while connected
    s = conn()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    req = b'{"cmd":"stats"}\n' * int(sys.argv[3])
    try:
        s.sendall(req)
        time.sleep(2)
        how = "still connected"
    except OSError as e:
        how = "dropped: " + e.strerror
    rss = [l.split()[1] for l in open("/proc/%s/status" % sys.argv[4]) if l.startswith("VmRSS")]
    print(rss[0], how)
elif mode == "hold":  # for up to 3 s, try to open N connections; hold them S seconds
    held, end = [], time.time() + 3
    while len(held) < int(sys.argv[3]) and time.time() < end:
        try:
            held.append(conn(False))
        except BlockingIOError:
            time.sleep(0.01)  # the backlog is full: the daemon is not accepting
    print(len(held), flush=True)
    time.sleep(float(sys.argv[4]))
PY
py() { gw python3 "$WORK/clients.py" "$1" "$SOCK" "$2" "$3" "$4"; }

ip netns add "$NS_GW" || fail "ip netns add"
conf() { # extra global lines on stdin
	cat
	printf '%s\n' "port cap { driver = \"pcap\" output = \"$WORK/out.pcap\" }" \
		'pipeline p { match { dst = "198.51.100.0/24" } out = "cap" }'
}
printf '%s\n' 'control-max-connections = 4' 'control-idle = "2s"' | conf >"$WORK/ctl.conf"
start_netiod "$WORK/ctl.conf"

# 1. An error quoting bytes that are not UTF-8: the reply goes out, escaped, and status works.
conf </dev/null >"$WORK/bad.conf"
printf 'port lan { device = "gw-lan" driver = "\377\376" }\n' >>"$WORK/bad.conf"
out=$(tctl reload "$WORK/bad.conf" 2>&1)
[ $? -eq 2 ] || fail "reload of a bad file with non-UTF-8 bytes: no error reply ($out)"
echo "$out" | grep -qF "driver '\\xff\\xfe' is not one of" || fail "reload error not readable: $out"
tctl -j status >"$WORK/status.json" || fail "status fails after a reload error with non-UTF-8 bytes"
jq -e '.last_error | contains("\\xff\\xfe")' "$WORK/status.json" >/dev/null ||
	fail "last_error not escaped: $(cat "$WORK/status.json")"
ok "an error quoting non-UTF-8 bytes is replied, escaped, and status keeps working"

# 1b. reload refuses a FIFO without blocking the main thread (and a directory, a device).
mkfifo "$WORK/fifo"
for f in "$WORK/fifo:a FIFO" "$WORK:a directory" "/dev/null:a character device"; do
	out=$(tctl reload "${f%%:*}" 2>&1)
	[ $? -eq 2 ] || fail "reload ${f%%:*}: no error reply ($out)"
	echo "$out" | grep -qF "is ${f#*:}, not a regular file" || fail "reload ${f%%:*}: $out"
done
tctl status >/dev/null || fail "status after reloading a FIFO"
ok "reload refuses a FIFO (without blocking), a directory and a device"

# 2. A silent connection is closed after control-idle (2 s).
r=$(py idle) || fail "idle client: $r"
[ "${r%% *}" = eof ] || fail "an idle connection was not closed: $r"
[ "$(cstat idle_closed)" -ge 1 ] || fail "idle close not counted"
ok "an idle connection is closed ($r s), counted"

# 3. control-max-connections = 4: four connections are served, the fifth is refused.
r=$(py limit 4) || fail "connection limit client failed: $r"
echo "$r" | grep -qF '"error":"too many control connections (at most 4)"' ||
	fail "the fifth connection was not refused: $r"
[ "$(cstat refused)" -ge 1 ] || fail "refusal not counted"
ok "the fifth connection is refused with a reply, counted"

# 4. A client that asks 200000 times and never reads: dropped, RSS bounded, others served.
rss0=$(rss_kb)
r=$(py flood 200000 "$NETIOD_PID") || fail "flood client failed: $r"
rss1=${r%% *}
r=${r#* }
tctl status >/dev/null || fail "status after the flood"
[ $((rss1 - rss0)) -lt 16384 ] || fail "RSS grew by $((rss1 - rss0)) KiB under unread replies ($r)"
[ "$(cstat slow_dropped)" -ge 1 ] || fail "the non-reading client was not dropped ($r)"
ok "a non-reading client is dropped ($r), RSS +$((rss1 - rss0)) KiB, others served"

# 5. Out of descriptors: accept(2) fails with EMFILE; the main thread must not spin, and it
#    serves again once descriptors are free.
stop_netiod
printf '%s\n' 'control-max-connections = 1024' | conf >"$WORK/fd.conf"
ip netns exec "$NS_GW" sh -c "ulimit -n 40; exec '$O/netiod/netiod' -f -c '$WORK/fd.conf' \
	-P '$O/services' -S '$SOCK' -s '$WORK'" >>"$WORK/netiod.log" 2>&1 &
NETIOD_PID=$!
for _ in $(seq 50); do
	tctl status >/dev/null 2>&1 && break
	sleep 0.1
done
tctl status >/dev/null || fail "netiod with ulimit -n 40 did not start"
py hold 80 5 >"$WORK/hold.out" &
hold=$!
for _ in $(seq 50); do
	[ -s "$WORK/hold.out" ] && break
	sleep 0.1
done
sleep 1
nfd=$(ls "/proc/$NETIOD_PID/fd" | wc -l)
t0=$(ticks)
sleep 2
t1=$(ticks)
[ $((t1 - t0)) -lt 20 ] || fail "netiod used $((t1 - t0)) clock ticks in 2 s while out of fds: spinning"
wait "$hold"
hold_n=$(cat "$WORK/hold.out")
served=
for _ in $(seq 50); do
	if tctl status >/dev/null 2>&1; then
		served=1
		break
	fi
	sleep 0.2
done
[ -n "$served" ] || fail "netiod does not serve again after descriptors were freed"
[ "$(cstat accept_errors)" -ge 1 ] || fail "accept errors not counted ($hold_n clients, $nfd fds)"
ok "out of fds ($hold_n clients): $((t1 - t0)) ticks in 2 s, $(cstat accept_errors) accept error(s), served again"

# 6. Captures: a symlink or an existing file is refused; a new file is created 0600.
echo keep >"$WORK/exists.pcap"
ln -s "$WORK/exists.pcap" "$WORK/link.pcap"
out=$(tctl capture start p "$WORK/link.pcap" 2>&1) && fail "capture followed a symlink"
[ "$(cat "$WORK/exists.pcap")" = keep ] || fail "capture wrote through a symlink"
out=$(tctl capture start p "$WORK/exists.pcap" 2>&1) && fail "capture overwrote a file"
echo "$out" | grep -q "exists" || fail "capture over a file: unclear error: $out"
[ "$(cat "$WORK/exists.pcap")" = keep ] || fail "capture truncated an existing file"
tctl capture start p "$WORK/new.pcap" >/dev/null || fail "capture into a new file"
tctl capture stop p >/dev/null || fail "capture stop"
[ "$(command stat -c %a "$WORK/new.pcap")" = 600 ] || fail "capture file mode $(command stat -c %a "$WORK/new.pcap")"
ok "capture refuses a symlink and an existing file, creates 0600"

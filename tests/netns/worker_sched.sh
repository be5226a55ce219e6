#!/bin/sh
# worker-sched: the worker thread (not the control thread) runs with the policy and priority,
# or the nice value, the configuration names, and forwards; with user = nobody it keeps
# CAP_SYS_NICE for it; without the privilege netiod refuses to start and says why.
. "$(dirname "$0")/lib.sh"

# sched TID: "policy rt_priority nice" from /proc (stat fields 41, 40, 19; comm has no blanks)
sched() { awk '{ print $41, $40, $19 }' "/proc/$NETIOD_PID/task/$1/stat"; }

# The worker is the thread that is not the main one (-f: one worker) and not libevent's.
worker_tid() {
	for t in /proc/"$NETIOD_PID"/task/*; do
		[ "${t##*/}" = "$NETIOD_PID" ] || echo "${t##*/}"
	done
}

conf() { # WORKER-SCHED [USER-LINE]
	cat <<CONF
worker-sched = "$1"
$2
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-wan { match { in = "lan" dst = "198.51.100.0/24" } out = "wan" }
pipeline to-lan { match { in = "wan" dst = "192.0.2.0/24" } out = "lan" }
CONF
}

# check WORKER-SCHED EXPECTED-WORKER [USER-LINE]: start, compare, forward, stop
check() {
	conf "$1" "${3:-}" >"$WORK/ws.conf"
	start_netiod "$WORK/ws.conf"
	warm_up
	tids=$(worker_tid)
	[ "$(echo "$tids" | wc -w)" -eq 1 ] || fail "$1: threads besides the main one: $tids"
	[ "$(sched "$tids")" = "$2" ] ||
		fail "$1: the worker has policy/rt-priority/nice '$(sched "$tids")', not '$2'"
	[ "$(sched "$NETIOD_PID")" = "0 0 0" ] ||
		fail "$1: the control thread has '$(sched "$NETIOD_PID")', not the default '0 0 0'"
	lan ping -c 5 -i 0.05 -W 2 198.51.100.10 >/dev/null || fail "$1: ping through netiod"
	stop_netiod
	ok "worker-sched = \"$1\"${3:+ ($3)}: the worker has '$2', the control thread the default, 5 pings forwarded"
}

setup_topology
chmod 755 "$WORK" # netiod as nobody reads nothing there after start, but the socket lives in it
check "fifo 5" "1 5 0"
check "rr 7" "2 7 0"
check "nice -5" "0 0 -5"
check "fifo 3" "1 3 0" 'user = "nobody"'

# A reload does not change the workers' policy: one that sets poll = busy beside the running
# real-time workers is refused (file:line, the running generation keeps forwarding), even
# if it writes worker-sched = "other".
conf "fifo 5" >"$WORK/ws.conf"
start_netiod "$WORK/ws.conf"
warm_up
{
	echo 'poll = "busy"'
	conf other
} >"$WORK/busy.conf"
g=$(ctl -j status | jq .generation)
if ctl reload "$WORK/busy.conf" >"$WORK/reload.out" 2>&1; then fail "poll = busy beside fifo workers: the reload succeeded"; fi
want="$WORK/busy.conf:1: poll: 'busy' with the running worker-sched 'fifo 5': a real-time worker that never sleeps keeps every other task off its CPU; use poll = \"sleep\""
grep -qF "$want" "$WORK/reload.out" || fail "poll = busy beside fifo workers: not the error wanted: $(cat "$WORK/reload.out")"
[ "$(ctl -j status | jq .generation)" = "$g" ] || fail "the refused reload changed the generation"
lan ping -c 5 -i 0.05 -W 2 198.51.100.10 >/dev/null || fail "ping after the refused reload"
stop_netiod
ok "reload with poll = busy beside fifo workers: refused ('$want'), generation $g kept, 5 pings forwarded"

# Without CAP_SYS_NICE (out of the bounding set) and with RLIMIT_RTPRIO 0, the system refuses.
conf "fifo 5" >"$WORK/ws.conf"
rc=0
gw prlimit --rtprio=0 setpriv --bounding-set=-sys_nice "$O/netiod/netiod" -f -c "$WORK/ws.conf" \
	-P "$O/services" -S "$SOCK" -s "$WORK" >"$WORK/refused.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "netiod started with fifo 5 and no CAP_SYS_NICE"
want="worker 0: worker-sched 'fifo 5': sched_setscheduler: Operation not permitted (needs CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least 5)"
grep -qF "$want" "$WORK/refused.log" ||
	fail "no clear error without CAP_SYS_NICE: $(tail -n 3 "$WORK/refused.log")"
ok "without CAP_SYS_NICE: exit $rc, '$want'"

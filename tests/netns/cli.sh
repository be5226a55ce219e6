#!/bin/sh
# netioctl and netiod as command-line tools: --help on stdout with exit 0, --version (the
# daemon's own), usage errors that name the wrong word (exit 1), errors as JSON under -j, -c
# compact JSON, the client timeout against a stopped netiod and a socket nobody answers
# (exit 2), and the bash completion naming the running daemon's pipelines, ports and services.
. "$(dirname "$0")/lib.sh"

NETIOCTL=$O/netiod/netioctl
NETIOD=$O/netiod/netiod
top=$(cd "$(dirname "$0")/../.." && pwd)
# run CMD...: stdout, stderr and exit status into $WORK/out, $WORK/err, $rc (bounded: a tool
# that hangs fails the test instead)
run() {
	timeout 30 "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
}
expect() { # rc, what
	[ "$rc" -eq "$1" ] || fail "$2: exit $rc, not $1 (stderr: $(cat "$WORK/err"))"
}

ip netns add "$NS_GW" || fail "ip netns add"
printf '%s\n' "port cap { driver = \"pcap\" output = \"$WORK/out.pcap\" }" \
	'pipeline uplink { match { dst = "198.51.100.0/24" } service mark { } out = "cap" }' \
	>"$WORK/cli.conf"
start_netiod "$WORK/cli.conf"

# 1. --help / -h: usage on stdout, nothing on stderr, exit 0 (both tools).
for tool in "$NETIOCTL" "$NETIOD"; do
	for h in -h --help; do
		run "$tool" "$h"
		expect 0 "$(basename "$tool") $h"
		[ -s "$WORK/out" ] && [ ! -s "$WORK/err" ] ||
			fail "$(basename "$tool") $h: usage not on stdout alone"
		grep -q "^usage: $(basename "$tool")" "$WORK/out" || fail "$(basename "$tool") $h: no usage line"
	done
done
ok "-h and --help print the usage on stdout and exit 0 (netiod, netioctl)"

# 2. --version: VERSION (plus the commit), the same as the running daemon reports.
version=$(cat "$top/VERSION")
daemon=$(ctl -j status | jq -r .version)
for tool in "$NETIOCTL" "$NETIOD"; do
	run "$tool" --version
	expect 0 "$(basename "$tool") --version"
	[ "$(cat "$WORK/out")" = "$(basename "$tool") $daemon" ] ||
		fail "$(basename "$tool") --version: '$(cat "$WORK/out")', daemon says '$daemon'"
done
case $daemon in "$version" | "$version"-*) ;; *) fail "version '$daemon' is not VERSION $version" ;; esac
ok "--version: $daemon, as netioctl status reports it"

# 3. Usage errors: exit 1, naming what was wrong.
while IFS=: read -r args want; do
	# shellcheck disable=SC2086
	run "$NETIOCTL" -s "$SOCK" $args
	expect 1 "netioctl $args"
	grep -qF "$want" "$WORK/err" || fail "netioctl $args: '$(cat "$WORK/err")' does not say: $want"
	[ ! -s "$WORK/out" ] || fail "netioctl $args: a usage error printed on stdout"
done <<'CASES'
bogus list:unknown object 'bogus'
port lst:unknown command 'lst' for 'port'
port:'port' needs a command: list
port list extra:unexpected argument 'extra'
service load:missing PATH
capture start uplink /tmp/x.pcap count many:bad count 'many'
capture start uplink /tmp/x.pcap colour red:unknown argument 'colour'
-x status:unknown option '-x'
-t soon status:bad timeout 'soon'
kernel unbind:missing DEV|ID
CASES
run "$NETIOCTL"
expect 1 "netioctl without a command"
run "$NETIOD" -Z
expect 1 "netiod -Z"
run "$NETIOD" extra
expect 1 "netiod extra"
grep -qF "unexpected argument 'extra'" "$WORK/err" || fail "netiod extra: $(cat "$WORK/err")"
ok "usage errors exit 1 and name the object, command, option or argument"

# 4. -j: errors are one JSON object on stderr ({"ok":false,"error":…,"exit":N}), stdout
#    stays empty; -c prints the reply on one line.
run "$NETIOCTL" -j -s "$SOCK" bogus
expect 1 "netioctl -j bogus"
jq -e '.ok == false and .exit == 1 and (.error | contains("bogus"))' "$WORK/err" >/dev/null ||
	fail "-j usage error is not JSON: $(cat "$WORK/err")"
[ ! -s "$WORK/out" ] || fail "-j usage error on stdout"
run "$NETIOCTL" -j -s "$SOCK" service unload nosuch
expect 2 "netioctl -j service unload nosuch"
jq -e '.ok == false and .exit == 2 and (.error | contains("nosuch"))' "$WORK/err" >/dev/null ||
	fail "-j daemon error is not JSON: $(cat "$WORK/err")"
[ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "-j error is not one line: $(cat "$WORK/err")"
run "$NETIOCTL" -jc -s "$SOCK" stats
expect 0 "netioctl -jc stats"
[ "$(wc -l <"$WORK/out")" -eq 1 ] || fail "-jc stats is $(wc -l <"$WORK/out") lines"
jq -e '.pipelines[0].name == "uplink"' "$WORK/out" >/dev/null || fail "-jc stats: not the reply"
run "$NETIOCTL" --json --compact -s "$SOCK" port list
[ "$(wc -l <"$WORK/out")" -eq 1 ] && jq -e '.[0].name == "cap"' "$WORK/out" >/dev/null ||
	fail "--json --compact port list: $(cat "$WORK/out")"
run "$NETIOCTL" -j -s "$SOCK" stats
[ "$(wc -l <"$WORK/out")" -gt 1 ] || fail "-j without -c is not indented"
ok "-j errors are JSON on stderr (usage: exit 1, daemon: exit 2); -c/--compact prints one line"

# 5. The client timeout: a stopped netiod, and a socket that accepts but never answers.
kill -STOP "$NETIOD_PID"
run "$NETIOCTL" -t 1 -s "$SOCK" status
kill -CONT "$NETIOD_PID"
expect 2 "netioctl -t 1 against a stopped netiod"
grep -qF "no reply from netiod at $SOCK within 1.000 s" "$WORK/err" ||
	fail "stopped netiod: $(cat "$WORK/err")"
ctl status >/dev/null || fail "netiod does not answer after SIGCONT"
gw python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
held = [s.accept()[0] for _ in range(2)]
time.sleep(60)' "$WORK/mute.sock" &
mute=$!
for _ in $(seq 50); do
	[ -S "$WORK/mute.sock" ] && break
	sleep 0.1
done
run "$NETIOCTL" -j -t 0.5 -s "$WORK/mute.sock" status
expect 2 "netioctl -j -t 0.5 against a mute socket"
jq -e '.exit == 2 and (.error | contains("within 0.500 s"))' "$WORK/err" >/dev/null ||
	fail "mute socket, -j: $(cat "$WORK/err")"
# the default (10 s) ends the wait too: exit 2, not timeout(1)'s 124
t0=$(date +%s)
run "$NETIOCTL" -s "$WORK/mute.sock" status
expect 2 "netioctl with the default timeout against a mute socket"
t1=$(date +%s)
grep -qF "within 10.000 s" "$WORK/err" || fail "default timeout: $(cat "$WORK/err")"
kill "$mute" 2>/dev/null
wait "$mute" 2>/dev/null
ok "no reply: exit 2 after -t 1 (stopped netiod), -t 0.5 (JSON) and the default ($((t1 - t0)) s)"

# 6. bash completion: commands from --help, names from the running netiod.
complete_ctl() { # words… (the last is the one being completed)
	gw bash -c '. "$1/completions/netioctl"; shift; COMP_WORDS=("$@"); \
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _netioctl; echo "${COMPREPLY[*]}"' \
		sh "$top" "$NETIOCTL" -s "$SOCK" "$@"
}
[ "$(complete_ctl capture stop "")" = uplink ] || fail "capture stop: '$(complete_ctl capture stop "")'"
services=$(ctl -j service list | jq -r '.[].name' | sort | tr '\n' ' ')
echo "$services" | grep -qw mark || fail "service list: $services"
words() { tr ' ' '\n' | grep . | sort | tr '\n' ' '; }
[ "$(complete_ctl service replace "" | words)" = "$services" ] ||
	fail "service replace: '$(complete_ctl service replace "")', loaded: $services"
[ "$(complete_ctl capture start uplink f stage "" | words)" = "$(echo in out $services | words)" ] ||
	fail "stage: '$(complete_ctl capture start uplink f stage "")'"
[ "$(complete_ctl po)" = port ] || fail "objects: '$(complete_ctl po)'"
ok "completion: pipeline, service and stage names from netiod, objects from --help"

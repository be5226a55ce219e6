#!/bin/sh
# Config golden tests: netiod -t -v on each N.conf must print exactly N.ok (stdout, then the
# last stderr line: the error or "configuration OK"); the shipped conf/*.conf must pass -t.
set -u
O=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
netiod="$O/netiod/netiod"
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The golden files name only the reference plugin, so other plugins' options cannot change them.
mkdir "$tmp/plugins"
ln -s "$O/services/mark.so" "$tmp/plugins/mark.so"

cd "$here" || exit 1
for conf in $(ls [0-9]*.conf | sort -n); do
	n=${conf%.conf}
	"$netiod" -t -v -P "$tmp/plugins" -c "$conf" >"$tmp/out" 2>"$tmp/err"
	echo "exit $?" >>"$tmp/out"
	tail -n 1 "$tmp/err" >>"$tmp/out"
	if [ "${UPDATE:-}" = 1 ]; then
		cp "$tmp/out" "$n.ok"
	fi
	if diff -u "$n.ok" "$tmp/out"; then
		pass=$((pass + 1))
	else
		echo "FAILED: tests/config/$conf"
		fail=$((fail + 1))
	fi
done
# What is not a regular, non-empty file of at most 1 MiB is refused, and a FIFO without blocking.
mkdir "$tmp/dir"
mkfifo "$tmp/fifo"
: >"$tmp/empty"
head -c 1048577 /dev/zero | tr '\0' '\n' >"$tmp/big"
for special in "dir:is a directory, not a regular file" "fifo:is a FIFO, not a regular file" \
	"empty:the file is empty" "big:larger than the limit of 1048576 bytes (1 MiB)" \
	"/dev/null:is a character device, not a regular file"; do
	f=${special%%:*}
	case $f in /*) ;; *) f="$tmp/$f" ;; esac
	timeout 20 "$netiod" -t -P "$tmp/plugins" -c "$f" >/dev/null 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 1 ] && [ "$(tail -n 1 "$tmp/err")" = "$f: ${special#*:}" ]; then
		pass=$((pass + 1))
	else
		echo "FAILED: netiod -t -c $f: exit $rc, $(tail -n 1 "$tmp/err")"
		fail=$((fail + 1))
	fi
done
# An isolated instance is handed its block's options as JSON, up to 1 MiB less 4 KiB (every
# option of every class, set or not: ~930 bytes a class): -t refuses a block above that with its
# line (1200 classes), and takes one below (1000 classes; the plugin's own limit is 1024).
mkdir "$tmp/qosplugins"
ln -s "$O/services/qos.so" "$tmp/qosplugins/qos.so"
for n in 1200 1000; do
	python3 - "$n" >"$tmp/iso$n.conf" <<'PY'
import sys
print('port lan { driver = "pcap" input = "/dev/null" mac = "02:00:00:00:00:01" }')
print('pipeline p {\n\tmatch { in = "lan" }\n\tservice qos {\n\t\tisolate = true rate = "10gbit"')
for i in range(int(sys.argv[1]) - 2):
    print('\t\tclass c%d { rate = "1mbit" proto = "udp" dport = "%d" }' % (i, 20000 + i))
print('\t\tclass d { }\n\t}\n\tout = "lan"\n\tdst-mac = "02:00:00:00:00:02"\n}')
PY
	timeout 60 "$netiod" -t -P "$tmp/qosplugins" -c "$tmp/iso$n.conf" >/dev/null 2>"$tmp/err"
	rc=$?
	case "$n:$rc:$(tail -n 1 "$tmp/err")" in
	"1200:1:$tmp/iso1200.conf:$((n + 5)): pipeline 'p': service 'qos': isolate: the block's options take "*" bytes as JSON, above 1044480" | \
		"1000:0:$tmp/iso1000.conf: configuration OK")
		pass=$((pass + 1)) ;;
	*)
		echo "FAILED: netiod -t on an isolated qos block of $n classes: exit $rc, $(tail -n 1 "$tmp/err" | cut -c1-200)"
		fail=$((fail + 1)) ;;
	esac
done
for conf in "$top"/conf/*.conf; do
	[ -e "$conf" ] || continue
	if (cd "$top/conf" && "$netiod" -t -P "$O/services" -c "$conf" >/dev/null 2>"$tmp/err"); then
		pass=$((pass + 1))
	else
		echo "FAILED: $conf does not pass netiod -t:"
		cat "$tmp/err"
		fail=$((fail + 1))
	fi
done
echo "config: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

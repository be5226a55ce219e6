#!/bin/sh
# The systemd unit conf/netiod.service, its commands pointing at the build: systemd-analyze
# verify says nothing, and the offline security exposure is at most 2.5 (hardening, user netio,
# two capabilities); ExecReload reports a refused reload (netioctl reload, not kill -HUP).
set -u
O=$(cd "${1:?usage: unit.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAILED: unit: $*"
	exit 1
}

command -v systemd-analyze >/dev/null || fail "no systemd-analyze (Debian package systemd)"
sed -e 's|@PREFIX@|/usr|g' -e "s|@SBINDIR@|$O/netiod|g" -e 's|@SYSCONFDIR@|/etc|g' \
	"$top/conf/netiod.service" >"$tmp/netiod.service"
systemd-analyze verify "$tmp/netiod.service" >"$tmp/verify" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$tmp/verify")"
[ ! -s "$tmp/verify" ] || fail "systemd-analyze verify warns: $(cat "$tmp/verify")"
systemd-analyze security --offline=true "$tmp/netiod.service" >"$tmp/security" 2>&1
level=$(sed -n 's/.*Overall exposure level for netiod.service: \([0-9.]*\).*/\1/p' "$tmp/security")
[ -n "$level" ] || fail "no exposure level in: $(tail -n 3 "$tmp/security")"
awk -v l="$level" 'BEGIN { exit !(l <= 2.5) }' ||
	fail "security exposure $level > 2.5 ($(grep -c '✗' "$tmp/security") findings)"
grep -q "^ExecReload=$O/netiod/netioctl reload\$" "$tmp/netiod.service" ||
	fail "ExecReload does not run netioctl reload"
grep -q '^Type=notify$' "$tmp/netiod.service" || fail "not Type=notify"
echo "  ok  unit: systemd-analyze verify clean, security exposure $level (at most 2.5)"

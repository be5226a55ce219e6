#!/bin/sh
# Who may see and touch netio.ko's bindings: every generic netlink command needs CAP_NET_ADMIN,
# and sees only the bindings whose device is in the caller's network namespace (get, dump,
# set claims, unbind) as does NETIO_IOC_ATTACH. Env REPO, O, NETIO_TOOLS.
set -eu
T=${NETIO_TOOLS:-$O/vm}/nioring
W=$(mktemp -d)
A=kp-a

log() { echo "== $(date +%T) $*"; }

fail() {
	echo "FAIL: $*"
	dmesg | tail -n 20
	exit 1
}

cleanup() {
	ip netns del $A 2>/dev/null || true
	rmmod netio 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

# must_fail WANT CMD...: the command fails and its message says WANT
must_fail() {
	want=$1
	shift
	if out=$("$@" 2>&1); then fail "'$*' succeeded, want $want: $out"; fi
	echo "$out" | grep -q "$want" || fail "'$*': '$out', want $want"
	echo "   refused: $out"
}

a() { ip netns exec $A "$@"; }

dmesg -C
insmod "$REPO/netio-kmod/netio.ko"
modprobe veth
ip netns add $A
ip -n $A link add kp0 type veth peer name kp1
ip -n $A link set kp0 up
ip -n $A link set kp1 up
ID=$(a "$T" bind kp0 guarded 0)
a "$T" claims "$ID" "id=1,proto=udp,dst=198.51.100.0/24"
# netioctl and nioring where an unprivileged user may run them
chmod 0755 "$W"
cp "$O/netiod/netioctl" "$T" "$W/"

log "reading the bindings needs CAP_NET_ADMIN"
nobody() { a setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }
must_fail "Operation not permitted" nobody "$W/netioctl" kernel list
must_fail EPERM nobody "$W/nioring" show "$ID"

log "another network namespace sees none of them and cannot touch them"
[ "$("$O/netiod/netioctl" -j kernel list)" = "[]" ] || fail "the root netns sees: $("$O/netiod/netioctl" kernel list)"
must_fail ENOENT "$T" show "$ID"
must_fail ENOENT "$T" claims "$ID" "id=2,proto=any"
must_fail "attach $ID: ENOENT" "$T" attach "$ID"
must_fail "no netio.ko binding $ID" "$O/netiod/netioctl" kernel unbind "$ID"

log "its own namespace sees it, unchanged, and may unbind it"
a "$O/netiod/netioctl" -j kernel list >"$W/list"
[ "$(jq -r '.[0].device' "$W/list")" = kp0 ] || fail "binding not listed in its netns: $(cat "$W/list")"
[ "$(jq -r '.[0].claims | length' "$W/list")" = 1 ] || fail "claims changed: $(cat "$W/list")"
a "$T" attach "$ID" >/dev/null || fail "attach in its own netns"
a "$O/netiod/netioctl" kernel unbind kp0 | grep -q "unbound $ID (guarded on kp0)" || fail "unbind in its netns"
[ "$(a "$O/netiod/netioctl" -j kernel list)" = "[]" ] || fail "binding left after unbind"
rmmod netio
if dmesg | grep -E 'BUG|WARNING|Oops|general protection|Call Trace'; then fail "kernel complained"; fi
echo "kmod_perm: all passed"

#!/bin/sh
# Key isolation: with its crypto instance isolated, a core dump of netiod (gcore) holds none of
# the SA's key bytes, while one of the instance's own process does; with isolate = false the
# same dump of netiod holds them (so the search can find them at all).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v gcore >/dev/null || { echo "isolate_keys: no gcore (gdb)"; exit 77; }
[ -f "$O/services/crypto.so" ] || { echo "isolate_keys: crypto not built"; exit 77; }

od -An -tx1 -N 36 /dev/urandom | tr -d ' \n' >"$WORK/k-out"
chmod 600 "$WORK/k-out"
mkdir -p "$WORK/state"
chown nobody "$WORK/state" # the isolated instance writes its reservations as nobody

conf() { # isolate true|false
	cat <<EOF
state-dir = "$WORK/state"
port lan { device = "gw-lan" driver = "afpacket" }
port wan { device = "gw-wan" driver = "afpacket" }
pipeline to-peer {
	match { in = "lan" dst = "198.51.100.0/24" }
	service crypto {
		engine = "openssl" isolate = $1
		sa out { spi = "0x1001" direction = "out" cipher = "aes256-gcm" key-file = "$WORK/k-out"
			local = "203.0.113.1" remote = "203.0.113.9" inner-dst = { "198.51.100.0/24" } }
	}
	out = "wan"
}
EOF
}

# has_key PID: does a core dump of PID hold the first 16 bytes of the AES-256 key?
has_key() {
	rm -f "$WORK"/core.*
	# private memory only: the shared packet arena holds packets, never keys
	echo 0x33 >"/proc/$1/coredump_filter"
	gcore -o "$WORK/core" "$1" >/dev/null 2>&1 || fail "gcore $1"
	python3 - "$WORK/core.$1" "$WORK/k-out" <<'PY'
import sys
core = open(sys.argv[1], "rb").read()
key = bytes.fromhex(open(sys.argv[2]).read().strip())
sys.exit(0 if key[:16] in core else 1)
PY
}

setup_topology
conf true >"$WORK/iso.conf"
start_netiod "$WORK/iso.conf"
host=$(ctl -j service list | jq -r '.[] | select(.name=="crypto") | .running[0].pid')
[ "$host" -gt 0 ] && [ "$host" != "$NETIOD_PID" ] || fail "crypto is not isolated"
! has_key "$NETIOD_PID" || fail "isolated: netiod's memory holds the key"
has_key "$host" || fail "isolated: the key is not in the instance's own process either"
ok "isolate = true: key bytes in netio-svchost (pid $host), none in netiod"
stop_netiod

conf false >"$WORK/in.conf"
start_netiod "$WORK/in.conf"
has_key "$NETIOD_PID" || fail "in-process: the key bytes were not found in netiod's core"
ok "isolate = false: the same search finds the key bytes in netiod"

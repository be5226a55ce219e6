#!/bin/sh
# Install every Debian package netio needs to build, test, demo and benchmark (idempotent).
set -eu

PKGS="build-essential pkg-config git ca-certificates
libevent-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev libpcap-dev
libconfuse-dev libjansson-dev libssl-dev libcmocka-dev libseccomp-dev libxdp-dev libbpf-dev
clang libclang-rt-14-dev clang-format cppcheck
iproute2 iputils-ping iperf3 jq tcpdump python3 python3-scapy netsniff-ng procps psmisc
kmod cpio busybox-static qemu-system-x86 linux-image-amd64 linux-headers-amd64
gdb valgrind ethtool man-db systemd strongswan-charon strongswan-swanctl"

# libipsec-mb exists only on x86-64.
[ "$(dpkg --print-architecture)" = amd64 ] && PKGS="$PKGS libipsec-mb-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
# promtool (make check validates /metrics with it) is in Debian's prometheus package, whose
# installation would also start a Prometheus server (its postinst runs invoke-rc.d) and pull in
# the web UI's JavaScript: only that one binary is taken out of the package apt downloads.
PROMTOOL=/usr/local/bin/promtool
command -v promtool >/dev/null 2>&1 && PROMTOOL=
[ -z "$missing" ] && [ -z "$PROMTOOL" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing${PROMTOOL:+ promtool} (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ]; then
	echo "deps.sh: installing:$missing"
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

promtool_fetch() {
	(cd "$1" && apt-get download -qq prometheus >/dev/null 2>&1)
}
if [ -n "$PROMTOOL" ]; then
	echo "deps.sh: installing $PROMTOOL from the prometheus package"
	tmp=$(mktemp -d)
	chown _apt "$tmp" 2>/dev/null || true # apt downloads as _apt where it can
	promtool_fetch "$tmp" || { apt-get update -qq && promtool_fetch "$tmp"; } || {
		rm -rf "$tmp"
		echo "deps.sh: cannot download the prometheus package" >&2
		exit 1
	}
	dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"$tmp/promtool"
	install -m 0755 "$tmp/promtool" "$PROMTOOL"
	rm -rf "$tmp"
fi

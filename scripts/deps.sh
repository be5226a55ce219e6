#!/bin/sh
# Install every Debian package netio needs to build, test, demo and benchmark (idempotent).
set -eu

PKGS="build-essential pkg-config git ca-certificates
libevent-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev libpcap-dev
libconfuse-dev libjansson-dev libssl-dev libcmocka-dev libseccomp-dev libxdp-dev libbpf-dev
clang libclang-rt-14-dev clang-format cppcheck
iproute2 iputils-ping iperf3 jq tcpdump python3 python3-scapy netsniff-ng procps psmisc
kmod cpio busybox-static qemu-system-x86 linux-image-amd64 linux-headers-amd64
gdb valgrind ethtool man-db"

# libipsec-mb exists only on x86-64.
[ "$(dpkg --print-architecture)" = amd64 ] && PKGS="$PKGS libipsec-mb-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

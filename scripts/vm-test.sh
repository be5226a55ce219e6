#!/bin/sh
# The vm test tier: build netio.ko and the VM test tools, boot Debian's kernel under QEMU (TCG)
# with the host root read-only and the repository writable over 9p, run every tests/vm/*.sh
# inside, and exit non-zero if any failed. usage: vm-test.sh [O]
# env: NETIO_VM_TIMEOUT (whole VM, default 1800 s), NETIO_VM_TEST_TIMEOUT (each test, 300 s;
#      a test may ask for more with a "# vm-timeout: N" line),
#      NETIO_VM_ONLY=kmod,tunnel (run only these tests/vm/*.sh)
#      NETIO_VM_SUITE=tests/bench/vm (run that directory's *.sh instead of tests/vm's)
#      NETIO_VM_CPU (QEMU's -cpu, default max), NETIO_VM_APPEND (more kernel command line; the
#      bench VM's testbed, tests/bench/vmbench.sh)
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
O=${1:-$REPO/build}
mkdir -p "$O/vm"
O=$(cd "$O" && pwd)
out=$O/vm
timeout_s=${NETIO_VM_TIMEOUT:-1800}

# The newest kernel that has both an image to boot and headers to build against.
kver=""
for d in /lib/modules/*/build/Makefile; do
	k=${d#/lib/modules/}
	k=${k%%/*}
	[ -r "/boot/vmlinuz-$k" ] && kver=$(printf '%s\n%s\n' "$kver" "$k" | sort -V | tail -n 1)
done
[ -n "$kver" ] || { echo "vm: no kernel with headers (install linux-image-amd64 linux-headers-amd64)" >&2; exit 1; }

# Each run keeps its own initramfs, console, logs and status: runs may overlap on one machine.
# The logs of the last few runs are kept.
run=$(mktemp -d "$out/run.XXXXXX")
# shellcheck disable=SC2012
ls -dt "$out"/run.* | tail -n +9 | xargs -r rm -rf
echo "vm: building netio.ko for $kver"
flock "$REPO/netio-kmod" make -s -C "$REPO/netio-kmod" KDIR="/lib/modules/$kver/build" \
	>"$run/kmod-build.log" 2>&1 || {
	cat "$run/kmod-build.log"
	exit 1
}
if grep -q 'warning:' "$run/kmod-build.log"; then
	cat "$run/kmod-build.log"
	echo "vm: netio.ko built with warnings" >&2
	exit 1
fi
# The tools the tests drive netio.ko with: nioring, and kmodclaims around netiod's port driver.
tool() { # name sources...
	name=$1
	shift
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
		-I"$REPO/include" -I"$REPO/netiod" $(pkg-config --cflags libnl-genl-3.0) \
		-o "$run/$name" "$@" $(pkg-config --libs libnl-genl-3.0)
}
tool nioring "$REPO/tests/vm/nioring.c"
tool kmodclaims "$REPO/tests/vm/kmodclaims.c" "$REPO/netiod/port_kmod.c" "$REPO/netiod/claims.c" \
	"$REPO/netiod/log.c" "$REPO/netiod/pool.c" "$REPO/netiod/addr.c" "$REPO/netiod/device.c" \
	"$REPO/netiod/region.c"
# tests/netns' helpers (a second XDP program and its loader), for the netns tests run inside
make -s -C "$REPO/tests/netns" O="$O" >"$run/netns-build.log" 2>&1 || {
	cat "$run/netns-build.log"
	exit 1
}
sh "$REPO/scripts/vm-initramfs.sh" "$kver" "$run/initramfs.cpio.gz"

# $O gets its own share unless it lives inside the repository.
extra=""
outshare=""
case "$O/" in
"$REPO"/*) ;;
*)
	extra="-virtfs local,path=$O,mount_tag=out,security_model=none,multidevs=remap"
	outshare="NETIO_OUT_SHARE=1"
	;;
esac

echo "vm: booting $kver under QEMU/TCG (timeout ${timeout_s}s)"
start=$(date +%s)
rc=0
# shellcheck disable=SC2086
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu "${NETIO_VM_CPU:-max}" -m 1024 -smp 2 \
	-kernel "/boot/vmlinuz-$kver" -initrd "$run/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 quiet ${NETIO_VM_APPEND:+$NETIO_VM_APPEND }NETIO_REPO=$REPO NETIO_O=$O NETIO_RUN=$run NETIO_VM_TEST_TIMEOUT=${NETIO_VM_TEST_TIMEOUT:-300} NETIO_VM_ONLY=${NETIO_VM_ONLY:-} NETIO_VM_SUITE=${NETIO_VM_SUITE:-tests/vm} $outshare" \
	-nographic -no-reboot -nodefaults -serial stdio \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$REPO,mount_tag=repo,security_model=none,multidevs=remap" \
	$extra </dev/null >"$run/console.log" 2>&1 || rc=$?
rm -f "$run/initramfs.cpio.gz"
grep -E '^(vm:|    |NETIO-VM-RESULT)' "$run/console.log" || true
echo "vm: QEMU ran $(($(date +%s) - start)) s"

if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	echo "vm: FAILED: timed out after ${timeout_s}s; console tail:" >&2
	tail -n 30 "$run/console.log" >&2
	exit 1
fi
if [ ! -s "$run/status" ]; then
	echo "vm: FAILED: the VM reported no status (qemu rc=$rc); console tail:" >&2
	tail -n 30 "$run/console.log" >&2
	exit 1
fi
if [ "$(cat "$run/status")" != 0 ]; then
	echo "vm: FAILED (logs in $run)" >&2
	exit 1
fi
echo "vm: all passed (logs in $run)"

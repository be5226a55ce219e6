#!/bin/sh
# Build the test VM's initramfs: static busybox, the virtio/9p modules and an init that mounts
# the host root (read-only) and the repository over 9p, then runs scripts/vm-run.sh in a chroot.
# usage: vm-initramfs.sh KVER OUT.cpio.gz
set -eu
kver=$1
out=$2
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache
9pnet 9pnet_virtio 9p"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/mods" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/host"
cp /bin/busybox "$dir/bin/busybox"
for m in $mods; do
	f=$(find "/lib/modules/$kver/kernel" -name "$m.ko" | head -n 1)
	[ -n "$f" ] || { echo "vm-initramfs: $m.ko not found for $kver" >&2; exit 1; }
	cp "$f" "$dir/mods/"
done
printf '%s\n' $mods >"$dir/mods/order"

cat >"$dir/init" <<'INIT'
#!/bin/busybox sh
# PID 1 of the test VM; NETIO_REPO, NETIO_O and NETIO_RUN come from the kernel command line.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod "/mods/$m.ko" || echo "init: insmod $m failed"; done
p9="trans=virtio,version=9p2000.L,msize=262144"
mount -t 9p -o "$p9,ro" hostroot /host || echo "NETIO-VM-RESULT rc=125 (no 9p root)"
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
mkdir -p "/host$NETIO_REPO"
mount -t 9p -o "$p9" repo "/host$NETIO_REPO"
if [ -n "${NETIO_OUT_SHARE:-}" ]; then
	mkdir -p "/host$NETIO_O"
	mount -t 9p -o "$p9" out "/host$NETIO_O"
fi
chroot /host /bin/sh "$NETIO_REPO/scripts/vm-run.sh" "$NETIO_REPO" "$NETIO_O" "$NETIO_RUN" \
	"$NETIO_VM_TEST_TIMEOUT" "$NETIO_VM_ONLY" "$NETIO_VM_SUITE"
echo "NETIO-VM-RESULT rc=$?"
sync
poweroff -f
INIT
chmod 755 "$dir/init"
(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"

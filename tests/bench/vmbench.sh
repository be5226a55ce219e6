#!/bin/sh
# make bench, VM part: the host kernel cannot load netio.ko, so R4 on the kmod port is measured
# inside the QEMU/TCG test VM (scripts/vm-test.sh with NETIO_VM_SUITE=tests/bench/vm), against
# the kernel's forwarding in the same VM; and the qos port shaper against the VM kernel's CAKE
# and htb + fq_codel (the host kernel has neither). Prints the tables. usage: vmbench.sh BUILD_DIR
# env: VB_RUNS, VB_DUR, VB_START_WAIT, VB_GEN, VB_PINGS, VB_STEPS, VB_NETIO_KO_ALT and VMB_SETUPS
#      (the VM's VB_SETUPS) for vethbench.sh, VB_PROFILE=1, VB_PROFILE_DUR, VB_PROFILE_CG, VB_PROFILE_PARTS and VB_PROFILE_PERIOD_NS for kmod_profile.sh,
#      QC_RUNS, QC_MBIT, QC_SHAPERS, QC_BASE_O for qos_cake.sh (QC_MBIT defaults to "10 20"
#      here: at 10 Mbit/s the VM forwards what the shapers let through, so the shapers are
#      compared; at 20 it cannot, which the row shows), VMB_TIMEOUT (s, default 3000)
set -u
O=$(cd "${1:?usage: vmbench.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
t=${VMB_TIMEOUT:-3000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

# the VM sees no host environment: hand it the VB_* settings through the shared build dir
mkdir -p "$O/vm"
# (VB_RUNS, VB_DUR, VB_START_WAIT, VB_GEN, VB_PINGS, VB_STEPS, VB_NETIO_KO_ALT, VB_PROFILE*, QC_*;
# VMB_SETUPS becomes the VM's VB_SETUPS)
{
	echo "QC_MBIT=${QC_MBIT:-10 20}"
	env | grep -E '^(VB_(RUNS|DUR|START_WAIT|GEN|PINGS|STEPS|NETIO_KO_ALT|PROFILE|PROFILE_DUR|PROFILE_CG|PROFILE_PARTS|PROFILE_PERIOD_NS)|QC_(RUNS|SHAPERS|BASE_O))=' || true
	[ -z "${VMB_SETUPS:-}" ] || echo "VB_SETUPS=$VMB_SETUPS"
} | sed "s/=\(.*\)/='\1'/; s/^/export /" >"$O/vm/bench.env"
NETIO_VM_SUITE=tests/bench/vm NETIO_VM_TEST_TIMEOUT=$((t - 120)) NETIO_VM_TIMEOUT=$t \
	sh "$top/scripts/vm-test.sh" "$O" >"$out" 2>&1
rc=$?
run=$(sed -n 's/.*(logs in \(.*\))$/\1/p' "$out" | tail -n 1)
if [ -n "$run" ] && [ -f "$run/vethbench_kmod.log" ]; then
	grep -v '^  ok \|^netns' "$run/vethbench_kmod.log" || true
fi
# tests/bench/vm/kmod_profile.sh (VB_PROFILE=1): where netiod's CPU goes on the kmod port
if [ -n "$run" ] && [ -f "$run/kmod_profile.log" ] && ! grep -q '^skip' "$run/kmod_profile.log"; then
	echo
	grep -v '^  ok \|^netns' "$run/kmod_profile.log" || true
fi
# tests/bench/vm/qos_cake.sh: netiod's port shaper against CAKE and htb + fq_codel
if [ -n "$run" ] && [ -f "$run/qos_cake.log" ]; then
	echo
	grep -v '^  ok \|^netns\|^<' "$run/qos_cake.log" || true
fi
[ "$rc" -eq 0 ] || { echo "**the bench VM failed (exit $rc)**:"; sed 's/^/    /' "$out" | tail -n 20; }
exit "$rc"

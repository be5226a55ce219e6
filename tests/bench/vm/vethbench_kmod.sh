#!/bin/sh
# Inside the bench VM (tests/bench/vmbench.sh boots it): the veth testbed of vethbench.sh with
# netio.ko loaded, so netiod's kmod port (rings filled by the module's rx_handler, before the
# kernel's IP stack) runs next to the kernel's own forwarding, the bare TPACKET_V3 loop and
# netiod's afpacket port, in one run. Env REPO, O; VB_* as for vethbench.sh.
: "${REPO:?REPO must name the repository}" "${O:?O must name the build directory}"
# shellcheck disable=SC1091 # written by vmbench.sh
[ -f "$O/vm/bench.env" ] && . "$O/vm/bench.env"
# pktgen by default: under TCG trafgen offers only 5-26 kpps, which saturates no gateway
# (VB_GEN=trafgen brings the old generator back)
export VB_GEN="${VB_GEN:-pktgen}"
if [ "$VB_GEN" = pktgen ]; then
	modprobe pktgen || { echo "skip: cannot load pktgen"; exit 77; }
else
	command -v trafgen >/dev/null || { echo "skip: no trafgen (netsniff-ng)"; exit 77; }
fi
case " ${VB_SETUPS:-} " in *" afp_fwd "*)
	[ -x "$O/tests/bench/afp_fwd" ] || { echo "skip: $O/tests/bench/afp_fwd not built"; exit 77; } ;;
esac
# trafgen maps a temporary file in its working directory shared; the repository's 9p share
# cannot do that
cd /tmp || exit 1
modprobe veth || { echo "skip: cannot load veth"; exit 77; }
VB_NETIO_KO=$REPO/netio-kmod/netio.ko
insmod "$VB_NETIO_KO" || { echo "insmod $VB_NETIO_KO failed"; exit 1; }
export VB_NETIO_KO
# The kernel's forward against netiod's kmod port at saturation, the default (spin-us 200, poll
# sleep) and a worker that sleeps as soon as it is idle (spin-us 0, what low load wants).
export VB_SETUPS="${VB_SETUPS:-kernel netiod-kmod netiod-kmod:nospin}"
export VB_SETUPS_1518="${VB_SETUPS_1518-}"
export VB_START_WAIT="${VB_START_WAIT:-60}" VB_STEPS="${VB_STEPS:-0}" VB_RUNS="${VB_RUNS:-3}" VB_DUR="${VB_DUR:-2}"
sh "$REPO/tests/bench/vethbench.sh" "$O"
rc=$?
rmmod netio 2>/dev/null
exit $rc

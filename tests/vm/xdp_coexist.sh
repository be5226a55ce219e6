#!/bin/sh
# vm-timeout: 600
# netiod's XDP program behind libxdp's dispatcher next to another program: the netns test
# tests/netns/xdp_coexist.sh in the test VM, whose Debian kernel loads the dispatcher's freplace
# programs (a locked-down host kernel may refuse them; the netns tier then skips it). Env REPO, O.
: "${REPO:?REPO must name the repository}" "${O:?O must name the build directory}"
[ -x "$O/tests/netns/xdp_other" ] || { echo "skip: $O/tests/netns/xdp_other not built"; exit 77; }
modprobe veth
exec sh "$REPO/tests/netns/xdp_coexist.sh"

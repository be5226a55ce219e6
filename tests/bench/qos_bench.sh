#!/bin/sh
# Benchmark of the qos core (no daemon): TSC cycles per packet of a policer and of the shaper
# with 1 to 256 leaf classes (classification included).
set -eu
O=$(cd "${1:?usage: qos_bench.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$O/tests/bench"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -I"$top/include" -o "$O/tests/bench/qos_bench" \
	"$top/tests/bench/qos_bench.c" "$top/services/qos/sched.c" "$top/services/qos/timers.c" "$top/services/qos/codel.c" "$top/services/qos/fq.c" \
	"$top/services/qos/tbucket.c" "$top/services/qos/classify.c" "$top/services/qos/police.c" \
	"$top/services/qos/lookup.c"
# Pinned to the last CPU where taskset is there: unpinned, the TSC figures of one case jump
# between two modes as the scheduler moves the process (seen on the 2-core machines).
cpu=$(($(getconf _NPROCESSORS_ONLN) - 1))
if command -v taskset >/dev/null 2>&1; then
	taskset -c "$cpu" "$O/tests/bench/qos_bench"
else
	"$O/tests/bench/qos_bench"
fi

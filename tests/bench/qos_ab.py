#!/usr/bin/env python3
"""A/B of qos_bench binaries: usage qos_ab.py RUNS BIN [BIN ...]

Runs the binaries alternately, RUNS times each, pinned to CPU 1 (taskset), and prints per case
and tree size the median / minimum of their figures, and the worst tree against 1 leaf. Built
trees to compare: sh tests/bench/qos_bench.sh DIR (DIR/tests/bench/qos_bench)."""
import re
import statistics
import subprocess
import sys

LEAVES = [1, 4, 16, 64, 256]
KINDS = ["traffic in 4", "traffic in all", "all backlogged"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    runs, bins = int(sys.argv[1]), sys.argv[2:]
    res = {b: {} for b in bins}
    for _ in range(runs):
        for b in bins:
            out = subprocess.run(["taskset", "-c", "1", b], capture_output=True, text=True,
                                 check=True).stdout
            for line in out.splitlines():
                m = re.match(r"\s+shaper: (\d+) leaves, (.*?)\s+([\d.]+) \(([\d.]+)-", line)
                if m:
                    res[b].setdefault((m.group(2), int(m.group(1))), []).append(
                        (float(m.group(3)), float(m.group(4))))
    for k in KINDS:
        print(k)
        for b in bins:
            med = [statistics.median(x[0] for x in res[b][(k, n)]) for n in LEAVES]
            low = [min(x[1] for x in res[b][(k, n)]) for n in LEAVES]
            row = " ".join("%6.1f/%5.1f" % (m, l) for m, l in zip(med, low))
            print("  %-28s %s  worst/1 med %+.0f%% min %+.0f%%" %
                  (b[-28:], row, (max(med[1:]) / med[0] - 1) * 100,
                   (max(low[1:]) / low[0] - 1) * 100))


if __name__ == "__main__":
    main()

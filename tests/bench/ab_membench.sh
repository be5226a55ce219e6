#!/bin/sh
# A/B membench: two source trees' builds run in turn, round after round, so a loaded machine
# weighs on both alike. Prints "ROUND A|B MEDIAN (MIN–MAX)" cycles/packet of one cell.
# usage: ab_membench.sh TREE_A TREE_B [ROUNDS] [CHAIN] (each tree built: make && make -C tests/bench)
set -u
A=${1:?usage: ab_membench.sh TREE_A TREE_B [ROUNDS] [CHAIN]}
B=${2:?usage: ab_membench.sh TREE_A TREE_B [ROUNDS] [CHAIN]}
ROUNDS=${3:-20}
CHAIN=${4:-null}
for round in $(seq "$ROUNDS"); do
	for side in A B; do
		if [ "$side" = A ]; then T=$A; else T=$B; fi
		v=
		for _ in 1 2 3; do # a run that prints no table (rare, on a loaded machine) is redone
			S=$(mktemp -d)
			v=$("$T/build/tests/bench/membench" -P "$T/build/services" -s "$S" -r 5 -n 200000 \
				-c "$CHAIN" -m '64 B' -b 32 2>&1 | grep -m1 "^| $CHAIN" | awk -F'|' '{print $5}')
			rm -rf "$S"
			[ -n "$v" ] && break
		done
		echo "$round $side $v"
	done
done

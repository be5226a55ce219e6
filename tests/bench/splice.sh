#!/bin/sh
# splice.sh GENERATED OUT: put make bench's generated part (the file GENERATED) into OUT
# (BENCHMARKS.md) between the two marker lines below, keeping every other line of OUT as it is:
# the sections written by hand before and after it stay. An OUT without the markers gets the
# generated part, between new markers, under its first line (the title); no OUT: a new file.
set -eu
gen=${1:?usage: splice.sh GENERATED OUT}
out=${2:?usage: splice.sh GENERATED OUT}
begin='<!-- make bench: generated part below (tests/bench/run.sh rewrites it; write by hand outside it) -->'
end='<!-- make bench: end of the generated part -->'
new="$out.splice.$$"
trap 'rm -f "$new"' EXIT INT TERM

line_of() { grep -nxF "$1" "$out" | cut -d: -f1; }

if [ ! -f "$out" ]; then
	{ echo "# netio benchmarks"; echo; echo "$begin"; cat "$gen"; echo "$end"; } >"$new"
elif [ -z "$(line_of "$begin")" ] && [ -z "$(line_of "$end")" ]; then
	awk -v b="$begin" -v e="$end" -v g="$gen" 'NR == 1 {
		print; print ""; print b
		while ((getline l <g) > 0) print l
		print e
		next } { print }' "$out" >"$new"
else
	b=$(line_of "$begin")
	e=$(line_of "$end")
	# exactly one of each, in order: anything else is a hand edit to look at, not to guess at
	if [ "$(echo "$b" | wc -l)" -ne 1 ] || [ "$(echo "$e" | wc -l)" -ne 1 ] || [ -z "$b" ] ||
		[ -z "$e" ] || [ "$b" -ge "$e" ]; then
		echo "splice.sh: $out: the generated part's markers are not one begin line before one end line: left as it is" >&2
		exit 1
	fi
	{ head -n "$b" "$out"; cat "$gen"; tail -n "+$e" "$out"; } >"$new"
fi
mv "$new" "$out"

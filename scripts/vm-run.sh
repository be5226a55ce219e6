#!/bin/sh
# Inside the test VM's chroot: run every tests/vm/*.sh (or SUITE/*.sh), report, keep logs in
# RUN. Each test gets SECONDS_PER_TEST (more if it has a "# vm-timeout: N" line) and env REPO,
# O and NETIO_TOOLS (the run's directory: nioring and its other tools).
# usage: vm-run.sh REPO O RUN SECONDS_PER_TEST [ONLY,THESE,TESTS] [SUITE]
REPO=$1
O=$2
out=$3
per_test=${4:-300}
only=${5:-}
suite=${6:-tests/vm}
NETIO_TOOLS=$out
export REPO O NETIO_TOOLS PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$out"
echo # the console line so far holds the firmware's escape sequences
pass=0
fail=0
skip=0
failed=""
for t in "$REPO/$suite"/*.sh; do
	name=$(basename "$t" .sh)
	case ",$only," in ",," | *",$name,"*) ;; *) continue ;; esac
	# a test that needs longer says so in a "# vm-timeout: SECONDS" line
	limit=$(sed -n 's/^# vm-timeout: \([0-9][0-9]*\)$/\1/p' "$t")
	[ -n "$limit" ] && [ "$limit" -gt "$per_test" ] || limit=$per_test
	start=$(date +%s)
	(cd "$REPO" && timeout "$limit" sh "$t") >"$out/$name.log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "vm: PASS $name ($took s)"
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1))
		echo "vm: SKIP $name ($took s): $(tail -n 1 "$out/$name.log")"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		echo "vm: FAIL $name ($took s, exit $rc), last lines of $out/$name.log:"
		tail -n 40 "$out/$name.log" | sed 's/^/    /'
	fi
done
dmesg >"$out/dmesg.log" 2>&1
echo "vm: $pass passed, $fail failed, $skip skipped${failed:+:$failed}"
echo "$fail" >"$out/status"
sync
[ "$fail" -eq 0 ]

# The shaper worker's stretches from the VM kernel's sched_switch/sched_wakeup trace (qos_cake.sh
# QC_TRACE=1): "wait" runnable but not run (woken or preempted; by whom, who ran last before it
# got the CPU back), "sleep" asleep until woken, "run" on the CPU; the 3 longest of each in ms,
# and the time the worker waited per task that preempted it. awk -v w=TID -f qos_gaps.awk trace
function ts_of(   i) {
	for (i = 1; i <= NF; i++)
		if ($i ~ /^[0-9]+\.[0-9]+:$/)
			return substr($i, 1, length($i) - 1) * 1000
	return -1
}
function field(name,   i) {
	for (i = 1; i <= NF; i++)
		if (index($i, name "=") == 1)
			return substr($i, length(name) + 2)
	return ""
}
function rec(kind, d, what,   k, x) {
	if (d > top[kind, 3]) {
		top[kind, 3] = d; why[kind, 3] = what
		for (k = 3; k > 1 && top[kind, k] > top[kind, k - 1]; k--) {
			x = top[kind, k]; top[kind, k] = top[kind, k - 1]; top[kind, k - 1] = x
			x = why[kind, k]; why[kind, k] = why[kind, k - 1]; why[kind, k - 1] = x
		}
	}
	sum[kind] += d; cnt[kind]++
}
/sched_switch:/ {
	t = ts_of()
	if (field("next_pid") == w) {
		if (state == "R")
			rec("wait", t - since, by " then " field("prev_comm"))
		if (state == "R" && by != "woken")
			pre[by] += t - since
		state = "on"; since = t
	} else if (field("prev_pid") == w) {
		if (state == "on")
			rec("run", t - since, "")
		st = field("prev_state")
		if (st ~ /^R/) {
			state = "R"; by = field("next_comm")
		} else
			state = "S"
		since = t
	}
}
/sched_wakeup:/ && field("pid") == w {
	t = ts_of()
	if (state == "S") {
		rec("sleep", t - since, "")
		state = "R"; by = "woken"; since = t
	}
}
END {
	for (i = 1; i <= 3; i++)
		printf "  longest %d: wait %.2f ms (%s)  sleep %.2f ms  run %.2f ms\n", i,
			top["wait", i], why["wait", i], top["sleep", i], top["run", i]
	printf "  totals: wait %.1f ms in %d, sleep %.1f ms in %d, run %.1f ms in %d\n",
		sum["wait"], cnt["wait"], sum["sleep"], cnt["sleep"], sum["run"], cnt["run"]
	for (c in pre)
		printf "  preempted by %s: waited %.1f ms\n", c, pre[c]
}

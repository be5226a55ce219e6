/* The workers' CPU scheduling (worker-sched = other | nice N | fifo N | rr N): parsed from the
 * configuration, applied by each worker thread to itself when it starts. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "netiod.h"

static const struct {
	const char *name;
	int policy;
	int lo, hi; /* the priority (nice for other) it takes */
} kinds[] = {
	{ "nice", SCHED_OTHER, -20, 19 },
	{ "fifo", SCHED_FIFO, 1, 99 },
	{ "rr", SCHED_RR, 1, 99 },
};

/* "other", or a kind and its number: "nice -5", "fifo 10", "rr 10". */
int nio_wsched_parse(const char *s, struct nio_wsched *ws)
{
	const char *sp = strchr(s, ' ');
	long long v;

	*ws = (struct nio_wsched){ SCHED_OTHER, 0 };
	if (!strcmp(s, "other"))
		return 0;
	if (!sp || nio_parse_int(sp + 1, &v) < 0) /* strtoll skips blanks: "fifo  10" too */
		return -1;
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strlen(kinds[i].name) != (size_t)(sp - s) ||
		    strncmp(s, kinds[i].name, (size_t)(sp - s)) || v < kinds[i].lo ||
		    v > kinds[i].hi)
			continue;
		*ws = (struct nio_wsched){ kinds[i].policy, (int)v };
		return 0;
	}
	return -1;
}

void nio_wsched_format(const struct nio_wsched *ws, char *buf, size_t len)
{
	if (ws->policy == SCHED_OTHER && !ws->prio)
		snprintf(buf, len, "other");
	else
		snprintf(buf, len, "%s %d",
			 ws->policy == SCHED_FIFO ? "fifo"
			 : ws->policy == SCHED_RR ? "rr"
						  : "nice",
			 ws->prio);
}

/* Does it take CAP_SYS_NICE (or a raised RLIMIT_RTPRIO / RLIMIT_NICE)? */
bool nio_wsched_privileged(const struct nio_wsched *ws)
{
	return ws->policy != SCHED_OTHER || ws->prio < 0;
}

/* On the worker thread: its policy and priority, or its nice value; -1 with why it failed. */
int nio_wsched_apply(const struct nio_wsched *ws, char *err, size_t len)
{
	struct sched_param sp = { .sched_priority = ws->policy == SCHED_OTHER ? 0 : ws->prio };
	char what[16];

	if (ws->policy == SCHED_OTHER && !ws->prio)
		return 0;
	nio_wsched_format(ws, what, sizeof(what));
	if (ws->policy != SCHED_OTHER) {
		if (sched_setscheduler(0, ws->policy, &sp) < 0)
			return nio_err(err, len,
				       "worker-sched '%s': sched_setscheduler: %s (needs "
				       "CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least %d)",
				       what, strerror(errno), ws->prio);
		return 0;
	}
	/* Linux: PRIO_PROCESS with a thread id sets that thread's nice alone */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), ws->prio) < 0)
		return nio_err(err, len,
			       "worker-sched '%s': setpriority: %s (needs CAP_SYS_NICE, or an "
			       "RLIMIT_NICE of at least %d)",
			       what, strerror(errno), 20 - ws->prio);
	return 0;
}

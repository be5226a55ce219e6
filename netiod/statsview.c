/*
 * What 'netioctl stats' shows: the counters filtered to a port or pipeline, and relative to the
 * last 'stats clear'. Clearing never touches a counter: /metrics must stay monotonic for
 * Prometheus (rate() takes a drop for a restart), and other readers keep their own view. A
 * clear keeps a copy of the stats reply as the baseline; later replies show each counter minus
 * its baseline, matched by name (a port, a pipeline, a service of a pipeline, a worker), so the
 * view survives reloads as the totals themselves do. A counter found below its baseline
 * started again (a pipeline that was removed and added back) and is shown as it is. Gauges
 * (active flows, a service's declared gauges) and identities are never subtracted.
 */
#include <string.h>

#include "show.h"

/* control thread only */
static json_t *baseline;
static uint64_t cleared_ns;

/* Integers that are not counters: identities, current values, a capture's own count. */
static bool not_counter(const char *key)
{
	static const char *const keys[] = { "id",      "cpu",	 "worker",     "active",
					    "capture", "gauges", "generation", NULL };

	for (unsigned i = 0; keys[i]; i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

static bool listed(json_t *names, const char *key)
{
	size_t i;
	json_t *v;

	json_array_foreach (names, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), key))
			return true;
	return false;
}

static void diff(json_t *cur, json_t *base, json_t *gauges);

/* The element of base that e stands for: same "name" and same rank among those of that name
 * (a pipeline may run one service twice), or same "id". */
static json_t *counterpart(json_t *arr, size_t idx, json_t *base)
{
	json_t *e = json_array_get(arr, idx), *key = json_object_get(e, "name"), *b;
	const char *field = key ? "name" : "id";
	size_t rank = 0, i;

	if (!key && !(key = json_object_get(e, "id")))
		return NULL;
	for (i = 0; i < idx; i++)
		if (json_equal(json_object_get(json_array_get(arr, i), field), key))
			rank++;
	json_array_foreach (base, i, b)
		if (json_equal(json_object_get(b, field), key) && rank-- == 0)
			return b;
	return NULL;
}

/* One member of cur (key: v) less its baseline bv; gauges: the names of v's own members that
 * are gauges, when v is an object. */
static void diff_value(json_t *cur, const char *key, json_t *v, json_t *bv, json_t *gauges)
{
	json_int_t now, then;
	size_t i;

	if (json_is_integer(v) && json_is_integer(bv)) {
		now = json_integer_value(v);
		then = json_integer_value(bv);
		json_object_set_new(cur, key, json_integer(now >= then ? now - then : now));
	} else if (json_is_object(v) && json_is_object(bv)) {
		diff(v, bv, gauges);
	} else if (json_is_array(v) && json_is_array(bv)) {
		for (i = 0; i < json_array_size(v); i++)
			diff(json_array_get(v, i), counterpart(v, i, bv), NULL);
	}
}

/* cur -= base, in place (replacing a member's value keeps the iteration valid); gauges: the
 * names of cur's members that are current values. */
static void diff(json_t *cur, json_t *base, json_t *gauges)
{
	json_t *own = json_object_get(cur, "gauges"), *v = NULL; /* v: set by the iterator */
	const char *key;

	if (!json_is_object(cur) || !json_is_object(base))
		return;
	json_object_foreach (cur, key, v) {
		if (not_counter(key) || listed(gauges, key))
			continue;
		/* a service's "counters" holds its plugin's gauges too, named in "gauges" */
		diff_value(cur, key, v, json_object_get(base, key),
			   !strcmp(key, "counters") ? own : NULL);
	}
}

/* Keep only the entries of the array o[key] named name; how many are left. */
static size_t keep_named(json_t *o, const char *key, const char *name)
{
	json_t *kept = json_array(), *e;
	size_t i;

	json_array_foreach (json_object_get(o, key), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")) ?: "", name))
			json_array_append(kept, e);
	json_object_set_new(o, key, kept);
	return json_array_size(kept);
}

/* Only port's rows (no pipeline's) or only pipeline's (no port's), also in each worker's. */
static void narrow(json_t *o, const char *port, const char *pipeline)
{
	if (port)
		keep_named(o, "ports", port);
	else
		json_object_set_new(o, "ports", json_array());
	if (pipeline)
		keep_named(o, "pipelines", pipeline);
	else
		json_object_set_new(o, "pipelines", json_array());
}

static int filter(json_t *stats, const char *port, const char *pipeline, char *err, size_t len)
{
	json_t *w = NULL; /* set by the iterator (cppcheck cannot see it) */
	size_t i;

	if (!port && !pipeline)
		return 0;
	if (port && !keep_named(stats, "ports", port))
		return nio_err(err, len, "no port '%s' in the running configuration", port);
	if (pipeline && !keep_named(stats, "pipelines", pipeline))
		return nio_err(err, len, "no pipeline '%s' in the running configuration", pipeline);
	narrow(stats, port, pipeline);
	json_array_foreach (json_object_get(stats, "workers"), i, w)
		narrow(w, port, pipeline);
	return 0;
}

static int name_arg(json_t *req, const char *key, const char **out, char *err, size_t len)
{
	json_t *v = json_object_get(req, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return nio_err(err, len, "\"%s\" must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* Takes stats (the full reply of cmd stats) and returns the view of it req asks for. */
json_t *nio_stats_view(json_t *stats, json_t *req, char *err, size_t errlen)
{
	const char *port, *pipeline;

	if (name_arg(req, "port", &port, err, errlen) < 0 ||
	    name_arg(req, "pipeline", &pipeline, err, errlen) < 0)
		goto fail;
	if (baseline) {
		diff(stats, baseline, NULL);
		json_object_set_new(
			stats, "cleared_ms_ago",
			json_integer((json_int_t)((nio_now_ns() - cleared_ns) / 1000000)));
	}
	if (filter(stats, port, pipeline, err, errlen) < 0)
		goto fail;
	return stats;
fail:
	json_decref(stats);
	return NULL;
}

/* Takes stats (the full reply of cmd stats) as the new baseline. */
json_t *nio_stats_clear(json_t *stats)
{
	json_decref(baseline);
	baseline = stats;
	cleared_ns = nio_now_ns();
	return json_object();
}

void nio_stats_view_fini(void)
{
	json_decref(baseline);
	baseline = NULL;
}

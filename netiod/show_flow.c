/*
 * flow show: the flow caches of every worker. A worker changes its table with no lock, so the
 * workers are paused at a quiescent point (as a reload pauses them; VPP's show commands take
 * the same worker barrier) while the matching entries are copied out, at most FLOW_SHOW_MAX of
 * them: the list is one consistent instant of every table. Packets wait in the rings meanwhile;
 * the pause lasts one walk of the tables, without allocation or JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "show.h"

#define FLOW_SHOW_MAX 10000u

struct flow_filter {
	bool has_src, has_dst;
	struct nio_prefix src, dst;
	int pipeline; /* index, -1: any */
};

struct flow_row {
	struct nio_flow f; /* copied; its pointers are never followed */
	unsigned worker;
};

static int prefix_arg(json_t *req, const char *key, struct nio_prefix *p, bool *has, char *err,
		      size_t errlen)
{
	json_t *v = json_object_get(req, key);

	*has = v != NULL;
	if (v && (!json_is_string(v) || nio_prefix_parse(json_string_value(v), p) < 0))
		return nio_err(err, errlen, "\"%s\" must be an address or prefix", key);
	return 0;
}

static int filter_of(const struct nio_config *c, json_t *req, struct flow_filter *ff, char *err,
		     size_t errlen)
{
	json_t *v = json_object_get(req, "pipeline");

	memset(ff, 0, sizeof(*ff));
	ff->pipeline = -1;
	if (prefix_arg(req, "src", &ff->src, &ff->has_src, err, errlen) < 0 ||
	    prefix_arg(req, "dst", &ff->dst, &ff->has_dst, err, errlen) < 0)
		return -1;
	if (!v)
		return 0;
	for (unsigned i = 0; json_is_string(v) && i < c->npipelines; i++)
		if (!strcmp(c->pipelines[i].name, json_string_value(v)))
			ff->pipeline = (int)i;
	if (ff->pipeline < 0)
		return nio_err(err, errlen,
			       "\"pipeline\" must name a pipeline of the configuration");
	return 0;
}

static bool wanted(const struct flow_filter *ff, const struct nio_flow *f)
{
	if (ff->has_src && !nio_prefix_contains(&ff->src, f->key.src))
		return false;
	if (ff->has_dst && !nio_prefix_contains(&ff->dst, f->key.dst))
		return false;
	return ff->pipeline < 0 || f->pipeline == ff->pipeline;
}

/* Workers paused: walk each table's chains (consistent now) into rows. */
static unsigned collect(struct netiod *d, const struct flow_filter *ff, struct flow_row *rows,
			unsigned *matched)
{
	unsigned n = 0;

	*matched = 0;
	for (unsigned w = 0; w < d->nworkers; w++) {
		const struct nio_flow_table *t = &d->workers[w].flows;

		for (uint32_t b = 0; t->buckets && b < t->nbuckets; b++)
			for (const struct nio_flow *f = t->buckets[b]; f; f = f->next) {
				if (!wanted(ff, f))
					continue;
				if (n < FLOW_SHOW_MAX)
					rows[n++] = (struct flow_row){ .f = *f, .worker = w };
				(*matched)++;
			}
	}
	return n;
}

static json_t *addr_json(const uint8_t a[16])
{
	char s[INET6_ADDRSTRLEN];

	nio_addr_format(a, s, sizeof(s));
	return json_string(s);
}

static json_t *row_json(const struct nio_config *c, const struct flow_row *r, uint64_t now)
{
	const struct nio_flow *f = &r->f;
	json_t *o = json_pack(
		"{s:i, s:i, s:o, s:i, s:o, s:i, s:o, s:o, s:b, s:I, s:I, s:I}", "worker",
		(int)r->worker, "proto", f->key.proto, "src", addr_json(f->key.src), "sport",
		f->key.sport, "dst", addr_json(f->key.dst), "dport", f->key.dport, "in",
		f->key.in_port < c->nports ? nio_json_text(c->ports[f->key.in_port]->name)
					   : json_null(),
		"pipeline",
		f->pipeline >= 0 && (unsigned)f->pipeline < c->npipelines
			? nio_json_text(c->pipelines[f->pipeline].name)
			: json_null(),
		/* false: only a classification cache here, another worker runs the flow */
		"attached", f->attached, "packets", (json_int_t)f->packets, "bytes",
		(json_int_t)f->bytes, "idle_ms",
		(json_int_t)(now > f->last_ns ? (now - f->last_ns) / 1000000 : 0));

	if (f->l2_ok && f->out_port < c->nports)
		json_object_set_new(o, "out", nio_json_text(c->ports[f->out_port]->name));
	return o;
}

json_t *nio_show_flows(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	const struct nio_config *c = d->running;
	struct flow_filter ff;
	struct flow_row *rows;
	unsigned n, matched;
	uint64_t t0, now;
	json_t *a;

	if (filter_of(c, req, &ff, err, errlen) < 0)
		return NULL;
	rows = malloc(FLOW_SHOW_MAX * sizeof(*rows));
	if (!rows)
		return nio_err(err, errlen, "out of memory"), NULL;
	t0 = nio_now_ns();
	if (nio_workers_pause(d, err, errlen) < 0) {
		free(rows);
		return NULL;
	}
	n = collect(d, &ff, rows, &matched);
	nio_workers_resume(d);
	now = nio_now_ns();
	a = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, row_json(c, &rows[i], now));
	free(rows);
	/* what the snapshot cost the datapath: how long the workers stood still */
	return json_pack("{s:i, s:b, s:I, s:o}", "matched", (int)matched, "truncated", matched > n,
			 "paused_us", (json_int_t)((now - t0) / 1000), "flows", a);
}

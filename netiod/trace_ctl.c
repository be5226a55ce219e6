/* The packet tracer's control requests: trace-start, -stop, -clear and -show (as JSON). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static const char *const kind_names[NIO_TRACE_KINDS] = {
#define _(sym, str) [NIO_TRACE_##sym] = str,
	foreach_nio_trace_step
#undef _
};

static const char *const verdict_names[] = { "pass", "drop", "consumed" };
static const char *const via_names[] = { "route", "flow-cache", "dst-mac" };

static const char *drop_name(unsigned why)
{
	if (why < NIO_DROP_MAX)
		return nio_drop_names[why];
	return why == NIO_TRACE_DROP_HANDOFF_FULL ? "handoff-full" : "?";
}

static json_t *port_name(const struct nio_config *c, unsigned i)
{
	return nio_json_text(i < c->nports ? c->ports[i]->name : "?");
}

static json_t *pipeline_name(const struct nio_config *c, unsigned i)
{
	return nio_json_text(i < c->npipelines ? c->pipelines[i].name : "?");
}

static json_t *addr_json(const uint8_t a[16])
{
	char buf[64];

	nio_addr_format(a, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *mac_json(const uint8_t m[6])
{
	char buf[18];

	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	return json_string(buf);
}

/* A service step: its name, verdict and, for a drop, the counter the service named. */
static void service_json(json_t *o, const struct nio_pipeline *pl, const struct nio_trace_step *s)
{
	const struct nio_service *svc = s->a < pl->nsvcs ? pl->svcs[s->a].svc : NULL;
	unsigned k;

	json_object_set_new(o, "service", nio_json_text(svc ? svc->name : "?"));
	json_object_set_new(o, "index", json_integer(s->a + 1));
	if (s->kind == NIO_TRACE_RELEASED)
		return;
	json_object_set_new(o, "verdict", json_string(s->x < 3 ? verdict_names[s->x] : "?"));
	if (s->x != NIO_V_DROP)
		return;
	for (k = 0; svc && svc->counter_names && svc->counter_names[k] && k + 1 < s->b; k++)
		;
	json_object_set_new(o, "reason",
			    s->b && svc && svc->counter_names && svc->counter_names[k]
				    ? json_string(svc->counter_names[k])
				    : json_string("service"));
}

/* The fields of one step, by kind; pl is the pipeline the packet runs in (NULL before one). */
static void step_fields(json_t *o, const struct nio_config *c, const struct nio_pipeline *pl,
			const struct nio_trace_step *s)
{
	switch (s->kind) {
	case NIO_TRACE_RX:
	case NIO_TRACE_TX:
		json_object_set_new(o, "port", port_name(c, s->a));
		json_object_set_new(o, "len", json_integer(s->b));
		break;
	case NIO_TRACE_PARSE:
		json_object_set_new(o, "len", json_integer(s->b));
		break;
	case NIO_TRACE_FLOW:
		json_object_set_new(o, "result", json_string(s->b ? "hit" : "miss"));
		json_object_set_new(o, "pipeline",
				    s->a ? pipeline_name(c, s->a - 1u) : json_null());
		break;
	case NIO_TRACE_HANDOFF:
		json_object_set_new(o, "to", json_integer(s->a));
		break;
	case NIO_TRACE_PIPELINE:
		json_object_set_new(o, "pipeline", pipeline_name(c, s->a));
		break;
	case NIO_TRACE_GUARD:
		json_object_set_new(o, "ttl", s->x ? json_integer(s->a) : json_string("kept"));
		break;
	case NIO_TRACE_ICMP:
		json_object_set_new(o, "about", json_string(drop_name(s->a)));
		json_object_set_new(o, "sent", json_boolean(s->x));
		break;
	case NIO_TRACE_SERVICE:
	case NIO_TRACE_RELEASED:
		if (pl)
			service_json(o, pl, s);
		break;
	case NIO_TRACE_ROUTE:
		json_object_set_new(o, "out", port_name(c, s->a));
		json_object_set_new(o, "from", json_string(s->x < 3 ? via_names[s->x] : "?"));
		if (s->x == NIO_TRACE_VIA_ROUTE)
			json_object_set_new(o, "via", addr_json(s->addr));
		break;
	case NIO_TRACE_NEIGH_WAIT:
		json_object_set_new(o, "out", port_name(c, s->a));
		json_object_set_new(o, "via", addr_json(s->addr));
		break;
	case NIO_TRACE_L2:
		json_object_set_new(o, "out", port_name(c, s->a));
		if (s->a < c->nports)
			json_object_set_new(o, "src", mac_json(c->ports[s->a]->mac));
		json_object_set_new(o, "dst", mac_json(s->mac));
		break;
	case NIO_TRACE_DROP:
		json_object_set_new(o, "reason", json_string(drop_name(s->a)));
		break;
	default:
		break;
	}
}

/* The packet as parsed; ICMP's type and code stand in for ports in the flow key. */
static json_t *key_json(const struct nio_flow_key *k)
{
	bool icmp = k->proto == 1 || k->proto == 58;

	return json_pack("{s:s, s:i, s:o, s:o, s:i, s:i}", "family",
			 k->family == 6 ? "ipv6" : "ipv4", "proto", k->proto, "src",
			 addr_json(k->src), "dst", addr_json(k->dst), icmp ? "type" : "sport",
			 k->sport, icmp ? "code" : "dport", k->dport);
}

static json_t *rec_json(const struct nio_config *c, const struct nio_trace_rec *r)
{
	const struct nio_pipeline *pl = NULL;
	json_t *steps, *o;

	o = json_pack("{s:i, s:i, s:b}", "id", (int)r->seq + 1, "worker", (int)r->worker, "done",
		      atomic_load_explicit(&r->done, memory_order_acquire));
	if (!json_is_true(json_object_get(o, "done")))
		return o; /* under way: its worker may be writing it */
	if (r->parsed)
		json_object_set_new(o, "packet", key_json(&r->key));
	steps = json_array();
	for (unsigned i = 0; i < r->nsteps; i++) {
		const struct nio_trace_step *s = &r->steps[i];
		json_t *st = json_pack("{s:s, s:i, s:I}", "step", kind_names[s->kind], "worker",
				       s->worker, "t_us", (json_int_t)s->us);

		if (s->kind == NIO_TRACE_PIPELINE && s->a < c->npipelines)
			pl = &c->pipelines[s->a];
		step_fields(st, c, pl, s);
		json_array_append_new(steps, st);
	}
	json_object_set_new(o, "steps", steps);
	if (r->lost)
		json_object_set_new(o, "steps_lost", json_integer(r->lost));
	return o;
}

static int by_seq(const void *a, const void *b)
{
	const struct nio_trace_rec *x = *(const struct nio_trace_rec *const *)a;
	const struct nio_trace_rec *y = *(const struct nio_trace_rec *const *)b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

static json_t *filter_json(const struct nio_config *c)
{
	switch (nio_trace.filter) {
	case NIO_TRACE_F_PIPELINE:
		return json_pack("{s:o}", "pipeline", pipeline_name(c, nio_trace.filter_idx));
	case NIO_TRACE_F_PORT:
		return json_pack("{s:o}", "port", port_name(c, nio_trace.filter_idx));
	default:
		return json_object();
	}
}

static unsigned begun(void)
{
	unsigned n = 0;

	for (unsigned w = 0; w < nio_trace.nworkers; w++)
		n += atomic_load_explicit(&nio_trace.bufs[w].n, memory_order_acquire);
	return n;
}

/* Every record begun, in the order they began; a record under way shows only its header. */
static json_t *trace_show(struct netiod *d)
{
	const struct nio_trace_rec **recs = calloc(NIO_TRACE_MAX, sizeof(*recs));
	unsigned n = 0;
	json_t *pkts = json_array(), *o;

	for (unsigned w = 0; recs && w < nio_trace.nworkers; w++) {
		unsigned k = atomic_load_explicit(&nio_trace.bufs[w].n, memory_order_acquire);

		for (unsigned i = 0; i < k && n < NIO_TRACE_MAX; i++)
			recs[n++] = &nio_trace.bufs[w].recs[i];
	}
	if (n)
		qsort(recs, n, sizeof(*recs), by_seq);
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(pkts, rec_json(d->running, recs[i]));
	free(recs);
	o = json_pack("{s:b, s:o, s:i, s:i, s:o}", "armed",
		      atomic_load(&nio_trace.armed) &&
			      atomic_load(&nio_trace.taken) < nio_trace.count,
		      "filter", filter_json(d->running), "count", (int)nio_trace.count, "traced",
		      (int)n, "packets", pkts);
	return o;
}

static int find_pipeline(const struct nio_config *c, const char *name)
{
	for (unsigned i = 0; i < c->npipelines; i++)
		if (!strcmp(c->pipelines[i].name, name))
			return (int)i;
	return -1;
}

static int find_port(const struct nio_config *c, const char *name)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (!strcmp(c->ports[i]->name, name))
			return (int)i;
	return -1;
}

/* {"pipeline": NAME} or {"port": NAME} or neither; a name must exist. */
static int parse_filter(const struct nio_config *c, json_t *req, enum nio_trace_filter *f,
			unsigned *idx, char *err, size_t errlen)
{
	json_t *pl = json_object_get(req, "pipeline"), *port = json_object_get(req, "port");
	int i;

	*f = NIO_TRACE_F_ANY;
	*idx = 0;
	if (pl && port)
		return nio_err(err, errlen, "trace-start takes \"pipeline\" or \"port\", not both");
	if ((pl && !json_is_string(pl)) || (port && !json_is_string(port)))
		return nio_err(err, errlen, "\"%s\" must be a string", pl ? "pipeline" : "port");
	if (pl && (i = find_pipeline(c, json_string_value(pl))) < 0)
		return nio_err(err, errlen, "no pipeline named '%s'", json_string_value(pl));
	if (port && (i = find_port(c, json_string_value(port))) < 0)
		return nio_err(err, errlen, "no port named '%s'", json_string_value(port));
	if (pl || port) {
		*f = pl ? NIO_TRACE_F_PIPELINE : NIO_TRACE_F_PORT;
		*idx = (unsigned)i;
	}
	return 0;
}

static json_t *trace_start(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	json_t *count = json_object_get(req, "count");
	enum nio_trace_filter f;
	unsigned idx;
	json_int_t n = NIO_TRACE_DEFAULT;

	if (count &&
	    (!json_is_integer(count) || (n = json_integer_value(count)) < 1 || n > NIO_TRACE_MAX))
		return nio_err(err, errlen, "\"count\" must be an integer from 1 to %d",
			       NIO_TRACE_MAX),
		       NULL;
	if (parse_filter(d->running, req, &f, &idx, err, errlen) < 0 ||
	    nio_workers_pause(d, err, errlen) < 0)
		return NULL;
	if (nio_trace_arm(d->nworkers, f, idx, (unsigned)n) < 0) {
		nio_workers_resume(d);
		return nio_err(err, errlen, "out of memory for %lld trace records", (long long)n),
		       NULL;
	}
	nio_workers_resume(d);
	return json_pack("{s:o, s:i}", "filter", filter_json(d->running), "count", (int)n);
}

/* Between workers paused: records in flight go stale, their buffers are freed. */
static json_t *trace_clear(struct netiod *d, char *err, size_t errlen)
{
	if (nio_workers_pause(d, err, errlen) < 0)
		return NULL;
	nio_trace_reset();
	nio_workers_resume(d);
	return json_object();
}

json_t *nio_trace_request(struct netiod *d, const char *cmd, json_t *req, char *err, size_t errlen)
{
	if (!strcmp(cmd, "trace-start"))
		return trace_start(d, req, err, errlen);
	if (!strcmp(cmd, "trace-stop")) {
		nio_trace_disarm();
		return json_pack("{s:i}", "traced", (int)begun());
	}
	if (!strcmp(cmd, "trace-clear"))
		return trace_clear(d, err, errlen);
	if (!strcmp(cmd, "trace-show"))
		return trace_show(d);
	nio_err(err, errlen, "unknown command '%s'", cmd);
	return NULL;
}

/* The control socket: one JSON request per line in, one JSON reply per line out (jansson). */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "show.h"
#include "trace.h"

#define CTL_MAX_REQUEST 65536
#define CTL_MAX_PENDING (1 << 20) /* reply bytes a client may leave unread before it is dropped */
#define CTL_PAUSE_MS	1000	  /* the listener rests this long after accept(2) failed */

struct control {
	struct netiod *d;
	struct evconnlistener *listener;
	struct event *resume; /* re-enables the listener after EMFILE/ENFILE */
	unsigned nconns;
	struct {
		uint64_t accepted, refused, slow_dropped, idle_closed, accept_errors;
	} stats;
	char path[108];
};

static json_t *control_stats(const struct control *ctl);

/* Any text that enters a reply goes through here (text.c). */
static json_t *text(const char *s)
{
	return nio_json_text(s);
}

static json_t *drops_json(const uint64_t *drops)
{
	json_t *o = json_object();

	for (int i = 0; i < NIO_DROP_MAX; i++)
		if (drops[i])
			json_object_set_new(o, nio_drop_names[i],
					    json_integer((json_int_t)drops[i]));
	return o;
}

/* An afxdp port's XDP program: what it redirected, and what it did with claimed frames while
 * netiod was away (the counters live in the program, across restarts). */
static json_t *xdp_stats(const struct nio_port *p)
{
	uint64_t v[NIO_XDP_NSTATS];

	nio_afxdp_xdp_stats(p, v);
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "redirected", (json_int_t)v[0],
			 "fail_dropped", (json_int_t)v[1], "fail_passed", (json_int_t)v[2], "kept",
			 (json_int_t)v[3], "unclaimed", (json_int_t)v[4]);
}

static json_t *port_stats(const struct nio_port *p, unsigned nworkers)
{
	struct nio_port_stats sum;
	const struct nio_port_stats *s = &sum;
	json_t *o;

	nio_port_stats_sum(p, nworkers, &sum);
	o = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "name",
		      text(p->name), "rx_packets", (json_int_t)s->rx_packets, "rx_bytes",
		      (json_int_t)s->rx_bytes, "tx_packets", (json_int_t)s->tx_packets, "tx_bytes",
		      (json_int_t)s->tx_bytes, "rx_unclaimed", (json_int_t)s->rx_unclaimed,
		      "rx_ignored", (json_int_t)s->rx_ignored, "poll_errors",
		      (json_int_t)s->poll_errors, "flows_hinted", (json_int_t)s->flows_hinted,
		      "rx_copies", (json_int_t)s->rx_copies, "tx_copies", (json_int_t)s->tx_copies,
		      "drops", drops_json(s->drops));
	json_object_set_new(o, "rx_ring_freezes", json_integer((json_int_t)s->rx_ring_freezes));
	if (o && p->open && p->ops == &nio_port_afxdp_ops)
		json_object_set_new(o, "xdp", xdp_stats(p));
	return o;
}

/* One part of a service instance (nio_obj): kind, name, labels as members, then its numbers
 * under "counters" and the names of those that are current values under "gauges" (the shape
 * of a service's own, so 'netioctl stats' subtracts a clear's baseline alike). */
static void object_json(void *ctx, const struct nio_obj *o)
{
	json_t *obj = json_pack("{s:o, s:o}", "kind", text(o->kind), "name", text(o->name));
	json_t *ctr = json_object(), *g = json_array();

	for (unsigned i = 0; i < o->nlabels && i < NIO_OBJ_MAX_VALUES; i++)
		if (strcmp(o->labels[2 * i], "kind") && strcmp(o->labels[2 * i], "name"))
			json_object_set_new(obj, o->labels[2 * i], text(o->labels[2 * i + 1]));
	for (unsigned i = 0; i < o->n && i < NIO_OBJ_MAX_VALUES; i++) {
		json_object_set_new(ctr, o->keys[i], json_integer((json_int_t)o->values[i]));
		if (o->gauges & (UINT64_C(1) << i))
			json_array_append_new(g, text(o->keys[i]));
	}
	json_object_set_new(obj, "counters", ctr);
	json_object_set_new(obj, "gauges", g);
	json_array_append_new(ctx, obj);
}

static json_t *svc_stats(const struct nio_svc_inst *si, unsigned nworkers)
{
	struct nio_svc_stats sum;
	const struct nio_svc_stats *s = &sum;
	json_t *o;

	nio_svc_stats_sum(si, nworkers, &sum);
	o = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "name", text(si->svc->name), "packets",
		      (json_int_t)s->packets, "bytes", (json_int_t)s->bytes, "passed",
		      (json_int_t)s->passed, "dropped", (json_int_t)s->dropped, "consumed",
		      (json_int_t)s->consumed, "dequeued", (json_int_t)s->dequeued);
	json_t *ctr = json_object();
	char *status;

	if (si->svc->counter_names && si->svc->counters) {
		const uint64_t *v = nio_svc_counters(si);

		for (unsigned i = 0; si->svc->counter_names[i]; i++)
			json_object_set_new(ctr,
					    si->svc->counter_names[i], /* names are C literals */
					    json_integer((json_int_t)nio_svc_counter(si, v, i)));
	}
	json_object_set_new(o, "counters", ctr);
	if (si->svc->gauge_names) {
		json_t *g = json_array();

		for (unsigned i = 0; si->svc->gauge_names[i]; i++)
			json_array_append_new(g, text(si->svc->gauge_names[i]));
		json_object_set_new(o, "gauges", g);
	}
	status = nio_svc_show(si);
	if (status)
		json_object_set_new(o, "status", text(status));
	free(status);
	if (si->svc->objects) {
		json_t *objs = json_array();

		if (nio_svc_objects(si, object_json, objs))
			json_object_set_new(o, "objects", objs);
		else
			json_decref(objs);
	}
	return o;
}

static json_t *pipeline_stats(const struct nio_pipeline *pl, unsigned nworkers)
{
	struct nio_pipeline_stats sum;
	const struct nio_pipeline_stats *s = &sum;
	json_t *svcs = json_array();
	unsigned stage;
	uint64_t captured;
	const char *file = nio_capture_file(pl, &stage, &captured);
	json_t *o;

	nio_pipeline_stats_sum(pl, nworkers, &sum);
	for (unsigned i = 0; i < pl->nsvcs; i++)
		json_array_append_new(svcs, svc_stats(&pl->svcs[i], nworkers));
	o = json_pack("{s:o, s:I, s:I, s:I, s:I, s:o, s:o}", "name", text(pl->name), "packets",
		      (json_int_t)s->packets, "bytes", (json_int_t)s->bytes, "tx_packets",
		      (json_int_t)s->tx_packets, "tx_bytes", (json_int_t)s->tx_bytes, "drops",
		      drops_json(s->drops), "services", svcs);
	json_object_set_new(o, "neigh_queued", json_integer((json_int_t)s->neigh_queued));
	json_object_set_new(o, "worker", json_integer(pl->owner));
	json_object_set_new(o, "icmp_errors", json_integer((json_int_t)s->icmp_errors));
	json_object_set_new(o, "icmp_suppressed", json_integer((json_int_t)s->icmp_suppressed));
	if (file)
		json_object_set_new(o, "capture",
				    json_pack("{s:o, s:i, s:I}", "file", text(file), "stage",
					      (int)stage, "captured", (json_int_t)captured));
	return o;
}

/* One worker's own figures: its loop, flow table, handoffs and its rows of every counter. */
static json_t *worker_stats(struct netiod *d, unsigned id)
{
	const struct nio_config *c = d->running;
	struct nio_worker *w = &d->workers[id];
	const struct nio_flow_table *ft = &w->flows;
	json_t *ports = json_array(), *pls = json_array();

	for (unsigned i = 0; i < c->nports; i++) {
		const struct nio_port_stats *s = &c->ports[i]->stats[id];

		json_array_append_new(ports, json_pack("{s:o, s:I, s:I, s:I, s:I}", "name",
						       text(c->ports[i]->name), "rx_packets",
						       (json_int_t)s->rx_packets, "rx_bytes",
						       (json_int_t)s->rx_bytes, "tx_packets",
						       (json_int_t)s->tx_packets, "tx_bytes",
						       (json_int_t)s->tx_bytes));
	}
	for (unsigned i = 0; i < c->npipelines; i++) {
		const struct nio_pipeline_stats *s = &c->pipelines[i].stats[id];

		json_array_append_new(pls, json_pack("{s:o, s:I, s:I, s:I}", "name",
						     text(c->pipelines[i].name), "packets",
						     (json_int_t)s->packets, "bytes",
						     (json_int_t)s->bytes, "tx_packets",
						     (json_int_t)s->tx_packets));
	}
	return json_pack("{s:i, s:i, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, "
			 "s:o, s:o}",
			 "id", (int)id, "cpu", w->cpu, "loops", (json_int_t)atomic_load(&w->loops),
			 "busy_loops", (json_int_t)w->busy_loops, "idle_sleeps",
			 (json_int_t)w->idle_sleeps, "flows", "active", (json_int_t)ft->count,
			 "lookups", (json_int_t)ft->lookups, "inserts", (json_int_t)ft->inserts,
			 "handoff", "out", (json_int_t)w->stats.handoff_out, "in",
			 (json_int_t)w->stats.handoff_in, "full", (json_int_t)w->stats.handoff_full,
			 "returned", (json_int_t)w->stats.returned, "ports", ports, "pipelines",
			 pls);
}

/* The flow tables and loop counters of every worker, added up. */
static json_t *totals(struct netiod *d)
{
	uint64_t v[8] = { 0 };

	for (unsigned i = 0; i < d->nworkers; i++) {
		const struct nio_worker *w = &d->workers[i];

		v[0] += w->flows.count;
		v[1] += w->flows.lookups;
		v[2] += w->flows.hits;
		v[3] += w->flows.inserts;
		v[4] += w->flows.evictions;
		v[5] += atomic_load(&w->loops);
		v[6] += w->busy_loops;
		v[7] += w->idle_sleeps;
	}
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "flows", "active",
			 (json_int_t)v[0], "lookups", (json_int_t)v[1], "hits", (json_int_t)v[2],
			 "inserts", (json_int_t)v[3], "evictions", (json_int_t)v[4], "worker",
			 "loops", (json_int_t)v[5], "busy_loops", (json_int_t)v[6], "idle_sleeps",
			 (json_int_t)v[7]);
}

static json_t *cmd_stats(struct netiod *d)
{
	const struct nio_config *c = d->running;
	json_t *ports = json_array(), *pls = json_array(), *workers = json_array();
	json_t *o = totals(d);

	for (unsigned i = 0; i < c->nports; i++)
		json_array_append_new(ports, port_stats(c->ports[i], d->nworkers));
	for (unsigned i = 0; i < nio_config_nstages(c); i++) /* the ports' shapers too */
		if (nio_config_stage(c, i))
			json_array_append_new(pls,
					      pipeline_stats(nio_config_stage(c, i), d->nworkers));
	for (unsigned i = 0; i < d->nworkers; i++)
		json_array_append_new(workers, worker_stats(d, i));
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "pipelines", pls);
	json_object_set_new(o, "workers", workers);
	return o;
}

static json_t *cmd_status(struct netiod *d)
{
	bool inputs_done = true;

	for (unsigned i = 0; i < d->running->nports; i++) {
		const struct nio_port *p = d->running->ports[i];

		if (p->ops->eof && !p->ops->eof((struct nio_port *)p))
			inputs_done = false;
		if (!p->ops->eof)
			inputs_done = false;
	}
	return json_pack("{s:s, s:i, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:b, s:i, s:o}", "version",
			 NETIOD_VERSION, "pid", (int)getpid(), "config", text(d->conf_file),
			 "generation", (json_int_t)d->running->generation, "uptime_ms",
			 (json_int_t)((nio_now_ns() - d->start_ns) / 1000000), "reloads",
			 (json_int_t)d->reloads, "reload_failures", (json_int_t)d->reload_failures,
			 "last_error", text(d->last_error), "plugin_dir", text(d->plugin_dir),
			 "inputs_done", inputs_done, "workers", (int)d->nworkers, "control",
			 control_stats(d->control));
}

/* How frames reach netiod's buffers: AF_XDP sockets bound zero-copy (the NIC's DMA lands in
 * the UMEM) or in copy mode (the kernel copies into it); the other drivers copy. */
static const char *port_mode(const struct nio_port *p)
{
	return p->ops == &nio_port_afxdp_ops && nio_afxdp_zerocopy(p) ? "zero-copy" : "copy";
}

static json_t *cmd_ports(struct netiod *d)
{
	json_t *a = json_array();
	char mac[18];

	for (unsigned i = 0; i < d->running->nports; i++) {
		const struct nio_port *p = d->running->ports[i];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1],
			 p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
		json_array_append_new(
			a,
			json_pack("{s:o, s:s, s:o, s:i, s:i, s:s, s:s, s:b, s:s, s:s}", "name",
				  text(p->name), "driver", p->ops->name, "device",
				  text(nio_port_source(p)), "ifindex", p->ifindex, "mtu", p->mtu,
				  "mac", mac, "state", atomic_load(&p->gone) ? "gone" : "up", "eof",
				  p->ops->eof && p->ops->eof((struct nio_port *)p), "claims",
				  nio_port_is_tap(p) ? "tap" : "enforced", "mode", port_mode(p)));
	}
	return a;
}

/* The tap ports (afpacket, pcap) a pipeline touches: the kernel sees those packets too. */
static json_t *pipeline_taps(const struct nio_config *c, const struct nio_pipeline *pl)
{
	const struct nio_port *taps[NIO_MAX_PORTS];
	unsigned n = nio_pipeline_taps(c, pl, taps, NIO_MAX_PORTS);
	json_t *a = json_array();

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, text(taps[i]->name));
	return a;
}

static const char *pipeline_secure(const struct nio_config *c, const struct nio_pipeline *pl)
{
	const struct nio_port *taps[1];

	if (pl->fail_mode != NIO_FAIL_SECURE)
		return "-";
	return nio_pipeline_taps(c, pl, taps, 1) ? "not-enforced" : "enforced";
}

static json_t *cmd_pipelines(struct netiod *d)
{
	const struct nio_config *c = d->running;
	json_t *a = json_array();

	for (unsigned i = 0; i < c->npipelines; i++) {
		const struct nio_pipeline *pl = &c->pipelines[i];
		json_t *svcs = json_array();

		for (unsigned s = 0; s < pl->nsvcs; s++)
			json_array_append_new(svcs, text(pl->svcs[s].svc->name));
		json_array_append_new(
			a,
			json_pack("{s:o, s:o, s:o, s:s, s:o, s:s, s:o}", "name", text(pl->name),
				  "in",
				  text(pl->match.in_port >= 0 ? c->ports[pl->match.in_port]->name
							      : "any"),
				  "out",
				  text(pl->out_port >= 0 ? c->ports[pl->out_port]->name : "route"),
				  "fail_mode",
				  pl->fail_mode == NIO_FAIL_SECURE ? "secure" : "passthrough",
				  "services", svcs, "secure", pipeline_secure(c, pl), "taps",
				  pipeline_taps(c, pl)));
	}
	return a;
}

/* Where each instance of plugin p runs: in netiod, or isolated (pid, state, restarts). */
static json_t *svc_running(struct netiod *d, const struct nio_plugin *p)
{
	const struct nio_config *c = d->running;
	json_t *a = json_array();
	char name[NIO_NAME_MAX * 2 + 2];

	for (unsigned i = 0; c && i < c->npipelines; i++)
		for (unsigned s = 0; s < c->pipelines[i].nsvcs; s++) {
			const struct nio_svc_inst *si = &c->pipelines[i].svcs[s];

			if (si->plugin != p)
				continue;
			snprintf(name, sizeof(name), "%s/%s", c->pipelines[i].name, p->name);
			json_array_append_new(a, si->iso ? nio_iso_json(si->iso)
							 : json_pack("{s:o, s:b, s:i, s:s}",
								     "instance", text(name),
								     "isolated", 0, "pid",
								     (int)getpid(), "state", "up"));
		}
	return a;
}

static json_t *cmd_services(struct netiod *d)
{
	json_t *a = json_array();

	for (struct nio_plugin *p = d->plugins; p; p = p->next)
		json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:i, s:o}", "name",
						   text(p->name), "version", text(p->svc->version),
						   "path", text(p->path), "description",
						   text(p->svc->description), "instances",
						   (int)p->refs, "running", svc_running(d, p)));
	return a;
}

static const char *str_arg(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *cmd_capture_start(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	const char *pl = str_arg(req, "pipeline"), *file = str_arg(req, "file");
	json_t *count = json_object_get(req, "count");

	if (!pl || !file)
		return nio_err(err, errlen, "capture-start needs \"pipeline\" and \"file\""), NULL;
	if (count && (!json_is_integer(count) || json_integer_value(count) < 0))
		return nio_err(err, errlen, "\"count\" must be a non-negative integer"), NULL;
	if (nio_capture_start(d, pl, str_arg(req, "stage"), file,
			      count ? (uint64_t)json_integer_value(count) : 0, err, errlen) < 0)
		return NULL;
	return json_pack("{s:o, s:o}", "pipeline", text(pl), "file", text(file));
}

static json_t *cmd_capture_stop(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	const char *pl = str_arg(req, "pipeline");
	uint64_t n;

	if (!pl)
		return nio_err(err, errlen, "capture-stop needs \"pipeline\""), NULL;
	if (nio_capture_stop(d, pl, &n, err, errlen) < 0)
		return NULL;
	return json_pack("{s:o, s:I}", "pipeline", text(pl), "captured", (json_int_t)n);
}

/* Dispatch one request; returns the result or NULL with err set. */
static json_t *dispatch(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	const char *cmd = str_arg(req, "cmd"), *a;
	struct nio_plugin *p;

	if (!cmd)
		return nio_err(err, errlen, "request has no \"cmd\" string"), NULL;
	if (!strcmp(cmd, "status"))
		return cmd_status(d);
	if (!strcmp(cmd, "stats"))
		return nio_stats_view(cmd_stats(d), req, err, errlen);
	if (!strcmp(cmd, "config-show"))
		return nio_show_config(d, err, errlen);
	if (!strcmp(cmd, "route-show"))
		return nio_show_routes(d, req, err, errlen);
	if (!strcmp(cmd, "route-get"))
		return nio_route_get(d, req, err, errlen);
	if (!strcmp(cmd, "neigh-show"))
		return nio_show_neighs(d);
	if (!strcmp(cmd, "flow-show"))
		return nio_show_flows(d, req, err, errlen);
	if (!strcmp(cmd, "port-list"))
		return cmd_ports(d);
	if (!strcmp(cmd, "pipeline-list"))
		return cmd_pipelines(d);
	if (!strcmp(cmd, "service-list"))
		return cmd_services(d);
	/* a trace changes no configuration, opens no file and its memory is bounded */
	if (!strncmp(cmd, "trace-", 6))
		return nio_trace_request(d, cmd, req, err, errlen);
	if (d->ctl_read_only)
		return nio_err(err, errlen, "'%s' is not allowed on a read-only control channel",
			       cmd),
		       NULL;
	if (!strcmp(cmd, "stats-clear"))
		return nio_stats_clear(cmd_stats(d));
	if (!strcmp(cmd, "reload")) {
		a = str_arg(req, "file");
		return nio_reload(d, a ? a : d->conf_file, err, errlen) < 0
			       ? NULL
			       : json_pack("{s:I}", "generation",
					   (json_int_t)d->running->generation);
	}
	if (!strcmp(cmd, "service-load")) {
		if (!(a = str_arg(req, "path")))
			return nio_err(err, errlen, "service-load needs \"path\""), NULL;
		return nio_plugin_load(d, a, &p, err, errlen) < 0
			       ? NULL
			       : json_pack("{s:o, s:o}", "name", text(p->name), "path",
					   text(p->path));
	}
	if (!strcmp(cmd, "service-unload")) {
		if (!(a = str_arg(req, "name")))
			return nio_err(err, errlen, "service-unload needs \"name\""), NULL;
		return nio_plugin_unload(d, a, err, errlen) < 0 ? NULL : json_object();
	}
	if (!strcmp(cmd, "service-replace")) {
		if (!(a = str_arg(req, "name")))
			return nio_err(err, errlen, "service-replace needs \"name\""), NULL;
		return nio_service_replace(d, a, str_arg(req, "path"), err, errlen) < 0
			       ? NULL
			       : json_pack("{s:o}", "name", text(a));
	}
	if (!strcmp(cmd, "capture-start"))
		return cmd_capture_start(d, req, err, errlen);
	if (!strcmp(cmd, "capture-stop"))
		return cmd_capture_stop(d, req, err, errlen);
	snprintf(err, errlen, "unknown command '%s'", cmd);
	return NULL;
}

static char *encode(json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	json_decref(msg);
	return s;
}

/* One request line in, one malloc()ed reply (no newline) out; never fails on bad input. */
char *nio_control_request(struct netiod *d, const char *line)
{
	char err[512] = "";
	json_error_t jerr;
	json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr), *res;
	char *out;

	if (!req || !json_is_object(req)) {
		out = encode(json_pack("{s:b, s:o}", "ok", 0, "error",
				       text(req ? "request is not a JSON object" : jerr.text)));
		json_decref(req);
		return out;
	}
	res = dispatch(d, req, err, sizeof(err));
	if (res)
		out = encode(json_pack("{s:b, s:o}", "ok", 1, "result", res));
	else
		out = encode(
			json_pack("{s:b, s:o}", "ok", 0, "error", text(err[0] ? err : "failed")));
	json_decref(req);
	return out;
}

/* ------------------------------------------------------------------ connections */

static void conn_close(struct control *ctl, struct bufferevent *bev)
{
	bufferevent_free(bev);
	ctl->nconns--;
}

static void reply(struct bufferevent *bev, char *s)
{
	if (s) {
		bufferevent_write(bev, s, strlen(s));
		bufferevent_write(bev, "\n", 1);
		free(s);
	}
}

/*
 * A client that keeps asking without reading its replies would make them pile up here: past
 * CTL_MAX_PENDING unread bytes, with more requests waiting, it is dropped. One reply of any
 * size still goes out (a flow show of thousands of flows is several MiB).
 */
static void on_read(struct bufferevent *bev, void *arg)
{
	struct control *ctl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while (evbuffer_get_length(bufferevent_get_output(bev)) <= CTL_MAX_PENDING &&
	       (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		reply(bev, nio_control_request(ctl->d, line));
		free(line);
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) > CTL_MAX_PENDING &&
	    evbuffer_get_length(in)) {
		ctl->stats.slow_dropped++;
		log_warnx("control: dropping a client that leaves more than %d reply bytes unread",
			  CTL_MAX_PENDING);
		conn_close(ctl, bev);
		return;
	}
	if (evbuffer_get_length(in) > CTL_MAX_REQUEST) {
		reply(bev, encode(json_pack("{s:b, s:s}", "ok", 0, "error", "request too long")));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void on_event(struct bufferevent *bev, short events, void *arg)
{
	struct control *ctl = arg;

	if (events & BEV_EVENT_TIMEOUT)
		ctl->stats.idle_closed++;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_close(ctl, bev);
}

/* Past the connection limit: one error line, best effort, then close. */
static void refuse(struct control *ctl, evutil_socket_t fd, unsigned max)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg),
			 "{\"ok\":false,\"error\":\"too many control connections (at most %u)\"}\n",
			 max);

	(void)!send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	if (!ctl->stats.refused++)
		log_warnx("control: refusing connections past control-max-connections (%u)", max);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct control *ctl = arg;
	const struct nio_config *c = ctl->d->running;
	struct timeval idle = { .tv_sec = c->ctl_idle_ms / 1000,
				.tv_usec = (c->ctl_idle_ms % 1000) * 1000 };
	struct bufferevent *bev;

	(void)sa;
	(void)len;
	if (ctl->nconns >= c->ctl_max_conns) {
		refuse(ctl, fd, c->ctl_max_conns);
		return;
	}
	bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	ctl->nconns++;
	ctl->stats.accepted++;
	bufferevent_setcb(bev, on_read, NULL, on_event, ctl);
	bufferevent_set_timeouts(bev, &idle, &idle); /* a silent or non-reading client goes */
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/*
 * accept(2) failed for a reason retrying will not cure at once (EMFILE, ENFILE, ENOBUFS): the
 * pending connection keeps the socket readable, so a listener left enabled would spin the main
 * thread. It rests for CTL_PAUSE_MS instead; connections wait in the backlog meanwhile.
 */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct control *ctl = arg;
	const struct timeval pause = { .tv_sec = CTL_PAUSE_MS / 1000,
				       .tv_usec = (CTL_PAUSE_MS % 1000) * 1000 };
	int e = EVUTIL_SOCKET_ERROR();

	ctl->stats.accept_errors++;
	log_warnx("control: accept: %s; pausing the listener for %d ms", strerror(e), CTL_PAUSE_MS);
	evconnlistener_disable(l);
	evtimer_add(ctl->resume, &pause);
}

static void on_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct control *ctl = arg;

	(void)fd;
	(void)ev;
	evconnlistener_enable(ctl->listener);
}

static json_t *control_stats(const struct control *ctl)
{
	if (!ctl) /* no socket (the control fuzzer calls nio_control_request directly) */
		return json_object();
	return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}", "connections", (int)ctl->nconns,
			 "accepted", (json_int_t)ctl->stats.accepted, "refused",
			 (json_int_t)ctl->stats.refused, "slow_dropped",
			 (json_int_t)ctl->stats.slow_dropped, "idle_closed",
			 (json_int_t)ctl->stats.idle_closed, "accept_errors",
			 (json_int_t)ctl->stats.accept_errors);
}

/* Refuse to steal the socket of a running daemon; remove a stale one. */
static int claim_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), live;

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	if (live) {
		log_warnx("control socket %s: another netiod is running", path);
		return -1;
	}
	unlink(path);
	return 0;
}

/* The socket's directory and owner follow user and control-group (privs.c). */
static int socket_privs(struct netiod *d, bool bound)
{
	const struct nio_privs *p = &d->running->privs;
	char why[256];

	if ((bound ? nio_privs_socket(d->socket_path, p, why, sizeof(why))
		   : nio_privs_socket_dir(d->socket_path, p, why, sizeof(why))) < 0) {
		log_warnx("control socket: %s", why);
		return -1;
	}
	return 0;
}

int nio_control_init(struct netiod *d)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;

	if (!ctl || strlen(d->socket_path) >= sizeof(sa.sun_path) || socket_privs(d, false) < 0 ||
	    claim_path(d->socket_path) < 0) {
		free(ctl);
		return -1;
	}
	ctl->d = d;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->socket_path);
	snprintf(ctl->path, sizeof(ctl->path), "%s", d->socket_path);
	ctl->resume = evtimer_new(d->base, on_resume, ctl);
	old = umask(0117); /* socket mode 0660: netiod's user and the control group */
	ctl->listener = evconnlistener_new_bind(d->base, on_accept, ctl,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
						(struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (!ctl->listener || !ctl->resume || socket_privs(d, true) < 0) {
		if (!ctl->listener || !ctl->resume)
			log_warn("control socket %s", d->socket_path);
		if (ctl->listener)
			evconnlistener_free(ctl->listener);
		if (ctl->resume)
			event_free(ctl->resume);
		free(ctl);
		return -1;
	}
	evconnlistener_set_error_cb(ctl->listener, on_accept_error);
	d->control = ctl;
	return 0;
}

void nio_control_fini(struct netiod *d)
{
	struct control *ctl = d->control;

	if (!ctl)
		return;
	nio_stats_view_fini();
	evconnlistener_free(ctl->listener);
	event_free(ctl->resume);
	unlink(ctl->path);
	free(ctl);
	d->control = NULL;
}

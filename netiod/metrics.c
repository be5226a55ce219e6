/* Prometheus text exposition of every counter over HTTP (evhttp), for localhost scrapers.
 * Valid text format 0.0.4 (promtool check metrics runs on it in make check): each family is
 * one contiguous group after its HELP and TYPE, counters and only counters end in _total,
 * label values are escaped UTF-8. Counters never go back: 'netioctl stats clear' clears only
 * what netioctl shows. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <netio/ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netiod.h"

struct metrics {
	struct evhttp *http;
};

static void family(struct evbuffer *b, const char *name, const char *type, const char *text)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A label value: \ " and newline escaped, a byte that is not UTF-8 as U+FFFD. */
static void label(struct evbuffer *b, const char *key, const char *v, bool first)
{
	evbuffer_add_printf(b, "%s%s=\"", first ? "" : ",", key);
	while (*v) {
		size_t n = nio_utf8_len((const unsigned char *)v);

		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else if (n)
			evbuffer_add(b, v, n);
		else
			evbuffer_add(b, "\xef\xbf\xbd", 3);
		v += n ? n : 1;
	}
	evbuffer_add(b, "\"", 1);
}

/* name{k1="v1"[,k2="v2"[,k3="v3"]]} value: labels given as a NULL-ended key, value list */
static void sample(struct evbuffer *b, const char *name, uint64_t v, const char *const *kv)
{
	evbuffer_add_printf(b, "%s{", name);
	for (unsigned i = 0; kv[i]; i += 2)
		label(b, kv[i], kv[i + 1], i == 0);
	evbuffer_add_printf(b, "} %llu\n", (unsigned long long)v);
}

static const struct {
	const char *name, *text;
	size_t off;
} port_ctr[] = {
	{ "rx_packets", "frames received", offsetof(struct nio_port_stats, rx_packets) },
	{ "rx_bytes", "bytes received", offsetof(struct nio_port_stats, rx_bytes) },
	{ "tx_packets", "frames sent", offsetof(struct nio_port_stats, tx_packets) },
	{ "tx_bytes", "bytes sent", offsetof(struct nio_port_stats, tx_bytes) },
	{ "rx_unclaimed", "frames matching no pipeline, left to the kernel",
	  offsetof(struct nio_port_stats, rx_unclaimed) },
	{ "rx_ignored", "non-IP frames left to the kernel",
	  offsetof(struct nio_port_stats, rx_ignored) },
	{ "flows_hinted", "new flows classified by the claim id the driver read",
	  offsetof(struct nio_port_stats, flows_hinted) },
	{ "rx_ring_freezes", "times the kernel found the RX ring full and froze it (afpacket)",
	  offsetof(struct nio_port_stats, rx_ring_freezes) },
	{ "rx_copies", "received frames copied from the driver's ring into a packet buffer",
	  offsetof(struct nio_port_stats, rx_copies) },
	{ "tx_copies", "sent frames copied into the driver's TX ring (not moved in place)",
	  offsetof(struct nio_port_stats, tx_copies) },
};

static uint64_t field(const void *s, size_t off)
{
	return *(const uint64_t *)(const void *)((const char *)s + off);
}

static void port_metrics(struct evbuffer *b, const struct nio_config *c, unsigned nworkers)
{
	struct nio_port_stats sum[NIO_MAX_PORTS];
	char name[64];

	for (unsigned i = 0; i < c->nports; i++)
		nio_port_stats_sum(c->ports[i], nworkers, &sum[i]);
	for (size_t k = 0; k < sizeof(port_ctr) / sizeof(port_ctr[0]); k++) {
		snprintf(name, sizeof(name), "netio_port_%s_total", port_ctr[k].name);
		family(b, name, "counter", port_ctr[k].text);
		for (unsigned i = 0; i < c->nports; i++)
			sample(b, name, field(&sum[i], port_ctr[k].off),
			       (const char *[]){ "port", c->ports[i]->name, NULL });
	}
	family(b, "netio_port_drops_total", "counter",
	       "frames dropped at input, by reason (rx-ring-full: by the kernel, the RX ring was "
	       "full)");
	for (unsigned i = 0; i < c->nports; i++)
		for (int r = 0; r < NIO_DROP_MAX; r++)
			if (sum[i].drops[r])
				sample(b, "netio_port_drops_total", sum[i].drops[r],
				       (const char *[]){ "port", c->ports[i]->name, "reason",
							 nio_drop_names[r], NULL });
}

static const struct {
	const char *name, *text;
	size_t off;
} pl_ctr[] = {
	{ "packets", "packets entering the pipeline",
	  offsetof(struct nio_pipeline_stats, packets) },
	{ "bytes", "bytes entering the pipeline", offsetof(struct nio_pipeline_stats, bytes) },
	{ "tx_packets", "packets the pipeline sent",
	  offsetof(struct nio_pipeline_stats, tx_packets) },
	{ "tx_bytes", "bytes the pipeline sent", offsetof(struct nio_pipeline_stats, tx_bytes) },
	{ "neigh_queued", "packets held until the kernel resolved the next hop",
	  offsetof(struct nio_pipeline_stats, neigh_queued) },
	{ "icmp_errors", "ICMP errors sent back",
	  offsetof(struct nio_pipeline_stats, icmp_errors) },
	{ "icmp_suppressed",
	  "ICMP errors not sent: multicast/broadcast, not one host, about an error or a fragment",
	  offsetof(struct nio_pipeline_stats, icmp_suppressed) },
};

static void pipeline_metrics(struct evbuffer *b, const struct nio_config *c, unsigned nworkers)
{
	unsigned n = nio_config_nstages(c); /* the ports' shapers (egress:PORT) too */
	struct nio_pipeline_stats *st = calloc(n ? n : 1, sizeof(*st));
	char name[64];

	if (!st)
		return;
	for (unsigned i = 0; i < n; i++)
		if (nio_config_stage(c, i))
			nio_pipeline_stats_sum(nio_config_stage(c, i), nworkers, &st[i]);
	for (size_t k = 0; k < sizeof(pl_ctr) / sizeof(pl_ctr[0]); k++) {
		snprintf(name, sizeof(name), "netio_pipeline_%s_total", pl_ctr[k].name);
		family(b, name, "counter", pl_ctr[k].text);
		for (unsigned i = 0; i < n; i++)
			if (nio_config_stage(c, i))
				sample(b, name, field(&st[i], pl_ctr[k].off),
				       (const char *[]){ "pipeline", nio_config_stage(c, i)->name,
							 NULL });
	}
	family(b, "netio_pipeline_drops_total", "counter", "packets dropped, by reason");
	for (unsigned i = 0; i < n; i++)
		for (int r = 0; r < NIO_DROP_MAX; r++)
			if (st[i].drops[r])
				sample(b, "netio_pipeline_drops_total", st[i].drops[r],
				       (const char *[]){ "pipeline", nio_config_stage(c, i)->name,
							 "reason", nio_drop_names[r], NULL });
	free(st);
}

/* One family over every service instance; what picks the samples: the engine's packet and
 * drop counts, or the plugin's own counters (gauges: those the plugin declares as such). */
enum svc_family { SVC_PACKETS, SVC_DROPPED, SVC_COUNTERS, SVC_GAUGES };

static void service_samples(struct evbuffer *b, const char *name, const struct nio_pipeline *pl,
			    const struct nio_svc_inst *si, unsigned nworkers, enum svc_family f)
{
	const char *const *names = si->svc->counter_names;
	const uint64_t *v = nio_svc_counters(si);
	struct nio_svc_stats st;

	if (f == SVC_PACKETS || f == SVC_DROPPED) {
		nio_svc_stats_sum(si, nworkers, &st);
		sample(b, name, f == SVC_PACKETS ? st.packets : st.dropped,
		       (const char *[]){ "pipeline", pl->name, "service", si->svc->name, NULL });
		return;
	}
	for (unsigned k = 0; names && v && names[k]; k++)
		if (nio_svc_is_gauge(si->svc, names[k]) == (f == SVC_GAUGES))
			sample(b, name, nio_svc_counter(si, v, k),
			       (const char *[]){ "pipeline", pl->name, "service", si->svc->name,
						 f == SVC_GAUGES ? "name" : "counter", names[k],
						 NULL });
}

/* Parts of service instances (nio_obj), one sample per number: the family of counters or of
 * gauges. A plugin's label is kept only under a valid name that is not one of ours. */
struct obj_ctx {
	struct evbuffer *b;
	const char *family, *pipeline, *service;
	bool gauges;
};

static bool own_label(const char *k)
{
	static const char *const ours[] = { "pipeline", "service", "kind", "object",
					    "counter",	"name",	   NULL };

	if (!*k || !((*k >= 'a' && *k <= 'z') || *k == '_'))
		return false;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	for (unsigned i = 0; ours[i]; i++)
		if (!strcmp(k, ours[i]))
			return false;
	return true;
}

static unsigned kv_add(const char **kv, unsigned n, const char *k, const char *v)
{
	kv[n] = k;
	kv[n + 1] = v;
	return n + 2;
}

static void object_samples(void *arg, const struct nio_obj *o)
{
	const struct obj_ctx *x = arg;
	const char *kv[2 * (NIO_OBJ_MAX_VALUES + 6) + 1];
	unsigned n = 0, fixed;

	if (o->flags & NIO_OBJ_F_NO_METRICS)
		return;
	n = kv_add(kv, n, "pipeline", x->pipeline);
	n = kv_add(kv, n, "service", x->service);
	n = kv_add(kv, n, "kind", o->kind);
	n = kv_add(kv, n, "object", o->name);
	for (unsigned i = 0; i < o->nlabels && i < NIO_OBJ_MAX_VALUES; i++)
		if (own_label(o->labels[2 * i]))
			n = kv_add(kv, n, o->labels[2 * i], o->labels[2 * i + 1]);
	fixed = n;
	for (unsigned i = 0; i < o->n && i < NIO_OBJ_MAX_VALUES; i++) {
		if (!(o->gauges & (UINT64_C(1) << i)) != !x->gauges)
			continue;
		n = kv_add(kv, fixed, x->gauges ? "name" : "counter", o->keys[i]);
		kv[n] = NULL;
		sample(x->b, x->family, o->values[i], kv);
	}
}

static void object_metrics(struct evbuffer *b, const struct nio_config *c, bool gauges)
{
	struct obj_ctx x = { .b = b, .gauges = gauges };

	x.family = gauges ? "netio_service_object_current" : "netio_service_object_total";
	family(b, x.family, gauges ? "gauge" : "counter",
	       gauges ? "current values of a service's parts (a qos class's queue)"
		      : "counters of a service's parts (a qos class, a policer)");
	for (unsigned i = 0; i < nio_config_nstages(c); i++) {
		const struct nio_pipeline *pl = nio_config_stage(c, i);

		for (unsigned s = 0; pl && s < pl->nsvcs; s++) {
			x.pipeline = pl->name;
			x.service = pl->svcs[s].svc->name;
			nio_svc_objects(&pl->svcs[s], object_samples, &x);
		}
	}
}

static void service_metrics(struct evbuffer *b, const struct nio_config *c, unsigned nworkers)
{
	static const struct {
		const char *name, *type, *text;
	} fam[] = {
		[SVC_PACKETS] = { "netio_service_packets_total", "counter",
				  "packets given to the service" },
		[SVC_DROPPED] = { "netio_service_dropped_total", "counter",
				  "packets the service dropped" },
		[SVC_COUNTERS] = { "netio_service_events_total", "counter",
				   "the service's own counters" },
		[SVC_GAUGES] = { "netio_service_current", "gauge",
				 "the service's own current values (queue lengths, maxima)" },
	};

	for (unsigned f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		family(b, fam[f].name, fam[f].type, fam[f].text);
		for (unsigned i = 0; i < nio_config_nstages(c); i++) {
			const struct nio_pipeline *pl = nio_config_stage(c, i);

			for (unsigned s = 0; pl && s < pl->nsvcs; s++)
				service_samples(b, fam[f].name, pl, &pl->svcs[s], nworkers,
						(enum svc_family)f);
		}
	}
	object_metrics(b, c, false);
	object_metrics(b, c, true);
}

/* Per worker: how the load spreads (received and sent frames over all ports, handoffs). */
static void worker_metrics(struct evbuffer *b, const struct netiod *d)
{
	const struct nio_config *c = d->running;
	static const char *const dirs[] = { "out", "in", "full" };
	char id[16];

	family(b, "netio_worker_rx_packets_total", "counter", "frames a worker received");
	for (unsigned w = 0; w < d->nworkers; w++) {
		uint64_t rx = 0;

		for (unsigned i = 0; i < c->nports; i++)
			rx += c->ports[i]->stats[w].rx_packets;
		snprintf(id, sizeof(id), "%u", w);
		sample(b, "netio_worker_rx_packets_total", rx,
		       (const char *[]){ "worker", id, NULL });
	}
	family(b, "netio_worker_tx_packets_total", "counter", "frames a worker sent");
	for (unsigned w = 0; w < d->nworkers; w++) {
		uint64_t tx = 0;

		for (unsigned i = 0; i < c->nports; i++)
			tx += c->ports[i]->stats[w].tx_packets;
		snprintf(id, sizeof(id), "%u", w);
		sample(b, "netio_worker_tx_packets_total", tx,
		       (const char *[]){ "worker", id, NULL });
	}
	family(b, "netio_worker_handoff_total", "counter",
	       "packets a worker handed to another (out), took from others (in), dropped (full)");
	for (unsigned w = 0; w < d->nworkers; w++) {
		const struct nio_worker_stats *s = &d->workers[w].stats;
		const uint64_t v[] = { s->handoff_out, s->handoff_in, s->handoff_full };

		snprintf(id, sizeof(id), "%u", w);
		for (unsigned k = 0; k < 3; k++)
			sample(b, "netio_worker_handoff_total", v[k],
			       (const char *[]){ "worker", id, "dir", dirs[k], NULL });
	}
}

static void daemon_metrics(struct evbuffer *b, const struct netiod *d)
{
	unsigned flows = 0;

	family(b, "netio_build_info", "gauge",
	       "always 1: the netiod version and the ABIs it speaks, as labels");
	evbuffer_add_printf(
		b, "netio_build_info{version=\"%s\",ring_abi=\"%u\",service_abi=\"%u\"} 1\n",
		NETIOD_VERSION, NIO_ABI_VERSION, NIO_SERVICE_ABI_VERSION);
	family(b, "netio_flows_active", "gauge", "entries in the flow caches of all workers");
	for (unsigned i = 0; i < d->nworkers; i++)
		flows += d->workers[i].flows.count;
	evbuffer_add_printf(b, "netio_flows_active %u\n", flows);
	worker_metrics(b, d);
	family(b, "netio_config_generation", "gauge", "generation of the running configuration");
	evbuffer_add_printf(b, "netio_config_generation %llu\n",
			    (unsigned long long)d->running->generation);
	family(b, "netio_reloads_total", "counter", "configurations applied by reload");
	evbuffer_add_printf(b, "netio_reloads_total %llu\n", (unsigned long long)d->reloads);
	family(b, "netio_reload_failures_total", "counter", "reloads refused");
	evbuffer_add_printf(b, "netio_reload_failures_total %llu\n",
			    (unsigned long long)d->reload_failures);
}

static void metrics_write(struct netiod *d, struct evbuffer *b)
{
	port_metrics(b, d->running, d->nworkers);
	pipeline_metrics(b, d->running, d->nworkers);
	service_metrics(b, d->running, d->nworkers);
	daemon_metrics(b, d);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct netiod *d = arg;
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_write(d, b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}
/* listen is "address:port" ("127.0.0.1:9110", "[::1]:9110"); empty means off. */
int nio_metrics_init(struct netiod *d, const char *listen)
{
	struct metrics *m;
	char host[64];
	uint16_t port;

	if (!listen[0])
		return 0;
	if (nio_hostport_parse(listen, host, sizeof(host), &port) < 0) {
		log_warnx("metrics-listen '%s': expected address:port", listen);
		return -1;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->http = evhttp_new(d->base)) || evhttp_bind_socket(m->http, host, port) < 0) {
		log_warn("metrics on %s", listen);
		if (m && m->http)
			evhttp_free(m->http);
		free(m);
		return -1;
	}
	evhttp_set_cb(m->http, "/metrics", on_metrics, d);
	d->metrics = m;
	log_info("metrics on http://%s/metrics", listen);
	return 0;
}

void nio_metrics_fini(struct netiod *d)
{
	struct metrics *m = d->metrics;

	if (!m)
		return;
	evhttp_free(m->http);
	free(m);
	d->metrics = NULL;
}

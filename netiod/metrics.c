/* Prometheus text exposition of every counter over HTTP (evhttp), for localhost scrapers. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netiod.h"

struct metrics {
	struct evhttp *http;
};

static void help(struct evbuffer *b, const char *name, const char *type, const char *text)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void port_metrics(struct evbuffer *b, const struct nio_config *c, unsigned nworkers)
{
	struct nio_port_stats sum[NIO_MAX_PORTS];
	static const struct {
		const char *name, *text;
		size_t off;
	} ctr[] = {
		{ "rx_packets", "frames received", offsetof(struct nio_port_stats, rx_packets) },
		{ "rx_bytes", "bytes received", offsetof(struct nio_port_stats, rx_bytes) },
		{ "tx_packets", "frames sent", offsetof(struct nio_port_stats, tx_packets) },
		{ "tx_bytes", "bytes sent", offsetof(struct nio_port_stats, tx_bytes) },
		{ "rx_unclaimed", "frames matching no pipeline, left to the kernel",
		  offsetof(struct nio_port_stats, rx_unclaimed) },
		{ "rx_ignored", "non-IP frames left to the kernel",
		  offsetof(struct nio_port_stats, rx_ignored) },
		{ "rx_copies", "received frames copied from the driver's ring into a packet buffer",
		  offsetof(struct nio_port_stats, rx_copies) },
		{ "tx_copies", "sent frames copied into the driver's TX ring (not moved in place)",
		  offsetof(struct nio_port_stats, tx_copies) },
	};
	char name[64];

	for (unsigned i = 0; i < c->nports; i++)
		nio_port_stats_sum(c->ports[i], nworkers, &sum[i]);
	for (size_t k = 0; k < sizeof(ctr) / sizeof(ctr[0]); k++) {
		snprintf(name, sizeof(name), "netio_port_%s_total", ctr[k].name);
		help(b, name, "counter", ctr[k].text);
		for (unsigned i = 0; i < c->nports; i++)
			evbuffer_add_printf(
				b, "%s{port=\"%s\"} %llu\n", name, c->ports[i]->name,
				(unsigned long long)*(
					const uint64_t *)(const void *)((const char *)&sum[i] +
									ctr[k].off));
	}
	help(b, "netio_port_drops_total", "counter", "frames dropped at input, by reason");
	for (unsigned i = 0; i < c->nports; i++)
		for (int r = 0; r < NIO_DROP_MAX; r++)
			if (sum[i].drops[r])
				evbuffer_add_printf(
					b,
					"netio_port_drops_total{port=\"%s\",reason=\"%s\"} %llu\n",
					c->ports[i]->name, nio_drop_names[r],
					(unsigned long long)sum[i].drops[r]);
}

static void pipeline_metrics(struct evbuffer *b, const struct nio_config *c, unsigned nworkers)
{
	help(b, "netio_pipeline_packets_total", "counter", "packets entering the pipeline");
	help(b, "netio_pipeline_tx_packets_total", "counter", "packets the pipeline sent");
	help(b, "netio_pipeline_drops_total", "counter", "packets dropped, by reason");
	help(b, "netio_pipeline_icmp_errors_total", "counter", "ICMP errors sent back");
	help(b, "netio_pipeline_icmp_suppressed_total", "counter",
	     "ICMP errors not sent: multicast/broadcast, not one host, about an error or a "
	     "fragment");
	for (unsigned i = 0; i < c->npipelines; i++) {
		const struct nio_pipeline *pl = &c->pipelines[i];
		struct nio_pipeline_stats st;

		nio_pipeline_stats_sum(pl, nworkers, &st);
		evbuffer_add_printf(b, "netio_pipeline_packets_total{pipeline=\"%s\"} %llu\n",
				    pl->name, (unsigned long long)st.packets);
		evbuffer_add_printf(b, "netio_pipeline_tx_packets_total{pipeline=\"%s\"} %llu\n",
				    pl->name, (unsigned long long)st.tx_packets);
		evbuffer_add_printf(b, "netio_pipeline_icmp_errors_total{pipeline=\"%s\"} %llu\n",
				    pl->name, (unsigned long long)st.icmp_errors);
		evbuffer_add_printf(b,
				    "netio_pipeline_icmp_suppressed_total{pipeline=\"%s\"} %llu\n",
				    pl->name, (unsigned long long)st.icmp_suppressed);
		for (int r = 0; r < NIO_DROP_MAX; r++)
			if (st.drops[r])
				evbuffer_add_printf(b,
						    "netio_pipeline_drops_total{pipeline=\"%s\","
						    "reason=\"%s\"} %llu\n",
						    pl->name, nio_drop_names[r],
						    (unsigned long long)st.drops[r]);
	}
}

static void service_metrics(struct evbuffer *b, const struct nio_config *c, unsigned nworkers)
{
	help(b, "netio_service_packets_total", "counter", "packets given to the service");
	help(b, "netio_service_dropped_total", "counter", "packets the service dropped");
	help(b, "netio_service_counter", "counter", "the service's own counters");
	for (unsigned i = 0; i < c->npipelines; i++) {
		const struct nio_pipeline *pl = &c->pipelines[i];

		for (unsigned s = 0; s < pl->nsvcs; s++) {
			const struct nio_svc_inst *si = &pl->svcs[s];
			const char *const *names = si->svc->counter_names;
			const uint64_t *v = si->svc->counters ? si->svc->counters(si->inst) : NULL;
			struct nio_svc_stats st;
			char l[128];

			nio_svc_stats_sum(si, nworkers, &st);
			snprintf(l, sizeof(l), "pipeline=\"%s\",service=\"%s\"", pl->name,
				 si->svc->name);
			evbuffer_add_printf(b, "netio_service_packets_total{%s} %llu\n", l,
					    (unsigned long long)st.packets);
			evbuffer_add_printf(b, "netio_service_dropped_total{%s} %llu\n", l,
					    (unsigned long long)st.dropped);
			for (unsigned k = 0; names && v && names[k]; k++)
				evbuffer_add_printf(
					b, "netio_service_counter{%s,counter=\"%s\"} %llu\n", l,
					names[k], (unsigned long long)nio_svc_counter(si, v, k));
		}
	}
}

/* Per worker: how the load spreads (received and sent frames over all ports, handoffs). */
static void worker_metrics(struct evbuffer *b, const struct netiod *d)
{
	const struct nio_config *c = d->running;

	help(b, "netio_worker_rx_packets_total", "counter", "frames a worker received");
	help(b, "netio_worker_tx_packets_total", "counter", "frames a worker sent");
	help(b, "netio_worker_handoff_total", "counter",
	     "packets a worker handed to another (out), took from others (in), dropped (full)");
	for (unsigned w = 0; w < d->nworkers; w++) {
		const struct nio_worker_stats *s = &d->workers[w].stats;
		uint64_t rx = 0, tx = 0;

		for (unsigned i = 0; i < c->nports; i++) {
			rx += c->ports[i]->stats[w].rx_packets;
			tx += c->ports[i]->stats[w].tx_packets;
		}
		evbuffer_add_printf(b, "netio_worker_rx_packets_total{worker=\"%u\"} %llu\n", w,
				    (unsigned long long)rx);
		evbuffer_add_printf(b, "netio_worker_tx_packets_total{worker=\"%u\"} %llu\n", w,
				    (unsigned long long)tx);
		evbuffer_add_printf(b,
				    "netio_worker_handoff_total{worker=\"%u\",dir=\"out\"} %llu\n"
				    "netio_worker_handoff_total{worker=\"%u\",dir=\"in\"} %llu\n"
				    "netio_worker_handoff_total{worker=\"%u\",dir=\"full\"} %llu\n",
				    w, (unsigned long long)s->handoff_out, w,
				    (unsigned long long)s->handoff_in, w,
				    (unsigned long long)s->handoff_full);
	}
}

static void daemon_metrics(struct evbuffer *b, const struct netiod *d)
{
	unsigned flows = 0;

	help(b, "netio_flows_active", "gauge", "entries in the flow caches of all workers");
	for (unsigned i = 0; i < d->nworkers; i++)
		flows += d->workers[i].flows.count;
	evbuffer_add_printf(b, "netio_flows_active %u\n", flows);
	worker_metrics(b, d);
	help(b, "netio_config_generation", "gauge", "generation of the running configuration");
	evbuffer_add_printf(b, "netio_config_generation %llu\n",
			    (unsigned long long)d->running->generation);
	help(b, "netio_reload_failures_total", "counter", "reloads refused");
	evbuffer_add_printf(b, "netio_reload_failures_total %llu\n",
			    (unsigned long long)d->reload_failures);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct netiod *d = arg;
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	port_metrics(b, d->running, d->nworkers);
	pipeline_metrics(b, d->running, d->nworkers);
	service_metrics(b, d->running, d->nworkers);
	daemon_metrics(b, d);
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

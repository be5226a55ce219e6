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

#include "netiod.h"

#define CTL_MAX_REQUEST 65536

struct control {
	struct evconnlistener *listener;
	char path[108];
};

static json_t *drops_json(const uint64_t *drops)
{
	json_t *o = json_object();

	for (int i = 0; i < NIO_DROP_MAX; i++)
		if (drops[i])
			json_object_set_new(o, nio_drop_names[i],
					    json_integer((json_int_t)drops[i]));
	return o;
}

static json_t *port_stats(const struct nio_port *p)
{
	const struct nio_port_stats *s = &p->stats;

	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "name", p->name,
			 "rx_packets", (json_int_t)s->rx_packets, "rx_bytes",
			 (json_int_t)s->rx_bytes, "tx_packets", (json_int_t)s->tx_packets,
			 "tx_bytes", (json_int_t)s->tx_bytes, "rx_unclaimed",
			 (json_int_t)s->rx_unclaimed, "rx_ignored", (json_int_t)s->rx_ignored,
			 "poll_errors", (json_int_t)s->poll_errors, "drops", drops_json(s->drops));
}

static json_t *svc_stats(const struct nio_svc_inst *si)
{
	const struct nio_svc_stats *s = &si->stats;
	json_t *o =
		json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name", si->svc->name, "packets",
			  (json_int_t)s->packets, "bytes", (json_int_t)s->bytes, "passed",
			  (json_int_t)s->passed, "dropped", (json_int_t)s->dropped, "consumed",
			  (json_int_t)s->consumed, "dequeued", (json_int_t)s->dequeued);
	json_t *ctr = json_object();
	/* control thread only; a full qos tree (64 classes, 16 policers) needs ~19 KB */
	static char line[65536];

	if (si->svc->counter_names && si->svc->counters) {
		const uint64_t *v = si->svc->counters(si->inst);

		for (unsigned i = 0; si->svc->counter_names[i]; i++)
			json_object_set_new(ctr, si->svc->counter_names[i],
					    json_integer((json_int_t)v[i]));
	}
	json_object_set_new(o, "counters", ctr);
	if (si->svc->show && si->svc->show(si->inst, line, sizeof(line)) >= 0)
		json_object_set_new(o, "status", json_string(line));
	return o;
}

static json_t *pipeline_stats(const struct nio_pipeline *pl)
{
	const struct nio_pipeline_stats *s = &pl->stats;
	json_t *svcs = json_array();

	unsigned stage;
	uint64_t captured;
	const char *file = nio_capture_file(pl, &stage, &captured);
	json_t *o;

	for (unsigned i = 0; i < pl->nsvcs; i++)
		json_array_append_new(svcs, svc_stats(&pl->svcs[i]));
	o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "name", pl->name, "packets",
		      (json_int_t)s->packets, "bytes", (json_int_t)s->bytes, "tx_packets",
		      (json_int_t)s->tx_packets, "tx_bytes", (json_int_t)s->tx_bytes, "drops",
		      drops_json(s->drops), "services", svcs);
	json_object_set_new(o, "neigh_queued", json_integer((json_int_t)s->neigh_queued));
	if (file)
		json_object_set_new(o, "capture",
				    json_pack("{s:s, s:i, s:I}", "file", file, "stage", (int)stage,
					      "captured", (json_int_t)captured));
	return o;
}

static json_t *cmd_stats(struct netiod *d)
{
	const struct nio_config *c = d->running;
	const struct nio_flow_table *ft = &d->worker.flows;
	json_t *ports = json_array(), *pls = json_array();

	for (unsigned i = 0; i < c->nports; i++)
		json_array_append_new(ports, port_stats(c->ports[i]));
	for (unsigned i = 0; i < c->npipelines; i++)
		json_array_append_new(pls, pipeline_stats(&c->pipelines[i]));
	return json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "ports",
			 ports, "pipelines", pls, "flows", "active", (json_int_t)ft->count,
			 "lookups", (json_int_t)ft->lookups, "hits", (json_int_t)ft->hits,
			 "inserts", (json_int_t)ft->inserts, "evictions", (json_int_t)ft->evictions,
			 "worker", "loops", (json_int_t)atomic_load(&d->worker.loops), "busy_loops",
			 (json_int_t)d->worker.busy_loops, "idle_sleeps",
			 (json_int_t)d->worker.idle_sleeps);
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
	return json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:b, s:i}", "version",
			 NETIOD_VERSION, "pid", (int)getpid(), "config", d->conf_file, "generation",
			 (json_int_t)d->running->generation, "uptime_ms",
			 (json_int_t)((nio_now_ns() - d->start_ns) / 1000000), "reloads",
			 (json_int_t)d->reloads, "reload_failures", (json_int_t)d->reload_failures,
			 "last_error", d->last_error, "plugin_dir", d->plugin_dir, "inputs_done",
			 inputs_done, "workers", 1);
}

static json_t *cmd_ports(struct netiod *d)
{
	json_t *a = json_array();
	char mac[18];

	for (unsigned i = 0; i < d->running->nports; i++) {
		const struct nio_port *p = d->running->ports[i];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1],
			 p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
		json_array_append_new(a,
				      json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:b}", "name",
						p->name, "driver", p->ops->name, "device",
						p->device[0] ? p->device : p->pcap_in, "ifindex",
						p->ifindex, "mtu", p->mtu, "mac", mac, "state",
						atomic_load(&p->gone) ? "gone" : "up", "eof",
						p->ops->eof && p->ops->eof((struct nio_port *)p)));
	}
	return a;
}

static json_t *cmd_pipelines(struct netiod *d)
{
	const struct nio_config *c = d->running;
	json_t *a = json_array();

	for (unsigned i = 0; i < c->npipelines; i++) {
		const struct nio_pipeline *pl = &c->pipelines[i];
		json_t *svcs = json_array();

		for (unsigned s = 0; s < pl->nsvcs; s++)
			json_array_append_new(svcs, json_string(pl->svcs[s].svc->name));
		json_array_append_new(
			a,
			json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", pl->name, "in",
				  pl->match.in_port >= 0 ? c->ports[pl->match.in_port]->name
							 : "any",
				  "out", pl->out_port >= 0 ? c->ports[pl->out_port]->name : "route",
				  "fail_mode",
				  pl->fail_mode == NIO_FAIL_SECURE ? "secure" : "passthrough",
				  "services", svcs));
	}
	return a;
}

static json_t *cmd_services(struct netiod *d)
{
	json_t *a = json_array();

	for (struct nio_plugin *p = d->plugins; p; p = p->next)
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", p->name, "version",
				     p->svc->version ? p->svc->version : "", "path", p->path,
				     "description", p->svc->description ? p->svc->description : "",
				     "instances", (int)p->refs));
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
	return json_pack("{s:s, s:s}", "pipeline", pl, "file", file);
}

static json_t *cmd_capture_stop(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	const char *pl = str_arg(req, "pipeline");
	uint64_t n;

	if (!pl)
		return nio_err(err, errlen, "capture-stop needs \"pipeline\""), NULL;
	if (nio_capture_stop(d, pl, &n, err, errlen) < 0)
		return NULL;
	return json_pack("{s:s, s:I}", "pipeline", pl, "captured", (json_int_t)n);
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
		return cmd_stats(d);
	if (!strcmp(cmd, "port-list"))
		return cmd_ports(d);
	if (!strcmp(cmd, "pipeline-list"))
		return cmd_pipelines(d);
	if (!strcmp(cmd, "service-list"))
		return cmd_services(d);
	if (d->ctl_read_only)
		return nio_err(err, errlen, "'%s' is not allowed on a read-only control channel",
			       cmd),
		       NULL;
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
			       : json_pack("{s:s, s:s}", "name", p->name, "path", p->path);
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
			       : json_pack("{s:s}", "name", a);
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
		out = encode(json_pack("{s:b, s:s}", "ok", 0, "error",
				       req ? "request is not a JSON object" : jerr.text));
		json_decref(req);
		return out;
	}
	res = dispatch(d, req, err, sizeof(err));
	if (res)
		out = encode(json_pack("{s:b, s:o}", "ok", 1, "result", res));
	else
		out = encode(json_pack("{s:b, s:s}", "ok", 0, "error", err[0] ? err : "failed"));
	json_decref(req);
	return out;
}

static void reply(struct bufferevent *bev, char *s)
{
	if (s) {
		bufferevent_write(bev, s, strlen(s));
		bufferevent_write(bev, "\n", 1);
		free(s);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		reply(bev, nio_control_request(arg, line));
		free(line);
	}
	if (evbuffer_get_length(in) > CTL_MAX_REQUEST) {
		reply(bev, encode(json_pack("{s:b, s:s}", "ok", 0, "error", "request too long")));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void on_event(struct bufferevent *bev, short events, void *arg)
{
	(void)arg;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct bufferevent *bev;

	(void)sa;
	(void)len;
	bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, on_read, NULL, on_event, arg);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
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

int nio_control_init(struct netiod *d)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;

	if (!ctl || strlen(d->socket_path) >= sizeof(sa.sun_path) ||
	    claim_path(d->socket_path) < 0) {
		free(ctl);
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->socket_path);
	snprintf(ctl->path, sizeof(ctl->path), "%s", d->socket_path);
	old = umask(0117); /* socket mode 0660: root and the netio group */
	ctl->listener = evconnlistener_new_bind(d->base, on_accept, d,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
						(struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (!ctl->listener) {
		log_warn("control socket %s", d->socket_path);
		free(ctl);
		return -1;
	}
	d->control = ctl;
	return 0;
}

void nio_control_fini(struct netiod *d)
{
	struct control *ctl = d->control;

	if (!ctl)
		return;
	evconnlistener_free(ctl->listener);
	unlink(ctl->path);
	free(ctl);
	d->control = NULL;
}

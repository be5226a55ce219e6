/* netiod: start-up, signals, and the all-or-nothing configuration and plugin changes. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "netiod.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: netiod [-ftvd] [-c file] [-P plugin-dir] [-S socket] [-s state-dir]\n"
		"  -c file        configuration (default " NIO_SYSCONFDIR "/netio/netiod.conf)\n"
		"  -f             foreground, one worker (the default; kept for gdb habits)\n"
		"  -t             check the configuration and exit (-v prints it)\n"
		"  -v             verbose: with -t, print the configuration as understood\n"
		"  -d             debug logging\n"
		"  -P dir         plugin directory (default " NIO_PLUGINDIR ")\n"
		"  -S socket      control socket (default " NIO_RUNDIR "/netiod.sock)\n"
		"  -s dir         state directory (default " NIO_STATEDIR ")\n");
	exit(1);
}

/* State of same-named services moves to the new instances (ESP sequence numbers, queues). */
static void handoff(const struct nio_config *old, struct nio_config *c)
{
	for (unsigned i = 0; old && i < c->npipelines; i++) {
		for (unsigned j = 0; j < old->npipelines; j++) {
			if (strcmp(old->pipelines[j].name, c->pipelines[i].name))
				continue;
			for (unsigned s = 0; s < c->pipelines[i].nsvcs; s++) {
				for (unsigned t = 0; t < old->pipelines[j].nsvcs; t++) {
					const struct nio_svc_inst *o = &old->pipelines[j].svcs[t];
					struct nio_svc_inst *n = &c->pipelines[i].svcs[s];

					if (o->plugin == n->plugin)
						nio_svc_handoff(o, n);
				}
			}
		}
	}
}

void nio_svc_handoff(const struct nio_svc_inst *from, struct nio_svc_inst *to)
{
	void *blob = NULL;
	size_t len = 0;

	if (!from->svc->save_state || !to->svc->restore_state)
		return;
	if (from->svc->save_state(from->inst, &blob, &len) == 0 && blob) {
		if (to->svc->restore_state(to->inst, blob, len) < 0)
			log_warnx("%s: state handoff refused by the new instance", to->svc->name);
	}
	free(blob);
}

/* Swap in a loaded, opened configuration with the worker stopped at a quiescent point. */
void nio_apply_config(struct netiod *d, struct nio_config *c)
{
	struct nio_config *old = d->running;

	c->generation = old ? old->generation + 1 : 1;
	if (d->worker.thread)
		nio_worker_pause(&d->worker);
	handoff(old, c);
	for (unsigned i = 0; i < c->nports; i++)
		c->ports[i]->id = (uint16_t)i;
	nio_worker_set_config(&d->worker, c);
	d->running = c;
	if (d->worker.thread)
		nio_worker_resume(&d->worker);
	nio_config_free(old);
}

int nio_reload(struct netiod *d, const char *file, char *err, size_t errlen)
{
	struct nio_config *c;

	c = nio_config_load(d, file, NULL, err, errlen);
	if (c && nio_config_open_ports(c, d->running, err, errlen) < 0) {
		nio_config_free(c);
		c = NULL;
	}
	if (!c) {
		d->reload_failures++;
		snprintf(d->last_error, sizeof(d->last_error), "%s", err);
		log_warnx("reload failed, keeping the running configuration: %s", err);
		return -1;
	}
	snprintf(d->conf_file, sizeof(d->conf_file), "%s", file);
	nio_apply_config(d, c);
	d->reloads++;
	d->last_error[0] = '\0';
	log_info("configuration %s loaded (generation %llu)", file,
		 (unsigned long long)c->generation);
	return 0;
}

/* ------------------------------------------------------------------ service replace */

struct replacement {
	struct nio_pipeline *pl;
	unsigned svc;
	struct nio_svc_inst inst;
};

static void undo(struct replacement *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		nio_svc_inst_fini(&r[i].inst);
}

/*
 * Load new code for a running service: new instances are created from the same blocks
 * first (any failure leaves everything as it was), then swapped in with the worker paused,
 * with state handed over; the old code is retired after the swap, when no worker can be in it.
 */
int nio_service_replace(struct netiod *d, const char *name, const char *path, char *err,
			size_t errlen)
{
	struct nio_plugin *old = nio_plugin_find(d, name), *np;
	struct replacement r[NIO_MAX_PIPELINES * NIO_MAX_SVCS];
	struct nio_config *c = d->running;
	unsigned n = 0;

	if (!old)
		return snprintf(err, errlen, "no service '%s' is loaded", name), -1;
	if (nio_plugin_open(path ? path : old->path, &np, err, errlen) < 0)
		return -1;
	if (strcmp(np->name, name)) {
		snprintf(err, errlen, "%s provides service '%s', not '%s'", np->path, np->name, name);
		goto fail;
	}
	for (unsigned i = 0; c && i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		for (unsigned s = 0; s < pl->nsvcs; s++) {
			char why[256] = "";

			if (pl->svcs[s].plugin != old)
				continue;
			r[n] = (struct replacement){ .pl = pl, .svc = s, .inst = pl->svcs[s] };
			r[n].inst.plugin = np;
			r[n].inst.svc = np->svc;
			r[n].inst.inst = NULL;
			r[n].inst.conf = NULL;
			r[n].inst.host = NULL;
			memset(&r[n].inst.stats, 0, sizeof(r[n].inst.stats));
			if (nio_config_check_block(c, &r[n].inst, why, sizeof(why)) < 0 ||
			    !(r[n].inst.inst = nio_service_init(d, c, pl, &r[n].inst, why, sizeof(why)))) {
				snprintf(err, errlen, "pipeline '%s': new %s: %s", pl->name, name, why);
				nio_svc_inst_fini(&r[n].inst); /* frees what init got, calls no fini */
				goto fail;
			}
			np->refs++;
			n++;
		}
	}
	nio_worker_pause(&d->worker);
	nio_worker_flush_flows(&d->worker);
	for (unsigned i = 0; i < n; i++) {
		struct nio_svc_inst *cur = &r[i].pl->svcs[r[i].svc], prev = *cur;

		nio_svc_handoff(cur, &r[i].inst);
		r[i].inst.stats = prev.stats;
		*cur = r[i].inst;
		r[i].inst = prev; /* the old instance, finished below */
	}
	nio_plugin_unlink(d, old);
	np->next = d->plugins;
	d->plugins = np;
	nio_worker_resume(&d->worker);
	undo(r, n);
	if (old->dl != np->dl)
		nio_plugin_close(old->dl);
	log_info("replaced service %s with %s (%u instance(s))", name, np->path, n);
	free(old);
	return 0;
fail:
	undo(r, n);
	if (np->dl != old->dl)
		nio_plugin_close(np->dl);
	free(np);
	return -1;
}

/* ------------------------------------------------------------------ start-up */

static void on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct netiod *d = arg;
	char err[512];

	(void)ev;
	if (sig == SIGHUP) {
		log_info("SIGHUP: reloading %s", d->conf_file);
		nio_reload(d, d->conf_file, err, sizeof(err));
		return;
	}
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(d->base);
}

/* systemd Type=notify readiness, without linking libsystemd. */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)!sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&sa,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path)));
	close(fd);
}

static void parse_args(struct netiod *d, int argc, char **argv)
{
	int ch;

	snprintf(d->conf_file, sizeof(d->conf_file), "%s/netio/netiod.conf", NIO_SYSCONFDIR);
	snprintf(d->plugin_dir, sizeof(d->plugin_dir), "%s", NIO_PLUGINDIR);
	snprintf(d->socket_path, sizeof(d->socket_path), "%s/netiod.sock", NIO_RUNDIR);
	snprintf(d->state_dir, sizeof(d->state_dir), "%s", NIO_STATEDIR);
	while ((ch = getopt(argc, argv, "c:ftvdP:S:s:h")) != -1) {
		switch (ch) {
		case 'c':
			snprintf(d->conf_file, sizeof(d->conf_file), "%s", optarg);
			break;
		case 'f':
			d->foreground = true;
			break;
		case 't':
			d->check_only = true;
			break;
		case 'v':
			d->verbose = true;
			break;
		case 'd':
			log_init(1);
			break;
		case 'P':
			snprintf(d->plugin_dir, sizeof(d->plugin_dir), "%s", optarg);
			break;
		case 'S':
			snprintf(d->socket_path, sizeof(d->socket_path), "%s", optarg);
			break;
		case 's':
			snprintf(d->state_dir, sizeof(d->state_dir), "%s", optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

static int check_config(struct netiod *d)
{
	char err[512];
	struct nio_config *c = nio_config_load(d, d->conf_file, NULL, err, sizeof(err));

	if (!c) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (d->verbose)
		nio_config_dump(c, stdout);
	nio_config_free(c);
	fprintf(stderr, "%s: configuration OK\n", d->conf_file);
	return 0;
}

static void run(struct netiod *d)
{
	struct event *sigs[4];
	const int signo[4] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT };

	for (int i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(d->base, signo[i], on_signal, d);
		event_add(sigs[i], NULL);
	}
	notify_ready();
	log_info("running: %u port(s), %u pipeline(s), control socket %s", d->running->nports,
		 d->running->npipelines, d->socket_path);
	event_base_dispatch(d->base);
	for (int i = 0; i < 4; i++)
		event_free(sigs[i]);
}

int main(int argc, char **argv)
{
	static struct netiod d;
	char err[512];
	struct nio_config *c;

	signal(SIGPIPE, SIG_IGN);
	parse_args(&d, argc, argv);
	d.start_ns = nio_now_ns();
	nio_plugin_load_dir(&d, d.plugin_dir);
	if (d.check_only)
		return check_config(&d);
	c = nio_config_load(&d, d.conf_file, NULL, err, sizeof(err));
	if (!c || nio_config_open_ports(c, NULL, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (c->control_socket[0])
		snprintf(d.socket_path, sizeof(d.socket_path), "%s", c->control_socket);
	if (c->state_dir[0])
		snprintf(d.state_dir, sizeof(d.state_dir), "%s", c->state_dir);
	d.base = event_base_new();
	if (!d.base)
		fatalx("event_base_new");
	nio_apply_config(&d, c);
	if (nio_worker_start(&d, &d.worker) < 0)
		fatal("worker");
	if (nio_neigh_init(&d) < 0)
		log_warnx("no kernel route/neighbour tracking: only dst-mac pipelines can forward");
	if (nio_control_init(&d) < 0)
		fatalx("control socket %s", d.socket_path);
	run(&d);
	nio_control_fini(&d);
	nio_worker_stop(&d.worker);
	nio_neigh_fini(&d);
	nio_config_free(d.running);
	return 0;
}

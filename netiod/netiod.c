/* netiod: start-up, signals, and the all-or-nothing configuration and plugin changes. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netiod.h"
#include "nio_paths.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: netiod [-ftvd] [-c file] [-P plugin-dir] [-S socket] [-s state-dir]\n"
		   "       netiod -h | --help | -V | --version\n"
		   "  -c file        configuration (default " NIO_SYSCONFDIR "/netio/netiod.conf)\n"
		   "  -f             one worker, whatever 'workers' says (for gdb)\n"
		   "  -t             check the configuration and exit (-v prints it)\n"
		   "  -v             verbose: with -t, print the configuration as understood\n"
		   "  -d             debug logging\n"
		   "  -P dir         plugin directory (default " NIO_PLUGINDIR ")\n"
		   "  -S socket      control socket (default " NIO_RUNDIR "/netio/netiod.sock)\n"
		   "  -s dir         state directory (default " NIO_STATEDIR ")\n"
		   "  -h, --help     this help\n"
		   "  -V, --version  netiod's version\n");
	exit(f == stdout ? 0 : 1);
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
	nio_notify("STOPPING=1\nSTATUS=stopping (signal %d)", (int)sig);
	event_base_loopbreak(d->base);
}

static void parse_args(struct netiod *d, int argc, char **argv)
{
	int ch;

	snprintf(d->conf_file, sizeof(d->conf_file), "%s/netio/netiod.conf", NIO_SYSCONFDIR);
	snprintf(d->plugin_dir, sizeof(d->plugin_dir), "%s", NIO_PLUGINDIR);
	snprintf(d->socket_path, sizeof(d->socket_path), "%s/netio/netiod.sock", NIO_RUNDIR);
	snprintf(d->state_dir, sizeof(d->state_dir), "%s", NIO_STATEDIR);
	static const struct option longs[] = { { "help", no_argument, NULL, 'h' },
					       { "version", no_argument, NULL, 'V' },
					       { NULL, 0, NULL, 0 } };

	while ((ch = getopt_long(argc, argv, "c:ftvdP:S:s:hV", longs, NULL)) != -1) {
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
		case 'h':
			usage(stdout);
			break;
		case 'V':
			printf("netiod %s\n", nio_version);
			exit(0);
		default:
			usage(stderr);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "netiod: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
	}
}

static int check_config(struct netiod *d)
{
	char err[512];
	struct nio_config *c = nio_config_load(d, d->conf_file, NULL, err, sizeof(err));

	if (!c || nio_config_check_claims(c, err, sizeof(err)) < 0 ||
	    nio_config_check_forwarding(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		nio_config_free(c);
		return 1;
	}
	if (d->verbose)
		nio_config_dump(c, stdout);
	nio_config_free(c);
	fprintf(stderr, "%s: configuration OK\n", d->conf_file);
	return 0;
}

/* Everything is open: from here on netiod runs as `user` with the capabilities its drivers
 * need, under its seccomp filter; the workers, started next, inherit both. */
static void confine(struct netiod *d)
{
	char why[256];

	nio_privs_drop(d->running, d->state_dir);
	if (!d->running->privs.seccomp) {
		log_warnx("seccomp = false: netiod runs without its system call filter");
		return;
	}
	if (nio_seccomp_load(why, sizeof(why)) < 0)
		fatalx("%s", why);
	log_info("seccomp filter loaded");
}

static void run(struct netiod *d)
{
	struct event *sigs[4];
	const int signo[4] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT };

	for (int i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(d->base, signo[i], on_signal, d);
		event_add(sigs[i], NULL);
	}
	log_info("running: %u port(s), %u pipeline(s), control socket %s", d->running->nports,
		 d->running->npipelines, d->socket_path);
	nio_notify("READY=1\nSTATUS=running: %u port(s), %u pipeline(s)", d->running->nports,
		   d->running->npipelines);
	event_base_dispatch(d->base);
	for (int i = 0; i < 4; i++)
		event_free(sigs[i]);
}

int main(int argc, char **argv)
{
	static struct netiod d;
	char err[512];
	struct nio_config *c;

	/*
	 * A configuration is ~14 MiB (per-worker counter rows). A fixed mmap threshold keeps glibc
	 * from raising it after the first free, which would put every later configuration on the
	 * heap, whose freed pages are not returned: RSS would step up with each reload.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	signal(SIGPIPE, SIG_IGN);
	parse_args(&d, argc, argv);
	d.start_ns = nio_now_ns();
	/* before anything is loaded or opened: it holds none of it (spawn.c) */
	if (!d.check_only && nio_spawner_start() < 0)
		fatal("starting the spawner for isolated services");
	nio_plugin_load_dir(&d, d.plugin_dir);
	if (d.check_only)
		return check_config(&d);
	c = nio_config_load(&d, d.conf_file, NULL, err, sizeof(err));
	if (!c || nio_config_check_forwarding(c, err, sizeof(err)) < 0 ||
	    nio_config_open_ports(c, NULL, err, sizeof(err)) < 0 ||
	    nio_config_set_claims(c, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (c->control_socket[0])
		snprintf(d.socket_path, sizeof(d.socket_path), "%s", c->control_socket);
	if (c->state_dir[0])
		snprintf(d.state_dir, sizeof(d.state_dir), "%s", c->state_dir);
	d.base = event_base_new();
	if (!d.base)
		fatalx("event_base_new");
	d.nworkers = c->nworkers;
	if (nio_apply_config(&d, c, err, sizeof(err)) < 0 || nio_workers_init(&d) < 0)
		fatal("workers");
	nio_config_warn_taps(c);
	if (nio_neigh_init(&d) < 0)
		log_warnx("no kernel route/neighbour tracking: only dst-mac pipelines can forward");
	if (nio_control_init(&d) < 0)
		fatalx("control socket %s", d.socket_path);
	if (nio_metrics_init(&d, c->metrics_listen) < 0)
		fatalx("metrics-listen %s", c->metrics_listen);
	confine(&d);
	if (nio_workers_start(&d, err, sizeof(err)) < 0)
		fatalx("%s", err);
	log_info("%u worker(s)%s", d.nworkers, d.foreground ? " (-f)" : "");
	run(&d);
	nio_kmod_events_fini(&d);
	nio_kmod_keep_bindings();
	nio_xdp_keep_programs(); /* fail-mode holds in XDP until netiod is back */
	nio_metrics_fini(&d);
	nio_control_fini(&d);
	nio_workers_stop(&d);
	nio_neigh_fini(&d);
	nio_config_free(d.running);
	nio_workers_fini(&d);
	nio_regions_collect(true);
	return 0;
}

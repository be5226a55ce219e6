/* netioctl: the control CLI, iproute2-style: netioctl [OPTIONS] OBJECT COMMAND [ARGS]. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netioctl.h"
#include "nio_paths.h"

enum { EXIT_OK = NIO_EXIT_OK, EXIT_USAGE = NIO_EXIT_USAGE, EXIT_DAEMON = NIO_EXIT_DAEMON };

/* Longer than netiod's own bound on a reload (workers get 5 s to reach a quiescent point). */
#define DEFAULT_TIMEOUT_MS 10000

/*
 * One line per OBJECT COMMAND: --help prints them, a usage error is diagnosed against them and
 * the bash completion reads them from --help. Lowercase words are literal, uppercase ones are
 * values (PIPELINE, PORT, SERVICE: names the completion asks netiod for), [ ] optional.
 */
static const char *const commands[] = {
	"status",
	"port list",
	"pipeline list",
	"stats [show] [port PORT] [pipeline PIPELINE]",
	"stats clear",
	"config show",
	"route show [table TABLE]",
	"route get ADDRESS [from ADDRESS] [in PORT] [proto PROTO] [sport N] [dport N]",
	"neigh show",
	"flow show [src ADDR] [dst ADDR] [pipeline PIPELINE]",
	"service list",
	"service load PATH",
	"service unload SERVICE",
	"service replace SERVICE [PATH]",
	"reload [FILE]",
	"capture start PIPELINE FILE [stage in|out|SERVICE|N] [count N]",
	"capture stop PIPELINE",
	"trace start [pipeline PIPELINE] [port PORT] [count N]",
	"trace show",
	"trace stop",
	"trace clear",
	"kernel list",
	"kernel unbind DEV|ID",
	NULL,
};

static void help(void)
{
	printf("usage: netioctl [-jc] [-s SOCKET] [-t SECONDS] OBJECT COMMAND [ARGS]\n"
	       "       netioctl -h | --help | -V | --version\n"
	       "commands:\n");
	for (const char *const *c = commands; *c; c++)
		printf("  %s\n", *c);
	printf("  (kernel talks to netio.ko, without netiod)\n"
	       "options:\n"
	       "  -j, --json           print JSON: the reply, and errors as {\"ok\":false,...} "
	       "on stderr\n"
	       "  -c, --compact        with -j, one line per JSON value\n"
	       "  -s, --socket PATH    control socket (default " NIO_RUNDIR "/netio/netiod.sock)\n"
	       "  -t, --timeout SEC    wait at most SEC seconds for netiod (default %d; 0: "
	       "forever)\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        netioctl's version\n"
	       "exit status: 0 ok, 1 usage error, 2 error from (or no reply by) netiod or "
	       "netio.ko\n",
	       DEFAULT_TIMEOUT_MS / 1000);
	exit(EXIT_OK);
}

/* What was wrong, on stderr, and exit 1. */
static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	exit(nio_ctl_error(EXIT_USAGE, "%s; see 'netioctl --help'", msg));
}

/* The n-th word (0-based) of a command line, without brackets, into buf; NULL past the end. */
static const char *word(const char *line, int n, char *buf, size_t len, int *optional)
{
	const char *w = line;
	size_t l;

	*optional = 0;
	for (;;) {
		w += strspn(w, " ");
		l = strcspn(w, " ");
		if (!l)
			return NULL;
		*optional += *w == '[';
		if (n-- == 0)
			break;
		*optional -= w[l - 1] == ']';
		w += l;
	}
	w += *w == '[';
	l = strcspn(w, " ]");
	snprintf(buf, len, "%.*s", (int)l, w);
	return buf;
}

static int is_keyword(const char *w)
{
	for (; *w; w++)
		if (!islower((unsigned char)*w) && *w != '-')
			return 0;
	return 1;
}

/* The commands of OBJ ("a, b, c"), or "" when OBJ takes none. */
static const char *commands_of(const char *obj, char *out, size_t len)
{
	char w0[64], w1[64];
	int opt;

	out[0] = '\0';
	for (const char *const *c = commands; *c; c++)
		if (!strcmp(word(*c, 0, w0, sizeof(w0), &opt), obj) &&
		    word(*c, 1, w1, sizeof(w1), &opt) && !opt && is_keyword(w1))
			snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? ", " : "",
				 w1);
	return out;
}

/* The line for argv, checked word by word: say which argument is missing, unknown or extra. */
static void __attribute__((noreturn)) diagnose(int argc, char **argv)
{
	char w[64], cmds[256], want[64];
	const char *line = NULL;
	int opt, n = 0;

	for (const char *const *c = commands; *c && !line; c++)
		if (!strcmp(word(*c, 0, w, sizeof(w), &opt), argv[0]))
			line = *c;
	if (!line)
		usage_error("unknown object '%s'", argv[0]);
	if (commands_of(argv[0], cmds, sizeof(cmds))[0]) {
		if (argc < 2)
			usage_error("'%s' needs a command: %s", argv[0], cmds);
		line = NULL;
		for (const char *const *c = commands; *c && !line; c++)
			if (!strcmp(word(*c, 0, w, sizeof(w), &opt), argv[0]) &&
			    !strcmp(word(*c, 1, w, sizeof(w), &opt) ?: "", argv[1]))
				line = *c;
		if (!line)
			usage_error("unknown command '%s' for '%s' (it has: %s)", argv[1], argv[0],
				    cmds);
	}
	while (word(line, n + 1, w, sizeof(w), &opt))
		n++;
	if (argc > n + 1)
		usage_error("unexpected argument '%s'", argv[n + 1]);
	for (int i = 1; word(line, i, w, sizeof(w), &opt); i++)
		if (i >= argc && !opt)
			usage_error("missing %s: %s", word(line, i, want, sizeof(want), &opt),
				    line);
	usage_error("bad arguments for '%s'", line);
}

static void print_drops(json_t *drops)
{
	const char *k;
	json_t *v;

	json_object_foreach (drops, k, v)
		printf(" %s=%lld", k, (long long)json_integer_value(v));
}

/* Frames copied between buffers, per frame sent: 2 for a tap port's forward (in and out), 0
 * for a descriptor move within one buffer region. */
static void print_copies(json_t *ports)
{
	long long rx = 0, tx = 0, sent = 0;
	size_t i;
	json_t *p;

	json_array_foreach (ports, i, p) {
		rx += json_integer_value(json_object_get(p, "rx_copies"));
		tx += json_integer_value(json_object_get(p, "tx_copies"));
		sent += json_integer_value(json_object_get(p, "tx_packets"));
	}
	printf("copies: %lld in, %lld out", rx, tx);
	if (sent)
		printf(", %.2f per frame sent", (double)(rx + tx) / (double)sent);
	printf("\n");
}

/* afxdp ports: what their XDP program did, also while netiod was away (fail-mode). */
static void print_xdp(json_t *ports)
{
	size_t i;
	json_t *p, *x;

	json_array_foreach (ports, i, p) {
		if (!(x = json_object_get(p, "xdp")))
			continue;
		printf("xdp %s: redirected %lld, kept for the kernel %lld, unclaimed %lld; netiod "
		       "away: dropped %lld (secure), passed %lld (passthrough)\n",
		       json_string_value(json_object_get(p, "name")),
		       json_integer_value(json_object_get(x, "redirected")),
		       json_integer_value(json_object_get(x, "kept")),
		       json_integer_value(json_object_get(x, "unclaimed")),
		       json_integer_value(json_object_get(x, "fail_dropped")),
		       json_integer_value(json_object_get(x, "fail_passed")));
	}
}

/* One line per worker: its share of the traffic and of the handoffs. */
static void print_workers(json_t *workers)
{
	size_t i, j;
	json_t *w, *p;

	json_array_foreach (workers, i, w) {
		long long rx = 0, tx = 0;
		json_t *h = json_object_get(w, "handoff");

		json_array_foreach (json_object_get(w, "ports"), j, p) {
			rx += json_integer_value(json_object_get(p, "rx_packets"));
			tx += json_integer_value(json_object_get(p, "tx_packets"));
		}
		printf("worker %lld (cpu %lld): rx %lld tx %lld, flows %lld, handoff out %lld in "
		       "%lld full %lld\n",
		       json_integer_value(json_object_get(w, "id")),
		       json_integer_value(json_object_get(w, "cpu")), rx, tx,
		       json_integer_value(json_object_get(json_object_get(w, "flows"), "active")),
		       json_integer_value(json_object_get(h, "out")),
		       json_integer_value(json_object_get(h, "in")),
		       json_integer_value(json_object_get(h, "full")));
	}
}

static void print_stats(json_t *r)
{
	size_t i, j;
	json_t *p, *s;

	printf("%-12s %12s %14s %12s %14s %10s\n", "port", "rx-pkts", "rx-bytes", "tx-pkts",
	       "tx-bytes", "unclaimed");
	json_array_foreach (json_object_get(r, "ports"), i, p) {
		printf("%-12s %12lld %14lld %12lld %14lld %10lld",
		       json_string_value(json_object_get(p, "name")),
		       json_integer_value(json_object_get(p, "rx_packets")),
		       json_integer_value(json_object_get(p, "rx_bytes")),
		       json_integer_value(json_object_get(p, "tx_packets")),
		       json_integer_value(json_object_get(p, "tx_bytes")),
		       json_integer_value(json_object_get(p, "rx_unclaimed")));
		print_drops(json_object_get(p, "drops"));
		printf("\n");
	}
	print_copies(json_object_get(r, "ports"));
	print_xdp(json_object_get(r, "ports"));
	json_array_foreach (json_object_get(r, "pipelines"), i, p) {
		printf("pipeline %s: %lld packets %lld bytes, sent %lld packets",
		       json_string_value(json_object_get(p, "name")),
		       json_integer_value(json_object_get(p, "packets")),
		       json_integer_value(json_object_get(p, "bytes")),
		       json_integer_value(json_object_get(p, "tx_packets")));
		print_drops(json_object_get(p, "drops"));
		printf("\n");
		if ((s = json_object_get(p, "capture")))
			printf("  capturing stage %lld into %s: %lld packets\n",
			       json_integer_value(json_object_get(s, "stage")),
			       json_string_value(json_object_get(s, "file")),
			       json_integer_value(json_object_get(s, "captured")));
		json_array_foreach (json_object_get(p, "services"), j, s) {
			printf("  service %-8s in %lld passed %lld dropped %lld held %lld",
			       json_string_value(json_object_get(s, "name")),
			       json_integer_value(json_object_get(s, "packets")),
			       json_integer_value(json_object_get(s, "passed")),
			       json_integer_value(json_object_get(s, "dropped")),
			       json_integer_value(json_object_get(s, "consumed")));
			print_drops(json_object_get(s, "counters"));
			if (json_object_get(s, "status"))
				printf("\n    %s", json_string_value(json_object_get(s, "status")));
			printf("\n");
		}
	}
	if ((p = json_object_get(r, "cleared_ms_ago")))
		printf("counters since 'stats clear' %lld ms ago (/metrics keeps the totals)\n",
		       json_integer_value(p));
	p = json_object_get(r, "flows");
	printf("flows: %lld active, %lld lookups, %lld hits, %lld evictions\n",
	       json_integer_value(json_object_get(p, "active")),
	       json_integer_value(json_object_get(p, "lookups")),
	       json_integer_value(json_object_get(p, "hits")),
	       json_integer_value(json_object_get(p, "evictions")));
	print_workers(json_object_get(r, "workers"));
}

static void print_list(json_t *r, const char *const *keys)
{
	size_t i;
	json_t *o;

	json_array_foreach (r, i, o) {
		for (const char *const *k = keys; *k; k++) {
			json_t *v = json_object_get(o, *k);
			char *s = json_is_string(v) ? NULL
						    : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			printf("%s%s %s", k == keys ? "" : "  ", *k, s ? s : json_string_value(v));
			free(s);
		}
		printf("\n");
	}
}

/* service list: a plugin per line, then where each of its instances runs. */
static void print_services(json_t *r, const char *const *keys)
{
	size_t i, j;
	json_t *o, *in;

	json_array_foreach (r, i, o) {
		json_t *one = json_pack("[O]", o);

		print_list(one, keys);
		json_decref(one);
		json_array_foreach (json_object_get(o, "running"), j, in) {
			const char *why = json_string_value(json_object_get(in, "why"));

			printf("  %s  %s  pid %lld  %s  restarts %lld%s%s\n",
			       json_string_value(json_object_get(in, "instance")),
			       json_is_true(json_object_get(in, "isolated")) ? "isolated"
									     : "in-process",
			       json_integer_value(json_object_get(in, "pid")),
			       json_string_value(json_object_get(in, "state")),
			       json_integer_value(json_object_get(in, "restarts")),
			       why && *why ? "  " : "", why && *why ? why : "");
		}
	}
}

static void print_object(json_t *r)
{
	const char *k;
	json_t *v;

	json_object_foreach (r, k, v) {
		char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		printf("%-16s %s\n", k, s ? s : json_string_value(v));
		free(s);
	}
}

static void print_result(const char *cmd, json_t *r)
{
	static const char *const port_keys[] = { "name",  "driver", "device", "mtu", "mac",
						 "state", "claims", "mode",   NULL };
	static const char *const pl_keys[] = { "name",	   "in",     "out", "fail_mode",
					       "services", "secure", NULL };
	static const char *const svc_keys[] = { "name", "version", "instances", "path", NULL };

	if (nio_ctl_json())
		nio_ctl_print_json(r);
	else if (nio_ctl_show_print(cmd, r)) {
		/* config, route, neigh, flow: printed (netioctl_show.c) */
	} else if (!strcmp(cmd, "stats")) {
		print_stats(r);
	} else if (!strcmp(cmd, "port-list")) {
		print_list(r, port_keys);
	} else if (!strcmp(cmd, "pipeline-list")) {
		print_list(r, pl_keys);
	} else if (!strcmp(cmd, "service-list")) {
		print_services(r, svc_keys);
	} else if (!strcmp(cmd, "trace-show")) {
		nio_ctl_trace_print(r);
	} else {
		print_object(r);
	}
}

/* capture start PIPELINE FILE [stage S] [count N] | capture stop PIPELINE */
static json_t *capture_request(int argc, char **argv)
{
	char path[PATH_MAX], *end;
	json_t *req;

	if (!strcmp(argv[1], "stop") && argc == 3)
		return json_pack("{s:s, s:s}", "cmd", "capture-stop", "pipeline", argv[2]);
	if (strcmp(argv[1], "start") || argc < 4)
		diagnose(argc, argv);
	if (argc % 2)
		usage_error("'%s' needs a value", argv[argc - 1]);
	/* the daemon opens the file: give it an absolute path */
	if (argv[3][0] != '/' && getcwd(path, sizeof(path) - strlen(argv[3]) - 2))
		strcat(strcat(path, "/"), argv[3]);
	else
		snprintf(path, sizeof(path), "%s", argv[3]);
	req = json_pack("{s:s, s:s, s:s}", "cmd", "capture-start", "pipeline", argv[2], "file",
			path);
	for (int i = 4; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "stage")) {
			json_object_set_new(req, "stage", json_string(argv[i + 1]));
		} else if (!strcmp(argv[i], "count")) {
			long long n = strtoll(argv[i + 1], &end, 10);

			if (*end || n < 0 || end == argv[i + 1])
				usage_error("bad count '%s': a number of packets", argv[i + 1]);
			json_object_set_new(req, "count", json_integer(n));
		} else {
			usage_error(
				"unknown argument '%s' for 'capture start' (it takes stage, count)",
				argv[i]);
		}
	}
	return req;
}

/* OBJECT COMMAND [ARGS] -> request, or exit 1 on a usage error. */
static json_t *build_request(int argc, char **argv)
{
	const char *obj = argv[0], *cmd = argc > 1 ? argv[1] : NULL;
	char path[PATH_MAX];
	json_t *req = nio_ctl_show_request(argc, argv);

	if (req)
		return req;
	if (!strcmp(obj, "status") && argc == 1)
		return json_pack("{s:s}", "cmd", "status");
	if (!strcmp(obj, "port") && argc == 2 && !strcmp(cmd, "list"))
		return json_pack("{s:s}", "cmd", "port-list");
	if (!strcmp(obj, "pipeline") && argc == 2 && !strcmp(cmd, "list"))
		return json_pack("{s:s}", "cmd", "pipeline-list");
	if (!strcmp(obj, "reload") && argc <= 2) {
		if (argc == 1)
			return json_pack("{s:s}", "cmd", "reload");
		return json_pack("{s:s, s:s}", "cmd", "reload", "file",
				 realpath(argv[1], path) ? path : argv[1]);
	}
	if (!strcmp(obj, "capture") && cmd)
		return capture_request(argc, argv);
	if (!strcmp(obj, "trace") && cmd) {
		if (!(req = nio_ctl_trace_request(argc, argv)))
			diagnose(argc, argv);
		return req;
	}
	if (strcmp(obj, "service") || !cmd)
		diagnose(argc, argv);
	if (!strcmp(cmd, "list") && argc == 2)
		return json_pack("{s:s}", "cmd", "service-list");
	if (!strcmp(cmd, "load") && argc == 3)
		return json_pack("{s:s, s:s}", "cmd", "service-load", "path",
				 realpath(argv[2], path) ? path : argv[2]);
	if (!strcmp(cmd, "unload") && argc == 3)
		return json_pack("{s:s, s:s}", "cmd", "service-unload", "name", argv[2]);
	if (!strcmp(cmd, "replace") && argc == 3)
		return json_pack("{s:s, s:s}", "cmd", "service-replace", "name", argv[2]);
	if (!strcmp(cmd, "replace") && argc == 4)
		return json_pack("{s:s, s:s, s:s}", "cmd", "service-replace", "name", argv[2],
				 "path", realpath(argv[3], path) ? path : argv[3]);
	diagnose(argc, argv);
}

/* SECONDS (fractions allowed) -> milliseconds; 0 waits for ever. */
static int parse_timeout(const char *arg)
{
	char *end;
	double sec = strtod(arg, &end);

	if (end == arg || *end || !(sec >= 0 && sec <= 86400))
		usage_error("bad timeout '%s': seconds, 0 to 86400", arg);
	return sec > 0 && sec < 0.001 ? 1 : (int)(sec * 1000);
}

static const struct option long_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "compact", no_argument, NULL, 'c' },
	{ "socket", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *sock;
	const char *timeout;
	bool json, compact;
};

/* Options first; a bad one is reported once -j (anywhere among them) is known. */
static void parse_opts(int argc, char **argv, struct opts *o)
{
	char bad[64] = "";
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:jcs:t:hV", long_opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			o->json = true;
			break;
		case 'c':
			o->compact = true;
			break;
		case 's':
			o->sock = optarg;
			break;
		case 't':
			o->timeout = optarg;
			break;
		case 'h':
			help();
			break;
		case 'V':
			printf("netioctl %s\n", nio_version);
			exit(EXIT_OK);
		case ':':
			snprintf(bad, sizeof(bad), "option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			if (!bad[0] && optopt)
				snprintf(bad, sizeof(bad), "unknown option '-%c'", optopt);
			else if (!bad[0])
				snprintf(bad, sizeof(bad), "unknown option '%s'", argv[optind - 1]);
		}
	}
	nio_ctl_set_output(o->json, o->compact);
	if (bad[0])
		usage_error("%s", bad);
	if (optind >= argc)
		usage_error("no command given");
}

int main(int argc, char **argv)
{
	struct opts o = { .sock = NIO_RUNDIR "/netio/netiod.sock" };
	json_t *req, *rep;
	int rc, timeout_ms;

	parse_opts(argc, argv, &o);
	timeout_ms = o.timeout ? parse_timeout(o.timeout) : DEFAULT_TIMEOUT_MS;
	if (!strcmp(argv[optind], "kernel")) {
		rc = nio_ctl_kernel(argc - optind, argv + optind, o.json);
		if (rc < 0)
			diagnose(argc - optind, argv + optind);
		return rc;
	}
	req = build_request(argc - optind, argv + optind);
	rep = nio_ctl_transact(o.sock, req, timeout_ms);
	if (!rep) {
		json_decref(req);
		return EXIT_DAEMON;
	}
	if (json_is_true(json_object_get(rep, "ok"))) {
		print_result(json_string_value(json_object_get(req, "cmd")),
			     json_object_get(rep, "result"));
		rc = EXIT_OK;
	} else {
		rc = nio_ctl_error(EXIT_DAEMON, "%s",
				   json_string_value(json_object_get(rep, "error"))
					   ?: "daemon error");
	}
	json_decref(req);
	json_decref(rep);
	return rc;
}

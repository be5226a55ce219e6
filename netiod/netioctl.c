/* netioctl: the control CLI, iproute2-style: netioctl [-j] [-s SOCK] OBJECT COMMAND [ARGS]. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netioctl.h"

#ifndef NIO_RUNDIR
#define NIO_RUNDIR "/run"
#endif

enum { EXIT_OK = NIO_EXIT_OK, EXIT_USAGE = NIO_EXIT_USAGE, EXIT_DAEMON = NIO_EXIT_DAEMON };

static int json_out;

static void usage(void)
{
	fprintf(stderr, "usage: netioctl [-j] [-s SOCKET] OBJECT COMMAND [ARGS]\n"
			"  status\n"
			"  port list\n"
			"  pipeline list\n"
			"  stats [show]\n"
			"  service list | load PATH | unload NAME | replace NAME [PATH]\n"
			"  reload [FILE]\n"
			"  capture start PIPELINE FILE [stage in|out|SERVICE|N] [count N]\n"
			"  capture stop PIPELINE\n"
			"  kernel list | unbind DEV|ID   netio.ko's bindings in this netns, "
			"without netiod\n"
			"  -j  print the daemon's JSON reply\n"
			"  -s  control socket (default " NIO_RUNDIR "/netiod.sock)\n"
			"exit status: 0 ok, 1 usage error, 2 daemon error\n");
	exit(EXIT_USAGE);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one request line and read one reply line. */
static json_t *transact(const char *path, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT), *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	json_t *rep;
	int fd = connect_to(path);

	if (fd < 0) {
		fprintf(stderr, "netioctl: cannot reach netiod at %s: %s\n", path, strerror(errno));
		free(s);
		return NULL;
	}
	if (write(fd, s, strlen(s)) < 0 || write(fd, "\n", 1) < 0) {
		fprintf(stderr, "netioctl: write: %s\n", strerror(errno));
		free(s);
		close(fd);
		return NULL;
	}
	free(s);
	for (;;) {
		ssize_t n;

		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				exit(EXIT_DAEMON);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (buf[len - 1] == '\n')
			break;
	}
	close(fd);
	if (!buf || !len) {
		fprintf(stderr, "netioctl: no reply from netiod\n");
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	rep = json_loads(buf, 0, &jerr);
	free(buf);
	if (!rep)
		fprintf(stderr, "netioctl: bad reply: %s\n", jerr.text);
	return rep;
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
	static const char *const port_keys[] = { "name", "driver", "device", "mtu",
						 "mac",	 "state",  "claims", NULL };
	static const char *const pl_keys[] = { "name",	   "in",     "out", "fail_mode",
					       "services", "secure", NULL };
	static const char *const svc_keys[] = { "name", "version", "instances", "path", NULL };

	if (json_out) {
		char *s = json_dumps(r, JSON_INDENT(2) | JSON_ENCODE_ANY);

		puts(s);
		free(s);
	} else if (!strcmp(cmd, "stats")) {
		print_stats(r);
	} else if (!strcmp(cmd, "port-list")) {
		print_list(r, port_keys);
	} else if (!strcmp(cmd, "pipeline-list")) {
		print_list(r, pl_keys);
	} else if (!strcmp(cmd, "service-list")) {
		print_list(r, svc_keys);
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
	if (strcmp(argv[1], "start") || argc < 4 || argc % 2)
		usage();
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

			if (*end || n < 0)
				usage();
			json_object_set_new(req, "count", json_integer(n));
		} else {
			usage();
		}
	}
	return req;
}

/* OBJECT COMMAND [ARGS] -> request, or exit 1 on a usage error. */
static json_t *build_request(int argc, char **argv)
{
	const char *obj = argv[0], *cmd = argc > 1 ? argv[1] : NULL;
	char path[PATH_MAX];

	if (!strcmp(obj, "status") && argc == 1)
		return json_pack("{s:s}", "cmd", "status");
	if (!strcmp(obj, "stats") && (argc == 1 || (argc == 2 && !strcmp(cmd, "show"))))
		return json_pack("{s:s}", "cmd", "stats");
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
	if (strcmp(obj, "service") || !cmd)
		usage();
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
	usage();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *sock = NIO_RUNDIR "/netiod.sock";
	json_t *req, *rep;
	int ch, rc;

	while ((ch = getopt(argc, argv, "+js:h")) != -1) {
		switch (ch) {
		case 'j':
			json_out = 1;
			break;
		case 's':
			sock = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (!strcmp(argv[optind], "kernel")) {
		rc = nio_ctl_kernel(argc - optind, argv + optind, json_out);
		if (rc < 0)
			usage();
		return rc;
	}
	req = build_request(argc - optind, argv + optind);
	rep = transact(sock, req);
	if (!rep) {
		json_decref(req);
		return EXIT_DAEMON;
	}
	if (json_is_true(json_object_get(rep, "ok"))) {
		print_result(json_string_value(json_object_get(req, "cmd")),
			     json_object_get(rep, "result"));
		rc = EXIT_OK;
	} else {
		fprintf(stderr, "netioctl: %s\n",
			json_string_value(json_object_get(rep, "error")) ?: "daemon error");
		rc = EXIT_DAEMON;
	}
	json_decref(req);
	json_decref(rep);
	return rc;
}

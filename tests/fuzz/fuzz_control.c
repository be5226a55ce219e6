/* Fuzz the control protocol: arbitrary bytes as one request line to a daemon with a config. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../netiod/netiod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names that are not UTF-8 (a config may hold any bytes): every reply quoting them must go out. */
static const char conf[] =
	"port in { driver = \"pcap\" output = \"/dev/null\" }\n"
	"port \"in\xff\" { driver = \"pcap\" output = \"/dev/null\" }\n"
	"pipeline p { match { dst = \"198.51.100.0/24\" } out = \"in\" }\n"
	"pipeline \"q\xc3\x28\" { match { dst = \"203.0.113.0/24\" } out = \"in\xff\" }\n";

static struct netiod *daemon_once(void)
{
	static struct netiod d;
	char err[256];

	if (!d.running) {
		d.ctl_read_only = true; /* no reload or dlopen of paths the fuzzer invents */
		d.running = nio_config_load(&d, NULL, conf, err, sizeof(err));
		if (!d.running || nio_config_open_ports(d.running, NULL, err, sizeof(err)) < 0)
			abort();
		/* as a failed reload quoting a line that is not UTF-8 leaves it */
		snprintf(d.last_error, sizeof(d.last_error),
			 "x.conf:2: driver '\xfe\xff' is wrong");
	}
	return &d;
}

/* How many entries a read-only command must list (every one, whatever its name), or -1. */
static long expected(const struct netiod *d, const char *cmd, json_t *result, json_t **list)
{
	*list = result;
	if (!strcmp(cmd, "port-list"))
		return d->running->nports;
	if (!strcmp(cmd, "pipeline-list"))
		return d->running->npipelines;
	if (!strcmp(cmd, "stats") || !strcmp(cmd, "config-show")) {
		*list = json_object_get(result, "pipelines");
		return d->running->npipelines;
	}
	if (!strcmp(cmd, "trace-show")) { /* no worker runs here: nothing is ever traced */
		*list = json_object_get(result, "packets");
		return 0;
	}
	if (!strcmp(cmd, "route-show") || !strcmp(cmd, "neigh-show") || !strcmp(cmd, "flow-show")) {
		*list = NULL; /* no fib, no worker here: empty, but it must succeed */
		return 0;
	}
	if (!strcmp(cmd, "status")) {
		*list = NULL;
		return 0;
	}
	return -1;
}

/* A read-only command that exists always succeeds, and lists every port or pipeline. */
static void check(const struct netiod *d, const char *line, const char *reply)
{
	/* as the daemon reads it: a duplicate "cmd" is refused, not the last one taken */
	json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	json_t *rep = json_loads(reply, 0, NULL), *list;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	long n;

	if (!rep)
		__builtin_trap(); /* the reply is JSON */
	if (cmd && json_object_size(req) == 1 &&
	    (n = expected(d, cmd, json_object_get(rep, "result"), &list)) >= 0) {
		if (!json_is_true(json_object_get(rep, "ok")))
			__builtin_trap();
		if (list && json_array_size(list) != (size_t)n)
			__builtin_trap();
	}
	json_decref(req);
	json_decref(rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netiod *d = daemon_once();
	char *line = malloc(size + 1), *reply;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	reply = nio_control_request(d, line);
	if (!reply || strncmp(reply, "{\"ok\":", 6))
		__builtin_trap(); /* every request gets a JSON reply */
	check(d, line, reply);
	free(reply);
	free(line);
	return 0;
}

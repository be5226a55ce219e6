/* netioctl trace: start [pipeline NAME | port NAME] [count N] | show | stop | clear. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netioctl.h"

/* A usage error naming what was wrong: exit 1. */
static void __attribute__((noreturn)) bad(const char *what, const char *arg)
{
	exit(nio_ctl_error(NIO_EXIT_USAGE, "%s '%s'; see 'netioctl --help'", what, arg));
}

/* One "KEY VALUE" pair of trace start into req (the daemon judges names and the count). */
static void start_arg(json_t *req, const char *key, const char *val)
{
	char *end;
	long long n;

	if (!strcmp(key, "pipeline") || !strcmp(key, "port")) {
		json_object_set_new(req, key, json_string(val));
		return;
	}
	if (strcmp(key, "count"))
		bad("unknown argument for 'trace start' (it takes pipeline, port, count):", key);
	n = strtoll(val, &end, 10);
	if (!val[0] || *end)
		bad("bad count (a number of packets):", val);
	json_object_set_new(req, "count", json_integer(n));
}

/* trace ARGS -> request; NULL for the caller to diagnose, or exit 1 on a bad argument. */
json_t *nio_ctl_trace_request(int argc, char **argv)
{
	static const char *const simple[] = { "show", "stop", "clear" };
	char cmd[32];
	json_t *req;

	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (argc == 2 && !strcmp(argv[1], simple[i])) {
			snprintf(cmd, sizeof(cmd), "trace-%s", simple[i]);
			return json_pack("{s:s}", "cmd", cmd);
		}
	}
	if (argc < 2 || strcmp(argv[1], "start"))
		return NULL;
	if (argc % 2)
		bad("a value is missing after", argv[argc - 1]);
	req = json_pack("{s:s}", "cmd", "trace-start");
	for (int i = 2; i < argc; i += 2)
		start_arg(req, argv[i], argv[i + 1]);
	return req;
}

static const char *proto_name(long long p)
{
	switch (p) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 47:
		return "gre";
	case 50:
		return "esp";
	case 58:
		return "icmpv6";
	case 132:
		return "sctp";
	default:
		return NULL;
	}
}

static void print_packet_line(json_t *pkt)
{
	json_t *k = json_object_get(pkt, "packet");
	long long proto = json_integer_value(json_object_get(k, "proto"));
	long long sp = json_integer_value(json_object_get(k, "sport"));
	long long dp = json_integer_value(json_object_get(k, "dport"));
	json_t *type = json_object_get(k, "type");

	printf("Packet %lld (worker %lld)", json_integer_value(json_object_get(pkt, "id")),
	       json_integer_value(json_object_get(pkt, "worker")));
	if (!json_is_true(json_object_get(pkt, "done"))) {
		printf(": under way\n");
		return;
	}
	if (!k) {
		printf("\n");
		return;
	}
	printf(": %s ", json_string_value(json_object_get(k, "family")));
	if (proto_name(proto))
		printf("%s", proto_name(proto));
	else
		printf("proto %lld", proto);
	printf(" %s", json_string_value(json_object_get(k, "src")));
	if (sp || dp)
		printf(" port %lld", sp);
	printf(" -> %s", json_string_value(json_object_get(k, "dst")));
	if (sp || dp)
		printf(" port %lld", dp);
	if (type)
		printf(" type %lld code %lld", json_integer_value(type),
		       json_integer_value(json_object_get(k, "code")));
	printf("\n");
}

/* "  +12us w0 service: service mark, index 1, verdict pass" */
static void print_step(json_t *s)
{
	const char *key;
	json_t *v;
	int first = 1;

	printf("  %+8lldus w%lld %s", json_integer_value(json_object_get(s, "t_us")),
	       json_integer_value(json_object_get(s, "worker")),
	       json_string_value(json_object_get(s, "step")));
	json_object_foreach (s, key, v) {
		char *val;

		if (!strcmp(key, "step") || !strcmp(key, "worker") || !strcmp(key, "t_us"))
			continue;
		val = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
		printf("%s %s %s", first ? ":" : ",", key, val ? val : json_string_value(v));
		free(val);
		first = 0;
	}
	printf("\n");
}

void nio_ctl_trace_print(json_t *r)
{
	json_t *f = json_object_get(r, "filter"), *pkt, *s;
	const char *key;
	json_t *v;
	size_t i, j;

	if (!json_integer_value(json_object_get(r, "count"))) {
		printf("no trace: netioctl trace start [pipeline NAME | port NAME] [count N]\n");
		return;
	}
	printf("trace");
	json_object_foreach (f, key, v)
		printf(" %s %s", key, json_string_value(v));
	if (!json_object_size(f))
		printf(" of every packet");
	printf(": %lld of %lld packets traced%s\n",
	       json_integer_value(json_object_get(r, "traced")),
	       json_integer_value(json_object_get(r, "count")),
	       json_is_true(json_object_get(r, "armed")) ? ", waiting for more" : "");
	json_array_foreach (json_object_get(r, "packets"), i, pkt) {
		print_packet_line(pkt);
		json_array_foreach (json_object_get(pkt, "steps"), j, s)
			print_step(s);
		if (json_object_get(pkt, "steps_lost"))
			printf("  (%lld steps not recorded)\n",
			       json_integer_value(json_object_get(pkt, "steps_lost")));
	}
}

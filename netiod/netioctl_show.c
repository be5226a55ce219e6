/* netioctl: the verbs that show the running state (config, route, neigh, flow, stats with a
 * filter or clear): their requests and their text output. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netioctl.h"

/* What was wrong, on stderr (JSON under -j), and exit 1. */
static void __attribute__((noreturn, format(printf, 1, 2))) bad(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	exit(nio_ctl_error(NIO_EXIT_USAGE, "%s; see 'netioctl --help'", msg));
}

/* The keywords a verb takes after its fixed words, each followed by a value. */
struct kw {
	const char *word, *key;
	bool numeric; /* 0-65535 */
};

static json_t *value(const struct kw *k, const char *v)
{
	char *end;
	long long n;

	if (!k->numeric)
		return json_string(v);
	n = strtoll(v, &end, 10);
	if (end == v || *end || n < 0 || n > 65535)
		bad("bad %s '%s': a port number 0-65535", k->word, v);
	return json_integer(n);
}

/* KEYWORD VALUE pairs (argv) into req, each keyword at most once. */
static json_t *pairs(json_t *req, int argc, char **argv, const struct kw *kws, const char *verb)
{
	for (int i = 0; i < argc; i += 2) {
		const struct kw *k = kws;
		char takes[128] = "";

		while (k->word && strcmp(k->word, argv[i]))
			k++;
		if (!k->word) {
			for (k = kws; k->word; k++)
				snprintf(takes + strlen(takes), sizeof(takes) - strlen(takes),
					 "%s%s", takes[0] ? ", " : "", k->word);
			bad("unknown argument '%s' for '%s' (it takes %s)", argv[i], verb, takes);
		}
		if (i + 1 >= argc)
			bad("'%s' needs a value", argv[i]);
		if (json_object_get(req, k->key))
			bad("'%s' given twice", argv[i]);
		json_object_set_new(req, k->key, value(k, argv[i + 1]));
	}
	return req;
}

static bool is(int argc, char **argv, int i, const char *w)
{
	return i < argc && !strcmp(argv[i], w);
}

static json_t *route_request(int argc, char **argv)
{
	static const struct kw get[] = { { "from", "src", false },    { "in", "in", false },
					 { "proto", "proto", false }, { "sport", "sport", true },
					 { "dport", "dport", true },  { NULL, NULL, false } };
	static const struct kw show[] = { { "table", "table", false }, { NULL, NULL, false } };

	if (is(argc, argv, 1, "get") && argc >= 3)
		return pairs(json_pack("{s:s, s:s}", "cmd", "route-get", "dst", argv[2]), argc - 3,
			     argv + 3, get, "route get");
	if (is(argc, argv, 1, "show"))
		return pairs(json_pack("{s:s}", "cmd", "route-show"), argc - 2, argv + 2, show,
			     "route show");
	return NULL;
}

static json_t *stats_request(int argc, char **argv)
{
	static const struct kw filt[] = { { "port", "port", false },
					  { "pipeline", "pipeline", false },
					  { NULL, NULL, false } };
	int skip = is(argc, argv, 1, "show") ? 2 : 1;

	if (is(argc, argv, 1, "clear"))
		return argc == 2 ? json_pack("{s:s}", "cmd", "stats-clear") : NULL;
	return pairs(json_pack("{s:s}", "cmd", "stats"), argc - skip, argv + skip, filt, "stats");
}

/* The request for OBJECT COMMAND [ARGS] if it is one of these verbs, else NULL (netioctl.c
 * then says what is wrong with the line). */
json_t *nio_ctl_show_request(int argc, char **argv)
{
	static const struct kw flow[] = { { "src", "src", false },
					  { "dst", "dst", false },
					  { "pipeline", "pipeline", false },
					  { NULL, NULL, false } };
	const char *obj = argv[0];

	if (!strcmp(obj, "stats"))
		return stats_request(argc, argv);
	if (!strcmp(obj, "route"))
		return route_request(argc, argv);
	if (!strcmp(obj, "config") && argc == 2 && is(argc, argv, 1, "show"))
		return json_pack("{s:s}", "cmd", "config-show");
	if (!strcmp(obj, "neigh") && argc == 2 && is(argc, argv, 1, "show"))
		return json_pack("{s:s}", "cmd", "neigh-show");
	if (!strcmp(obj, "flow") && is(argc, argv, 1, "show"))
		return pairs(json_pack("{s:s}", "cmd", "flow-show"), argc - 2, argv + 2, flow,
			     "flow show");
	return NULL;
}

/* ---------------------------------------------------------------- text output */

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* " via X dev D (port P)" of a route, a next hop or a route get answer */
static void print_hop(json_t *o, const char *via_key)
{
	json_t *dev = json_object_get(o, "dev");

	if (str(o, via_key))
		printf(" via %s", str(o, via_key));
	if (json_is_string(dev))
		printf(" dev %s", json_string_value(dev));
	else if (dev)
		printf(" dev #%lld", json_integer_value(dev));
	if (str(o, "port"))
		printf(" (port %s)", str(o, "port"));
}

static void print_route(json_t *r, const char *indent)
{
	size_t i;
	json_t *nh = NULL; /* set by the iterator (cppcheck cannot see it) */

	printf("%s", indent);
	if (strcmp(str(r, "type"), "unicast"))
		printf("%s ", str(r, "type"));
	printf("%s", str(r, "dst"));
	print_hop(r, "via");
	printf(" table %lld metric %lld\n", num(r, "table"), num(r, "metric"));
	json_array_foreach (json_object_get(r, "nexthops"), i, nh) {
		printf("%s    nexthop", indent);
		print_hop(nh, "via");
		printf(" share %lld/1000\n", num(nh, "share_permille"));
	}
}

static void print_routes(json_t *r)
{
	size_t i;
	json_t *o = NULL;

	json_array_foreach (json_object_get(r, "routes"), i, o)
		print_route(o, "");
}

static void print_neighs(json_t *r)
{
	size_t i;
	json_t *o = NULL;

	json_array_foreach (json_object_get(r, "neighbours"), i, o) {
		printf("%s", str(o, "addr"));
		print_hop(o, "");
		printf(" lladdr %s %s\n", str(o, "mac"),
		       str(o, "state") ?: "(gone from the kernel)");
	}
}

static void print_route_get(json_t *r)
{
	const char *v = str(r, "verdict");
	json_t *svcs = json_object_get(r, "services"), *s;
	size_t i;

	printf("%s from %s in %s proto %lld: ", str(r, "dst"), str(r, "src"),
	       str(r, "in") ?: "(none)", num(r, "proto"));
	if (!strcmp(v, "local")) {
		printf("to the gateway itself, left to the kernel\n");
		return;
	}
	if (!strcmp(v, "unclaimed")) {
		printf("no pipeline matches, left to the kernel\n");
		return;
	}
	printf("pipeline %s", str(r, "pipeline"));
	json_array_foreach (svcs, i, s)
		printf("%s%s", i ? " " : " (services ", json_string_value(s));
	printf("%s\n", json_array_size(svcs) ? ")" : "");
	if (json_object_get(r, "route") && !json_is_null(json_object_get(r, "route")))
		print_route(json_object_get(r, "route"), "  route ");
	if (str(r, "drop")) {
		printf("  dropped: %s\n", str(r, "drop"));
		return;
	}
	printf("  out %s", str(r, "out"));
	if (str(r, "next_hop")) {
		printf(" next hop %s", str(r, "next_hop"));
		print_hop(r, "");
	}
	printf(" lladdr %s", str(r, "mac") ?: "(unresolved: held while the kernel resolves it)");
	if (json_object_get(r, "neighbour"))
		printf(" neighbour %s", str(r, "neighbour") ?: "(none in the kernel)");
	printf("\n");
}

static void print_flows(json_t *r)
{
	size_t i;
	json_t *f = NULL;

	json_array_foreach (json_object_get(r, "flows"), i, f) {
		printf("worker %lld proto %lld %s %lld -> %s %lld in %s: %s", num(f, "worker"),
		       num(f, "proto"), str(f, "src"), num(f, "sport"), str(f, "dst"),
		       num(f, "dport"), str(f, "in") ?: "-",
		       str(f, "pipeline") ? str(f, "pipeline") : "(unclaimed)");
		if (!json_is_true(json_object_get(f, "attached")) && str(f, "pipeline"))
			printf(" (runs on another worker)");
		printf(", %lld packets %lld bytes, idle %lld ms", num(f, "packets"),
		       num(f, "bytes"), num(f, "idle_ms"));
		if (str(f, "out"))
			printf(", out %s", str(f, "out"));
		printf("\n");
	}
	printf("%lld flows%s\n", num(r, "matched"),
	       json_is_true(json_object_get(r, "truncated")) ? " (list truncated)" : "");
}

/* Print the result of one of these verbs; false if cmd is not one of them. */
bool nio_ctl_show_print(const char *cmd, json_t *r)
{
	if (!strcmp(cmd, "config-show"))
		fputs(str(r, "text"), stdout);
	else if (!strcmp(cmd, "route-show"))
		print_routes(r);
	else if (!strcmp(cmd, "route-get"))
		print_route_get(r);
	else if (!strcmp(cmd, "neigh-show"))
		print_neighs(r);
	else if (!strcmp(cmd, "flow-show"))
		print_flows(r);
	else if (!strcmp(cmd, "stats-clear"))
		printf("counters cleared (for netioctl only: /metrics keeps counting)\n");
	else
		return false;
	return true;
}

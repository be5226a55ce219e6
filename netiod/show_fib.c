/* route show, neigh show, route get: netiod's mirror of the kernel's tables (the fib snapshot
 * the workers use now) and the answer the worker's own code gives for one packet. */
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "show.h"

static const char *const rt_types[] = { [NIO_RT_UNICAST] = "unicast",
					[NIO_RT_BLACKHOLE] = "blackhole",
					[NIO_RT_UNREACHABLE] = "unreachable",
					[NIO_RT_PROHIBIT] = "prohibit" };

static json_t *addr_json(const uint8_t a[16])
{
	char s[INET6_ADDRSTRLEN];

	nio_addr_format(a, s, sizeof(s));
	return json_string(s);
}

static json_t *mac_json(const uint8_t m[6])
{
	char s[18];

	snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return json_string(s);
}

static const struct nio_port *port_of_ifindex(const struct nio_config *c, int ifindex)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (c->ports[i]->ifindex == ifindex && c->ports[i]->device[0])
			return c->ports[i];
	return NULL;
}

/* "dev": the kernel's device name; "port": netiod's port on it, if any. */
static void dev_set(json_t *o, const struct nio_config *c, int ifindex)
{
	char name[IF_NAMESIZE];
	const struct nio_port *p = port_of_ifindex(c, ifindex);

	json_object_set_new(o, "dev",
			    if_indextoname((unsigned)ifindex, name) ? json_string(name)
								    : json_integer(ifindex));
	json_object_set_new(o, "port", p ? nio_json_text(p->name) : json_null());
}

static json_t *prefix_json(const struct nio_prefix *p)
{
	char a[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN + 5];

	nio_addr_format(p->addr, a, sizeof(a));
	snprintf(s, sizeof(s), "%s/%u", a, p->family == 4 ? p->len - 96u : p->len);
	return json_string(s);
}

static json_t *nexthops_json(const struct nio_config *c, const struct nio_fib *fib,
			     const struct nio_fib_route *r)
{
	json_t *a = json_array();
	uint32_t lo = 0;

	for (uint32_t i = 0; i < r->nnh && r->nh + i < fib->nnhs; i++) {
		const struct nio_fib_nh *nh = &fib->nhs[r->nh + i];
		json_t *o = json_object();

		if (nh->has_gw)
			json_object_set_new(o, "via", addr_json(nh->gw));
		dev_set(o, c, nh->ifindex);
		/* its share of the 31-bit hash space (fib_rebalance), in per mille */
		json_object_set_new(
			o, "share_permille",
			json_integer((json_int_t)(((uint64_t)nh->upper - lo + 1) * 1000 >> 31)));
		lo = nh->upper + 1;
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *route_json(const struct nio_config *c, const struct nio_fib *fib,
			  const struct nio_fib_route *r)
{
	json_t *o = json_pack("{s:o, s:s, s:I, s:I}", "dst", prefix_json(&r->dst), "type",
			      rt_types[r->type], "table", (json_int_t)r->table, "metric",
			      (json_int_t)r->priority);

	if (r->type != NIO_RT_UNICAST)
		return o;
	if (r->nnh > 1) {
		json_object_set_new(o, "nexthops", nexthops_json(c, fib, r));
		return o;
	}
	if (r->has_gw)
		json_object_set_new(o, "via", addr_json(r->gw));
	dev_set(o, c, r->ifindex);
	return o;
}

static int table_arg(json_t *req, uint32_t *table, char *err, size_t errlen)
{
	json_t *v = json_object_get(req, "table");

	*table = 0;
	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= UINT32_MAX)
		*table = (uint32_t)json_integer_value(v);
	else if (!json_is_string(v) || nio_parse_rt_table(json_string_value(v), table) < 0)
		return nio_err(err, errlen, "\"table\" must name a routing table (main, 1-%u)",
			       UINT32_MAX);
	return 0;
}

/* The routes of every table the running configuration uses (main and pipelines' tables). */
json_t *nio_show_routes(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	const struct nio_fib *fib = nio_neigh_fib(d);
	json_t *a;
	uint32_t table;

	if (table_arg(req, &table, err, errlen) < 0)
		return NULL;
	a = json_array();
	for (unsigned i = 0; fib && i < fib->nroutes; i++)
		if (!table || fib->routes[i].table == table)
			json_array_append_new(a, route_json(d->running, fib, &fib->routes[i]));
	return json_pack("{s:I, s:o}", "generation", (json_int_t)(fib ? fib->generation : 0),
			 "routes", a);
}

static json_t *kernel_state(struct netiod *d, const uint8_t addr[16], int ifindex)
{
	char s[64];

	return nio_neigh_kernel_state(d, addr, ifindex, s, sizeof(s)) < 0 ? json_null()
									  : json_string(s);
}

/* The neighbours the workers can use (usable states only), with the kernel's state now. */
json_t *nio_show_neighs(struct netiod *d)
{
	const struct nio_fib *fib = nio_neigh_fib(d);
	json_t *a = json_array();

	for (unsigned i = 0; fib && i < fib->nneighs; i++) {
		const struct nio_fib_neigh *n = &fib->neighs[i];
		json_t *o =
			json_pack("{s:o, s:o, s:o}", "addr", addr_json(n->addr), "mac",
				  mac_json(n->mac), "state", kernel_state(d, n->addr, n->ifindex));

		dev_set(o, d->running, n->ifindex);
		json_array_append_new(a, o);
	}
	return json_pack("{s:I, s:o}", "generation", (json_int_t)(fib ? fib->generation : 0),
			 "neighbours", a);
}

/* ---------------------------------------------------------------- route get */

static int addr_arg(json_t *req, const char *key, uint8_t out[16], uint8_t *family, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(req, key);

	if (!json_is_string(v) || nio_addr_parse(json_string_value(v), out, family) < 0)
		return nio_err(err, errlen, "\"%s\" must be an IPv4 or IPv6 address", key);
	return 0;
}

static int u16_arg(json_t *req, const char *key, uint16_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(req, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
		return nio_err(err, errlen, "\"%s\" must be an integer 0-65535", key);
	*out = (uint16_t)json_integer_value(v);
	return 0;
}

static int proto_arg(json_t *req, uint8_t *proto, char *err, size_t errlen)
{
	json_t *v = json_object_get(req, "proto");
	int p = -1;

	if (!v)
		return 0;
	if (json_is_string(v))
		p = nio_proto_parse(json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 256)
		p = (int)json_integer_value(v);
	if (p < 0)
		return nio_err(err, errlen, "\"proto\" must be a protocol name or 1-255");
	*proto = (uint8_t)p;
	return 0;
}

/*
 * The input port: the one named, else the port the route back to the source leaves by (where
 * the packet would arrive), else none (only pipelines without "in" can match).
 */
static int in_arg(struct netiod *d, json_t *req, struct nio_flow_key *k, bool has_src, char *err,
		  size_t errlen)
{
	const struct nio_config *c = d->running;
	json_t *v = json_object_get(req, "in");
	uint8_t nh[16];
	int ifindex;
	const struct nio_port *p;

	k->in_port = NIO_PORT_NONE;
	if (v) {
		for (unsigned i = 0; json_is_string(v) && i < c->nports; i++)
			if (!strcmp(c->ports[i]->name, json_string_value(v)))
				k->in_port = (uint16_t)i;
		if (k->in_port == NIO_PORT_NONE)
			return nio_err(err, errlen, "\"in\" must name a port of the configuration");
		return 0;
	}
	if (has_src &&
	    nio_fib_lookup(nio_neigh_fib(d), NIO_RT_TABLE_MAIN, k->src, 0, &ifindex, nh) ==
		    NIO_RT_UNICAST &&
	    (p = port_of_ifindex(c, ifindex)))
		k->in_port = p->id;
	return 0;
}

static int key_of(struct netiod *d, json_t *req, struct nio_flow_key *k, char *err, size_t errlen)
{
	uint8_t fam;
	bool has_src = json_object_get(req, "src") != NULL;

	memset(k, 0, sizeof(*k));
	if (addr_arg(req, "dst", k->dst, &k->family, err, errlen) < 0)
		return -1;
	if (has_src) {
		if (addr_arg(req, "src", k->src, &fam, err, errlen) < 0)
			return -1;
		if (fam != k->family)
			return nio_err(err, errlen,
				       "\"src\" and \"dst\" are of different families");
	} else if (k->family == 4) {
		nio_addr_from_v4(k->src, (const uint8_t[4]){ 0 });
	}
	if (proto_arg(req, &k->proto, err, errlen) < 0 ||
	    u16_arg(req, "sport", &k->sport, err, errlen) < 0 ||
	    u16_arg(req, "dport", &k->dport, err, errlen) < 0)
		return -1;
	return in_arg(d, req, k, has_src, err, errlen);
}

/* What the worker's next-hop code (nio_next_hop) makes of the packet in pipeline pl. */
static void hop_set(struct netiod *d, json_t *o, const struct nio_pipeline *pl,
		    const struct nio_flow_key *k)
{
	const struct nio_config *c = d->running;
	const struct nio_fib *fib = nio_neigh_fib(d);
	const struct nio_fib_route *r = NULL;
	struct nio_hop h = { 0 };
	int why = nio_next_hop(c, fib, pl, k, &h);
	bool fixed = pl->has_dst_mac && pl->out_port >= 0;

	if (!fixed && fib)
		r = nio_fib_route(fib, pl->table, pl->has_via ? pl->via : k->dst);
	json_object_set_new(o, "route", r ? route_json(c, fib, r) : json_null());
	if (why && why != NIO_DROP_NEIGH_MISS) {
		json_object_set_new(o, "drop", json_string(nio_drop_names[why]));
		return;
	}
	json_object_set_new(o, "out", nio_json_text(c->ports[h.out]->name));
	if (!fixed) {
		json_object_set_new(o, "next_hop", addr_json(h.nh));
		dev_set(o, c, h.ifindex);
		json_object_set_new(o, "neighbour", kernel_state(d, h.nh, h.ifindex));
	}
	if (why == NIO_DROP_NEIGH_MISS) /* the worker holds the packet and asks the kernel */
		json_object_set_new(o, "mac", json_null());
	else
		json_object_set_new(o, "mac", mac_json(h.mac));
}

json_t *nio_route_get(struct netiod *d, json_t *req, char *err, size_t errlen)
{
	const struct nio_config *c = d->running;
	struct nio_flow_key k;
	json_t *o, *svcs;
	int idx;

	if (key_of(d, req, &k, err, errlen) < 0)
		return NULL;
	idx = nio_classify_flow(c, &k);
	o = json_pack("{s:o, s:o, s:i, s:o}", "dst", addr_json(k.dst), "src", addr_json(k.src),
		      "proto", k.proto, "in",
		      k.in_port < c->nports ? nio_json_text(c->ports[k.in_port]->name)
					    : json_null());
	if (idx < 0) {
		/* unclaimed: the kernel gets the packet (to the gateway itself: "local") */
		json_object_set_new(
			o, "verdict",
			json_string(nio_is_port_addr(c, k.family, k.dst) ? "local" : "unclaimed"));
		return o;
	}
	json_object_set_new(o, "verdict", json_string("pipeline"));
	json_object_set_new(o, "pipeline", nio_json_text(c->pipelines[idx].name));
	svcs = json_array();
	for (unsigned i = 0; i < c->pipelines[idx].nsvcs; i++)
		json_array_append_new(svcs, nio_json_text(c->pipelines[idx].svcs[i].svc->name));
	json_object_set_new(o, "services", svcs);
	hop_set(d, o, &c->pipelines[idx], &k);
	return o;
}

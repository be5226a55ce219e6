/* Unit tests for fib.c: longest-prefix route lookup (reject routes, tables, multipath) and
 * neighbour lookup in a fib snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netiod.h"

struct route_row {
	const char *dst;
	const char *gw; /* NULL: on-link */
	int ifindex;
	uint32_t priority;
	uint8_t type;	/* enum nio_rt_type; 0: unicast */
	uint32_t table; /* 0: main */
};

/* In the order neigh.c publishes: longest prefix first, then lowest priority. */
static const struct route_row route_rows[] = {
	{ "198.51.100.7/32", "192.0.2.254", 3, 0, 0, 0 },
	{ "203.0.113.0/28", NULL, 0, 0, NIO_RT_BLACKHOLE, 0 },
	{ "203.0.113.16/28", NULL, 0, 0, NIO_RT_UNREACHABLE, 0 },
	{ "203.0.113.32/28", NULL, 0, 0, NIO_RT_PROHIBIT, 0 },
	{ "198.51.100.0/24", NULL, 2, 0, 0, 0 },
	{ "198.51.100.0/24", NULL, 5, 100, 0, 0 },
	{ "192.0.2.0/24", NULL, 3, 0, 0, 0 },
	{ "0.0.0.0/0", "192.0.2.1", 3, 0, 0, 0 }, /* 96 + 0 */
	{ "fe80::/64", NULL, 4, 256, 0, 0 },
	{ "2001:db8:1::/48", NULL, 2, 256, 0, 0 },
	{ "2001:db8:dead::/48", NULL, 0, 1024, NIO_RT_PROHIBIT, 0 },
	{ "2001:db8::/32", "2001:db8:ffff::1", 4, 1024, 0, 0 },
	{ "0.0.0.0/0", "198.51.100.99", 2, 0, NIO_RT_UNICAST, 100 }, /* VRF-lite table */
	{ "::/0", NULL, 0, 0, NIO_RT_UNREACHABLE, 100 },
};

/* Same table without the IPv4 default: an IPv4 address must not fall into the IPv6 default. */
static const struct route_row v6_default_rows[] = {
	{ "192.0.2.0/24", NULL, 3, 0, 0, 0 },
	{ "::/0", "fe80::1", 4, 1024, 0, 0 },
};

struct neigh_row {
	const char *addr;
	int ifindex;
	uint8_t mac[6];
};

static const struct neigh_row neigh_rows[] = {
	{ "192.0.2.1", 3, { 0x02, 0, 0, 0, 0, 0x01 } },
	{ "192.0.2.254", 3, { 0x02, 0, 0, 0, 0, 0xfe } },
	{ "198.51.100.9", 2, { 0x02, 0, 0, 0, 0x02, 0x09 } },
	{ "fe80::1", 4, { 0x02, 0, 0, 0, 0x04, 0x01 } },
	{ "fe80::1", 2, { 0x02, 0, 0, 0, 0x02, 0x01 } },
	{ "2001:db8:ffff::1", 4, { 0x02, 0, 0, 0, 0x04, 0xff } },
};

static void parse_addr(const char *s, uint8_t out[16])
{
	uint8_t family;

	assert_int_equal(nio_addr_parse(s, out, &family), 0);
}

static void build_routes(struct nio_fib *fib, const struct route_row *rows, unsigned n)
{
	fib->routes = calloc(n, sizeof(*fib->routes));
	assert_non_null(fib->routes);
	fib->nroutes = n;
	for (unsigned i = 0; i < n; i++) {
		struct nio_fib_route *r = &fib->routes[i];

		assert_int_equal(nio_prefix_parse(rows[i].dst, &r->dst), 0);
		r->has_gw = rows[i].gw != NULL;
		if (r->has_gw)
			parse_addr(rows[i].gw, r->gw);
		r->ifindex = rows[i].ifindex;
		r->priority = rows[i].priority;
		r->type = rows[i].type;
		r->table = rows[i].table ? rows[i].table : NIO_RT_TABLE_MAIN;
	}
}

static int neigh_cmp(const void *a, const void *b)
{
	const struct nio_fib_neigh *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, 16);

	return c ? c : (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

/* The rows are deliberately unsorted; the snapshot contract is sorted, as neigh.c does. */
static void build_neighs(struct nio_fib *fib)
{
	unsigned n = sizeof(neigh_rows) / sizeof(neigh_rows[0]);

	fib->neighs = calloc(n, sizeof(*fib->neighs));
	assert_non_null(fib->neighs);
	fib->nneighs = n;
	for (unsigned i = 0; i < n; i++) {
		parse_addr(neigh_rows[i].addr, fib->neighs[i].addr);
		fib->neighs[i].ifindex = neigh_rows[i].ifindex;
		memcpy(fib->neighs[i].mac, neigh_rows[i].mac, 6);
	}
	qsort(fib->neighs, n, sizeof(*fib->neighs), neigh_cmp);
}

static int setup(void **state)
{
	struct nio_fib *fib = calloc(1, sizeof(*fib));

	assert_non_null(fib);
	build_routes(fib, route_rows, sizeof(route_rows) / sizeof(route_rows[0]));
	build_neighs(fib);
	*state = fib;
	return 0;
}

static int teardown(void **state)
{
	struct nio_fib *fib = *state;

	free(fib->routes);
	free(fib->neighs);
	free(fib);
	return 0;
}

struct lookup_case {
	const char *dst;
	int rc;
	int ifindex;
	const char *nexthop;
	uint32_t table; /* 0: main */
};

static const struct lookup_case lookup_cases[] = {
	{ "198.51.100.7", 0, 3, "192.0.2.254", 0 },    /* host route beats its /24 */
	{ "198.51.100.8", 0, 2, "198.51.100.8", 0 },   /* on-link: next hop is dst; metric 0 wins */
	{ "192.0.2.77", 0, 3, "192.0.2.77", 0 },       /* connected */
	{ "203.0.113.99", 0, 3, "192.0.2.1", 0 },      /* IPv4 default route */
	{ "2001:db8:1::5", 0, 2, "2001:db8:1::5", 0 }, /* /48 beats /32 */
	{ "2001:db8:2::5", 0, 4, "2001:db8:ffff::1", 0 },
	{ "fe80::99", 0, 4, "fe80::99", 0 },
	{ "2001:db9::1", -1, 0, NULL, 0 }, /* no IPv6 default */
	/* reject routes: the type, whatever a shorter route would say */
	{ "203.0.113.5", NIO_RT_BLACKHOLE, 0, NULL, 0 },
	{ "203.0.113.17", NIO_RT_UNREACHABLE, 0, NULL, 0 },
	{ "203.0.113.40", NIO_RT_PROHIBIT, 0, NULL, 0 },
	{ "203.0.113.48", 0, 3, "192.0.2.1", 0 },
	{ "2001:db8:dead::1", NIO_RT_PROHIBIT, 0, NULL, 0 },
	/* another table sees only its own routes */
	{ "198.51.100.7", 0, 2, "198.51.100.99", 100 },
	{ "203.0.113.5", 0, 2, "198.51.100.99", 100 },
	{ "2001:db8:1::5", NIO_RT_UNREACHABLE, 0, NULL, 100 },
	{ "192.0.2.77", -1, 0, NULL, 101 },
};

static void test_lookup(void **state)
{
	const struct nio_fib *fib = *state;

	for (size_t i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		const struct lookup_case *c = &lookup_cases[i];
		uint8_t dst[16], nh[16], want[16];
		int ifindex = 0;

		parse_addr(c->dst, dst);
		assert_int_equal(nio_fib_lookup(fib, c->table ? c->table : NIO_RT_TABLE_MAIN, dst,
						0, &ifindex, nh),
				 c->rc);
		if (c->rc)
			continue;
		parse_addr(c->nexthop, want);
		assert_int_equal(ifindex, c->ifindex);
		assert_memory_equal(nh, want, 16);
	}
}

static void test_lookup_family(void **state)
{
	struct nio_fib fib = { 0 };
	uint8_t dst[16], nh[16];
	int ifindex = 0;

	build_routes(&fib, v6_default_rows, sizeof(v6_default_rows) / sizeof(v6_default_rows[0]));
	parse_addr("203.0.113.5", dst);
	assert_int_equal(nio_fib_lookup(&fib, NIO_RT_TABLE_MAIN, dst, 0, &ifindex, nh), -1);
	parse_addr("2001:db8::1", dst);
	assert_int_equal(nio_fib_lookup(&fib, NIO_RT_TABLE_MAIN, dst, 0, &ifindex, nh), 0);
	assert_int_equal(ifindex, 4);
	free(fib.routes);
}

static void test_lookup_empty(void **state)
{
	struct nio_fib fib = { 0 };
	uint8_t dst[16], nh[16];
	int ifindex;

	parse_addr("192.0.2.1", dst);
	assert_int_equal(nio_fib_lookup(&fib, NIO_RT_TABLE_MAIN, dst, 0, &ifindex, nh), -1);
	assert_int_equal(nio_fib_lookup(NULL, NIO_RT_TABLE_MAIN, dst, 0, &ifindex, nh), -1);
	assert_null(nio_fib_neigh(&fib, dst, 0));
	assert_null(nio_fib_neigh(NULL, dst, 0));
}

struct neigh_case {
	const char *addr;
	int ifindex;
	bool found;
	uint8_t mac5; /* last MAC byte of the expected entry */
	int found_ifindex;
};

static const struct neigh_case neigh_cases[] = {
	{ "192.0.2.1", 3, true, 0x01, 3 },
	{ "192.0.2.254", 3, true, 0xfe, 3 },
	{ "192.0.2.254", 2, false, 0, 0 }, /* right address, wrong interface */
	{ "192.0.2.2", 3, false, 0, 0 },
	{ "198.51.100.9", 0, true, 0x09, 2 }, /* ifindex 0: any interface */
	{ "fe80::1", 4, true, 0x01, 4 },      /* same link-local address on two links */
	{ "fe80::1", 2, true, 0x01, 2 },
	{ "fe80::1", 7, false, 0, 0 },
	{ "2001:db8:ffff::1", 4, true, 0xff, 4 },
	{ "::", 0, false, 0, 0 },      /* below every entry */
	{ "ff02::1", 0, false, 0, 0 }, /* above every entry */
};

static void test_neigh(void **state)
{
	const struct nio_fib *fib = *state;

	for (size_t i = 0; i < sizeof(neigh_cases) / sizeof(neigh_cases[0]); i++) {
		const struct neigh_case *c = &neigh_cases[i];
		const struct nio_fib_neigh *n;
		uint8_t addr[16];

		parse_addr(c->addr, addr);
		n = nio_fib_neigh(fib, addr, c->ifindex);
		if (!c->found) {
			assert_null(n);
			continue;
		}
		assert_non_null(n);
		assert_memory_equal(n->addr, addr, 16);
		assert_int_equal(n->ifindex, c->found_ifindex);
		assert_int_equal(n->mac[5], c->mac5);
	}
}

/* The kernel's fib_rebalance: weights 1 and 3 share the 31-bit space 1:3. */
static void test_rebalance(void **state)
{
	struct nio_fib_nh nhs[3];
	unsigned w[3] = { 1, 3, 0 }, eq[3] = { 1, 1, 1 };

	(void)state;
	nio_fib_rebalance(nhs, w, 2);
	assert_int_equal(nhs[0].upper, (1u << 29) - 1);
	assert_int_equal(nhs[1].upper, 0x7fffffffu);
	nio_fib_rebalance(nhs, eq, 3);
	assert_int_equal(nhs[0].upper, 715827882u); /* DIV_ROUND_CLOSEST(2^31, 3) - 1 */
	assert_int_equal(nhs[2].upper, 0x7fffffffu);
}

/* A multipath default route with next hops of weight 1 and 3: each flow sticks to one next
 * hop, flows split about 1:3, and the hash ignores everything but the L4 policy's fields. */
static void test_multipath(void **state)
{
	struct nio_fib_nh nhs[2] = { { .ifindex = 2 }, { .ifindex = 3 } };
	struct nio_fib_route r = { .dst = { .len = 96, .family = 4 },
				   .table = NIO_RT_TABLE_MAIN,
				   .ifindex = 2,
				   .nh = 0,
				   .nnh = 2 };
	struct nio_fib fib = { .nroutes = 1, .nnhs = 2, .routes = &r, .nhs = nhs };
	unsigned w[2] = { 1, 3 }, count[2] = { 0, 0 };
	uint8_t dst[16], nh[16];
	int ifindex;

	(void)state;
	memset(r.dst.addr + 10, 0xff, 2);
	parse_addr("192.0.2.1", nhs[0].gw);
	parse_addr("192.0.2.2", nhs[1].gw);
	nhs[0].has_gw = nhs[1].has_gw = true;
	nio_fib_rebalance(nhs, w, 2);
	parse_addr("203.0.113.9", dst);
	for (unsigned i = 0; i < 4000; i++) {
		struct nio_flow_key k = {
			.proto = 17, .sport = (uint16_t)(1024 + i), .dport = 53, .family = 4
		};
		uint32_t h;

		memcpy(k.src, dst, 16);
		memcpy(k.dst, dst, 16);
		h = nio_fib_multipath_hash(&k);
		assert_int_equal(nio_fib_lookup(&fib, NIO_RT_TABLE_MAIN, dst, h, &ifindex, nh), 0);
		assert_memory_equal(nh, ifindex == 2 ? nhs[0].gw : nhs[1].gw, 16);
		count[ifindex == 3]++;
		k.in_port = 7; /* not a field of the policy */
		assert_int_equal(nio_fib_multipath_hash(&k), h);
		k.sport++;
		assert_int_not_equal(nio_fib_multipath_hash(&k), h);
	}
	/* 1000 expected on the first; a fair hash stays well within +-20% */
	assert_in_range(count[0], 800, 1200);
	assert_int_equal(nio_fib_lookup(&fib, NIO_RT_TABLE_MAIN, dst, 0, &ifindex, nh), 0);
	assert_int_equal(ifindex, 2);
	assert_int_equal(nio_fib_lookup(&fib, NIO_RT_TABLE_MAIN, dst, 0xffffffffu, &ifindex, nh),
			 0);
	assert_int_equal(ifindex, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test(test_lookup_family),
		cmocka_unit_test(test_lookup_empty),
		cmocka_unit_test_setup_teardown(test_neigh, setup, teardown),
		cmocka_unit_test(test_rebalance),
		cmocka_unit_test(test_multipath),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

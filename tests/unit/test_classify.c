/* Unit tests of flow classification: prefixes, ports, families, protocols, first match wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

static struct nio_config cfg;

static void pipeline(const char *name, int in, const char *src, const char *dst, uint8_t proto,
		     const char *dports)
{
	struct nio_pipeline *pl = &cfg.pipelines[cfg.npipelines++];
	struct nio_match *m = &pl->match;

	snprintf(pl->name, sizeof(pl->name), "%s", name);
	m->in_port = in;
	m->proto = proto;
	m->sport_hi = m->dport_hi = 65535;
	if (src)
		assert_int_equal(nio_prefix_parse(src, &m->src[m->nsrc++]), 0);
	if (dst)
		assert_int_equal(nio_prefix_parse(dst, &m->dst[m->ndst++]), 0);
	if (dports)
		assert_int_equal(nio_parse_port_range(dports, &m->dport_lo, &m->dport_hi), 0);
}

static struct nio_flow_key key(int in, const char *src, const char *dst, uint8_t proto,
			       uint16_t dport)
{
	struct nio_flow_key k = { .in_port = (uint16_t)in, .proto = proto, .dport = dport };

	assert_int_equal(nio_addr_parse(src, k.src, &k.family), 0);
	assert_int_equal(nio_addr_parse(dst, k.dst, &k.family), 0);
	return k;
}

static int setup(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	pipeline("web", 0, NULL, "198.51.100.0/24", 6, "80-443");	 /* 0 */
	pipeline("v4-b", 0, "192.0.2.0/25", "198.51.100.0/24", 0, NULL); /* 1 */
	pipeline("v6", -1, NULL, "2001:db8:2::/48", 0, NULL);		 /* 2 */
	pipeline("host", 1, NULL, "203.0.113.7/32", 17, "53");		 /* 3 */
	pipeline("wan-any", 1, NULL, NULL, 0, NULL);			 /* 4 */
	return 0;
}

struct row {
	int in;
	const char *src, *dst;
	uint8_t proto;
	uint16_t dport;
	int expect;
};

static void test_table(void **state)
{
	static const struct row rows[] = {
		{ 0, "192.0.2.10", "198.51.100.7", 6, 80, 0 },	  /* first match: web */
		{ 0, "192.0.2.10", "198.51.100.7", 6, 443, 0 },	  /* range upper bound */
		{ 0, "192.0.2.10", "198.51.100.7", 6, 444, 1 },	  /* outside range: next pipeline */
		{ 0, "192.0.2.10", "198.51.100.7", 17, 80, 1 },	  /* wrong protocol for web */
		{ 0, "192.0.2.200", "198.51.100.7", 17, 80, -1 }, /* src outside /25 */
		{ 0, "192.0.2.10", "198.51.101.7", 6, 80, -1 },	  /* dst outside /24 */
		{ 0, "2001:db8:1::1", "2001:db8:2:ffff::1", 17, 9, 2 }, /* v6, any input */
		{ 1, "2001:db8:1::1", "2001:db8:3::1", 17, 9, 4 }, /* v6 miss, in wan: catch-all */
		{ 1, "198.51.100.2", "203.0.113.7", 17, 53, 3 },
		{ 1, "198.51.100.2", "203.0.113.8", 17, 53, 4 },
		{ 2, "198.51.100.2", "203.0.113.7", 17, 53, -1 },     /* port 2 has no pipeline */
		{ 0, "::ffff:192.0.2.10", "198.51.100.7", 6, 80, 0 }, /* v4-mapped equals v4 */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct nio_flow_key k =
			key(rows[i].in, rows[i].src, rows[i].dst, rows[i].proto, rows[i].dport);

		print_message("row %zu\n", i);
		assert_int_equal(nio_classify(&cfg, &k), rows[i].expect);
	}
}

static void test_prefixes(void **state)
{
	struct nio_prefix p;
	uint8_t a[16], fam;

	(void)state;
	assert_int_equal(nio_prefix_parse("192.0.2.0/24", &p), 0);
	assert_int_equal(p.len, 96 + 24);
	assert_int_equal(nio_prefix_parse("192.0.2.1/24", &p), -1); /* host bits set */
	assert_int_equal(nio_prefix_parse("192.0.2.0/33", &p), -1);
	assert_int_equal(nio_prefix_parse("2001:db8::/129", &p), -1);
	assert_int_equal(nio_prefix_parse("2001:db8::/", &p), -1);
	assert_int_equal(nio_prefix_parse("0.0.0.0/0", &p), 0);
	assert_int_equal(nio_addr_parse("203.0.113.9", a, &fam), 0);
	assert_true(nio_prefix_contains(&p, a));
	assert_int_equal(nio_prefix_parse("::/0", &p), 0);
	assert_true(nio_prefix_contains(&p, a)); /* ::/0 covers the mapped space too */
	assert_int_equal(nio_prefix_parse("2001:db8:8000::/33", &p), 0);
	assert_int_equal(nio_addr_parse("2001:db8:7fff::1", a, &fam), 0);
	assert_false(nio_prefix_contains(&p, a));
	assert_int_equal(nio_addr_parse("2001:db8:8000::1", a, &fam), 0);
	assert_true(nio_prefix_contains(&p, a));
}

static void test_local_addresses(void **state)
{
	struct nio_flow_key to_gw = key(1, "203.0.113.9", "203.0.113.1", 17, 4789);
	struct nio_flow_key other = key(1, "203.0.113.9", "198.51.100.1", 17, 4789);

	(void)state;
	/* only a pipeline naming the address exactly claims the gateway's own traffic */
	assert_int_equal(nio_classify_local(&cfg, &to_gw), -1);
	pipeline("decap", 1, NULL, "203.0.113.1/32", 17, "4789");
	assert_int_equal(nio_classify(&cfg, &to_gw), 3 + 1); /* wan-any comes first */
	assert_int_equal(nio_classify_local(&cfg, &to_gw), 5);
	assert_int_equal(nio_classify_local(&cfg, &other), -1);
	to_gw.dport = 4790;
	assert_int_equal(nio_classify_local(&cfg, &to_gw), -1);
}

/* A driver that takes claims: the configuration gets a hint table for its ports. */
static int claims_taken(struct nio_port *port, const struct nio_claim *claims, unsigned n,
			char *err, size_t errlen)
{
	(void)port;
	(void)claims;
	(void)n;
	(void)err;
	(void)errlen;
	return 0;
}

static const struct nio_port_ops claiming = { .name = "claiming", .set_claims = claims_taken };
static const struct nio_port_ops tap = { .name = "tap" };
static struct nio_port ports[3];

static int setup_ports(void **state)
{
	setup(state);
	for (unsigned i = 0; i < 3; i++) {
		ports[i].id = (uint16_t)i;
		ports[i].ops = i < 2 ? &claiming : &tap;
		cfg.ports[cfg.nports++] = &ports[i];
	}
	return nio_config_hints(&cfg);
}

static int teardown_ports(void **state)
{
	(void)state;
	nio_config_hints_free(&cfg);
	return 0;
}

struct hint_row {
	int in;
	const char *src, *dst;
	uint8_t proto;
	uint16_t dport;
	unsigned pl, idx; /* the claim the driver names */
	int hint;	  /* what nio_classify_hint makes of it */
	int expect;	  /* the full scan's answer */
};

/*
 * A claim id is used only when its pipeline is certainly the first match: claims of "web"
 * (first) and "v6" (disjoint from the IPv4 pipelines before it) are; "v4-b" overlaps "web"
 * (TCP 80 from 192.0.2.0/25), "wan-any" overlaps "host", so theirs are ignored. A packet
 * outside the claim named (a stale id after a reload) or an id the configuration does not
 * have is ignored too.
 */
static void test_hints(void **state)
{
	static const struct hint_row rows[] = {
		{ 0, "192.0.2.10", "198.51.100.7", 6, 80, 0, 0, 0, 0 },	      /* web: used */
		{ 0, "192.0.2.10", "198.51.100.7", 6, 80, 1, 0, -1, 0 },      /* v4-b: web first */
		{ 0, "192.0.2.10", "198.51.100.7", 17, 80, 1, 0, -1, 1 },     /* v4-b: scanned */
		{ 0, "2001:db8:1::1", "2001:db8:3::1", 17, 9, 2, 0, -1, -1 }, /* not in v6's */
		{ 0, "2001:db8:1::1", "2001:db8:2::1", 17, 9, 2, 0, 2, 2 },   /* v6: used */
		{ 1, "2001:db8:1::1", "2001:db8:2::1", 17, 9, 2, 0, 2, 2 },   /* v6 on wan */
		{ 1, "198.51.100.2", "203.0.113.7", 17, 53, 3, 0, 3, 3 },     /* host: used */
		{ 1, "198.51.100.2", "203.0.113.8", 17, 53, 3, 0, -1, 4 },    /* not in the claim */
		{ 1, "198.51.100.2", "203.0.113.7", 17, 53, 4, 0, -1, 3 }, /* wan-any: host first */
		{ 1, "198.51.100.2", "203.0.113.7", 17, 53, 3, 1, -1, 3 }, /* no such claim */
		{ 1, "198.51.100.2", "203.0.113.7", 17, 53, 9, 0, -1, 3 }, /* no such pipeline */
		{ 2, "2001:db8:1::1", "2001:db8:2::1", 17, 9, 2, 0, -1, 2 }, /* a tap: no hints */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct hint_row *r = &rows[i];
		struct nio_pkt p = {
			.in_port = (uint16_t)r->in,
			.key = key(r->in, r->src, r->dst, r->proto, r->dport),
			.claim_hint = NIO_CLAIM_ID(r->pl, r->idx) + 1,
		};

		print_message("row %zu\n", i);
		assert_int_equal(nio_classify_hint(&cfg, &p), r->hint);
		/* a hint used is the scan's answer */
		assert_true(r->hint < 0 || r->hint == r->expect);
		assert_int_equal(nio_classify(&cfg, &p.key), r->expect);
		p.claim_hint = 0;
		assert_int_equal(nio_classify_hint(&cfg, &p), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_table, setup),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test_setup(test_local_addresses, setup),
		cmocka_unit_test_setup_teardown(test_hints, setup_ports, teardown_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

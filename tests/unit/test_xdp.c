/* The afxdp port's XDP program run by the kernel on crafted frames (BPF_PROG_TEST_RUN): claims
 * built from pipelines, the kernel's own traffic always passed, fail-mode without a socket.
 * Needs CAP_BPF (root); skipped without it. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../../netiod/netiod.h"
#include "../../netiod/xdp/netio_xdp.h"

static const uint8_t gw_mac[6] = { 2, 0, 0, 0, 0, 1 }, host_mac[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t other_mac[6] = { 2, 0, 0, 0, 0, 9 },
		     bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static struct bpf_object *obj;
static int prog_fd = -1;
static struct nio_xdp x;

/* ---- frames */
struct frame {
	uint8_t b[256];
	uint32_t len;
};

static uint8_t *eth(struct frame *f, const uint8_t *dst, uint16_t type, int vlan)
{
	uint8_t *p = f->b;

	memcpy(p, dst, 6);
	memcpy(p + 6, host_mac, 6);
	p += 12;
	if (vlan) {
		*p++ = 0x81;
		*p++ = 0x00;
		*p++ = 0;
		*p++ = 7;
	}
	*p++ = (uint8_t)(type >> 8);
	*p++ = (uint8_t)type;
	f->len = (uint32_t)(p - f->b);
	return p;
}

/* IPv4 + UDP (or proto with 8 zero bytes) from 192.0.2.10 to dst, dport; frag: offset 8 */
static void v4(struct frame *f, const uint8_t *mac, const char *dst, uint8_t proto, uint16_t dport,
	       int vlan, int frag)
{
	uint8_t *ip = eth(f, mac, 0x0800, vlan), *l4 = ip + 20;

	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[3] = 28;
	ip[7] = frag ? 1 : 0; /* fragment offset 8 bytes */
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, "192.0.2.10", ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	l4[0] = 0x13;
	l4[1] = 0x88;
	l4[2] = (uint8_t)(dport >> 8);
	l4[3] = (uint8_t)dport;
	f->len += 28;
}

/* IPv6 from 2001:db8:1::10 to dst: UDP to dport, after a hop-by-hop header if hbh; or ICMPv6
 * of type icmp when icmp is non-zero */
static void v6(struct frame *f, const uint8_t *mac, const char *dst, uint16_t dport, int hbh,
	       uint8_t icmp)
{
	uint8_t *ip = eth(f, mac, 0x86dd, 0), *h = ip + 40;

	memset(ip, 0, 40 + 8 + 8);
	ip[0] = 0x60;
	ip[6] = icmp ? 58 : hbh ? 0 : 17;
	ip[7] = 64;
	inet_pton(AF_INET6, "2001:db8:1::10", ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	if (hbh) {
		h[0] = 17;
		h += 8;
	}
	if (icmp) {
		h[0] = icmp;
	} else {
		h[2] = (uint8_t)(dport >> 8);
		h[3] = (uint8_t)dport;
	}
	f->len += (uint32_t)(h + 8 - ip);
}

static int run(const struct frame *f)
{
	struct bpf_test_run_opts o = {
		.sz = sizeof(o), .data_in = f->b, .data_size_in = f->len, .repeat = 1
	};

	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &o), 0);
	return (int)o.retval;
}

/* ---- the configuration the claims come from */
static struct nio_config conf;
static struct nio_port port = { .name = "lan", .id = 0 };

static void pipeline(unsigned i, const char *dst, uint8_t proto, uint16_t dport,
		     enum nio_fail_mode mode)
{
	struct nio_pipeline *pl = &conf.pipelines[i];

	memset(pl, 0, sizeof(*pl));
	snprintf(pl->name, sizeof(pl->name), "p%u", i);
	pl->match.in_port = -1;
	pl->match.proto = proto;
	pl->match.sport_hi = 65535;
	pl->match.dport_lo = dport;
	pl->match.dport_hi = dport ? dport : 65535;
	if (dst) {
		assert_int_equal(nio_prefix_parse(dst, &pl->match.dst[0]), 0);
		pl->match.ndst = 1;
	}
	pl->fail_mode = mode;
	if (i >= conf.npipelines)
		conf.npipelines = i + 1;
}

static void local(const char *addr, uint8_t what)
{
	uint32_t key[4] = { 0, 0, htonl(0xffff), 0 };

	if (strchr(addr, ':'))
		inet_pton(AF_INET6, addr, key);
	else
		inet_pton(AF_INET, addr, &key[3]);
	assert_int_equal(bpf_map_update_elem(x.map[NIO_XDP_MAP_LOCAL], key, &what, BPF_ANY), 0);
}

/* conf's claims on port, as claims.c builds them, into the program */
static int install(char *err, size_t errlen)
{
	struct nio_claim *v;
	unsigned n;
	int rc;

	if (nio_claims_build(&conf, &port, &v, &n, err, errlen) < 0)
		return -1;
	rc = nio_xdp_set_claims(&x, &port, v, n, err, errlen);
	free(v);
	return rc;
}

static int setup(void **state)
{
	char path[512], err[256];
	const char *build = getenv("NIO_BUILD") ? getenv("NIO_BUILD") : "build";

	(void)state;
	snprintf(path, sizeof(path), "%s/netiod/netio_xdp.bpf.o", build);
	libbpf_set_print(NULL); /* its notes on sections libxdp reads */
	obj = bpf_object__open_file(path, NULL);
	assert_false(libbpf_get_error(obj));
	if (bpf_object__load(obj) < 0) {
		bpf_object__close(obj);
		obj = NULL;
		return 0; /* no CAP_BPF: the tests skip */
	}
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "netio_xdp"));
	x.map[NIO_XDP_MAP_CLAIMS] = bpf_object__find_map_fd_by_name(obj, "nio_claims");
	x.map[NIO_XDP_MAP_CONF] = bpf_object__find_map_fd_by_name(obj, "nio_conf");
	x.map[NIO_XDP_MAP_XSKS] = bpf_object__find_map_fd_by_name(obj, "nio_xsks");
	x.map[NIO_XDP_MAP_LOCAL] = bpf_object__find_map_fd_by_name(obj, "nio_local");
	x.map[NIO_XDP_MAP_STATS] = bpf_object__find_map_fd_by_name(obj, "nio_stats");
	memcpy(port.mac, gw_mac, 6);
	snprintf(conf.file, sizeof(conf.file), "t.conf");
	pipeline(0, "198.51.100.0/24", 17, 5001, NIO_FAIL_SECURE);
	pipeline(1, "198.51.100.0/24", 17, 5002, NIO_FAIL_PASSTHROUGH);
	pipeline(2, "2001:db8:2::/48", 0, 0, NIO_FAIL_SECURE);
	pipeline(3, "192.0.2.1/32", 0, 0, NIO_FAIL_SECURE); /* a tunnel end on the box */
	pipeline(4, "203.0.113.0/24", 0, 0, NIO_FAIL_PASSTHROUGH);
	pipeline(5, "203.0.113.0/25", 0, 0, NIO_FAIL_SECURE); /* never reached: 4 is first */
	pipeline(6, "2001:db8:3::/48", 17, 5003, NIO_FAIL_PASSTHROUGH);
	pipeline(7, NULL, 0, 0, NIO_FAIL_SECURE); /* catch-all */
	assert_int_equal(install(err, sizeof(err)), 0);
	local("198.51.100.1", 1);
	local("192.0.2.1", 1);
	local("192.0.2.255", 2);
	local("2001:db8:2::1", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (obj)
		bpf_object__close(obj);
	return 0;
}

enum kind { V4, V6, ARP };

static const struct {
	const char *what;
	enum kind kind;
	const uint8_t *mac;
	const char *dst;
	uint8_t proto;
	uint16_t dport;
	int vlan_or_hbh, frag;
	uint8_t icmp;
	int verdict;
} cases[] = {
	{ "claimed, secure, no socket", V4, gw_mac, "198.51.100.10", 17, 5001, 0, 0, 0, XDP_DROP },
	{ "claimed, passthrough, no socket", V4, gw_mac, "198.51.100.10", 17, 5002, 0, 0, 0,
	  XDP_PASS },
	{ "other port: the catch-all", V4, gw_mac, "198.51.100.10", 17, 5003, 0, 0, 0, XDP_DROP },
	{ "first claim decides", V4, gw_mac, "203.0.113.7", 17, 9, 0, 0, 0, XDP_PASS },
	{ "VLAN-tagged", V4, gw_mac, "198.51.100.10", 17, 5001, 1, 0, 0, XDP_DROP },
	{ "non-first fragment: no ports", V4, gw_mac, "198.51.100.10", 17, 5001, 0, 1, 0,
	  XDP_DROP }, /* the catch-all, not pipeline 0 */
	{ "ARP", ARP, gw_mac, NULL, 0, 0, 0, 0, 0, XDP_PASS },
	{ "broadcast MAC", V4, bcast, "198.51.100.10", 17, 5001, 0, 0, 0, XDP_PASS },
	{ "another station's MAC", V4, other_mac, "198.51.100.10", 17, 5001, 0, 0, 0, XDP_PASS },
	{ "limited broadcast", V4, gw_mac, "255.255.255.255", 17, 5001, 0, 0, 0, XDP_PASS },
	{ "subnet broadcast", V4, gw_mac, "192.0.2.255", 17, 5001, 0, 0, 0, XDP_PASS },
	{ "link-local multicast (OSPF)", V4, gw_mac, "224.0.0.5", 89, 0, 0, 0, 0, XDP_PASS },
	{ "own address under the catch-all", V4, gw_mac, "198.51.100.1", 1, 0, 0, 0, 0, XDP_PASS },
	{ "own address named as /32", V4, gw_mac, "192.0.2.1", 50, 0, 0, 0, 0, XDP_DROP },
	{ "IPv6 claimed", V6, gw_mac, "2001:db8:2::10", 17, 5001, 0, 0, 0, XDP_DROP },
	{ "IPv6 past hop-by-hop", V6, gw_mac, "2001:db8:2::10", 17, 5001, 1, 0, 0, XDP_DROP },
	{ "IPv6 neighbour solicitation", V6, gw_mac, "2001:db8:2::10", 0, 0, 0, 0, 135, XDP_PASS },
	{ "IPv6 MLD report", V6, gw_mac, "2001:db8:2::10", 0, 0, 0, 0, 143, XDP_PASS },
	{ "IPv6 link-local multicast", V6, gw_mac, "ff02::1", 17, 5001, 0, 0, 0, XDP_PASS },
	{ "IPv6 own address", V6, gw_mac, "2001:db8:2::1", 0, 0, 0, 0, 128, XDP_PASS },
};

static void test_verdicts(void **state)
{
	(void)state;
	if (!obj)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct frame f = { 0 };
		int v;

		if (cases[i].kind == V4)
			v4(&f, cases[i].mac, cases[i].dst, cases[i].proto, cases[i].dport,
			   cases[i].vlan_or_hbh, cases[i].frag);
		else if (cases[i].kind == V6)
			v6(&f, cases[i].mac, cases[i].dst, cases[i].dport, cases[i].vlan_or_hbh,
			   cases[i].icmp);
		else
			f.len = (uint32_t)(eth(&f, cases[i].mac, 0x0806, 0) - f.b) + 28;
		v = run(&f);
		if (v != cases[i].verdict)
			fail_msg("%s: verdict %d, expected %d", cases[i].what, v, cases[i].verdict);
	}
}

/* IPv6 UDP to 2001:db8:3::10 port 5003 behind the extension headers ext (n bytes, the first's
 * type first), as netiod's parser reads it: the passthrough claim, not the catch-all. */
static void ext_case(const char *what, uint8_t first, const uint8_t *ext, size_t n)
{
	struct frame f = { 0 };
	uint8_t *ip = eth(&f, gw_mac, 0x86dd, 0), *udp = ip + 40 + n;

	memset(ip, 0, 40 + n + 8);
	ip[0] = 0x60;
	ip[5] = (uint8_t)(n + 8);
	ip[6] = first;
	ip[7] = 64;
	inet_pton(AF_INET6, "2001:db8:1::10", ip + 8);
	inet_pton(AF_INET6, "2001:db8:3::10", ip + 24);
	memcpy(ip + 40, ext, n);
	udp[1] = 7;
	udp[2] = 0x13;
	udp[3] = 0x8b; /* 5003 */
	udp[5] = 8;
	f.len += (uint32_t)(40 + n + 8);
	if (run(&f) != XDP_PASS)
		fail_msg("%s: verdict %d, not the passthrough claim of UDP to port 5003", what,
			 run(&f));
}

/* Each extension header is skipped by its own length, as deep as netiod parses (eight). */
static void test_ext_headers(void **state)
{
	/* hop-by-hop of 16 bytes (a PadN whose filler would read as TCP 8 bytes in), fragment */
	static const uint8_t hbh_frag[] = { 44, 1, 1, 12, 0,  0, 0, 0, 6, 0, 0, 0,
					    0,	0, 0, 0,  17, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t dst5[5 * 8] = { 0 };

	(void)state;
	if (!obj)
		skip();
	ext_case("hop-by-hop of 16 bytes, then a fragment header", 0, hbh_frag, sizeof(hbh_frag));
	for (int i = 0; i < 5; i++) /* five destination options headers of 8 bytes */
		dst5[i * 8] = i < 4 ? 60 : 17;
	ext_case("five destination options headers", 60, dst5, sizeof(dst5));
}

/* A truncated header is the kernel's: the program never reads past the frame. */
static void test_truncated(void **state)
{
	struct frame f = { 0 };

	(void)state;
	if (!obj)
		skip();
	v4(&f, gw_mac, "198.51.100.10", 17, 5001, 0, 0);
	/* the kernel runs nothing shorter than an Ethernet header */
	for (uint32_t len = 14; len < 14 + 20; len++) {
		struct frame t = f;

		t.len = len;
		assert_int_equal(run(&t), XDP_PASS);
	}
}

/* A reload writes the other claim set and flips: the new claims hold at once, entirely. */
static void test_reload(void **state)
{
	char err[256];
	struct frame f = { 0 };
	unsigned all = conf.npipelines;

	(void)state;
	if (!obj)
		skip();
	conf.npipelines = 1; /* only the secure 5001 pipeline */
	assert_int_equal(install(err, sizeof(err)), 0);
	v4(&f, gw_mac, "198.51.100.10", 17, 5003, 0, 0);
	assert_int_equal(run(&f), XDP_PASS); /* no catch-all any more */
	conf.npipelines = all;
	assert_int_equal(install(err, sizeof(err)), 0);
	assert_int_equal(run(&f), XDP_DROP);
}

/* More claims than the program holds are refused, at the first that does not fit. */
static void test_too_many(void **state)
{
	char err[256] = "";
	struct nio_claim *v = calloc(NIO_XDP_CLAIMS_MAX + 1, sizeof(*v));
	unsigned refused = 0;

	(void)state;
	assert_non_null(v);
	assert_int_equal(
		nio_xdp_check_claims(&port, v, NIO_XDP_CLAIMS_MAX, &refused, err, sizeof(err)), 0);
	assert_int_equal(
		nio_xdp_check_claims(&port, v, NIO_XDP_CLAIMS_MAX + 1, &refused, err, sizeof(err)),
		-1);
	assert_int_equal(refused, NIO_XDP_CLAIMS_MAX);
	assert_string_equal(err, "needs more claims than the XDP program holds (256 per port)");
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),  cmocka_unit_test(test_ext_headers),
		cmocka_unit_test(test_truncated), cmocka_unit_test(test_reload),
		cmocka_unit_test(test_too_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* Unit tests of the tunnel service: byte-exact vectors, round trips, malformed input, PMTU, config. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <netio/csum.h>

#include "../../services/tunnel/tunnel.h"
#include "fake_host.h"

/*
 * Vectors: generated with scapy 2.5 (Ether/IP/IPv6/UDP/VXLAN/GENEVE/GRE with every checksum
 * left for scapy to compute, except a UDP checksum 0 where RFC 7348 allows it), then read
 * field by field against RFC 7348 section 5, RFC 8926 section 3, RFC 2784 and RFC 2890.
 * Encap uses flow hash HASH, so the UDP source port is 49152 + (HASH * 16384 >> 32) = 59277
 * and the IPv6 flow label HASH & 0xfffff = 0x779b9; the first IPv4 id of an instance is 0.
 */
#define HASH 0x9e3779b9u

/* ---------------------------------------------------------------- vectors */

/* clang-format off */
static const uint8_t in4_frame[] = {
	/* Ethernet */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00,
	/* IPv4 192.0.2.10 -> 198.51.100.20, tos ECT(0), DF, ttl 63 (the daemon decremented it) */
	0x45, 0x02, 0x00, 0x27, 0x00, 0x01, 0x40, 0x00, 0x3f, 0x11, 0x4f, 0x71,
	0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x14,
	/* UDP 1234 -> 5678, "hello netio" */
	0x04, 0xd2, 0x16, 0x2e, 0x00, 0x13, 0x62, 0xb4, 0x68, 0x65, 0x6c, 0x6c,
	0x6f, 0x20, 0x6e, 0x65, 0x74, 0x69, 0x6f,
};
static const uint8_t in6_frame[] = {
	/* Ethernet */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x86, 0xdd,
	/* IPv6 2001:db8:1::10 -> 2001:db8:2::20, hop limit 63 */
	0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x3f, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x20,
	/* TCP 40000 -> 80 SYN */
	0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x50, 0x02, 0x03, 0xe8, 0xb3, 0xc4, 0x00, 0x00,
};
static const uint8_t vxlan4_in4[] = {
	/* outer Ethernet: MACs left to the daemon */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00,
	/* IPv4 203.0.113.1 -> 203.0.113.9, tos copied, id 0, DF, ttl 64, UDP */
	0x45, 0x02, 0x00, 0x59, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xc2, 0x86,
	0xcb, 0x00, 0x71, 0x01, 0xcb, 0x00, 0x71, 0x09,
	/* UDP 59277 -> 4789, length, checksum 0 (RFC 7348 5) */
	0xe7, 0x8d, 0x12, 0xb5, 0x00, 0x45, 0x00, 0x00,
	/* VXLAN (RFC 7348 5): flags I, reserved, VNI 42, reserved */
	0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00,
	/* inner Ethernet as received */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00,
	/* inner IPv4, ttl 63 */
	0x45, 0x02, 0x00, 0x27, 0x00, 0x01, 0x40, 0x00, 0x3f, 0x11, 0x4f, 0x71,
	0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x14,
	/* inner UDP */
	0x04, 0xd2, 0x16, 0x2e, 0x00, 0x13, 0x62, 0xb4, 0x68, 0x65, 0x6c, 0x6c,
	0x6f, 0x20, 0x6e, 0x65, 0x74, 0x69, 0x6f,
};
static const uint8_t geneve6_in6[] = {
	/* outer Ethernet */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x86, 0xdd,
	/* IPv6 2001:db8:ffff::1 -> ::9, flow label = hash, hop limit 64, UDP */
	0x60, 0x07, 0x79, 0xb9, 0x00, 0x5a, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8,
	0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x09,
	/* UDP 59277 -> 6081, checksum (mandatory over IPv6) */
	0xe7, 0x8d, 0x17, 0xc1, 0x00, 0x5a, 0x23, 0xfd,
	/* GENEVE (RFC 8926 3.4): ver 0, opt len 0, O 0, C 0, protocol 0x6558, VNI 42 */
	0x00, 0x00, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00,
	/* inner Ethernet */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x86, 0xdd,
	/* inner IPv6, hop limit 63 */
	0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x3f, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x20,
	/* inner TCP */
	0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x50, 0x02, 0x03, 0xe8, 0xb3, 0xc4, 0x00, 0x00,
};
static const uint8_t gre4_key_in4[] = {
	/* outer Ethernet */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00,
	/* IPv4, dscp 46 + inner ECN, DF, ttl 64, GRE */
	0x45, 0xba, 0x00, 0x43, 0x00, 0x00, 0x40, 0x00, 0x40, 0x2f, 0xc1, 0xc6,
	0xcb, 0x00, 0x71, 0x01, 0xcb, 0x00, 0x71, 0x09,
	/* GRE (RFC 2784/2890): K, protocol IPv4, key 0x1234 */
	0x20, 0x00, 0x08, 0x00, 0x00, 0x00, 0x12, 0x34,
	/* inner IPv4, ttl 63 */
	0x45, 0x02, 0x00, 0x27, 0x00, 0x01, 0x40, 0x00, 0x3f, 0x11, 0x4f, 0x71,
	0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x14,
	/* inner UDP */
	0x04, 0xd2, 0x16, 0x2e, 0x00, 0x13, 0x62, 0xb4, 0x68, 0x65, 0x6c, 0x6c,
	0x6f, 0x20, 0x6e, 0x65, 0x74, 0x69, 0x6f,
};
static const uint8_t ipip6_in4[] = {
	/* outer Ethernet */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x86, 0xdd,
	/* IPv6, traffic class copied, next header 4 (IPv4) */
	0x60, 0x27, 0x79, 0xb9, 0x00, 0x27, 0x04, 0x40, 0x20, 0x01, 0x0d, 0xb8,
	0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x09,
	/* inner IPv4, ttl 63 */
	0x45, 0x02, 0x00, 0x27, 0x00, 0x01, 0x40, 0x00, 0x3f, 0x11, 0x4f, 0x71,
	0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x14,
	/* inner UDP */
	0x04, 0xd2, 0x16, 0x2e, 0x00, 0x13, 0x62, 0xb4, 0x68, 0x65, 0x6c, 0x6c,
	0x6f, 0x20, 0x6e, 0x65, 0x74, 0x69, 0x6f,
};
static const uint8_t geneve4_opt_in4[] = {
	/* outer Ethernet */
	0x02, 0x00, 0x00, 0x00, 0x00, 0xaa, 0x02, 0x00, 0x00, 0x00, 0x00, 0xbb,
	0x08, 0x00,
	/* IPv4 203.0.113.9 -> 203.0.113.1, UDP */
	0x45, 0x00, 0x00, 0x61, 0x00, 0x07, 0x00, 0x00, 0x40, 0x11, 0x02, 0x7a,
	0xcb, 0x00, 0x71, 0x09, 0xcb, 0x00, 0x71, 0x01,
	/* UDP 50000 -> 6081, checksum 0 */
	0xc3, 0x50, 0x17, 0xc1, 0x00, 0x4d, 0x00, 0x00,
	/* GENEVE: ver 0, opt len 2 words, VNI 42 */
	0x02, 0x00, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00,
	/* option: class 0x0102, type 0x03 (not critical), length 1 word, data */
	0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef,
	/* inner Ethernet */
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x08, 0x00,
	/* inner IPv4 */
	0x45, 0x02, 0x00, 0x27, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0x4e, 0x71,
	0xc0, 0x00, 0x02, 0x0a, 0xc6, 0x33, 0x64, 0x14,
	/* inner UDP */
	0x04, 0xd2, 0x16, 0x2e, 0x00, 0x13, 0x62, 0xb4, 0x68, 0x65, 0x6c, 0x6c,
	0x6f, 0x20, 0x6e, 0x65, 0x74, 0x69, 0x6f,
};
static const uint8_t gre4_csum_in6[] = {
	/* outer Ethernet */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00,
	/* IPv4 203.0.113.9 -> 203.0.113.1, GRE */
	0x45, 0x00, 0x00, 0x5c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x2f, 0xc2, 0x67,
	0xcb, 0x00, 0x71, 0x09, 0xcb, 0x00, 0x71, 0x01,
	/* GRE: C, K, protocol IPv6, checksum, reserved1, key 0x1234 */
	0xa0, 0x00, 0x86, 0xdd, 0x60, 0xb3, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34,
	/* inner IPv6 */
	0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x20,
	/* inner TCP */
	0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x50, 0x02, 0x03, 0xe8, 0xb3, 0xc4, 0x00, 0x00,
};
static const uint8_t ip6gre_encaplimit_in6[] = {
	/* outer Ethernet */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x86, 0xdd,
	/* IPv6 2001:db8:ffff::1 -> ::9, next header 60 */
	0x60, 0x00, 0x00, 0x00, 0x00, 0x4c, 0x3c, 0x40, 0x20, 0x01, 0x0d, 0xb8,
	0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x09,
	/* destination options as Linux ip6gre sends them: GRE next, tunnel encapsulation limit 4, PadN */
	0x2f, 0x00, 0x04, 0x01, 0x04, 0x01, 0x01, 0x00,
	/* GRE: K, protocol IPv6, key 7 */
	0x20, 0x00, 0x86, 0xdd, 0x00, 0x00, 0x00, 0x07,
	/* inner IPv6 */
	0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x3f, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x20,
	/* inner TCP */
	0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x50, 0x02, 0x03, 0xe8, 0xb3, 0xc4, 0x00, 0x00,
};
/* clang-format on */

/* ---------------------------------------------------------------- configurations */

#define V4_A "203.0.113.1"
#define V4_B "203.0.113.9"
#define V6_A "2001:db8:ffff::1"
#define V6_B "2001:db8:ffff::9"

/* Encap side A -> B; the decap side is the same row with local and remote swapped. */
struct tcfg {
	const char *name;
	const char *type, *local, *remote, *id_opt, *id;
	const char *extra[4]; /* name, value pairs */
};

static const struct tcfg cfgs[] = {
	{ "vxlan4", "vxlan", V4_A, V4_B, "vni", "42", { NULL } },
	{ "vxlan6", "vxlan", V6_A, V6_B, "vni", "42", { NULL } },
	{ "geneve4", "geneve", V4_A, V4_B, "vni", "42", { NULL } },
	{ "geneve6", "geneve", V6_A, V6_B, "vni", "42", { NULL } },
	{ "gre4", "gre", V4_A, V4_B, NULL, NULL, { NULL } },
	{ "gre4-key", "gre", V4_A, V4_B, "key", "4660", { "dscp", "46" } },
	{ "gre6", "gre", V6_A, V6_B, "key", "7", { NULL } },
	{ "ipip4", "ipip", V4_A, V4_B, NULL, NULL, { NULL } },
	{ "ipip6", "ipip", V6_A, V6_B, NULL, NULL, { NULL } },
	{ "vxlan4-csum", "vxlan", V4_A, V4_B, "vni", "16777215", { "udp-csum", "true" } },
	{ "geneve4-port", "geneve", V4_A, V4_B, "vni", "0", { "port", "7000" } },
};
#define NCFGS (sizeof(cfgs) / sizeof(cfgs[0]))

static struct fake_opt optbuf[32];
static struct nio_conf conf;

/* Make an instance from a row plus up to 4 more name/value pairs; NULL with err on failure. */
static void *make(const struct tcfg *c, bool decap, const char *const *more, char *err)
{
	unsigned n = 0;

	optbuf[n++] = (struct fake_opt){ "type", c->type, NULL };
	optbuf[n++] = (struct fake_opt){ "mode", decap ? "decap" : "encap", NULL };
	optbuf[n++] = (struct fake_opt){ "local", decap ? c->remote : c->local, NULL };
	optbuf[n++] = (struct fake_opt){ "remote", decap ? c->local : c->remote, NULL };
	if (c->id_opt)
		optbuf[n++] = (struct fake_opt){ c->id_opt, c->id, NULL };
	for (unsigned i = 0; i < 4 && c->extra[i]; i += 2)
		optbuf[n++] = (struct fake_opt){ c->extra[i], c->extra[i + 1], NULL };
	for (unsigned i = 0; more && more[i]; i += 2)
		optbuf[n++] = (struct fake_opt){ more[i], more[i + 1], NULL };
	optbuf[n] = (struct fake_opt){ NULL, NULL, NULL };
	fake_conf(&conf, tunnel_service.options, optbuf);
	return tunnel_service.init(&fake_host, &conf, err, 256);
}

static void *make_ok(const struct tcfg *c, bool decap, const char *const *more)
{
	char err[256] = "";
	void *t = make(c, decap, more, err);

	if (!t)
		fail_msg("%s: %s", c->name, err);
	return t;
}

static const struct tcfg *cfg(const char *name)
{
	for (unsigned i = 0; i < NCFGS; i++)
		if (strcmp(cfgs[i].name, name) == 0)
			return &cfgs[i];
	fail_msg("no config %s", name);
	return NULL;
}

/* ---------------------------------------------------------------- packets */

struct tpkt {
	struct nio_pkt p;
	uint8_t mem[NIO_PKT_BUF_SIZE];
};

static void pkt_set(struct tpkt *t, const uint8_t *frame, size_t len)
{
	uint16_t et = (uint16_t)(frame[12] << 8 | frame[13]);

	memset(&t->p, 0, sizeof(t->p));
	t->p.buf = t->mem;
	t->p.buf_size = NIO_PKT_BUF_SIZE;
	t->p.data = t->mem + NIO_PKT_HEADROOM;
	memcpy(t->p.data, frame, len);
	t->p.len = (uint32_t)len;
	t->p.l3_off = ETH_HLEN;
	t->p.in_port = 3;
	t->p.out_port = NIO_PORT_NONE;
	t->p.hash = HASH;
	if (et == 0x8100) {
		t->p.flags = NIO_PKT_F_VLAN;
		t->p.l3_off = 18;
		et = (uint16_t)(frame[16] << 8 | frame[17]);
	}
	t->p.flags |= et == ETH_P_IPV4 ? NIO_PKT_F_IPV4 : et == ETH_P_IPV6 ? NIO_PKT_F_IPV6 : 0;
}

static uint8_t run(void *inst, struct tpkt *t)
{
	struct nio_pkt *pp = &t->p;
	uint8_t v = 0xff;

	tunnel_service.process(inst, &pp, 1, &v);
	return v;
}

static unsigned counter_index(const char *name)
{
	for (unsigned i = 0; tunnel_service.counter_names[i]; i++)
		if (strcmp(tunnel_service.counter_names[i], name) == 0)
			return i;
	fail_msg("no counter %s", name);
	return 0;
}

static uint64_t counter(void *inst, const char *name)
{
	return tunnel_service.counters(inst)[counter_index(name)];
}

/* The only counter that moved must be `name`, by one. */
static void assert_only_counter(void *inst, const char *name)
{
	const uint64_t *c = tunnel_service.counters(inst);

	for (unsigned i = 0; tunnel_service.counter_names[i]; i++)
		if (c[i] != (i == counter_index(name)))
			fail_msg("counter %s = %llu, expected only %s",
				 tunnel_service.counter_names[i], (unsigned long long)c[i], name);
}

/* ---------------------------------------------------------------- independent checksums */

/* RFC 1071, written out again here so the plugin's csum.h is not checked against itself. */
static uint16_t ref_sum(const uint8_t *b, size_t n, uint32_t acc)
{
	for (size_t i = 0; i < n; i++)
		acc += i & 1 ? b[i] : (uint32_t)b[i] << 8;
	while (acc > 0xffff)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static bool ip4_csum_ok(const uint8_t *ip)
{
	return ref_sum(ip, (ip[0] & 0x0fu) * 4, 0) == 0xffff;
}

/* UDP/TCP/ICMPv6 checksum over a pseudo-header (v6: 16-byte addresses at ip+8, ip+24). */
static bool l4_csum_ok(const uint8_t *ip, bool v6, uint8_t proto, const uint8_t *l4, size_t n)
{
	uint32_t acc = proto + (uint32_t)n;

	acc = ref_sum(v6 ? ip + 8 : ip + 12, v6 ? 32 : 8, acc);
	return ref_sum(l4, n, acc) == 0xffff;
}

static void ip4_fix_csum(uint8_t *ip)
{
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = (uint16_t)~ref_sum(ip, (ip[0] & 0x0fu) * 4, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

/* The plugin's word-at-a-time sum equals RFC 1071's at every length and alignment. */
static void test_csum(void **state)
{
	uint8_t b[320];
	uint32_t x = 1;

	for (unsigned i = 0; i < sizeof(b); i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
	for (unsigned off = 0; off < 4; off++)
		for (uint32_t n = 0; n + off <= sizeof(b); n++)
			assert_int_equal(nio_csum_fold(tun_csum_partial(b + off, n, 7)),
					 (uint16_t)~ref_sum(b + off, n, 7));
	memset(b, 0xff, sizeof(b)); /* carries all the way */
	assert_int_equal(nio_csum_fold(tun_csum_partial(b, sizeof(b), 0xffff)),
			 (uint16_t)~ref_sum(b, sizeof(b), 0xffff));
}

/* Check what the encap side produced, with checksums recomputed here. */
static void assert_outer_ok(const struct nio_pkt *p, bool v6, bool udp)
{
	const uint8_t *ip = p->data + ETH_HLEN;
	size_t iplen = p->len - ETH_HLEN, hl = v6 ? IP6_HLEN : IP4_HLEN;
	const uint8_t *u = ip + hl;
	size_t ulen = iplen - hl;

	assert_int_equal(p->l3_off, ETH_HLEN);
	if (v6) {
		assert_int_equal(rd16(ip + 4), iplen - IP6_HLEN);
	} else {
		assert_true(ip4_csum_ok(ip));
		assert_int_equal(rd16(ip + 2), iplen);
	}
	if (!udp)
		return;
	assert_int_equal(rd16(u + 4), ulen);
	assert_true(rd16(u) >= 49152);
	if (v6)
		assert_int_not_equal(rd16(u + 6), 0);
	if (rd16(u + 6))
		assert_true(l4_csum_ok(ip, v6, IPPROTO_UDP, u, ulen));
}

/* ---------------------------------------------------------------- byte-exact vectors */

struct vec {
	const char *name, *cfg;
	const uint8_t *in, *out;
	size_t in_len, out_len;
};

#define VEC(n, c, i, o)                          \
	{                                        \
		n, c, i, o, sizeof(i), sizeof(o) \
	}
static const struct vec vecs[] = {
	VEC("VXLAN over IPv4, IPv4 inside", "vxlan4", in4_frame, vxlan4_in4),
	VEC("GENEVE over IPv6, IPv6 inside", "geneve6", in6_frame, geneve6_in6),
	VEC("GRE with key and DSCP over IPv4", "gre4-key", in4_frame, gre4_key_in4),
	VEC("IPv4 in IPv6", "ipip6", in4_frame, ipip6_in4),
};
#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

static void test_encap_vectors(void **state)
{
	for (unsigned i = 0; i < NVECS; i++) {
		const struct vec *v = &vecs[i];
		void *t = make_ok(cfg(v->cfg), false, NULL);
		struct tpkt k;
		bool v6 = v->out[12] == 0x86;

		print_message("  %s\n", v->name);
		pkt_set(&k, v->in, v->in_len);
		assert_int_equal(run(t, &k), NIO_V_PASS);
		assert_int_equal(k.p.len, v->out_len);
		assert_memory_equal(k.p.data, v->out, v->out_len);
		assert_outer_ok(&k.p, v6, k.p.flags & NIO_PKT_F_L4);
		assert_int_equal(k.p.flags & (NIO_PKT_F_IPV4 | NIO_PKT_F_IPV6),
				 v6 ? NIO_PKT_F_IPV6 : NIO_PKT_F_IPV4);
		assert_int_equal(k.p.key.family, v6 ? 6 : 4);
		assert_int_equal(k.p.key.dst[15], v6 ? 0x09 : 0x09);
		assert_int_equal(k.p.key.proto, v6 ? k.p.data[20] : k.p.data[23]);
		assert_only_counter(t, "encap");
		tunnel_service.fini(t);
	}
}

/* Decap of each vector gives back the inner frame as it left the encap side. */
static void test_decap_vectors(void **state)
{
	for (unsigned i = 0; i < NVECS; i++) {
		const struct vec *v = &vecs[i];
		void *t = make_ok(cfg(v->cfg), true, NULL);
		const uint8_t *inner_ip = v->out + v->out_len - (v->in_len - ETH_HLEN);
		struct tpkt k;

		print_message("  %s\n", v->name);
		pkt_set(&k, v->out, v->out_len);
		assert_int_equal(run(t, &k), NIO_V_PASS);
		assert_int_equal(k.p.len, v->in_len);
		assert_int_equal(k.p.l3_off, ETH_HLEN);
		assert_memory_equal(k.p.data + 12, v->in + 12, 2);
		assert_memory_equal(k.p.data + ETH_HLEN, inner_ip, v->in_len - ETH_HLEN);
		if (strncmp(v->cfg, "vxlan", 5) == 0 || strncmp(v->cfg, "geneve", 6) == 0)
			assert_memory_equal(k.p.data, v->in, 12);
		assert_true(k.p.flags & NIO_PKT_F_L4);
		assert_int_equal(k.p.key.dport, v->in[12] == 0x86 ? 80 : 5678);
		assert_int_equal(k.p.l4_off, ETH_HLEN + (v->in[12] == 0x86 ? IP6_HLEN : IP4_HLEN));
		assert_only_counter(t, "decap");
		tunnel_service.fini(t);
	}
}

/* GENEVE with a non-critical option and GRE with checksum and key: decap to the inner frame. */
static void test_decap_foreign_vectors(void **state)
{
	static const struct tcfg g = { "geneve4-rev", "geneve", V4_B, V4_A, "vni", "42", { NULL } };
	static const struct tcfg r = { "gre4-rev", "gre", V4_B, V4_A, "key", "4660", { NULL } };
	struct tpkt k;
	void *t = make_ok(&g, true, NULL);
	uint8_t want[128];

	/* the foreign peers sent the inner packets with TTL / hop limit 64 */
	memcpy(want, in4_frame, sizeof(in4_frame));
	want[ETH_HLEN + 8] = 64;
	ip4_fix_csum(want + ETH_HLEN);
	pkt_set(&k, geneve4_opt_in4, sizeof(geneve4_opt_in4));
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_int_equal(k.p.len, sizeof(in4_frame));
	assert_memory_equal(k.p.data, want, sizeof(in4_frame));
	tunnel_service.fini(t);

	t = make_ok(&r, true, NULL);
	memcpy(want, in6_frame, sizeof(in6_frame));
	want[ETH_HLEN + 7] = 64;
	pkt_set(&k, gre4_csum_in6, sizeof(gre4_csum_in6));
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_int_equal(k.p.len, sizeof(in6_frame));
	assert_memory_equal(k.p.data + 12, want + 12, sizeof(in6_frame) - 12);
	assert_int_equal(k.p.flags & NIO_PKT_F_IPV6, NIO_PKT_F_IPV6);
	assert_int_equal(k.p.key.family, 6);
	assert_int_equal(k.p.key.dst[15], 0x20);
	tunnel_service.fini(t);
}

/* ---------------------------------------------------------------- round trips */

static void roundtrip(const struct tcfg *c, const uint8_t *frame, size_t len, uint32_t hash)
{
	void *e = make_ok(c, false, NULL), *d = make_ok(c, true, NULL);
	bool l2 = strcmp(c->type, "vxlan") == 0 || strcmp(c->type, "geneve") == 0;
	uint8_t want[1600];
	struct tpkt k;

	pkt_set(&k, frame, len);
	k.p.hash = hash;
	assert_int_equal(run(e, &k), NIO_V_PASS);
	assert_outer_ok(&k.p, strchr(c->local, ':') != NULL, l2);
	assert_int_equal(run(d, &k), NIO_V_PASS);
	memcpy(want, frame, len); /* the inner packet unchanged: the daemon owns the TTL */
	assert_int_equal(k.p.len, len);
	assert_memory_equal(k.p.data + (l2 ? 0 : 12), want + (l2 ? 0 : 12), len - (l2 ? 0 : 12));
	assert_only_counter(e, "encap");
	assert_only_counter(d, "decap");
	tunnel_service.fini(e);
	tunnel_service.fini(d);
}

static void test_roundtrip(void **state)
{
	static const uint32_t hashes[] = { 0, 1, HASH, 0xffffffffu };

	for (unsigned i = 0; i < NCFGS; i++) {
		print_message("  %s\n", cfgs[i].name);
		for (unsigned h = 0; h < 4; h++) {
			roundtrip(&cfgs[i], in4_frame, sizeof(in4_frame), hashes[h]);
			roundtrip(&cfgs[i], in6_frame, sizeof(in6_frame), hashes[h]);
		}
	}
}

/* ---------------------------------------------------------------- malformed decap input */

struct bad {
	const char *name;
	const struct tcfg *c; /* decap side of this row */
	const uint8_t *vec;
	size_t len;
	int cut; /* > 0: keep this many bytes; < 0: append that many zero bytes */
	struct {
		uint16_t off;
		uint8_t val;
	} set[6];	  /* ended by off 0 */
	uint16_t fix4[2]; /* offsets of IPv4 headers to re-checksum after the edits */
	const char *expect;
};

static const struct tcfg g4rev = { "geneve4-rev", "geneve", V4_B, V4_A, "vni", "42", { NULL } };
static const struct tcfg gre4rev = { "gre4-rev", "gre", V4_B, V4_A, "key", "4660", { NULL } };

#define VX &cfgs[0], vxlan4_in4, sizeof(vxlan4_in4)
#define GE &g4rev, geneve4_opt_in4, sizeof(geneve4_opt_in4)
#define GK &cfgs[5], gre4_key_in4, sizeof(gre4_key_in4)
#define GC &gre4rev, gre4_csum_in6, sizeof(gre4_csum_in6)
#define I6 &cfgs[8], ipip6_in4, sizeof(ipip6_in4)
#define G6 &cfgs[3], geneve6_in6, sizeof(geneve6_in6)
#define E6 &cfgs[6], ip6gre_encaplimit_in6, sizeof(ip6gre_encaplimit_in6)

/* vxlan4_in4: outer IPv4 at 14, UDP 34, VXLAN 42, inner Ethernet 50, inner IPv4 64, UDP 84.
 * geneve4_opt_in4: IPv4 14, UDP 34, GENEVE 42, option 50, inner Ethernet 58, IPv4 72.
 * gre4_key_in4: IPv4 14, GRE 34, key 38. gre4_csum_in6: GRE 34, checksum 38, key 42.
 * ipip6_in4 / geneve6_in6: IPv6 14 (payload length 18, next header 20, src 22, dst 38).
 * ip6gre_encaplimit_in6: IPv6 14, destination options 54 (option 56, its length 57), GRE 62. */
static const struct bad bads[] = {
	{ "cut in outer IPv4", VX, 30, { { 0 } }, { 0 }, "truncated-outer" },
	{ "cut after outer IPv4", VX, 40, { { 0 } }, { 0 }, "truncated-outer" },
	{ "IPv4 version 5", VX, 0, { { 14, 0x55 } }, { 14 }, "bad-outer-ip" },
	{ "IPv4 ihl 4", VX, 0, { { 14, 0x44 } }, { 0 }, "bad-outer-ip" },
	{ "IPv4 header checksum", VX, 0, { { 24, 0x00 } }, { 0 }, "bad-outer-ip" },
	{ "IPv4 length below header", VX, 0, { { 16, 0 }, { 17, 10 } }, { 14 }, "bad-outer-ip" },
	{ "outer MF", VX, 0, { { 20, 0x20 } }, { 14 }, "outer-fragment" },
	{ "outer fragment offset", VX, 0, { { 21, 0x01 } }, { 14 }, "outer-fragment" },
	{ "outer protocol GRE", VX, 0, { { 23, 47 } }, { 14 }, "wrong-protocol" },
	{ "outer destination", VX, 0, { { 33, 0x0a } }, { 14 }, "wrong-dst" },
	{ "outer source", VX, 0, { { 29, 0x02 } }, { 14 }, "wrong-src" },
	{ "UDP port 4790", VX, 0, { { 37, 0xb6 } }, { 0 }, "wrong-port" },
	{ "UDP length 4", VX, 0, { { 38, 0 }, { 39, 4 } }, { 0 }, "bad-udp-length" },
	{ "UDP length past IP", VX, 0, { { 39, 0x50 } }, { 0 }, "bad-udp-length" },
	{ "UDP checksum", VX, 0, { { 40, 0x12 }, { 41, 0x34 } }, { 0 }, "bad-udp-checksum" },
	{ "VXLAN I flag clear", VX, 0, { { 42, 0x00 } }, { 0 }, "bad-tunnel-header" },
	{ "VXLAN reserved bits ignored", VX, 0, { { 43, 0xff }, { 49, 0xff } }, { 0 }, "decap" },
	{ "VXLAN VNI 43", VX, 0, { { 48, 0x2b } }, { 0 }, "wrong-vni" },
	{ "IP ends in VXLAN header",
	  VX,
	  0,
	  { { 16, 0 }, { 17, 32 }, { 38, 0 }, { 39, 12 } },
	  { 14 },
	  "truncated-tunnel" },
	{ "IP ends in inner Ethernet",
	  VX,
	  0,
	  { { 16, 0 }, { 17, 46 }, { 38, 0 }, { 39, 26 } },
	  { 14 },
	  "truncated-inner" },
	{ "IP ends in inner IPv4",
	  VX,
	  0,
	  { { 16, 0 }, { 17, 60 }, { 38, 0 }, { 39, 40 } },
	  { 14 },
	  "truncated-inner" },
	{ "inner ARP", VX, 0, { { 62, 0x08 }, { 63, 0x06 } }, { 0 }, "bad-inner-protocol" },
	{ "inner VLAN tag", VX, 0, { { 62, 0x81 }, { 63, 0x00 } }, { 0 }, "bad-inner-protocol" },
	{ "inner IPv4 checksum", VX, 0, { { 74, 0 } }, { 0 }, "bad-inner-ip" },
	{ "inner IPv4 version 6", VX, 0, { { 64, 0x65 } }, { 64 }, "bad-inner-ip" },
	{ "inner IPv4 ihl 3", VX, 0, { { 64, 0x43 } }, { 0 }, "bad-inner-ip" },
	{ "inner length past end", VX, 0, { { 67, 0x40 } }, { 64 }, "truncated-inner" },
	{ "VXLAN inside VXLAN to us",
	  VX,
	  0,
	  { { 80, 203 }, { 81, 0 }, { 82, 113 }, { 83, 9 }, { 86, 0x12 }, { 87, 0xb5 } },
	  { 64 },
	  "nested" },
	{ "UDP inside VXLAN to us, other port",
	  VX,
	  0,
	  { { 80, 203 }, { 81, 0 }, { 82, 113 }, { 83, 9 } },
	  { 64 },
	  "decap" },
	{ "Ethernet padding", VX, -6, { { 0 } }, { 0 }, "decap" },
	{ "outer CE, inner ECT(0)", VX, 0, { { 15, 0x03 } }, { 14 }, "decap" },
	{ "outer CE, inner not-ECT",
	  VX,
	  0,
	  { { 15, 0x03 }, { 65, 0x00 } },
	  { 14, 64 },
	  "ecn-ce-not-ect" },
	{ "GENEVE version 1", GE, 0, { { 42, 0x42 } }, { 0 }, "bad-tunnel-header" },
	{ "GENEVE options past packet", GE, 0, { { 42, 0x3f } }, { 0 }, "truncated-tunnel" },
	{ "GENEVE OAM", GE, 0, { { 43, 0x80 } }, { 0 }, "geneve-oam" },
	{ "GENEVE C bit, no critical option", GE, 0, { { 43, 0x40 } }, { 0 }, "decap" },
	{ "GENEVE critical option", GE, 0, { { 52, 0x83 } }, { 0 }, "geneve-critical-option" },
	{ "GENEVE option past area", GE, 0, { { 53, 0x02 } }, { 0 }, "bad-geneve-options" },
	{ "GENEVE option area 1 word", GE, 0, { { 42, 0x01 } }, { 0 }, "bad-geneve-options" },
	{ "GENEVE protocol IPv4", GE, 0, { { 44, 0x08 }, { 45, 0 } }, { 0 }, "bad-inner-protocol" },
	{ "GENEVE VNI 43", GE, 0, { { 48, 0x2b } }, { 0 }, "wrong-vni" },
	{ "GENEVE on the VXLAN port", GE, 0, { { 36, 0x12 }, { 37, 0xb5 } }, { 0 }, "wrong-port" },
	{ "GRE key 0x1235", GK, 0, { { 41, 0x35 } }, { 0 }, "wrong-key" },
	{ "GRE without key", GK, 0, { { 34, 0x00 } }, { 0 }, "wrong-key" },
	{ "GRE version 1", GK, 0, { { 35, 0x01 } }, { 0 }, "bad-tunnel-header" },
	{ "GRE routing bit", GK, 0, { { 34, 0x60 } }, { 0 }, "bad-tunnel-header" },
	{ "GRE bits 6-12 ignored", GK, 0, { { 34, 0x23 }, { 35, 0xf8 } }, { 0 }, "decap" },
	{ "GRE sequence number", GK, 0, { { 34, 0x30 } }, { 0 }, "bad-inner-ip" },
	{ "GRE protocol TEB", GK, 0, { { 36, 0x65 }, { 37, 0x58 } }, { 0 }, "bad-inner-protocol" },
	{ "GRE cut in key", GK, 0, { { 16, 0 }, { 17, 26 } }, { 14 }, "truncated-tunnel" },
	{ "GRE checksum", GC, 0, { { 38, 0x61 } }, { 0 }, "bad-gre-checksum" },
	{ "GRE payload corrupt", GC, 0, { { 105, 0x01 } }, { 0 }, "bad-gre-checksum" },
	{ "IPv6 cut", I6, 50, { { 0 } }, { 0 }, "truncated-outer" },
	{ "IPv6 version 4", I6, 0, { { 14, 0x40 } }, { 0 }, "bad-outer-ip" },
	{ "IPv6 payload past end", I6, 0, { { 18, 0x01 } }, { 0 }, "truncated-outer" },
	{ "IPv6 hop-by-hop header", I6, 0, { { 20, 0 } }, { 0 }, "wrong-protocol" },
	{ "IPv6 destination", I6, 0, { { 53, 0x08 } }, { 0 }, "wrong-dst" },
	{ "IPv6 source", I6, 0, { { 37, 0x02 } }, { 0 }, "wrong-src" },
	{ "IPv6 next header 41, IPv4 inside", I6, 0, { { 20, 41 } }, { 0 }, "truncated-inner" },
	{ "Linux encapsulation limit option", E6, 0, { { 0 } }, { 0 }, "decap" },
	{ "destination option not skippable", E6, 0, { { 56, 0xc4 } }, { 0 }, "bad-outer-ip" },
	{ "destination option past header", E6, 0, { { 57, 0x09 } }, { 0 }, "bad-outer-ip" },
	{ "destination options past payload", E6, 0, { { 55, 0x10 } }, { 0 }, "truncated-outer" },
	{ "destination options, then UDP", E6, 0, { { 54, 17 } }, { 0 }, "wrong-protocol" },
	{ "UDP checksum 0 over IPv6", G6, 0, { { 60, 0 }, { 61, 0 } }, { 0 }, "bad-udp-checksum" },
	{ "UDP checksum over IPv6", G6, 0, { { 61, 0xfe } }, { 0 }, "bad-udp-checksum" },
};
#define NBADS (sizeof(bads) / sizeof(bads[0]))

static void bad_frame(const struct bad *b, uint8_t *f, size_t *len)
{
	memset(f, 0, 256);
	memcpy(f, b->vec, b->len);
	*len = b->cut > 0 ? (size_t)b->cut : b->len + (size_t)-b->cut;
	for (unsigned i = 0; i < 6 && b->set[i].off; i++)
		f[b->set[i].off] = b->set[i].val;
	for (unsigned i = 0; i < 2 && b->fix4[i]; i++)
		ip4_fix_csum(f + b->fix4[i]);
}

static const struct bad *find_bad(const char *name)
{
	for (unsigned i = 0; i < NBADS; i++)
		if (strcmp(bads[i].name, name) == 0)
			return &bads[i];
	fail_msg("no row %s", name);
	return NULL;
}

static void test_decap_malformed(void **state)
{
	for (unsigned i = 0; i < NBADS; i++) {
		const struct bad *b = &bads[i];
		void *t = make_ok(b->c, true, NULL);
		uint8_t f[256];
		size_t len;
		struct tpkt k;
		bool ok = strcmp(b->expect, "decap") == 0;

		print_message("  %-36s -> %s\n", b->name, b->expect);
		bad_frame(b, f, &len);
		pkt_set(&k, f, len);
		assert_int_equal(run(t, &k), ok ? NIO_V_PASS : NIO_V_DROP);
		assert_only_counter(t, b->expect);
		tunnel_service.fini(t);
	}
}

/* Every strict prefix of every valid packet is dropped, and never read past its end. */
static void test_decap_truncated(void **state)
{
	for (unsigned i = 0; i < NVECS; i++) {
		void *t = make_ok(cfg(vecs[i].cfg), true, NULL);
		struct tpkt k;

		for (size_t n = 0; n < vecs[i].out_len; n++) {
			pkt_set(&k, vecs[i].out, n);
			k.p.l3_off = n < ETH_HLEN ? (uint16_t)n : ETH_HLEN;
			assert_int_equal(run(t, &k), NIO_V_DROP);
		}
		assert_int_equal(counter(t, "decap"), 0);
		tunnel_service.fini(t);
	}
}

/* RFC 6040: CE survives decap into an ECN-capable packet; encap copies the inner ECN field. */
static void test_ecn(void **state)
{
	void *d = make_ok(&cfgs[0], true, NULL), *e = make_ok(&cfgs[5], false, NULL);
	uint8_t f[256];
	size_t len;
	struct tpkt k;

	bad_frame(find_bad("outer CE, inner ECT(0)"), f, &len);
	pkt_set(&k, f, len);
	assert_int_equal(run(d, &k), NIO_V_PASS);
	assert_int_equal(k.p.data[ETH_HLEN + 1], 0x03);
	assert_true(ip4_csum_ok(k.p.data + ETH_HLEN));

	memcpy(f, in4_frame, sizeof(in4_frame));
	f[ETH_HLEN + 1] = 0x03;
	ip4_fix_csum(f + ETH_HLEN);
	pkt_set(&k, f, sizeof(in4_frame));
	assert_int_equal(run(e, &k), NIO_V_PASS);
	assert_int_equal(k.p.data[ETH_HLEN + 1], 46 << 2 | 0x03);
	assert_int_equal(k.p.dscp, 46);
	assert_true(ip4_csum_ok(k.p.data + ETH_HLEN));
	tunnel_service.fini(d);
	tunnel_service.fini(e);
}

/* ---------------------------------------------------------------- encap edge cases */

/* in4_frame / in6_frame grown to an IP length of iplen (patterned payload), IPv4 DF as asked. */
static size_t big_frame(uint8_t *f, bool v6, uint32_t iplen, bool df)
{
	const uint8_t *src = v6 ? in6_frame : in4_frame;
	size_t n = v6 ? sizeof(in6_frame) : sizeof(in4_frame);

	for (uint32_t i = 0; i < ETH_HLEN + iplen; i++)
		f[i] = (uint8_t)(i * 7 + 1);
	memcpy(f, src, n < ETH_HLEN + iplen ? n : ETH_HLEN + iplen);
	if (v6) {
		wr16(f + ETH_HLEN + 4, (uint16_t)(iplen - IP6_HLEN));
		return ETH_HLEN + iplen;
	}
	wr16(f + ETH_HLEN + 2, (uint16_t)iplen);
	f[ETH_HLEN + 6] = df ? 0x40 : 0;
	ip4_fix_csum(f + ETH_HLEN);
	return ETH_HLEN + iplen;
}

/* Full-size packets: the payload checksums (UDP over IPv6, udp-csum) over many words. */
static void test_roundtrip_big(void **state)
{
	static const char *const names[] = { "vxlan6", "geneve6", "gre6", "ipip6", "vxlan4-csum" };
	uint8_t f[1600];

	for (unsigned i = 0; i < 5; i++)
		for (uint32_t n = 1351; n < 1355; n++) {
			roundtrip(cfg(names[i]), f, big_frame(f, false, n, true), HASH);
			roundtrip(cfg(names[i]), f, big_frame(f, true, n, false), HASH);
		}
}

static void assert_icmp_reply(const struct nio_pkt *p, bool v6, uint8_t type, uint8_t code,
			      uint32_t info, size_t iplen)
{
	static const uint8_t local4[] = { 203, 0, 113, 1 };
	const uint8_t *ip = p->data + ETH_HLEN, *icmp = ip + (v6 ? IP6_HLEN : IP4_HLEN);
	size_t n = iplen - (v6 ? IP6_HLEN : IP4_HLEN);

	assert_int_equal(p->len, ETH_HLEN + iplen);
	assert_int_equal(p->out_port, 3);
	assert_true(p->flags & NIO_PKT_F_L2DONE);
	assert_memory_equal(p->data, in4_frame + 6, 6); /* back to the sender's MAC */
	assert_memory_equal(p->data + 6, in4_frame, 6);
	assert_int_equal(icmp[0], type);
	assert_int_equal(icmp[1], code);
	assert_int_equal(rd32(icmp + 4), info);
	if (v6) {
		assert_int_equal(p->data[12], 0x86);
		assert_int_equal(rd16(ip + 4), n);
		assert_memory_equal(ip + 24, in6_frame + ETH_HLEN + 8, 16);
		assert_true(l4_csum_ok(ip, true, IPPROTO_ICMPV6, icmp, n));
		assert_int_equal(p->key.family, 6);
	} else {
		assert_int_equal(rd16(ip + 2), iplen);
		assert_true(ip4_csum_ok(ip));
		assert_memory_equal(ip + 12, local4, 4);
		assert_memory_equal(ip + 16, in4_frame + ETH_HLEN + 12, 4);
		assert_int_equal(ref_sum(icmp, n, 0), 0xffff);
		assert_int_equal(p->key.dst[15], 10);
	}
}

static const char *const mtu1400[] = { "mtu", "1400", "icmp-src6", V6_A, NULL };

/* vxlan4 adds 50 bytes: an inner packet of 1350 fits a 1400 path, 1351 gets ICMP. */
static void test_pmtu(void **state)
{
	void *t = make_ok(&cfgs[0], false, mtu1400);
	uint8_t f[1600], q[IP4_HLEN];
	struct tpkt k;

	pkt_set(&k, f, big_frame(f, false, 1350, true));
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_int_equal(k.p.len, ETH_HLEN + 1400);
	assert_outer_ok(&k.p, false, true);

	pkt_set(&k, f, big_frame(f, false, 1351, true));
	memcpy(q, f + ETH_HLEN, IP4_HLEN); /* quoted as handed over */
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_icmp_reply(&k.p, false, 3, 4, 1350, 576);
	assert_memory_equal(k.p.data + ETH_HLEN + 28, q, IP4_HLEN);

	pkt_set(&k, f, big_frame(f, true, 1351, false));
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_icmp_reply(&k.p, true, 2, 0, 1350, 1280);
	assert_int_equal(counter(t, "encap"), 1);
	assert_int_equal(counter(t, "icmp-too-big"), 2);
	tunnel_service.fini(t);

	t = make_ok(&cfgs[0], false, (const char *const[]){ "mtu", "1400", NULL });
	pkt_set(&k, f, big_frame(f, true, 1351, false));
	assert_int_equal(run(t, &k), NIO_V_DROP); /* no IPv6 source for the ICMPv6 error */
	assert_only_counter(t, "too-big");
	tunnel_service.fini(t);
}

/* Without `mtu` the output port's MTU is the limit (read when packets flow: the port opens
 * after init), and the too-big error goes out whatever the outer/inner family mix, from
 * `local` when of the inner family, else from the input port's own address. */
static void test_pmtu_port_mtu(void **state)
{
	static const char *const names[] = { "vxlan4",	"vxlan6", "geneve4",
					     "geneve6", "gre4",	  "ipip6" };
	static const uint8_t local4[] = { 203, 0, 113, 1 };
	uint8_t f[1600], a6[16];
	struct tpkt k;

	inet_pton(AF_INET6, V6_A, a6);
	fake_port_addrs = true;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct tcfg *c = cfg(names[i]);
		bool outer6 = strchr(c->local, ':') != NULL;
		void *t;
		uint32_t room;

		fake_out_mtu = 0;
		t = make_ok(c, false, NULL);
		fake_out_mtu = 1400;
		room = 1400 - ((struct tun *)t)->overhead;
		for (int v6 = 0; v6 < 2; v6++) {
			const uint8_t *want_src =
				v6 ? (outer6 ? a6 : fake_port6) : (outer6 ? fake_port4 : local4);
			const uint8_t *ip;

			print_message("  %s, IPv%d inside\n", names[i], v6 ? 6 : 4);
			pkt_set(&k, f, big_frame(f, v6, room, true));
			assert_int_equal(run(t, &k), NIO_V_PASS);
			assert_int_equal(k.p.len, ETH_HLEN + 1400);
			pkt_set(&k, f, big_frame(f, v6, room + 1, true));
			assert_int_equal(run(t, &k), NIO_V_PASS);
			assert_true(k.p.flags & NIO_PKT_F_L2DONE);
			ip = k.p.data + ETH_HLEN;
			assert_int_equal(ip[v6 ? IP6_HLEN : IP4_HLEN], v6 ? 2 : 3);
			assert_int_equal(ip[(v6 ? IP6_HLEN : IP4_HLEN) + 1], v6 ? 0 : 4);
			assert_int_equal(rd32(ip + (v6 ? IP6_HLEN : IP4_HLEN) + 4), room);
			assert_memory_equal(ip + (v6 ? 8 : 12), want_src, v6 ? 16 : 4);
		}
		assert_int_equal(counter(t, "icmp-too-big"), 2);
		tunnel_service.fini(t);
	}
	fake_out_mtu = 0;
	fake_port_addrs = false;
}

/* RFC 1812 4.3.2.7 / RFC 4443 2.4(e): no too-big about a packet from a source that is not one
 * host, to an IPv4 multicast group, or about an ICMP error; IPv6 multicast may get one. */
static void test_pmtu_no_answer(void **state)
{
	static const struct {
		const char *name;
		bool v6;
		unsigned off;
		uint8_t val;
		int verdict;
	} rows[] = {
		{ "IPv4 from loopback", false, 12, 127, NIO_V_DROP },
		{ "IPv4 from 0/8", false, 12, 0, NIO_V_DROP },
		{ "IPv4 from multicast", false, 12, 224, NIO_V_DROP },
		{ "IPv4 to multicast", false, 16, 239, NIO_V_DROP },
		{ "IPv4 ICMP error", false, 9, IPPROTO_ICMP, NIO_V_DROP },
		{ "IPv6 from multicast", true, 8, 0xff, NIO_V_DROP },
		{ "IPv6 ICMPv6 error", true, 6, IPPROTO_ICMPV6, NIO_V_DROP },
		{ "IPv6 to multicast", true, 24, 0xff, NIO_V_PASS },
		{ "IPv4 unicast", false, 16, 198, NIO_V_PASS },
	};
	uint8_t f[1600];
	struct tpkt k;

	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		void *t = make_ok(cfg("vxlan4"), false,
				  (const char *const[]){ "mtu", "1400", "icmp-src6", V6_A, NULL });
		size_t n = big_frame(f, rows[i].v6, 1351, true);

		print_message("  %s\n", rows[i].name);
		f[ETH_HLEN + rows[i].off] = rows[i].val;
		f[ETH_HLEN + (rows[i].v6 ? 40 : 20)] = 3; /* ICMP(v6) type: an error in both */
		if (!rows[i].v6)
			ip4_fix_csum(f + ETH_HLEN);
		pkt_set(&k, f, n);
		assert_int_equal(run(t, &k), rows[i].verdict);
		assert_int_equal(counter(t, "too-big"), rows[i].verdict == NIO_V_DROP);
		tunnel_service.fini(t);
	}
}

/* ---------------------------------------------------------------- fragmentation */

/* An inner IPv4 frame of iplen bytes without DF, at fragment offset off8 (8-byte units) with
 * MF as given, and opts (a multiple of 4 bytes) as header options. */
static size_t frag_frame(uint8_t *f, uint32_t iplen, uint16_t off8, bool mf, const uint8_t *opts,
			 uint32_t olen)
{
	size_t n = big_frame(f, false, iplen, false);
	uint8_t *ip = f + ETH_HLEN;

	ip[0] = (uint8_t)(0x45 + olen / 4);
	if (olen)
		memcpy(ip + IP4_HLEN, opts, olen);
	wr16(ip + 4, 0x1234);
	wr16(ip + 6, (uint16_t)((mf ? IP4_MF : 0) | off8));
	ip4_fix_csum(ip);
	return n;
}

struct reasm {
	uint8_t data[65536];
	bool have[65536];
	uint32_t lo, hi; /* byte range covered, relative to the IP payload */
	bool last_mf;	 /* MF of the fragment that ends at hi */
	unsigned n;
};

/* Check one outer packet of encap instance c, decapsulate it with d and file its fragment. */
static void reasm_add(struct reasm *r, const struct tcfg *c, void *d, struct nio_pkt *p,
		      uint32_t mtu, const uint8_t *opts_first, uint32_t olen_first,
		      const uint8_t *opts_rest, uint32_t olen_rest)
{
	bool v6 = strchr(c->local, ':') != NULL;
	bool udp = strcmp(c->type, "vxlan") == 0 || strcmp(c->type, "geneve") == 0;
	struct nio_pkt *pp = p;
	uint8_t v = 0xff, *ip;
	uint32_t hl, off, len;

	assert_outer_ok(p, v6, udp);
	assert_true(p->len - ETH_HLEN <= mtu);
	tunnel_service.process(d, &pp, 1, &v);
	assert_int_equal(v, NIO_V_PASS);
	ip = p->data + p->l3_off;
	assert_true(ip4_csum_ok(ip));
	assert_int_equal(rd16(ip + 4), 0x1234);
	assert_int_equal(ip[8], 63);
	hl = (ip[0] & 0x0fu) * 4;
	off = (rd16(ip + 6) & IP4_OFFMASK) * 8u;
	len = rd16(ip + 2);
	assert_int_equal(p->len, p->l3_off + len);
	if (r->n++ == 0 || off == r->lo) {
		assert_int_equal(hl, IP4_HLEN + olen_first);
		assert_memory_equal(ip + IP4_HLEN, opts_first, olen_first);
	} else {
		assert_int_equal(hl, IP4_HLEN + olen_rest);
		assert_memory_equal(ip + IP4_HLEN, opts_rest, olen_rest);
	}
	for (uint32_t i = 0; i < len - hl; i++) {
		assert_false(r->have[off + i]); /* no byte twice */
		r->have[off + i] = true;
		r->data[off + i] = ip[hl + i];
	}
	if (off + len - hl > r->hi) {
		r->hi = off + len - hl;
		r->last_mf = rd16(ip + 6) & IP4_MF;
	} else {
		assert_true(rd16(ip + 6) & IP4_MF); /* every fragment but the last has MF */
	}
}

/* Encapsulate an inner packet that needs nfrag fragments at this mtu; reassemble them after
 * decap and compare with the original payload. */
static void frag_case(const struct tcfg *c, uint32_t mtu, uint32_t iplen, uint16_t off8, bool mf,
		      const uint8_t *opts, uint32_t olen, const uint8_t *opts_rest,
		      uint32_t olen_rest, unsigned nfrag)
{
	char mtus[16];
	void *e, *d;
	static uint8_t f[NIO_PKT_MAX_FRAME];
	static struct reasm r;
	struct tpkt k;
	struct nio_pkt *q[NIO_BURST_MAX];
	uint64_t next = 0;
	uint16_t nq;
	size_t n;

	snprintf(mtus, sizeof(mtus), "%u", mtu);
	e = make_ok(c, false, (const char *const[]){ "mtu", mtus, NULL });
	d = make_ok(c, true, NULL);
	n = frag_frame(f, iplen, off8, mf, opts, olen);
	pkt_set(&k, f, n);
	memset(&r, 0, sizeof(r));
	r.lo = off8 * 8u;
	r.hi = r.lo;
	assert_int_equal(run(e, &k), NIO_V_PASS);
	nq = tunnel_service.dequeue(e, 5, q, 2, &next);
	assert_int_equal(nq, nfrag - 1 < 2 ? nfrag - 1 : 2);
	assert_int_equal(next, nfrag - 1 > 2 ? 5 : 0);
	nq += tunnel_service.dequeue(e, 5, q + nq, NIO_BURST_MAX, &next);
	assert_int_equal(nq, nfrag - 1);
	assert_int_equal(next, 0);
	reasm_add(&r, c, d, &k.p, mtu, opts, olen, opts_rest, olen_rest);
	for (uint16_t i = 0; i < nq; i++) {
		assert_int_equal(q[i]->in_port, 3);
		assert_int_equal(q[i]->hash, HASH);
		assert_true(q[i]->flags & NIO_PKT_F_IPV4 || q[i]->flags & NIO_PKT_F_IPV6);
		reasm_add(&r, c, d, q[i], mtu, opts, olen, opts_rest, olen_rest);
		fake_host.pkt_free(q[i]);
	}
	assert_int_equal(r.hi - r.lo, iplen - IP4_HLEN - olen);
	for (uint32_t i = r.lo; i < r.hi; i++)
		assert_true(r.have[i]);
	assert_memory_equal(r.data + r.lo, f + ETH_HLEN + IP4_HLEN + olen, r.hi - r.lo);
	assert_int_equal(r.last_mf, mf);
	assert_int_equal(counter(e, "fragmented"), 1);
	assert_int_equal(counter(e, "encap"), nfrag);
	assert_int_equal(counter(d, "decap"), nfrag);
	tunnel_service.fini(e);
	tunnel_service.fini(d);
}

/* Inner IPv4 without DF over the mtu: fragments that fit, carrying every payload byte once,
 * the copied options only after the first, offsets and MF kept for a packet that already was a
 * fragment; per encapsulation and outer family. */
static void test_fragment(void **state)
{
	static const char *const names[] = { "vxlan4", "geneve6", "gre4-key", "ipip6" };
	/* router alert (copied) + NOPs + end of list, then a record-route (not copied) */
	static const uint8_t opts[] = { 0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0 };
	static const uint8_t ra[] = { 0x94, 4, 0, 0 };
	unsigned freed = fake_pkts_freed, alloced = fake_pkts_alloced;

	for (unsigned i = 0; i < 4; i++) {
		const struct tcfg *c = cfg(names[i]);
		uint32_t mtu = strchr(c->local, ':') ? 1280 : 576;

		print_message("  %s\n", c->name);
		frag_case(c, 1400, 1500, 0, false, NULL, 0, NULL, 0, 2);
		frag_case(c, mtu, NIO_PKT_MAX_FRAME - ETH_HLEN, 0, false, NULL, 0, NULL, 0,
			  mtu == 576 ? 5 : 2);
		frag_case(c, mtu, 2000, 100, true, NULL, 0, NULL, 0, mtu == 576 ? 4 : 2);
		frag_case(c, mtu, 2000, 0, false, opts, sizeof(opts), ra, sizeof(ra),
			  mtu == 576 ? 4 : 2);
	}
	assert_int_equal(fake_pkts_alloced - alloced, fake_pkts_freed - freed);
}

/* fragment = no drops; an empty pool or a full queue drops the whole packet, leaking nothing;
 * fini returns fragments never dequeued; IPv6 and DF packets still get ICMP, never fragments. */
static void test_fragment_limits(void **state)
{
	void *t = make_ok(&cfgs[0], false,
			  (const char *const[]){ "mtu", "576", "fragment", "no", NULL });
	static uint8_t f[NIO_PKT_MAX_FRAME];
	unsigned freed, alloced;
	struct tpkt k;

	pkt_set(&k, f, frag_frame(f, 2000, 0, false, NULL, 0));
	assert_int_equal(run(t, &k), NIO_V_DROP);
	assert_only_counter(t, "too-big");
	tunnel_service.fini(t);

	t = make_ok(&cfgs[0], false, (const char *const[]){ "mtu", "576", NULL });
	freed = fake_pkts_freed;
	alloced = fake_pkts_alloced;
	fake_alloc_limit = 2; /* three more fragments needed */
	pkt_set(&k, f, frag_frame(f, 2000, 0, false, NULL, 0));
	assert_int_equal(run(t, &k), NIO_V_DROP);
	assert_only_counter(t, "no-buffer");
	assert_int_equal(fake_pkts_alloced - alloced, 2);
	assert_int_equal(fake_pkts_freed - freed, 2);
	fake_alloc_limit = 320;

	/* 64 packets of 4 queued fragments each fill the 256-slot queue; the 65th is refused */
	for (unsigned i = 0; i < 65; i++) {
		pkt_set(&k, f, frag_frame(f, NIO_PKT_MAX_FRAME - ETH_HLEN, 0, false, NULL, 0));
		assert_int_equal(run(t, &k), i < 64 ? NIO_V_PASS : NIO_V_DROP);
	}
	assert_int_equal(counter(t, "fragmented"), 64);
	assert_int_equal(counter(t, "no-buffer"), 2);
	assert_int_equal(fake_pkts_alloced - alloced, 2 + 256);
	freed = fake_pkts_freed;
	tunnel_service.fini(t); /* 256 fragments were never dequeued */
	assert_int_equal(fake_pkts_freed - freed, 256);
}

/* No error about an ICMP error, and no more than icmp-rate per second after a burst of 10. */
static void test_icmp_limits(void **state)
{
	void *t = make_ok(&cfgs[0], false,
			  (const char *const[]){ "mtu", "1400", "icmp-rate", "1", NULL });
	uint8_t f[1600];
	size_t n = big_frame(f, false, 1351, true);
	struct tpkt k;

	f[ETH_HLEN + 9] = IPPROTO_ICMP;
	f[ETH_HLEN + IP4_HLEN] = 3;
	ip4_fix_csum(f + ETH_HLEN);
	pkt_set(&k, f, n);
	assert_int_equal(run(t, &k), NIO_V_DROP);
	assert_only_counter(t, "too-big");

	f[ETH_HLEN + IP4_HLEN] = 8; /* echo request: answer, rate permitting */
	for (unsigned i = 0; i < 12; i++) {
		pkt_set(&k, f, n);
		k.p.ts_ns = 1000;
		assert_int_equal(run(t, &k), i < 11 ? NIO_V_PASS : NIO_V_DROP);
	}
	assert_int_equal(counter(t, "icmp-rate-limited"), 1);
	pkt_set(&k, f, n);
	k.p.ts_ns = 100000001000ull;
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_int_equal(counter(t, "icmp-too-big"), 12);
	tunnel_service.fini(t);
}

/* A decap end tells the daemon its local address (packets to it end here); encap does not. */
static void test_decap_endpoint(void **state)
{
	static const uint8_t want4[16] = { [10] = 0xff, 0xff, 203, 0, 113, 9 };
	uint8_t want6[16];
	void *t;

	fake_nendpoints = 0;
	t = make_ok(cfg("vxlan4"), false, NULL);
	assert_int_equal(fake_nendpoints, 0);
	tunnel_service.fini(t);
	t = make_ok(cfg("vxlan4"), true, NULL);
	assert_int_equal(fake_nendpoints, 1);
	assert_memory_equal(fake_endpoint, want4, 16);
	tunnel_service.fini(t);
	inet_pton(AF_INET6, V6_B, want6);
	t = make_ok(cfg("gre6"), true, NULL);
	assert_memory_equal(fake_endpoint, want6, 16);
	tunnel_service.fini(t);
}

/* The outer header carries exactly `ttl` whatever the inner TTL (1 here: the daemon decremented
 * it from 2 and lets it through); ttl 1 and ttl 0 (inherit) included. */
static void test_outer_ttl(void **state)
{
	static const struct {
		const char *cfg, *ttl;
		uint8_t want;
	} rows[] = {
		{ "vxlan4", "64", 64 }, { "vxlan4", "1", 1 },	 { "vxlan4", "0", 1 },
		{ "geneve6", "1", 1 },	{ "ipip6", "255", 255 }, { "gre4", "7", 7 },
	};
	uint8_t f[256];
	struct tpkt k;

	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		void *t = make_ok(cfg(rows[i].cfg), false,
				  (const char *const[]){ "ttl", rows[i].ttl, NULL });
		bool v6 = strchr(cfg(rows[i].cfg)->local, ':') != NULL;

		print_message("  %s ttl %s\n", rows[i].cfg, rows[i].ttl);
		memcpy(f, in4_frame, sizeof(in4_frame));
		f[ETH_HLEN + 8] = 1;
		ip4_fix_csum(f + ETH_HLEN);
		pkt_set(&k, f, sizeof(in4_frame));
		assert_int_equal(run(t, &k), NIO_V_PASS);
		assert_int_equal(k.p.data[ETH_HLEN + (v6 ? 7 : 8)], rows[i].want);
		assert_false(k.p.flags & NIO_PKT_F_L2DONE);
		assert_only_counter(t, "encap");
		tunnel_service.fini(t);
	}
}

struct enc_bad {
	const char *name;
	uint16_t flags; /* 0xffff: as parsed from the frame */
	int cut;	/* > 0: frame length */
	uint16_t off;	/* one byte to change (0: none) */
	uint8_t val;
	bool fix;	   /* re-checksum the inner IPv4 header */
	uint16_t headroom; /* 0: the default */
	const char *expect;
};

static const struct enc_bad enc_bads[] = {
	{ "not IP", 0, 0, 0, 0, false, 0, "not-ip" },
	{ "IPv4 header cut", 0xffff, 30, 0, 0, false, 0, "truncated-inner" },
	{ "IPv4 length past end", 0xffff, 50, 0, 0, false, 0, "truncated-inner" },
	{ "IPv4 version 6", 0xffff, 0, 14, 0x65, false, 0, "bad-inner-ip" },
	{ "IPv4 length below header", 0xffff, 0, 17, 8, true, 0, "bad-inner-ip" },
	{ "too little headroom", 0xffff, 0, 0, 0, false, 40, "no-headroom" },
	{ "Ethernet padding", 0xffff, 60, 0, 0, false, 0, "encap" },
};

static void test_encap_bad(void **state)
{
	for (unsigned i = 0; i < sizeof(enc_bads) / sizeof(enc_bads[0]); i++) {
		const struct enc_bad *b = &enc_bads[i];
		void *t = make_ok(&cfgs[0], false, NULL);
		uint8_t f[256] = { 0 };
		size_t n = b->cut ? (size_t)b->cut : sizeof(in4_frame);
		struct tpkt k;

		print_message("  %-36s -> %s\n", b->name, b->expect);
		memcpy(f, in4_frame, sizeof(in4_frame));
		if (b->off)
			f[b->off] = b->val;
		if (b->fix)
			ip4_fix_csum(f + ETH_HLEN);
		pkt_set(&k, f, n);
		if (b->flags != 0xffff)
			k.p.flags = b->flags;
		if (b->headroom) {
			k.p.data = k.p.buf + b->headroom;
			memcpy(k.p.data, f, n);
		}
		assert_int_equal(run(t, &k), strcmp(b->expect, "encap") ? NIO_V_DROP : NIO_V_PASS);
		assert_only_counter(t, b->expect);
		if (b->cut == 60)
			assert_memory_equal(k.p.data, vxlan4_in4, sizeof(vxlan4_in4));
		tunnel_service.fini(t);
	}
}

/* A packet of this very tunnel, routed back into it, would loop: it is dropped. */
static void test_encap_nested(void **state)
{
	void *t = make_ok(&cfgs[0], false, NULL);
	uint8_t f[256];
	struct tpkt k;

	memcpy(f, vxlan4_in4, sizeof(vxlan4_in4));
	memcpy(f, in4_frame, 12);
	pkt_set(&k, f, sizeof(vxlan4_in4));
	assert_int_equal(run(t, &k), NIO_V_DROP);
	assert_only_counter(t, "nested");
	tunnel_service.fini(t);
}

/* The tag goes: the inner frame is plain Ethernet + IP. */
static void test_encap_vlan(void **state)
{
	void *t = make_ok(&cfgs[0], false, NULL);
	uint8_t f[256];
	struct tpkt k;

	memcpy(f, in4_frame, 12);
	memcpy(f + 12, (const uint8_t[]){ 0x81, 0x00, 0x00, 0x64 }, 4);
	memcpy(f + 16, in4_frame + 12, sizeof(in4_frame) - 12);
	pkt_set(&k, f, sizeof(in4_frame) + 4);
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_int_equal(k.p.len, sizeof(vxlan4_in4));
	assert_memory_equal(k.p.data, vxlan4_in4, sizeof(vxlan4_in4));
	assert_false(k.p.flags & NIO_PKT_F_VLAN);
	tunnel_service.fini(t);
}

/* ttl inherit, df unset / inherit, inner MACs, source port range, udp-csum. */
static void test_encap_options(void **state)
{
	static const char *const opts[] = { "ttl",
					    "0",
					    "df",
					    "inherit",
					    "inner-dst-mac",
					    "0a:0b:0c:0d:0e:0f",
					    "src-port-min",
					    "1000",
					    "src-port-max",
					    "1009",
					    NULL };
	static const uint8_t mac[] = { 10, 11, 12, 13, 14, 15 };
	void *t = make_ok(&cfgs[0], false, opts);
	uint8_t f[256];
	struct tpkt k;

	memcpy(f, in4_frame, sizeof(in4_frame));
	f[ETH_HLEN + 6] = 0; /* no DF */
	f[ETH_HLEN + 8] = 9;
	ip4_fix_csum(f + ETH_HLEN);
	pkt_set(&k, f, sizeof(in4_frame));
	k.p.hash = 0;
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_outer_ok(&k.p, false, false);
	assert_int_equal(k.p.data[ETH_HLEN + 8], 9); /* inherited as handed over */
	assert_int_equal(rd16(k.p.data + ETH_HLEN + 6), 0);
	assert_int_equal(rd16(k.p.data + 34), 1000);
	assert_int_equal(k.p.key.sport, 1000);
	assert_memory_equal(k.p.data + 50, mac, 6);
	assert_memory_equal(k.p.data + 56, in4_frame + 6, 6);

	pkt_set(&k, in4_frame, sizeof(in4_frame));
	k.p.hash = 0xffffffffu;
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_outer_ok(&k.p, false, false);
	assert_int_equal(rd16(k.p.data + ETH_HLEN + 6), 0x4000);
	assert_int_equal(rd16(k.p.data + 34), 1009);
	assert_int_equal(rd16(k.p.data + ETH_HLEN + 4), 1); /* ids count up */
	tunnel_service.fini(t);

	t = make_ok(&cfgs[0], false, (const char *const[]){ "df", "unset", NULL });
	pkt_set(&k, in4_frame, sizeof(in4_frame));
	assert_int_equal(run(t, &k), NIO_V_PASS);
	assert_int_equal(rd16(k.p.data + ETH_HLEN + 6), 0);
	assert_outer_ok(&k.p, false, true);
	tunnel_service.fini(t);
}

/* ---------------------------------------------------------------- configuration */

struct conf_bad {
	const char *name;
	struct tcfg c;
	const char *more[5];
	const char *err;
};

static const struct conf_bad conf_bads[] = {
	{ "vxlan without vni",
	  { "", "vxlan", V4_A, V4_B, NULL, NULL, { NULL } },
	  { NULL },
	  "vni is required" },
	{ "gre with vni",
	  { "", "gre", V4_A, V4_B, "vni", "1", { NULL } },
	  { NULL },
	  "vni does not apply" },
	{ "vxlan with key",
	  { "", "vxlan", V4_A, V4_B, "vni", "1", { "key", "1" } },
	  { NULL },
	  "key applies to gre" },
	{ "ipip with port",
	  { "", "ipip", V4_A, V4_B, NULL, NULL, { "port", "1" } },
	  { NULL },
	  "do not apply" },
	{ "mixed families",
	  { "", "gre", V4_A, V6_B, NULL, NULL, { NULL } },
	  { NULL },
	  "same address family" },
	{ "not an address",
	  { "", "gre", "gw", V4_B, NULL, NULL, { NULL } },
	  { NULL },
	  "must be IP addresses" },
	{ "dscp 64", { "", "gre", V4_A, V4_B, NULL, NULL, { "dscp", "64" } }, { NULL }, "dscp" },
	{ "dscp word", { "", "gre", V4_A, V4_B, NULL, NULL, { "dscp", "ef" } }, { NULL }, "dscp" },
	{ "port range upside down",
	  { "", "vxlan", V4_A, V4_B, "vni", "1", { "src-port-min", "2000" } },
	  { "src-port-max", "1999", NULL },
	  "src-port-min" },
	{ "bad MAC",
	  { "", "vxlan", V4_A, V4_B, "vni", "1", { "inner-dst-mac", "0a:0b" } },
	  { NULL },
	  "not a MAC" },
	{ "MAC on gre",
	  { "", "gre", V4_A, V4_B, NULL, NULL, { "inner-src-mac", "0a:0b:0c:0d:0e:0f" } },
	  { NULL },
	  "vxlan and geneve only" },
	{ "icmp-src4 IPv6",
	  { "", "gre", V4_A, V4_B, NULL, NULL, { "icmp-src4", V6_A } },
	  { NULL },
	  "icmp-src4" },
	{ "IPv6 outer, mtu 1200",
	  { "", "gre", V6_A, V6_B, NULL, NULL, { "mtu", "1200" } },
	  { NULL },
	  "IPv6 minimum" },
};

static void test_config_errors(void **state)
{
	for (unsigned i = 0; i < sizeof(conf_bads) / sizeof(conf_bads[0]); i++) {
		char err[256] = "";

		print_message("  %s\n", conf_bads[i].name);
		assert_null(make(&conf_bads[i].c, false, conf_bads[i].more, err));
		if (!strstr(err, conf_bads[i].err))
			fail_msg("'%s' lacks '%s'", err, conf_bads[i].err);
	}
}

/* Counter names come from the X-macro, one per enum value; show() names the tunnel. */
static void test_descriptor(void **state)
{
	void *t = make_ok(&cfgs[1], false, NULL);
	char buf[256];
	unsigned n = 0;

	assert_int_equal(tunnel_service.abi_version, NIO_SERVICE_ABI_VERSION);
	assert_int_equal(tunnel_service.size, sizeof(struct nio_service));
	assert_string_equal(tunnel_service.name, "tunnel");
	while (tunnel_service.counter_names[n])
		n++;
	assert_int_equal(n, TUN_C_MAX);
	assert_string_equal(tunnel_service.counter_names[TUN_C_WRONG_VNI], "wrong-vni");
	assert_true(tunnel_service.show(t, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "vxlan encap 2001:db8:ffff::1 -> 2001:db8:ffff::9 vni 42 key no "
				 "mtu 1500 fragment yes");
	tunnel_service.fini(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encap_vectors),
		cmocka_unit_test(test_decap_vectors),
		cmocka_unit_test(test_decap_foreign_vectors),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_decap_malformed),
		cmocka_unit_test(test_decap_truncated),
		cmocka_unit_test(test_ecn),
		cmocka_unit_test(test_pmtu),
		cmocka_unit_test(test_fragment),
		cmocka_unit_test(test_fragment_limits),
		cmocka_unit_test(test_icmp_limits),
		cmocka_unit_test(test_outer_ttl),
		cmocka_unit_test(test_decap_endpoint),
		cmocka_unit_test(test_pmtu_port_mtu),
		cmocka_unit_test(test_pmtu_no_answer),
		cmocka_unit_test(test_encap_bad),
		cmocka_unit_test(test_encap_nested),
		cmocka_unit_test(test_encap_vlan),
		cmocka_unit_test(test_encap_options),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_csum),
		cmocka_unit_test(test_roundtrip_big),
		cmocka_unit_test(test_descriptor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

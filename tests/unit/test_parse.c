/* Unit tests of the frame parser: valid IPv4/IPv6/L4 frames and every malformed case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netio/csum.h>

#include "../../netiod/netiod.h"

static uint8_t buf[NIO_PKT_BUF_SIZE];

static struct nio_pkt *frame(const uint8_t *bytes, size_t len)
{
	static struct nio_pkt p;

	memset(&p, 0, sizeof(p));
	p.buf = buf;
	p.buf_size = sizeof(buf);
	p.data = buf + NIO_PKT_HEADROOM;
	memcpy(p.data, bytes, len);
	p.len = (uint32_t)len;
	return &p;
}

/* Ethernet + IPv4 header (checksum filled) + payload. */
static size_t ipv4(uint8_t *f, uint8_t proto, const uint8_t *l4, size_t l4len, uint8_t ttl)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00 };
	uint8_t *ip = f + 14;
	uint16_t c, tot = (uint16_t)(20 + l4len);

	memcpy(f, eth, 14);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[1] = 0xb8; /* DSCP 46 */
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[8] = ttl;
	ip[9] = proto;
	memcpy(ip + 12, (uint8_t[]){ 192, 0, 2, 10 }, 4);
	memcpy(ip + 16, (uint8_t[]){ 198, 51, 100, 7 }, 4);
	c = nio_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	memcpy(ip + 20, l4, l4len);
	return 14 + tot;
}

static const uint8_t udp_hdr[8] = { 0x13, 0x88, 0x17, 0x70, 0, 8, 0, 0 }; /* 5000 -> 6000 */

static void test_ipv4_udp(void **state)
{
	uint8_t f[128] = { 0 };
	struct nio_pkt *p;

	(void)state;
	p = frame(f, ipv4(f, 17, udp_hdr, 8, 64));
	assert_int_equal(nio_parse(p), 0);
	assert_true(p->flags & NIO_PKT_F_IPV4);
	assert_true(p->flags & NIO_PKT_F_L4);
	assert_int_equal(p->l3_off, 14);
	assert_int_equal(p->l4_off, 34);
	assert_int_equal(p->key.sport, 5000);
	assert_int_equal(p->key.dport, 6000);
	assert_int_equal(p->key.proto, 17);
	assert_int_equal(p->key.family, 4);
	assert_int_equal(p->dscp, 46);
	assert_memory_equal(p->key.dst + 12, ((uint8_t[]){ 198, 51, 100, 7 }), 4);
	assert_int_equal(p->key.dst[10], 0xff);
}

static void test_ipv4_padding_trimmed(void **state)
{
	uint8_t f[128] = { 0 };
	size_t n = ipv4(f, 17, udp_hdr, 8, 64);
	struct nio_pkt *p = frame(f, 60);

	(void)state;
	assert_int_equal(n, 42);
	assert_int_equal(nio_parse(p), 0);
	assert_int_equal(p->len, 42);
}

struct bad_case {
	const char *name;
	size_t keep;	 /* frame length to present (0: all) */
	int byte, value; /* IP-header byte to overwrite (-1: none) */
	int expect;	 /* NIO_DROP_* + 1, or -1 for "not IP" */
};

static void test_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{ "runt", 10, -1, 0, NIO_DROP_TRUNC_L2 + 1 },
		{ "truncated header", 14 + 12, -1, 0, NIO_DROP_TRUNC_IP + 1 },
		{ "version 5", 0, 0, 0x55, NIO_DROP_BAD_VERSION + 1 },
		{ "ihl 3", 0, 0, 0x43, NIO_DROP_BAD_IHL + 1 },
		{ "ihl 15 > frame", 0, 0, 0x4f, NIO_DROP_TRUNC_IP + 1 },
		{ "total length too big", 0, 3, 200, NIO_DROP_BAD_LEN + 1 },
		{ "total length < ihl", 0, 3, 10, NIO_DROP_BAD_LEN + 1 },
		{ "checksum", 0, 11, 0x00, NIO_DROP_BAD_CSUM + 1 },
		{ "truncated udp", 14 + 20 + 4, 3, 24, NIO_DROP_TRUNC_L4 + 1 },
		{ "arp", 0, -2, 0, -1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		uint8_t f[128] = { 0 };
		size_t n = ipv4(f, 17, udp_hdr, 8, 64);
		struct nio_pkt *p;

		if (c->byte == 11) {
			f[14 + 11] ^= 0xff; /* corrupt the checksum whatever its value */
		} else if (c->byte >= 0) {
			f[14 + c->byte] = (uint8_t)c->value;
			if (c->byte != 0) {
				uint16_t s;

				f[24] = f[25] = 0;
				s = nio_csum(f + 14, 20);
				f[24] = (uint8_t)(s >> 8);
				f[25] = (uint8_t)s;
			}
		} else if (c->byte == -2) {
			f[12] = 0x08;
			f[13] = 0x06;
		}
		p = frame(f, c->keep ? c->keep : n);
		print_message("case %s\n", c->name);
		assert_int_equal(nio_parse(p), c->expect);
	}
}

static void test_ipv6_ext_headers(void **state)
{
	uint8_t f[14 + 40 + 8 + 8] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd };
	uint8_t *ip = f + 14;
	struct nio_pkt *p;

	(void)state;
	ip[0] = 0x60;
	ip[5] = 16; /* payload: 8 (hop-by-hop) + 8 (udp) */
	ip[6] = 0;  /* hop-by-hop */
	ip[7] = 64;
	ip[8] = 0x20, ip[9] = 0x01, ip[10] = 0x0d, ip[11] = 0xb8;
	ip[24] = 0x20, ip[25] = 0x01, ip[26] = 0x0d, ip[27] = 0xb8, ip[39] = 5;
	ip[40] = 17; /* next: UDP; hdr ext len 0 = 8 bytes */
	memcpy(ip + 48, udp_hdr, 8);
	p = frame(f, sizeof(f));
	assert_int_equal(nio_parse(p), 0);
	assert_true(p->flags & NIO_PKT_F_IPV6);
	assert_int_equal(p->ip_proto, 17);
	assert_int_equal(p->l4_off, 14 + 48);
	assert_int_equal(p->key.dport, 6000);
	/* payload length beyond the frame */
	ip[5] = 200;
	p = frame(f, sizeof(f));
	assert_int_equal(nio_parse(p), NIO_DROP_BAD_LEN + 1);
	/* an extension header running past the payload */
	ip[5] = 16;
	ip[41] = 5;
	p = frame(f, sizeof(f));
	assert_int_equal(nio_parse(p), NIO_DROP_TRUNC_L4 + 1);
}

/* Ethernet + IPv4 with options, fragment field frag, then l4 (checksum filled). */
static size_t ipv4x(uint8_t *f, uint8_t proto, const uint8_t *opts, size_t olen, uint16_t frag,
		    const uint8_t *l4, size_t l4len)
{
	uint8_t *ip = f + 14;
	size_t hl = 20 + olen;
	uint16_t c, tot = (uint16_t)(hl + l4len);

	ipv4(f, proto, l4, 0, 64);
	ip[0] = (uint8_t)(0x40 | hl / 4);
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[6] = (uint8_t)(frag >> 8);
	ip[7] = (uint8_t)frag;
	memcpy(ip + 20, opts, olen);
	ip[10] = ip[11] = 0;
	c = nio_csum(ip, hl);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	memcpy(ip + hl, l4, l4len);
	return 14 + tot;
}

struct router_case {
	const char *name;
	uint8_t proto;
	uint8_t opts[8];
	uint8_t olen;
	uint16_t frag;
	uint8_t l4[24];
	uint8_t l4len;
	int expect; /* 0 or NIO_DROP_* + 1 */
};

#define UDP_(len)                                    \
	{                                            \
		0x13, 0x88, 0x17, 0x70, 0, len, 0, 0 \
	}
#define TCP_(doff)                                                        \
	{                                                                 \
		0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, (doff) << 4, 2 \
	}

/* What a router validates before forwarding (RFC 1812 5.2.2, RFC 791 3.1, RFC 768, RFC 9293). */
static void test_router_checks(void **state)
{
	static const struct router_case cases[] = {
		{ "nop nop nop eol", 17, { 1, 1, 1, 0 }, 4, 0, UDP_(8), 8, 0 },
		{ "record route 7 bytes", 17, { 7, 7, 4, 0, 0, 0, 0, 0 }, 8, 0, UDP_(8), 8, 0 },
		{ "option length 0",
		  17,
		  { 0x44, 0, 0, 0 },
		  4,
		  0,
		  UDP_(8),
		  8,
		  NIO_DROP_BAD_OPTIONS + 1 },
		{ "option length 1",
		  17,
		  { 0x83, 1, 0, 0 },
		  4,
		  0,
		  UDP_(8),
		  8,
		  NIO_DROP_BAD_OPTIONS + 1 },
		{ "option past the header",
		  17,
		  { 1, 7, 8, 4 },
		  4,
		  0,
		  UDP_(8),
		  8,
		  NIO_DROP_BAD_OPTIONS + 1 },
		{ "option type last byte",
		  17,
		  { 1, 1, 1, 0x44 },
		  4,
		  0,
		  UDP_(8),
		  8,
		  NIO_DROP_BAD_OPTIONS + 1 },
		{ "fragment ends at 65535", 17, { 0 }, 0, 0x1fff, { 0 }, 7, 0 },
		{ "fragment ends at 65536", 17, { 0 }, 0, 0x1fff, { 0 }, 8, NIO_DROP_BAD_FRAG + 1 },
		{ "udp length 8 of 12", 17, { 0 }, 0, 0, UDP_(8), 12, 0 },
		{ "udp length 7", 17, { 0 }, 0, 0, UDP_(7), 8, NIO_DROP_BAD_UDP_LEN + 1 },
		{ "udp length 0", 17, { 0 }, 0, 0, UDP_(0), 8, NIO_DROP_BAD_UDP_LEN + 1 },
		{ "udp length past the payload",
		  17,
		  { 0 },
		  0,
		  0,
		  UDP_(9),
		  8,
		  NIO_DROP_BAD_UDP_LEN + 1 },
		{ "udp first fragment", 17, { 0 }, 0, 0x2000, UDP_(200), 8, 0 },
		{ "tcp data offset 5", 6, { 0 }, 0, 0, TCP_(5), 20, 0 },
		{ "tcp data offset 6", 6, { 0 }, 0, 0, TCP_(6), 24, 0 },
		{ "tcp data offset 4", 6, { 0 }, 0, 0, TCP_(4), 20, NIO_DROP_BAD_TCP_OFF + 1 },
		{ "tcp data offset 6 of 20",
		  6,
		  { 0 },
		  0,
		  0,
		  TCP_(6),
		  20,
		  NIO_DROP_BAD_TCP_OFF + 1 },
		{ "tcp data offset 15", 6, { 0 }, 0, 0, TCP_(15), 24, NIO_DROP_BAD_TCP_OFF + 1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct router_case *c = &cases[i];
		uint8_t f[128] = { 0 };
		size_t n = ipv4x(f, c->proto, c->opts, c->olen, c->frag, c->l4, c->l4len);

		print_message("case %s\n", c->name);
		assert_int_equal(nio_parse(frame(f, n)), c->expect);
	}
}

/* IPv6: the fragment's extent and the UDP length, after a fragment header or without. */
static void test_router_checks6(void **state)
{
	static const struct {
		const char *name;
		bool frag;
		uint16_t fo; /* offset in bytes | M */
		uint8_t ulen, dlen;
		int expect;
	} cases[] = {
		{ "udp length 8", false, 0, 8, 8, 0 },
		{ "udp length 7", false, 0, 7, 8, NIO_DROP_BAD_UDP_LEN + 1 },
		{ "udp length past the payload", false, 0, 16, 8, NIO_DROP_BAD_UDP_LEN + 1 },
		{ "first fragment", true, 1, 200, 8, 0 },
		{ "last fragment ends at 65535", true, 65528, 0, 7, 0 },
		{ "fragment ends past 65535", true, 65528, 0, 16, NIO_DROP_BAD_FRAG + 1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t f[128] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd };
		uint8_t *ip = f + 14, *l4 = ip + 40;
		size_t plen = cases[i].dlen;

		ip[0] = 0x60;
		ip[6] = 17;
		ip[7] = 64;
		ip[8] = 0x20, ip[9] = 0x01, ip[24] = 0x20, ip[25] = 0x01, ip[39] = 5;
		if (cases[i].frag) {
			ip[6] = 44;
			l4[0] = 17;
			l4[2] = (uint8_t)(cases[i].fo >> 8);
			l4[3] = (uint8_t)cases[i].fo;
			l4 += 8;
			plen += 8;
		}
		memcpy(l4, udp_hdr, 8);
		l4[5] = cases[i].ulen;
		ip[5] = (uint8_t)plen;
		print_message("case %s\n", cases[i].name);
		assert_int_equal(nio_parse(frame(f, 14 + 40 + plen)), cases[i].expect);
	}
}

/* The group bit of the destination MAC is remembered: such frames are never forwarded. */
static void test_l2_broadcast(void **state)
{
	uint8_t f[128] = { 0 };
	size_t n = ipv4(f, 17, udp_hdr, 8, 64);
	struct nio_pkt *p;

	(void)state;
	assert_int_equal(nio_parse(frame(f, n)), 0);
	assert_false(frame(f, n)->flags & NIO_PKT_F_L2BCAST);
	memset(f, 0xff, 6);
	p = frame(f, n);
	assert_int_equal(nio_parse(p), 0);
	assert_true(p->flags & NIO_PKT_F_L2BCAST);
	f[0] = 0x01, f[1] = 0x00, f[2] = 0x5e;
	p = frame(f, n);
	assert_int_equal(nio_parse(p), 0);
	assert_true(p->flags & NIO_PKT_F_L2BCAST);
}

static void test_hash_stable(void **state)
{
	struct nio_flow_key a = { .sport = 1, .dport = 2, .proto = 6, .family = 4 }, b = a;

	(void)state;
	assert_int_equal(nio_flow_hash(&a), nio_flow_hash(&b));
	b.dport = 3;
	assert_int_not_equal(nio_flow_hash(&a), nio_flow_hash(&b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_udp),       cmocka_unit_test(test_ipv4_padding_trimmed),
		cmocka_unit_test(test_malformed),      cmocka_unit_test(test_ipv6_ext_headers),
		cmocka_unit_test(test_hash_stable),    cmocka_unit_test(test_router_checks),
		cmocka_unit_test(test_router_checks6), cmocka_unit_test(test_l2_broadcast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the qos plugin's token buckets, RFC 2697/2698 meters, units and classifier. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <netio/csum.h>

#include "../../services/qos/qos.h"

#define SEC	      QOS_NS_PER_SEC
#define MS	      1000000ull
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* xorshift: reproducible jitter for the long runs */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * A greedy sender on one bucket for 10^7 simulated seconds, woken at random intervals short
 * enough that the bucket never fills. Credit is then conserved exactly:
 * burst + rate * elapsed == bytes sent + what is left, to the nanobit.
 */
static void test_tb_no_drift(void **state)
{
	static const struct {
		uint64_t rate, burst;
		uint32_t pkt;
		uint64_t max_step; /* pkt + rate * max_step stays below burst */
	} rows[] = {
		{ 777777, 2100000, 65000, 20 * SEC },
		{ 1000003, 2700000, 100000, 20 * SEC },
		{ 12345679, 32 << 20, 1 << 20, 20 * SEC },
	};

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct qos_tb tb;
		uint64_t now = 12345, start = now, seed = 88172645463325252ull;
		unsigned __int128 sent = 0, lhs, rhs;
		uint64_t end = start + 10000000ull * SEC;

		qos_tb_init(&tb, rows[r].rate, rows[r].burst, now);
		for (; now < end; now += 1 + rnd(&seed) % rows[r].max_step) {
			qos_tb_refill(&tb, now);
			assert_true(tb.tokens < tb.cap || now == start);
			for (; qos_tb_has(&tb, rows[r].pkt); sent += rows[r].pkt)
				qos_tb_take(&tb, rows[r].pkt);
		}
		lhs = sent * QOS_UNITS_PER_BYTE + (unsigned __int128)tb.tokens;
		rhs = (unsigned __int128)rows[r].burst * QOS_UNITS_PER_BYTE +
		      (unsigned __int128)rows[r].rate * (tb.last_ns - start);
		assert_true(lhs == rhs);
		assert_true(tb.last_ns - start > 9999900ull * SEC);
	}
}

/* Sampling a bucket often or rarely must not change what it earns. */
static void test_tb_refill_granularity(void **state)
{
	struct qos_tb a, b;

	qos_tb_init(&a, 3, 1000, 0);
	qos_tb_init(&b, 3, 1000, 0);
	qos_tb_take(&a, 1000);
	qos_tb_take(&b, 1000);
	for (uint64_t t = 1; t <= 1000 * SEC; t += 7777777)
		qos_tb_refill(&a, t);
	qos_tb_refill(&a, 1000 * SEC);
	qos_tb_refill(&b, 1000 * SEC);
	assert_int_equal(a.tokens, b.tokens);
	assert_int_equal(a.tokens, 3000 * (int64_t)SEC);
	/* idle for ages: the bucket is full, not overflowed */
	qos_tb_refill(&a, UINT64_MAX / 2);
	assert_int_equal(a.tokens, a.cap);
	/* a clock stepping back earns nothing and does not lose the reference */
	qos_tb_take(&a, 1000);
	qos_tb_refill(&a, 5);
	assert_int_equal(a.tokens, 0);
}

/* The shaper's test: any positive credit sends; wait until the overdraft is paid back. */
static void test_tb_ready(void **state)
{
	struct qos_tb tb;

	qos_tb_init(&tb, 8000, 3000, 0); /* 1000 bytes/s */
	assert_true(qos_tb_ready(&tb));
	assert_int_equal(qos_tb_wait_ready(&tb), 0);
	qos_tb_take(&tb, 2999);
	assert_true(qos_tb_ready(&tb)); /* one byte left lets a whole packet go */
	qos_tb_take(&tb, 1500);
	assert_false(qos_tb_ready(&tb));
	assert_int_equal(qos_tb_wait_ready(&tb), 1499 * MS + 1);
	qos_tb_refill(&tb, 1499 * MS);
	assert_false(qos_tb_ready(&tb)); /* exactly zero is not positive */
	qos_tb_refill(&tb, 1499 * MS + 1);
	assert_true(qos_tb_ready(&tb));
	qos_tb_init(&tb, 0, 0, 0);
	assert_false(qos_tb_ready(&tb));
	assert_int_equal(qos_tb_wait_ready(&tb), QOS_NEVER);
}

struct colour_step {
	uint64_t t_ms;
	uint32_t bytes;
	enum qos_color pre, want;
};

static void run_steps(struct qos_meter *m, const struct colour_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum qos_color got = qos_meter_color(m, s[i].bytes, s[i].pre, s[i].t_ms * MS);

		if (got != s[i].want)
			fail_msg("step %zu: colour %d, want %d", i, got, s[i].want);
	}
}

/* RFC 2697: CIR 1000 bytes/s, CBS 2000, EBS 3000; both buckets start full. */
static void test_srtcm(void **state)
{
	static const struct colour_step blind[] = {
		{ 0, 1500, QOS_GREEN, QOS_GREEN },    /* Tc 2000 -> 500 */
		{ 0, 1500, QOS_GREEN, QOS_YELLOW },   /* Te 3000 -> 1500 */
		{ 0, 1500, QOS_GREEN, QOS_YELLOW },   /* Te -> 0 */
		{ 0, 100, QOS_GREEN, QOS_GREEN },     /* Tc 500 -> 400 */
		{ 0, 500, QOS_GREEN, QOS_RED },	      /* neither holds 500 */
		{ 1000, 1500, QOS_GREEN, QOS_RED },   /* Tc 1400, Te 0 */
		{ 1600, 1500, QOS_GREEN, QOS_GREEN }, /* Tc full at 2000 */
		/* 3 s later: 1500 refill Tc to the brim, the other 1500 spill into Te */
		{ 4600, 1600, QOS_GREEN, QOS_GREEN },  /* Tc 2000 -> 400 */
		{ 4600, 1600, QOS_GREEN, QOS_RED },    /* Te 1500 */
		{ 4600, 1500, QOS_GREEN, QOS_YELLOW }, /* Te -> 0 */
	};
	static const struct colour_step aware[] = {
		{ 0, 100, QOS_YELLOW, QOS_YELLOW }, /* never promoted: Te 2900, Tc untouched */
		{ 0, 100, QOS_RED, QOS_RED },
		{ 0, 2000, QOS_GREEN, QOS_GREEN }, /* Tc was still full */
		{ 0, 2800, QOS_YELLOW, QOS_YELLOW },
		{ 0, 200, QOS_YELLOW, QOS_RED },   /* Te 100 */
		{ 0, 100, QOS_GREEN, QOS_YELLOW }, /* green falls to Te */
	};
	struct qos_meter m;

	qos_srtcm_init(&m, 8000, 2000, 3000, 0);
	run_steps(&m, blind, ARRAY_SIZE(blind));
	qos_srtcm_init(&m, 8000, 2000, 3000, 0);
	run_steps(&m, aware, ARRAY_SIZE(aware));
}

/* RFC 2698: CIR 1000 bytes/s CBS 2000, PIR 2000 bytes/s PBS 3000. */
static void test_trtcm(void **state)
{
	static const struct colour_step blind[] = {
		{ 0, 1500, QOS_GREEN, QOS_GREEN },	/* Tp 1500, Tc 500 */
		{ 0, 1000, QOS_GREEN, QOS_YELLOW },	/* Tp 500 */
		{ 0, 1000, QOS_GREEN, QOS_RED },	/* Tp < B: red, nothing taken */
		{ 500, 1000, QOS_GREEN, QOS_GREEN },	/* Tp 1500, Tc 1000 */
		{ 500, 600, QOS_GREEN, QOS_RED },	/* Tp 500 */
		{ 10000, 3001, QOS_GREEN, QOS_RED },	/* larger than PBS: always red */
		{ 10000, 2500, QOS_GREEN, QOS_YELLOW }, /* fits PBS, not CBS */
	};
	static const struct colour_step aware[] = {
		{ 0, 100, QOS_RED, QOS_RED },
		{ 0, 1000, QOS_YELLOW, QOS_YELLOW }, /* Tp 2000, Tc untouched */
		{ 0, 2000, QOS_GREEN, QOS_GREEN },   /* Tp 0, Tc 0 */
		{ 0, 1, QOS_GREEN, QOS_RED },
	};
	struct qos_meter m;

	qos_trtcm_init(&m, 8000, 2000, 16000, 3000, 0);
	run_steps(&m, blind, ARRAY_SIZE(blind));
	qos_trtcm_init(&m, 8000, 2000, 16000, 3000, 0);
	run_steps(&m, aware, ARRAY_SIZE(aware));
}

/* Offered twice the CIR for 10^5 s in 100 ms ticks: green is CIR * t + CBS to one packet. */
static void test_srtcm_long_run(void **state)
{
	struct qos_meter m;
	unsigned __int128 green = 0, want;
	uint64_t yellow = 0, t;
	const uint64_t cir = 10000000, cbs = 300000, ebs = 600000, pkt = 125000;

	qos_srtcm_init(&m, cir, cbs, ebs, 0);
	for (t = 0; t < 1000000; t++)
		for (int k = 0; k < 2; k++) {
			enum qos_color c = qos_meter_color(&m, pkt, QOS_GREEN, t * 100 * MS);

			green += c == QOS_GREEN ? pkt : 0;
			yellow += c == QOS_YELLOW ? pkt : 0;
		}
	want = (unsigned __int128)cir * ((t - 1) * 100 * MS) + cbs * 8 * SEC;
	assert_true(green * 8 * SEC <= want);
	assert_true(green * 8 * SEC + pkt * 8 * SEC > want);
	assert_true(yellow <= ebs); /* Te only fills while Tc is full */
}

static void test_parse_units(void **state)
{
	static const struct {
		int kind; /* 0 rate, 1 size, 2 time */
		const char *in;
		int rc;
		uint64_t want;
	} rows[] = {
		{ 0, "10mbit", 0, 10000000 },
		{ 0, "1gbit", 0, 1000000000 },
		{ 0, "64kbit", 0, 64000 },
		{ 0, "8000bit", 0, 8000 },
		{ 0, "1mbps", 0, 8000000 },
		{ 0, "1.5mbit", 0, 1500000 },
		{ 0, "2kibit", 0, 2048 },
		{ 0, "100", 0, 100 },
		{ 0, "10 Mbit", 0, 10000000 },
		{ 0, "1.0000000001mbit", -1, 0 },
		{ 0, "0.5bit", -1, 0 },
		{ 0, "2tbit", -1, 0 },
		{ 0, "mbit", -1, 0 },
		{ 0, "10mbitz", -1, 0 },
		{ 0, "", -1, 0 },
		{ 0, "1.mbit", -1, 0 },
		{ 0, "99999999999999999999bit", -1, 0 },
		{ 1, "64k", 0, 65536 },
		{ 1, "1500", 0, 1500 },
		{ 1, "1m", 0, 1048576 },
		{ 1, "1.5k", 0, 1536 },
		{ 1, "2kbit", 0, 256 },
		{ 1, "1.1b", -1, 0 },
		{ 1, "-1", -1, 0 },
		{ 2, "5ms", 0, 5000000 },
		{ 2, "100us", 0, 100000 },
		{ 2, "1s", 0, 1000000000 },
		{ 2, "2.5ms", 0, 2500000 },
		{ 2, "0", 0, 0 },
		{ 2, "5", -1, 0 },
		{ 2, "3ns", 0, 3 },
		{ 2, "1.5ns", -1, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		uint64_t v = 0;
		int rc = rows[i].kind == 0   ? qos_parse_rate(rows[i].in, &v)
			 : rows[i].kind == 1 ? qos_parse_size(rows[i].in, &v)
					     : qos_parse_time(rows[i].in, &v);

		if (rc != rows[i].rc || (rc == 0 && v != rows[i].want))
			fail_msg("'%s': rc %d value %llu", rows[i].in, rc, (unsigned long long)v);
	}
}

static void test_format_rate(void **state)
{
	static const struct {
		uint64_t bps;
		const char *want;
	} rows[] = {
		{ 10000000, "10mbit" }, { 1500000, "1.500mbit" }, { 999, "999bit" },
		{ 0, "0bit" },		{ 2000000000, "2gbit" },  { 64000, "64kbit" },
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		qos_format_rate(rows[i].bps, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].want);
	}
}

static void test_dscp(void **state)
{
	static const struct {
		const char *in;
		int dscp;
		enum qos_color colour;
	} rows[] = {
		{ "ef", 46, QOS_GREEN },    { "EF", 46, QOS_GREEN },   { "af11", 10, QOS_GREEN },
		{ "af12", 12, QOS_YELLOW }, { "af13", 14, QOS_RED },   { "af43", 38, QOS_RED },
		{ "af32", 28, QOS_YELLOW }, { "cs1", 8, QOS_GREEN },   { "cs7", 56, QOS_GREEN },
		{ "be", 0, QOS_GREEN },	    { "63", 63, QOS_GREEN },   { "46", 46, QOS_GREEN },
		{ "64", -1, QOS_GREEN },    { "af44", -1, QOS_GREEN }, { "cs8", -1, QOS_GREEN },
		{ "", -1, QOS_GREEN },	    { "af", -1, QOS_GREEN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int d = qos_dscp_parse(rows[i].in);

		if (d != rows[i].dscp)
			fail_msg("'%s': %d", rows[i].in, d);
		if (d >= 0 && qos_dscp_color((uint8_t)d) != rows[i].colour)
			fail_msg("'%s': colour %d", rows[i].in, qos_dscp_color((uint8_t)d));
	}
	assert_int_equal(qos_action_parse("pass"), QOS_ACT_PASS);
	assert_int_equal(qos_action_parse("drop"), QOS_ACT_DROP);
	assert_int_equal(qos_action_parse("af21"), 18);
	assert_true(qos_action_parse("dorp") < QOS_ACT_DROP);
}

static const uint8_t ipv4_hdr[20] = { 0x45, 0x02, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01,
				      0x00, 0x00, 192,	0,    2,    1,	  198,	51,   100,  7 };

static void make_pkt(struct nio_pkt *p, uint8_t *frame, const uint8_t *ip, size_t iplen,
		     uint16_t flags)
{
	memset(p, 0, sizeof(*p));
	memset(frame, 0, 14);
	memcpy(frame + 14, ip, iplen);
	p->buf = p->data = frame;
	p->len = (uint32_t)(14 + iplen);
	p->l3_off = 14;
	p->flags = flags;
}

/* Re-marking keeps ECN and the checksum valid for every old/new DSCP pair. */
static void test_remark_ipv4(void **state)
{
	uint8_t frame[64], ip[20];
	struct nio_pkt p;

	for (unsigned old = 0; old < 64; old++)
		for (unsigned new_ = 0; new_ < 64; new_++) {
			memcpy(ip, ipv4_hdr, sizeof(ip));
			ip[1] = (uint8_t)(old << 2 | 2);
			uint16_t c = nio_csum(ip, 20);
			ip[10] = (uint8_t)(c >> 8);
			ip[11] = (uint8_t)c;
			make_pkt(&p, frame, ip, 20, NIO_PKT_F_IPV4);
			assert_int_equal(qos_remark(&p, (uint8_t)new_), 0);
			assert_int_equal(frame[15], new_ << 2 | 2);
			assert_int_equal(nio_csum(frame + 14, 20), 0);
			assert_int_equal(p.dscp, new_);
		}
}

static void test_remark_ipv6(void **state)
{
	uint8_t ip[40] = { 0x6a, 0xbc, 0xde, 0xf1 }; /* TC 0xab, flow label 0xcdef1 */
	uint8_t frame[64];
	struct nio_pkt p;

	make_pkt(&p, frame, ip, 40, NIO_PKT_F_IPV6);
	assert_int_equal(qos_remark(&p, 46), 0);
	/* TC = 46 << 2 | (0xab & 3) = 0xbb; version and flow label untouched */
	assert_int_equal(frame[14], 0x6b);
	assert_int_equal(frame[15], 0xbc);
	assert_int_equal(frame[16], 0xde);
	make_pkt(&p, frame, ip, 10, NIO_PKT_F_IPV6);
	assert_int_equal(qos_remark(&p, 46), -1); /* truncated */
	make_pkt(&p, frame, ip, 40, 0);
	assert_int_equal(qos_remark(&p, 46), -1); /* not IP */
}

/* CoDel's ECN mark: CE on ECT(0)/ECT(1), kept on CE, refused on Not-ECT; DSCP untouched. */
static void test_ecn_mark(void **state)
{
	static const struct {
		uint8_t ecn;
		int rc;
	} rows[] = { { 0, -1 }, { 1, 0 }, { 2, 0 }, { 3, 0 } };
	uint8_t frame[64], ip[40];
	struct nio_pkt p;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		memcpy(ip, ipv4_hdr, 20);
		ip[1] = (uint8_t)(46 << 2 | rows[i].ecn);
		uint16_t c = nio_csum(ip, 20);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		make_pkt(&p, frame, ip, 20, NIO_PKT_F_IPV4);
		assert_int_equal(qos_ecn_mark(&p), rows[i].rc);
		assert_int_equal(frame[15], 46 << 2 | (rows[i].rc == 0 ? 3 : rows[i].ecn));
		assert_int_equal(nio_csum(frame + 14, 20), 0);

		memset(ip, 0, sizeof(ip));
		ip[0] = 0x6b; /* TC 0xb0 | ecn: DSCP 44 */
		ip[1] = (uint8_t)(rows[i].ecn << 4 | 0x0c);
		make_pkt(&p, frame, ip, 40, NIO_PKT_F_IPV6);
		assert_int_equal(qos_ecn_mark(&p), rows[i].rc);
		assert_int_equal(frame[14], 0x6b);
		assert_int_equal(frame[15], (rows[i].rc == 0 ? 3 : rows[i].ecn) << 4 | 0x0c);
	}
	make_pkt(&p, frame, ip, 40, 0);
	assert_int_equal(qos_ecn_mark(&p), -1);
}

/* A policer re-marking yellow to AF12 and dropping red, colour-aware from the DSCP. */
static void test_police_actions(void **state)
{
	uint8_t frame[64], ip[20];
	struct nio_pkt p;
	struct qos_policer pol = { .color_aware = true,
				   .action = { QOS_ACT_PASS, 12, QOS_ACT_DROP } };

	qos_match_any(&pol.match);
	qos_srtcm_init(&pol.meter, 8000, 100, 100, 0);
	memcpy(ip, ipv4_hdr, sizeof(ip));
	make_pkt(&p, frame, ip, 20, NIO_PKT_F_IPV4);
	p.dscp = 0;
	assert_true(qos_police(&pol, &p, 0)); /* 34 bytes, green */
	assert_int_equal(p.dscp, 0);
	p.dscp = 10; /* AF11 = green pre-colour, but Tc is short now */
	p.len = 80;
	assert_true(qos_police(&pol, &p, 0));
	assert_int_equal(p.dscp, 12);
	assert_int_equal(frame[15] >> 2, 12);
	p.dscp = 14; /* AF13: red whatever the buckets say */
	assert_false(qos_police(&pol, &p, SEC));
	assert_int_equal(pol.colored[QOS_GREEN], 1);
	assert_int_equal(pol.colored[QOS_YELLOW], 1);
	assert_int_equal(pol.colored[QOS_RED], 1);
	assert_int_equal(pol.marked, 1);
	assert_int_equal(pol.dropped, 1);
}

static void key_v4(uint8_t out[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	out[12] = a;
	out[13] = b;
	out[14] = c;
	out[15] = d;
}

static void test_match(void **state)
{
	struct qos_match m;
	struct nio_pkt p = { .flags = NIO_PKT_F_IPV4 | NIO_PKT_F_L4, .dscp = 46 };

	p.key.proto = 17;
	p.key.sport = 4000;
	p.key.dport = 5201;
	key_v4(p.key.src, 192, 0, 2, 10);
	key_v4(p.key.dst, 198, 51, 100, 7);

	qos_match_any(&m);
	assert_true(qos_match_is_any(&m));
	assert_true(qos_match_pkt(&m, &p));
	m.proto = qos_proto_parse("udp");
	assert_int_equal(qos_port_range_parse("5000-5999", &m.dport_lo, &m.dport_hi), 0);
	assert_int_equal(qos_prefix_parse("198.51.100.0/24", &m.dst[0]), 0);
	m.ndst = 1;
	m.dscp_mask = UINT64_C(1) << 46;
	assert_false(qos_match_is_any(&m));
	assert_true(qos_match_pkt(&m, &p));
	p.dscp = 0;
	assert_false(qos_match_pkt(&m, &p));
	p.dscp = 46;
	key_v4(p.key.dst, 198, 51, 101, 7);
	assert_false(qos_match_pkt(&m, &p));
	key_v4(p.key.dst, 198, 51, 100, 7);
	p.flags &= (uint16_t)~NIO_PKT_F_L4; /* a fragment: no ports to match */
	assert_false(qos_match_pkt(&m, &p));
	p.flags |= NIO_PKT_F_L4;
	p.key.proto = 6;
	assert_false(qos_match_pkt(&m, &p));

	assert_int_equal(qos_prefix_parse("2001:db8::/33", &m.src[0]), 0);
	assert_int_equal(m.src[0].len, 33);
	assert_int_equal(qos_prefix_parse("192.0.2.0/33", &m.src[0]), -1);
	assert_int_equal(qos_prefix_parse("192.0.2.1", &m.src[0]), 0);
	assert_int_equal(m.src[0].len, 128);
	assert_int_equal(qos_prefix_parse("2001:db8::/129", &m.src[0]), -1);
	assert_int_equal(qos_prefix_parse("nonsense/8", &m.src[0]), -1);
	assert_int_equal(qos_port_range_parse("10-5", &m.sport_lo, &m.sport_hi), -1);
	assert_int_equal(qos_port_range_parse("65536", &m.sport_lo, &m.sport_hi), -1);
	assert_int_equal(qos_proto_parse("256"), -1);
	assert_int_equal(qos_proto_parse("tcp"), 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tb_no_drift),    cmocka_unit_test(test_tb_refill_granularity),
		cmocka_unit_test(test_tb_ready),       cmocka_unit_test(test_srtcm),
		cmocka_unit_test(test_trtcm),	       cmocka_unit_test(test_srtcm_long_run),
		cmocka_unit_test(test_parse_units),    cmocka_unit_test(test_format_rate),
		cmocka_unit_test(test_dscp),	       cmocka_unit_test(test_remark_ipv4),
		cmocka_unit_test(test_remark_ipv6),    cmocka_unit_test(test_ecn_mark),
		cmocka_unit_test(test_police_actions), cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

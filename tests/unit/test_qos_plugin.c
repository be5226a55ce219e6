/* Unit tests of the qos plugin through its service ABI: config errors, classify, police, shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <netio/csum.h>

#include "../../services/qos/qos.h"
#include "fake_host.h"

#define SEC	      QOS_NS_PER_SEC
#define MS	      1000000ull
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern const struct nio_service qos_service;

#define END                      \
	{                        \
		NULL, NULL, NULL \
	}

static const struct fake_opt leaf_ef[] = { { "dscp", "ef", NULL }, END };
static const struct fake_opt leaf_plain[] = { { "rate", "1mbit", NULL }, END };
static const struct fake_opt leaf_bad_dscp[] = { { "dscp", "ef2", NULL }, END };
static const struct fake_opt leaf_orphan[] = { { "parent", "nope", NULL }, END };
static const struct fake_opt leaf_under_mid[] = { { "parent", "mid", NULL }, END };
static const struct fake_opt mid_matching[] = { { "proto", "udp", NULL }, END };
static const struct fake_opt leaf_bad_prefix[] = { { "src", "192.0.2.0/40", NULL }, END };
static const struct fake_opt leaf_bad_port[] = { { "dport", "80-", NULL }, END };
static const struct fake_opt leaf_rate_ceil[] = { { "rate", "2mbit", NULL },
						  { "ceil", "1mbit", NULL },
						  END };
static const struct fake_opt leaf_bad_proto[] = { { "proto", "ipx", NULL }, END };
static const struct fake_opt pol_trtcm_nopir[] = { { "type", "trtcm", NULL },
						   { "cir", "1mbit", NULL },
						   END };
static const struct fake_opt pol_bad_action[] = { { "cir", "1mbit", NULL },
						  { "red", "discard", NULL },
						  END };
static const struct fake_opt pol_ok[] = { { "cir", "1mbit", NULL }, END };

static const struct {
	struct fake_opt opts[6];
	const char *err;
} bad_rows[] = {
	{ { END }, "nothing to do" },
	{ { { "class", "a", leaf_plain }, END }, "classes need a rate" },
	{ { { "rate", "10mbit", NULL }, { "class", "a", leaf_orphan }, END },
	  "parent 'nope' must be defined above" },
	{ { { "rate", "10mbit", NULL }, { "class", "a", leaf_bad_dscp }, END }, "bad dscp 'ef2'" },
	{ { { "rate", "10mbit", NULL }, { "class", "a", leaf_bad_prefix }, END }, "bad prefix" },
	{ { { "rate", "10mbit", NULL }, { "class", "a", leaf_bad_port }, END }, "bad dport" },
	{ { { "rate", "10mbit", NULL }, { "class", "a", leaf_bad_proto }, END }, "bad proto" },
	{ { { "rate", "10mbit", NULL }, { "class", "a", leaf_rate_ceil }, END },
	  "rate above ceil" },
	{ { { "rate", "10mbit", NULL },
	    { "class", "a", leaf_plain },
	    { "class", "a", leaf_plain },
	    END },
	  "defined twice" },
	{ { { "rate", "10mbit", NULL }, { "class", "a", leaf_ef }, END }, "no default class" },
	{ { { "rate", "10mbit", NULL },
	    { "class", "mid", leaf_plain },
	    { "class", "a", leaf_under_mid },
	    { "default", "mid", NULL },
	    END },
	  "default 'mid' is not a leaf" },
	{ { { "rate", "10mbit", NULL },
	    { "class", "mid", mid_matching },
	    { "class", "a", leaf_under_mid },
	    END },
	  "class 'mid' has children" },
	{ { { "rate", "10mbit", NULL }, { "quantum", "1g", NULL }, END }, "quantum must be" },
	{ { { "policer", "p", pol_trtcm_nopir }, END }, "trtcm needs pir >= cir" },
	{ { { "policer", "p", pol_bad_action }, END }, "red: expected pass, drop or a DSCP" },
};

static void test_config_errors(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_rows); i++) {
		struct nio_conf conf;
		char err[256] = "";
		void *inst;

		fake_conf(&conf, qos_service.options, bad_rows[i].opts);
		inst = qos_service.init(&fake_host, &conf, err, sizeof(err));
		if (inst || !strstr(err, bad_rows[i].err))
			fail_msg("row %zu: inst %p err '%s', want '%s'", i, inst, err,
				 bad_rows[i].err);
	}
}

static void test_abi(void **state)
{
	unsigned n = 0;

	assert_int_equal(qos_service.abi_version, NIO_SERVICE_ABI_VERSION);
	assert_int_equal(qos_service.size, sizeof(struct nio_service));
	assert_string_equal(qos_service.name, "qos");
	while (qos_service.counter_names[n])
		n++;
	assert_int_equal(n, QOS_C_MAX);
}

/* ---- frames */

struct frame {
	struct nio_pkt p;
	uint8_t buf[NIO_PKT_BUF_SIZE];
};

static void udp4(struct frame *f, uint8_t dscp, uint16_t dport, uint32_t len)
{
	uint8_t *ip = f->buf + NIO_PKT_HEADROOM + 14;
	uint16_t c;

	memset(f, 0, sizeof(*f));
	f->p.buf = f->buf;
	f->p.data = f->buf + NIO_PKT_HEADROOM;
	f->p.buf_size = sizeof(f->buf);
	f->p.len = len;
	f->p.l3_off = 14;
	f->p.l4_off = 34;
	f->p.flags = NIO_PKT_F_IPV4 | NIO_PKT_F_L4;
	f->p.dscp = dscp;
	f->p.ip_proto = 17;
	f->p.key.proto = 17;
	f->p.key.family = 4;
	f->p.key.sport = 40000;
	f->p.key.dport = dport;
	f->p.key.src[10] = f->p.key.src[11] = f->p.key.dst[10] = f->p.key.dst[11] = 0xff;
	memcpy(f->p.key.src + 12, (const uint8_t[]){ 192, 0, 2, 1 }, 4);
	memcpy(f->p.key.dst + 12, (const uint8_t[]){ 198, 51, 100, 1 }, 4);
	memcpy(ip, (const uint8_t[]){ 0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0 }, 12);
	ip[1] = (uint8_t)(dscp << 2);
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	memcpy(ip + 12, f->p.key.src + 12, 4);
	memcpy(ip + 16, f->p.key.dst + 12, 4);
	c = nio_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

static const struct fake_opt cls_voice[] = { { "dscp", "ef", NULL },
					     { "rate", "1mbit", NULL },
					     END };
static const struct fake_opt cls_web[] = {
	{ "dport", "80", NULL }, { "prio", "1", NULL }, { "weight", "3", NULL }, END
};
static const struct fake_opt cls_bulk[] = { { "prio", "1", NULL }, { "limit", "4", NULL }, END };
static const struct fake_opt pol_mark[] = { { "cir", "8kbit", NULL },
					    { "cbs", "1000", NULL },
					    { "ebs", "1000", NULL },
					    { "yellow", "af12", NULL },
					    { "red", "drop", NULL },
					    { "dport", "5000-5999", NULL },
					    END };
static const struct fake_opt shaper[] = {
	{ "rate", "10mbit", NULL },	 { "policer", "udp5k", pol_mark },
	{ "class", "voice", cls_voice }, { "class", "web", cls_web },
	{ "class", "bulk", cls_bulk },	 END,
};

static void *make(const struct fake_opt *opts)
{
	static struct nio_conf conf;
	char err[256] = "";
	void *inst;

	fake_conf(&conf, qos_service.options, opts);
	inst = qos_service.init(&fake_host, &conf, err, sizeof(err));
	if (!inst)
		fail_msg("init: %s", err);
	return inst;
}

/* Classes by DSCP, by port, and the default (the rule-less leaf); the queue limit holds. */
static void test_classify_and_limit(void **state)
{
	static struct frame f[8];
	struct nio_pkt *burst[8];
	uint8_t v[8];
	struct qos *q;

	fake_now_ns = 0;
	q = make(shaper);
	udp4(&f[0], 46, 9, 200); /* voice */
	udp4(&f[1], 0, 80, 200); /* web */
	for (int i = 2; i < 8; i++)
		udp4(&f[i], 0, 443, 200); /* bulk: 4 fit */
	for (int i = 0; i < 8; i++)
		burst[i] = &f[i].p;
	qos_service.process(q, burst, 8, v);
	for (int i = 0; i < 6; i++)
		assert_int_equal(v[i], NIO_V_CONSUMED);
	assert_int_equal(v[6], NIO_V_DROP);
	assert_int_equal(v[7], NIO_V_DROP);
	assert_int_equal(q->sched.cls[qos_sched_find(&q->sched, "voice")].qlen, 1);
	assert_int_equal(q->sched.cls[qos_sched_find(&q->sched, "web")].qlen, 1);
	assert_int_equal(q->sched.cls[qos_sched_find(&q->sched, "bulk")].qlen, 4);
	assert_int_equal(qos_service.counters(q)[QOS_C_LIMIT_DROPS], 2);
	assert_int_equal(qos_service.counters(q)[QOS_C_BACKLOG], 6);
	fake_pkts_freed = 0;
	qos_service.fini(q);
	assert_int_equal(fake_pkts_freed, 6); /* held packets go back to the pool */
}

/* A reload hands the held packets to the new instance, which classifies them again. */
static void test_state_handoff(void **state)
{
	static const struct fake_opt small_bulk[] = { { "limit", "2", NULL }, END };
	static const struct fake_opt reshaped[] = { { "rate", "20mbit", NULL },
						    { "class", "voice", cls_voice },
						    { "class", "bulk", small_bulk },
						    END };
	static struct frame f[6];
	struct nio_pkt *burst[6];
	uint8_t v[6];
	struct qos *old, *new_;
	void *blob;
	size_t len;

	fake_now_ns = 0;
	old = make(shaper);
	udp4(&f[0], 46, 9, 200);
	for (int i = 1; i < 6; i++)
		udp4(&f[i], 0, i == 1 ? 80 : 443, 200);
	for (int i = 0; i < 6; i++)
		burst[i] = &f[i].p;
	qos_service.process(old, burst, 6, v);
	new_ = make(reshaped);
	assert_int_equal(qos_service.save_state(old, &blob, &len), 0);
	assert_int_equal(old->sched.qlen, 0);
	fake_pkts_freed = 0;
	assert_int_equal(qos_service.restore_state(new_, blob, len), 0);
	/* voice keeps its one; web is gone, so web's and bulk's 5 go to bulk, which holds 2 */
	assert_int_equal(new_->sched.cls[qos_sched_find(&new_->sched, "voice")].qlen, 1);
	assert_int_equal(new_->sched.cls[qos_sched_find(&new_->sched, "bulk")].qlen, 2);
	assert_int_equal(fake_pkts_freed, 3);
	((uint32_t *)blob)[0] ^= 1;
	assert_int_equal(qos_service.restore_state(new_, blob, len), -1);
	assert_int_equal(qos_service.restore_state(new_, blob, 3), -1);
	free(blob);
	fake_pkts_freed = 0;
	qos_service.fini(old);
	assert_int_equal(fake_pkts_freed, 0);
	qos_service.fini(new_);
	assert_int_equal(fake_pkts_freed, 3);
}

/* The policer marks yellow AF12 with a valid checksum, then drops red. */
static void test_policer_in_pipeline(void **state)
{
	static struct frame f[3];
	struct nio_pkt *burst[3];
	uint8_t v[3];
	struct qos *q;

	fake_now_ns = 0;
	q = make(shaper);
	for (int i = 0; i < 3; i++) {
		udp4(&f[i], 0, 5001, 900);
		burst[i] = &f[i].p;
	}
	qos_service.process(q, burst, 3, v);
	assert_int_equal(v[0], NIO_V_CONSUMED); /* green */
	assert_int_equal(v[1], NIO_V_CONSUMED); /* yellow, re-marked */
	assert_int_equal(v[2], NIO_V_DROP);	/* red */
	assert_int_equal(f[0].p.dscp, 0);
	assert_int_equal(f[1].p.dscp, 12);
	assert_int_equal(nio_csum(f[1].p.data + 14, 20), 0);
	assert_int_equal(qos_service.counters(q)[QOS_C_MARKED], 1);
	assert_int_equal(qos_service.counters(q)[QOS_C_POLICED], 1);
	qos_service.fini(q);
}

/* Offer 20 Mbit/s of 1000-byte frames for 5 s to a 10 Mbit/s root: 10 Mbit/s come out. */
/* The class line is "class NAME key value ...", every key in a fixed order, numbers whole. */
static void assert_show_class(const char *show, const char *name, uint64_t sent_bytes)
{
	char cname[32], parent[32], rate[32], ceil[32];
	unsigned long long v[11];
	int n = sscanf(
		show,
		"class %31s parent %31s rate %31s ceil %31s prio %llu quantum %llu sent %llu "
		"sent-bytes %llu borrowed %llu queue-limit-drops %llu codel-drops %llu "
		"ecn-marks %llu queue-packets %llu delay-us %llu delay-max-us %llu",
		cname, parent, rate, ceil, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
		&v[8], &v[9], &v[10]);

	assert_int_equal(n, 15);
	assert_string_equal(cname, name);
	assert_int_equal(v[3], sent_bytes);
	assert_string_equal(show + strlen(show) - 1, "\n");
}

static void test_shape_rate(void **state)
{
	static const struct fake_opt only_root[] = { { "rate", "10mbit", NULL },
						     { "codel", "false", NULL },
						     END };
	static struct frame f[1024];
	struct nio_pkt *free_[1024], *out[64];
	unsigned nfree = 0;
	uint64_t sent = 0, next = 0, t;
	struct qos *q;
	char show[1024];

	fake_now_ns = 0;
	q = make(only_root);
	for (unsigned i = 0; i < 1024; i++)
		free_[nfree++] = &f[i].p;
	/* one frame every 400 us; dequeue at each arrival and each requested release */
	for (t = 0; t < 5 * SEC;) {
		uint16_t n = qos_service.dequeue(q, t, out, 64, &next);

		for (uint16_t i = 0; i < n; i++) {
			sent += out[i]->len;
			free_[nfree++] = out[i];
		}
		if (t % (400 * 1000) == 0) {
			struct nio_pkt *p = free_[--nfree];
			uint8_t v;

			udp4((struct frame *)p, 0, 443, 1000);
			fake_now_ns = t;
			qos_service.process(q, &p, 1, &v);
			if (v != NIO_V_CONSUMED)
				free_[nfree++] = p;
		}
		uint64_t arrival = (t / (400 * 1000) + 1) * 400 * 1000;
		t = next && next < arrival ? next : arrival;
	}
	/* 5 s at 10 Mbit/s plus the initial burst, within a frame */
	assert_true(sent * 8 >= 5 * 10000000ull);
	assert_true(sent * 8 <= 5 * 10000000ull + (12500 + 2 * 1000) * 8);
	assert_int_equal(qos_service.counters(q)[QOS_C_SENT_BYTES], sent);
	assert_true(qos_service.show(q, show, sizeof(show)) > 0);
	assert_show_class(show, "root", sent);
	qos_service.fini(q);
}

/* No rate: a pure policer passes packets straight through. */
static void test_policer_only(void **state)
{
	static const struct fake_opt opts[] = { { "policer", "p", pol_ok }, END };
	static struct frame f;
	struct nio_pkt *p = &f.p;
	uint8_t v;
	uint64_t next = 1;
	struct nio_pkt *out[4];
	struct qos *q;
	char show[256];

	fake_now_ns = 0;
	q = make(opts);
	udp4(&f, 0, 53, 100);
	qos_service.process(q, &p, 1, &v);
	assert_int_equal(v, NIO_V_PASS);
	assert_int_equal(qos_service.dequeue(q, 0, out, 4, &next), 0);
	assert_int_equal(next, 0);
	qos_service.show(q, show, sizeof(show));
	assert_string_equal(show, "policer p green 1 yellow 0 red 0 marked 0 dropped 0\n");
	qos_service.fini(q);
}

/* ---- structured counters (objects) */

struct seen {
	char kinds[16][16], names[16][32], parent[16][32], src[16][48];
	uint64_t sent[16], queued[16];
	unsigned n;
};

static uint64_t value_of(const struct nio_obj *o, const char *key)
{
	for (unsigned i = 0; i < o->n; i++)
		if (!strcmp(o->keys[i], key))
			return o->values[i];
	return UINT64_MAX;
}

static const char *label_of(const struct nio_obj *o, const char *key)
{
	for (unsigned i = 0; i < o->nlabels; i++)
		if (!strcmp(o->labels[2 * i], key))
			return o->labels[2 * i + 1];
	return "";
}

static void record(void *ctx, const struct nio_obj *o)
{
	struct seen *s = ctx;

	assert_true(s->n < 16);
	snprintf(s->kinds[s->n], sizeof(s->kinds[0]), "%s", o->kind);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", o->name);
	snprintf(s->parent[s->n], sizeof(s->parent[0]), "%s", label_of(o, "parent"));
	snprintf(s->src[s->n], sizeof(s->src[0]), "%s", label_of(o, "src"));
	s->sent[s->n] = value_of(o, "sent");
	s->queued[s->n] = value_of(o, "queue-packets");
	s->n++;
}

/* Policers, classes and the active flows of a class with flow queues, each with its numbers;
 * classification by the cache agrees with the rules for packets seen before. */
static void test_objects(void **state)
{
	static const struct fake_opt fq_shaper[] = {
		{ "rate", "10mbit", NULL },	  { "flows", "64", NULL },
		{ "policer", "udp5k", pol_mark }, { "class", "voice", cls_voice },
		{ "class", "bulk", cls_bulk },	  END,
	};
	static struct frame f[4];
	struct nio_pkt *burst[4];
	struct seen s = { .n = 0 };
	uint8_t v[4];
	struct qos *q;

	(void)state;
	fake_now_ns = 0;
	q = make(fq_shaper);
	udp4(&f[0], 46, 9, 200);  /* voice */
	udp4(&f[1], 0, 443, 200); /* bulk, flow A */
	udp4(&f[2], 0, 443, 200); /* bulk, flow A */
	udp4(&f[3], 0, 444, 200); /* bulk, flow B */
	for (int i = 0; i < 4; i++)
		burst[i] = &f[i].p;
	qos_service.process(q, burst, 4, v);
	assert_int_equal(qos_classify(q, &f[0].p), qos_sched_find(&q->sched, "voice"));
	assert_int_equal(qos_classify(q, &f[1].p), qos_sched_find(&q->sched, "bulk"));
	assert_true(q->cache_hits >= 2);
	qos_service.objects(q, record, &s);
	/* policer, root, voice, bulk, then 1 + 2 flows */
	assert_int_equal(s.n, 7);
	assert_string_equal(s.kinds[0], "policer");
	assert_string_equal(s.names[0], "udp5k");
	assert_string_equal(s.kinds[3], "class");
	assert_string_equal(s.names[3], "bulk");
	assert_string_equal(s.parent[3], "root");
	assert_int_equal(s.queued[3], 3);
	for (unsigned i = 4; i < 7; i++) {
		assert_string_equal(s.kinds[i], "flow");
		assert_string_equal(s.src[i], "192.0.2.1");
	}
	assert_int_equal(s.queued[4] + s.queued[5] + s.queued[6], 4);
	qos_service.fini(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_classify_and_limit),
		cmocka_unit_test(test_policer_in_pipeline),
		cmocka_unit_test(test_state_handoff),
		cmocka_unit_test(test_shape_rate),
		cmocka_unit_test(test_policer_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the flow queues inside a qos class: sparse flows first, DRR by bytes, drops
 * from the fattest flow, byte limits, host isolation and CoDel per flow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/qos/qos.h"

#define MS   1000000ull
#define MBIT 1000000ull
#define POOL 4096

static struct nio_pkt pool[POOL];
static uint8_t bufs[POOL][64]; /* an IPv4 header behind 14 bytes of Ethernet */
static struct nio_pkt *free_list[POOL];
static unsigned nfree, nfreed;

static void pool_reset(void)
{
	for (nfree = 0; nfree < POOL; nfree++)
		free_list[nfree] = &pool[nfree];
	nfreed = 0;
}

static void pkt_free(struct nio_pkt *p)
{
	assert_true(nfree < POOL);
	free_list[nfree++] = p;
	nfreed++;
}

/* A packet of flow sport from host src (its last address byte). */
static struct nio_pkt *pkt(uint32_t len, uint8_t src, uint16_t sport)
{
	struct nio_pkt *p;

	assert_true(nfree > 0);
	p = free_list[--nfree];
	memset(p, 0, sizeof(*p));
	p->len = len;
	p->key.src[15] = src;
	p->key.dst[15] = 99;
	p->key.sport = sport;
	p->key.dport = 80;
	p->key.proto = 17;
	p->key.family = 4;
	p->buf = p->data = bufs[p - pool];
	p->buf_size = sizeof(bufs[0]);
	p->l3_off = 14;
	p->flags = NIO_PKT_F_IPV4;
	memset(p->data, 0, 34);
	p->data[14] = 0x45;
	p->data[15] = 0x02; /* ECT(0) */
	return p;
}

/* A root class alone, shaped to rate, with flow queues. */
static bool ecn; /* the class marks ECN-capable packets instead of dropping them */

static void setup(struct qos_sched *s, uint64_t rate, uint32_t limit, uint64_t limit_bytes,
		  enum qos_isolate iso, bool codel)
{
	struct qos_class_conf cc = { .name = "root",
				     .parent = -1,
				     .rate = rate,
				     .weight = 1,
				     .limit = limit,
				     .codel = codel,
				     .ecn = ecn,
				     .target = 5 * MS,
				     .interval = 100 * MS,
				     .flows = 64,
				     .limit_bytes = limit_bytes,
				     .isolate = iso };
	char err[128];

	pool_reset();
	qos_sched_init(s, 1514, pkt_free);
	if (qos_sched_add(s, &cc, 0, err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

/* Keep `keep` packets of each (src, sport, len) flow queued and run the link for `ns`; bytes
 * sent per flow after the first 100 ms go to bytes[]. */
struct flow {
	uint8_t src;
	uint16_t sport;
	uint32_t len;
	uint64_t bytes;
};

static unsigned queued(const struct qos_sched *s, const struct flow *f)
{
	const struct qos_fq *fq = s->cls[0].fq;
	unsigned n = 0;

	for (uint32_t i = 0; i < fq->nflows; i++)
		for (uint32_t k = fq->flows[i].head; k != UINT32_MAX; k = fq->nodes[k].next)
			n += fq->nodes[k].p->key.sport == f->sport &&
			     fq->nodes[k].p->key.src[15] == f->src;
	return n;
}

static void run(struct qos_sched *s, struct flow *fl, unsigned n, unsigned keep, uint64_t ns)
{
	struct nio_pkt *out[64];
	uint64_t t = 0, next = 0;

	while (t < ns) {
		uint16_t got;

		for (unsigned k = 0; k < n; k++)
			for (unsigned q = queued(s, &fl[k]); q < keep; q++)
				qos_sched_enqueue(s, 0, pkt(fl[k].len, fl[k].src, fl[k].sport), t);
		got = qos_sched_dequeue(s, t, out, 64, &next);
		for (uint16_t i = 0; i < got; i++) {
			for (unsigned k = 0; k < n && t > 100 * MS; k++)
				if (out[i]->key.sport == fl[k].sport &&
				    out[i]->key.src[15] == fl[k].src)
					fl[k].bytes += out[i]->len;
			pkt_free(out[i]);
		}
		t = next > t ? next : t + 1000;
	}
}

/* fq_codel: a flow that was idle goes before the backlog of a bulk flow. */
static void test_sparse_first(void **state)
{
	struct qos_sched s;
	struct nio_pkt *out[64];
	uint64_t next = 0;
	uint16_t n;

	(void)state;
	setup(&s, 10 * MBIT, 1000, 0, QOS_ISOLATE_FLOWS, false);
	for (int i = 0; i < 100; i++)
		assert_int_equal(qos_sched_enqueue(&s, 0, pkt(1500, 1, 1000), 0), 0);
	n = qos_sched_dequeue(&s, 0, out, 64, &next);
	assert_true(n >= 2 && n < 100); /* the bucket's worth, the rest waits */
	for (uint16_t i = 0; i < n; i++)
		pkt_free(out[i]);
	assert_int_equal(qos_sched_enqueue(&s, 0, pkt(100, 2, 2000), 10 * MS), 0);
	n = qos_sched_dequeue(&s, 20 * MS, out, 1, &next);
	assert_int_equal(n, 1);
	assert_int_equal(out[0]->key.sport, 2000);
	pkt_free(out[0]);
	qos_sched_fini(&s);
	assert_int_equal(nfree, POOL);
}

/* DRR shares bytes, not packets: 1500-byte and 300-byte flows get the same rate. */
static void test_drr_bytes(void **state)
{
	struct flow fl[] = { { 1, 1000, 1500, 0 }, { 2, 2000, 300, 0 } };
	struct qos_sched s;

	(void)state;
	setup(&s, 10 * MBIT, 1000, 0, QOS_ISOLATE_FLOWS, false);
	run(&s, fl, 2, 20, 1100 * MS);
	assert_true(fl[0].bytes > 1200000 / 2 * 9 / 10);
	assert_true(fl[0].bytes * 100 <= fl[1].bytes * 103 &&
		    fl[1].bytes * 100 <= fl[0].bytes * 103);
	qos_sched_fini(&s);
}

/* Over the packet limit the fattest flow loses its head; the newcomer is queued. */
static void test_fattest_drop(void **state)
{
	struct qos_sched s;

	(void)state;
	setup(&s, 10 * MBIT, 10, 0, QOS_ISOLATE_FLOWS, false);
	for (int i = 0; i < 10; i++)
		assert_int_equal(qos_sched_enqueue(&s, 0, pkt(1000, 1, 1000), 0), 0);
	assert_int_equal(qos_sched_enqueue(&s, 0, pkt(100, 2, 2000), 0), 0);
	assert_int_equal(s.cls[0].qlen, 10);
	assert_int_equal(s.cls[0].st.drop_limit, 1);
	assert_int_equal(nfreed, 1);
	assert_int_equal(queued(&s, &(struct flow){ 2, 2000, 0, 0 }), 1);
	assert_int_equal(queued(&s, &(struct flow){ 1, 1000, 0, 0 }), 9);
	qos_sched_fini(&s);
	assert_int_equal(nfree, POOL);
}

/* limit-bytes bounds the bytes queued whatever the packet count. */
static void test_byte_limit(void **state)
{
	struct qos_sched s;

	(void)state;
	setup(&s, 10 * MBIT, 1000, 3000, QOS_ISOLATE_FLOWS, false);
	for (int i = 0; i < 5; i++)
		assert_int_equal(qos_sched_enqueue(&s, 0, pkt(1500, 1, 1000), 0), 0);
	assert_int_equal(s.cls[0].backlog, 3000);
	assert_int_equal(s.cls[0].st.drop_limit, 3);
	qos_sched_fini(&s);
}

/* CAKE's dual-src: a host with four flows gets what a host with one gets; per flow it would
 * get four times as much. */
static void test_dual_src(void **state)
{
	struct flow fl[] = { { 1, 1001, 1500, 0 },
			     { 1, 1002, 1500, 0 },
			     { 1, 1003, 1500, 0 },
			     { 1, 1004, 1500, 0 },
			     { 2, 2000, 1500, 0 } };
	struct qos_sched s;
	uint64_t many;

	(void)state;
	setup(&s, 10 * MBIT, 1000, 0, QOS_ISOLATE_DUAL_SRC, false);
	run(&s, fl, 5, 8, 1100 * MS);
	many = fl[0].bytes + fl[1].bytes + fl[2].bytes + fl[3].bytes;
	assert_true(many * 100 <= fl[4].bytes * 110 && fl[4].bytes * 100 <= many * 110);
	qos_sched_fini(&s);
	for (unsigned k = 0; k < 5; k++)
		fl[k].bytes = 0;
	setup(&s, 10 * MBIT, 1000, 0, QOS_ISOLATE_FLOWS, false);
	run(&s, fl, 5, 8, 1100 * MS);
	many = fl[0].bytes + fl[1].bytes + fl[2].bytes + fl[3].bytes;
	assert_true(many > fl[4].bytes * 3 && many < fl[4].bytes * 5);
	qos_sched_fini(&s);
}

/* CoDel per flow: a standing queue of a bulk flow is dropped; a sparse flow in the same class
 * keeps every packet and waits less than a packet time or two. */
static void test_codel_per_flow(void **state)
{
	struct qos_sched s;
	struct nio_pkt *out[64];
	uint64_t t = 0, next = 0, worst = 0;
	unsigned sparse_sent = 0, sparse_in = 0;

	(void)state;
	setup(&s, 10 * MBIT, 1000, 0, QOS_ISOLATE_FLOWS, true);
	while (t < 2000 * MS) {
		uint16_t got;

		/* the bulk flow offers twice the rate; the sparse one a packet every 20 ms */
		while (queued(&s, &(struct flow){ 1, 1000, 0, 0 }) < 200 && t % (600 * 1000) == 0)
			qos_sched_enqueue(&s, 0, pkt(1500, 1, 1000), t);
		if (t % (20 * MS) == 0) {
			qos_sched_enqueue(&s, 0, pkt(100, 2, 2000), t);
			sparse_in++;
		}
		got = qos_sched_dequeue(&s, t, out, 64, &next);
		for (uint16_t i = 0; i < got; i++) {
			if (out[i]->key.sport == 2000) {
				sparse_sent++;
				worst = t - out[i]->user > worst ? t - out[i]->user : worst;
			}
			pkt_free(out[i]);
		}
		t += 100 * 1000;
	}
	assert_true(s.cls[0].st.drop_codel > 0);
	assert_true(sparse_sent + 1 >= sparse_in);
	assert_true(worst <= 2 * MS);
	qos_sched_fini(&s);
}

/* With ecn, a flow's CoDel marks its ECN-capable packets CE instead of dropping them. */
static void test_ecn_per_flow(void **state)
{
	struct qos_sched s;
	struct nio_pkt *out[64];
	uint64_t t = 0, next = 0;
	unsigned ce = 0;

	(void)state;
	ecn = true;
	setup(&s, 10 * MBIT, 1000, 0, QOS_ISOLATE_FLOWS, true);
	ecn = false;
	for (; t < 1000 * MS; t += 100 * 1000) {
		uint16_t got;

		while (queued(&s, &(struct flow){ 1, 1000, 0, 0 }) < 200)
			qos_sched_enqueue(&s, 0, pkt(1500, 1, 1000), t);
		got = qos_sched_dequeue(&s, t, out, 64, &next);
		for (uint16_t i = 0; i < got; i++) {
			ce += (out[i]->data[15] & 3) == 3;
			pkt_free(out[i]);
		}
	}
	assert_true(s.cls[0].st.marked > 0);
	assert_int_equal(ce, s.cls[0].st.marked);
	assert_int_equal(s.cls[0].st.drop_codel, 0);
	qos_sched_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse_first), cmocka_unit_test(test_drr_bytes),
		cmocka_unit_test(test_fattest_drop), cmocka_unit_test(test_byte_limit),
		cmocka_unit_test(test_dual_src),     cmocka_unit_test(test_codel_per_flow),
		cmocka_unit_test(test_ecn_per_flow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

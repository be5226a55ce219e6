/* Unit tests of the qos class scheduler (HTB borrowing, priority, DRR) and of CoDel. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/qos/qos.h"

#define SEC	      QOS_NS_PER_SEC
#define MS	      1000000ull
#define US	      1000ull
#define MBIT	      1000000ull
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define POOL	      8192

/* ---- a packet pool standing in for the worker's; the class index rides in p->hash */

static struct nio_pkt pool[POOL];
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

static struct nio_pkt *pkt_get(uint32_t len, unsigned cls)
{
	struct nio_pkt *p;

	assert_true(nfree > 0);
	p = free_list[--nfree];
	memset(p, 0, sizeof(*p));
	p->len = len;
	p->hash = cls;
	return p;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- building trees */

static struct qos_class_conf cconf(const char *name, int parent, uint64_t rate, uint64_t ceil)
{
	return (struct qos_class_conf){ .name = name,
					.parent = parent,
					.rate = rate,
					.ceil = ceil,
					.weight = 1,
					.limit = 1000,
					.target = 5 * MS,
					.interval = 100 * MS };
}

static int add(struct qos_sched *s, struct qos_class_conf cc)
{
	char err[128];
	int i = qos_sched_add(s, &cc, 0, err, sizeof(err));

	if (i < 0)
		fail_msg("%s", err);
	return i;
}

/* ---- a simulated link: keeps chosen leaves backlogged and follows next_ns exactly */

struct load {
	int cls;
	unsigned keep;	/* keep this many packets queued; 0 = idle */
	uint32_t len;	/* 0 = random 64..1514 */
	uint64_t bytes; /* sent after the warm-up */
	uint64_t max_delay;
};

static void fill(struct qos_sched *s, struct load *l, uint64_t now, uint64_t *seed)
{
	while (l->keep && s->cls[l->cls].qlen < l->keep) {
		uint32_t len = l->len ? l->len : 64 + (uint32_t)(rnd(seed) % 1451);

		assert_int_equal(
			qos_sched_enqueue(s, (unsigned)l->cls, pkt_get(len, (unsigned)l->cls), now),
			0);
	}
}

static void account(struct load *loads, unsigned n, struct nio_pkt *p, uint64_t now, bool count)
{
	for (unsigned k = 0; k < n; k++) {
		if (loads[k].cls != (int)p->hash)
			continue;
		if (count)
			loads[k].bytes += p->len;
		if (now - p->user > loads[k].max_delay)
			loads[k].max_delay = now - p->user;
	}
	pkt_free(p);
}

static void run(struct qos_sched *s, struct load *loads, unsigned n, uint64_t warm, uint64_t end)
{
	uint64_t now = 0, next, seed = 0x9e3779b97f4a7c15ull;
	struct nio_pkt *out[32];

	while (now < end) {
		uint16_t got;

		for (unsigned k = 0; k < n; k++)
			fill(s, &loads[k], now, &seed);
		got = qos_sched_dequeue(s, now, out, 32, &next);
		for (uint16_t i = 0; i < got; i++)
			account(loads, n, out[i], now, now >= warm);
		assert_true(next >= now);
		now = next > now ? next : now;
		if (got == 0)
			assert_true(next > now - 1);
	}
}

static double mbits(const struct load *l, uint64_t dur)
{
	return (double)l->bytes * 8 / ((double)dur / SEC) / MBIT;
}

static void near(double got, double want, double tol, const char *what)
{
	if (fabs(got - want) > want * tol)
		fail_msg("%s: %.4f, want %.4f +- %.1f%%", what, got, want, tol * 100);
}

/* 3:1 weights between two borrowing leaves of mixed packet sizes: bytes 3:1 within 1 %. */
static void test_drr_weights(void **state)
{
	struct qos_sched s;
	struct load l[2] = { { .keep = 50 }, { .keep = 50 } };
	struct qos_class_conf a = cconf("a", 0, 0, 0), b = cconf("b", 0, 0, 0);

	pool_reset();
	qos_sched_init(&s, 1514, pkt_free);
	add(&s, cconf("root", -1, 10 * MBIT, 0));
	a.weight = 3;
	l[0].cls = add(&s, a);
	l[1].cls = add(&s, b);
	run(&s, l, 2, SEC, 21 * SEC);
	near((double)l[0].bytes / (double)l[1].bytes, 3.0, 0.01, "a:b bytes");
	near(mbits(&l[0], 20 * SEC) + mbits(&l[1], 20 * SEC), 10, 0.001, "total");
	qos_sched_fini(&s);
	assert_int_equal(nfree, POOL);
}

/*
 * A leaf that gets a packet while idle sends at its first DRR turn: three bulk leaves and a
 * sparse one, the link never the limit, so the order is DRR's alone. With equal quanta a
 * turn of a bulk leaf is one of its 1500-byte packets (a second needs 1486 bytes of carried
 * credit), so the sparse packet waits for at most one turn of each of the 3 others, wherever
 * the round is when it arrives. A leaf whose first turn only granted its quantum waited a
 * whole round more (up to 6 bulk packets).
 */
static void test_drr_new_leaf_first_turn(void **state)
{
	struct qos_sched s;
	struct nio_pkt *out[1];
	int bulk[3], sparse;
	uint64_t next;
	unsigned worst = 0;

	pool_reset();
	qos_sched_init(&s, 1514, pkt_free);
	add(&s, cconf("root", -1, 100000 * MBIT, 0));
	for (unsigned k = 0; k < 3; k++) {
		char name[8];

		snprintf(name, sizeof(name), "bulk%u", k);
		bulk[k] = add(&s, cconf(name, 0, 0, 0));
	}
	sparse = add(&s, cconf("sparse", 0, 0, 0));
	for (unsigned trial = 0; trial < 20; trial++) {
		unsigned ahead = 0;

		for (unsigned k = 0; k < 3; k++)
			while (s.cls[bulk[k]].qlen < 20)
				assert_int_equal(qos_sched_enqueue(&s, (unsigned)bulk[k],
								   pkt_get(1500, (unsigned)bulk[k]),
								   trial),
						 0);
		for (unsigned k = 0; k < trial % 7; k++) { /* move the round on */
			assert_int_equal(qos_sched_dequeue(&s, trial, out, 1, &next), 1);
			pkt_free(out[0]);
		}
		assert_int_equal(qos_sched_enqueue(&s, (unsigned)sparse,
						   pkt_get(100, (unsigned)sparse), trial),
				 0);
		for (;;) {
			assert_int_equal(qos_sched_dequeue(&s, trial, out, 1, &next), 1);
			if (out[0]->hash == (uint32_t)sparse)
				break;
			ahead++;
			pkt_free(out[0]);
		}
		pkt_free(out[0]);
		worst = ahead > worst ? ahead : worst;
	}
	if (worst > 3)
		fail_msg("%u bulk packets left before the sparse leaf's first, want at most 3",
			 worst);
	qos_sched_fini(&s);
	assert_int_equal(nfree, POOL);
}

/*
 * root 10 mbit
 * ├── A    rate 6 ceil 10
 * │   ├── A1  rate 2 ceil 4
 * │   └── A2  rate 2 ceil 10
 * └── B    rate 4 ceil 10
 */
static void test_htb_borrow(void **state)
{
	static const struct {
		bool busy[3];	/* A1 A2 B */
		double want[3]; /* Mbit/s */
	} rows[] = {
		{ { true, false, false }, { 4, 0, 0 } },  /* A1 borrows up to its ceil */
		{ { false, true, false }, { 0, 10, 0 } }, /* A2 borrows the whole link */
		{ { true, true, false }, { 4, 6, 0 } },	  /* A1 capped, A2 takes the rest */
		{ { true, true, true }, { 3, 3, 4 } },	  /* B keeps its rate; A's 6 split 1:1 */
		{ { false, true, true }, { 0, 6, 4 } },
		{ { true, false, true }, { 4, 0, 6 } }, /* B borrows what A1's ceil leaves */
	};

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct qos_sched s;
		struct load l[3] = { 0 };
		int A;

		pool_reset();
		qos_sched_init(&s, 1514, pkt_free);
		add(&s, cconf("root", -1, 10 * MBIT, 0));
		A = add(&s, cconf("A", 0, 6 * MBIT, 10 * MBIT));
		l[0].cls = add(&s, cconf("A1", A, 2 * MBIT, 4 * MBIT));
		l[1].cls = add(&s, cconf("A2", A, 2 * MBIT, 10 * MBIT));
		l[2].cls = add(&s, cconf("B", 0, 4 * MBIT, 10 * MBIT));
		for (int k = 0; k < 3; k++)
			l[k].keep = rows[r].busy[k] ? 40 : 0;
		run(&s, l, 3, SEC, 21 * SEC);
		for (int k = 0; k < 3; k++) {
			char what[32];

			snprintf(what, sizeof(what), "row %zu class %d", r, k);
			if (rows[r].want[k] == 0)
				assert_int_equal(l[k].bytes, 0);
			else
				near(mbits(&l[k], 20 * SEC), rows[r].want[k], 0.01, what);
		}
		qos_sched_fini(&s);
	}
}

/* A sparse priority-0 class waits at most one bulk packet while prio 1 saturates. */
static void test_priority_delay(void **state)
{
	struct qos_sched s;
	struct qos_class_conf bulk = cconf("bulk", 0, 0, 0);
	struct load l[2] = { { .keep = 0, .len = 100 }, { .keep = 200, .len = 1514 } };
	uint64_t now = 0, next, ping_at = 0, seed = 1;
	struct nio_pkt *out[32];

	pool_reset();
	qos_sched_init(&s, 1514, pkt_free);
	add(&s, cconf("root", -1, 10 * MBIT, 0));
	l[0].cls = add(&s, cconf("voice", 0, 0, 0));
	bulk.prio = 1;
	l[1].cls = add(&s, bulk);
	while (now < 10 * SEC) {
		uint16_t got;

		if (now >= ping_at) {
			assert_int_equal(
				qos_sched_enqueue(&s, (unsigned)l[0].cls, pkt_get(100, 1), now), 0);
			ping_at += 100 * MS;
		}
		fill(&s, &l[1], now, &seed);
		got = qos_sched_dequeue(&s, now, out, 32, &next);
		for (uint16_t i = 0; i < got; i++)
			account(l, 2, out[i], now, true);
		now = next < ping_at ? next : ping_at;
	}
	assert_true(l[0].bytes >= 99 * 100);
	assert_true(l[0].max_delay <= 1514 * 8 * SEC / (10 * MBIT) + US);
	assert_true(l[1].max_delay > 200 * MS);
	qos_sched_fini(&s);
}

/*
 * A worker that calls late (every 30 ms, against 12.5 KB buckets that fill in 10 ms) still
 * gets the exact rate; one that stalls for a second makes up only QOS_CATCHUP_NS of it. The
 * scheduler reports the worst lateness and the time never made up (late-max-us, late-lost-us).
 */
static void test_late_worker(void **state)
{
	static const struct {
		uint64_t period, stall_at, stall;
		double want;		   /* Mbit/s over 20 s */
		uint64_t late_lo, late_hi; /* worst lateness past a release time */
		uint64_t lost;		   /* lateness beyond the 100 ms catch-up, within 4 ms */
	} rows[] = {
		{ 30 * MS, 0, 0, 10, 28 * MS, 30 * MS, 0 },
		{ 7 * MS, 0, 0, 10, 5 * MS, 7 * MS, 0 },
		/* 100 ms + 10 ms bucket made up */
		{ 1 * MS, 5 * SEC, 1 * SEC, 10 * (20 - 0.89) / 20, SEC - 2 * MS, SEC + 2 * MS,
		  898 * MS },
	};

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct qos_sched s;
		struct load l[1] = { { .cls = 0, .keep = 200, .len = 1500 } };
		struct nio_pkt *out[256];
		uint64_t now = 0, next, seed = 7;

		pool_reset();
		qos_sched_init(&s, 1514, pkt_free);
		add(&s, cconf("root", -1, 10 * MBIT, 0));
		while (now < 21 * SEC) {
			uint16_t got;

			fill(&s, &l[0], now, &seed);
			got = qos_sched_dequeue(&s, now, out, 256, &next);
			for (uint16_t i = 0; i < got; i++)
				account(l, 1, out[i], now, now >= SEC);
			now += rows[r].period;
			if (rows[r].stall && now >= rows[r].stall_at &&
			    now < rows[r].stall_at + rows[r].period)
				now += rows[r].stall;
		}
		near(mbits(&l[0], 20 * SEC), rows[r].want, 0.002, "late worker");
		assert_in_range(s.late_max_ns, rows[r].late_lo, rows[r].late_hi);
		assert_in_range(s.lost_ns, rows[r].lost, rows[r].lost + 4 * MS);
		qos_sched_fini(&s);
	}
}

/* next_ns: 0 when empty, else exactly when the bucket will hold the head packet. */
static void test_next_release(void **state)
{
	struct qos_sched s;
	struct nio_pkt *out[8];
	uint64_t next = 1;

	pool_reset();
	qos_sched_init(&s, 1514, pkt_free);
	add(&s, cconf("root", -1, 8000, 0)); /* 1000 bytes/s, burst raised to one frame */
	assert_int_equal(qos_sched_dequeue(&s, 0, out, 8, &next), 0);
	assert_int_equal(next, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(qos_sched_enqueue(&s, 0, pkt_get(1000, 0), 0), 0);
	/* NIO_PKT_MAX_FRAME = 2304 bytes of credit: two packets fit, the third overdraws it
	 * to -696 bytes, and the fourth waits until credit is positive again */
	assert_int_equal(qos_sched_dequeue(&s, 0, out, 8, &next), 3);
	for (int i = 0; i < 3; i++)
		pkt_free(out[i]);
	assert_int_equal(next, 696 * MS + 1);
	assert_int_equal(qos_sched_dequeue(&s, next - 1, out, 8, &next), 0);
	assert_int_equal(next, 696 * MS + 1);
	assert_int_equal(qos_sched_dequeue(&s, next, out, 8, &next), 1);
	pkt_free(out[0]);
	assert_int_equal(next, 0);
	qos_sched_fini(&s);
}

static void test_limit_and_fini(void **state)
{
	struct qos_sched s;
	struct qos_class_conf root = cconf("root", -1, 8000, 0);

	pool_reset();
	qos_sched_init(&s, 1514, pkt_free);
	root.limit = 5;
	add(&s, root);
	for (int i = 0; i < 5; i++)
		assert_int_equal(qos_sched_enqueue(&s, 0, pkt_get(100, 0), 0), 0);
	struct nio_pkt *extra = pkt_get(100, 0);
	assert_int_equal(qos_sched_enqueue(&s, 0, extra, 0), -1);
	pkt_free(extra);
	assert_int_equal(s.cls[0].st.drop_limit, 1);
	nfreed = 0;
	qos_sched_fini(&s);
	assert_int_equal(nfreed, 5);
	assert_int_equal(nfree, POOL);
}

/* A flow-queue class that a packet above its byte limit empties (its packets dropped to make
 * room, then the packet taken anyway) goes idle like one the scheduler empties: after the
 * packet leaves, the sets promise no release time of their own, and the idle leaf, which may
 * stay in its set, is dropped from it when the scheduler comes to it. */
static void test_fq_emptied_by_limit(void **state)
{
	struct qos_sched s;
	struct qos_class_conf leaf = cconf("leaf", 0, 0, 0);
	struct nio_pkt *out[4];
	uint64_t next;
	int i, other;

	pool_reset();
	qos_sched_init(&s, 1514, pkt_free);
	add(&s, cconf("root", -1, 100 * MBIT, 0));
	leaf.flows = 16;
	leaf.limit_bytes = 1000;
	i = add(&s, leaf);
	for (unsigned k = 0; k < 3; k++) {
		assert_int_equal(qos_sched_enqueue(&s, (unsigned)i, pkt_get(600, (unsigned)i), 0),
				 0);
		assert_int_equal(qos_sched_enqueue(&s, (unsigned)i, pkt_get(1200, (unsigned)i), 0),
				 0);
		assert_int_equal(s.cls[i].qlen, 1);
		assert_int_equal(qos_sched_dequeue(&s, k * MS, out, 4, &next), 1);
		assert_int_equal(out[0]->len, 1200);
		pkt_free(out[0]);
		assert_int_equal(next, 0);
		assert_int_equal(s.cls[i].qlen, 0);
		assert_true(s.cls[i].lvl >= 0); /* idle, still in its set */
	}
	/* DRR drops the idle member it comes to, and sends on from the next */
	other = add(&s, cconf("other", 0, 0, 0));
	assert_int_equal(qos_sched_enqueue(&s, (unsigned)other, pkt_get(700, (unsigned)other), 0),
			 0);
	assert_int_equal(qos_sched_dequeue(&s, 4 * MS, out, 4, &next), 1);
	assert_int_equal(out[0]->len, 700);
	pkt_free(out[0]);
	assert_int_equal(s.cls[i].lvl, -1);
	assert_int_equal(next, 0);
	assert_int_equal(s.cls[i].st.drop_limit, 3);
	qos_sched_fini(&s);
	assert_int_equal(nfree, POOL);
}

static void test_bad_trees(void **state)
{
	static const struct {
		struct qos_class_conf cc;
		const char *err;
	} rows[] = {
		{ { .name = "x", .parent = 5, .weight = 1, .limit = 1 }, "parent must be defined" },
		{ { .name = "root", .parent = 0, .weight = 1, .limit = 1 }, "defined twice" },
		{ { .name = "x", .parent = 0, .rate = 2, .ceil = 1, .weight = 1, .limit = 1 },
		  "rate above ceil" },
		{ { .name = "x", .parent = 0, .prio = 8, .weight = 1, .limit = 1 },
		  "prio above 7" },
		{ { .name = "x", .parent = 0, .weight = 0, .limit = 1 }, "must be positive" },
		{ { .name = "", .parent = 0, .weight = 1, .limit = 1 }, "empty or too long" },
	};
	struct qos_sched s;
	struct qos_class_conf root = cconf("root", -1, 0, 0);
	char err[128];

	qos_sched_init(&s, 1514, pkt_free);
	assert_int_equal(qos_sched_add(&s, &root, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "root needs a rate"));
	root.rate = MBIT;
	add(&s, root);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		assert_int_equal(qos_sched_add(&s, &rows[i].cc, 0, err, sizeof(err)), -1);
		if (!strstr(err, rows[i].err))
			fail_msg("row %zu: '%s'", i, err);
	}
	qos_sched_fini(&s);
}

/*
 * CoDel on a queue whose sojourn stays at 10 ms (target 5 ms), judged every 10 us: the first
 * drop comes one interval after the sojourn first exceeded target, then drop n+1 follows
 * drop n by interval / sqrt(n).
 */
static void test_codel_schedule(void **state)
{
	struct qos_codel cd;
	double expect = 100 * MS;
	unsigned drops = 0;

	qos_codel_init(&cd, 5 * MS, 100 * MS);
	for (uint64_t now = 0; now < 3 * SEC; now += 10 * US) {
		if (qos_codel_judge(&cd, now, 10 * MS, 100000, 1514) == QOS_CODEL_SEND)
			continue;
		drops++;
		if (fabs((double)now - expect) > 10 * US + 2)
			fail_msg("drop %u at %llu ns, want %.0f", drops, (unsigned long long)now,
				 expect);
		expect += 100.0 * MS / sqrt((double)drops);
	}
	assert_true(drops > 30);
	assert_int_equal(cd.count, drops);
}

static void test_codel_no_drop(void **state)
{
	static const struct {
		uint64_t sojourn, backlog;
	} rows[] = {
		{ 4 * MS, 100000 }, /* below target */
		{ 50 * MS, 1514 },  /* a single MTU left: cannot drain faster */
	};

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct qos_codel cd;

		qos_codel_init(&cd, 5 * MS, 100 * MS);
		for (uint64_t now = 0; now < 2 * SEC; now += MS)
			assert_int_equal(
				qos_codel_judge(&cd, now, rows[r].sojourn, rows[r].backlog, 1514),
				QOS_CODEL_SEND);
	}
}

/* Leaving the dropping state and coming back soon resumes near the old drop rate. */
static void test_codel_reentry(void **state)
{
	struct qos_codel cd;
	uint64_t now;

	qos_codel_init(&cd, 5 * MS, 100 * MS);
	for (now = 0; now < 1 * SEC; now += MS)
		qos_codel_judge(&cd, now, 10 * MS, 100000, 1514);
	assert_true(cd.count > 4);
	uint32_t before = cd.count;
	qos_codel_judge(&cd, now, 1 * MS, 100000, 1514); /* good packet ends the episode */
	assert_false(cd.dropping);
	for (now += MS; !cd.dropping; now += MS)
		qos_codel_judge(&cd, now, 10 * MS, 100000, 1514);
	assert_int_equal(cd.count, before - 1 > 1 ? before - 1 : 1);
	qos_codel_empty(&cd);
	assert_false(cd.dropping);
}

/* A 300-packet burst into a 10 Mbit/s class: CoDel sheds part of the standing queue, or with
 * ECN on, marks the ECN-capable packets instead and drops only the others. */
static void test_codel_in_class(void **state)
{
	static const struct {
		bool codel, ecn;
		uint8_t tos; /* ECN bits of every packet */
	} rows[] = {
		{ false, false, 2 },
		{ true, false, 2 },
		{ true, true, 2 },
		{ true, true, 0 },
	};
	static uint8_t hdr[300][64];

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct qos_sched s;
		struct qos_class_conf root = cconf("root", -1, 10 * MBIT, 0);
		struct load l[1] = { { .cls = 0 } };
		struct nio_pkt *out[32];
		uint64_t now = 0, next = 0;
		const struct qos_class_stats *st;

		pool_reset();
		qos_sched_init(&s, 1514, pkt_free);
		root.codel = rows[r].codel;
		root.ecn = rows[r].ecn;
		add(&s, root);
		st = &s.cls[0].st;
		for (int i = 0; i < 300; i++) {
			struct nio_pkt *p = pkt_get(1514, 0);

			memset(hdr[i], 0, sizeof(hdr[i]));
			hdr[i][14] = 0x45;
			hdr[i][15] = rows[r].tos;
			p->buf = p->data = hdr[i];
			p->l3_off = 14;
			p->flags = NIO_PKT_F_IPV4;
			assert_int_equal(qos_sched_enqueue(&s, 0, p, 0), 0);
		}
		do {
			uint16_t got = qos_sched_dequeue(&s, now, out, 32, &next);

			for (uint16_t i = 0; i < got; i++)
				account(l, 1, out[i], now, true);
			now = next;
		} while (next);
		assert_int_equal(nfree, POOL);
		assert_int_equal(st->sent_pkts + st->drop_codel, 300);
		if (!rows[r].codel) {
			assert_int_equal(st->drop_codel + st->marked, 0);
		} else if (rows[r].ecn && rows[r].tos) {
			assert_int_equal(st->drop_codel, 0);
			assert_true(st->marked > 0);
			assert_int_equal(s.tot.marked, st->marked);
		} else {
			assert_true(st->drop_codel > 0);
			assert_int_equal(st->marked, 0);
			assert_true(l[0].max_delay < 300 * 1514 * 8 * SEC / (10 * MBIT));
		}
		qos_sched_fini(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drr_weights),
		cmocka_unit_test(test_drr_new_leaf_first_turn),
		cmocka_unit_test(test_htb_borrow),
		cmocka_unit_test(test_priority_delay),
		cmocka_unit_test(test_next_release),
		cmocka_unit_test(test_late_worker),
		cmocka_unit_test(test_limit_and_fini),
		cmocka_unit_test(test_fq_emptied_by_limit),
		cmocka_unit_test(test_bad_trees),
		cmocka_unit_test(test_codel_schedule),
		cmocka_unit_test(test_codel_no_drop),
		cmocka_unit_test(test_codel_reentry),
		cmocka_unit_test(test_codel_in_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

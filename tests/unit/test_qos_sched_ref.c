/* The class scheduler against a brute-force model of its rules, on random trees and traffic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/qos/qos.h"

/*
 * The model is the scheduler as it was before it kept leaves in their sets from round to
 * round: at every release time it brings every backlogged leaf's path up to that time, puts
 * each leaf in the set of its lender level and priority, and serves the sets by DRR; the next
 * release time is the earliest at which any backlogged leaf could send. Per packet it costs
 * work in the number of backlogged leaves, which is what the scheduler no longer does; what
 * leaves it, and when, must not change. The model runs on a tree built alike, from its own
 * buckets, deficits and FIFOs. A leaf whose queue empties holds a quantum at every level, so
 * that its next first turn sends (sched.c: full_credit()).
 */
#define POOL	 4096
#define MAXLEAF	 QOS_MAX_CLASSES
#define WAIT_MAX QOS_NS_PER_SEC
#define CATCHUP	 (100 * 1000000ull)

static struct nio_pkt pool[POOL];
static struct nio_pkt *free_list[POOL];
static unsigned nfree;

static void pkt_free(struct nio_pkt *p)
{
	free_list[nfree++] = p;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct model {
	struct qos_sched *s; /* its classes: buckets, deficits, FIFOs */
	int lvl[MAXLEAF];
	unsigned rr[QOS_MAX_DEPTH][QOS_MAX_PRIO];
	uint64_t due;
};

static int lender(const struct qos_sched *s, unsigned leaf)
{
	int level = -1;

	for (int i = (int)leaf; i >= 0; i = s->cls[i].parent) {
		if (!qos_tb_ready(&s->cls[i].ceil))
			return -1;
		if (level < 0 && qos_tb_ready(&s->cls[i].rate))
			level = (int)s->cls[i].height;
	}
	return level;
}

static void refill(struct qos_sched *s, unsigned leaf, uint64_t t)
{
	for (int k = (int)leaf; k >= 0; k = s->cls[k].parent) {
		qos_tb_refill(&s->cls[k].rate, t);
		qos_tb_refill(&s->cls[k].ceil, t);
	}
}

/* The first member of set (level, prio) at or after leaf from, wrapping round; -1: empty. */
static int member(const struct model *m, int level, unsigned prio, unsigned from)
{
	for (unsigned k = 0; k < m->s->n; k++) {
		unsigned i = (from + k) % m->s->n;

		if (m->lvl[i] == level && m->s->cls[i].prio == prio)
			return (int)i;
	}
	return -1;
}

/* DRR in set (level, prio) from its position: members whose level changed move; -1: empty */
static int drr(struct model *m, int level, unsigned prio)
{
	struct qos_sched *s = m->s;
	int i = member(m, level, prio, m->rr[level][prio]);

	while (i >= 0) {
		struct qos_class *c = &s->cls[i];

		if (lender(s, (unsigned)i) != level) {
			m->lvl[i] = lender(s, (unsigned)i);
		} else if (c->deficit[level] >= (int64_t)c->first->len) {
			m->rr[level][prio] = (unsigned)i;
			return i;
		} else {
			c->deficit[level] += c->quantum;
		}
		i = member(m, level, prio, (unsigned)i + 1);
	}
	return -1;
}

static int pick(struct model *m, int *level)
{
	for (unsigned b = 0; b < QOS_MAX_DEPTH * QOS_MAX_PRIO; b++) {
		int i = drr(m, (int)(b / QOS_MAX_PRIO), b % QOS_MAX_PRIO);

		if (i >= 0) {
			*level = (int)(b / QOS_MAX_PRIO);
			return i;
		}
	}
	return -1;
}

static void send(struct qos_sched *s, unsigned i, int level, struct nio_pkt *p)
{
	for (int k = (int)i; k >= 0; k = s->cls[k].parent) {
		qos_tb_take(&s->cls[k].ceil, p->len);
		if ((int)s->cls[k].height >= level)
			qos_tb_take(&s->cls[k].rate, p->len);
	}
	s->cls[i].deficit[level] -= p->len;
}

static uint16_t release(struct model *m, uint64_t t, struct nio_pkt **out, uint16_t max)
{
	struct qos_sched *s = m->s;
	uint16_t n = 0;
	int i, level;

	for (unsigned k = 0; k < s->n; k++) {
		m->lvl[k] = -1;
		if (s->cls[k].qlen) {
			refill(s, k, t);
			m->lvl[k] = lender(s, k);
		}
	}
	while (n < max && (i = pick(m, &level)) >= 0) {
		struct qos_class *c = &s->cls[i];

		out[n] = c->first; /* a FIFO's head, then its ring (sched.c) */
		if (c->qlen > 1) {
			c->first = c->ring[c->head];
			c->head = c->head + 1 == c->limit ? 0 : c->head + 1;
		}
		c->qlen--;
		send(s, (unsigned)i, level, out[n++]);
		if (!c->qlen) {
			for (unsigned l = 0; l < QOS_MAX_DEPTH; l++)
				c->deficit[l] = (int32_t)c->quantum;
			m->lvl[i] = -1;
			/* the set goes on from the next leaf: one that gets packets again
			 * waits for its turn behind the others */
			m->rr[level][c->prio] = ((unsigned)i + 1) % s->n;
		}
	}
	return n;
}

static uint64_t leaf_wait(const struct qos_sched *s, unsigned leaf)
{
	uint64_t cw = 0, rw = QOS_NEVER;

	for (int i = (int)leaf; i >= 0; i = s->cls[i].parent) {
		uint64_t c = qos_tb_wait_ready(&s->cls[i].ceil),
			 r = qos_tb_wait_ready(&s->cls[i].rate);

		cw = c > cw ? c : cw;
		rw = r < rw ? r : rw;
	}
	return cw > rw ? cw : rw;
}

static uint64_t held(const struct qos_sched *s)
{
	uint64_t q = 0;

	for (unsigned k = 0; k < s->n; k++)
		q += s->cls[k].qlen;
	return q;
}

static uint16_t model_dequeue(struct model *m, uint64_t now, struct nio_pkt **out, uint16_t max,
			      uint64_t *next_ns)
{
	uint64_t t = now, next = 0;
	uint16_t n = 0;

	if (m->due && m->due < now)
		t = now - m->due > CATCHUP ? now - CATCHUP : m->due;
	for (;;) {
		uint64_t wait = WAIT_MAX;

		n = (uint16_t)(n + release(m, t, out + n, (uint16_t)(max - n)));
		if (!held(m->s) || n == max)
			break;
		for (unsigned k = 0; k < m->s->n; k++)
			if (m->s->cls[k].qlen && leaf_wait(m->s, k) < wait)
				wait = leaf_wait(m->s, k);
		next = t + (wait ? wait : 1);
		if (next > now)
			break;
		t = next;
	}
	if (!held(m->s))
		next = 0;
	else if (n == max)
		next = t;
	m->due = next;
	*next_ns = next && next < now ? now : next;
	return n;
}

/* The same random tree into both: up to 4 levels, rates, ceils, bursts, priorities, weights. */
static void build(struct qos_sched *a, struct qos_sched *b, uint64_t *seed)
{
	unsigned n = 2 + (unsigned)(rnd(seed) % 120);
	char err[128], name[16];
	struct qos_class_conf cc = { .name = "root",
				     .parent = -1,
				     .rate = 1000000 + rnd(seed) % 10000000000ull,
				     .cburst = rnd(seed) % 2 ? 3000 : 0,
				     .weight = 1,
				     .limit = 64 };

	qos_sched_init(a, 1514, pkt_free);
	qos_sched_init(b, 1514, pkt_free);
	assert_true(qos_sched_add(a, &cc, 0, err, sizeof(err)) == 0);
	assert_true(qos_sched_add(b, &cc, 0, err, sizeof(err)) == 0);
	for (unsigned i = 1; i < n; i++) {
		int par = (int)(rnd(seed) % a->n);
		uint64_t prate = a->cls[0].rate.rate;

		par = a->cls[par].depth >= 3 ? 0 : par;
		snprintf(name, sizeof(name), "c%u", i);
		cc = (struct qos_class_conf){ .name = name,
					      .parent = par,
					      .rate = rnd(seed) % 4 ? 1 + rnd(seed) % (prate / 2)
								    : 0,
					      .weight = 1 + (uint32_t)(rnd(seed) % 4),
					      .prio = (uint32_t)(rnd(seed) % 3),
					      .burst = rnd(seed) % 2 ? 0 : 2000 + rnd(seed) % 20000,
					      .limit = 1 + (uint32_t)(rnd(seed) % 64) };
		if (rnd(seed) % 2)
			cc.ceil = cc.rate + rnd(seed) % prate;
		if (qos_sched_add(a, &cc, 0, err, sizeof(err)) >= 0)
			assert_true(qos_sched_add(b, &cc, 0, err, sizeof(err)) >= 0);
	}
}

static void test_matches_model(void **state)
{
	static struct qos_sched real, ref;
	struct nio_pkt *out[64], *mout[64];

	(void)state;
	for (uint64_t tree = 1; tree <= 24; tree++) {
		uint64_t seed = tree * 0x9e3779b97f4a7c15ull, now = 1000, next, mnext, id = 0;
		struct model m = { .s = &ref };
		int leaves[QOS_MAX_CLASSES] = { 0 }, nl = 0;

		build(&real, &ref, &seed);
		for (unsigned i = 0; i < real.n; i++)
			if (qos_sched_is_leaf(&real, i))
				leaves[nl++] = (int)i;
		assert_true(nl > 0);
		for (nfree = 0; nfree < POOL; nfree++)
			free_list[nfree] = &pool[nfree];
		for (int r = 0; r < 3000; r++) {
			unsigned k = (unsigned)(rnd(&seed) % 6);
			uint16_t max = (uint16_t)(1 + rnd(&seed) % 64), got, mgot;

			for (unsigned j = 0; j < k && nfree >= 2; j++) {
				unsigned leaf = (unsigned)leaves[rnd(&seed) % (unsigned)nl];
				struct nio_pkt *p = free_list[--nfree], *q = free_list[--nfree];

				memset(p, 0, sizeof(*p));
				p->len = 60 + (uint32_t)(rnd(&seed) % 1440);
				p->hash = (uint32_t)++id;
				*q = *p;
				if (qos_sched_enqueue(&real, leaf, p, now) < 0)
					pkt_free(p);
				if (qos_sched_enqueue(&ref, leaf, q, now) < 0)
					pkt_free(q);
			}
			now += 1 + rnd(&seed) % 200000;
			got = qos_sched_dequeue(&real, now, out, max, &next);
			mgot = model_dequeue(&m, now, mout, max, &mnext);
			assert_int_equal(got, mgot);
			assert_int_equal(next, mnext);
			for (uint16_t i = 0; i < got; i++) {
				assert_int_equal(out[i]->len, mout[i]->len);
				assert_int_equal(out[i]->hash, mout[i]->hash);
				pkt_free(out[i]);
				pkt_free(mout[i]);
			}
		}
		qos_sched_fini(&real);
		qos_sched_fini(&ref);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_matches_model) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Benchmark of the qos core: TSC cycles and ns per packet of a policer and of the shaper. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "../../services/qos/qos.h"

#define NPKT	4096
#define ROUNDS	2000
#define RUNS	15
#define BACKLOG 1024 /* packets held in the all-backlogged case, however many leaves */

static struct nio_pkt pkts[NPKT];
static struct nio_pkt *free_list[NPKT];
static unsigned nfree;
static uint64_t last_n; /* packets of the last backlogged() run */

static void put(struct nio_pkt *p)
{
	free_list[nfree++] = p;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double tsc_hz(void)
{
	uint64_t n0 = mono_ns(), t0 = __rdtsc();

	usleep(200000);
	return (double)(__rdtsc() - t0) * 1e9 / (double)(mono_ns() - n0);
}

/* Every flow classified once before the clock starts, as a running shaper has: the first
 * packet of a flow walks the rules (every class's, 256 of them at most here), which in a run
 * of 128 000 packets would add a cost that grows with the classes but is paid once a flow. */
static void warm(struct qos *q, unsigned nclasses)
{
	struct nio_pkt p = { .flags = NIO_PKT_F_L4 };

	for (unsigned i = 0; i < nclasses; i++) {
		p.key.dport = (uint16_t)(1000 + i);
		(void)qos_classify(q, &p);
	}
}

/* A root of 100 Gbit/s over nclasses leaves of equal weight, leaf i taking destination port
 * 1000 + i: the shaper never waits, so the loop measures bookkeeping (classification, bucket
 * refills, the level look, DRR), not the rate. Each leaf's own rate is the root's, so no leaf
 * ever borrows, whatever the number of leaves: with leaves of 1 Gbit/s (before 2026-12-04),
 * one leaf ran out of its own rate after 3 % of the run and borrowed from then on, 16 or 64
 * leaves ran out part way, 256 never did, so the cases compared different work as well as
 * different numbers of leaves. Borrowing is measured where every leaf borrows at every tree
 * size: all backlogged. */
static void build(struct qos *q, unsigned nclasses)
{
	struct qos_class_conf cc = {
		.name = "root", .parent = -1, .rate = 100000000000ull, .weight = 1, .limit = NPKT
	};
	char err[128], name[16];

	qos_sched_init(&q->sched, 1514, put);
	if (qos_sched_add(&q->sched, &cc, 0, err, sizeof(err)) < 0)
		exit(1);
	for (unsigned i = 0; i < nclasses; i++) {
		int k;

		snprintf(name, sizeof(name), "c%u", i);
		cc = (struct qos_class_conf){ .name = name,
					      .parent = 0,
					      .rate = 100000000000ull,
					      .weight = 1 + i % 4,
					      .limit = NPKT };
		if ((k = qos_sched_add(&q->sched, &cc, 0, err, sizeof(err))) < 0)
			exit(1);
		q->sched.cls[k].match.dport_lo = q->sched.cls[k].match.dport_hi =
			(uint16_t)(1000 + i);
	}
	q->def_cls = 1;
	qos_classify_init(q);
	warm(q, nclasses);
}

/* Bursts of burst packets spread over `used` leaves in turn, each released at once; the
 * packets sent. A function of its own for callgrind (--toggle-collect=shaper_loop*). */
__attribute__((noinline)) static uint64_t shaper_loop(struct qos *q, unsigned burst, unsigned used)
{
	struct nio_pkt *out[256], *in[256];
	uint64_t now = 1, next, n = 0;
	unsigned leaf = 0;
	int8_t res[256];

	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned i = 0; i < burst; i++, leaf = leaf + 1 == used ? 0 : leaf + 1) {
			struct nio_pkt *p = in[i] = free_list[--nfree];

			p->len = 64 + (i * 97) % 1400;
			p->flags = NIO_PKT_F_L4;
			p->key.dport = (uint16_t)(1000 + leaf);
		}
		qos_enqueue_burst(q, in, (uint16_t)burst, now, res);
		for (unsigned i = 0; i < burst; i++)
			if (res[i] < 0)
				put(in[i]);
		now += 1000;
		for (uint16_t got; (got = qos_sched_dequeue(&q->sched, now, out, 256, &next)) > 0;
		     n += got)
			for (uint16_t i = 0; i < got; i++)
				put(out[i]);
	}
	return n;
}

/* TSC cycles per packet through classify + enqueue + dequeue, bursts of burst packets spread
 * over `used` of the leaves in turn (0: all of them, so every leaf is used whatever the burst). */
static double shaper(unsigned nclasses, unsigned burst, unsigned used)
{
	static struct qos q;
	uint64_t t0, n;

	build(&q, nclasses);
	used = used && used < nclasses ? used : nclasses;
	for (nfree = 0; nfree < NPKT; nfree++)
		free_list[nfree] = &pkts[nfree];
	t0 = __rdtsc();
	n = last_n = shaper_loop(&q, burst, used);
	t0 = __rdtsc() - t0;
	qos_sched_fini(&q.sched);
	return (double)t0 / (double)n;
}

/* Every leaf backlogged and the root the bottleneck: the root at 10 Gbit/s with small bursts,
 * leaf i at 10 Gbit/s / nclasses (ceil: the root's), BACKLOG packets spread over the leaves at
 * the start (the same packets in flight whatever the tree, so that the packets' own cache
 * footprint does not grow with the leaves); every microsecond of simulated time the shaper
 * releases what the root earned (~2 packets) and as many new packets arrive, on the leaves in
 * turn. So all nclasses leaves stay active, borrow and wait on their buckets, as under a
 * shaper at its rate. A leaf's FIFO holds 64 + BACKLOG / nclasses packets: small enough not
 * to be pages first touched inside the timed loop. The loop is a function of its own so
 * that callgrind can count its instructions alone (--toggle-collect=backlogged_loop*). */
__attribute__((noinline)) static uint64_t backlogged_loop(struct qos *q, unsigned nclasses,
							  unsigned rounds)
{
	struct nio_pkt *out[256], *in[256];
	uint64_t now = 1, next, n = 0;
	unsigned leaf = 0, want = BACKLOG;
	int8_t res[256];

	for (unsigned r = 0; r < rounds; r++, now += 1000) {
		while (want) {
			unsigned k = 0;

			for (; want && k < 256;
			     want--, k++, leaf = leaf + 1 == nclasses ? 0 : leaf + 1) {
				struct nio_pkt *p = in[k] = free_list[--nfree];

				p->len = 64 + (uint32_t)(n + want) * 97 % 1400;
				p->flags = NIO_PKT_F_L4;
				p->key.dport = (uint16_t)(1000 + leaf);
			}
			qos_enqueue_burst(q, in, (uint16_t)k, now, res);
			for (unsigned i = 0; i < k; i++)
				if (res[i] < 0)
					put(in[i]);
		}
		for (uint16_t got; (got = qos_sched_dequeue(&q->sched, now, out, 256, &next)) > 0;
		     n += got, want += got)
			for (uint16_t i = 0; i < got; i++)
				put(out[i]);
	}
	return n;
}

static double backlogged(unsigned nclasses)
{
	static struct qos q;
	struct qos_class_conf cc = { .name = "root",
				     .parent = -1,
				     .rate = 10000000000ull,
				     .burst = 4096,
				     .cburst = 4096,
				     .weight = 1,
				     .limit = NPKT };
	char err[128], name[16];
	uint64_t t0, n;

	qos_sched_init(&q.sched, 1514, put);
	if (qos_sched_add(&q.sched, &cc, 0, err, sizeof(err)) < 0)
		exit(1);
	for (unsigned i = 0; i < nclasses; i++) {
		int k;

		snprintf(name, sizeof(name), "c%u", i);
		cc = (struct qos_class_conf){ .name = name,
					      .parent = 0,
					      .rate = 10000000000ull / nclasses,
					      .weight = 1,
					      .limit = 64 + BACKLOG / nclasses };
		if ((k = qos_sched_add(&q.sched, &cc, 0, err, sizeof(err))) < 0)
			exit(1);
		q.sched.cls[k].match.dport_lo = q.sched.cls[k].match.dport_hi =
			(uint16_t)(1000 + i);
	}
	q.def_cls = 1;
	qos_classify_init(&q);
	warm(&q, nclasses);
	for (nfree = 0; nfree < NPKT; nfree++)
		free_list[nfree] = &pkts[nfree];
	t0 = __rdtsc();
	n = last_n = backlogged_loop(&q, nclasses, 8 * ROUNDS);
	t0 = __rdtsc() - t0;
	if (q.sched.qlen < nclasses)
		fprintf(stderr, "backlogged: %llu packets held, fewer than %u leaves\n",
			(unsigned long long)q.sched.qlen, nclasses);
	qos_sched_fini(&q.sched);
	return (double)t0 / (double)n;
}

/* TSC cycles per packet metered by a colour-blind srTCM policer that drops red: 1 Gbit/s
 * committed against ~1.3 Gbit/s offered (mixed sizes every 4 ns of simulated time), so
 * all three colours occur. */
static double policer(void)
{
	static struct qos_policer pol;
	uint64_t now = 0, t0, n = (uint64_t)ROUNDS * 256;

	memset(&pol, 0, sizeof(pol));
	qos_srtcm_init(&pol.meter, 1000000000ull, 16384, 16384, 0);
	qos_match_any(&pol.match);
	pol.action[QOS_GREEN] = QOS_ACT_PASS;
	pol.action[QOS_YELLOW] = QOS_ACT_PASS;
	pol.action[QOS_RED] = QOS_ACT_DROP;
	t0 = __rdtsc();
	for (uint64_t i = 0; i < n; i++) {
		struct nio_pkt *p = &pkts[i % NPKT];

		p->len = 64 + (uint32_t)(i * 97) % 1400;
		now += 4000;
		(void)qos_police(&pol, p, now);
	}
	t0 = __rdtsc() - t0;
	if (!pol.colored[QOS_GREEN] || !pol.colored[QOS_RED])
		fprintf(stderr, "policer: colours %llu/%llu/%llu, not a mix\n",
			(unsigned long long)pol.colored[0], (unsigned long long)pol.colored[1],
			(unsigned long long)pol.colored[2]);
	return (double)t0 / (double)n;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* median (min-max) of RUNS figures, in cycles and ns */
static void report(const char *what, double *v, double ghz)
{
	qsort(v, RUNS, sizeof(v[0]), cmp);
	printf("  %-34s %7.1f (%.1f-%.1f) cycles  %6.1f ns\n", what, v[RUNS / 2], v[0], v[RUNS - 1],
	       v[RUNS / 2] / ghz);
}

/* "qos_bench backlogged|all|four N": one run of that case with N leaves, for callgrind
 * (instructions / packets) */
static int one(const char *what, const char *leaves)
{
	unsigned n = (unsigned)atoi(leaves);
	double c = !strcmp(what, "backlogged") ? backlogged(n)
		   : !strcmp(what, "all")      ? shaper(n, 64, 0)
					       : shaper(n, 64, 4);

	printf("%s %s leaves: %llu packets, %.1f TSC cycles per packet\n", what, leaves,
	       (unsigned long long)last_n, c);
	return 0;
}

/* The shaper cases: the traffic in 4 leaves whatever the tree (what more classes cost by
 * being there); in every leaf in turn (64 / leaves packets per leaf and round); every leaf
 * backlogged, the shaper at its rate (what active leaves cost). */
static const char *const kinds[] = { "traffic in 4", "traffic in all", "all backlogged" };
static const unsigned classes[] = { 1, 4, 16, 64, 256 };
#define NKINDS	 (sizeof(kinds) / sizeof(kinds[0]))
#define NCLASSES (sizeof(classes) / sizeof(classes[0]))

static double run_case(size_t kind, unsigned nclasses)
{
	return kind == 0   ? shaper(nclasses, 64, 4)
	       : kind == 1 ? shaper(nclasses, 64, 0)
			   : backlogged(nclasses);
}

/* One untimed pass over every case (each starts with the code, the tree's memory and the
 * packets touched once), then RUNS passes, the cases interleaved within each: whatever the
 * machine does meanwhile (another tenant of the core, a frequency change lasting seconds)
 * falls on every case alike instead of on the ones measured while it lasted. */
static void shapers(double ghz)
{
	static double v[NKINDS][NCLASSES][RUNS];
	char what[64];

	for (size_t k = 0; k < NKINDS; k++)
		for (size_t i = 0; i < NCLASSES; i++)
			(void)run_case(k, classes[i]);
	for (int r = 0; r < RUNS; r++)
		for (size_t k = 0; k < NKINDS; k++)
			for (size_t i = 0; i < NCLASSES; i++)
				v[k][i][r] = run_case(k, classes[i]);
	for (size_t k = 0; k < NKINDS; k++)
		for (size_t i = 0; i < NCLASSES; i++) {
			snprintf(what, sizeof(what), "shaper: %u leaves, %s", classes[i], kinds[k]);
			report(what, v[k][i], ghz);
		}
	/* the measure: the worst tree against 1 leaf (report() sorted the runs) */
	for (size_t k = 0; k < NKINDS; k++) {
		double med = 0, min = 0;

		for (size_t i = 1; i < NCLASSES; i++) {
			double m = v[k][i][RUNS / 2] / v[k][0][RUNS / 2],
			       n = v[k][i][0] / v[k][0][0];

			med = m > med ? m : med;
			min = n > min ? n : min;
		}
		printf("  shaper: %-16s worst of %u-%u leaves / 1: median %+.0f %%, min %+.0f %%\n",
		       kinds[k], classes[1], classes[NCLASSES - 1], (med - 1) * 100,
		       (min - 1) * 100);
	}
}

int main(int argc, char **argv)
{
	double ghz, v[RUNS];

	if (argc == 3)
		return one(argv[1], argv[2]);
	ghz = tsc_hz() / 1e9;

	printf("qos core, TSC cycles per packet (TSC %.2f GHz), median (min-max) of %d runs\n", ghz,
	       RUNS);
	(void)policer();
	for (int r = 0; r < RUNS; r++)
		v[r] = policer();
	report("policer: srTCM, colour-blind", v, ghz);
	shapers(ghz);
	return 0;
}

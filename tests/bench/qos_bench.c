/* Benchmark of the qos core: ns per packet through classify-free enqueue + dequeue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../services/qos/qos.h"

#define NPKT   4096
#define ROUNDS 2000

static struct nio_pkt pkts[NPKT];
static struct nio_pkt *free_list[NPKT];
static unsigned nfree;

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

/* A root of 100 Gbit/s over nclasses leaves of equal weight: the shaper never waits, so the
 * loop measures bookkeeping (bucket refills, lender search, DRR), not the rate. */
static void build(struct qos_sched *s, unsigned nclasses)
{
	struct qos_class_conf cc = {
		.name = "root", .parent = -1, .rate = 100000000000ull, .weight = 1, .limit = NPKT
	};
	char err[128], name[16];

	qos_sched_init(s, 1514, put);
	if (qos_sched_add(s, &cc, 0, err, sizeof(err)) < 0)
		exit(1);
	for (unsigned i = 0; i < nclasses; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		cc = (struct qos_class_conf){ .name = name,
					      .parent = 0,
					      .rate = 1000000000ull,
					      .weight = 1 + i % 4,
					      .limit = NPKT };
		if (qos_sched_add(s, &cc, 0, err, sizeof(err)) < 0)
			exit(1);
	}
}

static double run(unsigned nclasses, unsigned burst)
{
	static struct qos_sched s;
	struct nio_pkt *out[256];
	uint64_t now = 1, next, t0, n = 0;

	build(&s, nclasses);
	for (nfree = 0; nfree < NPKT; nfree++)
		free_list[nfree] = &pkts[nfree];
	t0 = mono_ns();
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned i = 0; i < burst; i++) {
			struct nio_pkt *p = free_list[--nfree];

			p->len = 64 + (i * 97) % 1400;
			if (qos_sched_enqueue(&s, 1 + (i % nclasses), p, now) < 0)
				put(p);
		}
		now += 1000;
		for (uint16_t got; (got = qos_sched_dequeue(&s, now, out, 256, &next)) > 0;
		     n += got)
			for (uint16_t i = 0; i < got; i++)
				put(out[i]);
	}
	qos_sched_fini(&s);
	return (double)(mono_ns() - t0) / (double)n;
}

int main(void)
{
	static const unsigned classes[] = { 1, 4, 16, 63 };

	printf("qos scheduler: enqueue + dequeue, bursts of 64\n");
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		printf("  %2u leaves: %6.1f ns/packet\n", classes[i], run(classes[i], 64));
	return 0;
}

/* classbench: what the claim hint saves a new flow's classification (TSC cycles per packet). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "../../netiod/netiod.h"

#define NKEYS 4096
#define REPS  50
#define RUNS  9

static struct nio_config cfg;
static struct nio_pkt pkts[NKEYS];

static int taken(struct nio_port *port, const struct nio_claim *claims, unsigned n, char *err,
		 size_t errlen)
{
	(void)port;
	(void)claims;
	(void)n;
	(void)err;
	(void)errlen;
	return 0;
}

static const struct nio_port_ops kmod_like = { .name = "claims", .set_claims = taken };
static struct nio_port port = { .ops = &kmod_like };

static void prefix(struct nio_prefix *p, const char *s)
{
	if (nio_prefix_parse(s, p) < 0)
		fatalx("bad prefix %s", s);
}

/*
 * n pipelines on one port, each a UDP flow set to its own /30 of 198.51.100.0/24 (the last is
 * the one the packets match); overlap: pipeline 0 takes the whole /24 for UDP port 53, which
 * the packets (port 4789) miss but the claims after it overlap: every hint is ignored (the
 * hint's worst case: its checks, then the scan).
 */
static void config(unsigned n, bool overlap)
{
	char s[32];

	nio_config_hints_free(&cfg);
	memset(&cfg, 0, sizeof(cfg));
	cfg.nports = 1;
	cfg.ports[0] = &port;
	for (unsigned i = 0; i < n; i++) {
		struct nio_match *m = &cfg.pipelines[i].match;

		m->in_port = 0;
		m->proto = 17;
		m->sport_hi = m->dport_hi = 65535;
		snprintf(s, sizeof(s), "198.51.100.%u/30", (i * 4) % 256);
		prefix(&m->dst[m->ndst++], s);
		cfg.npipelines++;
	}
	if (overlap) {
		struct nio_match *m = &cfg.pipelines[0].match;

		m->dport_lo = m->dport_hi = 53;
		prefix(&m->dst[0], "198.51.100.0/24");
	}
	if (nio_config_hints(&cfg) < 0)
		fatalx("hints");
}

/* Packets of NKEYS flows to the last pipeline's /30, with its claim as the driver reads it. */
static void packets(unsigned n)
{
	for (unsigned i = 0; i < NKEYS; i++) {
		struct nio_pkt *p = &pkts[i];
		uint8_t v4[4] = { 203, 0, 113, (uint8_t)i };
		uint8_t d4[4] = { 198, 51, 100, (uint8_t)(((n - 1) * 4) % 256 + 1) };

		memset(p, 0, sizeof(*p));
		nio_addr_from_v4(p->key.src, v4);
		nio_addr_from_v4(p->key.dst, d4);
		p->key.family = 4;
		p->key.proto = 17;
		p->key.sport = (uint16_t)(1024 + i);
		p->key.dport = 4789;
		p->claim_hint = NIO_CLAIM_ID(n - 1, 0) + 1;
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* As the worker classifies a new flow (worker.c classify(), its counter aside). */
static int classify_hinted(const struct nio_pkt *p)
{
	int pl = nio_classify_hint(&cfg, p);

	return pl >= 0 ? pl : nio_classify(&cfg, &p->key);
}

/* Cycles per classification of one pass over the packets; sum keeps the calls. */
static double pass(bool hinted, long *sum)
{
	uint64_t t0 = __rdtsc();

	for (unsigned k = 0; k < REPS; k++)
		for (unsigned i = 0; i < NKEYS; i++)
			*sum += hinted ? classify_hinted(&pkts[i])
				       : nio_classify(&cfg, &pkts[i].key);
	return (double)(__rdtsc() - t0) / (REPS * NKEYS);
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(v[0]), cmp);
	return v[RUNS / 2];
}

/* Scan and hinted classification alternated RUNS times (the machine's load hits both alike);
 * medians. Both must give every packet the last pipeline. */
static void measure(unsigned n, double *scan, double *hinted, long *sum)
{
	double s[RUNS], h[RUNS];

	for (unsigned i = 0; i < NKEYS; i++)
		if (classify_hinted(&pkts[i]) != (int)n - 1 ||
		    nio_classify(&cfg, &pkts[i].key) != (int)n - 1)
			fatalx("packet %u classified wrongly", i);
	for (unsigned r = 0; r < RUNS; r++) {
		s[r] = pass(false, sum);
		h[r] = pass(true, sum);
	}
	*scan = median(s);
	*hinted = median(h);
}

int main(void)
{
	static const unsigned depth[] = { 1, 4, 16, 64 };
	long sum = 0;

	log_init(0);
	printf("| flow's pipeline (of as many) | scan | with the hint | scan, earlier overlap | "
	       "hint ignored, earlier overlap |\n|---:|---:|---:|---:|---:|\n");
	for (unsigned d = 0; d < sizeof(depth) / sizeof(depth[0]); d++) {
		unsigned n = depth[d];
		double scan, hint, oscan = 0, ohint = 0;

		config(n, false);
		packets(n);
		measure(n, &scan, &hint, &sum);
		if (n > 1) {
			config(n, true);
			measure(n, &oscan, &ohint, &sum);
			printf("| %u | %.0f | %.0f | %.0f | %.0f |\n", n, scan, hint, oscan, ohint);
		} else {
			printf("| %u | %.0f | %.0f | — | — |\n", n, scan, hint);
		}
	}
	nio_config_hints_free(&cfg);
	fprintf(stderr, "(checksum %ld)\n", sum); /* the loops' results are used */
	return 0;
}

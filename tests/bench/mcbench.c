/* mcbench: how netiod's workers scale (1 vs 2 workers, in memory, no I/O) and what a handoff
 * between two workers costs per packet. */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <netio/csum.h>

#include "../../netiod/netiod.h"

#define FRAME	   60
#define NFLOWS	   256 /* per generator queue: the flow tables are hit, not filled */
#define WARM_S	   0.3
#define RUNS_MAX   9
#define RING_BURST 32

/* ------------------------------------------------------------------ in-memory ports */

/* Per worker, on its own cache line: packets generated and packets that reached the sink. */
struct row {
	_Alignas(64) uint64_t gen, sunk;
};
static struct row rows[NIO_MAX_WORKERS];
static atomic_int generating;
static uint8_t tmpl[FRAME];

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void frame_init(void)
{
	uint8_t *ip = tmpl + 14;

	memcpy(tmpl, "\x02\0\0\0\0\x01\x02\0\0\0\0\x0a\x08\x00", 14);
	ip[0] = 0x45;
	wr16(ip + 2, FRAME - 14);
	wr16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\xc0\x00\x02\x0a", 4);
	memcpy(ip + 16, "\xc6\x33\x64\x0a", 4);
	wr16(ip + 10, nio_csum(ip, 20));
	wr16(ip + 22, 9);
	wr16(ip + 24, FRAME - 34);
}

/* Each worker's queue makes its own flows (as a fanout group or RSS would hand them out). */
static uint16_t gen_rx(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
		       uint16_t max)
{
	struct row *r = &rows[nio_worker_self()];
	uint16_t n = 0;

	if (port->id || !atomic_load_explicit(&generating, memory_order_relaxed))
		return 0;
	while (n < max && (pkts[n] = nio_pool_get(pool))) {
		struct nio_pkt *p = pkts[n++];

		memcpy(p->data, tmpl, FRAME);
		wr16(p->data + 34, (uint16_t)(1024 + nio_worker_self() * NFLOWS + r->gen % NFLOWS));
		p->len = FRAME;
		p->in_port = port->id;
		r->gen++;
	}
	return n;
}

static uint16_t sink_tx(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	(void)port;
	(void)pkts;
	rows[nio_worker_self()].sunk += n;
	return n;
}

static void no_close(struct nio_port *port)
{
	(void)port;
}

static const struct nio_port_ops mem_ops = {
	.name = "mcbench", .close = no_close, .rx_burst = gen_rx, .tx_burst = sink_tx
};

/* ------------------------------------------------------------------ one measurement */

static struct netiod d;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t sunk(void)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < NIO_MAX_WORKERS; i++)
		s += __atomic_load_n(&rows[i].sunk, __ATOMIC_RELAXED);
	return s;
}

/* CPU seconds the worker threads got: on a loaded machine a worker is not always running. */
static double workers_cpu(void)
{
	double t = 0;

	for (unsigned i = 0; i < d.nworkers; i++) {
		struct timespec ts;
		clockid_t cid;

		if (pthread_getcpuclockid(d.workers[i].thread, &cid) == 0 &&
		    clock_gettime(cid, &ts) == 0)
			t += (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	return t;
}

struct rate {
	double pps;	/* packets per second of wall time */
	double per_cpu; /* packets per second of worker CPU time */
};

/* Packets through nworkers workers running chain for secs seconds. */
static struct rate measure(unsigned nworkers, const char *chain, double secs)
{
	char text[1024], err[512];
	struct nio_config *c;
	double t0, t1, c0, c1;
	uint64_t s0, s1;

	memset(rows, 0, sizeof(rows));
	d.nworkers = nworkers;
	snprintf(text, sizeof(text),
		 "spin-us = 1000000\nflow-table-size = 4096\n"
		 "port lan { driver = \"pcap\" output = \"/dev/null\" mac = \"02:00:00:00:00:01\" "
		 "}\n"
		 "port wan { driver = \"pcap\" output = \"/dev/null\" mac = \"02:00:00:00:00:02\" "
		 "}\n"
		 "pipeline bench { match { in = \"lan\" } %s out = \"wan\" "
		 "dst-mac = \"02:00:00:00:00:03\" }\n",
		 chain);
	if (!(c = nio_config_load(&d, NULL, text, err, sizeof(err))))
		fatalx("%s", err);
	for (unsigned i = 0; i < c->nports; i++) {
		c->ports[i]->ops = &mem_ops;
		c->ports[i]->open = true;
		c->ports[i]->refs = 1;
		c->ports[i]->nqueues = nworkers;
		c->ports[i]->id = (uint16_t)i;
	}
	if (nio_apply_config(&d, c, err, sizeof(err)) < 0 || nio_workers_init(&d) < 0 ||
	    nio_workers_start(&d, NULL, 0) < 0)
		fatalx("workers: %s", err);
	atomic_store(&generating, 1);
	usleep((useconds_t)(WARM_S * 1e6));
	s0 = sunk();
	t0 = now_s();
	c0 = workers_cpu();
	usleep((useconds_t)(secs * 1e6));
	s1 = sunk();
	t1 = now_s();
	c1 = workers_cpu();
	atomic_store(&generating, 0);
	nio_workers_stop(&d);
	nio_config_free(d.running);
	d.running = NULL;
	nio_workers_fini(&d);
	memset(d.workers, 0, sizeof(d.workers));
	return (struct rate){ (double)(s1 - s0) / (t1 - t0), (double)(s1 - s0) / (c1 - c0) };
}

/* ------------------------------------------------------------------ the handoff ring alone */

static struct nio_pktring ring;
static struct nio_pkt ring_pkts[4096];
static uint8_t ring_bufs[4096][128];
static atomic_int ring_go;
static uint64_t ring_n;

static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* The consumer reads each packet's header, as dispatch() does: the cache line moves cores. */
static void *ring_consumer(void *arg)
{
	struct nio_pkt *pkts[RING_BURST];
	uint64_t got = 0, sum = 0;

	pin_self(*(int *)arg);
	while (got < ring_n) {
		uint16_t n = nio_pktring_get(&ring, pkts, RING_BURST);

		for (uint16_t i = 0; i < n; i++)
			sum += pkts[i]->data[23] + pkts[i]->len;
		got += n;
	}
	atomic_store(&ring_go, (int)(sum & 1) + 2);
	return NULL;
}

/* Cycles per packet for bursts of 32 from one core to the other, the producer writing each
 * packet's header first (as a receiving worker does). */
static double ring_cycles(int cpu_a, int cpu_b, uint64_t n)
{
	pthread_t th;
	uint64_t put = 0, t0;

	if (nio_pktring_init(&ring, NIO_HANDOFF_RING) < 0)
		fatalx("ring");
	for (unsigned i = 0; i < 4096; i++)
		ring_pkts[i].data = ring_bufs[i];
	ring_n = n;
	atomic_store(&ring_go, 0);
	pin_self(cpu_a);
	pthread_create(&th, NULL, ring_consumer, &cpu_b);
	t0 = __rdtsc();
	while (put < n) {
		struct nio_pkt *b[RING_BURST];

		for (unsigned i = 0; i < RING_BURST; i++) {
			b[i] = &ring_pkts[(put + i) % 4096];
			memcpy(b[i]->data, tmpl, FRAME);
			b[i]->len = FRAME;
		}
		put += nio_pktring_put(&ring, b, RING_BURST);
	}
	pthread_join(th, NULL);
	t0 = __rdtsc() - t0;
	nio_pktring_fini(&ring);
	return (double)t0 / (double)n;
}

/* ------------------------------------------------------------------ report */

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Interleaved 1- and 2-worker runs, so a change in the machine's load hits both alike. Two
 * ratios: of wall-clock rates (what this machine gave, other load included) and twice the
 * ratio of rates per worker CPU-second (what two idle CPUs would give: 2.0 is linear).
 */
static void scaling(const char *name, const char *chain, unsigned runs, double secs)
{
	double one[RUNS_MAX] = { 0 }, two[RUNS_MAX] = { 0 }, ratio[RUNS_MAX] = { 0 },
	       cpu[RUNS_MAX] = { 0 };
	double m1, m2, mr, mc;

	for (unsigned r = 0; r < runs; r++) {
		struct rate a = measure(1, chain, secs), b = measure(2, chain, secs);

		one[r] = a.pps;
		two[r] = b.pps;
		ratio[r] = b.pps / a.pps;
		cpu[r] = 2 * b.per_cpu / a.per_cpu;
	}
	m1 = median(one, runs);
	m2 = median(two, runs);
	mr = median(ratio, runs);
	mc = median(cpu, runs);
	/* median() sorted ratio and cpu: [0] and [runs - 1] are the extremes */
	printf("| %s | %.2f | %.2f | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) |\n", name, m1 / 1e6,
	       m2 / 1e6, mr, ratio[0], ratio[runs - 1], mc, cpu[0], cpu[runs - 1]);
}

static void usage(void)
{
	fprintf(stderr, "usage: mcbench -P plugin-dir [-r runs] [-t seconds]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	unsigned runs = 5;
	double secs = 1.0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int ch;

	log_init(0);
	while ((ch = getopt(argc, argv, "P:r:t:")) != -1) {
		if (ch == 'P')
			snprintf(d.plugin_dir, sizeof(d.plugin_dir), "%s", optarg);
		else if (ch == 'r')
			runs = (unsigned)atoi(optarg);
		else if (ch == 't')
			secs = atof(optarg);
		else
			usage();
	}
	if (!d.plugin_dir[0] || runs < 1 || runs > RUNS_MAX || secs <= 0)
		usage();
	if (nio_plugin_load_dir(&d, d.plugin_dir) < 0)
		fatalx("no plugins in %s", d.plugin_dir);
	frame_init();
	printf("%ld CPUs online; %u interleaved 1- and 2-worker runs of %.1f s per row, 60-byte "
	       "UDP frames, %d flows per worker queue (as a fanout group hands them out); workers "
	       "pinned as netiod pins them; figures are per-run ratios, the machine's load shifts "
	       "the rates.\n\n",
	       ncpu, runs, secs, NFLOWS);
	printf("| chain | 1 worker Mpps | 2 workers Mpps | 2/1 wall clock, median (min-max) | 2/1 "
	       "per worker CPU-s x 2, median (min-max) |\n");
	printf("|---|---:|---:|---:|---:|\n");
	scaling("null (no service)", "", runs, secs);
	scaling("mark (MT-safe, shared atomic counters)", "service mark { dscp = 10 }", runs, secs);
	scaling("qos policer (one owner: the other worker hands over)",
		"service qos { policer all { cir = \"1000gbit\" cbs = \"64m\" ebs = \"64m\" } }",
		runs, secs);
	if (ncpu > 1) {
		double cyc[RUNS_MAX] = { 0 }, med;

		for (unsigned r = 0; r < runs; r++)
			cyc[r] = ring_cycles(0, 1, 4000000);
		med = median(cyc, runs); /* sorts: cyc[0] is the minimum */
		/* a descheduled producer or consumer inflates a run; the minimum is the cost */
		printf("\nHandoff ring alone (CPU 0 -> CPU 1, bursts of %d, producer writes and "
		       "consumer "
		       "reads each packet's header): **%.1f TSC cycles per packet** (min of %u "
		       "runs; "
		       "median %.1f).\n",
		       RING_BURST, cyc[0], runs, med);
	}
	return 0;
}

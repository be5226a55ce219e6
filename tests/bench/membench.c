/* In-memory bench: generated bursts through netiod's real worker, pipelines and plugins (TSC cycles). */
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "../../netiod/iso.h"
#include "membench.h"

#define RUNS_MAX    15
#define NBURSTS	    5
#define NMIXES	    3
#define NCHAINS	    15
#define ROW_TOUCH   NCHAINS
#define ROW_COPY    (NCHAINS + 1)
#define NROWS	    (NCHAINS + 2)
#define RUN_TIMEOUT 120 /* seconds: a run that takes longer is a bug, not a figure */
#define R2_BURST    2	/* index of burst 32, the default, for the marginal-cost table */

static const struct mb_mix mixes[NMIXES] = {
	{ "64 B", 1, { 60 } },
	{ "IMIX 7:4:1", 12, { 60, 572, 60, 60, 572, 60, 1496, 60, 572, 60, 60, 572 } },
	{ "1518 B", 1, { 1514 } },
};
static const unsigned bursts[NBURSTS] = { 1, 8, 32, 64, 256 };

struct chain {
	const char *name;
	const char *svcs[4]; /* service block names, see svc_block() */
};

static const struct chain chains[NCHAINS] = {
	{ "null (no service)", { NULL } },
	{ "mark (DSCP re-mark)", { "mark" } },
	{ "tunnel (VXLAN encap)", { "tunnel" } },
	{ "tunnel (GENEVE encap)", { "tunnel-geneve" } },
	{ "tunnel (GRE encap)", { "tunnel-gre" } },
	{ "tunnel (IPIP encap)", { "tunnel-ipip" } },
	{ "qos (srTCM policer)", { "qos" } },
	{ "crypto ESP AES-128-GCM (openssl)", { "crypto-openssl" } },
	{ "crypto ESP AES-128-GCM (ipsec-mb)", { "crypto-ipsec-mb" } },
	{ "full: mark+qos+crypto(auto)+tunnel", { "mark", "qos", "crypto-auto", "tunnel" } },
	/* tests/bench/plugins/nop.c: passes every packet untouched (the crossing alone) */
	{ "nop (no-op service)", { "nop" } },
	/* the same plugins in netio-svchost (isolate = true): R3 is the crossing's cost (mark
	 * keeps per-flow state in netiod and cannot be isolated) */
	{ "nop, isolated", { "nop/iso" } },
	{ "tunnel (VXLAN encap), isolated", { "tunnel/iso" } },
	{ "tunnel (IPIP encap), isolated", { "tunnel-ipip/iso" } },
	{ "qos (srTCM policer), isolated", { "qos/iso" } },
};
#define CHAIN_ISO_FIRST 11 /* chains[11 + i] is chains[iso_of[i]] isolated */
#define NISO		4
static const unsigned iso_of[NISO] = { 10, 2, 5, 6 };

static struct {
	struct netiod d;
	char key_file[300];
	unsigned runs;
	uint64_t packets;
	const char *only_chain, *only_mix;
	unsigned only_burst;
	bool avail[NCHAINS];
	double cyc[NROWS][NMIXES][NBURSTS][RUNS_MAX];
	/* isolated chain i, 64 B: the crossing's cycles per packet, worker + host, worker, host;
	 * then the host's whole busy time (crossing + plugin) per packet */
	double xing[NISO][4][NBURSTS][RUNS_MAX];
	unsigned undelivered;
} g = { .runs = 5, .packets = 200000 };

/* ------------------------------------------------------------------ configurations */

static int svc_block_of(const char *svc, char *out, size_t len);

/* "NAME/iso": the block of NAME with isolate = true. */
static int svc_block(const char *svc, char *out, size_t len)
{
	const char *iso = strstr(svc, "/iso");
	char name[64], blk[1024], *brace;

	if (!iso)
		return svc_block_of(svc, out, len);
	snprintf(name, sizeof(name), "%.*s", (int)(iso - svc), svc);
	svc_block_of(name, blk, sizeof(blk));
	brace = strchr(blk, '{');
	return snprintf(out, len, "%.*s{ isolate = true %s", (int)(brace - blk), blk, brace + 1);
}

static int svc_block_of(const char *svc, char *out, size_t len)
{
	if (!strcmp(svc, "nop"))
		return snprintf(out, len, "service nop { }\n");
	if (!strcmp(svc, "mark"))
		return snprintf(out, len, "service mark { dscp = 10 }\n");
	if (!strncmp(svc, "tunnel", 6)) /* "tunnel" is VXLAN; "tunnel-<type>" the others */
		return snprintf(out, len,
				"service tunnel { type = \"%s\" local = \"203.0.113.1\" "
				"remote = \"203.0.113.9\" %s mtu = 9000 }\n",
				svc[6] ? svc + 7 : "vxlan",
				!svc[6] || !strcmp(svc + 7, "geneve") ? "vni = 42" : "");
	if (!strcmp(svc, "qos"))
		return snprintf(out, len,
				"service qos { policer all { cir = \"1000gbit\" cbs = \"64m\" "
				"ebs = \"64m\" } }\n");
	return snprintf(
		out, len,
		"service crypto { engine = \"%s\" seq-block = 1048576 sa out { spi = \"0x1001\" "
		"direction = \"out\" cipher = \"aes128-gcm\" key-file = \"%s\" "
		"local = \"203.0.113.1\" remote = \"203.0.113.9\" } }\n",
		svc + strlen("crypto-"), g.key_file);
}

static void config_text(const struct chain *ch, unsigned burst, char *buf, size_t len)
{
	int o = snprintf(buf, len,
			 "burst = %u\nflow-table-size = 4096\nspin-us = 1000000\n"
			 "port lan { driver = \"pcap\" output = \"/dev/null\" "
			 "mac = \"02:00:00:00:00:01\" }\n"
			 "port wan { driver = \"pcap\" output = \"/dev/null\" "
			 "mac = \"02:00:00:00:00:02\" }\n"
			 "pipeline bench {\nmatch { in = \"lan\" dst = \"198.51.100.0/24\" }\n",
			 burst);

	for (unsigned i = 0; i < 4 && ch->svcs[i]; i++)
		o += svc_block(ch->svcs[i], buf + o, len - (size_t)o);
	snprintf(buf + o, len - (size_t)o, "out = \"wan\"\ndst-mac = \"02:00:00:00:00:03\"\n}\n");
}

/* The real loader and plugins; then the two ports get the bench's in-memory drivers. */
static struct nio_config *load(const struct chain *ch, unsigned burst, char *err, size_t errlen)
{
	char text[4096];
	struct nio_config *c;

	config_text(ch, burst, text, sizeof(text));
	c = nio_config_load(&g.d, NULL, text, err, errlen);
	if (!c)
		return NULL;
	for (unsigned i = 0; i < c->nports; i++) {
		c->ports[i]->ops = i == 0 ? &mb_gen_ops : &mb_sink_ops;
		c->ports[i]->open = true;
		c->ports[i]->refs = 1;
	}
	return c;
}

/* Swap the worker's configuration at a quiescent point, as a reload does. */
static void apply(struct nio_config *c)
{
	struct nio_config *old = atomic_load(&g.d.workers[0].cfg);
	char err[256];

	if (nio_workers_pause(&g.d, err, sizeof(err)) < 0)
		fatalx("%s", err);
	nio_workers_set_config(&g.d, c);
	/* before the worker resumes: an isolated instance's buffers go back to its pool */
	nio_config_free(old);
	nio_workers_resume(&g.d);
}

/* ------------------------------------------------------------------ runs */

/* Done: every packet sent, and (an isolated service answers later) every packet sunk. */
static void wait_done(void)
{
	time_t end = time(NULL) + RUN_TIMEOUT;

	while (!atomic_load_explicit(&mb_run.done, memory_order_acquire) ||
	       atomic_load_explicit(&mb_run.sunk_all, memory_order_acquire) < mb_run.total) {
		if (time(NULL) > end)
			fatalx("a run did not finish within %d s: %llu of %llu packets sent, %llu "
			       "sunk",
			       RUN_TIMEOUT, (unsigned long long)mb_run.sent,
			       (unsigned long long)mb_run.total,
			       (unsigned long long)atomic_load(&mb_run.sunk_all));
		usleep(1000);
	}
}

/* One run; returns TSC cycles per packet of what mode measures, NAN if packets went missing. */
static double run(enum mb_mode mode, const struct mb_mix *mix, double *copy)
{
	memset(&mb_run, 0, sizeof(mb_run));
	mb_run.mode = mode;
	mb_run.mix = mix;
	mb_run.warm = 4096;
	mb_run.total = mb_run.warm + g.packets;
	/* release: the parameters are written before the worker's rx_burst sees running */
	atomic_store_explicit(&mb_run.running, 1, memory_order_release);
	wait_done();
	*copy = mb_acc_median(&mb_run.copy);
	if (mb_run.sunk != mb_run.total) {
		g.undelivered++;
		fprintf(stderr, "membench: %s: %llu of %llu packets reached the sink\n", mix->name,
			(unsigned long long)mb_run.sunk, (unsigned long long)mb_run.total);
		return NAN;
	}
	return mb_acc_median(mode == MB_TOUCH ? &mb_run.touch : &mb_run.pipe);
}

static bool chain_selected(unsigned c)
{
	const char *name = chains[c].svcs[1]   ? "full"
			   : chains[c].svcs[0] ? chains[c].svcs[0]
					       : "null";

	size_t n = strlen(name);

	if (!g.avail[c])
		return false;
	if (!g.only_chain)
		return true;
	/* a comma-separated list of names */
	for (const char *p = g.only_chain; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

static bool cell_selected(unsigned m, unsigned b)
{
	return (!g.only_mix || !strcmp(g.only_mix, mixes[m].name)) &&
	       (!g.only_burst || g.only_burst == bursts[b]);
}

/* What the rings themselves cost per packet, as both sides count it (iso_path.c, svchost.c),
 * and the host's busy time with the plugin's: whole runs, warm-up included. */
static void crossing(const struct nio_iso *iso, unsigned i, unsigned b, unsigned r)
{
	double hp = (double)iso->shm->host_xpkts;
	double w = iso->xpkts ? (double)iso->xcyc / (double)iso->xpkts : NAN;
	double h = hp ? (double)iso->shm->host_xcyc / hp : NAN;

	g.xing[i][0][b][r] = w + h;
	g.xing[i][1][b][r] = w;
	g.xing[i][2][b][r] = h;
	g.xing[i][3][b][r] = hp ? h + (double)iso->shm->host_pcyc / hp : NAN;
}

/* An isolated service's host on CPU 0, the worker's on the last: each its own core. */
static void pin_host(const struct nio_config *cfg)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
	    sched_setaffinity(cfg->pipelines[0].svcs[0].iso->pid, sizeof(set), &set) < 0)
		fatal("sched_setaffinity of the host");
}

static void measure_chain(unsigned c, unsigned m, unsigned b, unsigned r)
{
	char err[512];
	struct nio_config *cfg = load(&chains[c], bursts[b], err, sizeof(err));
	double copy;

	if (!cfg)
		fatalx("%s: %s", chains[c].name, err);
	if (c >= CHAIN_ISO_FIRST)
		pin_host(cfg);
	apply(cfg);
	g.cyc[c][m][b][r] = run(MB_PIPE, &mixes[m], &copy);
	if (c >= CHAIN_ISO_FIRST && m == 0)
		crossing(cfg->pipelines[0].svcs[0].iso, c - CHAIN_ISO_FIRST, b, r);
}

/* One round: the references and every chain on the same buffers, back to back. */
static void measure_cell(unsigned m, unsigned b, unsigned r)
{
	char err[512];
	struct nio_config *cfg = load(&chains[0], bursts[b], err, sizeof(err));

	if (!cfg)
		fatalx("null chain: %s", err);
	apply(cfg);
	g.cyc[ROW_TOUCH][m][b][r] = run(MB_TOUCH, &mixes[m], &g.cyc[ROW_COPY][m][b][r]);
	for (unsigned c = 0; c < NCHAINS; c++)
		if (chain_selected(c))
			measure_chain(c, m, b, r);
}

/* ------------------------------------------------------------------ statistics and tables */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, min and max of a[i] - (sub ? sub[i] : 0) over the runs; NAN if any run failed. */
static void stats(const double *a, const double *sub, double out[3])
{
	double v[RUNS_MAX] = { 0 };

	for (unsigned i = 0; i < g.runs; i++)
		v[i] = a[i] - (sub ? sub[i] : 0);
	qsort(v, g.runs, sizeof(v[0]), cmp_double);
	for (unsigned i = 0; i < g.runs; i++)
		if (isnan(v[i]))
			v[0] = v[g.runs / 2] = v[g.runs - 1] = NAN;
	out[0] = g.runs % 2 ? v[g.runs / 2] : (v[g.runs / 2 - 1] + v[g.runs / 2]) / 2;
	out[1] = v[0];
	out[2] = v[g.runs - 1];
}

static void cell(const double *a, const double *sub)
{
	double s[3];

	stats(a, sub, s);
	if (isnan(s[0]))
		printf(" lost packets |");
	else
		printf(" %.0f (%.0f–%.0f) |", s[0], s[1], s[2]);
}

static void header(const char *first)
{
	printf("| %s |", first);
	for (unsigned b = 0; b < NBURSTS; b++)
		printf(" burst %u |", bursts[b]);
	printf("\n|---|");
	for (unsigned b = 0; b < NBURSTS; b++)
		printf("---:|");
	printf("\n");
}

static void row(const char *name, unsigned r, unsigned m, unsigned sub_row)
{
	printf("| %s |", name);
	for (unsigned b = 0; b < NBURSTS; b++)
		cell(g.cyc[r][m][b], sub_row < NROWS ? g.cyc[sub_row][m][b] : NULL);
	printf("\n");
}

static void table_mix(unsigned m)
{
	printf("\n#### %s: TSC cycles per packet, median (min–max) of %u runs\n\n", mixes[m].name,
	       g.runs);
	header("path");
	row("reference: header touch (TTL + checksum)", ROW_TOUCH, m, NROWS);
	row("reference: memcpy of the frame", ROW_COPY, m, NROWS);
	for (unsigned c = 0; c < NCHAINS; c++)
		if (g.avail[c])
			row(chains[c].name, c, m, NROWS);
}

static void table_r1(void)
{
	printf("\n#### R1: null chain minus header touch, cycles per packet (target ≤ 100)\n\n");
	header("frames");
	for (unsigned m = 0; m < NMIXES; m++)
		row(mixes[m].name, 0, m, ROW_TOUCH);
}

static void xing_row(const char *name, const char *what, const double v[NBURSTS][RUNS_MAX])
{
	printf("| %s: %s |", name, what);
	for (unsigned b = 0; b < NBURSTS; b++)
		cell(v[b], NULL);
	printf("\n");
}

/* Both sides' CPU over the in-process chain: the worker's whole time isolated minus in-process,
 * plus the host's busy time (its rings and the plugin), run by run. */
static void both_row(const char *name, unsigned i)
{
	unsigned c = CHAIN_ISO_FIRST + i;

	printf("| %s: both sides over in-process |", name);
	for (unsigned b = 0; b < NBURSTS; b++) {
		double v[RUNS_MAX];

		for (unsigned r = 0; r < g.runs; r++)
			v[r] = g.cyc[c][0][b][r] - g.cyc[iso_of[i]][0][b][r] + g.xing[i][3][b][r];
		cell(v, NULL);
	}
	printf("\n");
}

static void table_r3(void)
{
	static const char *const what[3] = { "crossing, worker + host", "worker side",
					     "host side" };

	printf("\n#### R3: crossing to an isolated service, 64 B frames, cycles per packet "
	       "(target ≤ 20 at burst ≥ 32)\n\nThe rings' own cost as each side counts it (TSC "
	       "around its descriptor loops in turns that moved packets; the plugin excluded), the "
	       "worker's whole time over the same service in-process, and both sides' CPU over "
	       "in-process (that, plus the host's busy time: its rings and the plugin).\n\n");
	header("service");
	for (unsigned i = 0; i < NISO; i++) {
		unsigned c = CHAIN_ISO_FIRST + i;

		if (!chain_selected(c) || !chain_selected(iso_of[i]))
			continue;
		for (unsigned k = 0; k < 3; k++)
			xing_row(chains[c].name, what[k], g.xing[i][k]);
		row(chains[c].name, c, 0, iso_of[i]);
		both_row(chains[c].name, i);
	}
}

static void table_r2(void)
{
	printf("\n#### R2: marginal cost over the null chain at burst %u, cycles per packet "
	       "(target: encap ≤ 50)\n\n| service |",
	       bursts[R2_BURST]);
	for (unsigned m = 0; m < NMIXES; m++)
		printf(" %s |", mixes[m].name);
	printf("\n|---|---:|---:|---:|\n");
	for (unsigned c = 1; c < NCHAINS; c++) {
		if (!g.avail[c])
			continue;
		printf("| %s |", chains[c].name);
		for (unsigned m = 0; m < NMIXES; m++)
			cell(g.cyc[c][m][R2_BURST], g.cyc[0][m][R2_BURST]);
		printf("\n");
	}
}

/* ------------------------------------------------------------------ setup */

static double tsc_hz(void)
{
	struct timespec a, b;
	uint64_t t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = __rdtsc();
	usleep(200000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	t1 = __rdtsc();
	return (double)(t1 - t0) / ((double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fatal("sched_setaffinity %d", cpu);
}

/* A key file for the crypto SAs, mode 0600 as the plugin demands. */
static void make_key(const char *dir)
{
	FILE *f;

	snprintf(g.key_file, sizeof(g.key_file), "%s/bench.key", dir);
	f = fopen(g.key_file, "w");
	if (!f)
		fatal("%s", g.key_file);
	fprintf(f, "000102030405060708090a0b0c0d0e0f a0a1a2a3\n");
	fclose(f);
	chmod(g.key_file, 0600);
}

/* Which chains load here (a crypto engine may be missing on this CPU or build). */
static void probe_chains(void)
{
	char err[512];

	for (unsigned c = 0; c < NCHAINS; c++) {
		struct nio_config *cfg = load(&chains[c], 32, err, sizeof(err));

		g.avail[c] = cfg != NULL;
		if (!cfg)
			printf("\n- %s: not measured: %s\n", chains[c].name, err);
		nio_config_free(cfg);
	}
}

/* The bench's own plugins (nop), built next to membench: without them their chains are not
 * measured. */
static void load_bench_plugins(void)
{
	char exe[512], dir[600];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(dir, sizeof(dir), "%s/plugins", exe);
	if (access(dir, R_OK) == 0)
		nio_plugin_load_dir(&g.d, dir);
}

/* The worker runs on the last CPU, the main thread (which only waits) elsewhere. */
static void start_worker(void)
{
	char err[512];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct nio_config *c = load(&chains[0], 32, err, sizeof(err));

	if (!c)
		fatalx("null chain: %s", err);
	pin((int)ncpu - 1);
	nio_workers_set_config(&g.d, c);
	if (nio_workers_init(&g.d) < 0 || nio_workers_start(&g.d, NULL, 0) < 0)
		fatal("worker");
	if (ncpu > 1)
		pin(0);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: membench -P plugin-dir -s state-dir [-r runs] [-n packets]\n"
		"                [-c "
		"null|mark|tunnel|tunnel-geneve|tunnel-gre|tunnel-ipip|qos|crypto-openssl|"
		"crypto-ipsec-mb|full|nop|nop/iso|tunnel/iso|tunnel-ipip/iso|qos/iso[,...]] [-m "
		"mix] [-b burst]\n");
	exit(1);
}

static void parse_args(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "P:s:r:n:c:m:b:")) != -1) {
		if (ch == 'P')
			snprintf(g.d.plugin_dir, sizeof(g.d.plugin_dir), "%s", optarg);
		else if (ch == 's')
			snprintf(g.d.state_dir, sizeof(g.d.state_dir), "%s", optarg);
		else if (ch == 'r')
			g.runs = (unsigned)atoi(optarg);
		else if (ch == 'n')
			g.packets = strtoull(optarg, NULL, 10);
		else if (ch == 'c')
			g.only_chain = optarg;
		else if (ch == 'm')
			g.only_mix = optarg;
		else if (ch == 'b')
			g.only_burst = (unsigned)atoi(optarg);
		else
			usage();
	}
	if (!g.d.plugin_dir[0] || !g.d.state_dir[0] || g.runs < 1 || g.runs > RUNS_MAX ||
	    g.packets < MB_CHUNK_PKTS || g.packets > MB_PACKETS_MAX)
		usage();
}

int main(int argc, char **argv)
{
	double hz;

	log_init(0);
	parse_args(argc, argv);
	if (nio_spawner_start() < 0) /* for the isolated chains, before anything is loaded */
		fatal("spawner");
	g.d.nworkers = 1; /* cycles per packet of one worker; mcbench measures scaling */
	if (nio_plugin_load_dir(&g.d, g.d.plugin_dir) < 0)
		fatalx("no plugins in %s", g.d.plugin_dir);
	load_bench_plugins();
	make_key(g.d.state_dir);
	mb_frames_init();
	hz = tsc_hz();
	printf("TSC %.3f GHz; %llu packets per run after 4096 warm-up packets; 256 UDP flows; "
	       "worker pinned to CPU %ld, an isolated service's host to CPU 0.\n",
	       hz / 1e9, (unsigned long long)g.packets, sysconf(_SC_NPROCESSORS_ONLN) - 1);
	probe_chains();
	start_worker();
	for (unsigned r = 0; r < g.runs; r++)
		for (unsigned m = 0; m < NMIXES; m++)
			for (unsigned b = 0; b < NBURSTS; b++)
				if (cell_selected(m, b))
					measure_cell(m, b, r);
	for (unsigned m = 0; m < NMIXES; m++)
		table_mix(m);
	table_r1();
	table_r2();
	table_r3();
	nio_workers_stop(&g.d);
	return g.undelivered ? 2 : 0;
}

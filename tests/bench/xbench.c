/* The floor of a descriptor crossing: two threads on two cores pass bursts of 16-byte entries
 * over a pair of SPSC rings with the isolated services' discipline, and nothing else. */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netio/service.h>

#include "../../netiod/isolate.h"

/*
 * D (the worker's role, on the last CPU) sends bursts on the request ring while at most WINDOW
 * entries are in flight and collects the answers; H (the host's, on CPU 0) takes a burst,
 * answers every entry on the response ring. As in iso_path.c and svchost_pkt.c: each side
 * publishes its index once per burst with release, keeps a copy of the other side's index and
 * reads it again (acquire) only when the copy says full or empty, copies each entry once, and
 * D checks each answered index against the bitmap of what it lent; D pays one doorbell look
 * (a full fence, a look at H's "asleep" word) per turn that sent.
 *
 * Levels of what else crosses per entry:
 *   0 entries only (the physical floor of any descriptor crossing);
 *   1 + a 64-byte metadata slot per buffer, written by D before sending and read by H (the
 *     slot the current code moves every packet);
 *   2 + the frame's first cache line, written by D (as its RX does), read by H (a plugin
 *     that parses headers) and written again by D after the answer (its L2 rewrite).
 *
 * Modes: plain; prefetched (each side first asks for every cache line of the burst it is
 * about to read or write: entries, slots, frame lines, prefetchw where it writes, so that the
 * cross-core misses overlap instead of following one another); runs (the answers as
 * iso_path.c takes them now: H answers a burst passed unchanged with one entry naming how
 * many request positions it covers, D finds the buffers in its private record of what it
 * sent and reuses a request slot once its position is answered, without H's tail).
 *
 * Each side counts its busy cycles (TSC from the start to the end of a turn that moved
 * entries; a turn that found nothing is idle polling and not counted): their sum per entry is
 * the CPU a crossing costs. Wall: elapsed TSC per entry (the slower side's pace).
 */
#define SLOTS	   1024u
#define WINDOW	   512u
#define NBUFS	   4096u
#define RUNS_MAX   15
#define BUF_SIZE   2560u
#define NLEVELS	   3
#define NMODES	   3
#define NBURSTS	   4
#define SPIN_LIMIT 30000000000ull /* TSC cycles D waits for an answer before the run is hung */

static const unsigned bursts[NBURSTS] = { 8, 32, 64, 256 };

struct shared {
	struct nio_ring *req, *resp;
	struct nio_xmeta *meta;
	uint8_t *frames;
	_Alignas(64) uint32_t h_asleep; /* never set: both poll; the look is what is paid */
	_Alignas(64) atomic_int go;	/* 1: run, 2: H stops */
	atomic_int h_idle;		/* H saw go == 0: the rings may be reset */
	unsigned burst, level;
	enum { PLAIN, PREFETCHED, RUNS } mode;
	uint64_t total;
	_Alignas(64) uint64_t h_busy, h_pkts;
};

static struct shared S;

static struct nio_ring *ring_new(void)
{
	struct nio_ring *r = aligned_alloc(64, sizeof(*r) + SLOTS * sizeof(struct nio_xent));

	if (!r) {
		perror("aligned_alloc");
		exit(1);
	}
	memset(r, 0, sizeof(*r) + SLOTS * sizeof(struct nio_xent));
	r->num_slots = SLOTS;
	return r;
}

static uint64_t tsc(void)
{
	return nio_iso_clock();
}

static void copy_once(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	__asm__ volatile("" ::: "memory");
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("sched_setaffinity");
}

/* ------------------------------------------------------------------ H */

/* The burst's request and answer lines, then (once the entries are there) its slots and
 * frame lines. */
static void h_prefetch(const struct nio_xent *in, struct nio_xent *out, uint32_t tail,
		       uint32_t head, uint32_t n)
{
	for (uint32_t k = 0; k < n; k += 4) {
		__builtin_prefetch(&in[(tail + k) & (SLOTS - 1)]);
		__builtin_prefetch(&out[(head + k) & (SLOTS - 1)], 1);
	}
	for (uint32_t k = 0; S.level >= 1 && k < n; k++) {
		uint32_t idx = in[(tail + k) & (SLOTS - 1)].idx;

		if (idx >= NBUFS)
			continue;
		__builtin_prefetch(&S.meta[idx]);
		if (S.level >= 2)
			__builtin_prefetch(&S.frames[(size_t)idx * BUF_SIZE + NIO_PKT_HEADROOM]);
	}
}

static unsigned h_turn(uint32_t *req_head, uint8_t *sink)
{
	struct nio_xent *in = nio_iso_ents(S.req), *out = nio_iso_ents(S.resp);
	uint32_t tail = S.req->tail, head = S.resp->head, mask = SLOTS - 1, n;

	if (*req_head == tail)
		*req_head = nio_ring_load_acquire(&S.req->head);
	n = nio_ring_used(*req_head, tail);
	if (!n)
		return 0;
	if (n > S.burst)
		n = S.burst;
	if (S.mode == PREFETCHED)
		h_prefetch(in, out, tail, head, n);
	for (uint32_t k = 0; k < n; k++) {
		struct nio_xent e;

		copy_once(&e, &in[tail++ & mask], sizeof(e));
		if (e.idx >= NBUFS)
			continue;
		if (S.level >= 1) {
			struct nio_xmeta m;

			copy_once(&m, &S.meta[e.idx], sizeof(m));
			*sink += (uint8_t)m.l3_off;
		}
		if (S.level >= 2)
			*sink += S.frames[(size_t)e.idx * BUF_SIZE + e.off + 23]; /* IP protocol */
		e.verdict = NIO_V_PASS;
		if (S.mode != RUNS)
			out[head++ & mask] = e;
	}
	if (S.mode == RUNS)
		out[head++ & mask] = (struct nio_xent){ .xflags = NIO_XF_RUN, .len = (uint16_t)n };
	nio_ring_store_release(&S.req->tail, tail);
	nio_ring_store_release(&S.resp->head, head);
	return n;
}

static void *host(void *arg)
{
	uint32_t req_head = 0;
	uint8_t sink = 0;

	pin(0);
	(void)arg;
	for (;;) {
		int go = atomic_load_explicit(&S.go, memory_order_acquire);
		uint64_t t0;
		unsigned n;

		if (go == 2)
			break;
		if (!go) {
			req_head = 0;
			atomic_store_explicit(&S.h_idle, 1, memory_order_release);
			continue;
		}
		t0 = tsc();
		n = h_turn(&req_head, &sink);
		if (n) {
			S.h_busy += tsc() - t0;
			S.h_pkts += n;
		}
	}
	return (void *)(uintptr_t)sink;
}

/* ------------------------------------------------------------------ D */

struct dside {
	uint64_t lent[NBUFS / 64];
	uint32_t req_tail, resp_head, next_buf, done;
	uint32_t pos[SLOTS]; /* runs: the buffer sent at each request position */
	uint64_t sent, got, busy, bad;
};

static unsigned d_send(struct dside *d)
{
	struct nio_xent *ents = nio_iso_ents(S.req);
	uint32_t head = S.req->head, mask = SLOTS - 1;
	uint64_t left = S.total - d->sent;
	unsigned n = S.burst < left ? S.burst : (unsigned)left;

	if (!n || d->sent - d->got + n > WINDOW)
		return 0;
	if (S.mode == RUNS && SLOTS - (head - d->done) < n)
		return 0;
	if (S.mode != RUNS && SLOTS - nio_ring_used(head, d->req_tail) < n)
		d->req_tail = nio_ring_load_acquire(&S.req->tail);
	for (unsigned k = 0; S.mode == PREFETCHED && k < n; k++) {
		uint32_t idx = (d->next_buf + k) % NBUFS;

		if (!(k % 4))
			__builtin_prefetch(&ents[(head + k) & mask], 1);
		if (S.level >= 1)
			__builtin_prefetch(&S.meta[idx], 1);
		if (S.level >= 2)
			__builtin_prefetch(&S.frames[(size_t)idx * BUF_SIZE + NIO_PKT_HEADROOM], 1);
	}
	for (unsigned k = 0; k < n; k++) {
		uint32_t idx = d->next_buf++ % NBUFS;

		if (S.level >= 1)
			S.meta[idx] = (struct nio_xmeta){ .l3_off = 14, .l4_off = 34, .flags = 5 };
		if (S.level >= 2)
			S.frames[(size_t)idx * BUF_SIZE + NIO_PKT_HEADROOM + 23] = 17;
		d->lent[idx / 64] |= 1ull << (idx % 64);
		d->pos[head & mask] = idx;
		ents[head++ & mask] =
			(struct nio_xent){ .idx = idx, .off = NIO_PKT_HEADROOM, .len = 60 };
	}
	nio_ring_store_release(&S.req->head, head);
	/* the doorbell look a worker pays once per turn that published requests */
	nio_iso_fence();
	if (__atomic_load_n(&S.h_asleep, __ATOMIC_RELAXED))
		d->bad++;
	d->sent += n;
	return n;
}

/* A run: the buffers of the next positions, from D's own record. */
static void d_run(struct dside *d, const struct nio_xent *e)
{
	if (e->len > d->sent - d->got) {
		d->bad++;
		return;
	}
	for (uint16_t k = 0; k < e->len; k++) {
		uint32_t idx = d->pos[d->done++ & (SLOTS - 1)];
		uint64_t bit = 1ull << (idx % 64);

		if (!(d->lent[idx / 64] & bit)) {
			d->bad++;
			continue;
		}
		d->lent[idx / 64] &= ~bit;
		if (S.level >= 2)
			S.frames[(size_t)idx * BUF_SIZE + NIO_PKT_HEADROOM] =
				2; /* the L2 rewrite */
	}
	d->got += e->len;
}

static unsigned d_collect(struct dside *d)
{
	struct nio_xent *ents = nio_iso_ents(S.resp);
	uint32_t tail = S.resp->tail, mask = SLOTS - 1, n;

	if (d->resp_head == tail)
		d->resp_head = nio_ring_load_acquire(&S.resp->head);
	n = nio_ring_used(d->resp_head, tail);
	if (!n)
		return 0;
	if (n > S.burst)
		n = S.burst;
	for (uint32_t k = 0; S.mode == PREFETCHED && k < n; k += 4)
		__builtin_prefetch(&ents[(tail + k) & mask]);
	for (uint32_t k = 0; S.mode == PREFETCHED && S.level >= 2 && k < n; k++) {
		uint32_t idx = ents[(tail + k) & mask].idx;

		if (idx < NBUFS)
			__builtin_prefetch(&S.frames[(size_t)idx * BUF_SIZE + NIO_PKT_HEADROOM], 1);
	}
	for (uint32_t k = 0; k < n; k++) {
		struct nio_xent e;
		uint64_t bit;

		copy_once(&e, &ents[tail++ & mask], sizeof(e));
		if (e.xflags & NIO_XF_RUN) {
			d_run(d, &e);
			continue;
		}
		d->got++;
		bit = 1ull << (e.idx % 64);
		if (e.idx >= NBUFS || !(d->lent[e.idx / 64] & bit) ||
		    (uint32_t)e.off + e.len > BUF_SIZE) {
			d->bad++;
			continue;
		}
		d->lent[e.idx / 64] &= ~bit;
		if (S.level >= 2)
			S.frames[(size_t)e.idx * BUF_SIZE + e.off] = 2; /* the L2 rewrite */
	}
	nio_ring_store_release(&S.resp->tail, tail);
	return n;
}

static const char *const mode_name[NMODES] = { "", ", prefetched", ", run answers" };

struct result {
	double d, h, wall;
};

static struct result run_once(unsigned burst, unsigned level, int mode, uint64_t total)
{
	struct dside d = { 0 };
	uint64_t t0, t_start, idle_since;

	/* acquire: H is done with the rings of the run before */
	while (!atomic_load_explicit(&S.h_idle, memory_order_acquire))
		usleep(100);
	memset(S.req, 0, sizeof(*S.req));
	memset(S.resp, 0, sizeof(*S.resp));
	S.req->num_slots = S.resp->num_slots = SLOTS;
	S.burst = burst;
	S.level = level;
	S.mode = mode;
	S.total = total;
	S.h_busy = S.h_pkts = 0;
	/* release: the parameters and reset rings before H runs */
	atomic_store_explicit(&S.go, 1, memory_order_release);
	t_start = idle_since = tsc();
	while (d.got < total) {
		unsigned n;

		t0 = tsc();
		n = d_send(&d);
		n += d_collect(&d);
		if (n) {
			idle_since = tsc();
			d.busy += idle_since - t0;
		} else if (tsc() - idle_since > SPIN_LIMIT) {
			fprintf(stderr,
				"xbench: no progress: %llu of %llu answered (burst %u, level "
				"%u%s)\n",
				(unsigned long long)d.got, (unsigned long long)total, burst, level,
				mode_name[mode]);
			exit(2);
		}
	}
	t0 = tsc();
	atomic_store_explicit(&S.go, 0, memory_order_release);
	/* H says idle again only once it saw go == 0 (it stores 1 on every idle turn) */
	atomic_store_explicit(&S.h_idle, 0, memory_order_release);
	if (d.bad) {
		fprintf(stderr, "xbench: %llu bad answers (burst %u, level %u%s)\n",
			(unsigned long long)d.bad, burst, level, mode_name[mode]);
		exit(2);
	}
	return (struct result){ (double)d.busy / (double)total,
				(double)S.h_busy / (double)(S.h_pkts ? S.h_pkts : 1),
				(double)(t0 - t_start) / (double)total };
}

/* ------------------------------------------------------------------ tables */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void cell(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf(" %.1f (%.1f) |", n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0]);
}

static void usage(void)
{
	fprintf(stderr, "usage: xbench [-r runs] [-n entries per run]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const char *const level_name[NLEVELS] = { "entries only", "+ metadata slot (64 B)",
							 "+ slot + frame's first line" };
	static double v[NLEVELS][NMODES][NBURSTS][4][RUNS_MAX];
	unsigned runs = 5;
	uint64_t total = 1000000;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t th;
	int ch;

	while ((ch = getopt(argc, argv, "r:n:")) != -1) {
		if (ch == 'r')
			runs = (unsigned)atoi(optarg);
		else if (ch == 'n')
			total = strtoull(optarg, NULL, 10);
		else
			usage();
	}
	if (runs < 1 || runs > RUNS_MAX || total < 1024)
		usage();
	S.req = ring_new();
	S.resp = ring_new();
	S.meta = aligned_alloc(64, NBUFS * sizeof(*S.meta));
	S.frames = aligned_alloc(64, (size_t)NBUFS * BUF_SIZE);
	if (!S.meta || !S.frames) {
		perror("aligned_alloc");
		return 1;
	}
	memset(S.meta, 0, NBUFS * sizeof(*S.meta));
	memset(S.frames, 0, (size_t)NBUFS * BUF_SIZE);
	pin((int)ncpu - 1);
	if (pthread_create(&th, NULL, host, NULL)) {
		perror("pthread_create");
		return 1;
	}
	for (unsigned r = 0; r < runs; r++)
		for (unsigned l = 0; l < NLEVELS * NMODES; l++)
			for (unsigned b = 0; b < NBURSTS; b++) {
				struct result x =
					run_once(bursts[b], l / NMODES, (int)(l % NMODES), total);
				double *o = v[l / NMODES][l % NMODES][b][0];

				o[r] = x.d + x.h;
				o[RUNS_MAX + r] = x.d;
				o[2 * RUNS_MAX + r] = x.h;
				o[3 * RUNS_MAX + r] = x.wall;
			}
	atomic_store_explicit(&S.go, 2, memory_order_release);
	pthread_join(th, NULL);
	printf("Two threads, D on CPU %ld, H on CPU 0; %llu entries per run, at most %u in flight; "
	       "TSC cycles per entry, median (min) of %u runs.\n\n| what crosses | side |",
	       ncpu - 1, (unsigned long long)total, WINDOW, runs);
	for (unsigned b = 0; b < NBURSTS; b++)
		printf(" burst %u |", bursts[b]);
	printf("\n|---|---|");
	for (unsigned b = 0; b < NBURSTS; b++)
		printf("---:|");
	printf("\n");
	for (unsigned l = 0; l < NLEVELS * NMODES; l++) {
		static const char *const side[4] = { "both (D + H)", "D", "H", "wall" };

		for (unsigned k = 0; k < 4; k++) {
			printf("| %s%s | %s |", level_name[l / NMODES], mode_name[l % NMODES],
			       side[k]);
			for (unsigned b = 0; b < NBURSTS; b++)
				cell(v[l / NMODES][l % NMODES][b][k], runs);
			printf("\n");
		}
	}
	return 0;
}

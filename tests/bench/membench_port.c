/* membench's ports: a generator that copies template frames into pool buffers, a counting sink. */
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include <netio/csum.h>

#include "membench.h"

#define NFLOWS	      256 /* UDP source ports 1024..1279: the flow table is hit, not filled */
#define ETH_HLEN_     14
#define FRAME_MAX     1514
#define LAN_MAC	      "\x02\x00\x00\x00\x00\x01"
#define SENDER_MAC    "\x02\x00\x00\x00\x00\x0a"
#define SRC_IP	      "\xc0\x00\x02\x0a" /* 192.0.2.10 */
#define DST_IP	      "\xc6\x33\x64\x0a" /* 198.51.100.10 */
#define DISCARD_PORT  9
#define FIRST_SPORT   1024
#define UDP_SPORT_OFF (ETH_HLEN_ + 20)

struct mb_run mb_run;

/* One ready frame per length (Ethernet + IPv4 + UDP): a copy is a memcpy and a source port. */
static const uint16_t lengths[] = { 60, 572, 1496, 1514 };
static uint8_t tmpl[sizeof(lengths) / sizeof(lengths[0])][FRAME_MAX];

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Lengths and checksum of a frame of len bytes (UDP checksum 0: none). */
static void set_lengths(uint8_t *f, uint16_t len)
{
	uint8_t *ip = f + ETH_HLEN_;

	wr16(ip + 2, (uint16_t)(len - ETH_HLEN_));
	wr16(ip + 10, 0);
	wr16(ip + 10, nio_csum(ip, 20));
	wr16(ip + 24, (uint16_t)(len - ETH_HLEN_ - 20));
}

static void frame_init(uint8_t *f, uint16_t len)
{
	uint8_t *ip = f + ETH_HLEN_;

	memcpy(f, LAN_MAC, 6);
	memcpy(f + 6, SENDER_MAC, 6);
	wr16(f + 12, 0x0800);
	ip[0] = 0x45;
	wr16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, SRC_IP, 4);
	memcpy(ip + 16, DST_IP, 4);
	wr16(ip + 22, DISCARD_PORT);
	for (unsigned i = UDP_SPORT_OFF + 8; i < len; i++)
		f[i] = (uint8_t)i;
	set_lengths(f, len);
}

void mb_frames_init(void)
{
	for (unsigned i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
		frame_init(tmpl[i], lengths[i]);
}

static const uint8_t *template_of(uint16_t len)
{
	unsigned i = 0;

	while (lengths[i] != len)
		i++;
	return tmpl[i];
}

static void copy_frame(struct nio_pkt *p, uint64_t seq, uint16_t port)
{
	uint16_t len = mb_run.mix->len[seq % mb_run.mix->n];

	memcpy(p->data, template_of(len), len);
	wr16(p->data + UDP_SPORT_OFF, (uint16_t)(FIRST_SPORT + seq % NFLOWS));
	p->len = len;
	p->in_port = port;
}

static void acc_add(struct mb_acc *a, uint64_t cyc, uint64_t pkts)
{
	a->cyc += cyc;
	a->pkts += pkts;
	if (a->pkts < MB_CHUNK_PKTS || a->n == MB_CHUNKS_MAX)
		return;
	a->v[a->n++] = (double)a->cyc / (double)a->pkts;
	a->cyc = a->pkts = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double mb_acc_median(struct mb_acc *a)
{
	if (!a->n)
		return 0;
	qsort(a->v, a->n, sizeof(a->v[0]), cmp_double);
	return a->n % 2 ? a->v[a->n / 2] : (a->v[a->n / 2 - 1] + a->v[a->n / 2]) / 2;
}

static bool counted(void)
{
	return mb_run.sent >= mb_run.warm;
}

/* Take up to max buffers from the pool and copy one frame into each (the "memcpy" bound). */
static uint16_t fill(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
		     uint16_t max)
{
	uint64_t left = mb_run.total - mb_run.sent, now = nio_now_ns(), t0;
	uint16_t n = (uint16_t)(left < max ? left : max), got = 0;

	while (got < n && (pkts[got] = nio_pool_get(pool)))
		pkts[got++]->ts_ns = now;
	t0 = __rdtsc();
	for (uint16_t i = 0; i < got; i++)
		copy_frame(pkts[i], mb_run.sent + i, port->id);
	if (counted())
		acc_add(&mb_run.copy, __rdtsc() - t0, got);
	return got;
}

/* The header-touch bound: what any IPv4 forwarder must do to a frame it has in cache. */
static void touch(struct nio_pool *pool, struct nio_pkt **pkts, uint16_t n)
{
	uint64_t t0 = __rdtsc();

	for (uint16_t i = 0; i < n; i++) {
		uint8_t *ip = pkts[i]->data + ETH_HLEN_;
		uint16_t old = (uint16_t)(ip[8] << 8 | ip[9]);

		ip[8]--;
		wr16(ip + 10, nio_csum_update16((uint16_t)(ip[10] << 8 | ip[11]), old,
						(uint16_t)(ip[8] << 8 | ip[9])));
	}
	if (counted())
		acc_add(&mb_run.touch, __rdtsc() - t0, n);
	for (uint16_t i = 0; i < n; i++)
		nio_pool_put(pool, pkts[i]);
}

/* The time since the previous burst left rx_burst is what the worker spent on that burst; a
 * turn that sent nothing but sank packets (an isolated service's answers) is work too; one
 * that did neither (waiting for them) is not. */
static void account_prev(uint64_t now)
{
	if (mb_run.n_prev || (counted() && mb_run.sunk != mb_run.sunk_prev))
		acc_add(&mb_run.pipe, now - mb_run.t_prev, mb_run.n_prev);
	mb_run.n_prev = 0;
	mb_run.sunk_prev = mb_run.sunk;
	mb_run.t_prev = now;
}

static uint16_t gen_rx(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
		       uint16_t max)
{
	uint64_t now = __rdtsc();
	uint16_t n;

	if (!atomic_load_explicit(&mb_run.running, memory_order_acquire))
		return 0;
	account_prev(now);
	/* an isolated service answers later: at most a window in flight (its request ring would
	 * overflow, and drop, if the generator outran it) */
	if (mb_run.mode == MB_PIPE && mb_run.sent - mb_run.sunk >= MB_WINDOW &&
	    mb_run.sent < mb_run.total)
		return 0;
	if (mb_run.sent >= mb_run.total) {
		atomic_store_explicit(&mb_run.running, 0, memory_order_relaxed);
		/* release: the sums above are complete before the main thread reads them */
		atomic_store_explicit(&mb_run.done, 1, memory_order_release);
		return 0;
	}
	n = fill(port, pool, pkts, max);
	if (mb_run.mode == MB_TOUCH) {
		touch(pool, pkts, n);
		mb_run.sent += n;
		mb_run.sunk += n;
		atomic_store_explicit(&mb_run.sunk_all, mb_run.sunk, memory_order_release);
		return 0;
	}
	mb_run.n_prev = counted() ? n : 0;
	mb_run.sent += n;
	mb_run.t_prev = __rdtsc();
	return n;
}

static uint16_t idle_rx(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
			uint16_t max)
{
	return 0;
}

static uint16_t sink_tx(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	mb_run.sunk += n;
	atomic_store_explicit(&mb_run.sunk_all, mb_run.sunk, memory_order_release);
	return n;
}

static int no_open(struct nio_port *port, char *err, size_t errlen)
{
	return 0;
}

static void no_close(struct nio_port *port)
{
}

const struct nio_port_ops mb_gen_ops = {
	.name = "membench-gen",
	.open = no_open,
	.close = no_close,
	.rx_burst = gen_rx,
	.tx_burst = sink_tx,
};

const struct nio_port_ops mb_sink_ops = {
	.name = "membench-sink",
	.open = no_open,
	.close = no_close,
	.rx_burst = idle_rx,
	.tx_burst = sink_tx,
};

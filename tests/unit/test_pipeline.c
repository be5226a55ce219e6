/* Unit tests of the pipeline's output path: verdicts, next hops from a fib snapshot, the
 * per-flow next-hop cache when a service changes the destination (tunnel decap), reject routes
 * and packets waiting for a neighbour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netio/csum.h>

#include "../../netiod/netiod.h"

/* ---- what pipeline.c needs from the rest of the daemon */
static unsigned freed, misses;

void nio_worker_pkt_free(struct nio_pkt *p)
{
	(void)p;
	freed++;
}

void nio_worker_miss_push(struct nio_worker *w, const uint8_t addr[16], int ifindex)
{
	(void)w;
	(void)addr;
	(void)ifindex;
	misses++;
}

/* the port shapers (egress.c) run on worker 0, the only one here; nothing is handed over */
static struct nio_worker me;

struct nio_worker *nio_worker_current(void)
{
	return &me;
}

int nio_worker_handoff(struct nio_worker *w, unsigned to, struct nio_pkt *p)
{
	(void)w;
	(void)to;
	(void)p;
	fail_msg("a packet handed to worker %u with one worker", to);
	return -1;
}

/* no instance is isolated here (tests/netns/isolate.sh runs them) */
void nio_iso_send(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl, unsigned s,
		  struct nio_pkt **pkts, uint16_t n)
{
	(void)w;
	(void)c;
	(void)pl;
	(void)s;
	(void)pkts;
	(void)n;
	fail();
}

void nio_capture_at(struct nio_capture *cap, unsigned stage, struct nio_pkt **pkts, uint16_t n)
{
	(void)cap;
	(void)stage;
	(void)pkts;
	(void)n;
}

/* ---- a port that records what it sends */
struct sent {
	unsigned n;
	uint8_t dst_mac[16][6];
	uint8_t icmp[16][2];	/* type and code, when the frame is an IPv4 ICMP message */
	uint8_t frame[16][128]; /* the start of each frame */
};
static struct sent sent[2];

static uint16_t rec_tx(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	struct sent *s = &sent[port->id];

	for (uint16_t i = 0; i < n && s->n < 16; i++) {
		if (pkts[i]->data[14 + 9] == 1)
			memcpy(s->icmp[s->n], pkts[i]->data + 14 + 20, 2);
		memcpy(s->frame[s->n], pkts[i]->data, pkts[i]->len < 128 ? pkts[i]->len : 128);
		memcpy(s->dst_mac[s->n++], pkts[i]->data, 6);
	}
	return n;
}

static const struct nio_port_ops rec_ops = { .name = "rec", .tx_burst = rec_tx };

/* ---- a service that sends each packet where its first payload byte says (like decap) */
static const uint8_t host_a[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 10 };
static const uint8_t host_b[16] = { [10] = 0xff, [11] = 0xff, 198, 51, 100, 10 };

static void redirect(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *v)
{
	(void)inst;
	for (uint16_t i = 0; i < n; i++) {
		uint8_t sel = pkts[i]->data[pkts[i]->l4_off + 8];

		if (sel == 0xdd)
			v[i] = NIO_V_DROP;
		else
			memcpy(pkts[i]->key.dst, sel ? host_b : host_a, 16);
	}
}

static const struct nio_service redirect_svc = { .name = "redirect", .process = redirect };

static struct nio_port ports[2] = {
	{ .name = "lan",
	  .id = 0,
	  .ifindex = 11,
	  .has_v4 = true,
	  .addr4 = { .s_addr = 1 }, /* any: the tests read the ICMP type and code only */
	  .mac = { 2, 0, 0, 0, 0, 1 },
	  .open = true,
	  .ops = &rec_ops },
	{ .name = "wan",
	  .id = 1,
	  .ifindex = 12,
	  .mac = { 2, 0, 0, 0, 0, 2 },
	  .open = true,
	  .ops = &rec_ops },
};

static struct nio_fib_route routes[] = {
	{ .dst = { .addr = { [10] = 0xff, [11] = 0xff, 198, 51, 100, 0 }, .len = 120, .family = 4 },
	  .table = NIO_RT_TABLE_MAIN,
	  .ifindex = 12 },
	{ .dst = { .addr = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 0 }, .len = 120, .family = 4 },
	  .table = NIO_RT_TABLE_MAIN,
	  .ifindex = 11 },
};
static struct nio_fib_neigh neighs[] = {
	{ .addr = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 10 },
	  .ifindex = 11,
	  .mac = { 2, 0xa, 0, 0, 0, 0xa } },
	{ .addr = { [10] = 0xff, [11] = 0xff, 198, 51, 100, 10 },
	  .ifindex = 12,
	  .mac = { 2, 0xb, 0, 0, 0, 0xb } },
};
static struct nio_fib fib = {
	.generation = 1, .nroutes = 2, .nneighs = 2, .routes = routes, .neighs = neighs
};

static uint8_t bufs[8][NIO_PKT_BUF_SIZE];
static struct nio_pkt pkts[8];

/* A UDP packet of one outer flow; sel picks the destination the service will choose. */
static struct nio_pkt *packet(unsigned i, uint8_t sel)
{
	static const uint8_t frame[14 + 20 + 8 + 1] = {
		2,   0, 0,   0, 0,    1,    2,	  0,	0,  0, 0, 9,   0x08, 0x00, 0x45,
		0,   0, 29,  0, 0,    0,    0,	  64,	17, 0, 0, 203, 0,    113,  1,
		203, 0, 113, 2, 0x12, 0xb5, 0x12, 0xb5, 0,  9, 0, 0,   0,
	};
	struct nio_pkt *p = &pkts[i];
	uint16_t csum;

	memset(p, 0, sizeof(*p));
	p->buf = bufs[i];
	p->buf_size = NIO_PKT_BUF_SIZE;
	p->data = p->buf + NIO_PKT_HEADROOM;
	p->out_port = NIO_PORT_NONE;
	memcpy(p->data, frame, sizeof(frame));
	p->len = sizeof(frame);
	p->data[sizeof(frame) - 1] = sel;
	csum = nio_csum(p->data + 14, 20);
	p->data[24] = (uint8_t)(csum >> 8);
	p->data[25] = (uint8_t)csum;
	assert_int_equal(nio_parse(p), 0);
	return p;
}

static void test_cache_follows_destination(void **state)
{
	static struct nio_config c;
	struct nio_pipeline *pl = &c.pipelines[0];
	struct nio_worker w = { 0 };
	struct nio_flow flow = { 0 };
	struct nio_pkt *burst[6];
	uint8_t sels[6] = { 0, 1, 1, 0, 0xdd, 1 };

	(void)state;
	c.nports = 2;
	c.ports[0] = &ports[0];
	c.ports[1] = &ports[1];
	c.npipelines = 1;
	c.burst = 32;
	pl->nsvcs = 1;
	pl->out_port = -1;
	pl->table = NIO_RT_TABLE_MAIN;
	pl->no_ttl = true;
	pl->svcs[0].svc = &redirect_svc;
	atomic_store(&w.fib, &fib);
	for (unsigned i = 0; i < 6; i++) {
		burst[i] = packet(i, sels[i]);
		burst[i]->flow = &flow; /* one outer flow for all, as GRE/IPIP decap has */
	}
	memset(sent, 0, sizeof(sent));
	freed = 0;
	nio_pipeline_run(&w, &c, pl, burst, 6);
	assert_int_equal(pl->stats[0].drops[NIO_DROP_SERVICE], 1);
	assert_int_equal(sent[0].n, 2); /* sel 0 -> host a on lan */
	assert_int_equal(sent[1].n, 3); /* sel 1 -> host b on wan */
	for (unsigned i = 0; i < sent[0].n; i++)
		assert_memory_equal(sent[0].dst_mac[i], neighs[0].mac, 6);
	for (unsigned i = 0; i < sent[1].n; i++)
		assert_memory_equal(sent[1].dst_mac[i], neighs[1].mac, 6);
	assert_int_equal(freed, 6); /* every packet back to the pool: 5 sent, 1 dropped */
	assert_int_equal(pl->stats[0].tx_packets, 5);
}

/* ---- a shaper that holds every packet until asked, as a port's qos does */
static struct nio_pkt *held[8];
static unsigned nheld;

static void hold(void *inst, struct nio_pkt **in, uint16_t n, uint8_t *v)
{
	(void)inst;
	for (uint16_t i = 0; i < n; i++) {
		assert_false(in[i]->flags & NIO_PKT_F_EGRESS);
		held[nheld++] = in[i];
		v[i] = NIO_V_CONSUMED;
	}
}

static uint16_t release(void *inst, uint64_t now, struct nio_pkt **out, uint16_t max,
			uint64_t *next)
{
	uint16_t n = 0;

	(void)inst;
	(void)now;
	while (n < max && nheld)
		out[n++] = held[--nheld];
	*next = 0;
	return n;
}

static const struct nio_service hold_svc = { .name = "hold", .process = hold, .dequeue = release };

/* A port with a shaper: what a pipeline routes to it waits in the shaper (counted as sent by
 * the pipeline), what goes elsewhere leaves at once; the shaper's release goes out of the port
 * with the frames already addressed, counted by the port's stage. */
static void test_port_shaper(void **state)
{
	static struct nio_config c;
	static struct nio_pipeline eg;
	struct nio_pipeline *pl = &c.pipelines[0];
	struct nio_worker w = { 0 };
	struct nio_flow flow = { 0 };
	struct nio_pkt *burst[5];
	uint8_t sels[5] = { 0, 1, 1, 0, 1 };
	uint64_t next = 0;

	(void)state;
	c.nports = 2;
	c.ports[0] = &ports[0];
	c.ports[1] = &ports[1];
	c.npipelines = 1;
	c.burst = 32;
	pl->nsvcs = 1;
	pl->out_port = -1;
	pl->table = NIO_RT_TABLE_MAIN;
	pl->no_ttl = true;
	pl->svcs[0].svc = &redirect_svc;
	eg.nsvcs = 1;
	eg.out_port = 1;
	eg.owner = 0;
	eg.svcs[0].svc = &hold_svc;
	c.egress[1] = &eg;
	atomic_store(&w.fib, &fib);
	for (unsigned i = 0; i < 5; i++) {
		burst[i] = packet(i, sels[i]);
		burst[i]->flow = &flow;
	}
	memset(sent, 0, sizeof(sent));
	freed = 0;
	nheld = 0;
	nio_pipeline_run(&w, &c, pl, burst, 5);
	assert_int_equal(sent[0].n, 2); /* lan: no shaper */
	assert_int_equal(sent[1].n, 0); /* wan: held */
	assert_int_equal(nheld, 3);
	assert_int_equal(pl->stats[0].tx_packets, 5);
	assert_int_equal(eg.stats[0].packets, 3);
	assert_int_equal(eg.svcs[0].stats[0].consumed, 3);
	assert_int_equal(freed, 2);
	assert_true(nio_egress_here(&w, &c));
	nio_egress_dequeue(&w, &c, 0, &next);
	assert_int_equal(sent[1].n, 3);
	for (unsigned i = 0; i < sent[1].n; i++)
		assert_memory_equal(sent[1].dst_mac[i], neighs[1].mac, 6);
	assert_int_equal(eg.stats[0].tx_packets, 3);
	assert_int_equal(eg.svcs[0].stats[0].dequeued, 3);
	assert_int_equal(freed, 5);
	c.egress[1] = NULL;
}

static void two_ports(struct nio_config *c)
{
	c->nports = 2;
	c->ports[0] = &ports[0];
	c->ports[1] = &ports[1];
	c->npipelines = 1;
	c->pipelines[0].out_port = -1;
	c->pipelines[0].table = NIO_RT_TABLE_MAIN;
}

/* No neighbour yet: the packet waits (counted), the kernel is asked, and it leaves as soon as
 * a snapshot has the neighbour; nothing is freed before. */
static void test_neighbour_miss_waits(void **state)
{
	static struct nio_config c;
	struct nio_pipeline *pl = &c.pipelines[0];
	struct nio_worker w = { 0 };
	struct nio_fib nofib = fib;
	struct nio_pkt *p;

	(void)state;
	nofib.nneighs = 0;
	two_ports(&c);
	atomic_store(&w.fib, &nofib);
	p = packet(0, 0);
	memcpy(p->key.dst, host_b, 16);
	misses = 0;
	freed = 0;
	memset(sent, 0, sizeof(sent));
	nio_pipeline_run(&w, &c, pl, &p, 1);
	assert_int_equal(pl->stats[0].neigh_queued, 1);
	assert_int_equal(misses, 1);
	assert_int_equal(freed, 0);
	assert_int_equal(sent[1].n, 0);
	nio_pending_run(&w.pending, &c, &nofib, nio_now_ns());
	assert_int_equal(sent[1].n, 0); /* still unresolved, not yet timed out */
	nio_pending_run(&w.pending, &c, &fib, nio_now_ns());
	assert_int_equal(sent[1].n, 1);
	assert_memory_equal(sent[1].dst_mac[0], neighs[1].mac, 6);
	assert_int_equal(pl->stats[0].tx_packets, 1);
	assert_int_equal(freed, 1);
	assert_int_equal(w.pending.total, 0);
}

/* Bounded per next hop, dropped on timeout, every buffer back to the pool. */
static void test_neighbour_wait_bounded(void **state)
{
	static struct nio_config c;
	struct nio_pipeline *pl = &c.pipelines[0];
	struct nio_worker w = { 0 };
	struct nio_fib nofib = fib;
	struct nio_pkt *burst[NIO_PENDING_PER_HOP + 1];

	(void)state;
	nofib.nneighs = 0;
	two_ports(&c);
	atomic_store(&w.fib, &nofib);
	for (unsigned i = 0; i <= NIO_PENDING_PER_HOP; i++) {
		static struct nio_pkt extra[NIO_PENDING_PER_HOP + 1];
		static uint8_t ebuf[NIO_PENDING_PER_HOP + 1][NIO_PKT_BUF_SIZE];

		burst[i] = packet(0, 0);
		extra[i] = *burst[i];
		extra[i].buf = ebuf[i];
		extra[i].data = ebuf[i] + (burst[i]->data - burst[i]->buf);
		memcpy(ebuf[i], bufs[0], NIO_PKT_BUF_SIZE);
		burst[i] = &extra[i];
		memcpy(burst[i]->key.dst, host_b, 16);
	}
	freed = 0;
	memset(sent, 0, sizeof(sent));
	nio_pipeline_run(&w, &c, pl, burst, NIO_PENDING_PER_HOP + 1);
	assert_int_equal(pl->stats[0].neigh_queued, NIO_PENDING_PER_HOP);
	assert_int_equal(pl->stats[0].drops[NIO_DROP_NEIGH_MISS], 1);
	assert_int_equal(freed, 1);
	nio_pending_run(&w.pending, &c, &nofib, nio_now_ns() + 3100000000ull);
	assert_int_equal(pl->stats[0].drops[NIO_DROP_NEIGH_TIMEOUT], NIO_PENDING_PER_HOP);
	assert_int_equal(freed, NIO_PENDING_PER_HOP + 1);
	assert_int_equal(sent[1].n, 0);
	assert_int_equal(w.pending.total, 0);
}

/* Reject routes: dropped and counted per type; the ICMP the kernel's ip_error() sends. */
static void test_reject_routes(void **state)
{
	static const struct {
		uint8_t type;
		enum nio_drop why;
		int icmp_code; /* -1: no error goes back */
	} rows[] = {
		{ NIO_RT_BLACKHOLE, NIO_DROP_BLACKHOLE, -1 },
		{ NIO_RT_UNREACHABLE, NIO_DROP_UNREACHABLE, 1 },
		{ NIO_RT_PROHIBIT, NIO_DROP_PROHIBIT, 13 },
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		static struct nio_config c;
		struct nio_pipeline *pl = &c.pipelines[0];
		struct nio_worker w = { 0 };
		struct nio_fib_route rr[2] = { routes[0], routes[1] };
		struct nio_fib rfib = fib;
		struct nio_pkt *p;

		memset(&c, 0, sizeof(c));
		two_ports(&c);
		rr[0].type = rows[i].type;
		rfib.routes = rr;
		atomic_store(&w.fib, &rfib);
		p = packet(0, 0);
		memcpy(p->key.dst, host_b, 16);
		memset(sent, 0, sizeof(sent));
		freed = 0;
		nio_pipeline_run(&w, &c, pl, &p, 1);
		assert_int_equal(pl->stats[0].drops[rows[i].why], 1);
		assert_int_equal(sent[1].n, 0);
		assert_int_equal(sent[0].n, rows[i].icmp_code < 0 ? 0 : 1);
		if (rows[i].icmp_code >= 0) {
			assert_int_equal(sent[0].icmp[0][0], 3);
			assert_int_equal(sent[0].icmp[0][1], rows[i].icmp_code);
		}
		assert_int_equal(freed, 1);
	}
}

/* A pipeline's table: its lookups see that table's routes only. */
static void test_table(void **state)
{
	static struct nio_config c;
	struct nio_pipeline *pl = &c.pipelines[0];
	struct nio_worker w = { 0 };
	struct nio_fib_route rr[2] = { routes[0], routes[1] };
	struct nio_fib tfib = fib;
	struct nio_pkt *p;

	(void)state;
	two_ports(&c);
	rr[0].table = 100; /* 198.51.100.0/24 exists only in table 100 */
	tfib.routes = rr;
	atomic_store(&w.fib, &tfib);
	p = packet(0, 0);
	memcpy(p->key.dst, host_b, 16);
	nio_pipeline_run(&w, &c, pl, &p, 1);
	assert_int_equal(pl->stats[0].drops[NIO_DROP_NO_ROUTE], 1);
	pl->table = 100;
	memset(sent, 0, sizeof(sent));
	p = packet(0, 0);
	memcpy(p->key.dst, host_b, 16);
	nio_pipeline_run(&w, &c, pl, &p, 1);
	assert_int_equal(sent[1].n, 1);
}

/* ---- guard, ICMP errors and TTL: one frame at a time through a pipeline lan -> wan */

static struct nio_config gc;

/* lan 192.0.2.1/24 (broadcast 192.0.2.255), 2001:db8:1::1; the pipeline sends to wan. */
static struct nio_pipeline *guard_setup(void)
{
	struct nio_pipeline *pl = &gc.pipelines[0];

	memset(&gc, 0, sizeof(gc));
	ports[0].has_v4 = ports[0].has_v6 = true;
	memcpy(&ports[0].addr4, (uint8_t[]){ 192, 0, 2, 1 }, 4);
	memcpy(&ports[0].addr6, (uint8_t[]){ 0x20, 1, 0xd, 0xb8, 0, 1, [15] = 1 }, 16);
	ports[0].nbcast4 = 0;
	nio_bcast4_add(&ports[0], &ports[0].addr4, 24);
	ports[1].mtu = 1500;
	gc.nports = 2;
	gc.ports[0] = &ports[0];
	gc.ports[1] = &ports[1];
	gc.npipelines = 1;
	pl->out_port = 1;
	pl->has_dst_mac = true;
	memcpy(pl->dst_mac, (uint8_t[]){ 2, 0xb, 0, 0, 0, 0xb }, 6);
	memset(sent, 0, sizeof(sent));
	return pl;
}

/* Ethernet (to dmac) + IPv4 src -> dst with ttl, proto, fragment field, then l4. */
static size_t frame4(uint8_t *f, const uint8_t *dmac, const uint8_t src[4], const uint8_t dst[4],
		     uint8_t ttl, uint8_t proto, uint16_t frag, const uint8_t *l4, size_t l4len)
{
	uint16_t c, tot = (uint16_t)(20 + l4len);

	memcpy(f, dmac, 6);
	memcpy(f + 6, (uint8_t[]){ 2, 0, 0, 0, 0, 9, 0x08, 0x00 }, 8);
	memset(f + 14, 0, 20);
	f[14] = 0x45;
	f[16] = (uint8_t)(tot >> 8);
	f[17] = (uint8_t)tot;
	f[20] = (uint8_t)(frag >> 8);
	f[21] = (uint8_t)frag;
	f[22] = ttl;
	f[23] = proto;
	memcpy(f + 26, src, 4);
	memcpy(f + 30, dst, 4);
	c = nio_csum(f + 14, 20);
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
	memcpy(f + 34, l4, l4len);
	return 34 + l4len;
}

/* Ethernet + IPv6 src -> dst with hop limit and next header, then l4. */
static size_t frame6(uint8_t *f, const uint8_t *dmac, const uint8_t src[16], const uint8_t dst[16],
		     uint8_t hlim, uint8_t nh, const uint8_t *l4, size_t l4len)
{
	memcpy(f, dmac, 6);
	memcpy(f + 6, (uint8_t[]){ 2, 0, 0, 0, 0, 9, 0x86, 0xdd }, 8);
	memset(f + 14, 0, 40);
	f[14] = 0x60;
	f[18] = (uint8_t)(l4len >> 8);
	f[19] = (uint8_t)l4len;
	f[20] = nh;
	f[21] = hlim;
	memcpy(f + 22, src, 16);
	memcpy(f + 38, dst, 16);
	memcpy(f + 54, l4, l4len);
	return 54 + l4len;
}

static struct nio_pkt *inject(const uint8_t *f, size_t len)
{
	struct nio_pkt *p = &pkts[0];

	memset(p, 0, sizeof(*p));
	p->buf = bufs[0];
	p->buf_size = NIO_PKT_BUF_SIZE;
	p->data = p->buf + NIO_PKT_HEADROOM;
	p->out_port = NIO_PORT_NONE;
	memcpy(p->data, f, len);
	p->len = (uint32_t)len;
	assert_int_equal(nio_parse(p), 0);
	return p;
}

enum outcome { FWD, ICMP, QUIET };

struct guard_case {
	const char *name;
	bool v6, l2bcast;
	uint8_t src[16], dst[16];
	uint8_t ttl, proto, l4type;
	uint16_t frag;
	enum outcome want;
	int drop; /* NIO_DROP_* counted, -1: none */
};

#define A4(a, b, c, d)     \
	{                  \
		a, b, c, d \
	}
#define H4 A4(203, 0, 113, 7)
#define D4 A4(198, 51, 100, 7)
#define H6                                         \
	{                                          \
		0x20, 1, 0xd, 0xb8, 0, 1, [15] = 7 \
	}
#define D6                                         \
	{                                          \
		0x20, 1, 0xd, 0xb8, 0, 2, [15] = 7 \
	}

/* RFC 1812 4.3.2.7, 5.3.4, 5.3.5 and RFC 4443 2.4(e), one row per rule. */
static const struct guard_case guard_cases[] = {
	{ "unicast", false, false, H4, D4, 64, 17, 0, 0, FWD, -1 },
	{ "to 224.0.0.5", false, false, H4, A4(224, 0, 0, 5), 64, 17, 0, 0, QUIET,
	  NIO_DROP_LINK_SCOPE },
	{ "to 255.255.255.255", false, true, H4, A4(255, 255, 255, 255), 64, 17, 0, 0, QUIET,
	  NIO_DROP_BROADCAST },
	{ "to 192.0.2.255", false, false, H4, A4(192, 0, 2, 255), 64, 17, 0, 0, QUIET,
	  NIO_DROP_BROADCAST },
	{ "unicast in an L2 broadcast", false, true, H4, D4, 64, 17, 0, 0, QUIET,
	  NIO_DROP_L2_BCAST },
	{ "to 239.1.1.1 in L2 multicast", false, true, H4, A4(239, 1, 1, 1), 64, 17, 0, 0, FWD,
	  -1 },
	{ "ttl 1", false, false, H4, D4, 1, 17, 0, 0, ICMP, NIO_DROP_TTL },
	{ "ttl 1 echo request", false, false, H4, D4, 1, 1, 8, 0, ICMP, NIO_DROP_TTL },
	{ "ttl 1 from 127.0.0.1", false, false, A4(127, 0, 0, 1), D4, 1, 17, 0, 0, QUIET,
	  NIO_DROP_TTL },
	{ "ttl 1 from 0.0.0.0", false, false, A4(0, 0, 0, 0), D4, 1, 17, 0, 0, QUIET,
	  NIO_DROP_TTL },
	{ "ttl 1 from 224.1.1.1", false, false, A4(224, 1, 1, 1), D4, 1, 17, 0, 0, QUIET,
	  NIO_DROP_TTL },
	{ "ttl 1 from 192.0.2.255", false, false, A4(192, 0, 2, 255), D4, 1, 17, 0, 0, QUIET,
	  NIO_DROP_TTL },
	{ "ttl 1 to 239.1.1.1", false, true, H4, A4(239, 1, 1, 1), 1, 17, 0, 0, QUIET,
	  NIO_DROP_TTL },
	{ "ttl 1 ICMP unreachable", false, false, H4, D4, 1, 1, 3, 0, QUIET, NIO_DROP_TTL },
	{ "ttl 1 ICMP time exceeded", false, false, H4, D4, 1, 1, 11, 0, QUIET, NIO_DROP_TTL },
	{ "ttl 1 fragment tail", false, false, H4, D4, 1, 17, 0, 0x0010, QUIET, NIO_DROP_TTL },
	{ "v6 unicast", true, false, H6, D6, 64, 17, 0, 0, FWD, -1 },
	{ "v6 to ff02::1",
	  true,
	  true,
	  H6,
	  { 0xff, 2, [15] = 1 },
	  64,
	  17,
	  0,
	  0,
	  QUIET,
	  NIO_DROP_LINK_SCOPE },
	{ "v6 to ff01::1",
	  true,
	  true,
	  H6,
	  { 0xff, 1, [15] = 1 },
	  64,
	  17,
	  0,
	  0,
	  QUIET,
	  NIO_DROP_LINK_SCOPE },
	{ "v6 to ff12::1",
	  true,
	  true,
	  H6,
	  { 0xff, 0x12, [15] = 1 },
	  64,
	  17,
	  0,
	  0,
	  QUIET,
	  NIO_DROP_LINK_SCOPE },
	{ "v6 unicast in L2 multicast", true, true, H6, D6, 64, 17, 0, 0, QUIET,
	  NIO_DROP_L2_BCAST },
	{ "v6 hop limit 1", true, false, H6, D6, 1, 17, 0, 0, ICMP, NIO_DROP_TTL },
	{ "v6 hop limit 1 echo", true, false, H6, D6, 1, 58, 128, 0, ICMP, NIO_DROP_TTL },
	{ "v6 hop limit 1 from ::", true, false, { 0 }, D6, 1, 17, 0, 0, QUIET, NIO_DROP_TTL },
	{ "v6 hop limit 1 from ::1",
	  true,
	  false,
	  { [15] = 1 },
	  D6,
	  1,
	  17,
	  0,
	  0,
	  QUIET,
	  NIO_DROP_TTL },
	{ "v6 hop limit 1 from ff05::1",
	  true,
	  false,
	  { 0xff, 5, [15] = 1 },
	  D6,
	  1,
	  17,
	  0,
	  0,
	  QUIET,
	  NIO_DROP_TTL },
	{ "v6 hop limit 1 to ff05::1",
	  true,
	  true,
	  H6,
	  { 0xff, 5, [15] = 1 },
	  1,
	  17,
	  0,
	  0,
	  QUIET,
	  NIO_DROP_TTL },
	{ "v6 hop limit 1 ICMPv6 error", true, false, H6, D6, 1, 58, 1, 0, QUIET, NIO_DROP_TTL },
};

static void test_guard_and_icmp(void **state)
{
	static const uint8_t ucast[6] = { 2, 0, 0, 0, 0, 1 },
			     bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
			     mcast4[6] = { 1, 0, 0x5e, 1, 1, 1 },
			     mcast6[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	struct nio_worker w = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(guard_cases) / sizeof(guard_cases[0]); i++) {
		const struct guard_case *g = &guard_cases[i];
		struct nio_pipeline *pl = guard_setup();
		uint8_t f[256], l4[8] = { g->l4type, 0, 0, 0, 0, 0, 0, 0 };
		const uint8_t *dmac = !g->l2bcast	 ? ucast
				      : g->v6		 ? mcast6
				      : g->dst[0] == 255 ? bcast
							 : mcast4;
		struct nio_pkt *p;
		size_t n;

		print_message("case %s\n", g->name);
		if (g->proto == 17)
			l4[5] = 8; /* UDP length */
		n = g->v6 ? frame6(f, dmac, g->src, g->dst, g->ttl, g->proto, l4, 8)
			  : frame4(f, dmac, g->src, g->dst, g->ttl, g->proto, g->frag, l4, 8);
		p = inject(f, n);
		p->in_port = 0;
		nio_pipeline_run(&w, &gc, pl, &p, 1);
		assert_int_equal(sent[1].n, g->want == FWD);
		assert_int_equal(sent[0].n, g->want == ICMP);
		assert_int_equal(pl->stats[0].icmp_errors, g->want == ICMP);
		assert_int_equal(pl->stats[0].icmp_suppressed,
				 g->want == QUIET && g->drop == NIO_DROP_TTL);
		for (int r = 0; r < NIO_DROP_MAX; r++)
			assert_int_equal(pl->stats[0].drops[r], r == g->drop);
		if (g->want == FWD)
			assert_int_equal(sent[1].frame[0][g->v6 ? 21 : 22], g->ttl - 1);
		if (g->want == ICMP)
			assert_int_equal(sent[0].frame[0][g->v6 ? 54 : 34], g->v6 ? 3 : 11);
	}
}

/* IPv6 Packet Too Big may answer a multicast destination (RFC 4443 2.4(e) exception 2). */
static void test_too_big_multicast6(void **state)
{
	static const uint8_t mcast6[6] = { 0x33, 0x33, 0, 0, 0, 1 }, src[16] = H6,
			     dst[16] = { 0xff, 0x0e, [15] = 1 };
	struct nio_pipeline *pl = guard_setup();
	struct nio_worker w = { 0 };
	uint8_t f[1600] = { 0 }, l4[1400] = { 0x13, 0x88, 0x17, 0x70, 0x05, 0x78 };
	struct nio_pkt *p;
	size_t n;

	(void)state;
	ports[1].mtu = 1280;
	n = frame6(f, mcast6, src, dst, 64, 17, l4, 1400);
	p = inject(f, n);
	p->in_port = 0;
	nio_pipeline_run(&w, &gc, pl, &p, 1);
	assert_int_equal(sent[0].n, 1);
	assert_int_equal(sent[0].frame[0][54], 2); /* packet too big */
	assert_int_equal(pl->stats[0].drops[NIO_DROP_MTU], 1);
	assert_int_equal(pl->stats[0].icmp_errors, 1);
}

/* ---- a service that builds an outer IPv4 header with TTL 1 (like a tunnel with ttl = 1) */
static void encap_ttl1(void *inst, struct nio_pkt **pk, uint16_t n, uint8_t *v)
{
	(void)inst;
	(void)v;
	for (uint16_t i = 0; i < n; i++) {
		struct nio_pkt *p = pk[i];
		uint8_t *ip, inner[14];
		uint16_t c, tot = (uint16_t)(p->len - 14 + 20);

		memcpy(inner, p->data, 14);
		nio_pkt_push(p, 20);
		memcpy(p->data, inner, 14);
		ip = p->data + 14;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[2] = (uint8_t)(tot >> 8);
		ip[3] = (uint8_t)tot;
		ip[8] = 1;
		ip[9] = 4; /* IP in IP */
		memcpy(ip + 12, (uint8_t[]){ 203, 0, 113, 1 }, 4);
		memcpy(ip + 16, (uint8_t[]){ 203, 0, 113, 9 }, 4);
		c = nio_csum(ip, 20);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		p->l3_off = 14;
		p->ip_proto = 4;
		p->flags &= (uint16_t)~NIO_PKT_F_L4;
	}
}

static const struct nio_service encap_svc = { .name = "encap", .process = encap_ttl1 };

/* ---- a service that strips an outer IPv4 header (like a decap end) */
static void decap_outer(void *inst, struct nio_pkt **pk, uint16_t n, uint8_t *v)
{
	(void)inst;
	(void)v;
	for (uint16_t i = 0; i < n; i++) {
		uint8_t eth[14];

		memcpy(eth, pk[i]->data, 14);
		nio_pkt_pull(pk[i], 20);
		memcpy(pk[i]->data, eth, 14);
		pk[i]->l3_off = 14;
		memcpy(pk[i]->key.dst + 12, pk[i]->data + 30, 4);
	}
}

static const struct nio_service decap_svc = { .name = "decap", .process = decap_outer };

/* The TTL drops once, on the packet as received: an outer header a service builds keeps its
 * TTL (1 here), and the inner packet of one addressed to the gateway drops once after decap. */
static void test_ttl_as_received(void **state)
{
	static const uint8_t ucast[6] = { 2, 0, 0, 0, 0, 1 }, h4[4] = H4, d4[4] = D4,
			     gw4[4] = { 192, 0, 2, 1 };
	struct nio_pipeline *pl = guard_setup();
	struct nio_worker w = { 0 };
	uint8_t f[256], l4[64], udp[8] = { 0, 1, 0, 2, 0, 8 };
	struct nio_pkt *p;
	size_t n;

	(void)state;
	pl->nsvcs = 1;
	pl->svcs[0].svc = &encap_svc;
	n = frame4(f, ucast, h4, d4, 64, 17, 0, udp, 8);
	p = inject(f, n);
	nio_pipeline_run(&w, &gc, pl, &p, 1);
	assert_int_equal(sent[1].n, 1);
	assert_int_equal(sent[1].frame[0][14 + 8], 1);	/* outer: exactly the service's */
	assert_int_equal(sent[1].frame[0][34 + 8], 63); /* inner: once */
	assert_int_equal(pl->stats[0].drops[NIO_DROP_TTL], 0);

	pl = guard_setup();
	pl->nsvcs = 1;
	pl->svcs[0].svc = &decap_svc;
	frame4(l4, ucast, h4, d4, 64, 17, 0, udp, 8);
	n = frame4(f, ucast, h4, gw4, 1, 4, 0, l4 + 14, 28);
	p = inject(f, n);
	nio_pipeline_run(&w, &gc, pl, &p, 1);
	assert_int_equal(sent[1].n, 1);
	assert_int_equal(sent[1].frame[0][14 + 8], 63);
	assert_int_equal(pl->stats[0].drops[NIO_DROP_TTL], 0);

	/* the same to a tunnel end that is no port's address, once a service claims it */
	pl = guard_setup();
	pl->nsvcs = 1;
	pl->svcs[0].svc = &decap_svc;
	memcpy(gc.endpoints[0], (uint8_t[]){ [10] = 0xff, 0xff, 203, 0, 113, 1 }, 16);
	gc.nendpoints = 1;
	n = frame4(f, ucast, h4, (uint8_t[]){ 203, 0, 113, 1 }, 1, 4, 0, l4 + 14, 28);
	p = inject(f, n);
	nio_pipeline_run(&w, &gc, pl, &p, 1);
	assert_int_equal(sent[1].n, 1);
	assert_int_equal(sent[1].frame[0][14 + 8], 63);
	assert_int_equal(pl->stats[0].drops[NIO_DROP_TTL], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_follows_destination),
		cmocka_unit_test(test_port_shaper),
		cmocka_unit_test(test_neighbour_miss_waits),
		cmocka_unit_test(test_neighbour_wait_bounded),
		cmocka_unit_test(test_reject_routes),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_guard_and_icmp),
		cmocka_unit_test(test_too_big_multicast6),
		cmocka_unit_test(test_ttl_as_received),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

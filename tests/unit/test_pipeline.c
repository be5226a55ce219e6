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
	uint8_t icmp[16][2]; /* type and code, when the frame is an IPv4 ICMP message */
};
static struct sent sent[2];

static uint16_t rec_tx(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	struct sent *s = &sent[port->id];

	for (uint16_t i = 0; i < n && s->n < 16; i++) {
		if (pkts[i]->data[14 + 9] == 1)
			memcpy(s->icmp[s->n], pkts[i]->data + 14 + 20, 2);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_follows_destination),
		cmocka_unit_test(test_neighbour_miss_waits),
		cmocka_unit_test(test_neighbour_wait_bounded),
		cmocka_unit_test(test_reject_routes),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

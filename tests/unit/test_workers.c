/* Unit tests of the worker group: handoff rings, flow steering with two workers, a service that
 * must run on one worker, per-worker counters adding up, counters kept over a reload, and a
 * stuck worker reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <netio/csum.h>

#include "../../netiod/trace.h"
#include <jansson.h>

#define NFLOWS	  64
#define PER_FLOW  40
#define NFRAMES	  (NFLOWS * PER_FLOW)
#define FRAME_LEN 60

/* ---- an in-memory port: queue q hands out the frames of flows f with f % nqueues == q, in
 * sequence order; TX logs (flow, seq, worker) in the order the workers send */
struct txlog {
	uint16_t flow, seq;
	uint8_t worker;
};

static struct {
	uint32_t next[NIO_MAX_WORKERS]; /* per queue: index of the next frame to look at */
	struct txlog log[NFRAMES];
	atomic_uint nlog;
	uint16_t dport;
	/* set: lan receives into this region's buffers in place and wan "sends" a buffer of it
	 * by keeping it in its worker's TX ring until the next flush completes it */
	struct nio_region *region;
	struct nio_pkt *txring[NIO_MAX_WORKERS][NIO_BURST_MAX * 4];
	unsigned ntx[NIO_MAX_WORKERS];
} mem;

static void frame(uint8_t *f, unsigned flow, unsigned seq)
{
	uint8_t *ip = f + 14, *udp = ip + 20;

	memset(f, 0, FRAME_LEN);
	memcpy(f, "\x02\0\0\0\0\x01\x02\0\0\0\0\x0a\x08\x00", 14);
	ip[0] = 0x45;
	ip[3] = FRAME_LEN - 14;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\xc0\x00\x02\x0a", 4);
	memcpy(ip + 16, "\xc6\x33\x64\x0a", 4);
	ip[10] = ip[11] = 0;
	{
		uint16_t c = nio_csum(ip, 20);

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	udp[0] = (uint8_t)((1000 + flow) >> 8);
	udp[1] = (uint8_t)(1000 + flow);
	udp[2] = (uint8_t)(mem.dport >> 8);
	udp[3] = (uint8_t)mem.dport;
	udp[5] = FRAME_LEN - 34;
	udp[8] = (uint8_t)flow;
	udp[9] = (uint8_t)(seq >> 8);
	udp[10] = (uint8_t)seq;
}

static uint16_t mem_rx(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
		       uint16_t max)
{
	unsigned q = port->nqueues > 1 ? nio_worker_self() : 0;
	uint16_t n = 0;

	if (port->id != 0)
		return 0; /* wan only sends */
	while (n < max && mem.next[q] < NFRAMES) {
		unsigned i = mem.next[q]++, flow = i % NFLOWS, seq = i / NFLOWS;
		struct nio_pkt *p;

		if (flow % port->nqueues != q)
			continue;
		p = mem.region ? nio_region_get(mem.region, nio_worker_self()) : nio_pool_get(pool);
		if (!p) {
			mem.next[q]--;
			break;
		}
		frame(p->data, flow, seq);
		p->len = FRAME_LEN;
		p->in_port = port->id;
		nio_port_stats(port)->rx_packets++;
		pkts[n++] = p;
	}
	return n;
}

static uint16_t mem_tx(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *pl = pkts[i]->data + 14 + 20 + 8;
		unsigned k = atomic_fetch_add(&mem.nlog, 1);

		mem.log[k] = (struct txlog){ pl[0], (uint16_t)(pl[1] << 8 | pl[2]),
					     (uint8_t)nio_worker_self() };
		nio_port_stats(port)->tx_packets++;
		if (mem.region && nio_region_of(pkts[i]) == mem.region) {
			mem.txring[nio_worker_self()][mem.ntx[nio_worker_self()]++] = pkts[i];
			pkts[i] = NULL; /* moved: back through the completion in mem_flush */
		}
	}
	return n;
}

/* The calling worker's sent buffers complete and are freed (home over the back rings). */
static void mem_flush(struct nio_port *port)
{
	unsigned w = nio_worker_self();

	(void)port;
	for (unsigned i = 0; i < mem.ntx[w]; i++)
		nio_worker_pkt_free(mem.txring[w][i]);
	mem.ntx[w] = 0;
}

static void mem_close(struct nio_port *port)
{
	(void)port;
}

static const struct nio_port_ops mem_ops = {
	.name = "mem",
	.rx_burst = mem_rx,
	.tx_burst = mem_tx,
	.close = mem_close,
	.flush = mem_flush,
};

/* ---- a service without NIO_SVC_F_MT_SAFE: it must never run on two workers */
static atomic_int inflight, overlaps, hang, hanging;
static atomic_uint ran_on; /* bit per worker */

/* its counters: "seen" packets and "gone" (always 0); a newer version renames "gone" to "new" */
static const char *const one_names[] = { "seen", "gone", NULL };
static const char *const one_names_v2[] = { "new", "seen", NULL };

static void *one_init(const struct nio_host *h, const struct nio_conf *c, char *err, size_t len)
{
	(void)h;
	(void)c;
	(void)err;
	(void)len;
	return calloc(2, sizeof(uint64_t));
}

static void one_fini(void *inst)
{
	free(inst);
}

static const uint64_t *one_counters(void *inst)
{
	return inst;
}

static void one_process(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts)
{
	((uint64_t *)inst)[0] += n; /* one worker at a time (not MT-safe) */
	(void)pkts;
	(void)n;
	(void)verdicts;
	if (atomic_fetch_add(&inflight, 1))
		atomic_fetch_add(&overlaps, 1);
	atomic_fetch_or(&ran_on, 1u << nio_worker_self());
	while (atomic_load(&hang)) {
		atomic_store(&hanging, 1);
		usleep(1000);
	}
	usleep(50); /* widen the window another worker would have to overlap */
	atomic_fetch_sub(&inflight, 1);
}

static const struct nio_service one_service = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "one",
	.init = one_init,
	.fini = one_fini,
	.process = one_process,
	.counter_names = one_names,
	.counters = one_counters,
};

static const struct nio_service one_service_v2 = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "one",
	.init = one_init,
	.fini = one_fini,
	.process = one_process,
	.counter_names = one_names_v2,
	.counters = one_counters,
};

/* ---- the group under test */
static struct netiod d;
static struct nio_plugin one_plugin = { .name = "one", .svc = &one_service };

/* A configuration of one pipeline from lan to wan, on the in-memory ports. */
static struct nio_config *load(unsigned nqueues, const char *pipeline, const char *service)
{
	char text[1024], err[512];
	struct nio_config *c;

	snprintf(text, sizeof(text),
		 "workers = 2\nspin-us = 0\n"
		 "port lan { driver = \"pcap\" output = \"/dev/null\" mac = \"02:00:00:00:00:01\" "
		 "}\n"
		 "port wan { driver = \"pcap\" output = \"/dev/null\" mac = \"02:00:00:00:00:02\" "
		 "}\n"
		 "pipeline %s { match { in = \"lan\" } %s out = \"wan\" "
		 "dst-mac = \"02:00:00:00:00:03\" }\n",
		 pipeline, service);
	c = nio_config_load(&d, NULL, text, err, sizeof(err));
	assert_non_null(c);
	for (unsigned i = 0; i < c->nports; i++) {
		c->ports[i]->ops = &mem_ops;
		c->ports[i]->open = true;
		c->ports[i]->refs = 1;
		c->ports[i]->id = (uint16_t)i;
		c->ports[i]->nqueues = nqueues;
		c->ports[i]->rx_worker = 0;
		c->ports[i]->tx_shared = nqueues < 2;
	}
	return c;
}

/* The group with its configuration, workers not started yet; lan receives into r if given. */
static struct nio_config *configure_region(struct nio_region *r, unsigned nqueues,
					   const char *service)
{
	char err[512];
	struct nio_config *c;

	memset(&mem, 0, sizeof(mem));
	mem.region = r;
	mem.dport = 7000;
	atomic_store(&ran_on, 0);
	atomic_store(&overlaps, 0);
	memset(&d, 0, sizeof(d));
	d.nworkers = 2;
	one_plugin.svc = &one_service;
	d.plugins = &one_plugin;
	c = load(nqueues, "p", service);
	assert_int_equal(nio_apply_config(&d, c, err, sizeof(err)), 0);
	return c;
}

static struct nio_config *configure(unsigned nqueues, const char *service)
{
	return configure_region(NULL, nqueues, service);
}

static struct nio_config *setup_region(struct nio_region *r, unsigned nqueues, const char *service)
{
	struct nio_config *c = configure_region(r, nqueues, service);

	assert_int_equal(nio_workers_init(&d), 0);
	assert_int_equal(nio_workers_start(&d, NULL, 0), 0);
	return c;
}

static struct nio_config *setup(unsigned nqueues, const char *service)
{
	return setup_region(NULL, nqueues, service);
}

static void wait_sent(unsigned n)
{
	for (unsigned i = 0; i < 10000 && atomic_load(&mem.nlog) < n; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&mem.nlog), n);
}

static void teardown(void)
{
	nio_workers_stop(&d);
	nio_config_free(d.running);
	nio_workers_fini(&d);
}

/* Every flow left in order, from one worker; returns a bit per worker that sent. */
static unsigned check_flows(void)
{
	int last[NFLOWS], who[NFLOWS];
	unsigned used = 0;

	for (unsigned f = 0; f < NFLOWS; f++)
		last[f] = who[f] = -1;
	for (unsigned i = 0; i < atomic_load(&mem.nlog); i++) {
		const struct txlog *l = &mem.log[i];

		assert_true(l->seq > last[l->flow] || last[l->flow] < 0);
		assert_int_equal(l->seq, last[l->flow] + 1); /* in order, none missing */
		last[l->flow] = l->seq;
		if (who[l->flow] < 0)
			who[l->flow] = l->worker;
		assert_int_equal(who[l->flow], l->worker); /* a flow never moves */
		used |= 1u << l->worker;
	}
	return used;
}

/* Counter rows add up: the sums equal the frames that went through. */
static void check_sums(const struct nio_config *c)
{
	struct nio_port_stats lan, wan;
	struct nio_pipeline_stats pl;

	nio_port_stats_sum(c->ports[0], d.nworkers, &lan);
	nio_port_stats_sum(c->ports[1], d.nworkers, &wan);
	nio_pipeline_stats_sum(&c->pipelines[0], d.nworkers, &pl);
	assert_int_equal(lan.rx_packets, NFRAMES);
	assert_int_equal(wan.tx_packets, NFRAMES);
	assert_int_equal(pl.packets, NFRAMES);
	assert_int_equal(pl.tx_packets, NFRAMES);
	assert_int_equal(c->ports[0]->stats[0].rx_packets + c->ports[0]->stats[1].rx_packets,
			 NFRAMES);
}

/* A port with one queue: its worker spreads flows over both by hash, each flow in order. */
static void test_single_queue_spread(void **state)
{
	struct nio_config *c;

	(void)state;
	c = setup(1, "");
	wait_sent(NFRAMES);
	assert_int_equal(check_flows(), 3); /* both workers sent */
	check_sums(c);
	assert_true(d.workers[0].stats.handoff_out > 0);
	assert_int_equal(d.workers[1].stats.handoff_out, 0); /* worker 1 receives nothing */
	assert_int_equal(c->ports[0]->stats[1].rx_packets, 0);
	teardown();
}

/* Two queues (fanout): a flow stays on its receiving worker, no handoff for an MT-safe chain. */
static void test_queues_stay(void **state)
{
	struct nio_config *c;

	(void)state;
	c = setup(2, "");
	wait_sent(NFRAMES);
	assert_int_equal(check_flows(), 3);
	check_sums(c);
	assert_int_equal(d.workers[0].stats.handoff_out + d.workers[1].stats.handoff_out, 0);
	teardown();
}

/* A service not declared MT-safe: every packet runs on the pipeline's owner, never two at once;
 * the other worker's flows are handed over, in order. */
static void test_owner_gets_all(void **state)
{
	struct nio_config *c;

	(void)state;
	c = setup(2, "service one { }");
	assert_int_equal(c->pipelines[0].owner, 0);
	wait_sent(NFRAMES);
	assert_int_equal(check_flows(), 1); /* only the owner sent */
	assert_int_equal(atomic_load(&ran_on), 1);
	assert_int_equal(atomic_load(&overlaps), 0);
	assert_int_equal(d.workers[1].stats.handoff_out, NFRAMES / 2);
	assert_int_equal(d.workers[0].stats.handoff_in, NFRAMES / 2);
	/* the handed-over buffers went home to worker 1's pool */
	for (unsigned i = 0; i < 1000 && d.workers[1].pool.nfree != d.workers[1].pool.size; i++)
		usleep(1000);
	assert_int_equal(d.workers[1].pool.nfree, d.workers[1].pool.size);
	check_sums(c);
	teardown();
}

/*
 * Packets received in place into a region, handed between workers (an owned service) and
 * moved to a TX ring: fewer buffers than frames, so they must come home to be used again, and
 * at the end every one is back on its owner's list, none twice.
 */
static void test_region_all_back(void **state)
{
	char err[256];
	struct nio_region *r = nio_region_create("mem", 256, 4096, 2, err, sizeof(err));
	struct nio_config *c;

	(void)state;
	assert_non_null(r);
	c = setup_region(r, 2, "service one { }");
	wait_sent(NFRAMES);
	check_flows();
	check_sums(c);
	for (unsigned i = 0; i < 5000 && nio_region_home(r) != r->nbufs; i++)
		usleep(1000);
	assert_true(d.workers[0].stats.returned > 0); /* worker 1's came home over a back ring */
	teardown();
	assert_int_equal(nio_region_home(r), r->nbufs);
	assert_int_equal(r->double_puts, 0);
	for (uint32_t i = 0; i < r->nbufs; i++)
		assert_int_equal(r->home[i], 1);
	mem.region = NULL;
	nio_region_unref(r);
}

/* A good reload keeps every total of a pipeline and a service of the same name, worker row for
 * worker row, a service counter matched by name (renamed: dropped, new: 0); a pipeline of
 * another name starts from 0. */
static void test_reload_keeps_counters(void **state)
{
	struct nio_pipeline_stats before, after;
	struct nio_svc_stats sb, sa;
	const struct nio_svc_inst *si;
	struct nio_config *c;
	uint64_t row[2];
	char err[256];

	(void)state;
	c = setup(2, "service one { }");
	wait_sent(NFRAMES);
	nio_pipeline_stats_sum(&c->pipelines[0], d.nworkers, &before);
	nio_svc_stats_sum(&c->pipelines[0].svcs[0], d.nworkers, &sb);
	assert_int_equal(before.packets, NFRAMES);
	assert_int_equal(sb.packets, NFRAMES);
	for (unsigned w = 0; w < d.nworkers; w++)
		row[w] = c->pipelines[0].stats[w].packets;

	one_plugin.svc = &one_service_v2; /* the new code reorders and renames its counters */
	c = load(2, "p", "service one { }");
	assert_int_equal(nio_apply_config(&d, c, err, sizeof(err)), 0);
	nio_pipeline_stats_sum(&c->pipelines[0], d.nworkers, &after);
	assert_int_equal(after.packets, NFRAMES);
	assert_int_equal(after.tx_packets, NFRAMES);
	for (unsigned w = 0; w < d.nworkers; w++) /* the rows still add up to the total */
		assert_int_equal(c->pipelines[0].stats[w].packets, row[w]);
	si = &c->pipelines[0].svcs[0];
	nio_svc_stats_sum(si, d.nworkers, &sa);
	assert_int_equal(sa.packets, NFRAMES);
	assert_int_equal(nio_svc_counter(si, si->svc->counters(si->inst), 1), NFRAMES); /* seen */
	assert_int_equal(nio_svc_counter(si, si->svc->counters(si->inst), 0), 0);	/* new */

	c = load(2, "q", "service one { }"); /* renamed: a new pipeline */
	assert_int_equal(nio_apply_config(&d, c, err, sizeof(err)), 0);
	nio_pipeline_stats_sum(&c->pipelines[0], d.nworkers, &after);
	assert_int_equal(after.packets, 0);
	si = &c->pipelines[0].svcs[0];
	nio_svc_stats_sum(si, d.nworkers, &sa);
	assert_int_equal(sa.packets, 0);
	assert_int_equal(nio_svc_counter(si, si->svc->counters(si->inst), 1), 0);
	teardown();
}

/* A worker stuck in a service: pause reports it within the timeout instead of hanging, the
 * other worker keeps running, and once unstuck a pause succeeds. */
static void test_stuck_worker(void **state)
{
	char err[256] = "";
	uint64_t loops;

	(void)state;
	atomic_store(&hang, 1);
	atomic_store(&hanging, 0);
	setup(2, "service one { }");
	d.pause_timeout_ms = 1000; /* generous on a loaded machine */
	for (unsigned i = 0; i < 5000 && !atomic_load(&hanging); i++)
		usleep(1000);
	assert_true(atomic_load(&hanging));
	assert_int_equal(nio_workers_pause(&d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "worker 0 is not responding"));
	loops = atomic_load(&d.workers[1].loops);
	nio_workers_wake(&d);
	for (unsigned i = 0; i < 5000 && atomic_load(&d.workers[1].loops) == loops; i++)
		usleep(1000);
	assert_true(atomic_load(&d.workers[1].loops) > loops); /* the other one was let go */
	atomic_store(&hang, 0);
	assert_int_equal(nio_workers_pause(&d, err, sizeof(err)), 0);
	nio_workers_resume(&d);
	teardown();
}

/* Does a trace record show a handoff by worker 1 and then the owner, worker 0, running it? */
static bool handed_over(json_t *steps)
{
	bool handed = false;
	size_t i;
	json_t *s;

	json_array_foreach (steps, i, s) {
		const char *k = json_string_value(json_object_get(s, "step"));
		json_int_t w = json_integer_value(json_object_get(s, "worker"));

		if (!strcmp(k, "handoff")) {
			assert_int_equal(w, 1);
			assert_int_equal(json_integer_value(json_object_get(s, "to")), 0);
			handed = true;
		} else if (handed) {
			assert_int_equal(w, 0);
		}
	}
	return handed;
}

/* The packet tracer on two workers: the count bounds the records over both, and a packet worker
 * 1 receives keeps its record across the handoff to the pipeline's owner, which ends it. Each
 * queue holds 32 frames, so a count of 48 takes at least 16 of each, however they run. */
static void test_trace_handoff(void **state)
{
	unsigned first[2] = { 0, 0 }, handed = 0;
	char err[256] = "";
	json_t *show, *p, *last;
	size_t i;

	(void)state;
	configure(2, "service one { }");
	mem.next[0] = mem.next[1] = NFRAMES - 64;
	assert_int_equal(nio_trace_arm(2, NIO_TRACE_F_ANY, 0, 48), 0);
	assert_int_equal(nio_workers_init(&d), 0);
	assert_int_equal(nio_workers_start(&d, NULL, 0), 0);
	for (unsigned k = 0; k < 20; k++) { /* read while the workers write: done records only */
		show = nio_trace_request(&d, "trace-show", NULL, err, sizeof(err));
		assert_non_null(show);
		json_decref(show);
	}
	wait_sent(64);
	for (unsigned k = 0; k < 5000 && atomic_load(&nio_trace.on); k++)
		usleep(1000);
	assert_false(atomic_load(&nio_trace.on)); /* every record done: off again */
	show = nio_trace_request(&d, "trace-show", NULL, err, sizeof(err));
	assert_non_null(show);
	assert_int_equal(json_integer_value(json_object_get(show, "traced")), 48);
	json_array_foreach (json_object_get(show, "packets"), i, p) {
		json_t *steps = json_object_get(p, "steps");

		assert_int_equal(json_integer_value(json_object_get(p, "id")), (json_int_t)i + 1);
		assert_true(json_is_true(json_object_get(p, "done")));
		first[json_integer_value(json_object_get(p, "worker"))]++;
		handed += handed_over(steps);
		last = json_array_get(steps, json_array_size(steps) - 1);
		assert_string_equal(json_string_value(json_object_get(last, "step")), "tx");
		assert_string_equal(json_string_value(json_object_get(last, "port")), "wan");
		assert_int_equal(json_integer_value(json_object_get(last, "worker")), 0);
	}
	assert_int_equal(first[0] + first[1], 48);
	assert_true(first[0] >= 16 && first[1] >= 16); /* both workers traced, from one count */
	assert_int_equal(handed, first[1]);
	json_decref(show);
	teardown();
	nio_trace_reset();
}

/* The SPSC ring: bursts in and out in order, a full ring takes a prefix, indices wrap. */
static void test_pktring(void **state)
{
	struct nio_pkt pk[8], *in[8], *out[8];
	struct nio_pktring r;

	(void)state;
	for (unsigned i = 0; i < 8; i++)
		in[i] = &pk[i];
	assert_int_equal(nio_pktring_init(&r, 6), -1); /* not a power of two */
	assert_int_equal(nio_pktring_init(&r, 4), 0);
	atomic_store(&r.head, UINT32_MAX - 1); /* free-running indices about to wrap */
	atomic_store(&r.tail, UINT32_MAX - 1);
	assert_int_equal(nio_pktring_put(&r, in, 3), 3);
	assert_int_equal(nio_pktring_put(&r, in + 3, 3), 1); /* room for one more */
	assert_int_equal(nio_pktring_count(&r), 4);
	assert_int_equal(nio_pktring_get(&r, out, 2), 2);
	assert_ptr_equal(out[0], &pk[0]);
	assert_ptr_equal(out[1], &pk[1]);
	assert_int_equal(nio_pktring_put(&r, in + 4, 4), 2);
	assert_int_equal(nio_pktring_get(&r, out, 8), 4);
	assert_ptr_equal(out[0], &pk[2]);
	assert_ptr_equal(out[1], &pk[3]);
	assert_ptr_equal(out[2], &pk[4]);
	assert_ptr_equal(out[3], &pk[5]);
	assert_int_equal(nio_pktring_get(&r, out, 8), 0);
	nio_pktring_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pktring),	      cmocka_unit_test(test_single_queue_spread),
		cmocka_unit_test(test_queues_stay),   cmocka_unit_test(test_owner_gets_all),
		cmocka_unit_test(test_stuck_worker),  cmocka_unit_test(test_reload_keeps_counters),
		cmocka_unit_test(test_trace_handoff), cmocka_unit_test(test_region_all_back),
	};

	log_init(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

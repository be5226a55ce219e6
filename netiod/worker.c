/* Where a packet enters: worker threads poll the ports, classify, and run pipelines, each
 * flow on one worker (steered by the kernel's fanout or by handing packets over). */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netiod.h"
#include "trace.h"

#define POLL_MAX_MS	 100
#define SPIN_NS		 50000u /* a held packet due sooner than this is waited for awake */
#define PAUSE_TIMEOUT_MS 5000u	/* a worker not quiescent by then is stuck in a service */
#define DRAIN_MAX	 4u	/* bursts taken from one handoff ring per turn */
#define ISO_FDS		 64u	/* isolated services' doorbells a worker sleeps on */

static _Thread_local struct nio_worker *self;
static struct nio_worker *group; /* every worker, for the control thread and buffer returns */

/* p onto its owner's free list: the pool's, or that of the port region it lives in. */
static void home_put(struct nio_pkt *p)
{
	struct nio_region *r = nio_region_of(p);

	if (r)
		nio_region_put(r, p);
	else
		nio_pool_put(&group[p->owner].pool, p);
}

/* The control thread frees a packet only while every worker is paused: straight home. */
static void free_home(struct nio_pkt *p)
{
	home_put(p);
}

/* A buffer of another worker's pool goes back to it in batches over its back ring. */
static void back_flush(struct nio_worker *w, unsigned to)
{
	struct nio_stage *st = &w->back_stage[to];

	if (!st->n)
		return;
	/* the ring holds a whole pool: what is out of a pool always fits */
	nio_pktring_put(&group[to].back[w->id], st->pkts, st->n);
	w->stats.returned += st->n;
	st->n = 0;
}
static _Thread_local const struct nio_config *cur_conf; /* the worker's, for services' calls */

/* The calling worker, NULL on the control thread. */
struct nio_worker *nio_worker_current(void)
{
	return self;
}

/* How the calling worker waits (poll = ...), for drivers that poll differently when busy. */
enum nio_poll nio_worker_poll(void)
{
	return cur_conf ? cur_conf->poll : NIO_POLL_SLEEP;
}

void nio_worker_pkt_free(struct nio_pkt *p)
{
	struct nio_worker *w = self;
	struct nio_stage *st;

	if (nio_traced(p))
		nio_trace_end(p);
	if (!w) {
		free_home(p);
		return;
	}
	if (p->owner == w->id) {
		home_put(p);
		return;
	}
	st = &w->back_stage[p->owner];
	st->pkts[st->n++] = p;
	if (st->n == NIO_HANDOFF_BATCH)
		back_flush(w, p->owner);
}

/* For services' ICMP errors: the input port's own address of the family; -1 if none. */
int nio_worker_icmp_src(const struct nio_pkt *p, uint8_t family, uint8_t *out)
{
	const struct nio_port *in;

	if (!cur_conf || p->in_port >= cur_conf->nports)
		return -1;
	in = cur_conf->ports[p->in_port];
	if (family == 4 && in->has_v4)
		memcpy(out, &in->addr4, 4);
	else if (family == 6 && in->has_v6)
		memcpy(out, &in->addr6, 16);
	else
		return -1;
	return 0;
}

/* For services that turn one packet into several; NULL outside a worker. */
struct nio_pkt *nio_worker_pkt_alloc(void)
{
	return self ? nio_pool_get(&self->pool) : NULL;
}

/* host->icmp_too_big: the error built as the pipeline builds it for a route's MTU, about a
 * packet a service would have grown past the path's MTU (it cannot be sent as the outer one). */
int nio_worker_icmp_too_big(struct nio_pkt *p, uint32_t mtu)
{
	if (!cur_conf || p->in_port >= cur_conf->nports ||
	    nio_icmp_too_big(p, cur_conf->ports[p->in_port], mtu) < 0)
		return -1;
	p->flags |= NIO_PKT_F_L2DONE;
	return 0;
}

/* Buffers other workers are done with, back into the pool. */
static void take_back(struct nio_worker *w, unsigned nworkers)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];
	uint16_t n;

	for (unsigned i = 0; i < nworkers; i++)
		while (i != w->id && (n = nio_pktring_get(&w->back[i], pkts, NIO_BURST_MAX)))
			for (uint16_t k = 0; k < n; k++)
				home_put(pkts[k]);
}

/* ------------------------------------------------------------------ handoff */

/* Wake a worker that may be asleep in poll(); pairs with the fence in idle_wait(). */
static void poke(struct nio_worker *to)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&to->sleeping, memory_order_relaxed))
		nio_worker_wake(to);
}

static void out_flush(struct nio_worker *w, unsigned to)
{
	struct nio_stage *st = &w->out_stage[to];
	uint16_t k;

	if (!st->n)
		return;
	k = nio_pktring_put(&group[to].in[w->id], st->pkts, st->n);
	w->stats.handoff_out += k;
	/* the destination is that far behind: drop, counted as the worker's handoff_full */
	for (uint16_t i = k; i < st->n; i++) {
		w->stats.handoff_full++;
		if (nio_traced(st->pkts[i]))
			nio_trace_drop(st->pkts[i], NIO_TRACE_DROP_HANDOFF_FULL);
		nio_worker_pkt_free(st->pkts[i]);
	}
	st->n = 0;
	poke(&group[to]);
}

/* Queue p for worker to (staged, written to its ring by the batch or at the end of the turn). */
int nio_worker_handoff(struct nio_worker *w, unsigned to, struct nio_pkt *p)
{
	struct nio_stage *st = &w->out_stage[to];
	struct nio_trace_step *s;

	if (nio_traced(p) && (s = nio_trace_step(p, NIO_TRACE_HANDOFF)))
		s->a = (uint16_t)to; /* the record travels with the packet */
	p->flow = NULL; /* an entry of this worker's flow table: the other has its own */
	p->svc_state = NULL;
	st->pkts[st->n++] = p;
	if (st->n == NIO_HANDOFF_BATCH)
		out_flush(w, to);
	return 0;
}

/* End of a turn: nothing stays staged, so a pause finds every packet in a ring. */
static void stages_flush(struct nio_worker *w, unsigned nworkers)
{
	for (unsigned i = 0; i < nworkers; i++) {
		out_flush(w, i);
		back_flush(w, i);
	}
}

void nio_worker_miss_push(struct nio_worker *w, const uint8_t addr[16], int ifindex)
{
	unsigned head = atomic_load_explicit(&w->miss_head, memory_order_relaxed);
	unsigned tail = atomic_load_explicit(&w->miss_tail, memory_order_acquire);
	uint64_t one = 1;

	if (head - tail >= 64)
		return; /* the control thread is behind; the next miss asks again */
	for (unsigned i = tail; i != head; i++)
		if (!memcmp(w->miss_addr[i % 64], addr, 16))
			return; /* already asked */
	memcpy(w->miss_addr[head % 64], addr, 16);
	w->miss_ifindex[head % 64] = ifindex;
	/* release: the slot is written before the control thread can see the new head */
	atomic_store_explicit(&w->miss_head, head + 1, memory_order_release);
	(void)!write(w->miss_fd, &one, sizeof(one)); /* EAGAIN: a wake-up is already pending */
}

int nio_worker_miss_pop(struct nio_worker *w, uint8_t addr[16], int *ifindex)
{
	unsigned tail = atomic_load_explicit(&w->miss_tail, memory_order_relaxed);
	unsigned head = atomic_load_explicit(&w->miss_head, memory_order_acquire);

	if (tail == head)
		return -1;
	memcpy(addr, w->miss_addr[tail % 64], 16);
	*ifindex = w->miss_ifindex[tail % 64];
	atomic_store_explicit(&w->miss_tail, tail + 1, memory_order_release);
	return 0;
}

static void flow_detach(struct nio_flow *f, void *arg)
{
	const struct nio_config *c = arg;
	const struct nio_pipeline *pl;

	if (!f->attached || f->pipeline < 0 || (unsigned)f->pipeline >= c->npipelines)
		return;
	pl = &c->pipelines[f->pipeline];
	for (unsigned i = 0; i < pl->nsvcs; i++)
		if (pl->svcs[i].svc->flow_detach && pl->svcs[i].svc->flow_state_size &&
		    !pl->svcs[i].iso)
			pl->svcs[i].svc->flow_detach(pl->svcs[i].inst,
						     f->state + pl->svcs[i].state_off);
}

static void flow_attach(const struct nio_config *c, struct nio_flow *f)
{
	const struct nio_pipeline *pl = &c->pipelines[f->pipeline];

	for (unsigned i = 0; i < pl->nsvcs; i++)
		if (pl->svcs[i].svc->flow_attach && pl->svcs[i].svc->flow_state_size &&
		    !pl->svcs[i].iso)
			pl->svcs[i].svc->flow_attach(pl->svcs[i].inst,
						     f->state + pl->svcs[i].state_off, &f->key);
	f->attached = true;
}

/*
 * The worker that runs a packet of pipeline pl: the pipeline's owner if it has one, else for a
 * port with one queue (its single poller spreads the load) the flow hash's worker, else the
 * receiving worker. Fixed for a flow key within one configuration, so a flow never moves.
 */
static unsigned target_of(const struct nio_worker *w, const struct nio_config *c,
			  const struct nio_pipeline *pl, const struct nio_pkt *p, bool spread)
{
	if (pl->owner >= 0)
		return (unsigned)pl->owner;
	if (spread)
		return p->hash % c->nworkers;
	return w->id;
}

/* A new flow's pipeline: by its claim where that is certain (counted), else the first match. */
static int classify(const struct nio_config *c, const struct nio_pkt *p)
{
	int pl = nio_is_port_addr(c, p->key.family, p->key.dst) ? -1 : nio_classify_hint(c, p);

	if (pl < 0) /* what 'netioctl route get' asks too */
		return nio_classify_flow(c, &p->key);
	nio_port_stats(c->ports[p->in_port])->flows_hinted++; /* a hint implies a valid in_port */
	return pl;
}

static struct nio_flow *flow_get(struct nio_worker *w, const struct nio_config *c,
				 struct nio_pkt *p, uint64_t now, bool spread)
{
	struct nio_flow *f = nio_flow_lookup(&w->flows, &p->key, p->hash);

	if (f)
		return f;
	f = nio_flow_insert(&w->flows, &p->key, p->hash, now, flow_detach, (void *)c);
	if (!f)
		return NULL;
	f->pipeline = (int16_t)classify(c, p);
	f->attached = false;
	/* a flow whose packets run elsewhere is only a classification cache here */
	if (f->pipeline >= 0 && target_of(w, c, &c->pipelines[f->pipeline], p, spread) == w->id)
		flow_attach(c, f);
	return f;
}

/* flow_get for a burst while a trace is on: the tracer learns whether the flow was known. */
static struct nio_flow *flow_get_traced(struct nio_worker *w, const struct nio_config *c,
					struct nio_pkt *p, uint64_t now, bool spread)
{
	uint64_t hits = w->flows.hits;
	struct nio_flow *f = flow_get(w, c, p, now, spread);

	nio_trace_flow(c, p, f, w->flows.hits != hits);
	return f;
}

/*
 * Look up, and run or hand over, parsed packets. spread: they came from a port with a single
 * queue, so the flow hash picks the worker; false for packets another worker handed over.
 */
static void dispatch(struct nio_worker *w, struct nio_config *c, struct nio_pkt **pkts, uint16_t n,
		     uint64_t now, bool spread)
{
	static _Thread_local struct nio_pkt *vec[NIO_MAX_PIPELINES][NIO_BURST_MAX];
	uint16_t cnt[NIO_MAX_PIPELINES] = { 0 };
	uint64_t used = 0; /* bit per pipeline; NIO_MAX_PIPELINES <= 64 */
	bool tr = nio_tracing();

	for (uint16_t i = 0; i < n; i++) {
		struct nio_pkt *p = pkts[i];
		struct nio_flow *f =
			tr ? flow_get_traced(w, c, p, now, spread) : flow_get(w, c, p, now, spread);
		unsigned to;

		if (!f || f->pipeline < 0) {
			if (p->in_port < c->nports)
				nio_port_stats(c->ports[p->in_port])->rx_unclaimed++;
			if (nio_traced(p))
				nio_trace_step(p, NIO_TRACE_UNCLAIMED);
			nio_worker_pkt_free(p);
			continue;
		}
		f->last_ns = now;
		to = target_of(w, c, &c->pipelines[f->pipeline], p, spread);
		if (to != w->id) {
			nio_worker_handoff(w, to, p);
			continue;
		}
		f->packets++;
		f->bytes += p->len;
		p->flow = f;
		vec[f->pipeline][cnt[f->pipeline]++] = p;
		used |= 1ull << f->pipeline;
	}
	for (unsigned pl = 0; used; pl++, used >>= 1)
		if (used & 1)
			nio_pipeline_run(w, c, &c->pipelines[pl], vec[pl], cnt[pl]);
}

/* Parse a received burst and dispatch it. */
static void process_rx(struct nio_worker *w, struct nio_config *c, struct nio_port *port,
		       struct nio_pkt **pkts, uint16_t n, uint64_t now)
{
	uint16_t kept = 0;

	if (nio_tracing())
		nio_trace_rx(port, pkts, n);
	for (uint16_t i = 0; i < n; i++) {
		struct nio_pkt *p = pkts[i];
		int r = nio_parse(p);

		if (r) {
			if (r < 0)
				nio_port_stats(port)->rx_ignored++;
			else
				nio_port_stats(port)->drops[r - 1]++;
			if (nio_traced(p))
				nio_trace_unparsed(p, r);
			nio_worker_pkt_free(p);
			continue;
		}
		p->hash = nio_flow_hash(&p->key);
		pkts[kept++] = p;
	}
	dispatch(w, c, pkts, kept, now, port->nqueues == 1 && c->nworkers > 1);
}

/* Packets other workers handed over, oldest first: a flow's order is kept. */
static unsigned drain_handoff(struct nio_worker *w, struct nio_config *c, uint64_t now)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];
	unsigned total = 0;

	for (unsigned i = 0; i < c->nworkers; i++) {
		uint16_t n;

		if (i == w->id)
			continue;
		for (unsigned b = 0; b < DRAIN_MAX; b++) {
			n = nio_pktring_get(&w->in[i], pkts, (uint16_t)c->burst);
			if (!n)
				break;
			w->stats.handoff_in += n;
			total += n;
			n = nio_egress_take(c, pkts, n);
			dispatch(w, c, pkts, n, now, false);
		}
	}
	return total;
}

/* Open and not gone; relaxed: a port found gone a turn late only returns nothing. */
static bool port_live(struct nio_port *p)
{
	return p->open && !atomic_load_explicit(&p->gone, memory_order_relaxed);
}

/* Does worker w receive on port p: its own queue, or the single queue it was given. */
static bool port_mine(const struct nio_worker *w, const struct nio_port *p)
{
	return p->nqueues > 1 || p->rx_worker == w->id;
}

/* What the kernel dropped on this worker's RX rings since the last look, into its rows. */
static void ring_drops(struct nio_worker *w, struct nio_config *c)
{
	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_port *port = c->ports[i];
		struct nio_ring_stats rs = { 0 };

		if (!port_live(port) || !port_mine(w, port) || !port->ops->ring_stats)
			continue;
		port->ops->ring_stats(port, &rs);
		nio_port_stats(port)->drops[NIO_DROP_RING_FULL] += rs.rx_full;
		nio_port_stats(port)->rx_ring_freezes += rs.rx_freezes;
	}
}

/* Every bucket of the flow table is checked for idle flows once a second, a 64th of them every
 * 1/64 s: a slice of the default table is 1024 buckets, a few us, where a whole scan held a
 * turn up for ~160 us under load. */
#define EXPIRE_SLICES 64u

static void expire_slice(struct nio_worker *w, struct nio_config *c, uint64_t now)
{
	uint32_t nb = w->flows.nbuckets / EXPIRE_SLICES;

	nio_flow_expire_some(&w->flows, nb ? nb : 1, now, (uint64_t)c->flow_idle_ms * 1000000ull,
			     flow_detach, c);
}

static unsigned poll_ports(struct nio_worker *w, struct nio_config *c, uint64_t now)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];
	unsigned total = 0;

	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_port *port = c->ports[i];
		uint16_t n;

		if (!port_live(port) || !port_mine(w, port))
			continue;
		n = port->ops->rx_burst(port, &w->pool, pkts, (uint16_t)c->burst);
		if (n)
			process_rx(w, c, port, pkts, n, now);
		total += n;
	}
	return total;
}

static void flush_ports(struct nio_config *c)
{
	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_port *p = c->ports[i];

		if (!p->open || !p->ops->flush)
			continue;
		nio_port_tx_lock(p);
		p->ops->flush(p);
		nio_port_tx_unlock(p);
	}
}

/* Nothing to do: sleep in poll() on the ports this worker receives on and its eventfd. */
static void idle_wait(struct nio_worker *w, struct nio_config *c, uint64_t timeout_ns)
{
	struct timespec ts;
	struct pollfd fds[NIO_MAX_PORTS + 1 + ISO_FDS];
	struct nio_port *ports[NIO_MAX_PORTS + 1];
	unsigned niso = 0;
	bool iso_pending = false;
	nfds_t n = 0;
	uint64_t v;

	fds[n++] = (struct pollfd){ .fd = w->wake_fd, .events = POLLIN };
	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_port *p = c->ports[i];
		int fd = port_live(p) && port_mine(w, p) && p->ops->fd ? p->ops->fd(p) : -1;

		if (fd >= 0) {
			ports[n] = p;
			fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
	}
	/* isolated services' doorbells after the ports' */
	if (c->any_iso)
		niso = nio_iso_sleep_fds(w, c, fds + n, ISO_FDS, &iso_pending);
	if (iso_pending)
		timeout_ns = 0;
	atomic_store_explicit(&w->sleeping, true, memory_order_relaxed);
	/* pairs with poke(): either the producer sees sleeping or this sees its packets */
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < c->nworkers; i++) {
		if (i != w->id && nio_pktring_count(&w->in[i])) {
			timeout_ns = 0;
			break;
		}
	}
	w->idle_sleeps++;
	ts = (struct timespec){ (time_t)(timeout_ns / 1000000000u),
				(long)(timeout_ns % 1000000000u) };
	if (ppoll(fds, n + niso, &ts, NULL) <= 0) {
		atomic_store_explicit(&w->sleeping, false, memory_order_relaxed);
		if (niso)
			nio_iso_woken(w, c, fds + n, niso);
		return;
	}
	atomic_store_explicit(&w->sleeping, false, memory_order_relaxed);
	if (niso)
		nio_iso_woken(w, c, fds + n, niso);
	if (fds[0].revents & POLLIN)
		(void)!read(w->wake_fd, &v, sizeof(v));
	/* An error poll() keeps reporting would never let the worker sleep again. */
	for (nfds_t i = 1; i < n; i++) {
		if (!(fds[i].revents & (POLLERR | POLLNVAL)))
			continue;
		nio_port_stats(ports[i])->poll_errors++;
		if (!ports[i]->ops->poll_error || ports[i]->ops->poll_error(ports[i]) < 0)
			atomic_store(&ports[i]->gone, true);
	}
}

static void honour_pause(struct nio_worker *w)
{
	atomic_store(&w->paused, 1);
	while (atomic_load(&w->pause_req) && !atomic_load(&w->stop))
		usleep(50);
	atomic_store(&w->paused, 0);
}

/*
 * How long to sleep when a held packet is due at next_ns (0: none; ports and the eventfd wake
 * the worker for new work). A real-time worker's timer has no slack and its wake-up preempts
 * whatever runs, so it sleeps until SPIN_NS before the release: spinning longer would keep
 * every other task off its CPU. Any other worker sleeps whole milliseconds, rounded down, and
 * spins the rest: its wake-up may wait for the CPU, and waking early absorbs that
 * (BENCHMARKS.md: sleeping to the release made the shaper later under load).
 */
static uint64_t sleep_ns(uint64_t now, uint64_t next_ns, bool rt)
{
	uint64_t d;

	if (!next_ns)
		return POLL_MAX_MS * 1000000ull;
	if (next_ns <= now + SPIN_NS)
		return 0;
	d = next_ns - now;
	if (d > POLL_MAX_MS * 1000000ull)
		return POLL_MAX_MS * 1000000ull;
	return rt ? d - SPIN_NS : d / 1000000 * 1000000;
}

/* Only the owner of a held packet's pipeline dequeues it: the service runs on one worker. */
static bool dequeues_here(const struct nio_worker *w, const struct nio_config *c)
{
	if (!c->any_dequeue)
		return false;
	if (nio_egress_here(w, c))
		return true;
	for (unsigned i = 0; i < c->npipelines; i++)
		if (c->pipelines[i].owner < 0 || (unsigned)c->pipelines[i].owner == w->id)
			return true;
	return false;
}

static void pin(struct nio_worker *w)
{
	cpu_set_t set;

	if (w->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET((unsigned)w->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		log_warnx("worker %u: cannot pin to CPU %d", w->id, w->cpu);
}

static void *worker_main(void *arg)
{
	struct nio_worker *w = arg;
	uint64_t last_busy = nio_now_ns(), last_expire = last_busy, last_ring = last_busy;

	self = w;
	nio_self = w->id;
	pin(w);
	/* the start waits for this: a policy the system refuses stops netiod with the reason */
	atomic_store(&w->sched_done, nio_wsched_apply(&atomic_load(&w->cfg)->wsched, w->sched_err,
						      sizeof(w->sched_err)) < 0
					     ? -1
					     : 1);
	while (!atomic_load(&w->stop)) {
		struct nio_config *c;
		uint64_t now = nio_now_ns(), next = 0;
		unsigned n;

		if (atomic_load(&w->pause_req)) {
			honour_pause(w);
			continue;
		}
		c = atomic_load_explicit(&w->cfg, memory_order_acquire);
		take_back(w, c->nworkers);
		cur_conf = c;
		/* before new packets, so those that waited for a neighbour leave first */
		nio_pending_run(&w->pending, c, atomic_load_explicit(&w->fib, memory_order_acquire),
				now);
		n = drain_handoff(w, c, now);
		n += poll_ports(w, c, now);
		if (c->any_iso)
			n += nio_iso_poll(w, c);
		if (dequeues_here(w, c)) {
			nio_pipeline_dequeue(w, c, now, &next);
			nio_egress_dequeue(w, c, now, &next);
		}
		stages_flush(w, c->nworkers);
		flush_ports(c);
		/* seq_cst: neigh.c frees a fib snapshot once loops has moved on by two */
		atomic_fetch_add(&w->loops, 1);
		if (now - last_expire > 1000000000ull / EXPIRE_SLICES) {
			expire_slice(w, c, now);
			last_expire = now;
		}
		if (now - last_ring > 1000000000ull) {
			ring_drops(w, c);
			last_ring = now;
		}
		if (n) {
			last_busy = now;
			w->busy_loops++;
		} else if (c->poll == NIO_POLL_SLEEP &&
			   now - last_busy > (uint64_t)c->spin_us * 1000ull) {
			if (next && next <= now + SPIN_NS)
				continue; /* a held packet is due within 50 us: keep spinning */
			idle_wait(w, c, sleep_ns(now, next, c->wsched.policy != SCHED_OTHER));
		}
	}
	stages_flush(w, atomic_load(&w->cfg)->nworkers);
	return NULL;
}

static size_t state_stride(const struct nio_config *c)
{
	size_t m = 0;

	for (unsigned i = 0; i < c->npipelines; i++)
		if (c->pipelines[i].flow_state_size > m)
			m = c->pipelines[i].flow_state_size;
	return m;
}

/* Flows built for the old configuration are detached and dropped; the worker is paused. */
static void worker_set_config(struct nio_worker *w, struct nio_config *c)
{
	struct nio_config *old = atomic_load(&w->cfg);
	size_t stride = state_stride(c);

	if (old)
		nio_flow_flush(&w->flows, flow_detach, old);
	nio_pending_flush(&w->pending);
	if (!w->flows.buckets || stride > w->flows.state_stride ||
	    c->flow_table_size != w->flows.capacity) {
		nio_flow_table_fini(&w->flows);
		if (nio_flow_table_init(&w->flows, c->flow_table_size, stride) < 0)
			fatal("flow table of %u entries", c->flow_table_size);
	}
	atomic_store_explicit(&w->cfg, c, memory_order_release);
}

/* A handed-over packet names its input port by index: the index in the new configuration. */
struct remap {
	const struct nio_config *old, *c;
};

static void remap_port(struct nio_pkt *p, void *arg)
{
	const struct remap *m = arg;
	const struct nio_port *port =
		p->in_port < m->old->nports ? m->old->ports[p->in_port] : NULL;
	const struct nio_port *out =
		p->out_port < m->old->nports ? m->old->ports[p->out_port] : NULL;

	p->in_port = NIO_PORT_NONE;
	for (unsigned i = 0; port && i < m->c->nports; i++)
		if (m->c->ports[i] == port)
			p->in_port = (uint16_t)i;
	p->key.in_port = p->in_port; /* the flow key classifies by it too */
	if (!(p->flags & NIO_PKT_F_EGRESS))
		return;
	p->out_port = NIO_PORT_NONE; /* a frame for a port's shaper: its port, if it stays */
	for (unsigned i = 0; out && i < m->c->nports; i++)
		if (m->c->ports[i] == out)
			p->out_port = (uint16_t)i;
}

/*
 * Publish c to every worker. The caller holds them paused (or they have not started): no
 * packet or service call is in flight; packets waiting in handoff rings stay there and run
 * under c (their port index translated).
 */
void nio_workers_set_config(struct netiod *d, struct nio_config *c)
{
	struct nio_config *old = d->workers[0].cfg;

	for (unsigned i = 0; old && i < d->nworkers; i++) {
		struct remap m = { old, c };

		for (unsigned j = 0; j < d->nworkers; j++)
			if (j != i)
				nio_pktring_each(&d->workers[i].in[j], remap_port, &m);
	}
	for (unsigned i = 0; i < d->nworkers; i++)
		worker_set_config(&d->workers[i], c);
}

/* Forget every flow (their services' state detached); the workers must be paused. */
void nio_workers_flush_flows(struct netiod *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct nio_worker *w = &d->workers[i];
		struct nio_config *c = atomic_load(&w->cfg);

		if (c)
			nio_flow_flush(&w->flows, flow_detach, c);
	}
}

/* Worker i on the (i+1)-th allowed CPU: the first is left to the control thread while there
 * are more CPUs than workers. */
static int cpu_for(unsigned i)
{
	cpu_set_t set;
	int n, seen = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !(n = CPU_COUNT(&set)))
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set) && seen++ == (int)((i + 1) % (unsigned)n))
			return cpu;
	return -1;
}

static int worker_init(struct netiod *d, struct nio_worker *w, unsigned id)
{
	w->id = id;
	w->cpu = cpu_for(id);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->miss_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0 || w->miss_fd < 0)
		return -1;
	if (nio_pool_init_shared(&w->pool, id) < 0)
		return -1;
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (i == id)
			continue;
		if (nio_pktring_init(&w->in[i], NIO_HANDOFF_RING) < 0 ||
		    nio_pktring_init(&w->back[i], w->pool.size + NIO_REGION_WORKER_BUFS) < 0)
			return -1;
	}
	return 0;
}

/* Create the rings, pools and eventfds of every worker. */
int nio_workers_init(struct netiod *d)
{
	group = d->workers;
	if (!d->pause_timeout_ms)
		d->pause_timeout_ms = PAUSE_TIMEOUT_MS;
	for (unsigned i = 0; i < d->nworkers; i++)
		if (worker_init(d, &d->workers[i], i) < 0)
			return -1;
	return 0;
}

/* Worker w has applied worker-sched: 0, or -1 with the reason (a worker that has not got
 * there within pause_timeout_ms counts as refused). */
static int sched_wait(struct netiod *d, struct nio_worker *w, char *err, size_t len)
{
	uint64_t deadline = nio_now_ns() + (uint64_t)d->pause_timeout_ms * 1000000ull;
	int done;

	while (!(done = atomic_load(&w->sched_done)) && nio_now_ns() < deadline)
		usleep(100);
	if (done > 0)
		return 0;
	return nio_err(err, len, "worker %u: %s", w->id,
		       done ? w->sched_err : "did not start within the pause timeout");
}

/* Start the threads (the configuration is set); they inherit the calling thread's
 * credentials and seccomp filter, and each takes worker-sched before it runs packets. */
int nio_workers_start(struct netiod *d, char *err, size_t len)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		int e = pthread_create(&d->workers[i].thread, NULL, worker_main, &d->workers[i]);

		if (e)
			return nio_err(err, len, "pthread_create: %s", strerror(e));
		d->workers[i].started = true;
		if (sched_wait(d, &d->workers[i], err, len) < 0)
			return -1;
	}
	return 0;
}

void nio_worker_wake(struct nio_worker *w)
{
	uint64_t one = 1;

	(void)!write(w->wake_fd, &one, sizeof(one));
}

void nio_workers_wake(struct netiod *d)
{
	for (unsigned i = 0; i < d->nworkers; i++)
		if (d->workers[i].started)
			nio_worker_wake(&d->workers[i]);
}

/* Stop every worker; packets still in handoff rings go back to their pools. */
void nio_workers_stop(struct netiod *d)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];
	uint16_t n;

	for (unsigned i = 0; i < d->nworkers; i++) {
		atomic_store(&d->workers[i].stop, 1);
		if (d->workers[i].started)
			nio_worker_wake(&d->workers[i]);
	}
	for (unsigned i = 0; i < d->nworkers; i++)
		if (d->workers[i].started)
			pthread_join(d->workers[i].thread, NULL);
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct nio_worker *w = &d->workers[i];

		nio_pending_flush(&w->pending);
		for (unsigned j = 0; j < d->nworkers; j++)
			while (j != i && (n = nio_pktring_get(&w->in[j], pkts, NIO_BURST_MAX)))
				for (uint16_t k = 0; k < n; k++)
					free_home(pkts[k]);
	}
}

/* After stop and after the last configuration is freed (its services may free packets). */
void nio_workers_fini(struct netiod *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct nio_worker *w = &d->workers[i];

		for (unsigned j = 0; j < d->nworkers; j++) {
			nio_pktring_fini(&w->in[j]);
			nio_pktring_fini(&w->back[j]);
		}
		nio_flow_table_fini(&w->flows);
		nio_pool_fini(&w->pool);
		if (w->wake_fd > 0)
			close(w->wake_fd);
		if (w->miss_fd > 0)
			close(w->miss_fd);
	}
}

static bool all_paused(struct netiod *d, uint64_t deadline, unsigned *late)
{
	for (;;) {
		bool done = true;

		for (unsigned i = d->nworkers; i-- > 0;) {
			if (d->workers[i].started && !atomic_load(&d->workers[i].paused)) {
				done = false;
				*late = i; /* the first one not there */
			}
		}
		if (done)
			return true;
		if (nio_now_ns() > deadline)
			return false;
		usleep(20);
	}
}

/*
 * Stop every worker at a quiescent point: no packet or service call in flight on return. A
 * worker that does not get there within pause_timeout_ms is stuck (a service that loops or
 * blocks): the others are let go again and the caller gets an error instead of hanging.
 */
int nio_workers_pause(struct netiod *d, char *err, size_t errlen)
{
	uint64_t deadline = nio_now_ns() + (uint64_t)d->pause_timeout_ms * 1000000ull;
	unsigned late = 0;

	for (unsigned i = 0; i < d->nworkers; i++) {
		atomic_store(&d->workers[i].pause_req, 1);
		if (d->workers[i].started)
			nio_worker_wake(&d->workers[i]);
	}
	if (all_paused(d, deadline, &late))
		return 0;
	nio_workers_resume(d);
	log_warnx("worker %u (CPU %d) did not reach a quiescent point within %u ms: it is stuck "
		  "(a service that loops or blocks?); nothing was changed",
		  late, d->workers[late].cpu, d->pause_timeout_ms);
	return nio_err(err, errlen, "worker %u is not responding (stuck for over %u ms)", late,
		       d->pause_timeout_ms);
}

/* Let the workers go; one still not paused (stuck) is not waited for. */
void nio_workers_resume(struct netiod *d)
{
	for (unsigned i = 0; i < d->nworkers; i++)
		atomic_store(&d->workers[i].pause_req, 0);
	for (unsigned i = 0; i < d->nworkers; i++)
		while (d->workers[i].started && atomic_load(&d->workers[i].paused))
			usleep(20);
}

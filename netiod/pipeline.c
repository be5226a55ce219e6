/* Where a service runs: a burst goes through the pipeline's services, then out of a port. */
#include <string.h>

#include "netiod.h"

/* A capture tap: one atomic load per burst and stage when nobody captures. */
static inline void tap(struct nio_pipeline *pl, unsigned stage, struct nio_pkt **pkts, uint16_t n)
{
	struct nio_capture *cap = atomic_load_explicit(&pl->capture, memory_order_acquire);

	if (cap && n)
		nio_capture_at(cap, stage, pkts, n);
}

static struct nio_port *in_port_of(const struct nio_config *c, const struct nio_pkt *p)
{
	return p->in_port < c->nports ? c->ports[p->in_port] : NULL;
}

static void drop(struct nio_pipeline *pl, struct nio_pkt *p, enum nio_drop why)
{
	pl->stats.drops[why]++;
	nio_worker_pkt_free(p);
}

/* Next hop for a packet: from the pipeline (dst-mac, via) or the kernel's tables (cached). */
static int resolve(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		   struct nio_pkt *p, uint16_t *out, const uint8_t **mac)
{
	const struct nio_fib *fib = atomic_load_explicit(&w->fib, memory_order_acquire);
	struct nio_flow *f = p->flow;
	const struct nio_fib_neigh *ne;
	uint8_t nh[16];
	int ifindex = 0;

	if (pl->has_dst_mac && pl->out_port >= 0) {
		*out = (uint16_t)pl->out_port;
		*mac = pl->dst_mac;
		return 0;
	}
	if (f && f->l2_ok && fib && f->fib_gen == fib->generation &&
	    !memcmp(f->l2_dst, p->key.dst, 16)) {
		*out = f->out_port;
		*mac = f->dst_mac;
		return 0;
	}
	if (!fib)
		return NIO_DROP_NO_ROUTE;
	if (pl->has_via) {
		memcpy(nh, pl->via, 16);
		if (nio_fib_lookup(fib, nh, &ifindex, nh) < 0)
			return NIO_DROP_NO_ROUTE;
		memcpy(nh, pl->via, 16);
	} else if (nio_fib_lookup(fib, p->key.dst, &ifindex, nh) < 0) {
		return NIO_DROP_NO_ROUTE;
	}
	if (pl->out_port >= 0) {
		*out = (uint16_t)pl->out_port;
		ifindex = c->ports[pl->out_port]->ifindex;
	} else {
		int idx = -1;

		for (unsigned i = 0; i < c->nports; i++)
			if (c->ports[i]->ifindex == ifindex)
				idx = (int)i;
		if (idx < 0)
			return NIO_DROP_NO_ROUTE; /* the route leaves through a port we do not own */
		*out = (uint16_t)idx;
	}
	ne = nio_fib_neigh(fib, nh, ifindex);
	if (!ne) {
		nio_worker_miss_push(w, nh, ifindex);
		return NIO_DROP_NEIGH_MISS;
	}
	*mac = ne->mac;
	if (f) {
		f->out_port = *out;
		memcpy(f->dst_mac, ne->mac, 6);
		f->fib_gen = fib->generation;
		memcpy(f->l2_dst, p->key.dst, 16);
		f->l2_ok = true;
	}
	return 0;
}

struct txq {
	uint16_t n[NIO_MAX_PORTS];
	struct nio_pkt *pkts[NIO_MAX_PORTS][NIO_BURST_MAX];
};

static void txq_flush(const struct nio_config *c, struct nio_pipeline *pl, struct txq *q)
{
	for (unsigned port = 0; port < c->nports; port++) {
		struct nio_port *pt = c->ports[port];
		uint16_t n = q->n[port], sent;

		if (!n)
			continue;
		tap(pl, pl->nsvcs + 1, q->pkts[port], n);
		sent = pt->open ? pt->ops->tx_burst(pt, q->pkts[port], n) : 0;
		pl->stats.tx_packets += sent;
		if (!pt->open)
			pl->stats.drops[NIO_DROP_PORT_DOWN] += n;
		for (uint16_t i = 0; i < n; i++) {
			if (i < sent)
				pl->stats.tx_bytes += q->pkts[port][i]->len;
			nio_worker_pkt_free(q->pkts[port][i]);
		}
		q->n[port] = 0;
	}
}

/* Count p as dropped for why and, where ICMP says so, turn it into the error to its sender
 * (already addressed, back out of the input port). False: p was freed. */
static bool bounce(const struct nio_config *c, struct nio_pipeline *pl, struct nio_pkt *p,
		   enum nio_drop why, uint32_t mtu)
{
	struct nio_port *in = in_port_of(c, p);
	int r = -1;

	pl->stats.drops[why]++;
	/* no error about a packet the gateway itself sent (a service encapsulated it) */
	if (in && !nio_is_port_addr(c, p->key.family, p->key.src))
		r = why == NIO_DROP_TTL ? nio_icmp_time_exceeded(p, in)
					: nio_icmp_too_big(p, in, mtu);
	if (r < 0) {
		nio_worker_pkt_free(p);
		return false;
	}
	p->flags |= NIO_PKT_F_L2DONE;
	return true;
}

/* Route and address one packet (unless a service or an error reply already did). */
static bool address(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		    struct nio_pkt *p)
{
	const uint8_t *mac = NULL;
	uint16_t out = 0;
	uint32_t mtu;
	int r;

	r = resolve(w, c, pl, p, &out, &mac);
	if (p->out_port != NIO_PORT_NONE)
		out = p->out_port;
	if (r) {
		drop(pl, p, (enum nio_drop)r);
		return false;
	}
	if (out >= c->nports) {
		drop(pl, p, NIO_DROP_NO_ROUTE);
		return false;
	}
	mtu = (uint32_t)c->ports[out]->mtu;
	if (mtu && p->len - p->l3_off > mtu)
		return bounce(c, pl, p, NIO_DROP_MTU, mtu);
	if (nio_l2_rewrite(p, c->ports[out], mac) < 0) {
		drop(pl, p, NIO_DROP_NO_BUFFER);
		return false;
	}
	p->out_port = out;
	return true;
}

static void output_one(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		       struct nio_pkt *p, struct txq *q)
{
	uint16_t out;

	if (!(p->flags & NIO_PKT_F_L2DONE) && !pl->no_ttl && nio_ttl_decrement(p) < 0 &&
	    !bounce(c, pl, p, NIO_DROP_TTL, 0))
		return;
	if (!(p->flags & NIO_PKT_F_L2DONE) && !address(w, c, pl, p))
		return;
	out = p->out_port;
	if (out >= c->nports) {
		drop(pl, p, NIO_DROP_NO_ROUTE);
		return;
	}
	q->pkts[out][q->n[out]++] = p;
	if (q->n[out] == NIO_BURST_MAX)
		txq_flush(c, pl, q);
}

static void output(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		   struct nio_pkt **pkts, uint16_t n)
{
	static _Thread_local struct txq q;

	for (uint16_t i = 0; i < n; i++)
		output_one(w, c, pl, pkts[i], &q);
	txq_flush(c, pl, &q);
}

/* Run services [first, nsvcs) over the burst, compacting it after each by verdict. */
static void run_from(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		     unsigned first, struct nio_pkt **pkts, uint16_t n)
{
	uint8_t verdict[NIO_BURST_MAX];

	if (first == 0)
		tap(pl, 0, pkts, n);
	for (unsigned s = first; s < pl->nsvcs && n; s++) {
		struct nio_svc_inst *si = &pl->svcs[s];
		uint16_t kept = 0;

		for (uint16_t i = 0; i < n; i++) {
			struct nio_flow *f = pkts[i]->flow;

			pkts[i]->svc_state = f && f->state && si->svc->flow_state_size
						     ? f->state + si->state_off
						     : NULL;
			si->stats.bytes += pkts[i]->len;
		}
		si->stats.packets += n;
		memset(verdict, NIO_V_PASS, n);
		si->svc->process(si->inst, pkts, n, verdict);
		for (uint16_t i = 0; i < n; i++) {
			if (verdict[i] == NIO_V_PASS) {
				pkts[kept++] = pkts[i];
			} else if (verdict[i] == NIO_V_CONSUMED) {
				si->stats.consumed++;
			} else {
				si->stats.dropped++;
				drop(pl, pkts[i], NIO_DROP_SERVICE);
			}
		}
		si->stats.passed += kept;
		n = kept;
		tap(pl, s + 1, pkts, n);
	}
	if (n)
		output(w, c, pl, pkts, n);
}

void nio_pipeline_run(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
		      struct nio_pkt **pkts, uint16_t n)
{
	pl->stats.packets += n;
	for (uint16_t i = 0; i < n; i++)
		pl->stats.bytes += pkts[i]->len;
	run_from(w, c, pl, 0, pkts, n);
}

/* Packets that services held (shapers) and now release continue after that service. */
void nio_pipeline_dequeue(struct nio_worker *w, struct nio_config *c, uint64_t now_ns,
			  uint64_t *next_ns)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];

	for (unsigned i = 0; i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		for (unsigned s = 0; s < pl->nsvcs; s++) {
			struct nio_svc_inst *si = &pl->svcs[s];
			uint64_t next = 0;
			uint16_t n;

			if (!si->svc->dequeue)
				continue;
			n = si->svc->dequeue(si->inst, now_ns, pkts, (uint16_t)c->burst, &next);
			if (next && (!*next_ns || next < *next_ns))
				*next_ns = next;
			if (!n)
				continue;
			si->stats.dequeued += n;
			/* a held packet may outlive its flow entry: never trust the pointer */
			for (uint16_t j = 0; j < n; j++)
				pkts[j]->flow = NULL;
			run_from(w, c, pl, s + 1, pkts, n);
		}
	}
}

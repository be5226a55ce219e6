/* Where a service runs: a burst goes through the pipeline's services, then out of a port. */
#include <string.h>

#include "netiod.h"
#include "trace.h"

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

void nio_pipeline_drop(struct nio_pipeline *pl, struct nio_pkt *p, enum nio_drop why)
{
	pl->stats[nio_self].drops[why]++;
	if (nio_traced(p))
		nio_trace_drop(p, why);
	nio_worker_pkt_free(p);
}

static const enum nio_drop reject_drop[] = {
	[NIO_RT_BLACKHOLE] = NIO_DROP_BLACKHOLE,
	[NIO_RT_UNREACHABLE] = NIO_DROP_UNREACHABLE,
	[NIO_RT_PROHIBIT] = NIO_DROP_PROHIBIT,
};

/* The route in the pipeline's table: 0 with h->nh and h->ifindex set, else a NIO_DROP_*. */
static int route(const struct nio_fib *fib, const struct nio_pipeline *pl,
		 const struct nio_flow_key *k, struct nio_hop *h)
{
	const uint8_t *dst = pl->has_via ? pl->via : k->dst;
	int r = nio_fib_lookup(fib, pl->table, dst, nio_fib_multipath_hash(k), &h->ifindex, h->nh);

	if (r < 0)
		return NIO_DROP_NO_ROUTE;
	if (r != NIO_RT_UNICAST)
		return reject_drop[r];
	if (pl->has_via)
		memcpy(h->nh, pl->via, 16);
	return 0;
}

static int port_of_ifindex(const struct nio_config *c, int ifindex)
{
	int idx = -1;

	for (unsigned i = 0; i < c->nports; i++)
		if (c->ports[i]->ifindex == ifindex)
			idx = (int)i;
	return idx;
}

/*
 * The next hop of a packet with key k in pipeline pl: from the pipeline (dst-mac, via) or the
 * kernel's tables in fib; 0 or a NIO_DROP_*. NIO_DROP_NEIGH_MISS leaves h complete but for the
 * MAC. The worker's path and 'netioctl route get' (show_fib.c) both ask this.
 */
int nio_next_hop(const struct nio_config *c, const struct nio_fib *fib,
		 const struct nio_pipeline *pl, const struct nio_flow_key *k, struct nio_hop *h)
{
	const struct nio_fib_neigh *ne;
	int r, idx;

	if (pl->has_dst_mac && pl->out_port >= 0) {
		h->out = (uint16_t)pl->out_port;
		h->mac = pl->dst_mac;
		return 0;
	}
	if (!fib)
		return NIO_DROP_NO_ROUTE;
	if ((r = route(fib, pl, k, h)))
		return r;
	if (pl->out_port >= 0) {
		h->out = (uint16_t)pl->out_port;
		h->ifindex = c->ports[pl->out_port]->ifindex;
	} else if ((idx = port_of_ifindex(c, h->ifindex)) >= 0) {
		h->out = (uint16_t)idx;
	} else {
		return NIO_DROP_NO_ROUTE; /* the route leaves through a port we do not own */
	}
	ne = nio_fib_neigh(fib, h->nh, h->ifindex);
	if (!ne)
		return NIO_DROP_NEIGH_MISS;
	h->mac = ne->mac;
	return 0;
}

/* The next hop for a packet, cached in its flow for the fib generation it was found in. */
static int resolve(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		   struct nio_pkt *p, struct nio_hop *h)
{
	const struct nio_fib *fib = atomic_load_explicit(&w->fib, memory_order_acquire);
	struct nio_flow *f = p->flow;
	int r;

	if (f && f->l2_ok && fib && f->fib_gen == fib->generation &&
	    !memcmp(f->l2_dst, p->key.dst, 16)) {
		h->out = f->out_port;
		h->mac = f->dst_mac;
		h->cached = true;
		return 0;
	}
	r = nio_next_hop(c, fib, pl, &p->key, h);
	if (r == NIO_DROP_NEIGH_MISS)
		nio_worker_miss_push(w, h->nh, h->ifindex);
	if (r || !f || !fib)
		return r;
	f->out_port = h->out;
	memcpy(f->dst_mac, h->mac, 6);
	f->fib_gen = fib->generation;
	memcpy(f->l2_dst, p->key.dst, 16);
	f->l2_ok = true;
	return 0;
}

struct txq {
	uint16_t n[NIO_MAX_PORTS];
	struct nio_pkt *pkts[NIO_MAX_PORTS][NIO_BURST_MAX];
};

/* Send a burst out of port and count it for pl: the frames leave netiod here. */
void nio_pipeline_tx(const struct nio_config *c, struct nio_pipeline *pl, uint16_t port,
		     struct nio_pkt **pkts, uint16_t n)
{
	struct nio_port *pt = c->ports[port];
	uint64_t bytes = 0;
	uint16_t sent;

	tap(pl, pl->nsvcs + 1, pkts, n);
	/* accepted frames are a prefix; the driver may keep (NULL) any of them */
	for (uint16_t i = 0; i < n; i++)
		bytes += pkts[i]->len;
	sent = pt->open ? nio_port_tx(pt, pkts, n) : 0;
	if (nio_tracing())
		nio_trace_tx(pkts, n, port, sent, !pt->open);
	pl->stats[nio_self].tx_packets += sent;
	if (!pt->open)
		pl->stats[nio_self].drops[NIO_DROP_PORT_DOWN] += n;
	for (uint16_t i = sent; i < n; i++)
		bytes -= pkts[i]->len;
	pl->stats[nio_self].tx_bytes += bytes;
	for (uint16_t i = 0; i < n; i++)
		if (pkts[i])
			nio_worker_pkt_free(pkts[i]);
}

/* A port with a shaper takes the burst into it (counted here as sent: it left the pipeline). */
static void to_shaper(const struct nio_config *c, struct nio_pipeline *pl, uint16_t port,
		      struct nio_pkt **pkts, uint16_t n)
{
	tap(pl, pl->nsvcs + 1, pkts, n);
	pl->stats[nio_self].tx_packets += n;
	for (uint16_t i = 0; i < n; i++)
		pl->stats[nio_self].tx_bytes += pkts[i]->len;
	nio_egress_send(c, port, pkts, n);
}

static void txq_flush(const struct nio_config *c, struct nio_pipeline *pl, struct txq *q)
{
	for (uint16_t port = 0; port < c->nports; port++) {
		uint16_t n = q->n[port];

		if (!n)
			continue;
		if (c->egress[port] && c->egress[port] != pl)
			to_shaper(c, pl, port, q->pkts[port], n);
		else
			nio_pipeline_tx(c, pl, port, q->pkts[port], n);
		q->n[port] = 0;
	}
}

/* The ICMP error the kernel sends for why, into p in place; -1: none (or not allowed). */
static int icmp_error(struct nio_pkt *p, const struct nio_port *in, enum nio_drop why, uint32_t mtu)
{
	switch (why) {
	case NIO_DROP_TTL:
		return nio_icmp_time_exceeded(p, in);
	case NIO_DROP_MTU:
		return nio_icmp_too_big(p, in, mtu);
	case NIO_DROP_UNREACHABLE: /* ip_error(): EHOSTUNREACH; ip6_pkt_discard() */
		return nio_icmp_dest_unreach(p, in, 1, 0);
	case NIO_DROP_PROHIBIT: /* ip_error(): EACCES; ip6_pkt_prohibit() */
		return nio_icmp_dest_unreach(p, in, 13, 1);
	default: /* a blackhole route discards silently, as dst_discard() does */
		return -1;
	}
}

/* Count p as dropped for why and, where ICMP says so, turn it into the error to its sender
 * (already addressed, back out of the input port). False: p was freed. */
static bool bounce(const struct nio_config *c, struct nio_pipeline *pl, struct nio_pkt *p,
		   enum nio_drop why, uint32_t mtu)
{
	struct nio_port *in = in_port_of(c, p);
	int r = -1;

	pl->stats[nio_self].drops[why]++;
	if (nio_traced(p))
		nio_trace_drop(p, why);
	/* no error about a packet the gateway itself sent (a service encapsulated it) */
	if (!in || nio_is_own_addr(c, p->key.family, p->key.src)) {
		nio_worker_pkt_free(p);
		return false;
	}
	/* a blackhole route answers nobody: only errors that would be sent count as held back */
	if (why != NIO_DROP_BLACKHOLE && !nio_guard_icmp(c, p, why == NIO_DROP_MTU)) {
		pl->stats[nio_self].icmp_suppressed++;
		if (nio_traced(p))
			nio_trace_icmp(p, why, false);
		nio_worker_pkt_free(p);
		return false;
	}
	r = icmp_error(p, in, why, mtu);
	if (r < 0) {
		nio_worker_pkt_free(p);
		return false;
	}
	pl->stats[nio_self].icmp_errors++;
	if (nio_traced(p))
		nio_trace_icmp(p, why, true);
	p->flags |= NIO_PKT_F_L2DONE;
	return true;
}

static void trace_hop(const struct nio_pipeline *pl, struct nio_pkt *p, const struct nio_hop *h)
{
	nio_trace_route(p, h->out, h->nh,
			pl->has_dst_mac && pl->out_port >= 0 ? NIO_TRACE_VIA_DST_MAC
			: h->cached			     ? NIO_TRACE_VIA_CACHE
							     : NIO_TRACE_VIA_ROUTE);
	nio_trace_l2(p, h->out);
}

/* Route and address one packet (unless a service or an error reply already did). A packet
 * whose next hop has no neighbour entry yet waits for it (pending.c). */
static bool address(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		    struct nio_pkt *p)
{
	struct nio_hop h = { 0 };
	uint32_t mtu;
	int r;

	r = resolve(w, c, pl, p, &h);
	if (p->out_port != NIO_PORT_NONE)
		h.out = p->out_port;
	if (r == NIO_DROP_UNREACHABLE || r == NIO_DROP_PROHIBIT || r == NIO_DROP_BLACKHOLE)
		return bounce(c, pl, p, (enum nio_drop)r, 0);
	if (r && r != NIO_DROP_NEIGH_MISS) {
		nio_pipeline_drop(pl, p, (enum nio_drop)r);
		return false;
	}
	if (h.out >= c->nports) {
		nio_pipeline_drop(pl, p, NIO_DROP_NO_ROUTE);
		return false;
	}
	mtu = (uint32_t)c->ports[h.out]->mtu;
	if (mtu && p->len - p->l3_off > mtu)
		return bounce(c, pl, p, NIO_DROP_MTU, mtu);
	if (r == NIO_DROP_NEIGH_MISS) {
		if (nio_traced(p)) {
			nio_trace_route(p, h.out, h.nh, NIO_TRACE_VIA_ROUTE);
			nio_trace_neigh_wait(p, h.out, h.nh);
		}
		if (nio_pending_add(&w->pending, pl, p, h.nh, h.ifindex, h.out) < 0)
			nio_pipeline_drop(pl, p, NIO_DROP_NEIGH_MISS); /* no room left to wait */
		return false;
	}
	if (nio_l2_rewrite(p, c->ports[h.out], h.mac) < 0) {
		nio_pipeline_drop(pl, p, NIO_DROP_NO_BUFFER);
		return false;
	}
	p->out_port = h.out;
	if (nio_traced(p))
		trace_hop(pl, p, &h);
	return true;
}

static void output_one(struct nio_worker *w, const struct nio_config *c, struct nio_pipeline *pl,
		       struct nio_pkt *p, struct txq *q)
{
	uint16_t out;

	/* a packet addressed to the gateway is forwarded as what a service made of it (decap) */
	if (!(p->flags & (NIO_PKT_F_L2DONE | NIO_PKT_F_TTLDONE)) && !pl->no_ttl) {
		p->flags |= NIO_PKT_F_TTLDONE;
		if (nio_ttl_decrement(p) < 0 && !bounce(c, pl, p, NIO_DROP_TTL, 0))
			return;
	}
	if (!(p->flags & NIO_PKT_F_L2DONE) && !address(w, c, pl, p))
		return;
	out = p->out_port;
	if (out >= c->nports) {
		nio_pipeline_drop(pl, p, NIO_DROP_NO_ROUTE);
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

/* Run service s of pl over the burst and compact it to the packets that pass. */
uint16_t nio_pipeline_svc(struct nio_pipeline *pl, unsigned s, struct nio_pkt **pkts, uint16_t n,
			  bool tr)
{
	uint8_t verdict[NIO_BURST_MAX];
	struct nio_svc_inst *si = &pl->svcs[s];
	uint16_t kept = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct nio_flow *f = pkts[i]->flow;

		pkts[i]->svc_state =
			f && f->state && si->svc->flow_state_size ? f->state + si->state_off : NULL;
		si->stats[nio_self].bytes += pkts[i]->len;
	}
	si->stats[nio_self].packets += n;
	memset(verdict, NIO_V_PASS, n);
	si->svc->process(si->inst, pkts, n, verdict);
	if (tr)
		nio_trace_services(s, pkts, n, verdict);
	for (uint16_t i = 0; i < n; i++) {
		if (verdict[i] == NIO_V_PASS) {
			pkts[kept++] = pkts[i];
		} else if (verdict[i] == NIO_V_CONSUMED) {
			si->stats[nio_self].consumed++;
		} else {
			si->stats[nio_self].dropped++;
			nio_pipeline_drop(pl, pkts[i], NIO_DROP_SERVICE);
		}
	}
	si->stats[nio_self].passed += kept;
	return kept;
}

/* Run services [first, nsvcs) over the burst, compacting it after each by verdict. An isolated
 * service takes the rest of the burst: its answers continue from the next one (iso_path.c). */
void nio_pipeline_resume(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
			 unsigned first, struct nio_pkt **pkts, uint16_t n)
{
	bool tr = nio_tracing();

	for (unsigned s = first; s < pl->nsvcs && n; s++) {
		if (pl->svcs[s].iso) {
			nio_iso_send(w, c, pl, s, pkts, n);
			return;
		}
		n = nio_pipeline_svc(pl, s, pkts, n, tr);
		tap(pl, s + 1, pkts, n);
	}
	if (n)
		output(w, c, pl, pkts, n);
}

enum admit { ADMIT_DROPPED, ADMIT_FORWARD, ADMIT_ANSWER };

/*
 * The forwarding decision on the packet as received, before any service: what a router may not
 * forward is dropped, and the TTL / hop limit drops by one here, so that outer headers a
 * service builds (tunnel, ESP) keep the TTL they were given. An expired packet becomes its
 * time-exceeded error (ADMIT_ANSWER). A packet addressed to the gateway itself (a port's
 * address or a tunnel / SA end) is left alone: its decapsulated inner packet is the one
 * forwarded, and output_one decrements that one.
 */
static enum admit admit(const struct nio_config *c, struct nio_pipeline *pl, struct nio_pkt *p)
{
	int why = nio_guard_forward(c, p);

	if (why) {
		nio_pipeline_drop(pl, p, (enum nio_drop)(why - 1));
		return ADMIT_DROPPED;
	}
	if (pl->no_ttl || nio_is_own_addr(c, p->key.family, p->key.dst))
		return ADMIT_FORWARD;
	p->flags |= NIO_PKT_F_TTLDONE;
	if (nio_ttl_decrement(p) == 0)
		return ADMIT_FORWARD;
	return bounce(c, pl, p, NIO_DROP_TTL, 0) ? ADMIT_ANSWER : ADMIT_DROPPED;
}

void nio_pipeline_run(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
		      struct nio_pkt **pkts, uint16_t n)
{
	struct nio_pkt *errs[NIO_BURST_MAX];
	uint16_t kept = 0, nerr = 0;
	bool tr = nio_tracing();

	pl->stats[nio_self].packets += n;
	tap(pl, 0, pkts, n);
	if (tr)
		nio_trace_pipeline(pl, pkts, n);
	for (uint16_t i = 0; i < n; i++) {
		struct nio_pkt *p = pkts[i];

		pl->stats[nio_self].bytes += p->len;
		switch (admit(c, pl, p)) {
		case ADMIT_FORWARD:
			if (tr && p->trace)
				nio_trace_guard(pl, p);
			pkts[kept++] = p;
			break;
		case ADMIT_ANSWER:
			errs[nerr++] = p;
			break;
		case ADMIT_DROPPED:
			break;
		}
	}
	if (nerr)
		output(w, c, pl, errs, nerr);
	if (kept)
		nio_pipeline_resume(w, c, pl, 0, pkts, kept);
}

/* Packets that services held (shapers) and now release continue after that service. */
void nio_pipeline_dequeue(struct nio_worker *w, struct nio_config *c, uint64_t now_ns,
			  uint64_t *next_ns)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];

	for (unsigned i = 0; i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		if (pl->owner >= 0 && (unsigned)pl->owner != w->id)
			continue; /* its services run on their owner only */
		for (unsigned s = 0; s < pl->nsvcs; s++) {
			struct nio_svc_inst *si = &pl->svcs[s];
			uint64_t next = 0;
			uint16_t n;

			if (!si->svc->dequeue || si->iso)
				continue; /* an isolated one dequeues in its host */
			n = si->svc->dequeue(si->inst, now_ns, pkts, (uint16_t)c->burst, &next);
			if (next && (!*next_ns || next < *next_ns))
				*next_ns = next;
			if (!n)
				continue;
			si->stats[nio_self].dequeued += n;
			/* a held packet may outlive its flow entry: never trust the pointer */
			for (uint16_t j = 0; j < n; j++)
				pkts[j]->flow = NULL;
			if (nio_tracing())
				nio_trace_released(s, pkts, n);
			nio_pipeline_resume(w, c, pl, s + 1, pkts, n);
		}
	}
}

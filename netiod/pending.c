/* Packets waiting for the kernel to resolve their next hop's MAC (the kernel's arp_queue). */
#include <string.h>

#include "netiod.h"
#include "trace.h"

/*
 * Like the kernel's unres_qlen, the wait is bounded per next hop and in total, and in time:
 * the kernel gives up on a neighbour after ~3 s (mcast_solicit 3 x retrans_time 1 s), so a
 * packet still waiting then is dropped and counted as the kernel would drop it.
 */
#define PENDING_TIMEOUT_NS 3000000000ull

static struct nio_pending_hop *hop_find(struct nio_pending *q, const uint8_t addr[16], int ifindex)
{
	struct nio_pending_hop *free_hop = NULL;

	for (unsigned i = 0; i < NIO_PENDING_HOPS; i++) {
		struct nio_pending_hop *h = &q->hops[i];

		if (h->n && h->ifindex == ifindex && !memcmp(h->addr, addr, 16))
			return h;
		if (!h->n && !free_hop)
			free_hop = h;
	}
	return free_hop;
}

/* Hold p (addressed to out, next hop addr on ifindex) until the neighbour is known; -1: full. */
int nio_pending_add(struct nio_pending *q, struct nio_pipeline *pl, struct nio_pkt *p,
		    const uint8_t addr[16], int ifindex, uint16_t out)
{
	struct nio_pending_hop *h;

	if (q->total >= NIO_PENDING_TOTAL || !(h = hop_find(q, addr, ifindex)) ||
	    h->n >= NIO_PENDING_PER_HOP)
		return -1;
	if (!h->n) {
		memcpy(h->addr, addr, 16);
		h->ifindex = ifindex;
		h->deadline_ns = nio_now_ns() + PENDING_TIMEOUT_NS;
	}
	p->flow = NULL; /* the flow may expire meanwhile */
	p->out_port = out;
	h->pkts[h->n] = p;
	h->pls[h->n++] = pl;
	q->total++;
	pl->stats[nio_self].neigh_queued++;
	return 0;
}

static void hop_drop(struct nio_pending *q, struct nio_pending_hop *h, enum nio_drop why)
{
	for (unsigned i = 0; i < h->n; i++) {
		h->pls[i]->stats[nio_self].drops[why]++;
		if (nio_traced(h->pkts[i]))
			nio_trace_drop(h->pkts[i], why);
		nio_worker_pkt_free(h->pkts[i]);
	}
	q->total -= h->n;
	h->n = 0;
}

static void send_one(const struct nio_config *c, struct nio_pipeline *pl, struct nio_pkt *p,
		     const uint8_t mac[6])
{
	struct nio_port *pt = p->out_port < c->nports ? c->ports[p->out_port] : NULL;
	enum nio_drop why = NIO_DROP_MAX;
	uint16_t sent, out;
	uint32_t len;

	if (!pt || !pt->open || atomic_load_explicit(&pt->gone, memory_order_relaxed)) {
		why = NIO_DROP_PORT_DOWN;
	} else if (nio_l2_rewrite(p, pt, mac) < 0) {
		why = NIO_DROP_NO_BUFFER;
	} else {
		if (nio_traced(p))
			nio_trace_l2(p, p->out_port);
		len = p->len;
		out = p->out_port;
		if (c->egress[out]) { /* the port's shaper sends it: it left the pipeline */
			pl->stats[nio_self].tx_packets++;
			pl->stats[nio_self].tx_bytes += len;
			nio_egress_send(c, out, &p, 1);
			return;
		}
		sent = nio_port_tx(pt, &p, 1);
		if (p && nio_traced(p)) /* NULL: the driver kept the buffer (nio_port_ops) */
			nio_trace_tx(&p, 1, out, sent, false);
		if (sent == 1) {
			pl->stats[nio_self].tx_packets++;
			pl->stats[nio_self].tx_bytes += len;
		} else {
			pl->stats[nio_self].drops[NIO_DROP_TX_FULL]++;
		}
	}
	if (why != NIO_DROP_MAX) {
		pl->stats[nio_self].drops[why]++;
		if (nio_traced(p))
			nio_trace_drop(p, why);
	}
	if (p)
		nio_worker_pkt_free(p);
}

static void hop_send(const struct nio_config *c, struct nio_pending *q, struct nio_pending_hop *h,
		     const uint8_t mac[6])
{
	for (unsigned i = 0; i < h->n; i++)
		send_one(c, h->pls[i], h->pkts[i], mac);
	q->total -= h->n;
	h->n = 0;
}

/* Worker, each turn: send what fib now resolves, drop what waited too long. */
void nio_pending_run(struct nio_pending *q, const struct nio_config *c, const struct nio_fib *fib,
		     uint64_t now_ns)
{
	if (!q->total)
		return;
	for (unsigned i = 0; i < NIO_PENDING_HOPS; i++) {
		struct nio_pending_hop *h = &q->hops[i];
		const struct nio_fib_neigh *ne;

		if (!h->n)
			continue;
		if ((ne = nio_fib_neigh(fib, h->addr, h->ifindex)))
			hop_send(c, q, h, ne->mac);
		else if (now_ns >= h->deadline_ns)
			hop_drop(q, h, NIO_DROP_NEIGH_TIMEOUT);
	}
}

/* The configuration the packets were queued for is going away (the worker is paused). */
void nio_pending_flush(struct nio_pending *q)
{
	for (unsigned i = 0; i < NIO_PENDING_HOPS; i++)
		if (q->hops[i].n)
			hop_drop(q, &q->hops[i], NIO_DROP_NEIGH_TIMEOUT);
}

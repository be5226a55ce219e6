/* The packet tracer's records: each worker writes its own buffer, without a lock, the steps of
 * the packets it traces; a packet handed to another worker keeps its record. */
#include <stdlib.h>
#include <string.h>

#include "trace.h"

struct nio_trace nio_trace;

/* A packet's handle: session number, the worker whose buffer holds the record, its slot. */
#define H_SLOT_BITS   10
#define H_WORKER_BITS 6
_Static_assert(NIO_TRACE_MAX <= 1u << H_SLOT_BITS, "slot bits");
_Static_assert(NIO_MAX_WORKERS <= 1u << H_WORKER_BITS, "worker bits");

static uint32_t handle(unsigned w, unsigned slot)
{
	return (uint32_t)nio_trace.gen << 16 | w << H_SLOT_BITS | slot;
}

/* The record p adds to, or NULL (and p is no longer traced): its session ended, or it is a
 * copy (a service's fragment) of a packet whose record is already done. */
static struct nio_trace_rec *rec_of(struct nio_pkt *p)
{
	uint32_t h = p->trace;
	unsigned w = (h >> H_SLOT_BITS) & ((1u << H_WORKER_BITS) - 1);
	unsigned slot = h & ((1u << H_SLOT_BITS) - 1);
	struct nio_trace_rec *r;

	if (h >> 16 != nio_trace.gen || w >= nio_trace.nworkers || slot >= nio_trace.count) {
		p->trace = 0;
		return NULL;
	}
	r = &nio_trace.bufs[w].recs[slot];
	if (atomic_load_explicit(&r->done, memory_order_relaxed)) {
		p->trace = 0;
		return NULL;
	}
	return r;
}

/* A record ended (or a slot was refused): the last one of a finished trace turns it off. */
static void release_open(void)
{
	if (atomic_fetch_sub(&nio_trace.open, 1) == 1 &&
	    atomic_load(&nio_trace.taken) >= nio_trace.count)
		atomic_store_explicit(&nio_trace.on, false, memory_order_relaxed);
}

/*
 * A slot of the count, or -1 when it is used up. open goes up before taken: whoever sees open
 * drop to 0 with the count used up knows that nobody can begin a record any more.
 */
static int take_slot(void)
{
	unsigned seq;

	atomic_fetch_add(&nio_trace.open, 1);
	seq = atomic_fetch_add(&nio_trace.taken, 1);
	if (seq < nio_trace.count)
		return (int)seq;
	atomic_store_explicit(&nio_trace.armed, false, memory_order_relaxed);
	release_open();
	return -1;
}

/* Begin p's record in the calling worker's buffer. */
static struct nio_trace_rec *begin(struct nio_pkt *p)
{
	struct nio_trace_buf *b = &nio_trace.bufs[nio_self];
	unsigned slot = atomic_load_explicit(&b->n, memory_order_relaxed);
	struct nio_trace_rec *r;
	int seq;

	if (nio_self >= nio_trace.nworkers || (seq = take_slot()) < 0)
		return NULL;
	r = &b->recs[slot]; /* slots never exceed count: taken bounds every worker's */
	r->seq = (uint32_t)seq;
	r->worker = (uint8_t)nio_self;
	r->ts_ns = nio_now_ns();
	p->trace = handle(nio_self, slot);
	p->drop_ctr = 0;
	/* release: the record's header is written before the control thread sees it begun */
	atomic_store_explicit(&b->n, slot + 1, memory_order_release);
	return r;
}

static bool terminal(enum nio_trace_kind kind)
{
	return kind == NIO_TRACE_TX || kind == NIO_TRACE_DROP || kind == NIO_TRACE_IGNORED ||
	       kind == NIO_TRACE_UNCLAIMED;
}

static struct nio_trace_step *add(struct nio_trace_rec *r, enum nio_trace_kind kind)
{
	struct nio_trace_step *s;

	if (r->nsteps < NIO_TRACE_STEPS) {
		s = &r->steps[r->nsteps++];
	} else { /* keep the first ones and the latest */
		s = &r->steps[NIO_TRACE_STEPS - 1];
		r->lost++;
	}
	memset(s, 0, sizeof(*s));
	s->kind = (uint8_t)kind;
	s->worker = (uint8_t)nio_self;
	s->us = (uint32_t)((nio_now_ns() - r->ts_ns) / 1000);
	r->ended |= terminal(kind);
	return s;
}

struct nio_trace_step *nio_trace_step(struct nio_pkt *p, enum nio_trace_kind kind)
{
	struct nio_trace_rec *r = rec_of(p);

	return r ? add(r, kind) : NULL;
}

void nio_trace_drop(struct nio_pkt *p, unsigned why)
{
	struct nio_trace_step *s = nio_trace_step(p, NIO_TRACE_DROP);

	if (s)
		s->a = (uint16_t)why;
}

/* Not parsed: not IP (left to the kernel), or malformed (r - 1: the port's drop reason). */
void nio_trace_unparsed(struct nio_pkt *p, int r)
{
	if (r < 0)
		nio_trace_step(p, NIO_TRACE_IGNORED);
	else
		nio_trace_drop(p, (unsigned)(r - 1));
}

static void rx_step(struct nio_trace_rec *r, const struct nio_pkt *p)
{
	struct nio_trace_step *s = add(r, NIO_TRACE_RX);

	s->a = p->in_port;
	s->b = p->len;
}

/* A received burst: begin the records of the packets the filter takes (a pipeline filter
 * waits for the classification, nio_trace_flow). */
void nio_trace_rx(const struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	if (!atomic_load_explicit(&nio_trace.armed, memory_order_relaxed) ||
	    nio_trace.filter == NIO_TRACE_F_PIPELINE ||
	    (nio_trace.filter == NIO_TRACE_F_PORT && nio_trace.filter_idx != port->id))
		return;
	for (uint16_t i = 0; i < n; i++) {
		struct nio_trace_rec *r = begin(pkts[i]);

		if (!r)
			return;
		rx_step(r, pkts[i]);
	}
}

/* A parsed packet met a worker's flow table: hit or miss, and the pipeline it belongs to. */
void nio_trace_flow(const struct nio_config *c, struct nio_pkt *p, const struct nio_flow *f,
		    bool hit)
{
	struct nio_trace_rec *r;
	struct nio_trace_step *s;

	(void)c;
	if (!p->trace) {
		if (!atomic_load_explicit(&nio_trace.armed, memory_order_relaxed) ||
		    nio_trace.filter != NIO_TRACE_F_PIPELINE || !f ||
		    f->pipeline != (int)nio_trace.filter_idx || !(r = begin(p)))
			return;
		rx_step(r, p);
	} else if (!(r = rec_of(p))) {
		return;
	}
	if (!r->parsed) {
		r->key = p->key;
		r->parsed = true;
		add(r, NIO_TRACE_PARSE)->b = p->len;
	}
	s = add(r, NIO_TRACE_FLOW);
	s->a = f && f->pipeline >= 0 ? (uint16_t)(f->pipeline + 1) : 0;
	s->b = hit;
}

void nio_trace_pipeline(const struct nio_pipeline *pl, struct nio_pkt **pkts, uint16_t n)
{
	struct nio_trace_step *s;

	for (uint16_t i = 0; i < n; i++)
		if (pkts[i]->trace && (s = nio_trace_step(pkts[i], NIO_TRACE_PIPELINE)))
			s->a = pl->id;
}

/* Admitted for forwarding: the guard let it through, and the TTL it now has if it dropped. */
void nio_trace_guard(const struct nio_pipeline *pl, struct nio_pkt *p)
{
	struct nio_trace_step *s = nio_trace_step(p, NIO_TRACE_GUARD);
	const uint8_t *ip = nio_pkt_l3(p);

	(void)pl;
	if (!s || !(p->flags & NIO_PKT_F_TTLDONE))
		return;
	s->x = 1;
	s->a = p->flags & NIO_PKT_F_IPV4 ? ip[8] : ip[7];
}

void nio_trace_icmp(struct nio_pkt *p, enum nio_drop why, bool sent)
{
	struct nio_trace_step *s = nio_trace_step(p, NIO_TRACE_ICMP);

	if (s) {
		s->a = (uint16_t)why;
		s->x = sent;
	}
}

/* A service's verdicts; a drop names the counter the service says it counted it under. */
void nio_trace_services(unsigned svc, struct nio_pkt **pkts, uint16_t n, const uint8_t *verdict)
{
	struct nio_trace_step *s;

	for (uint16_t i = 0; i < n; i++) {
		if (!pkts[i]->trace || !(s = nio_trace_step(pkts[i], NIO_TRACE_SERVICE)))
			continue;
		s->a = (uint16_t)svc;
		s->x = verdict[i];
		s->b = verdict[i] == NIO_V_DROP ? pkts[i]->drop_ctr : 0;
	}
}

void nio_trace_released(unsigned svc, struct nio_pkt **pkts, uint16_t n)
{
	struct nio_trace_step *s;

	for (uint16_t i = 0; i < n; i++)
		if (pkts[i]->trace && (s = nio_trace_step(pkts[i], NIO_TRACE_RELEASED)))
			s->a = (uint16_t)svc;
}

/* The route's answer: output port and, when it looked one up, the next hop. */
void nio_trace_route(struct nio_pkt *p, uint16_t out, const uint8_t nh[16], enum nio_trace_via via)
{
	struct nio_trace_step *s = nio_trace_step(p, NIO_TRACE_ROUTE);

	if (!s)
		return;
	s->a = out;
	s->x = (uint8_t)via;
	if (via == NIO_TRACE_VIA_ROUTE)
		memcpy(s->addr, nh, 16);
}

void nio_trace_neigh_wait(struct nio_pkt *p, uint16_t out, const uint8_t nh[16])
{
	struct nio_trace_step *s = nio_trace_step(p, NIO_TRACE_NEIGH_WAIT);

	if (s) {
		s->a = out;
		memcpy(s->addr, nh, 16);
	}
}

void nio_trace_l2(struct nio_pkt *p, uint16_t out)
{
	struct nio_trace_step *s = nio_trace_step(p, NIO_TRACE_L2);

	if (s) {
		s->a = out;
		memcpy(s->mac, p->data, 6); /* as rewritten: the destination MAC leads the frame */
	}
}

/* A port took sent of the n packets given to it (none when it was down). */
void nio_trace_tx(struct nio_pkt **pkts, uint16_t n, uint16_t port, uint16_t sent, bool down)
{
	struct nio_trace_step *s;

	for (uint16_t i = 0; i < n; i++) {
		if (!pkts[i] || !pkts[i]->trace)
			continue; /* NULL: moved to the driver's TX ring (nio_port_ops), not ours */
		if (i >= sent) {
			nio_trace_drop(pkts[i], down ? NIO_DROP_PORT_DOWN : NIO_DROP_TX_FULL);
		} else if ((s = nio_trace_step(pkts[i], NIO_TRACE_TX))) {
			s->a = port;
			s->b = pkts[i]->len;
		}
	}
}

/* p is freed: its record is complete. */
void nio_trace_end(struct nio_pkt *p)
{
	struct nio_trace_rec *r = rec_of(p);

	p->trace = 0;
	if (!r)
		return;
	if (!r->ended)
		add(r, NIO_TRACE_FREED);
	/* release: every step is written before the control thread reads the record */
	atomic_store_explicit(&r->done, 1, memory_order_release);
	release_open();
}

/* ------------------------------------------------------------------ the session */

/* Forget the session: its records are freed and handles of it in flight go stale. */
void nio_trace_reset(void)
{
	atomic_store(&nio_trace.on, false);
	atomic_store(&nio_trace.armed, false);
	for (unsigned w = 0; w < NIO_MAX_WORKERS; w++) {
		free(nio_trace.bufs[w].recs);
		nio_trace.bufs[w].recs = NULL;
		atomic_store(&nio_trace.bufs[w].n, 0);
	}
	nio_trace.gen = (uint16_t)(nio_trace.gen + 1) ? (uint16_t)(nio_trace.gen + 1) : 1;
	nio_trace.count = nio_trace.nworkers = 0;
	nio_trace.filter = NIO_TRACE_F_ANY;
	nio_trace.filter_idx = 0;
	atomic_store(&nio_trace.taken, 0);
	atomic_store(&nio_trace.open, 0);
}

/* Trace the next count packets the filter takes; every worker is paused. */
int nio_trace_arm(unsigned nworkers, enum nio_trace_filter filter, unsigned idx, unsigned count)
{
	nio_trace_reset();
	for (unsigned w = 0; w < nworkers; w++) {
		nio_trace.bufs[w].recs = calloc(count, sizeof(struct nio_trace_rec));
		if (!nio_trace.bufs[w].recs) {
			nio_trace_reset();
			return -1;
		}
	}
	nio_trace.nworkers = nworkers;
	nio_trace.filter = filter;
	nio_trace.filter_idx = idx;
	nio_trace.count = count;
	atomic_store(&nio_trace.armed, true);
	atomic_store(&nio_trace.on, true);
	return 0;
}

/* No new packet is traced; those under way finish their records. Workers may run. */
void nio_trace_disarm(void)
{
	unsigned t = atomic_load(&nio_trace.taken);

	atomic_store(&nio_trace.armed, false);
	while (t < nio_trace.count &&
	       !atomic_compare_exchange_weak(&nio_trace.taken, &t, nio_trace.count))
		;
	if (!atomic_load(&nio_trace.open))
		atomic_store(&nio_trace.on, false);
}

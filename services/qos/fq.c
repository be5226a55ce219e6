/* Flow queues inside a class: fq_codel's DRR with sparse flows first, CAKE's host isolation. */
#include <stdlib.h>
#include <string.h>

#include "qos.h"

#define NIL	 UINT32_MAX
#define WAYS	 8u /* a flow takes a free slot of its set before it shares one (CAKE) */
#define FNV_INIT 2166136261u
#define FNV_MUL	 16777619u

static uint32_t fnv(uint32_t h, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV_MUL;
	return h;
}

/* The 5-tuple, without the input port: a flow is the same whichever pipeline sent it. */
static uint32_t flow_hash(const struct nio_flow_key *k)
{
	uint8_t t[5] = { (uint8_t)(k->sport >> 8), (uint8_t)k->sport, (uint8_t)(k->dport >> 8),
			 (uint8_t)k->dport, k->proto };
	uint32_t h = fnv(fnv(fnv(FNV_INIT, k->src, 16), k->dst, 16), t, sizeof(t));

	return h ? h : 1; /* 0 is no flow's tag */
}

struct qos_fq *qos_fq_new(uint32_t nflows, uint32_t limit, uint32_t quantum,
			  enum qos_isolate isolate, uint64_t target, uint64_t interval)
{
	struct qos_fq *fq = calloc(1, sizeof(*fq));

	if (!fq)
		return NULL;
	fq->nflows = (nflows + WAYS - 1) / WAYS * WAYS;
	fq->quantum = quantum;
	fq->isolate = isolate;
	fq->flows = calloc(fq->nflows, sizeof(*fq->flows));
	fq->hosts = calloc(2 * (size_t)fq->nflows, sizeof(*fq->hosts));
	fq->nodes = calloc(limit, sizeof(*fq->nodes));
	if (!fq->flows || !fq->hosts || !fq->nodes) {
		qos_fq_free(fq);
		return NULL;
	}
	for (uint32_t i = 0; i < fq->nflows; i++) {
		fq->flows[i].head = fq->flows[i].tail = fq->flows[i].next = NIL;
		fq->flows[i].list = QOS_FQ_IDLE;
		qos_codel_init(&fq->flows[i].codel, target, interval);
	}
	for (uint32_t i = 0; i < limit; i++)
		fq->nodes[i].next = i + 1 < limit ? i + 1 : NIL;
	fq->free = limit ? 0 : NIL;
	fq->lists[QOS_FQ_NEW].head = fq->lists[QOS_FQ_NEW].tail = NIL;
	fq->lists[QOS_FQ_OLD].head = fq->lists[QOS_FQ_OLD].tail = NIL;
	return fq;
}

void qos_fq_free(struct qos_fq *fq)
{
	if (!fq)
		return;
	free(fq->flows);
	free(fq->hosts);
	free(fq->nodes);
	free(fq);
}

static void list_push(struct qos_fq *fq, unsigned l, uint32_t i)
{
	struct qos_fq_list *q = &fq->lists[l];

	fq->flows[i].next = NIL;
	fq->flows[i].list = (uint8_t)l;
	if (q->tail == NIL)
		q->head = i;
	else
		fq->flows[q->tail].next = i;
	q->tail = i;
}

static uint32_t list_pop(struct qos_fq *fq, unsigned l)
{
	struct qos_fq_list *q = &fq->lists[l];
	uint32_t i = q->head;

	q->head = fq->flows[i].next;
	if (q->head == NIL)
		q->tail = NIL;
	fq->flows[i].list = QOS_FQ_IDLE;
	return i;
}

/* Host slots of the source and destination address: hosts[src], hosts[nflows + dst]. */
static uint32_t host_slot(const struct qos_fq *fq, const uint8_t addr[16])
{
	return fnv(FNV_INIT, addr, 16) % fq->nflows;
}

/* The slot of p's flow: its own in the set, else a free one, else (a full set) a shared one. */
static uint32_t flow_slot(struct qos_fq *fq, uint32_t h)
{
	uint32_t set = h % (fq->nflows / WAYS) * WAYS, free = NIL;

	for (uint32_t k = 0; k < WAYS; k++) {
		struct qos_flow *f = &fq->flows[set + k];

		if (f->tag == h)
			return set + k;
		if (free == NIL && f->list == QOS_FQ_IDLE)
			free = set + k;
	}
	return free != NIL ? free : set + (h & (WAYS - 1));
}

/* A flow with packets joins the new flows (fq_codel: a sparse flow is served first). */
static void activate(struct qos_fq *fq, uint32_t i, const struct nio_pkt *p)
{
	struct qos_flow *f = &fq->flows[i];

	f->src = host_slot(fq, p->key.src);
	f->dst = fq->nflows + host_slot(fq, p->key.dst);
	fq->hosts[f->src]++;
	fq->hosts[f->dst]++;
	f->deficit = fq->quantum;
	list_push(fq, QOS_FQ_NEW, i);
	fq->active++;
}

static void deactivate(struct qos_fq *fq, struct qos_flow *f)
{
	fq->hosts[f->src]--;
	fq->hosts[f->dst]--;
	fq->active--;
}

void qos_fq_push(struct qos_fq *fq, struct nio_pkt *p)
{
	uint32_t h = flow_hash(&p->key), i = flow_slot(fq, h), n = fq->free;
	struct qos_flow *f = &fq->flows[i];

	fq->free = fq->nodes[n].next;
	fq->nodes[n].p = p;
	fq->nodes[n].next = NIL;
	if (f->tail == NIL)
		f->head = n;
	else
		fq->nodes[f->tail].next = n;
	f->tail = n;
	f->qlen++;
	f->backlog += p->len;
	if (f->list == QOS_FQ_IDLE) {
		f->tag = h;
		f->key = p->key;
		activate(fq, i, p);
	}
}

/* A flow's DRR credit per round: the quantum shared among the active flows of its busiest
 * host where hosts are isolated (CAKE: one host's many flows weigh as one host). */
static int64_t share(const struct qos_fq *fq, const struct qos_flow *f)
{
	uint32_t load = 1;

	if (fq->isolate == QOS_ISOLATE_DUAL_SRC || fq->isolate == QOS_ISOLATE_TRIPLE)
		load = fq->hosts[f->src] > load ? fq->hosts[f->src] : load;
	if (fq->isolate == QOS_ISOLATE_DUAL_DST || fq->isolate == QOS_ISOLATE_TRIPLE)
		load = fq->hosts[f->dst] > load ? fq->hosts[f->dst] : load;
	return (int64_t)(fq->quantum / load ? fq->quantum / load : 1);
}

/*
 * The flow to send from, fq_codel's dequeue loop: new flows before old ones; a flow out of
 * credit gets its share and goes to the back of the old flows; an empty new flow becomes old
 * (so a flow cannot stay new by sending one packet at a time) unless no old flow waits, and an
 * empty old flow leaves. Stable until a packet is popped. NULL when nothing is queued.
 */
struct qos_flow *qos_fq_head(struct qos_fq *fq)
{
	for (;;) {
		unsigned l = fq->lists[QOS_FQ_NEW].head != NIL ? QOS_FQ_NEW : QOS_FQ_OLD;
		uint32_t i = fq->lists[l].head;
		struct qos_flow *f;

		if (i == NIL)
			return NULL;
		f = &fq->flows[i];
		if (!f->qlen) {
			list_pop(fq, l);
			if (l == QOS_FQ_NEW && fq->lists[QOS_FQ_OLD].head != NIL)
				list_push(fq, QOS_FQ_OLD, i);
			else
				deactivate(fq, f);
		} else if (f->deficit <= 0) {
			f->deficit += share(fq, f);
			list_pop(fq, l);
			list_push(fq, QOS_FQ_OLD, i);
		} else {
			return f;
		}
	}
}

struct nio_pkt *qos_fq_pop(struct qos_fq *fq, struct qos_flow *f)
{
	uint32_t n = f->head;
	struct nio_pkt *p = fq->nodes[n].p;

	f->head = fq->nodes[n].next;
	if (f->head == NIL)
		f->tail = NIL;
	fq->nodes[n].next = fq->free;
	fq->free = n;
	f->qlen--;
	f->backlog -= p->len;
	if (!f->qlen)
		qos_codel_empty(&f->codel);
	return p;
}

static struct qos_flow *fattest_of(struct qos_fq *fq, unsigned l, struct qos_flow *best)
{
	for (uint32_t i = fq->lists[l].head; i != NIL; i = fq->flows[i].next)
		if (!best || fq->flows[i].backlog > best->backlog)
			best = &fq->flows[i];
	return best;
}

/* Over the limit, fq_codel drops at the head of the flow with the most bytes queued: the
 * flow causing the queue pays, not the one arriving. NULL when nothing is queued. */
struct nio_pkt *qos_fq_drop(struct qos_fq *fq)
{
	struct qos_flow *f = fattest_of(fq, QOS_FQ_OLD, fattest_of(fq, QOS_FQ_NEW, NULL));

	if (!f || !f->qlen)
		return NULL;
	f->drops++;
	return qos_fq_pop(fq, f);
}

/* p, popped from f, is sent: f's credit pays for it. */
void qos_fq_charge(struct qos_flow *f, uint32_t len)
{
	f->deficit -= len;
	f->sent_pkts++;
	f->sent_bytes += len;
}

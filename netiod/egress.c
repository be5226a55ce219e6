/* A port's shaper: every packet leaving a port with a qos block, whatever pipeline or worker
 * sent it, goes through one class tree run by one worker (the stage "egress:<port>"). */
#include <string.h>

#include "netiod.h"

/* The configured pipelines, then the ports' egress stages: what stats and reloads walk. */
unsigned nio_config_nstages(const struct nio_config *c)
{
	return c->npipelines + c->nports;
}

/* Stage i of nio_config_nstages(c); NULL for a port without a shaper. */
struct nio_pipeline *nio_config_stage(const struct nio_config *c, unsigned i)
{
	if (i < c->npipelines)
		return (struct nio_pipeline *)&c->pipelines[i];
	i -= c->npipelines;
	return i < c->nports ? c->egress[i] : NULL;
}

/* On the shaper's worker: into the class tree; what the shaper lets pass leaves at once. */
static void enqueue(const struct nio_config *c, struct nio_pipeline *eg, struct nio_pkt **pkts,
		    uint16_t n)
{
	eg->stats[nio_self].packets += n;
	for (uint16_t i = 0; i < n; i++) {
		eg->stats[nio_self].bytes += pkts[i]->len;
		pkts[i]->flags &= (uint16_t)~NIO_PKT_F_EGRESS;
		pkts[i]->flow = NULL; /* a held packet may outlive its flow entry */
	}
	n = nio_pipeline_svc(eg, 0, pkts, n, false);
	if (n)
		nio_pipeline_tx(c, eg, (uint16_t)eg->out_port, pkts, n);
}

/* Routed, addressed frames for port: to its shaper, handed over when another worker runs it. */
void nio_egress_send(const struct nio_config *c, uint16_t port, struct nio_pkt **pkts, uint16_t n)
{
	struct nio_pipeline *eg = c->egress[port];
	struct nio_worker *w = nio_worker_current();

	if ((unsigned)eg->owner == w->id) {
		enqueue(c, eg, pkts, n);
		return;
	}
	for (uint16_t i = 0; i < n; i++) {
		pkts[i]->flags |= NIO_PKT_F_EGRESS;
		nio_worker_handoff(w, (unsigned)eg->owner, pkts[i]);
	}
}

/* Frames handed over for a shaper a reload has since removed: they leave unshaped. */
static void send_plain(const struct nio_config *c, uint16_t port, struct nio_pkt **pkts, uint16_t n)
{
	struct nio_port *pt = port < c->nports ? c->ports[port] : NULL;

	/* counted by the pipeline that sent them, and by the port; the driver NULLs what it keeps */
	if (pt && pt->open)
		nio_port_tx(pt, pkts, n);
	for (uint16_t i = 0; i < n; i++)
		if (pkts[i])
			nio_worker_pkt_free(pkts[i]);
}

static void take_run(const struct nio_config *c, uint16_t port, struct nio_pkt **pkts, uint16_t n)
{
	if (!n)
		return;
	if (port < c->nports && c->egress[port]) {
		nio_egress_send(c, port, pkts,
				n); /* a reload may have moved it to another worker */
		return;
	}
	for (uint16_t i = 0; i < n; i++)
		pkts[i]->flags &= (uint16_t)~NIO_PKT_F_EGRESS;
	send_plain(c, port, pkts, n);
}

/* Of a burst another worker handed over, run the frames for shapers (in runs of one port, in
 * order); the packets to classify are compacted in front, their count returned. */
uint16_t nio_egress_take(const struct nio_config *c, struct nio_pkt **pkts, uint16_t n)
{
	struct nio_pkt *run[NIO_BURST_MAX];
	uint16_t kept = 0, nrun = 0, port = NIO_PORT_NONE;

	for (uint16_t i = 0; i < n; i++) {
		struct nio_pkt *p = pkts[i];

		if (!(p->flags & NIO_PKT_F_EGRESS)) {
			pkts[kept++] = p;
			continue;
		}
		if (p->out_port != port) {
			take_run(c, port, run, nrun);
			nrun = 0;
			port = p->out_port;
		}
		run[nrun++] = p;
	}
	take_run(c, port, run, nrun);
	return kept;
}

/* Does w run a port's shaper? */
bool nio_egress_here(const struct nio_worker *w, const struct nio_config *c)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (c->egress[i] && (unsigned)c->egress[i]->owner == w->id)
			return true;
	return false;
}

/* What the shapers w runs release now goes out of their ports. */
void nio_egress_dequeue(struct nio_worker *w, const struct nio_config *c, uint64_t now_ns,
			uint64_t *next_ns)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];

	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_pipeline *eg = c->egress[i];
		struct nio_svc_inst *si;
		uint64_t next = 0;
		uint16_t n;

		if (!eg || (unsigned)eg->owner != w->id || !eg->svcs[0].svc->dequeue)
			continue;
		si = &eg->svcs[0];
		n = si->svc->dequeue(si->inst, now_ns, pkts, (uint16_t)c->burst, &next);
		if (next && (!*next_ns || next < *next_ns))
			*next_ns = next;
		if (!n)
			continue;
		si->stats[nio_self].dequeued += n;
		nio_pipeline_tx(c, eg, (uint16_t)i, pkts, n);
	}
}

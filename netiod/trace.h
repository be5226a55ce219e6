/* The packet tracer (netioctl trace): what a traced packet records, and the data path's hooks. */
#ifndef NETIOD_TRACE_H
#define NETIOD_TRACE_H

#include "netiod.h"

#define NIO_TRACE_DEFAULT 50   /* packets traced when the request names no count */
#define NIO_TRACE_MAX	  1000 /* at most, per trace start (slot numbers fit 10 bits) */
#define NIO_TRACE_STEPS	  24   /* a record's steps; past it the last one is overwritten */

/* What a step says; a, b, x, addr and mac are read per kind (trace_ctl.c step_json). */
#define foreach_nio_trace_step                                                                  \
	_(RX, "rx")		  /* a: port, b: frame length */                                \
	_(IGNORED, "ignored")	  /* not IP: left to the kernel (rx_ignored) */                 \
	_(PARSE, "parse")	  /* a: 0 ok, else drop reason + 1 */                           \
	_(FLOW, "flow")		  /* a: pipeline + 1 or 0 (none), b: 1 hit, 0 miss */           \
	_(UNCLAIMED, "unclaimed") /* no pipeline: left to the kernel (rx_unclaimed) */          \
	_(HANDOFF, "handoff")	  /* a: the worker it is handed to */                           \
	_(PIPELINE, "pipeline")	  /* a: pipeline */                                             \
	_(GUARD, "guard")	  /* x: 1 TTL decremented (a: the new TTL), 0 kept */           \
	_(ICMP, "icmp-error")	  /* a: drop reason it answers, x: 1 sent, 0 suppressed */      \
	_(SERVICE, "service")	  /* a: index, x: verdict, b: the service's drop counter + 1 */ \
	_(RELEASED, "released")	  /* a: service index that held the packet and let it go */     \
	_(ROUTE, "route")	  /* a: out port, addr: next hop, x: enum nio_trace_via */      \
	_(NEIGH_WAIT, "neighbour-wait") /* a: out port, addr: next hop being resolved */        \
	_(L2, "l2-rewrite")		/* a: out port, mac: destination MAC */                 \
	_(TX, "tx")			/* a: port, b: frame length */                          \
	_(DROP, "drop")			/* a: reason (NIO_TRACE_DROP_*) */                      \
	_(FREED, "freed")		/* freed by a service that had consumed it */

enum nio_trace_kind {
#define _(sym, str) NIO_TRACE_##sym,
	foreach_nio_trace_step
#undef _
		NIO_TRACE_KINDS
};

/* A drop reason past the daemon's own (enum nio_drop): counted as the worker's handoff.full. */
#define NIO_TRACE_DROP_HANDOFF_FULL NIO_DROP_MAX

/* Where a route step's next hop came from. */
enum nio_trace_via { NIO_TRACE_VIA_ROUTE, NIO_TRACE_VIA_CACHE, NIO_TRACE_VIA_DST_MAC };

struct nio_trace_step {
	uint8_t kind;
	uint8_t worker;
	uint8_t x;
	uint16_t a;
	uint32_t b;
	uint32_t us; /* since the packet's record began */
	uint8_t addr[16];
	uint8_t mac[6];
};

/*
 * One traced packet. Written by the worker that holds the packet (a handoff ring orders the
 * writes of two workers); the last writer sets done with release and the control thread reads
 * a record only after seeing done (acquire).
 */
struct nio_trace_rec {
	atomic_uint done;
	uint32_t seq;	/* order in which records began, over every worker */
	uint8_t worker; /* whose buffer holds it: where the packet was first seen */
	uint16_t nsteps, lost;
	bool parsed; /* key holds the packet as parsed */
	bool ended;  /* a step that ends a packet's way (tx, drop, left to the kernel) is in */
	uint64_t ts_ns;
	struct nio_flow_key key;
	struct nio_trace_step steps[NIO_TRACE_STEPS];
};

/* Records the packets worker w began (count of them, allocated at trace start). */
struct nio_trace_buf {
	struct nio_trace_rec *recs;
	atomic_uint n; /* records begun: the worker writes (release), the control thread reads */
};

enum nio_trace_filter { NIO_TRACE_F_ANY, NIO_TRACE_F_PIPELINE, NIO_TRACE_F_PORT };

/*
 * The one trace session. The control thread changes it only while every worker is paused
 * (start, clear, reload), except armed/taken that stop changes. Workers begin records while
 * armed, up to count in all (taken), and add steps to begun ones while on; on goes off when
 * the count is reached (or the trace stopped) and the last record is done.
 */
struct nio_trace {
	atomic_bool on;	   /* records are being written: the per-burst gate */
	atomic_bool armed; /* new packets may be traced */
	enum nio_trace_filter filter;
	unsigned filter_idx; /* pipeline or port index */
	unsigned count;
	atomic_uint taken; /* slots handed out (may pass count: the excess is refused) */
	atomic_uint open;  /* records begun and not yet done */
	uint16_t gen;	   /* session number: a handle of an older one is stale */
	unsigned nworkers;
	struct nio_trace_buf bufs[NIO_MAX_WORKERS];
};

extern struct nio_trace nio_trace;

/* The per-burst gate: one relaxed load and a branch when nobody traces. */
static inline bool nio_tracing(void)
{
	return __builtin_expect(atomic_load_explicit(&nio_trace.on, memory_order_relaxed), 0);
}

static inline bool nio_traced(const struct nio_pkt *p)
{
	return __builtin_expect(p->trace != 0, 0);
}

/* trace.c: the data path (worker threads; nio_trace_end also the control thread) */
void nio_trace_rx(const struct nio_port *port, struct nio_pkt **pkts, uint16_t n);
void nio_trace_unparsed(struct nio_pkt *p, int r);
void nio_trace_flow(const struct nio_config *c, struct nio_pkt *p, const struct nio_flow *f,
		    bool hit);
struct nio_trace_step *nio_trace_step(struct nio_pkt *p, enum nio_trace_kind kind);
void nio_trace_drop(struct nio_pkt *p, unsigned why);
void nio_trace_pipeline(const struct nio_pipeline *pl, struct nio_pkt **pkts, uint16_t n);
void nio_trace_guard(const struct nio_pipeline *pl, struct nio_pkt *p);
void nio_trace_icmp(struct nio_pkt *p, enum nio_drop why, bool sent);
void nio_trace_services(unsigned svc, struct nio_pkt **pkts, uint16_t n, const uint8_t *verdict);
void nio_trace_released(unsigned svc, struct nio_pkt **pkts, uint16_t n);
void nio_trace_route(struct nio_pkt *p, uint16_t out, const uint8_t nh[16], enum nio_trace_via via);
void nio_trace_neigh_wait(struct nio_pkt *p, uint16_t out, const uint8_t nh[16]);
void nio_trace_l2(struct nio_pkt *p, uint16_t out);
void nio_trace_tx(struct nio_pkt **pkts, uint16_t n, uint16_t port, uint16_t sent, bool down);
void nio_trace_end(struct nio_pkt *p);

/* trace.c: the session (control thread, workers paused where said) */
int nio_trace_arm(unsigned nworkers, enum nio_trace_filter filter, unsigned idx, unsigned count);
void nio_trace_disarm(void);
void nio_trace_reset(void);

/* trace_ctl.c: a control request trace-start, -stop, -clear or -show; NULL with err set */
struct json_t *nio_trace_request(struct netiod *d, const char *cmd, struct json_t *req, char *err,
				 size_t errlen);
#endif /* NETIOD_TRACE_H */

/* The instance's policers, classes and active flows as structured counters (service ABI). */
#include <arpa/inet.h>
#include <stdio.h>

#include "qos.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GAUGE(k)      (UINT64_C(1) << (k))

static void policer(const struct qos_policer *pol, void (*emit)(void *ctx, const struct nio_obj *o),
		    void *ctx)
{
	static const char *const keys[] = { "green", "yellow", "red", "marked", "dropped" };
	uint64_t v[] = { pol->colored[QOS_GREEN], pol->colored[QOS_YELLOW], pol->colored[QOS_RED],
			 pol->marked, pol->dropped };

	emit(ctx, &(struct nio_obj){ .kind = "policer",
				     .name = pol->name,
				     .n = ARRAY_SIZE(keys),
				     .keys = keys,
				     .values = v });
}

static uint32_t active_flows(const struct qos_class *c)
{
	return c->fq ? c->fq->active : 0;
}

/* The keys a class's status line has (qos.c show), plus its backlog and active flows. */
static void class(const struct qos_sched *s, const struct qos_class *c,
		  void (*emit)(void *ctx, const struct nio_obj *o), void *ctx)
{
	static const char *const keys[] = {
		"sent",	       "sent-bytes",   "borrowed",	"queue-limit-drops",
		"codel-drops", "ecn-marks",    "queue-packets", "backlog-bytes",
		"delay-us",    "delay-max-us", "flows-active",	"rate",
		"ceil",	       "prio"
	};
	uint64_t v[] = { c->st.sent_pkts,
			 c->st.sent_bytes,
			 c->st.borrowed,
			 c->st.drop_limit,
			 c->st.drop_codel,
			 c->st.marked,
			 c->qlen,
			 c->backlog,
			 c->st.delay_ns / 1000,
			 c->st.delay_max_ns / 1000,
			 active_flows(c),
			 c->rate.rate,
			 c->ceil.rate,
			 c->prio };
	const char *labels[] = { "parent", c->parent < 0 ? "-" : s->cls[c->parent].name };

	emit(ctx, &(struct nio_obj){ .kind = "class",
				     .name = c->name,
				     .nlabels = 1,
				     .labels = labels,
				     .n = ARRAY_SIZE(keys),
				     .keys = keys,
				     .values = v,
				     .gauges = GAUGE(6) | GAUGE(7) | GAUGE(8) | GAUGE(9) |
					       GAUGE(10) | GAUGE(11) | GAUGE(12) | GAUGE(13) });
}

static void addr(const uint8_t a[16], uint8_t family, char *buf, size_t len)
{
	if (family == 4)
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

/* A flow slot in use, read while the worker may change it: a torn key names a flow that
 * just took the slot, which the next look shows whole. */
static void flow(const struct qos_class *c, const struct qos_flow *f,
		 void (*emit)(void *ctx, const struct nio_obj *o), void *ctx)
{
	static const char *const keys[] = { "queue-packets", "backlog-bytes", "sent",
					    "sent-bytes",    "drops",	      "deficit" };
	uint64_t v[] = { f->qlen,	f->backlog, f->sent_pkts,
			 f->sent_bytes, f->drops,   (uint64_t)(f->deficit > 0 ? f->deficit : 0) };
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], sport[8], dport[8], proto[8], name[16];
	const char *labels[] = { "class", c->name, "src",   src,   "dst",   dst,
				 "proto", proto,   "sport", sport, "dport", dport };

	addr(f->key.src, f->key.family, src, sizeof(src));
	addr(f->key.dst, f->key.family, dst, sizeof(dst));
	snprintf(proto, sizeof(proto), "%u", f->key.proto);
	snprintf(sport, sizeof(sport), "%u", f->key.sport);
	snprintf(dport, sizeof(dport), "%u", f->key.dport);
	snprintf(name, sizeof(name), "%08x", f->tag);
	emit(ctx, &(struct nio_obj){ .kind = "flow",
				     .name = name,
				     .nlabels = ARRAY_SIZE(labels) / 2,
				     .labels = labels,
				     .n = ARRAY_SIZE(keys),
				     .keys = keys,
				     .values = v,
				     .gauges = GAUGE(0) | GAUGE(1) | GAUGE(5),
				     .flags = NIO_OBJ_F_NO_METRICS });
}

/* Slots are walked by index, never by the lists the worker relinks meanwhile. */
static void flows(const struct qos_class *c, void (*emit)(void *ctx, const struct nio_obj *o),
		  void *ctx)
{
	for (uint32_t i = 0; c->fq && i < c->fq->nflows; i++)
		if (c->fq->flows[i].list != QOS_FQ_IDLE)
			flow(c, &c->fq->flows[i], emit, ctx);
}

void qos_objects(void *inst, void (*emit)(void *ctx, const struct nio_obj *o), void *ctx)
{
	const struct qos *q = inst;

	for (unsigned i = 0; i < q->npol; i++)
		policer(&q->pol[i], emit, ctx);
	for (unsigned i = 0; i < q->sched.n; i++)
		class(&q->sched, &q->sched.cls[i], emit, ctx);
	for (unsigned i = 0; i < q->sched.n; i++)
		flows(&q->sched.cls[i], emit, ctx);
}

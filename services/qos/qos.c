/* The qos service plugin: policers and a class-tree shaper behind the netio service ABI. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netio/service.h>

#include "qos.h"

static const char *const qos_counter_names[] = {
#define _(sym, str) str,
	foreach_qos_counter
#undef _
		NULL,
};

/* The backlog and the worst lateness are current values, not totals. */
static const char *const qos_gauge_names[] = { "queue-packets", "late-max-us", NULL };

static void *qos_init(const struct nio_host *host, const struct nio_conf *conf, char *err,
		      size_t errlen)
{
	/* aligned as its classes' cache lines are (sizeof is a multiple of the alignment) */
	struct qos *q = aligned_alloc(_Alignof(struct qos), sizeof(*q));

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(q, 0, sizeof(*q));
	q->host = host;
	if (qos_conf_load(q, conf, host->now_ns(), err, errlen) < 0) {
		qos_sched_fini(&q->sched);
		free(q);
		return NULL;
	}
	return q;
}

/* netiod retires an instance only once no worker runs it, so the held packets can go back.
 * After a reload they normally have moved to the new instance already (save_state). */
static void qos_fini(void *inst)
{
	struct qos *q = inst;

	qos_sched_fini(&q->sched);
	free(q);
}

/* The first policer whose rules match meters the packet; false means drop it. */
static bool police(struct qos *q, struct nio_pkt *p, uint64_t now)
{
	for (unsigned i = 0; i < q->npol; i++) {
		struct qos_policer *pol = &q->pol[i];

		if (qos_match_pkt(&pol->match, p))
			return qos_police(pol, p, now);
	}
	return true;
}

/* Police one packet: NIO_V_PASS, or NIO_V_DROP with the counter it shows under. */
static uint8_t qos_one(struct qos *q, struct nio_pkt *p, uint64_t now)
{
	q->ctr[QOS_C_PACKETS]++;
	q->ctr[QOS_C_BYTES] += p->len;
	/* drop_ctr: the counter a drop shows under, for the packet tracer */
	if (!police(q, p, now)) {
		p->drop_ctr = QOS_C_POLICED + 1;
		return NIO_V_DROP;
	}
	return NIO_V_PASS;
}

/* Fold the per-policer and per-class numbers into the exported counters (worker only). */
static void qos_sync_counters(struct qos *q)
{
	uint64_t c[3] = { 0 }, marked = 0, dropped = 0;

	for (unsigned i = 0; i < q->npol; i++) {
		for (int k = 0; k < 3; k++)
			c[k] += q->pol[i].colored[k];
		marked += q->pol[i].marked;
		dropped += q->pol[i].dropped;
	}
	q->ctr[QOS_C_GREEN] = c[QOS_GREEN];
	q->ctr[QOS_C_YELLOW] = c[QOS_YELLOW];
	q->ctr[QOS_C_RED] = c[QOS_RED];
	q->ctr[QOS_C_MARKED] = marked;
	q->ctr[QOS_C_POLICED] = dropped;
	q->ctr[QOS_C_SENT] = q->sched.tot.sent_pkts;
	q->ctr[QOS_C_SENT_BYTES] = q->sched.tot.sent_bytes;
	q->ctr[QOS_C_LIMIT_DROPS] = q->sched.tot.drop_limit;
	q->ctr[QOS_C_CODEL_DROPS] = q->sched.tot.drop_codel;
	q->ctr[QOS_C_ECN_MARKS] = q->sched.tot.marked;
	q->ctr[QOS_C_BACKLOG] = q->sched.qlen;
	q->ctr[QOS_C_LATE_MAX] = q->sched.late_max_ns / 1000;
	q->ctr[QOS_C_LOST] = q->sched.lost_ns / 1000;
}

/* Police up to NIO_BURST_MAX packets, then queue what passed in the class tree together, so
 * that their cache misses overlap (qos_enqueue_burst()). */
static void qos_chunk(struct qos *q, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts,
		      uint64_t now)
{
	struct nio_pkt *shaped[NIO_BURST_MAX];
	uint16_t idx[NIO_BURST_MAX], k = 0;
	int8_t res[NIO_BURST_MAX];

	for (uint16_t i = 0; i < n; i++) {
		verdicts[i] = qos_one(q, pkts[i], now);
		if (q->shaping && verdicts[i] == NIO_V_PASS) {
			idx[k] = i;
			shaped[k++] = pkts[i];
		}
	}
	qos_enqueue_burst(q, shaped, k, now, res);
	for (uint16_t j = 0; j < k; j++) {
		if (res[j] < 0) {
			pkts[idx[j]]->drop_ctr = QOS_C_LIMIT_DROPS + 1;
			verdicts[idx[j]] = NIO_V_DROP;
		} else {
			q->ctr[QOS_C_QUEUED]++;
			verdicts[idx[j]] = NIO_V_CONSUMED;
		}
	}
}

static void qos_process(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts)
{
	struct qos *q = inst;
	uint64_t now = q->host->now_ns();

	for (unsigned i = 0; i < n; i += NIO_BURST_MAX)
		qos_chunk(q, pkts + i, (uint16_t)(n - i < NIO_BURST_MAX ? n - i : NIO_BURST_MAX),
			  verdicts + i, now);
	qos_sync_counters(q);
}

static uint16_t qos_dequeue(void *inst, uint64_t now_ns, struct nio_pkt **pkts, uint16_t max,
			    uint64_t *next_ns)
{
	struct qos *q = inst;
	uint16_t n;

	if (!q->shaping) {
		*next_ns = 0;
		return 0;
	}
	n = qos_sched_dequeue(&q->sched, now_ns, pkts, max, next_ns);
	qos_sync_counters(q);
	return n;
}

static const uint64_t *qos_counters(void *inst)
{
	return ((struct qos *)inst)->ctr;
}

/*
 * Held packets move to the new instance on reload or replace, so reconfiguring a shaper loses
 * nothing. The blob holds pointers into this process's packet pool: it is marked with the pid
 * and refused anywhere else. netiod runs save and restore with the worker paused.
 */
#define QOS_STATE_MAGIC 0x716f7331u /* "qos1" */

struct qos_state {
	uint32_t magic;
	int32_t pid;
	uint64_t n;
	struct nio_pkt *pkts[];
};

static int qos_save_state(void *inst, void **blob, size_t *len)
{
	struct qos *q = inst;
	struct qos_state *st = malloc(sizeof(*st) + q->sched.qlen * sizeof(st->pkts[0]));

	if (!st)
		return -1;
	st->magic = QOS_STATE_MAGIC;
	st->pid = (int32_t)getpid();
	st->n = qos_sched_drain(&q->sched, st->pkts, (unsigned)q->sched.qlen);
	*blob = st;
	*len = sizeof(*st) + st->n * sizeof(st->pkts[0]);
	return 0;
}

/* Packets are classified again under the new rules; what no longer fits is dropped. */
static int qos_restore_state(void *inst, const void *blob, size_t len)
{
	struct qos *q = inst;
	const struct qos_state *st = blob;
	uint64_t now = q->host->now_ns();

	if (len < sizeof(*st) || st->magic != QOS_STATE_MAGIC || st->pid != (int32_t)getpid() ||
	    len != sizeof(*st) + st->n * sizeof(st->pkts[0]))
		return -1;
	for (uint64_t i = 0; i < st->n; i++) {
		struct nio_pkt *p = st->pkts[i];

		if (!q->shaping ||
		    qos_sched_enqueue(&q->sched, (unsigned)qos_classify(q, p), p, now) < 0)
			q->host->pkt_free(p);
	}
	qos_sync_counters(q);
	return 0;
}

/* snprintf that appends at *off and never runs past len. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t len, size_t *off,
							 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < len ? *off + (size_t)n : len - 1;
}

static void show_class(const struct qos_sched *s, unsigned i, char *buf, size_t len, size_t *off)
{
	const struct qos_class *c = &s->cls[i];
	char rate[32], ceil[32];

	qos_format_rate(c->rate.rate, rate, sizeof(rate));
	qos_format_rate(c->ceil.rate, ceil, sizeof(ceil));
	append(buf, len, off,
	       "class %s parent %s rate %s ceil %s prio %u quantum %u sent %llu sent-bytes %llu "
	       "borrowed %llu queue-limit-drops %llu codel-drops %llu ecn-marks %llu "
	       "queue-packets %u delay-us %llu delay-max-us %llu\n",
	       c->name, c->parent < 0 ? "-" : s->cls[c->parent].name, rate, ceil, c->prio,
	       c->quantum, (unsigned long long)c->st.sent_pkts,
	       (unsigned long long)c->st.sent_bytes, (unsigned long long)c->st.borrowed,
	       (unsigned long long)c->st.drop_limit, (unsigned long long)c->st.drop_codel,
	       (unsigned long long)c->st.marked, c->qlen,
	       (unsigned long long)(c->st.delay_ns / 1000),
	       (unsigned long long)(c->st.delay_max_ns / 1000));
}

/*
 * One line per policer and per class, "KIND NAME key value key value ...": words without
 * spaces, so that 'netioctl -j stats' carries them machine-readably within the service ABI
 * (the status string; see README for a jq one-liner), with the names of the instance-wide
 * counters where they count the same. Runs on the control thread while the worker updates the
 * numbers: each is an aligned 64-bit word, so a line may mix two moments, never garbage.
 */
static int qos_show(void *inst, char *buf, size_t len)
{
	struct qos *q = inst;
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < q->npol; i++) {
		const struct qos_policer *pol = &q->pol[i];

		append(buf, len, &off,
		       "policer %s green %llu yellow %llu red %llu marked %llu dropped %llu\n",
		       pol->name, (unsigned long long)pol->colored[QOS_GREEN],
		       (unsigned long long)pol->colored[QOS_YELLOW],
		       (unsigned long long)pol->colored[QOS_RED], (unsigned long long)pol->marked,
		       (unsigned long long)pol->dropped);
	}
	for (unsigned i = 0; i < q->sched.n; i++)
		show_class(&q->sched, i, buf, len, &off);
	return (int)off;
}

const struct nio_service qos_service = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "qos",
	.version = "1.0",
	.description = "srTCM/trTCM policers and an HTB-like shaper with priority, DRR and CoDel",
	.options = qos_options,
	.counter_names = qos_counter_names,
	.gauge_names = qos_gauge_names,
	.init = qos_init,
	.fini = qos_fini,
	.process = qos_process,
	.dequeue = qos_dequeue,
	.counters = qos_counters,
	.save_state = qos_save_state,
	.restore_state = qos_restore_state,
	.show = qos_show,
	.objects = qos_objects,
};

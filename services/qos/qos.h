/* qos plugin internals: token buckets, RFC 2697/2698 meters, CoDel, the class scheduler. */
#ifndef NETIO_QOS_H
#define NETIO_QOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netio/pkt.h>
#include <netio/service.h>

/*
 * Every function here takes the time as an argument (CLOCK_MONOTONIC ns) instead of reading a
 * clock, so the unit tests drive them with a simulated clock.
 *
 * Token credit is kept in nanobits (1e-9 bit): a rate of R bit/s earns exactly R units per ns
 * and a byte costs 8e9 units, so refilling is one exact integer multiply with no remainder to
 * lose; a bucket never drifts from rate * elapsed time however it is sampled.
 */
#define QOS_NS_PER_SEC	   1000000000ull
#define QOS_UNITS_PER_BYTE (8ull * QOS_NS_PER_SEC)
#define QOS_BURST_MAX	   (256ull << 20)   /* bytes; keeps credit far inside int64_t */
#define QOS_RATE_MAX	   1000000000000ull /* 1 Tbit/s */
#define QOS_NEVER	   UINT64_MAX

/* tbucket.c */
struct qos_tb {
	int64_t tokens; /* nanobits; negative after a charge the bucket could not cover */
	int64_t cap;	/* burst in nanobits */
	uint64_t rate;	/* bit/s = nanobits per ns */
	uint64_t last_ns;
};

void qos_tb_init(struct qos_tb *tb, uint64_t rate_bps, uint64_t burst_bytes, uint64_t now);
bool qos_tb_has(const struct qos_tb *tb, uint32_t bytes);
uint64_t qos_tb_wait_ready(const struct qos_tb *tb); /* ns until ready(); QOS_NEVER */

/* The bucket operations the scheduler runs for every packet and every leaf it looks at are
 * inline: a call each cost as much as the operation. */

/* A charge never pushes credit below this, so a long run of over-limit charges (ancestors in
 * a class tree are charged whether or not they had the credit) cannot overflow. */
#define QOS_TOKENS_FLOOR (-(INT64_C(1) << 62))
#define QOS_BYTES_MAX	 (1u << 20) /* larger than any frame; keeps bytes * 8e9 in range */

static inline int64_t qos_tb_units(uint32_t bytes)
{
	if (bytes > QOS_BYTES_MAX)
		bytes = QOS_BYTES_MAX;
	return (int64_t)bytes * (int64_t)QOS_UNITS_PER_BYTE;
}

/* Credit earned in dt ns, capped at room; a product that overflows is more than any room.
 * (No division: this runs for every bucket brought up to a release time.) */
static inline uint64_t qos_tb_earned(uint64_t rate, uint64_t dt, uint64_t room)
{
	uint64_t e;

	return __builtin_mul_overflow(dt, rate, &e) || e > room ? room : e;
}

/* Elapsed time since the last refill; a clock that steps back earns nothing. */
static inline uint64_t qos_tb_elapsed(struct qos_tb *tb, uint64_t now)
{
	uint64_t dt;

	if (now <= tb->last_ns)
		return 0;
	dt = now - tb->last_ns;
	tb->last_ns = now;
	return dt;
}

static inline void qos_tb_refill(struct qos_tb *tb, uint64_t now)
{
	uint64_t dt = qos_tb_elapsed(tb, now);

	if (tb->tokens < tb->cap)
		tb->tokens +=
			(int64_t)qos_tb_earned(tb->rate, dt, (uint64_t)(tb->cap - tb->tokens));
}

static inline void qos_tb_take(struct qos_tb *tb, uint32_t bytes)
{
	int64_t u = qos_tb_units(bytes);

	tb->tokens = tb->tokens - u < QOS_TOKENS_FLOOR ? QOS_TOKENS_FLOOR : tb->tokens - u;
}

/* HTB's test: any positive credit lets one packet through, whatever its size, and the charge
 * may leave the bucket negative. Deciding by credit rather than by the head packet's size
 * keeps small packets from overtaking large ones in a class tree; credit stays conserved. */
static inline bool qos_tb_ready(const struct qos_tb *tb)
{
	return tb->tokens > 0;
}

enum qos_color { QOS_GREEN = 0, QOS_YELLOW = 1, QOS_RED = 2 };
enum qos_meter_type { QOS_SRTCM = 0, QOS_TRTCM = 1 };

/* srTCM: c = committed (CIR, CBS), e = excess (CBS overflow, EBS).
 * trTCM: c = committed (CIR, CBS), e = peak (PIR, PBS). */
struct qos_meter {
	enum qos_meter_type type;
	struct qos_tb c, e;
};

void qos_srtcm_init(struct qos_meter *m, uint64_t cir, uint64_t cbs, uint64_t ebs, uint64_t now);
void qos_trtcm_init(struct qos_meter *m, uint64_t cir, uint64_t cbs, uint64_t pir, uint64_t pbs,
		    uint64_t now);
/* Colour one packet. Colour-blind callers pass QOS_GREEN as the pre-colour: both RFCs'
 * colour-aware rules reduce to the colour-blind ones for green packets. */
enum qos_color qos_meter_color(struct qos_meter *m, uint32_t bytes, enum qos_color pre,
			       uint64_t now);

/* codel.c: RFC 8289 on one queue; the caller owns the queue and supplies sojourn times. */
struct qos_codel {
	uint64_t target, interval; /* ns */
	uint64_t first_above;	   /* 0 = sojourn below target */
	uint64_t drop_next;
	uint32_t count, lastcount;
	bool dropping;
};

enum qos_codel_act { QOS_CODEL_SEND, QOS_CODEL_DROP };

void qos_codel_init(struct qos_codel *cd, uint64_t target_ns, uint64_t interval_ns);
/* Called for each packet taken from the head. backlog_bytes excludes the packet itself. */
enum qos_codel_act qos_codel_judge(struct qos_codel *cd, uint64_t now, uint64_t sojourn,
				   uint64_t backlog_bytes, uint32_t mtu);
void qos_codel_empty(struct qos_codel *cd); /* the queue ran dry */

/* fq.c: per-flow queues inside a class (fq_codel; host isolation as CAKE's dual/triple). */
enum qos_isolate {
	QOS_ISOLATE_FLOWS = 0, /* every flow its share */
	QOS_ISOLATE_DUAL_SRC,  /* each source host its share, then its flows */
	QOS_ISOLATE_DUAL_DST,  /* each destination host its share, then its flows */
	QOS_ISOLATE_TRIPLE,    /* the busier of the flow's two hosts decides */
};

#define QOS_FQ_NEW  0 /* qos_flow.list: became active since it last had its turn */
#define QOS_FQ_OLD  1
#define QOS_FQ_IDLE 2 /* in no list: the slot is free */

struct qos_flow {
	uint32_t head, tail; /* nodes of its packets, oldest first */
	uint32_t next;	     /* in its list */
	uint8_t list;	     /* QOS_FQ_* */
	uint32_t tag;	     /* hash of the flow holding the slot, 0: never used */
	uint32_t src, dst;   /* host slots while active */
	uint32_t qlen;
	int64_t deficit; /* DRR bytes */
	uint64_t backlog;
	struct qos_codel codel;
	uint64_t sent_pkts, sent_bytes, drops;
	struct nio_flow_key key; /* of the flow that took the slot, for the control thread */
};

struct qos_fq_list {
	uint32_t head, tail;
};

struct qos_fq {
	uint32_t nflows; /* slots, a multiple of the set size */
	uint32_t quantum;
	enum qos_isolate isolate;
	uint32_t active; /* flows in the lists */
	struct qos_flow *flows;
	uint32_t *hosts; /* active flows per source host slot, then per destination host slot */
	struct qos_fq_node {
		struct nio_pkt *p;
		uint32_t next;
	} * nodes; /* one per packet the class may hold */
	uint32_t free;
	struct qos_fq_list lists[2]; /* new flows, old flows */
};

struct qos_fq *qos_fq_new(uint32_t nflows, uint32_t limit, uint32_t quantum,
			  enum qos_isolate isolate, uint64_t target, uint64_t interval);
void qos_fq_free(struct qos_fq *fq);
/* The caller keeps the class within its limit: a node must be free (qos_fq_drop). */
void qos_fq_push(struct qos_fq *fq, struct nio_pkt *p);
struct qos_flow *qos_fq_head(struct qos_fq *fq);
struct nio_pkt *qos_fq_pop(struct qos_fq *fq, struct qos_flow *f);
void qos_fq_charge(struct qos_flow *f, uint32_t len);
struct nio_pkt *qos_fq_drop(struct qos_fq *fq);

/* classify.c: match rules on the flow key and DSCP. */
#define QOS_MAX_PREFIXES 8u

struct qos_prefix {
	uint8_t addr[16]; /* IPv4 mapped as ::ffff:a.b.c.d, like nio_flow_key */
	uint8_t len;	  /* in the 128-bit space */
};

struct qos_match {
	uint64_t dscp_mask; /* bit n: DSCP n matches; 0 = any */
	int proto;	    /* -1 = any */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	uint8_t nsrc, ndst;
	struct qos_prefix src[QOS_MAX_PREFIXES], dst[QOS_MAX_PREFIXES];
};

void qos_match_any(struct qos_match *m);
bool qos_match_is_any(const struct qos_match *m);
bool qos_match_pkt(const struct qos_match *m, const struct nio_pkt *p);
int qos_dscp_parse(const char *s);  /* "ef", "af21", "cs1", "be", "46" -> 0..63, else -1 */
int qos_proto_parse(const char *s); /* "tcp", "udp", "icmp", "17" -> 0..255, else -1 */
int qos_port_range_parse(const char *s, uint16_t *lo, uint16_t *hi);
int qos_prefix_parse(const char *s, struct qos_prefix *p);
enum qos_color qos_dscp_color(uint8_t dscp);	 /* AF drop precedence; others green */
int qos_remark(struct nio_pkt *p, uint8_t dscp); /* rewrite the IP header; 0 ok, -1 not IP */
int qos_ecn_mark(struct nio_pkt *p);		 /* set CE; 0 ok, -1 not ECN-capable or not IP */

/* units.c: the human units of the config file, for validation, tests and show(). */
int qos_parse_rate(const char *s, uint64_t *bps);
int qos_parse_size(const char *s, uint64_t *bytes);
int qos_parse_time(const char *s, uint64_t *ns);
void qos_format_rate(uint64_t bps, char *buf, size_t len);

/* sched.c: a tree of HTB-like classes; leaves hold FIFO or flow queues of packets. */
#define QOS_MAX_CLASSES 1024u
#define QOS_WORDS	(QOS_MAX_CLASSES / 64) /* of a bitmap over the classes */
#define QOS_MAX_PRIO	8u
#define QOS_MAX_DEPTH	8u /* levels, root included */
#define QOS_NAME_MAX	32
#define QOS_FLOWS_MAX	65536u

struct qos_class_stats {
	/* written per packet sent: first, in the class's third cache line */
	uint64_t sent_pkts, sent_bytes;
	uint64_t delay_ns, delay_max_ns; /* sojourn of the last sent packet, and the worst */
	uint64_t borrowed;		 /* packets sent on a parent's rate */
	uint64_t drop_limit, drop_codel;
	uint64_t marked; /* ECN CE set by CoDel instead of a drop */
};

/* What the packet path reads comes first, in three cache lines of their own (the class is
 * aligned to a line): the buckets; the queue and the class's place in the sets; the deficits
 * and the counters of every packet sent. The configuration and counters only the control
 * thread, a drop or a cache miss of the classifier read come after them. With hundreds of
 * classes active, each costs a packet those three lines, not the five or six it straddled. */
struct qos_class {
	_Alignas(64) struct qos_tb rate;
	struct qos_tb ceil;
	int16_t parent; /* index, -1 for the root */
	uint8_t height; /* 0 for a leaf, else 1 + the highest child's */
	int8_t lvl;	/* a leaf's set (lender level, see sched.c; may be better than the
			 * level until look() says), -1: none; an idle leaf keeps its set
			 * until the scheduler passes it there */
	uint8_t prio;	/* 0..QOS_MAX_PRIO - 1 */
	bool use_codel, use_ecn;
	uint32_t head, qlen;
	uint32_t limit;	       /* packets */
	uint32_t mtu;	       /* largest packet seen: CoDel's "one MTU left" test */
	uint32_t quantum;      /* DRR bytes per round: weight * base quantum */
	uint32_t seen;	       /* qos_sched.gen when look() last found the leaf at lvl */
	uint32_t backlog;      /* bytes (at most limit frames: well inside 32 bits) */
	uint32_t limit_bytes;  /* 0: none; a larger setting than 32 bits is none as well */
	struct nio_pkt *first; /* the FIFO's head packet; enqueue time in p->user */
	struct nio_pkt **ring; /* the FIFO's other packets, from head (limit slots) */
	struct qos_fq *fq;     /* flow queues, or NULL: a FIFO in first and ring */
	/* DRR credit per lender level: between -(a frame) and a quantum plus a frame */
	int32_t deficit[QOS_MAX_DEPTH];
	struct qos_class_stats st;
	struct qos_codel codel; /* of the FIFO; flow queues have their own */
	char name[QOS_NAME_MAX];
	unsigned children;
	uint32_t depth; /* 0 for the root */
	struct qos_match match;
};

struct qos_class_conf {
	const char *name;
	int parent;
	uint64_t rate, ceil, burst, cburst; /* bit/s, bytes */
	uint32_t prio, weight, limit;
	bool codel, ecn;
	uint64_t target, interval;
	uint32_t flows; /* flow queues; 0: one FIFO */
	uint64_t limit_bytes;
	enum qos_isolate isolate;
};

/* timers.c: a min-heap of class indices by wake time (ns) */
struct qos_timer {
	uint64_t wake;
	uint16_t cls;
};

struct qos_timers {
	unsigned n;
	struct qos_timer heap[QOS_MAX_CLASSES];
	int16_t pos[QOS_MAX_CLASSES]; /* of class i in heap, -1: not armed */
};

void qos_timers_init(struct qos_timers *t);
void qos_timer_set(struct qos_timers *t, unsigned i, uint64_t wake);
void qos_timer_clear(struct qos_timers *t, unsigned i);
int qos_timer_due(struct qos_timers *t, uint64_t now);
uint64_t qos_timer_first(const struct qos_timers *t);
int qos_timer_top(const struct qos_timers *t); /* the class of the earliest, -1: none */

struct qos_sched {
	unsigned n;
	struct qos_class cls[QOS_MAX_CLASSES];
	unsigned rr[QOS_MAX_DEPTH][QOS_MAX_PRIO]; /* DRR position per lender level, priority */
	/* backlogged leaves by lender level and priority, and which of those sets are not empty
	 * (bit level * QOS_MAX_PRIO + prio) */
	uint64_t cand[QOS_MAX_DEPTH][QOS_MAX_PRIO][QOS_WORDS];
	uint16_t cand_n[QOS_MAX_DEPTH][QOS_MAX_PRIO];
	uint64_t cand_any;
	/* backlogged leaves waiting for a time: to send at all (-1, or borrowing from the root:
	 * what release times are made of), or only to move to a better level among the leaves
	 * that may send already */
	struct qos_timers blocked, better;
	/* changes with the round's time and whenever a class below the root spends a bucket: a
	 * leaf looked at under the same gen is still at its level (see look() in sched.c) */
	uint32_t gen;
	uint32_t quantum;     /* base quantum, bytes */
	uint64_t qlen;	      /* packets held, all classes */
	uint64_t due;	      /* release time last promised while packets wait, or 0 */
	uint64_t late_max_ns; /* the worker's worst lateness past a promised release */
	uint64_t lost_ns;     /* lateness beyond the catch-up horizon: sending never made up */
	struct qos_class_stats tot; /* all classes together */
	void (*free)(struct nio_pkt *p);
};

void qos_sched_init(struct qos_sched *s, uint32_t quantum, void (*free_fn)(struct nio_pkt *));
int qos_sched_add(struct qos_sched *s, const struct qos_class_conf *cc, uint64_t now, char *err,
		  size_t errlen);
void qos_sched_fini(struct qos_sched *s); /* frees every held packet */
/* Take up to max held packets out, class by class in FIFO order, without freeing them. */
unsigned qos_sched_drain(struct qos_sched *s, struct nio_pkt **out, unsigned max);
int qos_sched_find(const struct qos_sched *s, const char *name);
bool qos_sched_is_leaf(const struct qos_sched *s, unsigned i);
/* 0: queued (the scheduler owns p); -1: the class is full (the caller drops p). */
int qos_sched_enqueue(struct qos_sched *s, unsigned cls, struct nio_pkt *p, uint64_t now);
uint16_t qos_sched_dequeue(struct qos_sched *s, uint64_t now, struct nio_pkt **pkts, uint16_t max,
			   uint64_t *next_ns);

/* police.c: a meter, the packets it applies to, and what to do with each colour. */
#define QOS_MAX_POLICERS 16u
#define QOS_ACT_PASS	 (-1)
#define QOS_ACT_DROP	 (-2) /* an action >= 0 re-marks to that DSCP */

struct qos_policer {
	char name[QOS_NAME_MAX];
	struct qos_meter meter;
	bool color_aware; /* pre-colour from the AF drop precedence of the DSCP */
	int action[3];	  /* per enum qos_color */
	struct qos_match match;
	uint64_t colored[3], marked, dropped;
};

int qos_action_parse(const char *s); /* "pass", "drop" or a DSCP; -3 when invalid */
bool qos_police(struct qos_policer *pol, struct nio_pkt *p, uint64_t now); /* false: drop */

/* qos.c / conf.c: the plugin instance. */
#define foreach_qos_counter                 \
	_(PACKETS, "packets")               \
	_(BYTES, "bytes")                   \
	_(GREEN, "green")                   \
	_(YELLOW, "yellow")                 \
	_(RED, "red")                       \
	_(MARKED, "marked")                 \
	_(POLICED, "policer-drops")         \
	_(QUEUED, "queued")                 \
	_(SENT, "sent")                     \
	_(SENT_BYTES, "sent-bytes")         \
	_(LIMIT_DROPS, "queue-limit-drops") \
	_(CODEL_DROPS, "codel-drops")       \
	_(ECN_MARKS, "ecn-marks")           \
	_(BACKLOG, "queue-packets")         \
	_(LATE_MAX, "late-max-us")          \
	_(LOST, "late-lost-us")

enum qos_counter {
#define _(sym, str) QOS_C_##sym,
	foreach_qos_counter
#undef _
		QOS_C_MAX
};

/* What the rules said for a packet of this 5-tuple and DSCP (key: packed, see lookup.c), a
 * slot to a cache line: a lookup costs one line however many flows there are. */
#define QOS_CACHE_SLOTS 4096u
#define QOS_CACHE_WORDS 5u

struct qos_cache_slot {
	_Alignas(64) uint64_t key[QOS_CACHE_WORDS];
	int16_t cls; /* -1: empty */
};

struct qos {
	const struct nio_host *host;
	unsigned npol;
	struct qos_policer pol[QOS_MAX_POLICERS];
	bool shaping; /* a rate was given: packets wait in the class tree */
	int def_cls;
	struct qos_sched sched;
	uint64_t ctr[QOS_C_MAX]; /* written by the worker, or with it paused (restore_state) */
	bool rules;		 /* a leaf has match rules: classify through the cache */
	struct qos_cache_slot cache[QOS_CACHE_SLOTS];
	uint64_t cache_hits, cache_misses;
};

extern const struct nio_opt qos_options[];
/* objects.c: classes, policers and active flows as structured counters (control thread) */
void qos_objects(void *inst, void (*emit)(void *ctx, const struct nio_obj *o), void *ctx);
int qos_conf_load(struct qos *q, const struct nio_conf *conf, uint64_t now, char *err,
		  size_t errlen);
/* lookup.c: a packet's leaf, by a cache of (5-tuple, DSCP) -> leaf in front of the rules */
void qos_classify_init(struct qos *q); /* after the tree is built */
int qos_classify(struct qos *q, const struct nio_pkt *p);
/* Classify and queue n packets; res[i]: 0 queued (the scheduler owns pkts[i]), -1 the class is
 * full (the caller drops it). */
void qos_enqueue_burst(struct qos *q, struct nio_pkt **pkts, uint16_t n, uint64_t now, int8_t *res);

#endif /* NETIO_QOS_H */

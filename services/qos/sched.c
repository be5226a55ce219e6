/* The class tree: HTB-like rate/ceil with borrowing, strict priority and DRR between leaves. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qos.h"

#define QOS_MIN_BURST  NIO_PKT_MAX_FRAME /* a bucket must hold the largest frame */
#define QOS_LIMIT_MAX  65536u
#define QOS_WAIT_MAX   QOS_NS_PER_SEC	  /* the worker hears from us at least once a second */
#define QOS_CATCHUP_NS (100 * 1000000ull) /* longest stall whose credit is made up */

_Static_assert(QOS_MAX_DEPTH *QOS_MAX_PRIO <= 64, "cand_any is one word");
_Static_assert(offsetof(struct qos_class, parent) == 64 &&
		       offsetof(struct qos_class, deficit) == 128 &&
		       offsetof(struct qos_class, st.borrowed) == 192,
	       "a class's hot fields fill its first three cache lines");
_Static_assert(QOS_MAX_CLASSES <= INT16_MAX && QOS_MAX_DEPTH <= INT8_MAX,
	       "parent and lvl fit their fields");

static void bit_set(uint64_t *w, unsigned i)
{
	w[i / 64] |= UINT64_C(1) << (i % 64);
}

static void bit_clr(uint64_t *w, unsigned i)
{
	w[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

/* The first set bit at or after i among the first n, or -1: a word at a time. */
static int bit_from(const uint64_t *w, unsigned n, unsigned i)
{
	for (unsigned k = i / 64; i < n; k++, i = k * 64) {
		uint64_t v = w[k] & (~UINT64_C(0) << (i % 64));

		if (v)
			return (unsigned)(k * 64 + (unsigned)__builtin_ctzll(v)) < n
				       ? (int)(k * 64 + (unsigned)__builtin_ctzll(v))
				       : -1;
	}
	return -1;
}

/* The same, wrapping round to the start. */
static int bit_next(const uint64_t *w, unsigned n, unsigned i)
{
	int b = bit_from(w, n, i);

	return b >= 0 ? b : bit_from(w, n, 0);
}

void qos_sched_init(struct qos_sched *s, uint32_t quantum, void (*free_fn)(struct nio_pkt *))
{
	memset(s, 0, sizeof(*s));
	qos_timers_init(&s->blocked);
	qos_timers_init(&s->better);
	s->gen = 1; /* a new class's seen (0) is stale */
	s->quantum = quantum ? quantum : 1514;
	s->free = free_fn;
}

int qos_sched_find(const struct qos_sched *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->cls[i].name, name) == 0)
			return (int)i;
	return -1;
}

bool qos_sched_is_leaf(const struct qos_sched *s, unsigned i)
{
	return s->cls[i].children == 0;
}

/* Default burst: 10 ms at the rate, never below one frame. HTB gets by with rate/HZ, but a
 * user-space worker on a busy host wakes milliseconds late, and credit beyond the bucket is
 * lost bandwidth. A class without a rate holds no credit of its own at all. */
static uint64_t burst_or_default(uint64_t burst, uint64_t rate)
{
	if (rate == 0)
		return 0;
	if (burst == 0)
		burst = rate / 800;
	return burst < QOS_MIN_BURST ? QOS_MIN_BURST : burst;
}

static int check_class(const struct qos_sched *s, const struct qos_class_conf *cc, char *err,
		       size_t errlen)
{
	if (s->n == QOS_MAX_CLASSES)
		snprintf(err, errlen, "more than %u classes", QOS_MAX_CLASSES);
	else if (strlen(cc->name) >= QOS_NAME_MAX || !cc->name[0])
		snprintf(err, errlen, "class name '%s' empty or too long", cc->name);
	else if (qos_sched_find(s, cc->name) >= 0)
		snprintf(err, errlen, "class '%s' defined twice", cc->name);
	else if ((s->n == 0) != (cc->parent < 0) || cc->parent >= (int)s->n)
		snprintf(err, errlen, "class '%s': parent must be defined before it", cc->name);
	else if (s->n == 0 && cc->rate == 0)
		snprintf(err, errlen, "the root needs a rate");
	else if (cc->ceil && cc->rate > cc->ceil)
		snprintf(err, errlen, "class '%s': rate above ceil", cc->name);
	else if (cc->parent >= 0 && s->cls[cc->parent].depth + 1 >= QOS_MAX_DEPTH)
		snprintf(err, errlen, "class '%s': tree deeper than %u", cc->name, QOS_MAX_DEPTH);
	else if (cc->prio >= QOS_MAX_PRIO)
		snprintf(err, errlen, "class '%s': prio above %u", cc->name, QOS_MAX_PRIO - 1);
	else if (cc->weight == 0 || cc->limit == 0 || cc->limit > QOS_LIMIT_MAX)
		snprintf(err, errlen, "class '%s': weight and limit (1..%u) must be positive",
			 cc->name, QOS_LIMIT_MAX);
	else if (cc->flows > QOS_FLOWS_MAX)
		snprintf(err, errlen, "class '%s': more than %u flows", cc->name, QOS_FLOWS_MAX);
	else
		return 0;
	return -1;
}

/* A class that gets a child stops being a leaf: packets only ever wait in leaves. Its
 * ancestors' heights grow with the new branch. */
static void adopt(struct qos_sched *s, int parent)
{
	struct qos_class *p = &s->cls[parent];
	uint32_t h = 1;

	p->children++;
	free(p->ring);
	p->ring = NULL;
	qos_fq_free(p->fq);
	p->fq = NULL;
	for (int i = parent; i >= 0 && s->cls[i].height < h; i = s->cls[i].parent, h++)
		s->cls[i].height = (uint8_t)h;
}

/*
 * The DRR credit of a leaf that was idle: a quantum at every lender level, so that its first
 * turn sends (as fq_codel grants a new flow its quantum, and HTB lets a class it reaches send
 * before it looks at the deficit). A turn otherwise ends with the grant for the next one
 * (drr()), which a leaf just activated has not had: without this its first turn would only
 * grant, and each leaf that gets a packet while idle would wait a whole DRR round more and
 * cost the scheduler a visit more than a backlogged one. Shares are unchanged: every turn is
 * still worth one quantum.
 */
static inline void full_credit(struct qos_class *c)
{
	for (unsigned l = 0; l < QOS_MAX_DEPTH; l++)
		c->deficit[l] = (int32_t)c->quantum;
}

int qos_sched_add(struct qos_sched *s, const struct qos_class_conf *cc, uint64_t now, char *err,
		  size_t errlen)
{
	struct qos_class *c = &s->cls[s->n];
	uint64_t ceil;

	if (check_class(s, cc, err, errlen) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	c->lvl = -1;
	if (cc->flows)
		c->fq = qos_fq_new(cc->flows, cc->limit, s->quantum, cc->isolate, cc->target,
				   cc->interval);
	else
		c->ring = calloc(cc->limit, sizeof(*c->ring));
	if (!c->ring && !c->fq) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	strcpy(c->name, cc->name);
	c->parent = (int16_t)cc->parent;
	c->depth = cc->parent < 0 ? 0 : s->cls[cc->parent].depth + 1;
	ceil = cc->ceil ? cc->ceil : cc->parent < 0 ? cc->rate : s->cls[cc->parent].ceil.rate;
	qos_tb_init(&c->rate, cc->rate, burst_or_default(cc->burst, cc->rate), now);
	qos_tb_init(&c->ceil, ceil, burst_or_default(cc->cburst, ceil), now);
	c->prio = (uint8_t)cc->prio;
	c->quantum = cc->weight * s->quantum;
	full_credit(c);
	c->limit = cc->limit;
	/* a FIFO holds at most limit frames, far below 4 GB: a larger byte limit never binds */
	c->limit_bytes = cc->limit_bytes > UINT32_MAX ? 0 : (uint32_t)cc->limit_bytes;
	c->use_codel = cc->codel;
	c->use_ecn = cc->ecn;
	qos_codel_init(&c->codel, cc->target, cc->interval);
	qos_match_any(&c->match);
	if (cc->parent >= 0)
		adopt(s, cc->parent);
	return (int)s->n++;
}

/* Leaf i, backlogged, is in the set of its lender level (if it may send) and priority. */
static inline void place(struct qos_sched *s, unsigned i, int level)
{
	struct qos_class *c = &s->cls[i];

	c->lvl = (int8_t)level;
	if (level < 0)
		return;
	bit_set(s->cand[level][c->prio], i);
	if (!s->cand_n[level][c->prio]++)
		s->cand_any |= UINT64_C(1) << (level * QOS_MAX_PRIO + c->prio);
}

static inline void unplace(struct qos_sched *s, unsigned i)
{
	struct qos_class *c = &s->cls[i];

	if (c->lvl >= 0) {
		bit_clr(s->cand[c->lvl][c->prio], i);
		if (!--s->cand_n[c->lvl][c->prio])
			s->cand_any &= ~(UINT64_C(1) << (c->lvl * QOS_MAX_PRIO + c->prio));
	}
	c->lvl = -1;
}

/* A leaf that gets packets while idle goes to the set of level 0 at once (it may be there still,
 * or in another set: went_idle()): no leaf does better,
 * so the placement can only be too good, and a member whose level is worse than its set's is
 * what the sets already hold after a sibling's charge (a parent's rate spent): DRR or
 * next_release() looks at it before it sends or the sets promise a time, and moves it. Its
 * path is brought up to the round's time then, by the look it needs anyway; a leaf at level 0
 * needs no timer. */
static inline void held(struct qos_sched *s, struct qos_class *c, struct nio_pkt *p, uint64_t now)
{
	if (!c->qlen) {
		if (c->lvl != 0) {
			unplace(s, (unsigned)(c - s->cls));
			place(s, (unsigned)(c - s->cls), 0);
		}
		/* DRR reads its buckets and deficits next: ask for the lines now */
		__builtin_prefetch(&c->rate, 1);
		__builtin_prefetch(&c->deficit, 1);
	}
	p->user = now;
	c->qlen++;
	c->backlog += p->len;
	if (p->len > c->mtu)
		c->mtu = p->len;
	s->qlen++;
}

static bool over_limit(const struct qos_class *c, uint32_t len)
{
	return c->qlen >= c->limit ||
	       (c->limit_bytes && (uint64_t)c->backlog + len > c->limit_bytes);
}

static void dropped_limit(struct qos_sched *s, struct qos_class *c)
{
	c->st.drop_limit++;
	s->tot.drop_limit++;
}

static inline void went_idle(struct qos_sched *s, unsigned i);

/* Flow queues make room at the head of the fattest flow, then always take p. A class that p
 * alone overfills (a byte limit below its size) is emptied first: it goes idle, as one the
 * scheduler empties does, so that every class held() places is in no set. */
static int fq_enqueue(struct qos_sched *s, struct qos_class *c, struct nio_pkt *p, uint64_t now)
{
	while (c->qlen && over_limit(c, p->len)) {
		struct nio_pkt *q = qos_fq_drop(c->fq);

		c->qlen--;
		c->backlog -= q->len;
		s->qlen--;
		dropped_limit(s, c);
		s->free(q);
		if (!c->qlen)
			went_idle(s, (unsigned)(c - s->cls));
	}
	held(s, c, p, now);
	qos_fq_push(c->fq, p);
	return 0;
}

/* A FIFO keeps its head packet in the class's queue line and the rest in its ring: a leaf
 * that holds one packet at a time (most, with traffic spread over many leaves) never touches
 * the ring. */
int qos_sched_enqueue(struct qos_sched *s, unsigned cls, struct nio_pkt *p, uint64_t now)
{
	struct qos_class *c = &s->cls[cls];

	if (c->fq)
		return fq_enqueue(s, c, p, now);
	if (!c->ring || over_limit(c, p->len)) {
		dropped_limit(s, c);
		return -1;
	}
	if (!c->qlen) {
		c->first = p;
	} else {
		uint32_t tail = c->head + c->qlen - 1;

		c->ring[tail >= c->limit ? tail - c->limit : tail] = p;
	}
	held(s, c, p, now);
	return 0;
}

/* The head packet of a leaf, from flow f (flow queues) or the FIFO. */
static struct nio_pkt *pop(struct qos_sched *s, struct qos_class *c, struct qos_flow *f)
{
	struct nio_pkt *p;

	if (f) {
		p = qos_fq_pop(c->fq, f);
	} else {
		p = c->first;
		if (c->qlen > 1) {
			c->first = c->ring[c->head];
			c->head = c->head + 1 == c->limit ? 0 : c->head + 1;
		}
	}
	c->qlen--;
	c->backlog -= p->len;
	s->qlen--;
	return p;
}

static inline struct qos_flow *head_flow(struct qos_class *c)
{
	return c->fq ? qos_fq_head(c->fq) : NULL;
}

static inline uint32_t head_len(struct qos_class *c)
{
	struct qos_flow *f = head_flow(c);

	return f ? c->fq->nodes[f->head].p->len : c->first->len;
}

/* Every leaf's last look goes stale. When the counter wraps, every class forgets it was seen
 * (once in 2^32 rounds), so an old seen never passes for a current one. */
static inline void next_gen(struct qos_sched *s)
{
	if (++s->gen)
		return;
	for (unsigned i = 0; i < s->n; i++)
		s->cls[i].seen = 0;
	s->gen = 1;
}

/* Whether the charge spent the bucket: that may change the level of leaves under it. */
static bool spends(struct qos_tb *tb, uint32_t bytes)
{
	bool was = qos_tb_ready(tb);

	qos_tb_take(tb, bytes);
	return was && !qos_tb_ready(tb);
}

/* HTB charges every class on the path its ceil, but the rate only from the lender upwards:
 * the classes below the lender borrowed that much. A bucket spent below the root makes every
 * look stale (the root is asked apart, by root_lets()). */
static void charge(struct qos_sched *s, unsigned leaf, int level, uint32_t bytes)
{
	bool spent = false;

	for (int i = (int)leaf; i >= 0; i = s->cls[i].parent) {
		struct qos_class *c = &s->cls[i];
		bool sp = spends(&c->ceil, bytes);

		if ((int)c->height >= level)
			sp = spends(&c->rate, bytes) || sp;
		spent = spent || (sp && c->parent >= 0);
	}
	if (spent)
		next_gen(s);
	if (level > 0)
		s->cls[leaf].st.borrowed++;
}

/* Most leaves have no timer armed when they settle or go idle: ask before the call. */
static inline void disarm(struct qos_timers *t, unsigned i)
{
	if (t->pos[i] >= 0)
		qos_timer_clear(t, i);
}

/* A class's two buckets are brought up to a time together (here and nowhere else), so they
 * share their last refill: one elapsed time for both. t is after it. */
static inline void refill(struct qos_class *c, uint64_t t)
{
	uint64_t dt = t - c->rate.last_ns;

	c->rate.last_ns = c->ceil.last_ns = t;
	if (c->rate.tokens < c->rate.cap)
		c->rate.tokens += (int64_t)qos_tb_earned(c->rate.rate, dt,
							 (uint64_t)(c->rate.cap - c->rate.tokens));
	if (c->ceil.tokens < c->ceil.cap)
		c->ceil.tokens += (int64_t)qos_tb_earned(c->ceil.rate, dt,
							 (uint64_t)(c->ceil.cap - c->ceil.tokens));
}

/*
 * The leaf's lender level at t as far as the classes below the root tell: the height of the
 * nearest class, from the leaf up, with credit left at its rate (0 = the leaf's own rate),
 * else the root's height (borrowing from the root); -1 = a ceil on the way is spent. As in
 * HTB, borrowing from a lower lender goes first, so siblings sharing a parent's rate beat a
 * cousin borrowing from the root. The root's own buckets are asked by root_lets(), once for
 * all the leaves: its ceil is the link, which must hold even if the children's rates were
 * configured to add up to more, and while it (or its rate, for the leaves borrowing from it)
 * is spent, no leaf is looked at one by one.
 * The buckets on the path first earn their credit up to t: idempotent, and exact whenever it
 * happens, so a bucket is brought up to the round's time only when a leaf under it is looked
 * at, never in a sweep over the classes. One walk up the path brings each class to t (if it
 * is not there already) and reads it; a spent ceil still lets the rest of the path come up to
 * t, for sends_at().
 * Every caller leaves the leaf at the level found (settle(), or it was there), so while gen
 * has not moved (same round, so the same t, and no bucket below the root spent since) the
 * answer is the leaf's lvl: DRR visits a leaf two or three times in a round it is activated in.
 */
static inline int look(struct qos_sched *s, unsigned leaf, uint64_t t)
{
	struct qos_class *c = &s->cls[leaf];
	bool blocked = false;
	int level = -1;

	if (c->seen == s->gen)
		return c->lvl;
	c->seen = s->gen;
	for (;; c = &s->cls[c->parent]) {
		if (c->rate.last_ns < t)
			refill(c, t);
		if (c->parent < 0)
			break;
		if (!qos_tb_ready(&c->ceil))
			blocked = true;
		else if (level < 0 && qos_tb_ready(&c->rate))
			level = (int)c->height;
	}
	return blocked ? -1 : level >= 0 ? level : (int)c->height;
}

/* Earliest time the leaf could send, if nothing else is sent first: every ceil on its path
 * ready, and a rate. */
static uint64_t sends_at(const struct qos_sched *s, unsigned leaf, uint64_t t)
{
	uint64_t ceil_wait = 0, rate_wait = QOS_NEVER;

	for (int i = (int)leaf; i >= 0; i = s->cls[i].parent) {
		uint64_t cw = qos_tb_wait_ready(&s->cls[i].ceil);
		uint64_t rw = qos_tb_wait_ready(&s->cls[i].rate);

		ceil_wait = cw > ceil_wait ? cw : ceil_wait;
		rate_wait = rw < rate_wait ? rw : rate_wait;
	}
	if (ceil_wait == QOS_NEVER || rate_wait == QOS_NEVER)
		return QOS_NEVER;
	return t + (ceil_wait > rate_wait ? ceil_wait : rate_wait);
}

/* Earliest time a leaf at level (>= 0) could move to a better one, if nothing more is charged:
 * the rate of a class below that level ready; QOS_NEVER: it is at its best. For a leaf that
 * borrows from the root, also the root's ceil: before that it sends nothing anyway. */
static uint64_t improves_at(const struct qos_sched *s, unsigned leaf, int level, uint64_t t)
{
	uint64_t wait = QOS_NEVER, cw;

	for (int i = (int)leaf; (int)s->cls[i].height < level; i = s->cls[i].parent) {
		uint64_t rw = qos_tb_wait_ready(&s->cls[i].rate);

		wait = rw < wait ? rw : wait;
	}
	if (wait == QOS_NEVER)
		return QOS_NEVER;
	cw = level == (int)s->cls[0].height ? qos_tb_wait_ready(&s->cls[0].ceil) : 0;
	return t + (cw > wait ? cw : wait);
}

/*
 * Leaf i (its path brought up to t) goes to the set of level, with a timer for when that may
 * change for the better. Charges only put such a time off, so it is a lower bound: the leaf
 * is looked at again then and, if nothing changed, waits anew. A leaf that may not send, or
 * only on the root's rate, waits on the blocked timers: their earliest is when the next packet
 * may leave. One that may send already waits on the better timers, which only reorder.
 */
static inline void settle(struct qos_sched *s, unsigned i, int level, uint64_t t)
{
	bool blocked = level < 0 || level == (int)s->cls[0].height;
	uint64_t at = level < 0 ? sends_at(s, i, t) : improves_at(s, i, level, t);

	if (level != s->cls[i].lvl) {
		unplace(s, i);
		place(s, i, level);
	}
	disarm(blocked ? &s->better : &s->blocked, i);
	if (at == QOS_NEVER)
		disarm(blocked ? &s->blocked : &s->better, i);
	else
		qos_timer_set(blocked ? &s->blocked : &s->better, i, at);
}

/*
 * A round (one release time t). A backlogged leaf stays in the set of its level from round to
 * round; within a round credit only goes down, so a leaf's level only gets worse, and the
 * sets are checked lazily, member by member, when DRR reaches them (leaves that got packets
 * since the last round are in the best set already: held()). A level gets better only with
 * time: the leaves whose timers are due now are looked at. So the work of a round is the
 * leaves it sends from or whose state changed, not the leaves that hold packets.
 */
static void round_start(struct qos_sched *s, uint64_t t)
{
	int i;

	next_gen(s);
	while ((i = qos_timer_due(&s->blocked, t)) >= 0 || (i = qos_timer_due(&s->better, t)) >= 0)
		settle(s, (unsigned)i, look(s, (unsigned)i, t), t);
}

/* Every leaf's path ends at the root: while its ceil is spent nobody sends, and while its
 * rate is spent nobody borrows from it. Asking the root first spares looking at every
 * backlogged leaf each time the link's credit runs out. */
static inline bool root_lets(struct qos_sched *s, unsigned level, uint64_t t)
{
	struct qos_class *r = &s->cls[0];

	if (r->rate.last_ns < t)
		refill(r, t);
	return qos_tb_ready(&r->ceil) && (level < r->height || qos_tb_ready(&r->rate));
}

/* Deficit round robin among the leaves tied for the best (level, prio); quantum >= 1 byte
 * per visit bounds the loop. Each level keeps its own deficits and position, as in HTB, so
 * what a leaf sends on its own rate does not shift its turn among the borrowers. A member
 * whose level got worse moves to its set before it takes a turn. -1: the set ran empty;
 * -2: the root lets no set at this level or above send. */
static int drr(struct qos_sched *s, int level, uint32_t prio, uint64_t t)
{
	uint64_t *set = s->cand[level][prio];
	int i = bit_next(set, s->n, s->rr[level][prio]);

	while (i >= 0) {
		struct qos_class *c = &s->cls[i];
		int now;

		if (!c->qlen) {
			unplace(s, (unsigned)i); /* went idle in the set: went_idle() */
		} else if (!root_lets(s, (unsigned)level, t)) {
			return -2;
		} else if ((now = look(s, (unsigned)i, t)) != level) {
			settle(s, (unsigned)i, now, t);
		} else if (c->deficit[level] >= (int64_t)head_len(c)) {
			s->rr[level][prio] = (unsigned)i;
			return i;
		} else {
			c->deficit[level] += c->quantum;
		}
		i = bit_next(set, s->n, (unsigned)i + 1 < s->n ? (unsigned)i + 1 : 0);
	}
	return -1;
}

/* Choose the leaf to send from: lowest lender level first (own rate before borrowing, as in
 * HTB), then strict priority, then DRR. Returns -1 when every backlogged leaf must wait. */
static int pick(struct qos_sched *s, uint64_t t, int *level)
{
	uint64_t any;

	/* cand_any afresh each time: a leaf DRR moves may fill a set after b */
	for (unsigned b = 0; b < 64 && (any = s->cand_any >> b << b); b++) {
		int i;

		b = (unsigned)__builtin_ctzll(any);
		i = drr(s, (int)(b / QOS_MAX_PRIO), b % QOS_MAX_PRIO, t);
		if (i >= 0) {
			*level = (int)(b / QOS_MAX_PRIO);
			return i;
		}
		if (i == -2)
			return -1; /* the sets after b are at levels as high or higher */
	}
	return -1;
}

/* CoDel's verdict on the head packet: send, or signal congestion by ECN CE (RFC 3168) where
 * the class allows it and the packet is ECN-capable, else by dropping it. A flow queue has a
 * CoDel of its own; the class's backlog tells whether the queue can drain any faster. */
static bool codel_keeps(struct qos_sched *s, struct qos_class *c, struct qos_codel *cd,
			struct nio_pkt *p, uint64_t now, uint64_t sojourn)
{
	if (!c->use_codel ||
	    qos_codel_judge(cd, now, sojourn, c->backlog, c->mtu) == QOS_CODEL_SEND)
		return true;
	if (!c->use_ecn || qos_ecn_mark(p) < 0)
		return false;
	c->st.marked++;
	s->tot.marked++;
	return true;
}

/* Take the head packet of a leaf, letting CoDel drop what has stood too long. */
static struct nio_pkt *take(struct qos_sched *s, struct qos_class *c, uint64_t now)
{
	while (c->qlen) {
		struct qos_flow *f = head_flow(c);
		struct nio_pkt *p = pop(s, c, f);
		uint64_t sojourn = now > p->user ? now - p->user : 0;

		if (codel_keeps(s, c, f ? &f->codel : &c->codel, p, now, sojourn)) {
			if (f)
				qos_fq_charge(f, p->len);
			c->st.delay_ns = sojourn;
			if (sojourn > c->st.delay_max_ns)
				c->st.delay_max_ns = sojourn;
			return p;
		}
		if (f)
			f->drops++;
		c->st.drop_codel++;
		s->tot.drop_codel++;
		s->free(p);
	}
	return NULL;
}

static void sent(struct qos_sched *s, unsigned i, int level, const struct nio_pkt *p)
{
	struct qos_class *c = &s->cls[i];

	charge(s, i, level, p->len);
	c->deficit[level] -= p->len;
	c->st.sent_pkts++;
	c->st.sent_bytes += p->len;
	s->tot.sent_pkts++;
	s->tot.sent_bytes += p->len;
}

/* Idle leaves forget their CoDel episode, as an emptied queue should (the FIFO's CoDel only
 * where it judges: its state is read nowhere else), and what is left of their DRR credit:
 * they hold a fresh quantum at every level (full_credit()). Every leaf whose queue empties
 * comes here, so an idle leaf has no timer. It stays in its set: DRR and sets_check() drop
 * the idle members they come to, and held() finds a leaf that gets packets again before then
 * where it mostly wants it, so that a leaf that holds one packet at a time (traffic spread
 * over many leaves) pays for no set update at all. */
static inline void went_idle(struct qos_sched *s, unsigned i)
{
	struct qos_class *c = &s->cls[i];

	full_credit(c);
	if (c->use_codel)
		qos_codel_empty(&c->codel);
	disarm(&s->blocked, i);
	disarm(&s->better, i);
}

/* How long the root keeps the leaves in the sets waiting (pick() stopped at it). */
static uint64_t sets_wait(const struct qos_sched *s)
{
	const struct qos_class *r = &s->cls[0];
	uint64_t cw = qos_tb_wait_ready(&r->ceil), rw = 0;

	if ((unsigned)__builtin_ctzll(s->cand_any) / QOS_MAX_PRIO >= r->height)
		rw = qos_tb_wait_ready(&r->rate);
	return cw > rw ? cw : rw;
}

/* The earliest blocked timer, made exact: the first armed is looked at again until its time
 * no longer moves (each look that moves it is paid for by the charges that put it off). */
static uint64_t blocked_first(struct qos_sched *s, uint64_t t)
{
	int i;

	while ((i = qos_timer_top(&s->blocked)) >= 0) {
		uint64_t at = qos_timer_first(&s->blocked);

		settle(s, (unsigned)i, look(s, (unsigned)i, t), t);
		if (qos_timer_top(&s->blocked) == i && qos_timer_first(&s->blocked) == at)
			return at;
	}
	return QOS_NEVER;
}

/* A leaf in a set may have lost its level to a sibling's charge (a parent's rate or ceil
 * spent) since it was last looked at. Before the sets promise a release time, the first
 * member of the first set is made true: those found worse move now (each move paid for by
 * the charge that caused it), and the first that holds its level keeps the promise. */
static void sets_check(struct qos_sched *s, uint64_t t)
{
	uint64_t any;

	for (unsigned b = 0; b < 64 && (any = s->cand_any >> b << b); b++) {
		unsigned prio;
		int level, i;

		b = (unsigned)__builtin_ctzll(any);
		level = (int)(b / QOS_MAX_PRIO);
		prio = b % QOS_MAX_PRIO;
		while ((i = bit_next(s->cand[level][prio], s->n, s->rr[level][prio])) >= 0) {
			int now;

			if (!s->cls[i].qlen) {
				unplace(s, (unsigned)i);
				continue;
			}
			now = look(s, (unsigned)i, t);

			if (now == level)
				return;
			settle(s, (unsigned)i, now, t);
		}
	}
}

/* The earliest time a leaf could send: when the root lets the sets send, or the first blocked
 * leaf may. */
static uint64_t next_release(struct qos_sched *s, uint64_t t)
{
	uint64_t wait = QOS_WAIT_MAX, at;

	sets_check(s, t);
	at = blocked_first(s, t);

	if (at <= t)
		wait = 0;
	else if (at - t < wait)
		wait = at - t;
	if (s->cand_any) {
		uint64_t w = sets_wait(s);

		wait = w < wait ? w : wait;
	}
	return t + (wait ? wait : 1);
}

/* Send what the buckets allow at time t; CoDel judges sojourn by the real clock. */
static uint16_t release(struct qos_sched *s, uint64_t t, uint64_t now, struct nio_pkt **pkts,
			uint16_t max)
{
	uint16_t n = 0;
	int i, level;

	round_start(s, t);
	while (n < max && s->qlen && (i = pick(s, t, &level)) >= 0) {
		struct qos_class *c = &s->cls[i];
		struct nio_pkt *p = take(s, c, now);

		if (p) {
			sent(s, (unsigned)i, level, p);
			pkts[n++] = p;
		}
		if (!c->qlen) {
			/* its turn is over: DRR goes on from the next (a leaf that gets packets
			 * again queues behind the others), not through the idle member */
			s->rr[level][c->prio] = (unsigned)i + 1 < s->n ? (unsigned)i + 1 : 0;
			went_idle(s, (unsigned)i);
		}
	}
	return n;
}

/*
 * A worker that comes back later than the release time it was given would lose the credit
 * its full buckets could not hold. While packets wait, the buckets are therefore run on the
 * schedule the worker missed, from the promised time up to now, and what was due goes out
 * at once: the long-run rate stays exact. Of a longer stall, only the last QOS_CATCHUP_NS
 * (and a bucketful) are made up. The worst lateness and the time never made up are kept:
 * they tell a starved worker from a shaper that misses its rate, and bound how far the rate
 * seen over a short window may stray (what was due before it may go out inside it).
 */
uint16_t qos_sched_dequeue(struct qos_sched *s, uint64_t now, struct nio_pkt **pkts, uint16_t max,
			   uint64_t *next_ns)
{
	uint64_t t = now, next = 0;
	uint16_t n = 0;

	if (s->due && s->due < now) {
		uint64_t late = now - s->due;

		if (late > s->late_max_ns)
			s->late_max_ns = late;
		if (late > QOS_CATCHUP_NS)
			s->lost_ns += late - QOS_CATCHUP_NS;
		t = late > QOS_CATCHUP_NS ? now - QOS_CATCHUP_NS : s->due;
	}
	for (;;) {
		n = (uint16_t)(n + release(s, t, now, pkts + n, (uint16_t)(max - n)));
		if (!s->qlen || n == max)
			break;
		next = next_release(s, t);
		if (next > now)
			break;
		t = next;
	}
	if (!s->qlen)
		next = 0;
	else if (n == max)
		next = t; /* more is due already: come back at once, resuming from t */
	s->due = next;
	*next_ns = next && next < now ? now : next;
	return n;
}

unsigned qos_sched_drain(struct qos_sched *s, struct nio_pkt **out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->n; i++) {
		struct qos_class *c = &s->cls[i];

		while (c->qlen && n < max)
			out[n++] = pop(s, c, head_flow(c));
		if (!c->qlen && qos_sched_is_leaf(s, i))
			went_idle(s, i);
	}
	if (!s->qlen)
		s->due = 0;
	return n;
}

void qos_sched_fini(struct qos_sched *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct qos_class *c = &s->cls[i];

		while (c->qlen)
			s->free(pop(s, c, head_flow(c)));
		free(c->ring);
		c->ring = NULL;
		qos_fq_free(c->fq);
		c->fq = NULL;
	}
	s->n = 0;
}

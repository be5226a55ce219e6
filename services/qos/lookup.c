/* Which leaf a packet goes to: the first leaf whose rules match, in config order, else the
 * default; remembered per (5-tuple, DSCP) so that a flow's packets cost one hash probe, not a
 * walk over every class's rules. */
#include <string.h>

#include "qos.h"

/* Everything the rules read: addresses, ports (and whether there are any), protocol, DSCP, as
 * five words. */
static void pack(const struct nio_pkt *p, uint64_t key[QOS_CACHE_WORDS])
{
	memcpy(&key[0], p->key.src, 16);
	memcpy(&key[2], p->key.dst, 16);
	key[4] = (uint64_t)p->key.sport | (uint64_t)p->key.dport << 16 |
		 (uint64_t)p->key.proto << 32 | (uint64_t)p->dscp << 40 |
		 (uint64_t)((p->flags & NIO_PKT_F_L4) != 0) << 48;
}

/* A word at a time (multiply, fold the high bits down): a few instructions a word where a
 * byte-wise hash took six a byte, the largest cost of a classification that hits. */
static uint32_t slot_of(const uint64_t key[QOS_CACHE_WORDS])
{
	uint64_t h = 0;

	for (unsigned i = 0; i < QOS_CACHE_WORDS; i++) {
		h = (h ^ key[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	return (uint32_t)h % QOS_CACHE_SLOTS;
}

static bool same_key(const uint64_t a[QOS_CACHE_WORDS], const uint64_t b[QOS_CACHE_WORDS])
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
}

static int by_rules(const struct qos *q, const struct nio_pkt *p)
{
	const struct qos_sched *s = &q->sched;

	for (unsigned i = 1; i < s->n; i++)
		if (qos_sched_is_leaf(s, i) && !qos_match_is_any(&s->cls[i].match) &&
		    qos_match_pkt(&s->cls[i].match, p))
			return (int)i;
	return q->def_cls;
}

void qos_classify_init(struct qos *q)
{
	const struct qos_sched *s = &q->sched;

	q->rules = false;
	for (unsigned i = 1; i < s->n; i++)
		q->rules |= qos_sched_is_leaf(s, i) && !qos_match_is_any(&s->cls[i].match);
	for (unsigned i = 0; i < QOS_CACHE_SLOTS; i++)
		q->cache[i].cls = -1;
}

/* A slot holds the last key that hashed there: a miss replaces it (the rules never change
 * in an instance, so nothing goes stale). */
static int classify_at(struct qos *q, const struct nio_pkt *p, const uint64_t key[QOS_CACHE_WORDS],
		       struct qos_cache_slot *sl)
{
	if (sl->cls >= 0 && same_key(sl->key, key)) {
		q->cache_hits++;
		return sl->cls;
	}
	q->cache_misses++;
	memcpy(sl->key, key, sizeof(sl->key));
	sl->cls = (int16_t)by_rules(q, p);
	return sl->cls;
}

int qos_classify(struct qos *q, const struct nio_pkt *p)
{
	uint64_t key[QOS_CACHE_WORDS];

	if (!q->rules)
		return q->def_cls;
	pack(p, key);
	return classify_at(q, p, key, &q->cache[slot_of(key)]);
}

#define QOS_CHUNK     64u
#define QOS_CHUNK_MIN 4u

/*
 * A burst classified and queued in three passes, so that the lines each packet needs are
 * asked for a pass before they are used (as VPP's graph nodes prefetch a frame's buffers):
 * the cache slots, then the queue lines of the classes. With traffic spread over hundreds of
 * flows and leaves, each is a line no other packet of the burst touches, which would miss
 * the L1 one packet after the other; asked for together, their misses overlap.
 */
void qos_enqueue_burst(struct qos *q, struct nio_pkt **pkts, uint16_t n, uint64_t now, int8_t *res)
{
	uint64_t key[QOS_CHUNK][QOS_CACHE_WORDS];
	uint16_t cls[QOS_CHUNK];

	for (unsigned base = 0; base < n; base += QOS_CHUNK) {
		unsigned m = n - base < QOS_CHUNK ? n - base : QOS_CHUNK;
		struct nio_pkt **v = pkts + base;

		if (m < QOS_CHUNK_MIN) { /* too few misses to overlap for the passes to pay */
			for (unsigned i = 0; i < m; i++)
				res[base + i] = (int8_t)qos_sched_enqueue(
					&q->sched, (unsigned)qos_classify(q, v[i]), v[i], now);
			break;
		}
		if (q->rules) {
			for (unsigned i = 0; i < m; i++) {
				pack(v[i], key[i]);
				cls[i] = (uint16_t)slot_of(key[i]);
				__builtin_prefetch(&q->cache[cls[i]]);
			}
			for (unsigned i = 0; i < m; i++) {
				cls[i] = (uint16_t)classify_at(q, v[i], key[i], &q->cache[cls[i]]);
				/* the class's queue line, which the enqueue writes */
				__builtin_prefetch((const char *)&q->sched.cls[cls[i]] + 64, 1);
			}
		} else {
			for (unsigned i = 0; i < m; i++)
				cls[i] = (uint16_t)q->def_cls;
		}
		for (unsigned i = 0; i < m; i++)
			res[base + i] = (int8_t)qos_sched_enqueue(&q->sched, cls[i], v[i], now);
	}
}

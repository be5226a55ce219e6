/* Which leaf a packet goes to: the first leaf whose rules match, in config order, else the
 * default; remembered per (5-tuple, DSCP) so that a flow's packets cost one hash probe, not a
 * walk over every class's rules. */
#include <string.h>

#include "qos.h"

/* Everything the rules read: addresses, ports (and whether there are any), protocol, DSCP. */
static void pack(const struct nio_pkt *p, uint8_t key[QOS_CACHE_KEY])
{
	memcpy(key, p->key.src, 16);
	memcpy(key + 16, p->key.dst, 16);
	key[32] = (uint8_t)(p->key.sport >> 8);
	key[33] = (uint8_t)p->key.sport;
	key[34] = (uint8_t)(p->key.dport >> 8);
	key[35] = (uint8_t)p->key.dport;
	key[36] = p->key.proto;
	key[37] = p->dscp;
	key[38] = (p->flags & NIO_PKT_F_L4) != 0;
	key[39] = 0;
}

static uint32_t slot_of(const uint8_t key[QOS_CACHE_KEY])
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < QOS_CACHE_KEY; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % QOS_CACHE_SLOTS;
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
int qos_classify(struct qos *q, const struct nio_pkt *p)
{
	uint8_t key[QOS_CACHE_KEY];
	struct qos_cache_slot *sl;

	if (!q->rules)
		return q->def_cls;
	pack(p, key);
	sl = &q->cache[slot_of(key)];
	if (sl->cls >= 0 && memcmp(sl->key, key, QOS_CACHE_KEY) == 0) {
		q->cache_hits++;
		return sl->cls;
	}
	q->cache_misses++;
	memcpy(sl->key, key, QOS_CACHE_KEY);
	sl->cls = (int16_t)by_rules(q, p);
	return sl->cls;
}

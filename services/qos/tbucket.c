/* Drift-free token buckets and the RFC 2697 (srTCM) / RFC 2698 (trTCM) meters built on them. */
#include "qos.h"

void qos_tb_init(struct qos_tb *tb, uint64_t rate_bps, uint64_t burst_bytes, uint64_t now)
{
	tb->rate = rate_bps > QOS_RATE_MAX ? QOS_RATE_MAX : rate_bps;
	if (burst_bytes > QOS_BURST_MAX)
		burst_bytes = QOS_BURST_MAX;
	tb->cap = (int64_t)(burst_bytes * QOS_UNITS_PER_BYTE);
	tb->tokens = tb->cap;
	tb->last_ns = now;
}

bool qos_tb_has(const struct qos_tb *tb, uint32_t bytes)
{
	return tb->tokens >= qos_tb_units(bytes);
}

uint64_t qos_tb_wait_ready(const struct qos_tb *tb)
{
	if (tb->tokens > 0)
		return 0;
	if (tb->rate == 0)
		return QOS_NEVER;
	return (uint64_t)-tb->tokens / tb->rate + 1;
}

void qos_srtcm_init(struct qos_meter *m, uint64_t cir, uint64_t cbs, uint64_t ebs, uint64_t now)
{
	m->type = QOS_SRTCM;
	qos_tb_init(&m->c, cir, cbs, now);
	qos_tb_init(&m->e, cir, ebs, now);
}

void qos_trtcm_init(struct qos_meter *m, uint64_t cir, uint64_t cbs, uint64_t pir, uint64_t pbs,
		    uint64_t now)
{
	m->type = QOS_TRTCM;
	qos_tb_init(&m->c, cir, cbs, now);
	qos_tb_init(&m->e, pir, pbs, now);
}

/* RFC 2697 section 3: CIR fills Tc; what Tc cannot hold spills into Te. */
static void srtcm_refill(struct qos_meter *m, uint64_t now)
{
	uint64_t dt = qos_tb_elapsed(&m->c, now);
	uint64_t room_c = (uint64_t)(m->c.cap - m->c.tokens);
	uint64_t room_e = (uint64_t)(m->e.cap - m->e.tokens);
	uint64_t add = qos_tb_earned(m->c.rate, dt, room_c + room_e);
	uint64_t to_c = add < room_c ? add : room_c;

	m->e.last_ns = m->c.last_ns;
	m->c.tokens += (int64_t)to_c;
	m->e.tokens += (int64_t)(add - to_c);
}

static enum qos_color srtcm_color(struct qos_meter *m, uint32_t bytes, enum qos_color pre)
{
	if (pre == QOS_GREEN && qos_tb_has(&m->c, bytes)) {
		qos_tb_take(&m->c, bytes);
		return QOS_GREEN;
	}
	if (pre != QOS_RED && qos_tb_has(&m->e, bytes)) {
		qos_tb_take(&m->e, bytes);
		return QOS_YELLOW;
	}
	return QOS_RED;
}

/* RFC 2698 section 3: Tp is tested first; a packet takes from every bucket of its colour. */
static enum qos_color trtcm_color(struct qos_meter *m, uint32_t bytes, enum qos_color pre)
{
	if (pre == QOS_RED || !qos_tb_has(&m->e, bytes))
		return QOS_RED;
	qos_tb_take(&m->e, bytes);
	if (pre == QOS_YELLOW || !qos_tb_has(&m->c, bytes))
		return QOS_YELLOW;
	qos_tb_take(&m->c, bytes);
	return QOS_GREEN;
}

enum qos_color qos_meter_color(struct qos_meter *m, uint32_t bytes, enum qos_color pre,
			       uint64_t now)
{
	if (m->type == QOS_SRTCM) {
		srtcm_refill(m, now);
		return srtcm_color(m, bytes, pre);
	}
	qos_tb_refill(&m->c, now);
	qos_tb_refill(&m->e, now);
	return trtcm_color(m, bytes, pre);
}

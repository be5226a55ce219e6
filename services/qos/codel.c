/* CoDel (RFC 8289) judging the packets at the head of one class queue. */
#include "qos.h"

#define QOS_CODEL_INTERVAL_MAX (UINT64_C(1) << 40) /* ~18 min */

void qos_codel_init(struct qos_codel *cd, uint64_t target_ns, uint64_t interval_ns)
{
	*cd = (struct qos_codel){ 0 };
	cd->target = target_ns;
	cd->interval = interval_ns > QOS_CODEL_INTERVAL_MAX ? QOS_CODEL_INTERVAL_MAX : interval_ns;
}

/* floor(sqrt(x)), bit by bit: exact, no floating point on the data path. */
static uint64_t isqrt128(unsigned __int128 x)
{
	unsigned __int128 r = 0, bit = (unsigned __int128)1 << 126;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return (uint64_t)r;
}

/* t + interval / sqrt(count), with sqrt(count) in 32.32 fixed point: within a nanosecond
 * of the real law for any interval below QOS_CODEL_INTERVAL_MAX. */
static uint64_t control_law(uint64_t t, uint64_t interval, uint32_t count)
{
	uint64_t root = isqrt128((unsigned __int128)(count ? count : 1) << 64);

	return t + (uint64_t)(((unsigned __int128)interval << 32) / root);
}

/* RFC 8289 dodequeue(): has the sojourn stayed above target for a whole interval? A queue
 * holding at most one MTU more cannot be drained faster, so it never counts as standing. */
static bool ok_to_drop(struct qos_codel *cd, uint64_t now, uint64_t sojourn, uint64_t backlog,
		       uint32_t mtu)
{
	if (sojourn < cd->target || backlog <= mtu) {
		cd->first_above = 0;
		return false;
	}
	if (cd->first_above == 0) {
		cd->first_above = now + cd->interval;
		return false;
	}
	return now >= cd->first_above;
}

/* Enter the dropping state. Resuming soon after the last episode starts from the count it
 * reached (minus the drops already accounted), so a persistent queue is hit harder. */
static void start_dropping(struct qos_codel *cd, uint64_t now)
{
	uint32_t delta = cd->count - cd->lastcount;

	cd->dropping = true;
	cd->count = 1;
	if (delta > 1 && now - cd->drop_next < 16 * cd->interval)
		cd->count = delta;
	cd->drop_next = control_law(now, cd->interval, cd->count);
	cd->lastcount = cd->count;
}

enum qos_codel_act qos_codel_judge(struct qos_codel *cd, uint64_t now, uint64_t sojourn,
				   uint64_t backlog_bytes, uint32_t mtu)
{
	bool ok = ok_to_drop(cd, now, sojourn, backlog_bytes, mtu);

	if (cd->dropping) {
		if (!ok) {
			cd->dropping = false;
			return QOS_CODEL_SEND;
		}
		if (now < cd->drop_next)
			return QOS_CODEL_SEND;
		cd->count++;
		cd->drop_next = control_law(cd->drop_next, cd->interval, cd->count);
		return QOS_CODEL_DROP;
	}
	if (!ok)
		return QOS_CODEL_SEND;
	start_dropping(cd, now);
	return QOS_CODEL_DROP;
}

void qos_codel_empty(struct qos_codel *cd)
{
	cd->first_above = 0;
	cd->dropping = false;
}

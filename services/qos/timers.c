/* The scheduler's timers: a binary min-heap of the leaves that wait for a time. */
#include "qos.h"

/* The wake times sit in an array of their own, not in the classes: a sift touches a few
 * cache lines, however many classes there are. */
static bool earlier(const struct qos_timers *t, unsigned a, unsigned b)
{
	return t->wake[t->heap[a]] < t->wake[t->heap[b]];
}

static void swap(struct qos_timers *t, unsigned a, unsigned b)
{
	uint16_t x = t->heap[a];

	t->heap[a] = t->heap[b];
	t->heap[b] = x;
	t->pos[t->heap[a]] = (int16_t)a;
	t->pos[t->heap[b]] = (int16_t)b;
}

static void sift_up(struct qos_timers *t, unsigned k)
{
	while (k && earlier(t, k, (k - 1) / 2)) {
		swap(t, k, (k - 1) / 2);
		k = (k - 1) / 2;
	}
}

static void sift_down(struct qos_timers *t, unsigned k)
{
	for (;;) {
		unsigned l = 2 * k + 1, m = k;

		if (l < t->n && earlier(t, l, m))
			m = l;
		if (l + 1 < t->n && earlier(t, l + 1, m))
			m = l + 1;
		if (m == k)
			return;
		swap(t, k, m);
		k = m;
	}
}

void qos_timers_init(struct qos_timers *t)
{
	t->n = 0;
	for (unsigned i = 0; i < QOS_MAX_CLASSES; i++)
		t->pos[i] = -1;
}

/* Arm (or move) class i's timer. */
void qos_timer_set(struct qos_timers *t, unsigned i, uint64_t wake)
{
	t->wake[i] = wake;
	if (t->pos[i] < 0) {
		t->heap[t->n] = (uint16_t)i;
		t->pos[i] = (int16_t)t->n;
		sift_up(t, t->n++);
		return;
	}
	sift_up(t, (unsigned)t->pos[i]);
	sift_down(t, (unsigned)t->pos[i]);
}

void qos_timer_clear(struct qos_timers *t, unsigned i)
{
	unsigned k, last;
	uint16_t moved;

	if (t->pos[i] < 0)
		return;
	k = (unsigned)t->pos[i];
	t->pos[i] = -1;
	last = --t->n;
	if (k == last)
		return;
	moved = t->heap[last];
	t->heap[k] = moved;
	t->pos[moved] = (int16_t)k;
	sift_up(t, k);
	sift_down(t, (unsigned)t->pos[moved]);
}

/* The class whose timer is due at or before now, earliest first, disarmed; -1: none. */
int qos_timer_due(struct qos_timers *t, uint64_t now)
{
	unsigned i;

	if (!t->n || t->wake[t->heap[0]] > now)
		return -1;
	i = t->heap[0];
	qos_timer_clear(t, i);
	return (int)i;
}

/* The earliest armed time, or QOS_NEVER. */
uint64_t qos_timer_first(const struct qos_timers *t)
{
	return t->n ? t->wake[t->heap[0]] : QOS_NEVER;
}

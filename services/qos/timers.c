/* The scheduler's timers: a binary min-heap of the leaves that wait for a time. */
#include "qos.h"

/* Entries carry their wake time, so that a sift compares within the heap's own few cache
 * lines, however many classes there are; sifts move a hole rather than swap pairs. */
static void put(struct qos_timers *t, unsigned k, struct qos_timer e)
{
	t->heap[k] = e;
	t->pos[e.cls] = (int16_t)k;
}

static void sift_up(struct qos_timers *t, unsigned k, struct qos_timer e)
{
	while (k > 0) {
		unsigned up = (k - 1) / 2;

		if (t->heap[up].wake <= e.wake)
			break;
		put(t, k, t->heap[up]);
		k = up;
	}
	put(t, k, e);
}

static void sift_down(struct qos_timers *t, unsigned k, struct qos_timer e)
{
	for (;;) {
		unsigned c = 2 * k + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n && t->heap[c + 1].wake < t->heap[c].wake)
			c++;
		if (e.wake <= t->heap[c].wake)
			break;
		put(t, k, t->heap[c]);
		k = c;
	}
	put(t, k, e);
}

/* Entry e goes to the hole at k: up or down, wherever its time belongs. */
static void place(struct qos_timers *t, unsigned k, struct qos_timer e)
{
	if (k && e.wake < t->heap[(k - 1) / 2].wake)
		sift_up(t, k, e);
	else
		sift_down(t, k, e);
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
	struct qos_timer e = { .wake = wake, .cls = (uint16_t)i };

	if (t->pos[i] < 0)
		sift_up(t, t->n++, e);
	else
		place(t, (unsigned)t->pos[i], e);
}

void qos_timer_clear(struct qos_timers *t, unsigned i)
{
	int k = t->pos[i];

	if (k < 0)
		return;
	t->pos[i] = -1;
	if ((unsigned)k != --t->n)
		place(t, (unsigned)k, t->heap[t->n]);
}

/* The class whose timer is due at or before now, earliest first, disarmed; -1: none. */
int qos_timer_due(struct qos_timers *t, uint64_t now)
{
	unsigned i;

	if (!t->n || t->heap[0].wake > now)
		return -1;
	i = t->heap[0].cls;
	qos_timer_clear(t, i);
	return (int)i;
}

/* The earliest armed time, or QOS_NEVER. */
uint64_t qos_timer_first(const struct qos_timers *t)
{
	return t->n ? t->heap[0].wake : QOS_NEVER;
}

int qos_timer_top(const struct qos_timers *t)
{
	return t->n ? t->heap[0].cls : -1;
}

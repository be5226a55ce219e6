/* Counters are kept per worker, each row written by one worker: the readers add the rows up.
 * A new configuration generation or a replaced service takes over the totals of its
 * predecessor of the same name, so a counter never goes backwards. */
#include <string.h>

#include "netiod.h"

/* Every field of these structs is a uint64_t: add them word by word. */
static void add_words(uint64_t *out, const uint64_t *row, size_t words)
{
	for (size_t i = 0; i < words; i++)
		out[i] += row[i];
}

#define SUM_ROWS(out, rows, n)                                                 \
	do {                                                                   \
		memset((out), 0, sizeof(*(out)));                              \
		for (unsigned w_ = 0; w_ < (n); w_++)                          \
			add_words((uint64_t *)(void *)(out),                   \
				  (const uint64_t *)(const void *)&(rows)[w_], \
				  sizeof(*(out)) / sizeof(uint64_t));          \
	} while (0)

_Static_assert(sizeof(struct nio_port_stats) % sizeof(uint64_t) == 0, "port stats");
_Static_assert(sizeof(struct nio_pipeline_stats) % sizeof(uint64_t) == 0, "pipeline stats");
_Static_assert(sizeof(struct nio_svc_stats) % sizeof(uint64_t) == 0, "service stats");

void nio_port_stats_sum(const struct nio_port *p, unsigned nworkers, struct nio_port_stats *out)
{
	SUM_ROWS(out, p->stats, nworkers);
}

void nio_pipeline_stats_sum(const struct nio_pipeline *pl, unsigned nworkers,
			    struct nio_pipeline_stats *out)
{
	SUM_ROWS(out, pl->stats, nworkers);
}

void nio_svc_stats_sum(const struct nio_svc_inst *si, unsigned nworkers, struct nio_svc_stats *out)
{
	SUM_ROWS(out, si->stats, nworkers);
}

uint64_t nio_svc_counter(const struct nio_svc_inst *si, const uint64_t *v, unsigned k)
{
	return v[k] + (k < NIO_MAX_SVC_CTRS ? si->ctr_base[k] : 0);
}

/* The workers are paused: the rows are copied as they are, worker for worker (the number of
 * workers is fixed for the life of the process), so the per-worker rows still add up. */
void nio_pipeline_stats_carry(const struct nio_pipeline *from, struct nio_pipeline *to)
{
	memcpy(to->stats, from->stats, sizeof(to->stats));
}

static int counter_index(const char *const *names, const char *name)
{
	for (int j = 0; names[j]; j++)
		if (strcmp(names[j], name) == 0)
			return j;
	return -1;
}

/*
 * Plugin counters live in the plugin: the host keeps a base per counter, matched by name (a
 * counter the new code no longer has is dropped, a new one starts at 0). Called after the state
 * handoff: a plugin that carried a counter itself in save_state (mark) already shows it, so
 * the base only makes up the difference and nothing is counted twice.
 */
void nio_svc_stats_carry(const struct nio_svc_inst *from, struct nio_svc_inst *to)
{
	const char *const *on = from->svc->counter_names, *const *nn = to->svc->counter_names;
	const uint64_t *ov, *nv;

	memcpy(to->stats, from->stats, sizeof(to->stats));
	memset(to->ctr_base, 0, sizeof(to->ctr_base));
	if (!on || !nn || !from->svc->counters || !to->svc->counters)
		return;
	ov = nio_svc_counters(from);
	nv = nio_svc_counters(to);
	for (unsigned k = 0; k < NIO_MAX_SVC_CTRS && nn[k]; k++) {
		int j = counter_index(on, nn[k]);
		uint64_t total;

		if (j < 0)
			continue;
		total = nio_svc_counter(from, ov, (unsigned)j);
		to->ctr_base[k] = total > nv[k] ? total - nv[k] : 0;
	}
}

bool nio_svc_is_gauge(const struct nio_service *s, const char *counter)
{
	return s->gauge_names && counter_index(s->gauge_names, counter) >= 0;
}

/* Counters are kept per worker, each row written by one worker: the readers add the rows up. */
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

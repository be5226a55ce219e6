/* Unit tests of the packet tracer's records: the count bound, the port filter, a full record,
 * the end of a session (stale handles), copies of a traced packet, stop, and going off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../netiod/trace.h"

#define NPKTS 4

static struct nio_pkt pkts[NPKTS];
static struct nio_pkt *burst[NPKTS];
static struct nio_port lan = { .name = "lan", .id = 0 }, wan = { .name = "wan", .id = 1 };

static void fresh(void)
{
	memset(pkts, 0, sizeof(pkts));
	for (unsigned i = 0; i < NPKTS; i++) {
		pkts[i].len = 60;
		burst[i] = &pkts[i];
	}
}

static const struct nio_trace_rec *rec(unsigned slot)
{
	return &nio_trace.bufs[0].recs[slot];
}

/* count 2 of a burst of 4: the first two are traced, the trace is no longer armed. */
static void test_count_bound(void **state)
{
	(void)state;
	fresh();
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_ANY, 0, 2), 0);
	nio_trace_rx(&lan, burst, NPKTS);
	assert_int_not_equal(pkts[0].trace, 0);
	assert_int_not_equal(pkts[1].trace, 0);
	assert_int_equal(pkts[2].trace, 0);
	assert_int_equal(pkts[3].trace, 0);
	assert_int_equal(atomic_load(&nio_trace.bufs[0].n), 2);
	assert_false(atomic_load(&nio_trace.armed));
	assert_true(atomic_load(&nio_trace.on)); /* two records still under way */
	assert_int_equal(rec(0)->seq, 0);
	assert_int_equal(rec(1)->seq, 1);
	assert_int_equal(rec(0)->steps[0].kind, NIO_TRACE_RX);
	nio_trace_end(&pkts[0]);
	assert_true(atomic_load(&nio_trace.on));
	nio_trace_end(&pkts[1]);
	assert_false(atomic_load(&nio_trace.on)); /* the last record is done: off */
	assert_int_equal(pkts[0].trace, 0);
	assert_int_equal(atomic_load(&rec(0)->done), 1);
	assert_int_equal(rec(0)->steps[1].kind, NIO_TRACE_FREED); /* no tx or drop came */
	nio_trace_reset();
}

/* A port filter takes that port's packets only; a pipeline filter none at receive time. */
static void test_filters(void **state)
{
	(void)state;
	fresh();
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_PORT, 1, 4), 0);
	nio_trace_rx(&lan, burst, 2);
	assert_int_equal(pkts[0].trace | pkts[1].trace, 0);
	nio_trace_rx(&wan, burst + 2, 2);
	assert_int_not_equal(pkts[2].trace, 0);
	assert_int_equal(rec(0)->steps[0].a, 0); /* in_port as the port driver set it */
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_PIPELINE, 0, 4), 0);
	fresh();
	nio_trace_rx(&lan, burst, NPKTS);
	for (unsigned i = 0; i < NPKTS; i++)
		assert_int_equal(pkts[i].trace, 0);
	nio_trace_reset();
}

/* Steps past the record's room overwrite the last one, which stays the latest; counted lost. */
static void test_full_record(void **state)
{
	(void)state;
	fresh();
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_ANY, 0, 1), 0);
	nio_trace_rx(&lan, burst, 1);
	for (unsigned i = 0; i < NIO_TRACE_STEPS + 5; i++)
		assert_non_null(nio_trace_step(&pkts[0], NIO_TRACE_HANDOFF));
	nio_trace_drop(&pkts[0], NIO_DROP_TTL);
	nio_trace_end(&pkts[0]);
	assert_int_equal(rec(0)->nsteps, NIO_TRACE_STEPS);
	assert_int_equal(rec(0)->lost, 1 + NIO_TRACE_STEPS + 5 - NIO_TRACE_STEPS + 1);
	assert_int_equal(rec(0)->steps[NIO_TRACE_STEPS - 1].kind, NIO_TRACE_DROP);
	assert_int_equal(rec(0)->steps[NIO_TRACE_STEPS - 1].a, NIO_DROP_TTL);
	nio_trace_reset();
}

/* A packet of an ended session (cleared, restarted, reloaded) writes nothing any more. */
static void test_stale_handle(void **state)
{
	(void)state;
	fresh();
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_ANY, 0, 2), 0);
	nio_trace_rx(&lan, burst, 1);
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_ANY, 0, 2), 0); /* a new session */
	assert_null(nio_trace_step(&pkts[0], NIO_TRACE_TX));
	assert_int_equal(pkts[0].trace, 0);
	assert_int_equal(rec(0)->nsteps, 0);
	nio_trace_rx(&lan, burst, 1); /* traced afresh in the new session */
	nio_trace_reset();
	nio_trace_end(&pkts[0]); /* after a clear: its buffer is gone, nothing is touched */
	assert_int_equal(pkts[0].trace, 0);
}

/* A copy of a traced packet (a fragment) adds to the record until the original is done. */
static void test_copy(void **state)
{
	struct nio_pkt copy;

	(void)state;
	fresh();
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_ANY, 0, 1), 0);
	nio_trace_rx(&lan, burst, 1);
	copy = pkts[0];
	nio_trace_end(&pkts[0]);
	assert_null(nio_trace_step(&copy, NIO_TRACE_TX));
	assert_int_equal(copy.trace, 0);
	nio_trace_end(&copy);
	assert_false(atomic_load(&nio_trace.on)); /* ended once, not twice */
	assert_int_equal(atomic_load(&nio_trace.open), 0);
	nio_trace_reset();
}

/* stop: no new record, those under way finish, then the trace is off. */
static void test_stop(void **state)
{
	(void)state;
	fresh();
	assert_int_equal(nio_trace_arm(1, NIO_TRACE_F_ANY, 0, 4), 0);
	nio_trace_rx(&lan, burst, 1);
	nio_trace_disarm();
	nio_trace_rx(&lan, burst + 1, 1);
	assert_int_equal(pkts[1].trace, 0);
	assert_true(atomic_load(&nio_trace.on));
	assert_non_null(nio_trace_step(&pkts[0], NIO_TRACE_TX));
	nio_trace_end(&pkts[0]);
	assert_false(atomic_load(&nio_trace.on));
	assert_int_equal(atomic_load(&rec(0)->done), 1);
	nio_trace_reset();
	nio_trace_disarm(); /* nothing armed: stays off */
	assert_false(atomic_load(&nio_trace.on));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_bound), cmocka_unit_test(test_filters),
		cmocka_unit_test(test_full_record), cmocka_unit_test(test_stale_handle),
		cmocka_unit_test(test_copy),	    cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of statsview.c: stats relative to the last clear (matched by name, gauges and
 * restarted counters left as they are) and the port / pipeline filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../netiod/show.h"

static const struct {
	const char *what;
	const char *base;	      /* NULL: never cleared */
	const char *cur, *req, *want; /* want NULL: an error */
} rows[] = {
	{ "no clear: as is", NULL, "{\"ports\":[{\"name\":\"lan\",\"rx_packets\":10}]}", "{}",
	  "{\"ports\":[{\"name\":\"lan\",\"rx_packets\":10}]}" },
	{ "a counter minus its baseline",
	  "{\"ports\":[{\"name\":\"lan\",\"rx_packets\":4,\"drops\":{\"rx-ring-full\":5}}]}",
	  "{\"ports\":[{\"name\":\"lan\",\"rx_packets\":10,\"drops\":{\"rx-ring-full\":7,"
	  "\"no-route\":1}}]}",
	  "{}",
	  "{\"ports\":[{\"name\":\"lan\",\"rx_packets\":6,\"drops\":{\"rx-ring-full\":2,"
	  "\"no-route\":1}}]}" },
	{ "below its baseline: started again, shown as is",
	  "{\"pipelines\":[{\"name\":\"p\",\"packets\":10}]}",
	  "{\"pipelines\":[{\"name\":\"p\",\"packets\":3}]}", "{}",
	  "{\"pipelines\":[{\"name\":\"p\",\"packets\":3}]}" },
	{ "matched by name, not position",
	  "{\"pipelines\":[{\"name\":\"a\",\"packets\":1},{\"name\":\"b\",\"packets\":2}]}",
	  "{\"pipelines\":[{\"name\":\"b\",\"packets\":5},{\"name\":\"a\",\"packets\":5}]}", "{}",
	  "{\"pipelines\":[{\"name\":\"b\",\"packets\":3},{\"name\":\"a\",\"packets\":4}]}" },
	{ "a service twice in a pipeline: by rank",
	  "{\"pipelines\":[{\"name\":\"p\",\"services\":[{\"name\":\"m\",\"packets\":1},"
	  "{\"name\":\"m\",\"packets\":2}]}]}",
	  "{\"pipelines\":[{\"name\":\"p\",\"services\":[{\"name\":\"m\",\"packets\":5},"
	  "{\"name\":\"m\",\"packets\":9}]}]}",
	  "{}",
	  "{\"pipelines\":[{\"name\":\"p\",\"services\":[{\"name\":\"m\",\"packets\":4},"
	  "{\"name\":\"m\",\"packets\":7}]}]}" },
	{ "gauges and identities untouched",
	  "{\"flows\":{\"active\":3,\"lookups\":10},\"workers\":[{\"id\":0,\"cpu\":1,\"loops\":5}],"
	  "\"pipelines\":[{\"name\":\"p\",\"worker\":1,\"services\":[{\"name\":\"qos\","
	  "\"gauges\":[\"queue-packets\"],\"counters\":{\"queue-packets\":2,\"sent\":4}}]}]}",
	  "{\"flows\":{\"active\":5,\"lookups\":15},\"workers\":[{\"id\":0,\"cpu\":1,\"loops\":9}],"
	  "\"pipelines\":[{\"name\":\"p\",\"worker\":1,\"services\":[{\"name\":\"qos\","
	  "\"gauges\":[\"queue-packets\"],\"counters\":{\"queue-packets\":7,\"sent\":10}}]}]}",
	  "{}",
	  "{\"flows\":{\"active\":5,\"lookups\":5},\"workers\":[{\"id\":0,\"cpu\":1,\"loops\":4}],"
	  "\"pipelines\":[{\"name\":\"p\",\"worker\":1,\"services\":[{\"name\":\"qos\","
	  "\"gauges\":[\"queue-packets\"],\"counters\":{\"queue-packets\":7,\"sent\":6}}]}]}" },
	{ "a new port has no baseline", "{\"ports\":[]}",
	  "{\"ports\":[{\"name\":\"new\",\"rx_packets\":2}]}", "{}",
	  "{\"ports\":[{\"name\":\"new\",\"rx_packets\":2}]}" },
	{ "port filter: that port's rows, no pipeline", NULL,
	  "{\"ports\":[{\"name\":\"lan\"},{\"name\":\"wan\"}],\"pipelines\":[{\"name\":\"p\"}],"
	  "\"workers\":[{\"id\":0,\"ports\":[{\"name\":\"lan\"},{\"name\":\"wan\"}],"
	  "\"pipelines\":[{\"name\":\"p\"}]}]}",
	  "{\"port\":\"wan\"}",
	  "{\"ports\":[{\"name\":\"wan\"}],\"pipelines\":[],"
	  "\"workers\":[{\"id\":0,\"ports\":[{\"name\":\"wan\"}],\"pipelines\":[]}]}" },
	{ "pipeline filter: that pipeline's rows, no port", NULL,
	  "{\"ports\":[{\"name\":\"lan\"}],\"pipelines\":[{\"name\":\"p\"},{\"name\":\"q\"}],"
	  "\"workers\":[]}",
	  "{\"pipeline\":\"q\"}",
	  "{\"ports\":[],\"pipelines\":[{\"name\":\"q\"}],\"workers\":[]}" },
	{ "an unknown port", NULL, "{\"ports\":[{\"name\":\"lan\"}],\"pipelines\":[]}",
	  "{\"port\":\"wan\"}", NULL },
	{ "an unknown pipeline", NULL, "{\"ports\":[],\"pipelines\":[{\"name\":\"p\"}]}",
	  "{\"pipeline\":\"x\"}", NULL },
	{ "a port that is no string", NULL, "{\"ports\":[]}", "{\"port\":3}", NULL },
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *req = json_loads(rows[i].req, 0, NULL), *got, *want;
		char err[128] = "";

		print_message("%s\n", rows[i].what);
		if (rows[i].base)
			json_decref(nio_stats_clear(json_loads(rows[i].base, 0, NULL)));
		got = nio_stats_view(json_loads(rows[i].cur, 0, NULL), req, err, sizeof(err));
		if (!rows[i].want) {
			assert_null(got);
			assert_true(err[0] != '\0');
		} else {
			assert_non_null(got);
			if (rows[i].base) /* present after a clear, whatever its value */
				assert_int_equal(json_object_del(got, "cleared_ms_ago"), 0);
			want = json_loads(rows[i].want, 0, NULL);
			assert_true(json_equal(got, want));
			json_decref(want);
		}
		json_decref(got);
		json_decref(req);
		nio_stats_view_fini();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_rows) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}

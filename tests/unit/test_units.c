/* Unit tests of the option value parsers (rates, sizes, times, ports, booleans, enums). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

static void test_rates(void **state)
{
	static const struct {
		const char *in;
		int ok;
		unsigned long long bps;
	} rows[] = {
		{ "100mbit", 0, 100000000ull },
		{ "1gbit", 0, 1000000000ull },
		{ "64kbit", 0, 64000ull },
		{ "1.5mbit", 0, 1500000ull },
		{ "8000bit", 0, 8000ull },
		{ "1mbps", 0, 8000000ull },
		{ "10MBIT", 0, 10000000ull },
		{ "0mbit", -1, 0 },
		{ "100", -1, 0 },
		{ "mbit", -1, 0 },
		{ "-5mbit", -1, 0 },
		{ "100mbits", -1, 0 },
		{ "99999999999999999999gbit", -1, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned long long v = 0;

		print_message("%s\n", rows[i].in);
		assert_int_equal(nio_parse_rate(rows[i].in, &v), rows[i].ok);
		if (!rows[i].ok)
			assert_int_equal(v, rows[i].bps);
	}
}

static void test_sizes_times(void **state)
{
	unsigned long long v;

	(void)state;
	assert_int_equal(nio_parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(nio_parse_size("1500", &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(nio_parse_size("1m", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(nio_parse_size("1q", &v), -1);
	assert_int_equal(nio_parse_time("5ms", &v), 0);
	assert_int_equal(v, 5000000);
	assert_int_equal(nio_parse_time("100us", &v), 0);
	assert_int_equal(v, 100000);
	assert_int_equal(nio_parse_time("1.5s", &v), 0);
	assert_int_equal(v, 1500000000);
	assert_int_equal(nio_parse_time("5", &v), -1);
}

static void test_ports_bools_enums(void **state)
{
	uint16_t lo, hi;
	bool b;

	(void)state;
	assert_int_equal(nio_parse_port_range("80", &lo, &hi), 0);
	assert_true(lo == 80 && hi == 80);
	assert_int_equal(nio_parse_port_range("1000-2000", &lo, &hi), 0);
	assert_true(lo == 1000 && hi == 2000);
	assert_int_equal(nio_parse_port_range("2000-1000", &lo, &hi), -1);
	assert_int_equal(nio_parse_port_range("65536", &lo, &hi), -1);
	assert_int_equal(nio_parse_port_range("80-", &lo, &hi), -1);
	assert_int_equal(nio_parse_port_range("x", &lo, &hi), -1);
	assert_int_equal(nio_parse_bool("yes", &b), 0);
	assert_true(b);
	assert_int_equal(nio_parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(nio_parse_bool("maybe", &b), -1);
	assert_true(nio_enum_ok("vxlan|geneve|gre", "geneve"));
	assert_false(nio_enum_ok("vxlan|geneve|gre", "gen"));
	assert_false(nio_enum_ok("vxlan|geneve|gre", "gre|"));
}

/* Integers: decimal, or hex after 0x; a leading zero is not octal; nothing after the number. */
static void test_ints(void **state)
{
	static const struct {
		const char *s;
		int rc;
		long long v;
	} rows[] = {
		{ "10", 0, 10 },
		{ "010", 0, 10 },
		{ "08", 0, 8 },
		{ "0x1F", 0, 31 },
		{ "0X00001001", 0, 4097 },
		{ "-5", 0, -5 },
		{ " 7", 0, 7 },
		{ "+3", 0, 3 },
		{ "0", 0, 0 },
		{ "0x", -1, 0 },
		{ "1e3", -1, 0 },
		{ "12 ", -1, 0 },
		{ "", -1, 0 },
		{ "x", -1, 0 },
		{ "0b1", -1, 0 },
		{ "99999999999999999999", -1, 0 },
	};
	long long v;

	(void)state;
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(nio_parse_int(rows[i].s, &v), rows[i].rc);
		if (rows[i].rc == 0)
			assert_int_equal(v, rows[i].v);
	}
}

/* metrics-listen: "address:port", IPv6 in brackets, port 1-65535, nothing else. */
static void test_hostport(void **state)
{
	static const struct {
		const char *in, *host;
		uint16_t port;
	} rows[] = {
		{ "127.0.0.1:9110", "127.0.0.1", 9110 },
		{ "[::1]:9110", "::1", 9110 },
		{ "[2001:db8::1]:65535", "2001:db8::1", 65535 },
		{ "0.0.0.0:1", "0.0.0.0", 1 },
		{ "localhost:9110", NULL, 0 },
		{ "::1:9110", NULL, 0 },
		{ "[::1]", NULL, 0 },
		{ "127.0.0.1:", NULL, 0 },
		{ "127.0.0.1:0", NULL, 0 },
		{ "127.0.0.1:65536", NULL, 0 },
		{ "127.0.0.1:80x", NULL, 0 },
		{ ":9110", NULL, 0 },
		{ "[]:9110", NULL, 0 },
		{ "9110", NULL, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char host[64] = "";
		uint16_t port = 0;
		int r = nio_hostport_parse(rows[i].in, host, sizeof(host), &port);

		print_message("%s\n", rows[i].in);
		assert_int_equal(r, rows[i].host ? 0 : -1);
		if (rows[i].host) {
			assert_string_equal(host, rows[i].host);
			assert_int_equal(port, rows[i].port);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_sizes_times),
		cmocka_unit_test(test_ports_bools_enums),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of config loading from text: valid files and a table of errors with their lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

static struct netiod d;

static int setup(void **state)
{
	char path[512], err[512];
	const char *b = getenv("NIO_BUILD");

	(void)state;
	snprintf(path, sizeof(path), "%s/services/mark.so", b ? b : "build");
	return nio_plugin_load(&d, path, NULL, err, sizeof(err));
}

static int teardown(void **state)
{
	char err[256];

	(void)state;
	return nio_plugin_unload(&d, "mark", err, sizeof(err));
}

static void test_valid(void **state)
{
	static const char text[] =
		"# comment\n"
		"burst = 8\n"
		"port a { driver = \"pcap\" input = \"x.pcap\" }\n"
		"port b { device = \"veth0\" }\n"
		"pipeline p {\n"
		"  match { in = \"a\" src = { \"192.0.2.0/24\", \"2001:db8::/32\" } dport = \"53\" "
		"proto = \"udp\" }\n"
		"  service mark { dscp = 8 }\n"
		"  out = \"b\"  via = \"198.51.100.1\"  fail-mode = \"passthrough\"\n"
		"}\n";
	char err[512];
	struct nio_config *c = nio_config_load(&d, NULL, text, err, sizeof(err));
	const struct nio_pipeline *pl;

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->burst, 8);
	assert_int_equal(c->nports, 2);
	assert_string_equal(c->ports[0]->driver, "pcap");
	assert_string_equal(c->ports[1]->driver, "auto");
	pl = &c->pipelines[0];
	assert_int_equal(pl->match.in_port, 0);
	assert_int_equal(pl->match.nsrc, 2);
	assert_int_equal(pl->match.proto, 17);
	assert_int_equal(pl->match.dport_lo, 53);
	assert_int_equal(pl->match.dport_hi, 53);
	assert_int_equal(pl->out_port, 1);
	assert_true(pl->has_via);
	assert_int_equal(pl->fail_mode, NIO_FAIL_PASSTHROUGH);
	assert_int_equal(pl->nsvcs, 1);
	assert_int_equal(pl->flow_state_size, 16); /* mark's 8 bytes, 16-aligned */
	nio_config_free(c);
}

/* What netiod -t -v prints of c's ports. */
static char *dump_of(const struct nio_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	nio_config_dump(c, f);
	fclose(f);
	return buf;
}

/* kernel-forwarding: global default for every afpacket port, a port's own value wins. */
static void test_host_options(void **state)
{
	static const char text[] = "kernel-forwarding = \"allow\"\n"
				   "port a { device = \"d0\" driver = \"afpacket\" }\n"
				   "port b { device = \"d1\" driver = \"afpacket\" "
				   "kernel-forwarding = \"refuse\" offloads = \"refuse\" }\n"
				   "pipeline p { match { in = \"a\" } }\n";
	char err[512], *dump;
	struct nio_config *c = nio_config_load(&d, NULL, text, err, sizeof(err));

	(void)state;
	assert_non_null(c);
	dump = dump_of(c);
	assert_non_null(strstr(dump, "port a driver afpacket device d0 kernel-forwarding allow\n"));
	assert_non_null(strstr(dump, "port b driver afpacket device d1 offloads refuse\n"));
	free(dump);
	nio_config_free(c);
	c = nio_config_load(&d, NULL,
			    "port a { device = \"d0\" driver = \"afpacket\" }\n"
			    "pipeline p { match { in = \"a\" } }\n",
			    err, sizeof(err));
	assert_non_null(c);
	dump = dump_of(c);
	assert_non_null(strstr(dump, "port a driver afpacket device d0\n"));
	free(dump);
	nio_config_free(c);
}

/* A port's parsed options are its driver's bytes: equal for the same text, different when an
 * option differs (what a reload compares to keep a port open). */
static void test_driver_opts(void **state)
{
	static const char *const text[] = {
		"port a { device = \"d\" driver = \"kmod\" hold-time = \"5s\" }\n",
		"port a { device = \"d\" driver = \"kmod\" hold-time = \"5000ms\" }\n",
		"port a { device = \"d\" driver = \"kmod\" hold-time = \"6s\" }\n",
	};
	struct nio_config *c[3];
	char err[512], buf[600];

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "%sforward-nothing = true\n", text[i]);
		c[i] = nio_config_load(&d, NULL, buf, err, sizeof(err));
		assert_non_null(c[i]);
		assert_ptr_equal(c[i]->ports[0]->ops, &nio_port_kmod_ops);
	}
	assert_memory_equal(c[0]->ports[0]->opts, c[1]->ports[0]->opts, NIO_PORT_OPTS_SIZE);
	assert_memory_not_equal(c[0]->ports[0]->opts, c[2]->ports[0]->opts, NIO_PORT_OPTS_SIZE);
	for (unsigned i = 0; i < 3; i++)
		nio_config_free(c[i]);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text, *err;
	} rows[] = {
		{ "burst = 0\n", "<config>:1: burst must be within [1, 256]" },
		{ "pipeline p { }\n\nspin-us = 2000000\n",
		  "<config>:3: spin-us must be within [0, 1000000]" },
		{ "port a { device = \"d\" }\n\n",
		  "<config>:2: no pipeline: this configuration forwards nothing (say "
		  "'forward-nothing = true' if that is intended)" },
		{ "forward-nothing = true\npipeline p { }\n",
		  "<config>:1: forward-nothing = true, but 1 pipeline(s) are configured" },
		{ "pipeline p {\n match { src = { \"192.0.2.1/32\", \"192.0.2.2/32\", "
		  "\"192.0.2.3/32\", "
		  "\"192.0.2.4/32\", \"192.0.2.5/32\", \"192.0.2.6/32\", \"192.0.2.7/32\", "
		  "\"192.0.2.8/32\", \"192.0.2.9/32\" } }\n}\n",
		  "<config>:2: match: more than 8 prefixes in 'src' (the limit)" },
		{ "pipeline p {\n service nope { rate = 1 }\n}\n",
		  "<config>:2: unknown service 'nope' (no plugin of that name is loaded)" },
		{ "pipeline p { }\nmetrics-listen = \"[::1]\"\n",
		  "<config>:2: metrics-listen: '[::1]' is not address:port (e.g. 127.0.0.1:9110, "
		  "[::1]:9110)" },
		{ "control-idle = \"1ms\"\npipeline p { }\n",
		  "<config>:1: control-idle: '1ms' is not a duration within [100ms, 1 day]" },
		{ "\n\nport a { driver = \"x\" device = \"d\" }\n",
		  "<config>:3: port 'a': driver 'x' is not one of auto|kmod|afxdp|afpacket|pcap" },
		{ "kernel-forwarding = \"yes\"\n",
		  "<config>:1: kernel-forwarding: 'yes' is not one of refuse|allow" },
		{ "port a { device = \"d\" kernel-forwarding = \"on\" }\n",
		  "<config>:1: port 'a': kernel-forwarding: 'on' is not one of refuse|allow" },
		{ "port a { device = \"d\" offloads = \"off\" }\n",
		  "<config>:1: port 'a': offloads: 'off' is not one of disable|refuse" },
		/* driver options: declared by the drivers, checked against the port's own */
		{ "port a { device = \"d\" nope = 1 }\n", "<config>:1: no such option 'nope'" },
		{ "port a { driver = \"afpacket\" device = \"d\" hold-time = \"1s\" }\n",
		  "<config>:1: port 'a': option 'hold-time' is for driver kmod, not afpacket" },
		{ "port a { driver = \"kmod\" device = \"d\" offloads = \"refuse\" }\n",
		  "<config>:1: port 'a': option 'offloads' is for driver afpacket, not kmod" },
		{ "port a { driver = \"pcap\" input = \"x\" ring-frames = 64 }\n",
		  "<config>:1: port 'a': option 'ring-frames' is for driver kmod|afpacket, not "
		  "pcap" },
		{ "port a { device = \"d\" input = \"x.pcap\" }\n",
		  "<config>:1: port 'a': option 'input' is for driver pcap, not auto" },
		{ "port a { driver = \"kmod\" device = \"d\" ring-frames = 63 }\n",
		  "<config>:1: port 'a': ring-frames: 63 is out of range [64, 1048576]" },
		{ "port a { device = \"d\" block-timeout-ms = \"x\" }\n",
		  "<config>:1: port 'a': block-timeout-ms: 'x' is not an integer" },
		{ "port a { driver = \"kmod\" device = \"d\" hold-time = \"1 s\" }\n",
		  "<config>:1: port 'a': hold-time: '1 s' is not a duration (e.g. 5ms, 100us, "
		  "1s)" },
		{ "port a { driver = \"kmod\" device = \"d\" hold-time = \"86401s\" }\n",
		  "<config>:1: port 'a': hold-time '86401s' is not a duration up to 1 day" },
		{ "\nport a { driver = \"pcap\" mac = \"02:00:00:00:00:01\" }\n",
		  "<config>:2: port 'a': a pcap port needs 'input' and/or 'output'" },
		{ "// c\n/* c\n c */\npipeline p { match { src = \"10.0.0.1/8\" } }\n",
		  "<config>:4: pipeline 'p': src: '10.0.0.1/8' is not a prefix (address/length, "
		  "host bits zero)" },
		{ "pipeline p {\n service mark {\n  dscp = \"x\"\n }\n}\n",
		  "<config>:3: service 'mark': dscp: 'x' is not an integer" },
		{ "pipeline p {\n service mark { nope = 1 }\n}\n",
		  "<config>:2: no such option 'nope'" },
		{ "pipeline p { fail-mode = \"open\" }\n",
		  "<config>:1: pipeline 'p': fail-mode must be secure or passthrough" },
		{ "pipeline p { via = \"1.2.3\" }\n",
		  "<config>:1: pipeline 'p': via: '1.2.3' is not an address" },
		{ "pipeline p { dst-mac = \"02:00\" }\n",
		  "<config>:1: pipeline 'p': dst-mac: '02:00' is not a MAC address" },
		{ "pipeline p { match { proto = \"xyz\" } }\n",
		  "<config>:1: pipeline 'p': match: unknown protocol 'xyz'" },
		{ "flow-idle = \"1us\"\n",
		  "<config>:1: flow-idle: '1us' is not a duration of at least 1ms" },
		{ "pipeline p {\n  match { in = \"}\" }\n", "<config>:1: '{' is never closed" },
		{ "pipeline p { service mark { tag = \"{\" } }\n}\n",
		  "<config>:2: unexpected closing brace" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[512] = "";
		struct nio_config *c = nio_config_load(&d, NULL, rows[i].text, err, sizeof(err));

		print_message("row %zu: %s\n", i, err);
		assert_null(c);
		assert_string_equal(err, rows[i].err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_host_options),
		cmocka_unit_test(test_driver_opts),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* Unit tests of the plugin loader and of loading configs that instantiate services. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

/* The loader and config code call these; the data path is not part of this test. */
void nio_worker_pkt_free(struct nio_pkt *p)
{
	(void)p;
}

struct nio_pkt *nio_worker_pkt_alloc(void)
{
	return NULL;
}

void nio_port_put(struct nio_port *p)
{
	free(p);
}

void nio_capture_release(struct nio_pipeline *pl)
{
	(void)pl;
}

static char path[512];

static const char *fixture(const char *name)
{
	const char *b = getenv("NIO_BUILD");

	snprintf(path, sizeof(path), "%s/tests/unit/plugins/%s/svc.so", b ? b : "build", name);
	return path;
}

static const char *mark_so(void)
{
	const char *b = getenv("NIO_BUILD");

	snprintf(path, sizeof(path), "%s/services/mark.so", b ? b : "build");
	return path;
}

static void unload_all(struct netiod *d)
{
	char err[256];

	while (d->plugins)
		assert_int_equal(nio_plugin_unload(d, d->plugins->name, err, sizeof(err)), 0);
}

static void test_refusals(void **state)
{
	static const struct {
		const char *fixture, *message;
	} rows[] = {
		{ "bad_abi", "ABI version 42, netiod speaks 1" },
		{ "bad_size", "descriptor size" },
		{ "no_symbol", "no symbol 'svc_service'" },
		{ "wrong_name", "descriptor names 'other', file is 'svc'" },
		{ "no_process", "init, fini and process are mandatory" },
	};
	struct netiod d = { 0 };
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
			nio_plugin_load(&d, fixture(rows[i].fixture), NULL, err, sizeof(err)), -1);
		print_message("%s: %s\n", rows[i].fixture, err);
		assert_non_null(strstr(err, rows[i].message));
		assert_null(d.plugins);
	}
	assert_int_equal(nio_plugin_load(&d, "/nonexistent/x.so", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(nio_plugin_load(&d, "/etc/passwd", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "<service>.so"));
}

static void test_load_duplicate_unload(void **state)
{
	struct netiod d = { 0 };
	struct nio_plugin *p;
	char err[512];

	(void)state;
	err[0] = '\0';
	nio_plugin_load(&d, mark_so(), &p, err, sizeof(err));
	assert_string_equal(err, "");
	assert_string_equal(p->name, "mark");
	assert_ptr_equal(nio_plugin_find(&d, "mark"), p);
	assert_int_equal(nio_plugin_load(&d, mark_so(), NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "service 'mark' is already loaded"));
	p->refs = 1;
	assert_int_equal(nio_plugin_unload(&d, "mark", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is used by 1 pipeline"));
	p->refs = 0;
	assert_int_equal(nio_plugin_unload(&d, "mark", err, sizeof(err)), 0);
	assert_null(nio_plugin_find(&d, "mark"));
	assert_int_equal(nio_plugin_unload(&d, "mark", err, sizeof(err)), -1);
}

static void test_config_instances(void **state)
{
	static const char conf[] = "pipeline a {\n"
				   "  match { dst = \"198.51.100.0/24\" }\n"
				   "  service mark { dscp = 10 }\n"
				   "  service svc { }\n"
				   "}\n";
	static const char bad[] = "pipeline a {\n"
				  "  service svc { why = \"no key\" }\n"
				  "}\n";
	struct netiod d = { 0 };
	struct nio_config *c;
	char err[512];

	(void)state;
	assert_int_equal(nio_plugin_load(&d, mark_so(), NULL, err, sizeof(err)), 0);
	assert_int_equal(
		nio_plugin_load(&d, fixture("wrong_name") /* refused */, NULL, err, sizeof(err)),
		-1);
	assert_int_equal(nio_plugin_load(&d, fixture("fail_init"), NULL, err, sizeof(err)), 0);
	c = nio_config_load(&d, NULL, conf, err, sizeof(err));
	assert_null(c); /* svc's init refuses */
	assert_string_equal(
		err, "<config>:4: pipeline 'a': service 'svc': refusing to start: no reason");
	assert_int_equal(nio_plugin_find(&d, "mark")->refs, 0); /* the mark instance was undone */
	c = nio_config_load(&d, NULL, bad, err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "refusing to start: no key"));
	c = nio_config_load(&d, NULL, "pipeline a { service mark { dscp = 10 } }\n", err,
			    sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->npipelines, 1);
	assert_int_equal(c->pipelines[0].nsvcs, 1);
	assert_non_null(c->pipelines[0].svcs[0].inst);
	assert_int_equal(nio_plugin_find(&d, "mark")->refs, 1);
	nio_config_free(c);
	assert_int_equal(nio_plugin_find(&d, "mark")->refs, 0);
	unload_all(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_load_duplicate_unload),
		cmocka_unit_test(test_config_instances),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

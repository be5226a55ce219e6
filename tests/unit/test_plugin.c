/* Unit tests of the plugin loader and of loading configs that instantiate services. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

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

/* cp SRC DST the way cp(1) does it: the same inode, rewritten in place. */
static void copy_in_place(const char *src, const char *dst)
{
	char buf[65536];
	size_t n;
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "r+b");

	if (!out)
		out = fopen(dst, "wb");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	assert_int_equal(ftruncate(fileno(out), ftell(out)), 0);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* Each open runs the file as it is now, even under a path (and inode) opened before. */
static void test_open_upgraded_in_place(void **state)
{
	const char *b = getenv("NIO_BUILD");
	char dir[] = "/tmp/nio-plugin-XXXXXX", dst[64], v1[512], v2[512];
	struct nio_plugin *p1, *p2, *p3;
	struct stat st1, st2;
	char err[512];

	(void)state;
	snprintf(v1, sizeof(v1), "%s/services/mark.so", b ? b : "build");
	snprintf(v2, sizeof(v2), "%s/services-alt/mark.so", b ? b : "build");
	assert_non_null(mkdtemp(dir));
	snprintf(dst, sizeof(dst), "%s/mark.so", dir);
	copy_in_place(v1, dst);
	assert_int_equal(nio_plugin_open(dst, &p1, err, sizeof(err)), 0);
	assert_string_equal(p1->svc->version, "1");
	assert_int_equal(stat(dst, &st1), 0);
	copy_in_place(v2, dst);
	assert_int_equal(stat(dst, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(nio_plugin_open(dst, &p2, err, sizeof(err)), 0);
	assert_string_equal(p2->svc->version, "2");
	assert_ptr_not_equal(p1->dl, p2->dl);
	/* the first copy is private: overwriting the file did not change the code it runs */
	assert_string_equal(p1->svc->version, "1");
	assert_int_equal(nio_plugin_open(v1, &p3, err, sizeof(err)), 0);
	assert_string_equal(p3->svc->version, "1");
	unlink(dst);
	assert_int_equal(rmdir(dir), 0);
	nio_plugin_close(p1);
	nio_plugin_close(p2);
	nio_plugin_close(p3);
	free(p1);
	free(p2);
	free(p3);
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
		cmocka_unit_test(test_open_upgraded_in_place),
		cmocka_unit_test(test_config_instances),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

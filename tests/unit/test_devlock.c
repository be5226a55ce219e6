/* Unit tests of the per-device lock: counted in one process, refused to another, which is named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../netiod/netiod.h"

static char dev[IFNAMSIZ];

static char self[256];

/* In a fresh process (exec: no inherited holds): exit 0 if it took the lock, 1 if refused with
 * the holder's pid named, 2 otherwise. */
static int try_lock(const char *name, const char *holder)
{
	char err[256] = "", want[64];

	snprintf(want, sizeof(want), "pid %s (", holder);
	if (nio_devlock_get(name, err, sizeof(err)) == 0)
		return 0;
	return strstr(err, want) && strstr(err, "already used by another netiod") ? 1 : 2;
}

static int child_try(pid_t holder)
{
	char h[32];
	pid_t pid;
	int st;

	snprintf(h, sizeof(h), "%ld", (long)holder);
	pid = fork();
	if (pid == 0) {
		execl(self, self, "try", dev, h, (char *)NULL);
		_exit(3);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_lock(void **state)
{
	char err[256];

	(void)state;
	snprintf(dev, sizeof(dev), "nio-ut%ld", (long)getpid() % 100000);
	assert_int_equal(nio_devlock_get(dev, err, sizeof(err)), 0);
	assert_int_equal(nio_devlock_get(dev, err, sizeof(err)), 0); /* a reload's second hold */
	assert_int_equal(child_try(getpid()), 1);
	nio_devlock_put(dev);
	assert_int_equal(child_try(getpid()), 1); /* one hold left */
	nio_devlock_put(dev);
	assert_int_equal(child_try(getpid()), 0); /* released: the child takes it */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock),
	};
	if (argc == 4 && !strcmp(argv[1], "try"))
		return try_lock(argv[2], argv[3]);
	if (!realpath("/proc/self/exe", self))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* netio-svchost's sandbox: its own user, no capabilities, its state directory only, a seccomp
 * allow-list without sockets, processes or programs. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "svchost.h"

/*
 * What a plugin's data path, its helper threads (crypto's reservation writer) and glibc call
 * once init is done: the rings (no system call at all while busy), its doorbells and control
 * socket (read, write, poll, sendto, recvfrom on descriptors it was given), time, memory,
 * threads, and files under its state directory only (crypto's sequence reservations: Landlock
 * refuses every other path). No socket, connect, bind, open of a device, execve, fork, kill,
 * ptrace or mount: a call outside the list kills the process (SIGSYS), which netiod reports.
 */
static const char allowed[] =
	"read write readv writev pread64 pwrite64 lseek close fstat newfstatat statx fsync "
	"fdatasync ftruncate openat rename renameat renameat2 unlink unlinkat fcntl flock "
	"mmap munmap mprotect mremap madvise brk "
	"clock_gettime clock_getres gettimeofday nanosleep clock_nanosleep "
	"futex set_robust_list get_robust_list rseq exit exit_group gettid getpid tgkill "
	"sched_yield sched_getaffinity rt_sigprocmask rt_sigreturn rt_sigaction sigaltstack "
	"restart_syscall set_tid_address poll ppoll sendto recvfrom getrandom prctl "
#ifdef NIO_SANITIZED
	/* the sanitizers' runtime (LeakSanitizer's thread listing, reports) */
	"ptrace wait4 getdents64 open readlink readlinkat clone "
#endif
	;

static int allow(scmp_filter_ctx ctx)
{
	char names[sizeof(allowed)], *save = NULL;
	int rc = 0;

	memcpy(names, allowed, sizeof(names));
	for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
		int nr = seccomp_syscall_resolve_name(n);

		if (nr != __NR_SCMP_ERROR && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
			return -1;
	}
	/* threads, not processes; clone3 cannot be inspected: ENOSYS makes glibc use clone */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
#ifndef NIO_SANITIZED
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
#endif
	return rc < 0 ? -1 : 0;
}

static int load_seccomp(char *why, size_t len)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc;

	if (!ctx)
		return snprintf(why, len, "seccomp_init failed"), -1;
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!rc && allow(ctx) < 0)
		rc = -EINVAL;
	if (!rc)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc)
		snprintf(why, len, "seccomp filter: %s", strerror(-rc));
	return rc ? -1 : 0;
}

/* Landlock: files under dir only (read, write, create, rename, remove); nothing elsewhere.
 * A kernel without Landlock leaves paths to the user's permissions (logged). */
static void confine_files(const char *dir)
{
	struct landlock_ruleset_attr ra = { .handled_access_fs = (1ull << 13) - 1 };
	struct landlock_path_beneath_attr pb = { .allowed_access = (1ull << 13) - 1 };
	int rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);

	if (rs < 0) {
		fprintf(stderr,
			"<4>netio-svchost: no Landlock (%s): files are not confined to %s\n",
			strerror(errno), dir);
		return;
	}
	pb.parent_fd = dir[0] ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (pb.parent_fd >= 0) {
		(void)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
		close(pb.parent_fd);
	}
	(void)syscall(SYS_landlock_restrict_self, rs, 0);
	close(rs);
}

/* Drop to uid:gid (when root), every capability, and the right to regain any. */
static int drop_privs(uid_t uid, gid_t gid, char *why, size_t len)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
			       setresuid(uid, uid, uid) < 0))
		return snprintf(why, len, "to uid %u: %s", uid, strerror(errno)), -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &h, d) < 0)
		return snprintf(why, len, "capset: %s", strerror(errno)), -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return snprintf(why, len, "no_new_privs: %s", strerror(errno)), -1;
	return 0;
}

/*
 * Become uid:gid before init (when root), keeping only the right to read any file: init opens
 * key files netiod's user may own, but whatever it creates (crypto's sequence reservations)
 * must belong to the user that writes them after the sandbox is up.
 */
int svchost_become(uid_t uid, gid_t gid, char *why, size_t len)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (geteuid() != 0 || uid == 0)
		return 0;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return snprintf(why, len, "to uid %u: %s", uid, strerror(errno)), -1;
	d[0].effective = d[0].permitted = 1u << CAP_DAC_READ_SEARCH;
	if (syscall(SYS_capset, &h, d) < 0)
		return snprintf(why, len, "capset: %s", strerror(errno)), -1;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

int svchost_sandbox(uid_t uid, gid_t gid, const char *state_dir, char *why, size_t len)
{
	if (drop_privs(uid, gid, why, len) < 0)
		return -1;
	confine_files(state_dir);
	return load_seccomp(why, len);
}

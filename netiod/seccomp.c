/* A seccomp allow-list for the whole daemon, loaded once its ports are open and before the
 * workers start (they inherit it): what netiod, libevent, libnl, libpcap, glibc and the
 * plugins call at run time, reload, capture and plugin (memfd) loading included. A system
 * call outside it stops netiod with a log line naming it, by SIGSYS. */
#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netiod.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

/* Space-separated; a name this architecture lacks (open on arm64) is skipped. */
static const char allowed[] =
	/* files, memory, plugins: dlopen of a memfd copy, capture files, crypto's state */
	"read write readv writev pread64 pwrite64 lseek close close_range open openat stat fstat "
	"lstat newfstatat statx statfs fstatfs access faccessat faccessat2 readlink readlinkat "
	"getdents64 getcwd fcntl dup dup2 dup3 pipe pipe2 ftruncate fsync fdatasync flock rename "
	"renameat renameat2 unlink unlinkat mkdir mkdirat rmdir mmap munmap mprotect mremap "
	"madvise brk msync memfd_create "
	/* time */
	"clock_gettime clock_getres gettimeofday time nanosleep clock_nanosleep "
	/* threads and signals */
	"futex set_robust_list get_robust_list rseq exit exit_group gettid getpid getppid tgkill "
	"tkill sched_yield sched_getaffinity sched_setaffinity getcpu rt_sigprocmask rt_sigreturn "
	"sigaltstack restart_syscall set_tid_address "
	/* worker-sched: each worker sets its own policy or nice value when it starts */
	"sched_setscheduler setpriority "
	/* the event loop, eventfds, sockets (control, metrics, netlink, packet, neighbour probes) */
	"epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 poll ppoll "
	"select pselect6 eventfd eventfd2 timerfd_create timerfd_settime timerfd_gettime bind "
	"listen accept accept4 connect getsockname getpeername setsockopt getsockopt sendto "
	"sendmsg sendmmsg recvfrom recvmsg recvmmsg shutdown ioctl "
	/* afxdp ports: claims maps updated at reload, counters read, programs for added ports */
	"bpf "
	/* identity and limits (read only: netiod changes none of them after start) */
	"uname getuid geteuid getgid getegid getgroups getresuid getresgid getrlimit prlimit64 "
	"sysinfo getrandom capget prctl "
#ifdef NIO_SANITIZED
	/* the sanitizers' runtime: LeakSanitizer stops the threads with ptrace from a clone that
	 * lists them with getdents, a report runs llvm-symbolizer */
	"ptrace wait4 waitid getdents execve vfork fork kill sched_getparam sched_getscheduler "
	"personality "
#endif
	;

static const int families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_XDP };

/* async-signal-safe: the number of the call in decimal */
static size_t utoa(unsigned long v, char *buf)
{
	char tmp[24];
	size_t n = 0, i = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		buf[i++] = tmp[--n];
	return i;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	static const char a[] = "<2>netiod: seccomp: system call ",
			  b[] = " is not in netiod's allow-list: stopping ('scmp_sys_resolver ",
			  c[] = "' names it; seccomp = false turns the filter off)\n";
	char num[24];
	size_t n = utoa((unsigned long)si->si_syscall, num);

	(void)uc;
	(void)!write(STDERR_FILENO, a, sizeof(a) - 1);
	(void)!write(STDERR_FILENO, num, n);
	(void)!write(STDERR_FILENO, b, sizeof(b) - 1);
	(void)!write(STDERR_FILENO, num, n);
	(void)!write(STDERR_FILENO, c, sizeof(c) - 1);
	raise(sig); /* SA_RESETHAND: the default action, a core dump, once this returns */
}

static int allow_names(scmp_filter_ctx ctx)
{
	char names[sizeof(allowed)], *save = NULL;

	memcpy(names, allowed, sizeof(names));
	for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
		int nr = seccomp_syscall_resolve_name(n);

		if (nr != __NR_SCMP_ERROR && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
			return -1;
	}
	return 0;
}

/* Arguments that keep a call to what netiod needs: threads, not processes (clone3 cannot be
 * inspected: ENOSYS makes glibc use clone); the socket families of RestrictAddressFamilies=;
 * no handler for SIGSYS but netiod's. The second datum of EQ/NE is unused. */
static int allow_args(scmp_filter_ctx ctx)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
			       SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 1,
			       SCMP_A0(SCMP_CMP_NE, SIGSYS, 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
#ifdef NIO_SANITIZED
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
#else
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
#endif
	return rc < 0 ? -1 : 0;
}

int nio_seccomp_load(char *why, size_t len)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_RESETHAND };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int rc;

	if (!ctx)
		return nio_err(why, len, "seccomp_init failed");
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		seccomp_release(ctx);
		return nio_err(why, len, "sigaction SIGSYS: %s", strerror(errno));
	}
	/* another ABI (x32, i386 on x86-64) traps as well; every thread (none should exist yet)
	 * gets the filter. No SCMP_FLTATR_CTL_LOG: the kernel would log each thread's clone3. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	/* a binary search over the call numbers: the workers' poll and sendto pay a few compares
	 * instead of a walk down the list */
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!rc && (allow_names(ctx) < 0 || allow_args(ctx) < 0))
		rc = -EINVAL;
	if (!rc)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc ? nio_err(why, len, "seccomp filter: %s", strerror(-rc)) : 0;
}

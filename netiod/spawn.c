/* The spawner: a process forked at start-up that starts and stops isolated services' hosts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isolate.h"
#include "netiod.h"

/*
 * netiod's own seccomp filter has no fork, execve or kill, and netiod gives up the right to
 * change user: it cannot start a child once confined. The spawner is forked before anything
 * is opened or loaded (it holds no packet, key or configuration) and only ever does three
 * things on netiod's word over a SOCK_SEQPACKET pair: start netio-svchost with the
 * descriptors it is sent, SIGKILL one it started, and report how each one ended. It dies
 * with netiod (PR_SET_PDEATHSIG), and its children with it.
 */
enum { SP_SPAWN = 1, SP_KILL, SP_PID, SP_EXIT };

struct sp_msg {
	uint32_t type;
	int32_t pid;
	int32_t status; /* SP_EXIT: wait status */
	uint32_t uid, gid;
	char path[256];
	char name[128];
};

static int sp_fd = -1;

static void exec_host(const struct sp_msg *m, const int *fds)
{
	char uid[16], gid[16];
	sigset_t all;
	int hi[NIO_ISO_NFDS];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* via numbers above the targets, so no dup2 overwrites a descriptor still to move */
	for (int i = 0; i < NIO_ISO_NFDS; i++)
		hi[i] = fcntl(fds[i], F_DUPFD, 64);
	for (int i = 0; i < NIO_ISO_NFDS; i++)
		if (hi[i] < 0 || dup2(hi[i], NIO_ISO_FD_CTL + i) < 0)
			_exit(127);
	close_range(NIO_ISO_FD_CTL + NIO_ISO_NFDS, ~0u, 0);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	snprintf(uid, sizeof(uid), "%u", m->uid);
	snprintf(gid, sizeof(gid), "%u", m->gid);
	execl(m->path, "netio-svchost", m->name, uid, gid, (char *)NULL);
	fprintf(stderr, "<3>netio-svchost: exec %s: %s\n", m->path, strerror(errno));
	_exit(127);
}

static void sp_spawn(int sock, const struct sp_msg *m, const int *fds)
{
	struct sp_msg r = { .type = SP_PID };

	r.pid = fork();
	if (r.pid == 0)
		exec_host(m, fds);
	for (int i = 0; i < NIO_ISO_NFDS; i++)
		close(fds[i]);
	(void)!send(sock, &r, sizeof(r), 0);
}

/* 0: netiod is gone; -1: a bad message; else 1 + the number of descriptors received. */
static int recv_msg(int sock, struct sp_msg *m, int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * NIO_ISO_NFDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	int got = 0;

	if (n != (ssize_t)sizeof(*m))
		return n == 0 ? 0 : -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (got > nfds)
			got = nfds;
		memcpy(fds, CMSG_DATA(cm), (size_t)got * sizeof(int));
	}
	return 1 + got;
}

/* Only a host this spawner started (and has not reaped) may be killed on netiod's word. */
static bool own_child(pid_t pid)
{
	siginfo_t si;

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static void reap(int sock)
{
	struct sp_msg r = { .type = SP_EXIT };
	int st;

	while ((r.pid = waitpid(-1, &st, WNOHANG)) > 0) {
		r.status = st;
		(void)!send(sock, &r, sizeof(r), 0);
	}
}

static void __attribute__((noreturn)) spawner_main(int sock, pid_t parent)
{
	struct pollfd pf[2];
	struct sp_msg m;
	sigset_t chld;
	int fds[NIO_ISO_NFDS];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "netiod-spawner");
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	pf[0] = (struct pollfd){ .fd = sock, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK),
				 .events = POLLIN };
	for (;;) {
		struct signalfd_siginfo si;
		int r;

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			_exit(1);
		if (pf[1].revents & POLLIN) {
			while (read(pf[1].fd, &si, sizeof(si)) > 0)
				;
			reap(sock);
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP)))
			continue;
		memset(&m, 0, sizeof(m));
		r = recv_msg(sock, &m, fds, NIO_ISO_NFDS);
		if (r == 0)
			_exit(0); /* netiod is gone */
		m.path[sizeof(m.path) - 1] = m.name[sizeof(m.name) - 1] = '\0';
		if (m.type == SP_SPAWN && r == 1 + NIO_ISO_NFDS) {
			sp_spawn(sock, &m, fds);
			continue;
		}
		for (int i = 0; i + 1 < r; i++)
			close(fds[i]);
		if (m.type == SP_KILL && m.pid > 0 && own_child(m.pid))
			kill(m.pid, SIGKILL);
	}
}

/* Fork the spawner; netiod keeps one end of the pair. */
int nio_spawner_start(void)
{
	int sv[2];
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		spawner_main(sv[1], parent);
	}
	close(sv[1]);
	sp_fd = sv[0];
	return 0;
}

int nio_spawner_fd(void)
{
	return sp_fd;
}

static int send_msg(const struct sp_msg *m, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * NIO_ISO_NFDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sp_fd, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*m) ? 0 : -1;
}

/*
 * Read what the spawner says; an exit report goes to nio_iso_exited. With want_pid, wait (up
 * to 2 s) for the pid of the host just started and return it.
 */
static pid_t read_replies(bool want_pid, pid_t exit_of, int timeout_ms)
{
	struct pollfd pf = { .fd = sp_fd, .events = POLLIN };
	struct sp_msg r;

	for (;;) {
		if (poll(&pf, 1, timeout_ms) <= 0)
			return -1;
		if (recv(sp_fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return -1;
		if (r.type == SP_EXIT)
			nio_iso_exited(r.pid, r.status);
		if (r.type == SP_EXIT && r.pid == exit_of)
			return r.pid;
		if (r.type == SP_PID && want_pid)
			return r.pid;
	}
}

pid_t nio_spawn(const char *path, const char *name, uid_t uid, gid_t gid, const int *fds)
{
	struct sp_msg m = { .type = SP_SPAWN, .uid = uid, .gid = gid };

	if (sp_fd < 0)
		return -1;
	snprintf(m.path, sizeof(m.path), "%s", path);
	snprintf(m.name, sizeof(m.name), "%s", name);
	if (send_msg(&m, fds, NIO_ISO_NFDS) < 0)
		return -1;
	return read_replies(true, 0, 2000);
}

void nio_spawn_kill(pid_t pid)
{
	struct sp_msg m = { .type = SP_KILL, .pid = pid };

	if (sp_fd >= 0 && pid > 0)
		(void)send_msg(&m, NULL, 0);
}

/* The control thread's event on the spawner's socket: exit reports. */
void nio_spawner_read(void)
{
	read_replies(false, 0, 0);
}

/* Wait up to timeout_ms for the spawner to report pid's end: 0, or -1 (still running). */
int nio_spawn_wait(pid_t pid, int timeout_ms)
{
	uint64_t end = nio_now_ns() + (uint64_t)timeout_ms * 1000000;

	while (sp_fd >= 0) {
		uint64_t now = nio_now_ns();

		if (now >= end)
			return -1;
		if (read_replies(false, pid, (int)((end - now) / 1000000) + 1) == pid)
			return 0;
	}
	return -1;
}

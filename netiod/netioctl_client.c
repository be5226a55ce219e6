/* netioctl's end of the control socket: one request line, one reply line, within a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "netioctl.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to become ready for ev until the deadline (-1: none); 0, or -1 with errno. */
static int wait_fd(int fd, short ev, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int rc;

	do {
		long long left = deadline < 0 ? -1 : deadline - now_ms();

		if (deadline >= 0 && left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		rc = poll(&p, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
	} while (rc == 0 || (rc < 0 && errno == EINTR));
	return rc < 0 ? -1 : 0;
}

/*
 * Non-blocking all the way: a netiod that is stopped (SIGSTOP, a debugger) or wedged still
 * accepts connections into the listen backlog, and a full backlog makes connect(2) wait too.
 */
static int connect_to(const char *path, long long deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(int);
	int fd, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if ((errno == EAGAIN || errno == EINPROGRESS) && wait_fd(fd, POLLOUT, deadline) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && !err)
		return fd;
	err = err ? err : errno;
	close(fd);
	errno = err;
	return -1;
}

static int send_all(int fd, const char *s, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n < 0 && wait_fd(fd, POLLOUT, deadline) < 0)
			return -1;
		if (n > 0) {
			s += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/* Read up to the reply's newline; NULL with errno: ETIMEDOUT, EPROTO, or 0 if netiod hung up. */
static char *read_line(int fd, long long deadline)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *more;
	ssize_t n;

	while (buf) {
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 &&
		    (errno == EINTR || (errno == EAGAIN && !wait_fd(fd, POLLIN, deadline))))
			continue;
		if (n <= 0) {
			errno = n < 0 ? errno : len ? EPROTO : 0;
			break;
		}
		len += (size_t)n;
		if (buf[len - 1] == '\n') {
			buf[len] = '\0';
			return buf;
		}
		if (len + 4096 <= cap)
			continue;
		more = realloc(buf, cap * 2);
		if (!more)
			break;
		buf = more;
		cap *= 2;
	}
	free(buf);
	return NULL;
}

static json_t *failed(const char *path, int timeout_ms, const char *what)
{
	if (errno == ETIMEDOUT)
		nio_ctl_error(NIO_EXIT_DAEMON,
			      "no reply from netiod at %s within %d.%03d s (-t sets the timeout)",
			      path, timeout_ms / 1000, timeout_ms % 1000);
	else if (!errno)
		nio_ctl_error(NIO_EXIT_DAEMON, "netiod at %s closed the connection without a reply",
			      path);
	else
		nio_ctl_error(NIO_EXIT_DAEMON, "%s netiod at %s: %s", what, path, strerror(errno));
	return NULL;
}

json_t *nio_ctl_transact(const char *path, const json_t *req, int timeout_ms)
{
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
	char *s = json_dumps(req, JSON_COMPACT), *line;
	json_error_t jerr;
	json_t *rep;
	int fd;

	if (!s)
		exit(NIO_EXIT_DAEMON);
	fd = connect_to(path, deadline);
	if (fd < 0) {
		free(s);
		return failed(path, timeout_ms, "cannot reach");
	}
	if (send_all(fd, s, strlen(s), deadline) < 0 || send_all(fd, "\n", 1, deadline) < 0) {
		free(s);
		close(fd);
		return failed(path, timeout_ms, "cannot send to");
	}
	free(s);
	line = read_line(fd, deadline);
	close(fd);
	if (!line)
		return failed(path, timeout_ms, "cannot read from");
	rep = json_loads(line, 0, &jerr);
	free(line);
	if (!rep)
		nio_ctl_error(NIO_EXIT_DAEMON, "bad reply from netiod: %s", jerr.text);
	return rep;
}

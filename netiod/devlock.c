/* One netiod per network device: a per-device lock that dies with its process. */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netiod.h"

/*
 * The lock is an abstract unix socket bound to "netio-dev/<ifname>". Abstract names belong to
 * the network namespace, like device names, so two netiods on same-named devices of two
 * namespaces do not meet; and the kernel drops the name with the last descriptor, so a netiod
 * killed with -9 leaves nothing stale behind. A reload may open a device again while the old
 * configuration still holds it: this process counts its own holds.
 */
#define LOCK_PREFIX "netio-dev/"
#define MAX_LOCKS   (2 * NIO_MAX_PORTS)

static struct devlock {
	char dev[IFNAMSIZ];
	int fd;
	unsigned refs;
} locks[MAX_LOCKS];

static struct devlock *find(const char *dev)
{
	for (unsigned i = 0; i < MAX_LOCKS; i++)
		if (locks[i].refs && !strcmp(locks[i].dev, dev))
			return &locks[i];
	return NULL;
}

static socklen_t lock_addr(const char *dev, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays '\0': an abstract name */
	snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, LOCK_PREFIX "%s", dev);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa->sun_path + 1));
}

/* The inode of the socket bound to the abstract name "@netio-dev/<dev>" in this namespace. */
static unsigned long holder_inode(const char *dev)
{
	char line[512], want[64], path[256];
	unsigned long inode, found = 0;
	FILE *f = fopen("/proc/net/unix", "r");

	if (!f)
		return 0;
	snprintf(want, sizeof(want), "@" LOCK_PREFIX "%s", dev);
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %255s", &inode, path) == 2 &&
		    !strcmp(path, want))
			found = inode;
	fclose(f);
	return found;
}

static bool has_socket(long pid, const char *link)
{
	char dir[64], fd[384], target[64];
	struct dirent *e;
	bool hit = false;
	DIR *d;
	ssize_t n;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!hit && (e = readdir(d))) {
		snprintf(fd, sizeof(fd), "%s/%s", dir, e->d_name);
		n = readlink(fd, target, sizeof(target) - 1);
		hit = n > 0 && (size_t)n == strlen(link) && !memcmp(target, link, (size_t)n);
	}
	closedir(d);
	return hit;
}

/* Which process holds the lock (0 if it is not visible from here, e.g. another pid ns). */
static long holder_pid(const char *dev)
{
	unsigned long inode = holder_inode(dev);
	char link[64], *end;
	struct dirent *e;
	long pid = 0;
	DIR *d;

	if (!inode || !(d = opendir("/proc")))
		return 0;
	snprintf(link, sizeof(link), "socket:[%lu]", inode);
	while (!pid && (e = readdir(d))) {
		long p = strtol(e->d_name, &end, 10);

		if (p > 0 && !*end && p != getpid() && has_socket(p, link))
			pid = p;
	}
	closedir(d);
	return pid;
}

static int busy(const char *dev, char *err, size_t errlen)
{
	long pid = holder_pid(dev);
	char comm[64] = "", path[64];
	FILE *f;

	if (!pid)
		return nio_err(err, errlen,
			       "%s is already used by another netiod in this network namespace "
			       "(one netiod per device)",
			       dev);
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((f = fopen(path, "r"))) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	return nio_err(err, errlen,
		       "%s is already used by another netiod in this network namespace: pid %ld "
		       "(%s) holds it (one netiod per device)",
		       dev, pid, comm[0] ? comm : "?");
}

int nio_devlock_get(const char *dev, char *err, size_t errlen)
{
	struct devlock *l = find(dev);
	struct sockaddr_un sa;
	socklen_t len;

	if (l) {
		l->refs++;
		return 0;
	}
	for (l = locks; l < locks + MAX_LOCKS && l->refs; l++)
		;
	if (l == locks + MAX_LOCKS)
		return nio_err(err, errlen, "%s: too many device locks", dev);
	len = lock_addr(dev, &sa);
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return nio_err(err, errlen, "%s: lock socket: %s", dev, strerror(errno));
	if (bind(l->fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;

		close(l->fd);
		if (e == EADDRINUSE)
			return busy(dev, err, errlen);
		return nio_err(err, errlen, "%s: lock: %s", dev, strerror(e));
	}
	snprintf(l->dev, sizeof(l->dev), "%s", dev);
	l->refs = 1;
	return 0;
}

void nio_devlock_put(const char *dev)
{
	struct devlock *l = find(dev);

	if (l && !--l->refs)
		close(l->fd);
}

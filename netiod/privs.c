/* Least privilege: once its ports and sockets are open netiod runs as an unprivileged user,
 * keeping only the capabilities its port drivers need to open ports later (reload, a device
 * that comes back). */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netiod.h"

static uint64_t kept = ~0ull; /* the capabilities netiod still has: all until it drops them */
static bool dropped;

static const char *const cap_names[] = {
	[CAP_CHOWN] = "CAP_CHOWN",
	[CAP_SETGID] = "CAP_SETGID",
	[CAP_SETUID] = "CAP_SETUID",
	[CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE",
	[CAP_NET_ADMIN] = "CAP_NET_ADMIN",
	[CAP_NET_RAW] = "CAP_NET_RAW",
	[CAP_IPC_LOCK] = "CAP_IPC_LOCK",
	[CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
	[CAP_SYS_NICE] = "CAP_SYS_NICE", /* worker-sched: a real-time policy or a negative nice */
	[CAP_PERFMON] = "CAP_PERFMON",	 /* afxdp: the verifier, for its XDP program */
	[CAP_BPF] = "CAP_BPF",
};

static void caps_format(uint64_t set, char *buf, size_t len)
{
	size_t off = 0;

	snprintf(buf, len, "none");
	for (unsigned c = 0; c < 64 && off < len; c++) {
		if (!(set & NIO_CAP(c)))
			continue;
		if (c < sizeof(cap_names) / sizeof(cap_names[0]) && cap_names[c])
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						cap_names[c]);
		else
			off += (size_t)snprintf(buf + off, len - off, "%scap_%u", off ? "," : "",
						c);
	}
}

/* ---------------------------------------------------------------- names */

static int numeric_id(const char *s, unsigned *id)
{
	long long v;

	if (nio_parse_int(s, &v) < 0 || v < 0 || v >= 0xffffffffll)
		return -1;
	*id = (unsigned)v;
	return 0;
}

/* A user name or number; gid is its primary group, (gid_t)-1 for a number without an entry. */
int nio_user_id(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(name);
	unsigned id;

	if (pw) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
		return 0;
	}
	if (numeric_id(name, &id) < 0)
		return -1;
	pw = getpwuid(id);
	*uid = id;
	*gid = pw ? pw->pw_gid : (gid_t)-1;
	return 0;
}

int nio_group_id(const char *name, gid_t *gid)
{
	struct group *gr = getgrnam(name);
	unsigned id;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (numeric_id(name, &id) < 0)
		return -1;
	*gid = id;
	return 0;
}

/* ---------------------------------------------------------------- the control socket */

/* A socket directory that does not exist yet (/run/netio) is made, owned by the user netiod
 * will run as, so that netiod can still remove its socket when it stops. */
int nio_privs_socket_dir(const char *path, const struct nio_privs *p, char *why, size_t len)
{
	char dir[108];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0)
		return errno == EEXIST ? 0
				       : nio_err(why, len, "mkdir %s: %s", dir, strerror(errno));
	if (p->user[0] && chown(dir, p->uid, p->gid) < 0)
		return nio_err(why, len, "chown %s: %s", dir, strerror(errno));
	return 0;
}

/* The socket (mode 0660) belongs to the user netiod will run as, group control-group (else
 * that user's group): members of the group may use netioctl. */
int nio_privs_socket(const char *path, const struct nio_privs *p, char *why, size_t len)
{
	uid_t uid = p->user[0] ? p->uid : (uid_t)-1;
	gid_t gid = p->ctl_group[0] ? p->ctl_gid : p->user[0] ? p->gid : (gid_t)-1;

	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0)
		return nio_err(why, len, "chown %s to %s%s%s: %s", path, p->user[0] ? p->user : "",
			       p->ctl_group[0] ? ":" : "", p->ctl_group, strerror(errno));
	return 0;
}

/* ---------------------------------------------------------------- capabilities */

static uint64_t caps_permitted(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &h, data) < 0)
		return 0;
	return (uint64_t)data[1].permitted << 32 | data[0].permitted;
}

/* Permitted and effective become set; nothing inheritable (netiod executes nothing). */
static int caps_set(uint64_t set)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {
		{ .permitted = (uint32_t)set, .effective = (uint32_t)set },
		{ .permitted = (uint32_t)(set >> 32), .effective = (uint32_t)(set >> 32) },
	};

	return (int)syscall(SYS_capset, &h, data);
}

/* Out of the bounding set too, while netiod is root (it needs CAP_SETPCAP for that). */
static void bound_drop(uint64_t keep)
{
	for (int c = 0; c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (!(keep & NIO_CAP(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			fatal("dropping capability %d from the bounding set", c);
}

/* Only the user's own group: supplementary groups of the account are not needed. */
static void switch_user(const struct nio_privs *p)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(1, &p->gid) < 0 ||
	    setresgid(p->gid, p->gid, p->gid) < 0 || setresuid(p->uid, p->uid, p->uid) < 0)
		fatal("cannot run as user %s (uid %u, gid %u)", p->user, (unsigned)p->uid,
		      (unsigned)p->gid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fatal("PR_SET_KEEPCAPS");
}

/* The capabilities the open ports' drivers need to open again (a reload may add ports), and
 * the workers to take the scheduling worker-sched asks for (they start after the drop). */
static uint64_t caps_needed(const struct nio_config *c)
{
	uint64_t need = nio_wsched_privileged(&c->wsched) ? NIO_CAP(CAP_SYS_NICE) : 0;

	for (unsigned i = 0; i < c->nports; i++)
		if (c->ports[i]->open)
			need |= c->ports[i]->ops->caps;
	return need;
}

/*
 * Root with `user` set becomes that user; a netiod started unprivileged (systemd User= with
 * AmbientCapabilities=) keeps its user. Either way only the capabilities the drivers of the
 * configuration's ports need remain (none for pcap ports). Root without `user` stays root.
 * Runs before the worker threads exist: capabilities are per thread, and they inherit these.
 */
void nio_privs_drop(const struct nio_config *c, const char *state_dir)
{
	const struct nio_privs *p = &c->privs;
	uint64_t need = caps_needed(c), have;
	bool root = geteuid() == 0;
	char names[256];

	if (!p->user[0] && root)
		return;
	if (root) {
		bound_drop(need);
		switch_user(p);
	} else if (p->user[0] && geteuid() != p->uid) {
		fatalx("user %s: netiod runs as uid %u, not as root, and cannot switch users",
		       p->user, (unsigned)geteuid());
	}
	have = caps_permitted();
	if (need & ~have) {
		caps_format(need & ~have, names, sizeof(names));
		log_warnx(
			"netiod does not have %s: ports a reload adds, or whose device comes back, "
			"may fail to open",
			names);
	}
	if (caps_set(need & have) < 0)
		fatal("capset");
	if (root && setresuid(0, 0, 0) == 0)
		fatalx("user %s: root could be regained after the switch", p->user);
	/* ambient capabilities (systemd AmbientCapabilities=) would pass to a program netiod ran */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fatal("clearing the ambient capabilities");
	kept = need & have;
	dropped = true;
	if (access(state_dir, F_OK) == 0 && access(state_dir, W_OK) < 0)
		log_warnx("state-dir %s is not writable by uid %u: services that keep state there "
			  "(crypto's sequence numbers) will fail: give the directory to that user",
			  state_dir, (unsigned)getuid());
	caps_format(kept, names, sizeof(names));
	log_info("running as uid %u, gid %u, capabilities %s", (unsigned)getuid(),
		 (unsigned)getgid(), names);
}

/* A port whose driver needs a capability netiod gave up cannot open until a restart. */
int nio_privs_check(const struct nio_port *p, char *why, size_t len)
{
	uint64_t miss = p->ops->caps & ~kept;
	char names[256];

	if (!dropped || !miss)
		return 0;
	caps_format(miss, names, sizeof(names));
	return nio_err(why, len,
		       "the %s driver needs %s, which netiod gave up after start (uid %u; no port "
		       "then needed it): restart netiod to open this port",
		       p->ops->name, names, (unsigned)getuid());
}

void nio_privs_warn_changes(const struct nio_privs *run, const struct nio_privs *next)
{
	if (strcmp(run->user, next->user) || strcmp(run->group, next->group) ||
	    strcmp(run->ctl_group, next->ctl_group) || run->seccomp != next->seccomp)
		log_warnx("user, group, control-group and seccomp changes take effect when netiod "
			  "restarts");
}

/* Isolated services on the control thread: start a host, watch it, restart it, or give up. */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iso.h"
#include "iso_msg.h"

#define WATCH_MS      10   /* the watchdog's period */
#define INIT_TIMEOUT  5000 /* ms a host has for init (keys, files) */
#define REPLY_TIMEOUT 1000 /* ms for save, restore, show */

static struct nio_iso *all;
static struct event *watch_ev, *spawner_ev, *kick_ev;
static int kick_fd = -1; /* a worker's word that it took back a dead host's buffers */

/* netio-svchost sits beside netiod, in the build tree and once installed. */
static const char *host_path(void)
{
	static char path[PATH_MAX];
	char *slash;
	ssize_t n;

	if (path[0])
		return path;
	n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	if (n <= 0)
		return "netio-svchost";
	path[n] = '\0';
	slash = strrchr(path, '/');
	snprintf(slash ? slash + 1 : path, 32, "netio-svchost");
	return path;
}

static uint32_t pow2_at_least(uint64_t v)
{
	uint32_t p = 2;

	while (p < v)
		p <<= 1;
	return p;
}

static void ring_init(struct nio_ring *r, uint32_t slot_size, uint32_t slots)
{
	r->magic = NIO_RING_MAGIC;
	r->hdr_size = sizeof(*r);
	r->slot_size = slot_size;
	r->num_slots = slots;
}

/* The control area and its rings, in a memfd the host maps too. */
static int shm_create(struct nio_iso *iso, const struct nio_config *c, char *err, size_t errlen)
{
	uint32_t bufs = pow2_at_least((uint64_t)c->nworkers * NIO_ARENA_POOL);
	uint64_t off = nio_align_up(sizeof(struct nio_iso_shm), NIO_CACHELINE), o[5];
	const uint32_t slots[4] = { NIO_ISO_REQ, bufs, NIO_ISO_FILL, bufs };
	const uint32_t size[4] = { sizeof(struct nio_xent), sizeof(struct nio_xent), 4, 4 };
	char name[96];

	for (int i = 0; i < 4; i++) {
		o[i] = off;
		off = nio_align_up(off + sizeof(struct nio_ring) + (uint64_t)slots[i] * size[i],
				   NIO_CACHELINE);
	}
	o[4] = off; /* the buffers' metadata slots */
	off += (uint64_t)bufs * sizeof(struct nio_xmeta);
	snprintf(name, sizeof(name), "netio:iso:%s", iso->name);
	iso->shm_fd = memfd_create(name, MFD_CLOEXEC);
	if (iso->shm_fd < 0 || ftruncate(iso->shm_fd, (off_t)off) < 0)
		return nio_err(err, errlen, "isolate: memfd: %s", strerror(errno));
	iso->shm = mmap(NULL, off, PROT_READ | PROT_WRITE, MAP_SHARED, iso->shm_fd, 0);
	if (iso->shm == MAP_FAILED) {
		iso->shm = NULL;
		return nio_err(err, errlen, "isolate: mmap: %s", strerror(errno));
	}
	iso->shm_size = off;
	iso->nbufs = c->nworkers * NIO_ARENA_POOL;
	*iso->shm = (struct nio_iso_shm){ .magic = NIO_ISO_MAGIC,
					  .version = NIO_ISO_VERSION,
					  .nbufs = iso->nbufs,
					  .spin_ns = (uint64_t)c->spin_us * 1000,
					  .arena_size = nio_arena_size(),
					  .req_off = o[0],
					  .resp_off = o[1],
					  .fill_off = o[2],
					  .free_off = o[3],
					  .meta_off = o[4],
					  .resp_slots = bufs,
					  .free_slots = bufs,
					  .burst = c->burst };
	iso->req = nio_iso_ring(iso->shm, o[0]);
	iso->resp = nio_iso_ring(iso->shm, o[1]);
	iso->fill = nio_iso_ring(iso->shm, o[2]);
	iso->freer = nio_iso_ring(iso->shm, o[3]);
	iso->meta = nio_iso_meta(iso->shm);
	for (int i = 0; i < 4; i++)
		ring_init(nio_iso_ring(iso->shm, o[i]), size[i], slots[i]);
	iso->lent = calloc((iso->nbufs + 63) / 64, sizeof(uint64_t));
	iso->sent = calloc(NIO_ISO_REQ, sizeof(uint32_t));
	if (!iso->lent || !iso->sent)
		fatal("calloc");
	return 0;
}

/* The host runs as netiod's user, or nobody when netiod keeps root. */
static void host_user(const struct nio_config *c, uid_t *uid, gid_t *gid)
{
	const struct passwd *pw;

	if (c->privs.user[0]) {
		*uid = c->privs.uid;
		*gid = c->privs.gid;
		return;
	}
	pw = getpwnam("nobody");
	*uid = pw ? pw->pw_uid : 65534;
	*gid = pw ? pw->pw_gid : 65534;
}

/* Endpoint addresses the host's init declared (host->endpoint), 16 bytes each. */
static void take_endpoints(struct nio_iso *iso, const uint8_t *a, size_t len)
{
	for (size_t off = 0; off + 16 <= len; off += 16)
		iso->si->host->endpoint(iso->si->host, a + off);
}

/* The INIT exchange with a host just started: READY, or its error in err. */
static int handshake(struct nio_iso *iso, char *err, size_t errlen)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:I}", "instance", iso->name, "state_dir",
			      iso->state_dir, "conf", iso->conf_json, "mtu",
			      iso->si->host->out_mtu ? *iso->si->host->out_mtu : -1, "blob",
			      (json_int_t)iso->bloblen);
	char *s = json_dumps(j, JSON_COMPACT);
	uint32_t type = 0;
	size_t len = 0;
	void *data = NULL;
	int r = -1;

	json_decref(j);
	if (s && nio_iso_msg_send(iso->ctl_fd, NIO_ISO_M_INIT, s, strlen(s)) == 0 &&
	    (!iso->bloblen ||
	     nio_iso_msg_send(iso->ctl_fd, NIO_ISO_M_RESTORE, iso->blob, iso->bloblen) == 0) &&
	    nio_iso_msg_recv(iso->ctl_fd, &type, &data, &len, INIT_TIMEOUT) == 0) {
		if (type == NIO_ISO_M_READY) {
			take_endpoints(iso, data, len);
			r = 0;
		} else if (type == NIO_ISO_M_ERROR) {
			/* the host's words: one printable line in netiod's log and replies */
			for (char *c = data; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					*c = '?';
			nio_err(err, errlen, "%s", (char *)data);
		} else {
			nio_err(err, errlen, "isolate: unexpected message %u from the host", type);
		}
	} else {
		nio_err(err, errlen, "isolate: the host (pid %d) did not finish init", iso->pid);
	}
	free(s);
	free(data);
	return r;
}

static void on_ctl(evutil_socket_t fd, short ev, void *arg);

static void arm_ctl(struct nio_iso *iso)
{
	if (!iso->d->base || iso->ctl_fd < 0)
		return;
	iso->ev = event_new(iso->d->base, iso->ctl_fd, EV_READ | EV_PERSIST, on_ctl, iso);
	event_add(iso->ev, NULL);
}

static void close_ctl(struct nio_iso *iso)
{
	if (iso->ev)
		event_free(iso->ev);
	iso->ev = NULL;
	if (iso->ctl_fd >= 0)
		close(iso->ctl_fd);
	iso->ctl_fd = -1;
}

/* Start a host and run init in it (restore_state too, with the last state saved). */
static int start_host(struct nio_iso *iso, char *err, size_t errlen)
{
	int sv[2], fds[NIO_ISO_NFDS];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return nio_err(err, errlen, "isolate: socketpair: %s", strerror(errno));
	fds[0] = sv[1];
	fds[1] = iso->shm_fd;
	fds[2] = nio_arena_fd();
	fds[3] = iso->si->plugin->fd;
	fds[4] = iso->req_efd;
	fds[5] = iso->resp_efd;
	iso->pid = fds[2] < 0 ? -1 : nio_spawn(host_path(), iso->name, iso->uid, iso->gid, fds);
	iso->reaped = false;
	close(sv[1]);
	iso->ctl_fd = sv[0];
	if (iso->pid <= 0) {
		close_ctl(iso);
		return nio_err(err, errlen, "isolate: cannot start %s (no spawner?)", host_path());
	}
	if (handshake(iso, err, errlen) < 0) {
		nio_spawn_kill(iso->pid);
		close_ctl(iso);
		return -1;
	}
	iso->hb = __atomic_load_n(&iso->shm->heartbeat, __ATOMIC_ACQUIRE);
	iso->hb_ns = nio_now_ns();
	iso->killed = false;
	arm_ctl(iso);
	return 0;
}

void *nio_iso_create(struct netiod *d, struct nio_config *c, struct nio_pipeline *pl,
		     struct nio_svc_inst *si, char *err, size_t errlen)
{
	struct nio_iso *iso = calloc(1, sizeof(*iso));

	if (!iso)
		fatal("calloc");
	iso->d = d;
	iso->pl = pl;
	iso->si = si;
	iso->ctl_fd = iso->shm_fd = iso->req_efd = iso->resp_efd = -1;
	snprintf(iso->name, sizeof(iso->name), "%s/%s", pl->name, si->svc->name);
	snprintf(iso->state_dir, sizeof(iso->state_dir), "%s", si->host->state_dir);
	iso->req_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	iso->resp_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (iso->req_efd < 0 || iso->resp_efd < 0) {
		nio_err(err, errlen, "isolate: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (!(iso->conf_json = nio_conf_text(si->conf, err, errlen)) ||
	    shm_create(iso, c, err, errlen) < 0)
		goto fail;
	iso->shm->nctrs = 0;
	while (si->svc->counter_names && si->svc->counter_names[iso->shm->nctrs] &&
	       iso->shm->nctrs < NIO_MAX_SVC_CTRS)
		iso->shm->nctrs++;
	host_user(c, &iso->uid, &iso->gid);
	if (start_host(iso, err, errlen) < 0)
		goto fail;
	atomic_store(&iso->state, NIO_ISO_UP);
	iso->next = all;
	all = iso;
	si->iso = iso;
	log_info("%s: isolated in netio-svchost pid %d", iso->name, iso->pid);
	return iso;
fail:
	si->iso = iso; /* destroy finds it there */
	nio_iso_destroy(iso);
	return NULL;
}

/* A replace moved the instance's struct: its host's supervision follows. */
void nio_iso_moved(struct nio_svc_inst *si)
{
	if (si->iso)
		si->iso->si = si;
}

static void unlink_iso(struct nio_iso *iso)
{
	for (struct nio_iso **pp = &all; *pp; pp = &(*pp)->next)
		if (*pp == iso) {
			*pp = iso->next;
			return;
		}
}

static struct nio_pkt *pkt_at(const struct nio_iso *iso, uint32_t idx)
{
	return &iso->d->workers[idx / NIO_ARENA_POOL].pool.pkts[idx % NIO_ARENA_POOL];
}

/* Every buffer still lent to the host goes home (the workers are paused or stopped). */
static void free_lent(struct nio_iso *iso)
{
	for (uint32_t w = 0; iso->lent && w < (iso->nbufs + 63) / 64; w++)
		for (uint64_t b = iso->lent[w]; b; b &= b - 1)
			nio_worker_pkt_free(pkt_at(iso, w * 64 + (uint32_t)__builtin_ctzll(b)));
}

/* fini: the host sees its control socket close, runs fini and exits; a host that does not
 * within the reply timeout is killed. */
void nio_iso_destroy(struct nio_iso *iso)
{
	if (!iso)
		return;
	unlink_iso(iso);
	close_ctl(iso);
	if (iso->pid > 0 && nio_spawn_wait(iso->pid, REPLY_TIMEOUT) < 0)
		nio_spawn_kill(iso->pid);
	free_lent(iso);
	if (iso->shm)
		munmap(iso->shm, iso->shm_size);
	for (int *fd = &iso->shm_fd; fd <= &iso->resp_efd; fd++)
		if (*fd >= 0)
			close(*fd);
	if (iso->si)
		iso->si->iso = NULL;
	free(iso->lent);
	free(iso->sent);
	free(iso->blob);
	free(iso->conf_json);
	free(iso);
}

/* ------------------------------------------------------------------ faults */

static const char *fail_mode_name(const struct nio_iso *iso)
{
	return iso->pl->fail_mode == NIO_FAIL_SECURE ? "secure (dropped)"
						     : "passthrough (skip the service)";
}

/* The host is gone: its buffers go back by the owner worker, which then says RECLAIMED. */
static void host_gone(struct nio_iso *iso, const char *what)
{
	int up = NIO_ISO_UP;

	if (!atomic_compare_exchange_strong(&iso->state, &up, NIO_ISO_DOWN))
		return;
	/* a hang began at the last heartbeat seen, a crash about now */
	iso->gone_ns = nio_now_ns();
	iso->down_ns = iso->killed && iso->hb_ns ? iso->hb_ns : iso->gone_ns;
	close_ctl(iso);
	for (unsigned k = 0; k < iso->shm->nctrs; k++) { /* totals, until the next host's */
		iso->base[k] += iso->shm->ctrs[k];
		iso->shm->ctrs[k] = 0;
	}
	log_warnx("%s: host pid %d %s; its packets in flight follow fail-mode %s", iso->name,
		  iso->pid, what, fail_mode_name(iso));
	nio_worker_wake(&iso->d->workers[iso->pl->owner >= 0 ? iso->pl->owner : 0]);
}

static void on_ctl(evutil_socket_t fd, short ev, void *arg)
{
	struct nio_iso *iso = arg;
	uint32_t type;
	void *data;
	size_t len;

	(void)ev;
	if (nio_iso_msg_recv((int)fd, &type, &data, &len, REPLY_TIMEOUT) < 0) {
		host_gone(iso, iso->killed ? "was killed (hung)" : "is gone");
		return;
	}
	if (type == NIO_ISO_M_STATE) {
		free(iso->blob);
		iso->blob = data;
		iso->bloblen = len;
		return;
	}
	free(data);
}

static void signal_name(int sig, char *buf, size_t len)
{
	const char *n = sigabbrev_np(sig);

	snprintf(buf, len, "signal %d (SIG%s)%s", sig, n ? n : "?",
		 sig == SIGSYS ? ": seccomp stopped a system call outside its allow-list" : "");
}

/* The spawner's report of how a host ended: the reason for the log and 'service list'. */
void nio_iso_exited(pid_t pid, int status)
{
	char how[128];

	for (struct nio_iso *iso = all; iso; iso = iso->next) {
		if (iso->pid != pid)
			continue;
		if (WIFSIGNALED(status))
			signal_name(WTERMSIG(status), how, sizeof(how));
		else
			snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
		if (iso->killed)
			snprintf(iso->why + strlen(iso->why), sizeof(iso->why) - strlen(iso->why),
				 ", killed");
		else
			snprintf(iso->why, sizeof(iso->why), "host pid %d ended: %s", pid, how);
		log_warnx("%s: host pid %d ended: %s", iso->name, pid, how);
		host_gone(iso, "ended");
		iso->reaped = true;
		nio_iso_kick(); /* its buffers may be back already: restart it now */
		return;
	}
}

/* Erlang's supervisor rule: more than intensity restarts within period and it stays down. */
static bool over_limit(struct nio_iso *iso, uint64_t now)
{
	unsigned n = iso->si->isoc.intensity;

	if (!n)
		return true;
	return iso->nstarts >= n &&
	       now - iso->starts[(iso->nstarts - n) % NIO_ISO_MAX_STARTS] < iso->si->isoc.period_ns;
}

static void restart(struct nio_iso *iso, uint64_t now)
{
	char err[256];

	if (over_limit(iso, now)) {
		atomic_store(&iso->state, NIO_ISO_FAILED);
		snprintf(iso->limit, sizeof(iso->limit), "%u restarts within %llu ms: stays down",
			 iso->si->isoc.intensity,
			 (unsigned long long)(iso->si->isoc.period_ns / 1000000));
		log_warnx("%s: more than %u restarts within %llu ms: not restarted; pipeline '%s' "
			  "stays in fail-mode %s until a reload or replace",
			  iso->name, iso->si->isoc.intensity,
			  (unsigned long long)(iso->si->isoc.period_ns / 1000000), iso->pl->name,
			  fail_mode_name(iso));
		return;
	}
	iso->starts[iso->nstarts++ % NIO_ISO_MAX_STARTS] = now;
	iso->restarts++;
	if (start_host(iso, err, sizeof(err)) < 0) {
		log_warnx("%s: restart %u failed: %s", iso->name, iso->restarts, err);
		snprintf(iso->why, sizeof(iso->why), "restart failed: %s", err);
		return; /* still RECLAIMED: the next turn tries again, within the limit */
	}
	/* a plugin that carries a counter in its state (restore_state) shows it again: the
	 * base only makes up the difference, nothing is counted twice (as stats.c on reload) */
	for (unsigned k = 0; k < iso->shm->nctrs; k++)
		iso->base[k] =
			iso->base[k] > iso->shm->ctrs[k] ? iso->base[k] - iso->shm->ctrs[k] : 0;
	iso->recover_ns = nio_now_ns() - iso->down_ns;
	atomic_store_explicit(&iso->state, NIO_ISO_UP, memory_order_release);
	log_info("%s: restarted as pid %d, %.1f ms after the fault (restart %u)", iso->name,
		 iso->pid, (double)iso->recover_ns / 1e6, iso->restarts);
	nio_worker_wake(&iso->d->workers[iso->pl->owner >= 0 ? iso->pl->owner : 0]);
}

/* Work waiting (requests, or a host not asleep) and no heartbeat for watchdog: hung. */
static void watch_one(struct nio_iso *iso, uint64_t now)
{
	uint64_t hb = __atomic_load_n(&iso->shm->heartbeat, __ATOMIC_ACQUIRE);
	bool asleep = __atomic_load_n(&iso->shm->h_asleep, __ATOMIC_ACQUIRE);
	bool work =
		nio_ring_load_acquire(&iso->req->head) != nio_ring_load_acquire(&iso->req->tail);

	if (iso->si->host->out_mtu)
		iso->shm->out_mtu = *iso->si->host->out_mtu;
	if (iso->corrupt && !iso->killed) {
		snprintf(iso->why, sizeof(iso->why), "host pid %d broke its rings' indices",
			 iso->pid);
		log_warnx("%s: %s: killing it", iso->name, iso->why);
		iso->killed = true;
		nio_spawn_kill(iso->pid);
		return;
	}
	/* the clock runs only while the host owes a turn: asleep with nothing queued, it owes none */
	if (hb != iso->hb || (!work && asleep)) {
		iso->hb = hb;
		iso->hb_ns = now;
		return;
	}
	if (iso->killed || now - iso->hb_ns < iso->si->isoc.watchdog_ns)
		return;
	snprintf(iso->why, sizeof(iso->why), "host pid %d hung: no heartbeat for %llu ms", iso->pid,
		 (unsigned long long)((now - iso->hb_ns) / 1000000));
	log_warnx("%s: %s: killing it", iso->name, iso->why);
	iso->killed = true;
	nio_spawn_kill(iso->pid);
}

/* The watchdog ticks only while isolated instances exist: without one an idle netiod's control
 * thread would still wake 100 times a second. */
static void watch_arm(void)
{
	static const struct timeval tick = { 0, WATCH_MS * 1000 };

	if (watch_ev && all && !evtimer_pending(watch_ev, NULL))
		evtimer_add(watch_ev, &tick);
}

static void on_watch(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t now = nio_now_ns();

	(void)fd;
	(void)ev;
	(void)arg;
	for (struct nio_iso *iso = all; iso; iso = iso->next) {
		int st = atomic_load_explicit(&iso->state, memory_order_acquire);

		/* a new host once the spawner has reported the old one's end (its exit status is
		 * the fault's reason), or a second after it went (a report lost) */
		if (st == NIO_ISO_UP)
			watch_one(iso, now);
		else if (st == NIO_ISO_RECLAIMED &&
			 (iso->reaped || now - iso->gone_ns > REPLY_TIMEOUT * 1000000ull))
			restart(iso, now);
	}
	watch_arm();
}

/* A worker reclaimed a dead host's buffers, or the spawner reported its end: restart it now,
 * not at the next tick. */
static void on_kick(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t v;

	(void)!read((int)fd, &v, sizeof(v));
	on_watch(fd, ev, arg);
}

void nio_iso_kick(void)
{
	uint64_t one = 1;

	if (kick_fd >= 0)
		(void)!write(kick_fd, &one, sizeof(one));
}

static void on_spawner(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	nio_spawner_read();
}

/* Once the event loop exists: the watchdog, the spawner's reports, each host's socket. */
void nio_iso_arm(struct netiod *d, struct nio_config *c)
{
	if (!d->base)
		return;
	if (!watch_ev && nio_spawner_fd() >= 0) {
		watch_ev = evtimer_new(d->base, on_watch, NULL);
		spawner_ev = event_new(d->base, nio_spawner_fd(), EV_READ | EV_PERSIST, on_spawner,
				       NULL);
		event_add(spawner_ev, NULL);
		kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (kick_fd >= 0) {
			kick_ev = event_new(d->base, kick_fd, EV_READ | EV_PERSIST, on_kick, NULL);
			event_add(kick_ev, NULL);
		}
	}
	for (unsigned i = 0; i < c->npipelines; i++)
		for (unsigned s = 0; s < c->pipelines[i].nsvcs; s++) {
			struct nio_iso *iso = c->pipelines[i].svcs[s].iso;

			if (iso && !iso->ev && iso->ctl_fd >= 0)
				arm_ctl(iso);
		}
	watch_arm();
}

/* ------------------------------------------------------------------ the control verbs */

const uint64_t *nio_iso_counters(struct nio_iso *iso)
{
	for (unsigned k = 0; k < iso->shm->nctrs; k++)
		iso->view[k] = iso->base[k] + iso->shm->ctrs[k];
	return iso->view;
}

/* Ask the host for a reply of type want to a request; only while it is up. */
static int ask(struct nio_iso *iso, uint32_t req, const void *data, size_t len, uint32_t want,
	       void **reply, size_t *rlen)
{
	uint32_t type;

	if (atomic_load(&iso->state) != NIO_ISO_UP || iso->ctl_fd < 0 ||
	    nio_iso_msg_send(iso->ctl_fd, req, data, len) < 0)
		return -1;
	while (nio_iso_msg_recv(iso->ctl_fd, &type, reply, rlen, REPLY_TIMEOUT) == 0) {
		if (type == want)
			return 0;
		if (type == NIO_ISO_M_STATE) { /* a periodic one crossed the request */
			free(iso->blob);
			iso->blob = *reply;
			iso->bloblen = *rlen;
			continue;
		}
		free(*reply);
	}
	*reply = NULL;
	return -1;
}

/* The host's state now, or else the last it sent (a host that is down has nothing newer). */
int nio_iso_save(struct nio_iso *iso, void **blob, size_t *len)
{
	if (ask(iso, NIO_ISO_M_SAVE, NULL, 0, NIO_ISO_M_STATE, blob, len) == 0)
		return 0;
	if (!iso->blob)
		return -1;
	*blob = malloc(iso->bloblen);
	if (!*blob)
		return -1;
	memcpy(*blob, iso->blob, iso->bloblen);
	*len = iso->bloblen;
	return 0;
}

int nio_iso_restore(struct nio_iso *iso, const void *blob, size_t len)
{
	void *r = NULL;
	size_t rlen = 0;
	int ok;

	/* kept for a restart too: a host restarted before it sends its own starts from it */
	free(iso->blob);
	iso->blob = malloc(len);
	iso->bloblen = iso->blob ? len : 0;
	if (iso->blob)
		memcpy(iso->blob, blob, len);
	if (ask(iso, NIO_ISO_M_RESTORE, blob, len, NIO_ISO_M_RESTORED, &r, &rlen) < 0)
		return -1;
	ok = rlen == 1 && *(uint8_t *)r == 0;
	free(r);
	return ok ? 0 : -1;
}

/* The host's show() text (nio_iso_msg_recv NUL-terminates it), or NULL. */
char *nio_iso_show(struct nio_iso *iso)
{
	void *r = NULL;
	size_t rlen = 0;

	if (ask(iso, NIO_ISO_M_SHOW, NULL, 0, NIO_ISO_M_SHOW_REPLY, &r, &rlen) < 0 || !rlen) {
		free(r);
		return NULL;
	}
	return r;
}

static const char *state_name(int st)
{
	switch (st) {
	case NIO_ISO_UP:
		return "up";
	case NIO_ISO_DOWN:
	case NIO_ISO_RECLAIMED:
		return "restarting";
	default:
		return "failed";
	}
}

json_t *nio_iso_json(const struct nio_iso *iso)
{
	double w = iso->xpkts ? (double)iso->xcyc / (double)iso->xpkts : 0;
	double h = iso->shm->host_xpkts ? (double)iso->shm->host_xcyc / (double)iso->shm->host_xpkts
					: 0;

	/* crossing_per_packet: the rings' own cost on each side (TSC cycles on x86-64), the
	 * plugin's time and the rest of the pipeline excluded */
	char why[sizeof(iso->why) + sizeof(iso->limit) + 2];

	snprintf(why, sizeof(why), "%s%s%s", iso->why, iso->limit[0] ? "; " : "", iso->limit);
	return json_pack("{s:s, s:b, s:i, s:s, s:i, s:s, s:f, s:I, s:I, s:{s:f, s:f}}", "instance",
			 iso->name, "isolated", 1, "pid", (int)iso->pid, "state",
			 state_name(atomic_load(&iso->state)), "restarts", (int)iso->restarts,
			 "why", why, "last_recovery_ms", (double)iso->recover_ns / 1e6,
			 "bad_descriptors", (json_int_t)iso->bad_desc, "copied",
			 (json_int_t)iso->copied, "crossing_per_packet", "worker", w, "host", h);
}

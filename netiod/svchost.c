/* netio-svchost: runs one isolated service instance for netiod, behind its sandbox. */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "iso_msg.h"
#include "svchost.h"

/*
 * Started by netiod's spawner with its descriptors at fixed numbers (isolate.h):
 *   netio-svchost PIPELINE/SERVICE UID GID
 * It maps the control area and the packet arena, dlopens the plugin netiod loaded (the same
 * private copy), runs init with the block netiod sent, sandboxes itself and then serves the
 * rings until its control socket closes (fini, exit). It writes to stderr only: netiod's.
 */
#define STATE_EVERY_NS 100000000ull /* a save_state blob to netiod this often while busy */
#define SLEEP_MAX_MS   100

static char instance[128];
static uint8_t endpoints[16 * 64];
static size_t nendpoints;

static void __attribute__((format(printf, 2, 3))) host_log(int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "<%d>netio-svchost[%s]: %s\n", prio, instance, msg);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)nio_iso_msg_send(NIO_ISO_FD_CTL, NIO_ISO_M_ERROR, msg, strlen(msg));
	fprintf(stderr, "<3>netio-svchost[%s]: %s\n", instance, msg);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int icmp_src(const struct nio_pkt *p, uint8_t family, uint8_t *out)
{
	(void)p;
	(void)family;
	(void)out;
	return -1; /* the ports' addresses stay in netiod */
}

static void endpoint(const struct nio_host *h, const uint8_t addr[16])
{
	(void)h;
	if (nendpoints < sizeof(endpoints) / 16)
		memcpy(endpoints + 16 * nendpoints++, addr, 16);
}

static struct nio_host host = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_host),
	.log = host_log,
	.pkt_free = svchost_pkt_free,
	.now_ns = now_ns,
	.pkt_alloc = svchost_pkt_alloc,
	.icmp_src = icmp_src,
	.endpoint = endpoint,
	.icmp_too_big = svchost_icmp_too_big,
	.isolated = 1,
};

static void *map_fd(int fd, size_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);

	if (m == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	close(fd);
	return m;
}

static void map_all(void)
{
	struct stat st;

	if (fstat(NIO_ISO_FD_SHM, &st) < 0 || (size_t)st.st_size < sizeof(struct nio_iso_shm))
		die("no control area");
	H.shm = map_fd(NIO_ISO_FD_SHM, (size_t)st.st_size);
	if (H.shm->magic != NIO_ISO_MAGIC || H.shm->version != NIO_ISO_VERSION)
		die("control area of another version");
	H.arena = map_fd(NIO_ISO_FD_ARENA, H.shm->arena_size);
	H.nbufs = H.shm->nbufs;
	if ((uint64_t)H.nbufs * NIO_PKT_BUF_SIZE > H.shm->arena_size)
		die("more buffers than the arena holds");
	H.req = nio_iso_ring(H.shm, H.shm->req_off);
	H.resp = nio_iso_ring(H.shm, H.shm->resp_off);
	H.fill = nio_iso_ring(H.shm, H.shm->fill_off);
	H.freer = nio_iso_ring(H.shm, H.shm->free_off);
	if (H.shm->meta_off + (uint64_t)H.nbufs * sizeof(struct nio_xmeta) > (uint64_t)st.st_size)
		die("the control area has no room for the buffers' slots");
	H.meta = nio_iso_meta(H.shm);
	svchost_view_init();
	H.pkts = calloc(H.nbufs, sizeof(*H.pkts));
	H.too_big = calloc(H.nbufs, sizeof(*H.too_big));
	H.asked = calloc(H.nbufs, sizeof(*H.asked));
	if (!H.pkts || !H.too_big || !H.asked)
		die("out of memory");
	for (uint32_t i = 0; i < H.nbufs; i++)
		H.pkts[i].buf = H.arena + (size_t)i * NIO_PKT_BUF_SIZE;
}

/* The same plugin netiod loaded: its private copy, by descriptor. */
static void load_plugin(void)
{
	char path[64], sym[160];
	const char *svc = strrchr(instance, '/');
	void *dl;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", NIO_ISO_FD_PLUGIN);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl)
		die("dlopen: %s", dlerror());
	snprintf(sym, sizeof(sym), "%s%s", svc ? svc + 1 : instance, NIO_SERVICE_SYMBOL_SUFFIX);
	H.svc = dlsym(dl, sym);
	if (!H.svc || H.svc->abi_version != NIO_SERVICE_ABI_VERSION ||
	    H.svc->size != sizeof(struct nio_service) || !H.svc->init || !H.svc->process)
		die("%s: no usable '%s'", path, sym);
}

static void *recv_or_die(uint32_t want, size_t *len)
{
	uint32_t type;
	void *data;

	if (nio_iso_msg_recv(NIO_ISO_FD_CTL, &type, &data, len, 5000) < 0 || type != want)
		die("expected message %u from netiod", want);
	return data;
}

static const char *str_of(json_t *j, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(j, key));

	return v ? v : def;
}

/* INIT (and RESTORE): the instance as netiod would have made it. */
static char *init_instance(void)
{
	static char state_dir[256];
	char err[256] = "";
	size_t len;
	char *msg = recv_or_die(NIO_ISO_M_INIT, &len);
	json_t *j = json_loads(msg, 0, NULL), *conf;
	json_int_t bloblen = json_integer_value(json_object_get(j, "blob"));

	free(msg);
	if (!j)
		die("bad INIT");
	snprintf(state_dir, sizeof(state_dir), "%s", str_of(j, "state_dir", ""));
	conf = json_loads(str_of(j, "conf", "{}"), 0, NULL);
	/* netiod keeps the port's MTU current in the control area (ports open after init) */
	H.shm->out_mtu = (int32_t)json_integer_value(json_object_get(j, "mtu"));
	host.out_mtu = H.shm->out_mtu < 0 ? NULL : &H.shm->out_mtu; /* -1: no `out` port */
	host.state_dir = state_dir;
	host.instance = instance;
	svchost_conf_ops(&host);
	H.inst = H.svc->init(&host, svchost_conf(conf), err, sizeof(err));
	if (!H.inst)
		die("%s", err[0] ? err : "init failed");
	if (bloblen > 0) {
		void *blob = recv_or_die(NIO_ISO_M_RESTORE, &len);

		if (!H.svc->restore_state || H.svc->restore_state(H.inst, blob, len) < 0)
			host_log(LOG_WARNING, "the state handed over was refused");
		free(blob);
	}
	json_decref(j);
	return state_dir;
}

static void send_state(void)
{
	void *blob = NULL;
	size_t len = 0;

	if (H.svc->save_state && H.svc->save_state(H.inst, &blob, &len) == 0 && blob)
		(void)nio_iso_msg_send(NIO_ISO_FD_CTL, NIO_ISO_M_STATE, blob, len);
	free(blob);
}

static void __attribute__((noreturn)) finish(void)
{
	H.svc->fini(H.inst);
	exit(0);
}

/* A request from netiod on the control socket (or its end: finish). */
static void control(void)
{
	char *text;
	uint32_t type;
	void *data;
	size_t len;
	uint8_t refused;

	if (nio_iso_msg_recv(NIO_ISO_FD_CTL, &type, &data, &len, 1000) < 0)
		finish();
	switch (type) {
	case NIO_ISO_M_SAVE:
		send_state();
		if (!H.svc->save_state)
			(void)nio_iso_msg_send(NIO_ISO_FD_CTL, NIO_ISO_M_STATE, NULL, 0);
		break;
	case NIO_ISO_M_RESTORE:
		refused = !H.svc->restore_state || H.svc->restore_state(H.inst, data, len) < 0;
		(void)nio_iso_msg_send(NIO_ISO_FD_CTL, NIO_ISO_M_RESTORED, &refused, 1);
		break;
	case NIO_ISO_M_SHOW:
		text = H.svc->show ? nio_show_whole(H.svc->show, H.inst) : NULL;
		(void)nio_iso_msg_send(NIO_ISO_FD_CTL, NIO_ISO_M_SHOW_REPLY, text,
				       text ? strlen(text) : 0);
		free(text);
		break;
	default:
		break;
	}
	free(data);
}

static void publish_counters(void)
{
	const uint64_t *v = H.svc->counters ? H.svc->counters(H.inst) : NULL;

	for (uint32_t k = 0; v && k < H.shm->nctrs && k < 64; k++)
		__atomic_store_n(&H.shm->ctrs[k], v[k], __ATOMIC_RELAXED);
}

static unsigned process(uint64_t now, uint64_t *next)
{
	struct nio_pkt *pkts[NIO_BURST_MAX], *taken[NIO_BURST_MAX];
	uint8_t verdicts[NIO_BURST_MAX];
	unsigned n, burst = H.shm->burst ? H.shm->burst : 32, room = svchost_room(burst), m = 0;
	uint64_t t0 = nio_iso_clock(), t1, plugin = 0;

	n = svchost_take(pkts, burst < room ? burst : room);
	if (n) {
		memcpy(taken, pkts, n * sizeof(pkts[0]));
		t1 = nio_iso_clock();
		memset(verdicts, NIO_V_PASS, n);
		H.svc->process(H.inst, pkts, (uint16_t)n, verdicts);
		plugin += nio_iso_clock() - t1; /* the plugin's own time is not the crossing's */
		svchost_answer(pkts, taken, verdicts, n);
		H.shm->host_xpkts += n;
	}
	if (H.svc->dequeue) {
		t1 = nio_iso_clock();
		room = svchost_room(burst);
		m = H.svc->dequeue(H.inst, now, pkts, (uint16_t)(burst < room ? burst : room),
				   next);
		plugin += nio_iso_clock() - t1;
		svchost_release(pkts, m);
	}
	/* the rings' own work of the turn, the doorbell owed included */
	svchost_flush(!n, false);
	if (!n && !m)
		return 0;
	H.shm->host_xcyc += nio_iso_clock() - t0 - plugin;
	H.shm->host_pcyc += plugin;
	publish_counters();
	return n + m;
}

/* Nothing to do for spin_ns: say so in the request ring's flags and sleep on its doorbell. */
static void sleep_idle(uint64_t now, uint64_t next)
{
	struct pollfd pf[2] = { { .fd = NIO_ISO_FD_REQ, .events = POLLIN },
				{ .fd = NIO_ISO_FD_CTL, .events = POLLIN } };
	int ms = SLEEP_MAX_MS;
	uint64_t v;

	if (next && next <= now)
		ms = 0;
	else if (next && (next - now) / 1000000 < SLEEP_MAX_MS)
		ms = (int)((next - now) / 1000000);
	__atomic_store_n(&H.shm->h_asleep, 1, __ATOMIC_RELAXED);
	/* pairs with netiod's fence after publishing head: it rings, or this sees the requests;
	 * and with the worker's before its last look at the answers (the bell still owed) */
	nio_iso_fence();
	svchost_flush(true, true);
	if (nio_ring_load_acquire(&H.req->head) == H.req->tail && ms)
		poll(pf, 2, ms);
	__atomic_store_n(&H.shm->h_asleep, 0, __ATOMIC_RELAXED);
	if (pf[0].revents & POLLIN)
		(void)!read(NIO_ISO_FD_REQ, &v, sizeof(v));
	if (pf[1].revents & (POLLIN | POLLHUP))
		control();
}

static void __attribute__((noreturn)) serve(void)
{
	uint64_t last_busy = now_ns(), last_state = last_busy, next = 0;
	bool dirty = false;

	for (unsigned turn = 0;; turn++) {
		uint64_t now = now_ns();
		struct pollfd pf = { .fd = NIO_ISO_FD_CTL, .events = POLLIN };

		__atomic_store_n(&H.shm->heartbeat, H.shm->heartbeat + 1, __ATOMIC_RELEASE);
		if (process(now, &next)) {
			last_busy = now;
			dirty = true;
		}
		if (dirty && now - last_state > STATE_EVERY_NS) {
			send_state();
			last_state = now;
			dirty = false;
		}
		if (!(turn & 255) && poll(&pf, 1, 0) > 0)
			control();
		if (now - last_busy > H.shm->spin_ns && !(next && next <= now + 50000))
			sleep_idle(now, next);
	}
}

int main(int argc, char **argv)
{
	char why[256];
	const char *state_dir;
	uid_t uid;
	gid_t gid;

	if (argc != 4) {
		fprintf(stderr,
			"usage: netio-svchost PIPELINE/SERVICE UID GID (started by netiod)\n");
		return 1;
	}
	snprintf(instance, sizeof(instance), "%s", argv[1]);
	map_all();
	load_plugin();
	uid = (uid_t)strtoul(argv[2], NULL, 10);
	gid = (gid_t)strtoul(argv[3], NULL, 10);
	if (svchost_become(uid, gid, why, sizeof(why)) < 0)
		die("sandbox: %s", why);
	state_dir = init_instance();
	if (svchost_sandbox(uid, gid, state_dir, why, sizeof(why)) < 0)
		die("sandbox: %s", why);
	publish_counters(); /* what restore_state brought back, before netiod reads them */
	if (nio_iso_msg_send(NIO_ISO_FD_CTL, NIO_ISO_M_READY, endpoints, 16 * nendpoints) < 0)
		exit(1);
	serve();
}

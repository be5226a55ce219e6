/* netiod's structures and, per file, the functions each file offers the others. */
#ifndef NETIOD_H
#define NETIOD_H

#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <syslog.h>

#include <netio/pkt.h>
#include <netio/service.h>

/* version.c: VERSION and the git commit, made at build time */
extern const char nio_version[];
#define NETIOD_VERSION	  nio_version
#define NIO_NAME_MAX	  32
#define NIO_MAX_PORTS	  32
#define NIO_MAX_PIPELINES 64
#define NIO_MAX_SVCS	  8  /* services per pipeline */
#define NIO_MAX_SVC_CTRS  64 /* a service's counters carried over a reload (counter_names) */
#define NIO_MAX_PREFIXES  8
#define NIO_MAX_WORKERS	  64
#define NIO_MAX_ENDPOINTS 64 /* tunnel / SA end addresses services terminate */

#define NIO_CONF_MAX_BYTES (1 << 20) /* a larger config file is refused before parsing */

/* Reasons the daemon itself drops a packet (services count their own reasons). */
#define foreach_nio_drop                  \
	_(TRUNC_L2, "truncated-l2")       \
	_(TRUNC_IP, "truncated-ip")       \
	_(BAD_VERSION, "bad-ip-version")  \
	_(BAD_IHL, "bad-ihl")             \
	_(BAD_LEN, "bad-ip-length")       \
	_(BAD_CSUM, "bad-ip-checksum")    \
	_(TRUNC_L4, "truncated-l4")       \
	_(BAD_OPTIONS, "bad-ip-options")  \
	_(BAD_FRAG, "bad-fragment")       \
	_(BAD_UDP_LEN, "bad-udp-length")  \
	_(BAD_TCP_OFF, "bad-tcp-offset")  \
	_(LINK_SCOPE, "link-scope-dst")   \
	_(BROADCAST, "broadcast-dst")     \
	_(L2_BCAST, "l2-broadcast")       \
	_(OVERSIZE, "oversize")           \
	_(TTL, "ttl-exceeded")            \
	_(NO_ROUTE, "no-route")           \
	_(NEIGH_MISS, "neigh-miss")       \
	_(MTU, "mtu-exceeded")            \
	_(SERVICE, "service")             \
	_(NO_BUFFER, "no-buffer")         \
	_(TX_FULL, "tx-full")             \
	_(PORT_DOWN, "port-down")         \
	_(BLACKHOLE, "blackhole")         \
	_(UNREACHABLE, "unreachable")     \
	_(PROHIBIT, "prohibit")           \
	_(RING_FULL, "rx-ring-full")      \
	_(NEIGH_TIMEOUT, "neigh-timeout") \
	_(SERVICE_DOWN, "service-down")

enum nio_drop {
#define _(sym, str) NIO_DROP_##sym,
	foreach_nio_drop
#undef _
		NIO_DROP_MAX
};
extern const char *const nio_drop_names[NIO_DROP_MAX];

/* ---------------------------------------------------------------- addresses and matching */

struct nio_prefix {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d, like nio_flow_key */
	uint8_t len;	  /* prefix length in the 128-bit space (IPv4 /24 is stored as 96 + 24) */
	uint8_t family;	  /* 4 or 6 */
};

struct nio_match {
	int in_port;	/* port index or -1 for any */
	uint8_t proto;	/* 0 = any */
	uint8_t family; /* 0 = any, 4, 6 */
	uint8_t nsrc, ndst;
	struct nio_prefix src[NIO_MAX_PREFIXES];
	struct nio_prefix dst[NIO_MAX_PREFIXES];
	uint16_t sport_lo, sport_hi; /* 0..65535 = any */
	uint16_t dport_lo, dport_hi;
};

/* ---------------------------------------------------------------- packet pool (pool.c) */

struct nio_pool {
	unsigned id;	       /* the worker owning it: its packets carry it in owner */
	struct nio_pkt *pkts;  /* all packet descriptors */
	struct nio_pkt **free; /* stack of free descriptors */
	uint32_t nfree, size;
	uint8_t *mem;
	bool shared; /* mem is the worker's slice of the packet arena (arena.c) */
};

/* A packet taken for reuse (pool, region, a driver's RX): an empty frame at off into its
 * buffer and no metadata left from its previous use. */
static inline void nio_pkt_reset(struct nio_pkt *p, uint32_t off)
{
	p->data = p->buf + off;
	p->len = 0;
	p->flags = 0;
	p->l3_off = p->l4_off = 0;
	p->out_port = NIO_PORT_NONE;
	p->flow = NULL;
	p->svc_state = NULL;
	p->user = 0;
	p->claim_hint = 0;
}

/* ---------------------------------------------------------------- buffer regions (region.c) */

#define NIO_MAX_REGIONS	       8
#define NIO_REGION_WORKER_BUFS 16384u /* region buffers one worker may own, all regions */

/* A worker's free buffers of a region: indices, pushed and popped by that worker alone. */
struct nio_region_list {
	uint32_t n;
	uint32_t *idx;
};

/*
 * Packet buffers a port driver owns (AF_XDP: the UMEM). Buffer i is bytes [i * buf_size,
 * (i + 1) * buf_size) of mem and has descriptor pkts[i] (region = id + 1, buf_idx = i). A
 * buffer is on one worker's free list or out (in a driver's ring, the kernel, or in flight as
 * a packet); freed, it returns to the list of the worker that took it (pkts[i].owner).
 */
struct nio_region {
	char name[NIO_NAME_MAX];
	uint16_t id;
	uint8_t *mem;
	size_t size;
	uint32_t buf_size, nbufs;
	unsigned nworkers;
	unsigned refs; /* ports using it (control thread) */
	struct nio_pkt *pkts;
	uint8_t *home;	      /* home[i]: buffer i is on a free list */
	uint64_t double_puts; /* a buffer freed while already home: counted, not listed twice */
	uint32_t shares[NIO_MAX_WORKERS]; /* buffers each worker owns */
	struct nio_region_list free[NIO_MAX_WORKERS];
};

/* ---------------------------------------------------------------- ports (port_*.c) */

struct nio_port;
struct nio_config;

/* Counters are kept per worker (each written by its worker only) and summed when read. */
struct nio_port_stats {
	_Alignas(64) uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t rx_unclaimed; /* received but matched no pipeline: left to the kernel */
	uint64_t rx_ignored;   /* not IPv4/IPv6 (ARP, LLDP...): left to the kernel */
	uint64_t drops[NIO_DROP_MAX];
	uint64_t poll_errors;  /* the port's fd reported an error while the worker slept */
	uint64_t flows_hinted; /* new flows classified by the claim id the driver read */
	/* afpacket: times the kernel froze the full RX ring (with drops[NIO_DROP_RING_FULL]:
	 * what the kernel dropped before netiod saw it; from ring_stats, once a second) */
	uint64_t rx_ring_freezes;
	/* frames copied between buffers on the way in (ring -> pool) and out (packet -> TX
	 * ring); a buffer handed over in place (AF_XDP RX, TX within one region) is not */
	uint64_t rx_copies, tx_copies;
};

/* What the kernel counted on a worker's RX ring of a port since the last ring_stats call. */
struct nio_ring_stats {
	uint64_t rx_full;    /* frames dropped: the ring was full (tp_drops, rx_dropped_full) */
	uint64_t rx_freezes; /* afpacket: times the ring was frozen full (tp_freeze_q_cnt) */
};

/*
 * What a pipeline asks a port driver to take from the kernel for netiod on one port (claims.c
 * builds them from the configuration; a driver with set_claims installs them: netio.ko's claim
 * table, an XDP map). One claim per (src, dst, proto) combination of a pipeline's match.
 */
struct nio_claim {
	uint32_t id;	/* NIO_CLAIM_ID(pipeline index, index within the pipeline) */
	uint8_t family; /* 4 or 6; 0: both */
	uint8_t proto;	/* 0: any */
	bool has_src, has_dst;
	uint8_t src_len, dst_len;    /* in the family's own bits (IPv4 0-32, IPv6 0-128) */
	uint8_t src[16], dst[16];    /* IPv4 as ::ffff:a.b.c.d, like nio_prefix */
	uint16_t sport_lo, sport_hi; /* 0-65535: any */
	uint16_t dport_lo, dport_hi;
	uint8_t fail_mode; /* enum nio_fail_mode */
};

#define NIO_CLAIM_ID(pl, i)    ((uint32_t)(pl) << 16 | (uint16_t)(i))
#define NIO_CLAIM_PIPELINE(id) ((id) >> 16)
#define NIO_CLAIM_INDEX(id)    ((id)&0xffffu)

/* Bytes of a port's driver-private parsed options (port->opts). */
#define NIO_PORT_OPTS_SIZE 576
/* nio_opt.flags of a driver option that is also a top-level option: the value given there is
 * every port's default (kernel-forwarding). */
#define NIO_OPT_F_GLOBAL 0x100u
/* nio_port_ops.flags: the driver reads and writes files, not a network device, so 'device' is
 * optional and never locked, and two such ports may name the same one (pcap). */
#define NIO_DRV_F_NO_DEVICE 0x1u
/* one port of this netiod at a time on a device (afxdp: a queue takes one AF_XDP socket) */
#define NIO_DRV_F_EXCLUSIVE 0x2u

/*
 * A port driver: one entry of the driver table (drivers.c). open/close run on the control
 * thread; rx_burst/tx_burst/flush on workers.
 * open sets port->nqueues: a driver that can give each worker its own RX and TX queue
 * (afpacket: one socket per worker in a fanout group) keeps the nworkers the host put there
 * and serves queue nio_worker_self() in rx_burst, tx_burst, flush and fd; a driver with one
 * queue (kmod, pcap) sets 1 and is then polled by one worker and sent on under port->tx_lock.
 * Counters go to nio_port_stats(port), the calling worker's row. rx_burst fills up to max packets taken from pool (data at
 * buf + NIO_PKT_HEADROOM, len, ts_ns set), or, with a buffer region of its own, hands over
 * its RX buffers in place, and returns how many. tx_burst sends the frames and returns how
 * many it accepted; the caller frees every packet either way, but for those the driver set to
 * NULL in pkts: it keeps them (a buffer of its region moved to its TX ring, freed when the
 * device has sent it).
 *
 * Configuration (control thread): the driver declares the port-block options it takes
 * (options, checked by config.c like a service's) and parse turns the validated block into
 * its own struct in port->opts (zeroed, NIO_PORT_OPTS_SIZE bytes): a reload keeps a port open
 * when name, device, driver and those bytes are unchanged, so parse writes them
 * deterministically (the same file, the same bytes).
 */
struct nio_port_ops {
	const char *name;
	/* capabilities open() needs (NIO_CAP bits): netiod keeps them when it drops privileges,
	 * for ports a reload adds and for reopening a port whose device came back (privs.c) */
	uint64_t caps;
	uint32_t flags; /* NIO_DRV_F_* */
	const struct nio_opt *options;
	/* optional: fill port->opts from conf; -1 with a message in err (config.c prefixes
	 * file:line) */
	int (*parse)(struct nio_port *port, const struct nio_conf *conf, char *err, size_t errlen);
	/* optional, netiod -t -v: the options worth showing, as " name value" words */
	void (*dump)(const struct nio_port *port, FILE *out);
	/* optional: can driver = "auto" use this driver on this host? why says what was found
	 * (drivers without it are never picked by auto) */
	bool (*probe)(char *why, size_t len);
	/* optional: what the port reads when it has no device (pcap: the input file) */
	const char *(*source)(const struct nio_port *port);
	/* optional, netiod -t and start: the host's settings this port cannot work with (afpacket:
	 * the kernel forwarding what netiod forwards) */
	int (*check_host)(const struct nio_config *c, const struct nio_port *port, char *err,
			  size_t errlen);
	/* optional, claims (claims.c): can the driver take these n claims? On -1, err says why
	 * and *refused is the first claim it refuses (n: not about one claim). Runs without the
	 * port open (netiod -t). */
	int (*check_claims)(const struct nio_port *port, const struct nio_claim *claims, unsigned n,
			    unsigned *refused, char *err, size_t errlen);
	/* optional: replace the port's claims with these (checked before); a driver with it keeps
	 * unclaimed traffic from netiod and claimed traffic from the kernel (not a tap) */
	int (*set_claims)(struct nio_port *port, const struct nio_claim *claims, unsigned n,
			  char *err, size_t errlen);
	int (*open)(struct nio_port *port, char *err, size_t errlen);
	void (*close)(struct nio_port *port);
	uint16_t (*rx_burst)(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
			     uint16_t max);
	uint16_t (*tx_burst)(struct nio_port *port, struct nio_pkt **pkts, uint16_t n);
	void (*flush)(struct nio_port *port); /* optional: push out batched TX */
	int (*fd)(struct nio_port *port);     /* pollable for POLLIN when RX is ready, or -1 */
	bool (*eof)(struct nio_port *port);   /* optional: input exhausted (pcap) */
	/* optional, worker: fd() reported POLLERR. Clear a transient error (0: the port goes
	 * on) or say the port is dead (-1: the worker stops polling it). Without it: dead. */
	int (*poll_error)(struct nio_port *port);
	/* optional, worker (about once a second): the kernel's drops on the worker's RX ring
	 * since the last call; the worker adds them to its row */
	void (*ring_stats)(struct nio_port *port, struct nio_ring_stats *out);
};

struct nio_port {
	char name[NIO_NAME_MAX];
	char device[IFNAMSIZ];
	char driver[16];		/* as configured: a driver's name or auto */
	const struct nio_port_ops *ops; /* the driver (auto: the one picked at load) */
	void *priv;
	uint16_t id; /* index in the configuration's port array */
	int line;    /* of its block in the config file, for errors found when it opens */
	int ifindex;
	int mtu;
	uint8_t mac[6];
	bool has_v4, has_v6;
	struct in_addr addr4; /* the port's own addresses, source of ICMP errors */
	struct in6_addr addr6;
	/* directed broadcast addresses of the port's IPv4 subnets: never forwarded */
	unsigned nbcast4;
	struct in_addr bcast4[NIO_MAX_PREFIXES];
	/* driver = "auto": what the probes found, logged when the port opens */
	char auto_why[160];
	/* the driver's parsed options (nio_port_ops.parse), opaque here */
	_Alignas(16) unsigned char opts[NIO_PORT_OPTS_SIZE];
	unsigned nqueues;    /* RX/TX queues: the workers', or 1 (see nio_port_ops) */
	unsigned rx_worker;  /* nqueues == 1: the worker that polls the port */
	bool tx_shared;	     /* fewer queues than workers: senders take tx_lock */
	atomic_flag tx_lock; /* one sender at a time, per burst (never per packet) */
	unsigned refs; /* configurations using this port (a reload keeps unchanged ports open) */
	bool open;
	bool locked; /* holds the device lock (devlock.c) */
	/* the device or netio.ko binding went away: the worker no longer polls the port and a
	 * reload opens it afresh; set by the worker (poll error) or the control thread (event) */
	atomic_bool gone;
	bool deleted; /* control thread: the device was deleted; one of its name reopens the port */
	struct nio_port_stats stats[NIO_MAX_WORKERS]; /* row w written by worker w only */
};

/* A port with fewer queues than workers is sent on by one worker at a time: a lock per burst. */
static inline void nio_port_tx_lock(struct nio_port *p)
{
	if (!p->tx_shared)
		return;
	/* acquire: pairs with the release in unlock, the previous sender's ring writes */
	while (atomic_flag_test_and_set_explicit(&p->tx_lock, memory_order_acquire))
		sched_yield(); /* the holder may be preempted on a loaded machine */
}

static inline void nio_port_tx_unlock(struct nio_port *p)
{
	if (p->tx_shared)
		atomic_flag_clear_explicit(&p->tx_lock, memory_order_release);
}

static inline uint16_t nio_port_tx(struct nio_port *p, struct nio_pkt **pkts, uint16_t n)
{
	uint16_t sent;

	nio_port_tx_lock(p);
	sent = p->ops->tx_burst(p, pkts, n);
	nio_port_tx_unlock(p);
	return sent;
}

extern const struct nio_port_ops nio_port_afpacket_ops;
extern const struct nio_port_ops nio_port_pcap_ops;
extern const struct nio_port_ops nio_port_kmod_ops;
extern const struct nio_port_ops nio_port_afxdp_ops;

/* ---------------------------------------------------------------- services (service.c) */

struct nio_plugin {
	char name[NIO_NAME_MAX];
	char path[256];
	const struct nio_service *svc;
	void *dl;      /* dlopen handle, NULL for built-ins */
	int fd;	       /* the private copy dl was opened from (service.c), -1 for built-ins */
	unsigned refs; /* instances in the running configuration */
	struct nio_plugin *next;
};

/* An isolated instance's supervision (isolate = true in its service block). */
struct nio_iso_conf {
	bool isolate;
	unsigned intensity; /* restarts allowed within period before it stays down */
	uint64_t period_ns;
	uint64_t watchdog_ns; /* no heartbeat for this long while it has work: hung */
};

struct nio_iso;

struct nio_svc_stats {
	_Alignas(64) uint64_t packets, bytes, passed, dropped, consumed, dequeued;
};

struct nio_svc_inst {
	struct nio_plugin *plugin;
	const struct nio_service *svc;
	void *inst;
	void *conf_block;      /* cfg_t * of the service block, owned by the config */
	struct nio_conf *conf; /* service.c: accessor handle over conf_block */
	struct nio_host *host; /* the host table given to init, freed after fini */
	size_t state_off;      /* offset of this service's per-flow state in the flow's blob */
	struct nio_svc_stats stats[NIO_MAX_WORKERS]; /* row w written by worker w */
	/* what the instances this one replaced had counted (stats.c): added to counters() */
	uint64_t ctr_base[NIO_MAX_SVC_CTRS];
	struct nio_iso_conf isoc; /* the block's isolate options (config.c) */
	struct nio_iso *iso;	  /* isolate.c: the child running it, NULL: in netiod */
};

enum nio_fail_mode { NIO_FAIL_SECURE = 0, NIO_FAIL_PASSTHROUGH = 1 };

struct nio_pipeline_stats {
	_Alignas(64) uint64_t packets, bytes, tx_packets, tx_bytes;
	uint64_t neigh_queued; /* held until the kernel resolved the next hop (pending.c) */
	uint64_t
		icmp_errors; /* ICMP/ICMPv6 errors sent back (time exceeded, too big, unreachable) */
	uint64_t icmp_suppressed; /* errors RFC 1812 4.3.2.7 / RFC 4443 2.4(e) forbid */
	uint64_t drops[NIO_DROP_MAX];
};

struct nio_pipeline {
	char name[NIO_NAME_MAX];
	uint16_t id;
	int line;
	struct nio_match match;
	unsigned nsvcs;
	struct nio_svc_inst svcs[NIO_MAX_SVCS];
	int out_port; /* -1: the port the route says */
	bool has_via;
	uint8_t via[16];
	bool has_dst_mac;
	uint8_t dst_mac[6];
	bool no_ttl; /* do not decrement TTL / hop limit (bridging-like pipelines) */
	enum nio_fail_mode fail_mode;
	uint32_t table; /* the kernel routing table its route lookups use (254: main) */
	size_t flow_state_size;
	/* the worker that runs every packet of the pipeline (a service of it is not declared
	 * NIO_SVC_F_MT_SAFE: packets are handed to it), or -1: the worker that received it */
	int owner;
	struct nio_pipeline_stats stats[NIO_MAX_WORKERS];
	struct nio_capture *_Atomic capture; /* capture.c: set by control, used by the worker */
};

/* ---------------------------------------------------------------- claim hints (claims.c) */

/* What one claim's id in a packet (nio_pkt.claim_hint) tells the classifier. */
struct nio_hint {
	struct nio_match match; /* the claim as a match on its port */
	int pipeline; /* the classifier's answer for every packet the claim takes, or -1: an earlier
		       * pipeline may match some of them */
};

/* A port's claims in one configuration; pipeline P's are v[first[P]] .. v[first[P + 1] - 1]. */
struct nio_hints {
	unsigned first[NIO_MAX_PIPELINES + 1];
	struct nio_hint v[];
};

/* ---------------------------------------------------------------- privileges (privs.c) */

#define NIO_CAP(c) (1ull << (c)) /* a capability (CAP_NET_RAW...) as a bit of a set */

/* Who netiod runs as once its ports and sockets are open, and its seccomp filter. */
struct nio_privs {
	char user[NIO_NAME_MAX];      /* "" = no change of user */
	char group[NIO_NAME_MAX];     /* "" = the user's primary group */
	char ctl_group[NIO_NAME_MAX]; /* group of the control socket, "" = netiod's own */
	uid_t uid;
	gid_t gid, ctl_gid;
	bool seccomp;
};

/* ---------------------------------------------------------------- configuration (config.c) */

/* poll = ...: SLEEP spins spin_us, then sleeps in poll(2); BUSY never sleeps; NAPI is BUSY
 * with the afxdp ports' sockets in busy-poll mode (the worker runs the device's receive) */
enum nio_poll { NIO_POLL_SLEEP, NIO_POLL_BUSY, NIO_POLL_NAPI };

/* worker-sched = ...: the workers' policy (SCHED_OTHER, SCHED_FIFO, SCHED_RR) and priority
 * (1-99), or for SCHED_OTHER their nice value (wsched.c) */
struct nio_wsched {
	int policy;
	int prio;
};

struct nio_config {
	uint64_t generation;
	char file[256];
	unsigned nports;
	struct nio_port *ports[NIO_MAX_PORTS];
	unsigned npipelines;
	struct nio_pipeline pipelines[NIO_MAX_PIPELINES];
	unsigned flow_table_size;
	unsigned flow_idle_ms;
	unsigned burst;
	unsigned spin_us;  /* busy-poll this long after the last packet before sleeping */
	unsigned workers;  /* as configured: 0 = auto */
	unsigned nworkers; /* workers running (fixed from start to exit) */
	bool any_dequeue;  /* a service holds packets: the worker asks for them every turn */
	/* how an idle worker waits (poll = ...) */
	enum nio_poll poll;
	struct nio_wsched wsched; /* worker-sched: read at start, like workers */
	/* egress[i]: the shaper every packet leaving port i goes through (port ... { qos { } }),
	 * a one-service stage named "egress:<port>"; NULL for an unshaped port */
	struct nio_pipeline *egress[NIO_MAX_PORTS];
	bool any_iso; /* a service is isolated: its owner polls for its answers */
	/* per port whose driver takes claims: what its claim hints mean (claims.c), else NULL */
	struct nio_hints *hints[NIO_MAX_PORTS];
	/* addresses services terminate (host->endpoint), treated as the gateway's own */
	unsigned nendpoints;
	uint8_t endpoints[NIO_MAX_ENDPOINTS][16];
	char control_socket[108];
	char state_dir[256];
	char metrics_listen[64]; /* "address:port" of the Prometheus endpoint, "" = off */
	unsigned ctl_max_conns;	 /* control connections open at once */
	unsigned ctl_idle_ms;	 /* a control connection with nothing to do is closed */
	struct nio_privs privs;	 /* read at start, like metrics-listen */
	void *cfg;		 /* cfg_t * the service blocks point into */
	void *schema;		 /* config.c: the libConfuse schema built from the loaded plugins */
};

/* ---------------------------------------------------------------- flows (flow.c) */

struct nio_flow {
	struct nio_flow_key key;
	uint32_t hash;
	int16_t pipeline; /* index, or -1 = unclaimed */
	uint16_t out_port;
	uint8_t dst_mac[6];
	bool attached;	    /* its services' flow_attach ran (the pipeline runs on this worker) */
	bool l2_ok;	    /* dst_mac/out_port resolved for l2_dst in this fib generation */
	uint8_t l2_dst[16]; /* the destination they were resolved for: a service (tunnel decap)
			     * may send one flow's packets to different destinations */
	uint64_t fib_gen;
	uint64_t last_ns;
	uint64_t packets, bytes;
	struct nio_flow *next; /* hash chain */
	uint8_t *state;	       /* per-service state blob (pipeline->flow_state_size) */
};

struct nio_flow_table {
	struct nio_flow **buckets;
	struct nio_flow *entries;
	struct nio_flow *free_list;
	uint8_t *state_mem;
	size_t state_stride;
	uint32_t nbuckets, capacity, count;
	uint32_t expire_next; /* the bucket nio_flow_expire_some looks at next */
	uint64_t lookups, hits, inserts, evictions;
};

/* ---------------------------------------------------------------- L2 next hops (neigh.c) */

/* An immutable snapshot of the kernel's routes and neighbours, published to workers. */
#define NIO_RT_TABLE_MAIN 254

/* What a route does with a packet; the reject types are the kernel's RTN_BLACKHOLE & co. */
enum nio_rt_type { NIO_RT_UNICAST, NIO_RT_BLACKHOLE, NIO_RT_UNREACHABLE, NIO_RT_PROHIBIT };

/* One next hop of a multipath route; upper is its hash-threshold bound (fib_rebalance). */
struct nio_fib_nh {
	uint8_t gw[16];
	bool has_gw;
	int ifindex;
	uint32_t upper;
};

struct nio_fib_route {
	struct nio_prefix dst;
	uint8_t type; /* enum nio_rt_type */
	uint8_t gw[16];
	bool has_gw;
	int ifindex;
	uint32_t table;
	uint32_t priority;
	uint32_t nh, nnh; /* nnh > 1: multipath, next hops nhs[nh, nh + nnh); else gw/ifindex */
};

struct nio_fib_neigh {
	uint8_t addr[16];
	int ifindex;
	uint8_t mac[6];
};

struct nio_fib {
	uint64_t generation;
	unsigned nroutes, nneighs, nnhs;
	struct nio_fib_route *routes; /* sorted: longest prefix first */
	struct nio_fib_nh *nhs;
	struct nio_fib_neigh *neighs; /* sorted by addr (memcmp), then ifindex */
};

/* ---------------------------------------------------------------- neighbour wait (pending.c) */

#define NIO_PENDING_HOPS    16 /* next hops being resolved at once */
#define NIO_PENDING_PER_HOP 8  /* packets per next hop (the kernel's unres_qlen is a few) */
#define NIO_PENDING_TOTAL   64

struct nio_pending_hop {
	uint8_t addr[16];
	int ifindex;
	uint64_t deadline_ns;
	unsigned n;
	struct nio_pkt *pkts[NIO_PENDING_PER_HOP]; /* out_port set, L2 not yet rewritten */
	struct nio_pipeline *pls[NIO_PENDING_PER_HOP];
};

/* Worker-owned: only the worker (or the control thread while it is paused) touches it. */
struct nio_pending {
	struct nio_pending_hop hops[NIO_PENDING_HOPS];
	unsigned total;
};

/* ---------------------------------------------------------------- handoff rings (handoff.c) */

/* Single producer, single consumer ring of packet pointers between two workers. */
struct nio_pktring {
	_Alignas(64) atomic_uint head; /* written by the producer */
	_Alignas(64) atomic_uint tail; /* written by the consumer */
	_Alignas(64) unsigned mask;
	struct nio_pkt **slots;
};

#define NIO_HANDOFF_RING  4096u /* packets in flight from one worker to another */
#define NIO_HANDOFF_BATCH 32u	/* staged per destination before one ring write */

/* ---------------------------------------------------------------- worker (worker.c) */

/* Packets a worker stages for another one, written to the shared ring once per batch. */
struct nio_stage {
	uint16_t n;
	struct nio_pkt *pkts[NIO_HANDOFF_BATCH];
};

struct nio_worker_stats {
	_Alignas(64) uint64_t handoff_out; /* packets handed to another worker */
	uint64_t handoff_in;		   /* packets taken from other workers */
	uint64_t handoff_full;		   /* dropped: the destination's ring was full */
	uint64_t returned;		   /* foreign buffers sent back to their pool */
};

struct nio_worker {
	pthread_t thread;
	bool started;
	unsigned id;
	int cpu;	      /* pinned to this CPU, -1: not pinned */
	int wake_fd;	      /* eventfd: control or another worker -> this worker */
	atomic_bool sleeping; /* in poll(): a producer must write wake_fd */
	_Atomic(struct nio_config *) cfg;
	_Atomic(struct nio_fib *) fib;
	atomic_bool stop;
	atomic_int pause_req;
	atomic_int paused;
	atomic_uint_fast64_t loops;
	struct nio_pool pool;
	struct nio_flow_table flows;
	struct nio_config *cur_cfg; /* the configuration the flow table was built for */
	/* in[i]: packets worker i hands to this one; back[i]: buffers of this worker's pool that
	 * worker i is done with (sized for the pool and the worker's region buffers, so it never
	 * overflows) */
	struct nio_pktring in[NIO_MAX_WORKERS], back[NIO_MAX_WORKERS];
	struct nio_stage out_stage[NIO_MAX_WORKERS], back_stage[NIO_MAX_WORKERS];
	/* next-hop addresses the worker could not resolve, for the control thread to ask the
	 * kernel about (single producer: worker, single consumer: control) */
	uint8_t miss_addr[64][16];
	int miss_ifindex[64];
	atomic_uint miss_head, miss_tail;
	int miss_fd; /* eventfd: worker -> control */
	struct nio_pending pending;
	uint64_t idle_sleeps, busy_loops;
	struct nio_worker_stats stats;
	atomic_int sched_done; /* worker-sched applied (1) or refused (-1, sched_err says why) */
	char sched_err[192];
};

/* The worker index of the calling thread (log.c; 0 on the control thread). */
extern _Thread_local unsigned nio_self;

static inline unsigned nio_worker_self(void)
{
	return nio_self;
}

static inline struct nio_port_stats *nio_port_stats(struct nio_port *p)
{
	return &p->stats[nio_self];
}

/* ---------------------------------------------------------------- the daemon (netiod.c) */

struct netiod {
	char conf_file[256];
	char plugin_dir[256];
	char state_dir[256];
	char socket_path[108];
	bool check_only, verbose, foreground;
	bool ctl_read_only; /* control requests may only read (used by the control fuzzer) */
	struct nio_plugin *plugins;
	struct nio_config *running;
	unsigned nworkers;
	unsigned pause_timeout_ms; /* a worker not quiescent by then is reported hung */
	struct nio_worker workers[NIO_MAX_WORKERS];
	struct event_base *base;
	void *control;	   /* control.c state */
	void *neigh;	   /* neigh.c state */
	void *metrics;	   /* metrics.c state */
	void *kmod_events; /* kmod_events.c state */
	uint64_t start_ns;
	uint64_t reloads, reload_failures;
	char last_error[512];
};

extern const struct nio_host nio_host_ops;

/* log.c */
void log_init(int debug);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
uint64_t nio_now_ns(void);
int nio_err(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* addr.c */
int nio_prefix_parse(const char *s, struct nio_prefix *p);
int nio_addr_parse(const char *s, uint8_t out[16], uint8_t *family);
bool nio_prefix_contains(const struct nio_prefix *p, const uint8_t addr[16]);
void nio_addr_format(const uint8_t a[16], char *buf, size_t len);
int nio_mac_parse(const char *s, uint8_t mac[6]);
void nio_addr_from_v4(uint8_t out[16], const void *v4);
bool nio_is_port_addr(const struct nio_config *c, uint8_t family, const uint8_t addr[16]);
int nio_hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port);
int nio_hostport_bindable(const char *s, char *why, size_t len);
bool nio_is_own_addr(const struct nio_config *c, uint8_t family, const uint8_t addr[16]);
void nio_bcast4_add(struct nio_port *port, const void *addr4, unsigned plen);

/* text.c */
size_t nio_utf8_len(const unsigned char *s);
struct json_t *nio_json_text(const char *s); /* a JSON string of any bytes (\xNN escapes) */

/* units.c */
int nio_parse_rate(const char *s, unsigned long long *bps);
int nio_parse_size(const char *s, unsigned long long *bytes);
int nio_parse_time(const char *s, unsigned long long *ns);
int nio_parse_int(const char *s, long long *v);
int nio_parse_bool(const char *s, bool *v);
bool nio_enum_ok(const char *choices, const char *word);
int nio_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);
int nio_parse_rt_table(const char *s, uint32_t *id);

/* stats.c: per-worker rows summed for the control socket and /metrics */
void nio_port_stats_sum(const struct nio_port *p, unsigned nworkers, struct nio_port_stats *out);
bool nio_svc_is_gauge(const struct nio_service *s, const char *counter);
void nio_pipeline_stats_sum(const struct nio_pipeline *pl, unsigned nworkers,
			    struct nio_pipeline_stats *out);
void nio_svc_stats_sum(const struct nio_svc_inst *si, unsigned nworkers, struct nio_svc_stats *out);
/* counter k of a service, counters() values v: with what replaced instances had counted */
uint64_t nio_svc_counter(const struct nio_svc_inst *si, const uint64_t *v, unsigned k);
/* The totals of a replaced pipeline / service instance carry on in its successor. */
void nio_pipeline_stats_carry(const struct nio_pipeline *from, struct nio_pipeline *to);
void nio_svc_stats_carry(const struct nio_svc_inst *from, struct nio_svc_inst *to);

/* arena.c: every worker's pool in one memfd that isolated services map */
int nio_arena_fd(void);
size_t nio_arena_size(void);
int nio_pool_init_shared(struct nio_pool *pool, unsigned id);

/* spawn.c: the process that starts isolated services' hosts for the confined netiod */
int nio_spawner_start(void);
int nio_spawner_fd(void);
void nio_spawner_read(void);
pid_t nio_spawn(const char *path, const char *name, uid_t uid, gid_t gid, const int *fds);
void nio_spawn_kill(pid_t pid);
int nio_spawn_wait(pid_t pid, int timeout_ms);

/* service.c: an instance's control verbs wherever it runs; netiod's own service options */
extern const struct nio_opt nio_svc_host_opts[];
struct json_t *nio_conf_json(const struct nio_conf *c);
char *nio_conf_text(const struct nio_conf *c, char *err, size_t errlen); /* for a host */
const uint64_t *nio_svc_counters(const struct nio_svc_inst *si);
/* The plugin's show() text, whole (malloc()ed); NULL: none */
char *nio_svc_show(const struct nio_svc_inst *si);
/* The instance's parts through the plugin's objects(); false (nothing emitted) for a plugin
 * without them or an isolated instance, whose parts stay in its host. */
bool nio_svc_objects(const struct nio_svc_inst *si,
		     void (*emit)(void *ctx, const struct nio_obj *o), void *ctx);
int nio_svc_save(const struct nio_svc_inst *si, void **blob, size_t *len);
int nio_svc_restore(struct nio_svc_inst *si, const void *blob, size_t len);

/* isolate.c: isolated instances on the control thread (start, watchdog, restart) */
void *nio_iso_create(struct netiod *d, struct nio_config *c, struct nio_pipeline *pl,
		     struct nio_svc_inst *si, char *err, size_t errlen);
void nio_iso_destroy(struct nio_iso *iso);
void nio_iso_moved(struct nio_svc_inst *si);
void nio_iso_arm(struct netiod *d, struct nio_config *c);
void nio_iso_exited(pid_t pid, int status);
void nio_iso_kick(void); /* a worker: a host's buffers are back, restart it (any thread) */
const uint64_t *nio_iso_counters(struct nio_iso *iso);
int nio_iso_save(struct nio_iso *iso, void **blob, size_t *len);
int nio_iso_restore(struct nio_iso *iso, const void *blob, size_t len);
char *nio_iso_show(struct nio_iso *iso);
struct json_t *nio_iso_json(const struct nio_iso *iso);

struct pollfd;
/* iso_path.c: isolated instances on the owner worker (send a burst, collect verdicts) */
void nio_iso_send(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl, unsigned s,
		  struct nio_pkt **pkts, uint16_t n);
unsigned nio_iso_poll(struct nio_worker *w, struct nio_config *c);
unsigned nio_iso_sleep_fds(struct nio_worker *w, struct nio_config *c, struct pollfd *fds,
			   unsigned max, bool *pending);
void nio_iso_woken(struct nio_worker *w, struct nio_config *c, const struct pollfd *fds,
		   unsigned n);

/* pool.c */
int nio_pool_init(struct nio_pool *pool, uint32_t size);
void nio_pool_fini(struct nio_pool *pool);
struct nio_pkt *nio_pool_get(struct nio_pool *pool);
void nio_pool_put(struct nio_pool *pool, struct nio_pkt *p);

/* region.c */
struct nio_region *nio_region_create(const char *name, uint32_t nbufs, uint32_t buf_size,
				     unsigned nworkers, char *err, size_t errlen);
struct nio_region *nio_region_adopt(const char *name, void *mem, uint32_t nbufs, uint32_t buf_size,
				    unsigned nworkers, const uint8_t *busy, char *err,
				    size_t errlen);
void nio_region_take(struct nio_region *r, const uint8_t *busy);
struct nio_region *nio_region_of(const struct nio_pkt *p);
struct nio_pkt *nio_region_pkt(struct nio_region *r, uint64_t off);
struct nio_pkt *nio_region_get(struct nio_region *r, unsigned w);
void nio_region_put(struct nio_region *r, struct nio_pkt *p);
uint32_t nio_region_home(const struct nio_region *r);
struct nio_region *nio_region_ref(struct nio_region *r);
void nio_region_unref(struct nio_region *r);
void nio_regions_collect(bool all);

/* parse.c */
int nio_parse(struct nio_pkt *p); /* 0 ok, -1 not IP (ignore), else NIO_DROP_* + 1 */
uint32_t nio_flow_hash(const struct nio_flow_key *k);

/* classify.c */
bool nio_match_pkt(const struct nio_match *m, const struct nio_flow_key *k);
int nio_classify(const struct nio_config *c, const struct nio_flow_key *k);
int nio_classify_local(const struct nio_config *c, const struct nio_flow_key *k);
int nio_classify_hint(const struct nio_config *c, const struct nio_pkt *p);
int nio_classify_flow(const struct nio_config *c, const struct nio_flow_key *k);

/* flow.c */
int nio_flow_table_init(struct nio_flow_table *t, uint32_t capacity, size_t state_stride);
void nio_flow_table_fini(struct nio_flow_table *t);
struct nio_flow *nio_flow_lookup(struct nio_flow_table *t, const struct nio_flow_key *k,
				 uint32_t hash);
struct nio_flow *nio_flow_insert(struct nio_flow_table *t, const struct nio_flow_key *k,
				 uint32_t hash, uint64_t now_ns,
				 void (*evict_cb)(struct nio_flow *, void *), void *arg);
void nio_flow_remove(struct nio_flow_table *t, struct nio_flow *f);
unsigned nio_flow_expire(struct nio_flow_table *t, uint64_t now_ns, uint64_t idle_ns,
			 void (*cb)(struct nio_flow *, void *), void *arg);
unsigned nio_flow_expire_some(struct nio_flow_table *t, uint32_t nb, uint64_t now_ns,
			      uint64_t idle_ns, void (*cb)(struct nio_flow *, void *), void *arg);
void nio_flow_flush(struct nio_flow_table *t, void (*cb)(struct nio_flow *, void *), void *arg);

/* guard.c */
int nio_guard_forward(const struct nio_config *c, const struct nio_pkt *p);
bool nio_guard_icmp(const struct nio_config *c, const struct nio_pkt *p, bool too_big);

/* l2.c */
int nio_l2_rewrite(struct nio_pkt *p, const struct nio_port *out, const uint8_t dst_mac[6]);
int nio_ttl_decrement(struct nio_pkt *p); /* 0 ok, -1 expired */
int nio_icmp_time_exceeded(struct nio_pkt *p, const struct nio_port *in);
int nio_icmp_too_big(struct nio_pkt *p, const struct nio_port *in, uint32_t mtu);
int nio_icmp_dest_unreach(struct nio_pkt *p, const struct nio_port *in, uint8_t code4,
			  uint8_t code6);

/* fib.c */
int nio_fib_lookup(const struct nio_fib *fib, uint32_t table, const uint8_t dst[16], uint32_t hash,
		   int *ifindex, uint8_t nexthop[16]);
uint32_t nio_fib_multipath_hash(const struct nio_flow_key *k);
void nio_fib_rebalance(struct nio_fib_nh *nhs, const unsigned *weights, unsigned n);
const struct nio_fib_neigh *nio_fib_neigh(const struct nio_fib *fib, const uint8_t addr[16],
					  int ifindex);
const struct nio_fib_route *nio_fib_route(const struct nio_fib *fib, uint32_t table,
					  const uint8_t dst[16]);

/* config.c */
struct nio_config *nio_config_load(struct netiod *d, const char *file, const char *buf, char *err,
				   size_t errlen);
const struct nio_opt *nio_opt_find(const struct nio_opt *o, const char *name);
int nio_opt_check(const struct nio_opt *o, const char *v, char *why, size_t len);
int nio_config_check_block(struct nio_config *c, const struct nio_svc_inst *si, char *err,
			   size_t errlen);
void nio_config_free(struct nio_config *c);
void nio_config_assign_owners(struct nio_config *c);
unsigned nio_workers_auto(void);
extern const char *const nio_poll_names[]; /* enum nio_poll order */
void nio_config_dump(const struct nio_config *c, FILE *out);
int nio_proto_parse(const char *v); /* "tcp", "icmp"... or 1-255; -1 if neither */

/* service.c */
int nio_plugin_load(struct netiod *d, const char *path, struct nio_plugin **out, char *err,
		    size_t errlen);
int nio_plugin_check(const struct nio_service *s, const char *name, char *err, size_t errlen);
int nio_plugin_load_dir(struct netiod *d, const char *dir);
struct nio_plugin *nio_plugin_find(struct netiod *d, const char *name);
int nio_plugin_unload(struct netiod *d, const char *name, char *err, size_t errlen);
int nio_plugin_open(const char *path, struct nio_plugin **out, char *err, size_t errlen);
void nio_plugin_close(struct nio_plugin *p);
void nio_plugin_unlink(struct netiod *d, struct nio_plugin *p);
/* the accessors plugins get, over a port block for its driver's options (config.c) */
struct nio_conf *nio_conf_open(void *cfg, const struct nio_opt *schema);
void nio_conf_close(struct nio_conf *conf);
const char *nio_conf_str(const struct nio_conf *conf, const char *name);
long long nio_conf_int(const struct nio_conf *conf, const char *name);
void nio_svc_inst_fini(struct nio_svc_inst *si);
void *nio_service_init(struct netiod *d, struct nio_config *c, struct nio_pipeline *pl,
		       struct nio_svc_inst *si, char *err, size_t errlen);
void nio_pipeline_fini(struct nio_pipeline *pl);

/* device.c */
int nio_dev_info(struct nio_port *port, char *err, size_t errlen);
void nio_dev_addrs(struct nio_port *port);

/* offload.c: turn off (or, with refuse, only report) what makes AF_PACKET see merged frames */
int nio_offloads_fix(const struct nio_port *port, bool refuse, char *err, size_t errlen);

/* devlock.c: one netiod per device and network namespace (control thread) */
int nio_devlock_get(const char *dev, char *err, size_t errlen);
void nio_devlock_put(const char *dev);

/* taps.c: ports the kernel also receives (afpacket, pcap): forwarding sysctls, secure */
bool nio_port_is_tap(const struct nio_port *port);
int nio_tap_check_forwarding(const struct nio_config *c, const struct nio_port *port, char *err,
			     size_t errlen);
int nio_config_check_forwarding(const struct nio_config *c, char *err, size_t errlen);
void nio_config_warn_taps(const struct nio_config *c);
unsigned nio_pipeline_taps(const struct nio_config *c, const struct nio_pipeline *pl,
			   const struct nio_port **taps, unsigned max);

/* port_pcap.c: its parsed options (port->opts), for tests that open a port without a file */
struct nio_pcap_opts {
	char in[256];  /* replayed as received, "" for none */
	char out[256]; /* sent frames, "" for none */
};

/* port_kmod.c: its parsed options (port->opts), for tools that open a port without a file */
struct nio_kmod_opts {
	uint32_t ring_slots; /* 0: the module's default */
	/* how long netio.ko keeps the rings, claims and queued packets without netiod */
	uint32_t hold_ms;
};

uint32_t nio_kmod_bind_id(const struct nio_port *port);
void nio_kmod_keep_bindings(void); /* on exit: closing a port keeps its binding */

/* port_afxdp.c */
bool nio_afxdp_zerocopy(const struct nio_port *port);
#define NIO_XDP_NSTATS 5 /* the XDP program's counters (netio_xdp.h, enum nio_xdp_stat) */
void nio_afxdp_xdp_stats(const struct nio_port *port, uint64_t *out);

/* xdp_prog.c: the afxdp port's XDP program and its maps (control thread) */
enum {
	NIO_XDP_MAP_CLAIMS,
	NIO_XDP_MAP_CONF,
	NIO_XDP_MAP_XSKS,
	NIO_XDP_MAP_LOCAL,
	NIO_XDP_MAP_STATS,
	NIO_XDP_NMAPS
};

struct nio_xdp {
	int map[NIO_XDP_NMAPS]; /* fds, -1 when not open */
	int prog_fd;		/* the program's, to detach it without looking it up by id */
	uint32_t prog_id;
	int mode; /* enum xdp_attach_mode: native, or generic where the driver has no XDP */
	int ifindex;
	char pin[256]; /* where the claims map is pinned */
};

int nio_xdp_attach(struct nio_xdp *x, const struct nio_port *port, char *err, size_t errlen);
void nio_xdp_detach(struct nio_xdp *x);
void nio_xdp_keep_programs(void);
int nio_xdp_obj_path(char *path, size_t len);
int nio_xdp_set_xsk(struct nio_xdp *x, unsigned queue, int fd);
void nio_xdp_set_local(struct nio_xdp *x);
int nio_xdp_set_claims(struct nio_xdp *x, const struct nio_port *port,
		       const struct nio_claim *claims, unsigned n, char *err, size_t errlen);
int nio_xdp_check_claims(const struct nio_port *port, const struct nio_claim *claims, unsigned n,
			 unsigned *refused, char *err, size_t errlen);
void nio_xdp_stats(const struct nio_xdp *x, uint64_t *out);

/* kmod_events.c */
void nio_kmod_events_sync(struct netiod *d);
void nio_kmod_events_fini(struct netiod *d);

/* drivers.c: the driver table, in the order driver = "auto" tries them */
extern const struct nio_port_ops *const nio_drivers[];
const struct nio_port_ops *nio_driver_find(const char *name);
const struct nio_port_ops *nio_driver_auto(char *why, size_t len);
void nio_driver_names(char *buf, size_t len);

/* claims.c */
int nio_claims_build(const struct nio_config *c, const struct nio_port *port,
		     struct nio_claim **out, unsigned *n, char *err, size_t errlen);
int nio_config_check_claims(const struct nio_config *c, char *err, size_t errlen);
int nio_port_set_claims(struct nio_port *port, const struct nio_config *c, char *err,
			size_t errlen);
int nio_config_set_claims(const struct nio_config *c, char *err, size_t errlen);
int nio_config_hints(struct nio_config *c);
void nio_config_hints_free(struct nio_config *c);

/* port.c */
const char *nio_port_source(const struct nio_port *port);
/* The port of old that nio_config_open_ports will keep in place of p, or NULL. */
struct nio_port *nio_port_reusable(const struct nio_config *old, const struct nio_port *p);
int nio_config_open_ports(struct nio_config *c, const struct nio_config *old, char *err,
			  size_t errlen);
void nio_port_put(struct nio_port *p);
void nio_port_device_state(struct netiod *d, struct nio_port *p, int ifindex);

/* pipeline.c */
/* Where a packet leaves: the port, and the next hop it needs a MAC address for. */
struct nio_hop {
	uint16_t out;
	const uint8_t *mac;
	uint8_t nh[16];
	int ifindex;
	bool cached; /* from the flow's cache: nh is not known */
};
int nio_next_hop(const struct nio_config *c, const struct nio_fib *fib,
		 const struct nio_pipeline *pl, const struct nio_flow_key *k, struct nio_hop *h);
/* services [first, nsvcs) of pl over a burst, then out (an isolated service's answers) */
void nio_pipeline_resume(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
			 unsigned first, struct nio_pkt **pkts, uint16_t n);
void nio_pipeline_drop(struct nio_pipeline *pl, struct nio_pkt *p, enum nio_drop why);
void nio_pipeline_run(struct nio_worker *w, struct nio_config *c, struct nio_pipeline *pl,
		      struct nio_pkt **pkts, uint16_t n);
void nio_pipeline_dequeue(struct nio_worker *w, struct nio_config *c, uint64_t now_ns,
			  uint64_t *next_ns);
uint16_t nio_pipeline_svc(struct nio_pipeline *pl, unsigned s, struct nio_pkt **pkts, uint16_t n,
			  bool tr);
void nio_pipeline_tx(const struct nio_config *c, struct nio_pipeline *pl, uint16_t port,
		     struct nio_pkt **pkts, uint16_t n);

/* egress.c: a port's shaper, run by one worker for packets from every pipeline */
/* netiod's own flag, never seen by a service: p is routed and addressed for the shaper of
 * port out_port and was handed to that shaper's worker */
#define NIO_PKT_F_EGRESS 0x8000u
unsigned nio_config_nstages(const struct nio_config *c);
struct nio_pipeline *nio_config_stage(const struct nio_config *c, unsigned i);
void nio_egress_send(const struct nio_config *c, uint16_t port, struct nio_pkt **pkts, uint16_t n);
uint16_t nio_egress_take(const struct nio_config *c, struct nio_pkt **pkts, uint16_t n);
bool nio_egress_here(const struct nio_worker *w, const struct nio_config *c);
void nio_egress_dequeue(struct nio_worker *w, const struct nio_config *c, uint64_t now_ns,
			uint64_t *next_ns);

/* pending.c */
int nio_pending_add(struct nio_pending *q, struct nio_pipeline *pl, struct nio_pkt *p,
		    const uint8_t addr[16], int ifindex, uint16_t out);
void nio_pending_run(struct nio_pending *q, const struct nio_config *c, const struct nio_fib *fib,
		     uint64_t now_ns);
void nio_pending_flush(struct nio_pending *q);

/* handoff.c */
int nio_pktring_init(struct nio_pktring *r, unsigned size);
void nio_pktring_fini(struct nio_pktring *r);
uint16_t nio_pktring_put(struct nio_pktring *r, struct nio_pkt *const *pkts, uint16_t n);
uint16_t nio_pktring_get(struct nio_pktring *r, struct nio_pkt **pkts, uint16_t max);
unsigned nio_pktring_count(struct nio_pktring *r);
void nio_pktring_each(struct nio_pktring *r, void (*fn)(struct nio_pkt *, void *), void *arg);

/* worker.c: the group of d->nworkers workers */
int nio_workers_init(struct netiod *d);
int nio_workers_start(struct netiod *d, char *err, size_t len);
void nio_workers_stop(struct netiod *d);
void nio_workers_fini(struct netiod *d);
int nio_workers_pause(struct netiod *d, char *err, size_t errlen);
void nio_workers_resume(struct netiod *d);
void nio_workers_wake(struct netiod *d);
void nio_workers_set_config(struct netiod *d, struct nio_config *c);
void nio_workers_flush_flows(struct netiod *d);
void nio_worker_wake(struct nio_worker *w);
int nio_worker_handoff(struct nio_worker *w, unsigned to, struct nio_pkt *p);
void nio_worker_pkt_free(struct nio_pkt *p);
struct nio_worker *nio_worker_current(void);
enum nio_poll nio_worker_poll(void);
struct nio_pkt *nio_worker_pkt_alloc(void);
int nio_worker_icmp_src(const struct nio_pkt *p, uint8_t family, uint8_t *out);
int nio_worker_icmp_too_big(struct nio_pkt *p, uint32_t mtu);
int nio_worker_miss_pop(struct nio_worker *w, uint8_t addr[16], int *ifindex);
void nio_worker_miss_push(struct nio_worker *w, const uint8_t addr[16], int ifindex);

/* neigh.c: keeps a nio_fib snapshot of the kernel's tables for the worker (libnl). */
int nio_neigh_init(struct netiod *d);
void nio_neigh_fini(struct netiod *d);
void nio_neigh_resolve(struct netiod *d, const uint8_t addr[16], int ifindex);
void nio_neigh_refresh(struct netiod *d);
void nio_fib_free(struct nio_fib *fib);
const struct nio_fib *nio_neigh_fib(struct netiod *d);
int nio_neigh_kernel_state(struct netiod *d, const uint8_t addr[16], int ifindex, char *buf,
			   size_t len);

/* control.c */
int nio_control_init(struct netiod *d);
void nio_control_fini(struct netiod *d);
char *nio_control_request(struct netiod *d, const char *line);

/* capture.c */
struct nio_capture;
void nio_capture_at(struct nio_capture *cap, unsigned stage, struct nio_pkt **pkts, uint16_t n);
int nio_capture_start(struct netiod *d, const char *pipeline, const char *stage, const char *file,
		      uint64_t count, char *err, size_t errlen);
int nio_capture_stop(struct netiod *d, const char *pipeline, uint64_t *captured, char *err,
		     size_t errlen);
const char *nio_capture_file(const struct nio_pipeline *pl, unsigned *stage, uint64_t *captured);
void nio_capture_release(struct nio_pipeline *pl);

/* metrics.c */
int nio_metrics_init(struct netiod *d, const char *listen);
void nio_metrics_fini(struct netiod *d);

/* reload.c */
int nio_reload(struct netiod *d, const char *file, char *err, size_t errlen);
int nio_apply_config(struct netiod *d, struct nio_config *c, char *err, size_t errlen);
void nio_svc_handoff(const struct nio_svc_inst *from, struct nio_svc_inst *to);
int nio_service_replace(struct netiod *d, const char *name, const char *path, char *err,
			size_t errlen);

/* wsched.c: the workers' scheduling policy */
int nio_wsched_parse(const char *s, struct nio_wsched *ws);
void nio_wsched_format(const struct nio_wsched *ws, char *buf, size_t len);
bool nio_wsched_privileged(const struct nio_wsched *ws);
int nio_wsched_apply(const struct nio_wsched *ws, char *err, size_t len);

/* privs.c: the user, group and capabilities netiod runs with once started */
int nio_user_id(const char *name, uid_t *uid, gid_t *gid);
int nio_group_id(const char *name, gid_t *gid);
void nio_privs_drop(const struct nio_config *c, const char *state_dir);
int nio_privs_check(const struct nio_port *p, char *why, size_t len);
int nio_privs_socket_dir(const char *path, const struct nio_privs *p, char *why, size_t len);
int nio_privs_socket(const char *path, const struct nio_privs *p, char *why, size_t len);
void nio_privs_warn_changes(const struct nio_privs *run, const struct nio_privs *next);

/* seccomp.c */
int nio_seccomp_load(char *why, size_t len);

/* notify.c: systemd's sd_notify datagrams (Type=notify) */
void nio_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* NETIOD_H */

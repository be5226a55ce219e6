/* The shared memory between netiod and an isolated service's host process (netio-svchost). */
#ifndef NETIO_ISOLATE_H
#define NETIO_ISOLATE_H

#include <stdint.h>
#include <time.h>

#include <netio/pkt.h>
#include <netio/ring.h>

/*
 * An isolated service instance runs in netio-svchost, a child process that dlopens the same
 * plugin and calls it through the same struct nio_service. The two share three memfds:
 *
 *   the packet arena ("netio:packets"): every worker's pool, NIO_ARENA_POOL buffers of
 *     NIO_PKT_BUF_SIZE bytes per worker id; buffer g is at g * NIO_PKT_BUF_SIZE. Both map it
 *     whole, so a packet crosses as its buffer index g (never copied).
 *   the instance's control area (struct nio_iso_shm, then four rings):
 *
 *   0          req_off          resp_off          fill_off          free_off
 *   +----------+----------------+-----------------+-----------------+-----------------+
 *   | nio_iso_ | request ring   | response ring   | fill ring       | free ring       |
 *   | shm      | D -> H xdescs  | H -> D xdescs   | D -> H indices  | H -> D indices  |
 *   +----------+----------------+-----------------+-----------------+-----------------+
 *
 *   request:  netiod's owner worker (D) hands a burst to the service (one xdesc per packet).
 *   response: the host (H) hands back a packet with its verdict (pass or drop), or one it
 *             released later (dequeue) or made (pkt_alloc), always with NIO_V_PASS.
 *   fill:     free buffers D lends H for host->pkt_alloc.
 *   free:     buffers H is done with (host->pkt_free of a packet it consumed or made).
 *
 * The rings are struct nio_ring (include/netio/ring.h): SPSC, free-running indices, head and
 * tail on their own cache lines, release on publish paired with acquire on read. The consumer
 * of a ring sets NIO_RING_F_NEED_WAKEUP in its flags before it sleeps on the ring's eventfd;
 * the producer, after publishing, issues a full fence and signals the eventfd only when the
 * flag is set: a doorbell per sleep, never per packet.
 *
 * A buffer is lent to H while it is in a request or fill ring or held by the service; D keeps
 * a bitmap of what it lent and refuses (counts, ignores) an index it did not lend. D reads
 * each descriptor once into a private copy and checks offsets and lengths before using them;
 * an impossible ring index is a fault of the child (killed, restarted). The response and
 * free rings hold every buffer of the arena's pools in use: H never waits for room.
 */
#define NIO_ISO_MAGIC	0x4e494f49u /* "NIOI" */
#define NIO_ISO_VERSION 1u
#define NIO_ARENA_POOL	16384u /* buffers per worker pool */
#define NIO_ISO_REQ	1024u  /* request ring slots */
#define NIO_ISO_FILL	64u    /* fill ring slots (buffers lent for pkt_alloc) */

/* A packet as it crosses: the fields a service may read or change, offsets not pointers. */
struct nio_xdesc {
	uint32_t idx;	 /* buffer index in the arena */
	uint32_t off;	 /* frame start from the buffer's start */
	uint32_t len;	 /* frame length */
	uint16_t l3_off; /* from the frame start, as in struct nio_pkt */
	uint16_t l4_off;
	uint16_t in_port;
	uint16_t out_port;
	uint16_t flags; /* NIO_PKT_F_* */
	uint8_t ip_proto;
	uint8_t dscp;
	uint32_t hash;
	uint8_t verdict;   /* response: NIO_V_PASS or NIO_V_DROP */
	uint8_t too_big;   /* response: host->icmp_too_big was asked for with mtu */
	uint16_t drop_ctr; /* response: see nio_pkt.drop_ctr */
	uint32_t mtu;
	uint64_t ts_ns;
	struct nio_flow_key key;
};

/* The control area's header. Who writes: D (netiod), H (the host), both at start (S). */
struct nio_iso_shm {
	uint32_t magic; /* S: NIO_ISO_MAGIC */
	uint32_t version;
	uint32_t nbufs;	  /* S: buffers in the arena H may be given */
	uint32_t nctrs;	  /* S: counters in ctrs (the plugin's counter_names) */
	uint64_t spin_ns; /* S: how long H polls an empty ring before it sleeps */
	uint64_t arena_size;
	uint64_t req_off, resp_off, fill_off, free_off; /* S: ring offsets from the start */
	uint32_t resp_slots, free_slots;
	uint32_t burst;
	uint32_t pad0;
	_Alignas(64) uint64_t heartbeat; /* H: advanced on every loop turn (the watchdog's) */
	uint64_t host_xcyc;  /* H: cycles spent taking requests and answering (nio_iso_clock) */
	uint64_t host_xpkts; /* H: requests taken */
	_Alignas(64) int32_t out_mtu;	/* D: host->out_mtu's value */
	_Alignas(64) uint64_t ctrs[64]; /* H: the plugin's counters() after each turn */
};

_Static_assert(sizeof(struct nio_xdesc) == 88, "xdesc layout");

/* Control messages over the instance's socketpair (SOCK_SEQPACKET): a type word, then data. */
enum nio_iso_msg {
	NIO_ISO_M_INIT = 1, /* D -> H: JSON {instance, state_dir, conf, mtu}; then blob (RESTORE) */
	NIO_ISO_M_READY,    /* H -> D: init done; data: endpoint addresses, 16 bytes each */
	NIO_ISO_M_ERROR,    /* H -> D: init failed; data: the plugin's reason */
	NIO_ISO_M_RESTORE,  /* D -> H: a save_state blob to restore */
	NIO_ISO_M_RESTORED, /* H -> D: data: one byte, 0 ok, 1 refused */
	NIO_ISO_M_SAVE,	    /* D -> H: send the state now */
	NIO_ISO_M_STATE,    /* H -> D: a save_state blob (also unasked, periodically) */
	NIO_ISO_M_SHOW,	    /* D -> H: the show() text */
	NIO_ISO_M_SHOW_REPLY, /* H -> D */
};

#define NIO_ISO_MSG_MAX (1u << 20) /* a state blob larger than this is not kept */

/* The descriptors' fixed numbers in netio-svchost. */
enum {
	NIO_ISO_FD_CTL = 3,
	NIO_ISO_FD_SHM,
	NIO_ISO_FD_ARENA,
	NIO_ISO_FD_PLUGIN,
	NIO_ISO_FD_REQ,
	NIO_ISO_FD_RESP,
	NIO_ISO_NFDS = 6
};

/* iso_desc.c (netiod): p as a request; the host's answer into p, -1 if it does not fit p's
 * buffer (then p is unchanged) */
void nio_iso_to_desc(const struct nio_pkt *p, uint32_t idx, struct nio_xdesc *d);
int nio_iso_from_desc(const struct nio_xdesc *d, struct nio_pkt *p);

/* The crossing's own cost, both sides: TSC cycles on x86-64 (the benches' unit), else ns. */
static inline uint64_t nio_iso_clock(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static inline struct nio_ring *nio_iso_ring(struct nio_iso_shm *s, uint64_t off)
{
	return (struct nio_ring *)(void *)((uint8_t *)s + off);
}

#endif /* NETIO_ISOLATE_H */

/* The shared memory between netiod and an isolated service's host process (netio-svchost). */
#ifndef NETIO_ISOLATE_H
#define NETIO_ISOLATE_H

#include <stdint.h>
#include <time.h>

#include <netio/pkt.h>
#include <netio/ring.h>
#include <netio/service.h>

/*
 * An isolated service instance runs in netio-svchost, a child process that dlopens the same
 * plugin and calls it through the same struct nio_service. The two share three memfds:
 *
 *   the packet arena ("netio:packets"): every worker's pool, NIO_ARENA_POOL buffers of
 *     NIO_PKT_BUF_SIZE bytes per worker id; buffer g is at g * NIO_PKT_BUF_SIZE. Both map it
 *     whole, so a packet crosses as its buffer index g (never copied).
 *   the instance's control area (struct nio_iso_shm, four rings, then the metadata slots):
 *
 *   0        req_off        resp_off       fill_off       free_off       meta_off
 *   +--------+--------------+--------------+--------------+--------------+------------------+
 *   | nio_   | request ring | response     | fill ring    | free ring    | nio_xmeta[nbufs] |
 *   | iso_shm| D -> H xents | H -> D xents | D -> H idx   | H -> D idx   | one per buffer   |
 *   +--------+--------------+--------------+--------------+--------------+------------------+
 *
 *   request:  netiod's owner worker (D) hands a burst to the service (one xent per packet).
 *   response: the host (H) hands back a packet with its verdict (pass or drop), or one it
 *             released later (dequeue) or made (pkt_alloc), always with NIO_V_PASS.
 *   fill:     free buffers D lends H for host->pkt_alloc.
 *   free:     buffers H is done with (host->pkt_free of a packet it consumed or made).
 *
 * What crosses per packet is a 16-byte xent (buffer, frame offset and length, verdict: four to
 * a cache line); the rest of the packet's metadata (struct nio_xmeta, one cache line) sits in
 * the buffer's slot, written by the side that holds the buffer: D before a request, H in an
 * answer only when the service changed any of it (NIO_XF_META), so a verdict alone moves no
 * metadata back.
 *
 * Answers name request positions, in order: H answers every request it took, in the order it
 * took them, once. A run of requests that passed unchanged (same frame offset and length, same
 * metadata, no ICMP asked for), or that the service kept (NIO_V_CONSUMED: queued, to come back
 * later), crosses as one entry (NIO_XF_RUN, verdict, len = how many): D finds the packets in
 * its private record of what it sent (position -> buffer) and its own struct nio_pkt, so an
 * unchanged packet moves no entry back either. Any other answer to a request carries
 * NIO_XF_REQ and must name the buffer D sent at that position. An answer without either (a
 * packet released by dequeue, or made by pkt_alloc) names no position. D reuses a request
 * slot only once its position is answered, so it never reads H's tail of the request ring.
 *
 * The rings are struct nio_ring (include/netio/ring.h): SPSC, free-running indices, head and
 * tail on their own cache lines, release on publish paired with acquire on read. Each side
 * publishes its index once per burst and keeps a private copy of the other side's, read
 * again only when the copy says the ring is full (the producer) or empty (the consumer).
 * Doorbells: a side that sleeps says so in its own cache line of the control area (h_asleep:
 * H on the request ring, d_asleep: D on the response ring), then a full fence, then a last
 * look at the ring. The producer rings at once when it sees the flag set; otherwise it owes a
 * look after a full fence (bell_owed), which it pays once per turn (D) or once idle (H): a
 * doorbell per sleep, never per packet, and no fence per burst while both poll.
 *
 * A buffer is lent to H while it is in a request or fill ring or held by the service; D keeps
 * a bitmap of what it lent and refuses (counts, ignores) an index it did not lend. D reads
 * each xent and slot once into a private copy and checks offsets and lengths before using
 * them; an impossible ring index, or an answer to a position not sent or naming another
 * buffer, is a fault of the child (killed, restarted). The response and
 * free rings hold every buffer of the arena's pools in use: H never waits for room.
 */
#define NIO_ISO_MAGIC	0x4e494f49u /* "NIOI" */
#define NIO_ISO_VERSION 3u
#define NIO_ARENA_POOL	16384u /* buffers per worker pool */
#define NIO_ISO_REQ	1024u  /* request ring slots */
#define NIO_ISO_FILL	64u    /* fill ring slots (buffers lent for pkt_alloc) */

/* xent.xflags, in an answer */
#define NIO_XF_META    0x1u /* the buffer's nio_xmeta slot holds the service's changes */
#define NIO_XF_TOO_BIG 0x2u /* host->icmp_too_big was asked for, with mtu */
#define NIO_XF_REQ     0x4u /* the answer to the next request position (idx: its buffer) */
#define NIO_XF_RUN     0x8u /* the next len request positions: passed unchanged or kept */

/* A packet as it crosses, in a ring: which buffer, where its frame is, and the verdict. */
struct nio_xent {
	uint32_t idx;	   /* buffer index in the arena */
	uint16_t off;	   /* frame start from the buffer's start */
	uint16_t len;	   /* frame length */
	uint8_t verdict;   /* response: NIO_V_PASS or NIO_V_DROP (NIO_XF_RUN: or CONSUMED) */
	uint8_t xflags;	   /* response: NIO_XF_* */
	uint16_t drop_ctr; /* response: see nio_pkt.drop_ctr */
	uint32_t mtu;	   /* response with NIO_XF_TOO_BIG */
};

/* The rest of what a service may read or change, in the buffer's slot (one cache line). */
struct nio_xmeta {
	uint16_t l3_off; /* from the frame start, as in struct nio_pkt */
	uint16_t l4_off;
	uint16_t in_port;
	uint16_t out_port;
	uint16_t flags; /* NIO_PKT_F_* */
	uint8_t ip_proto;
	uint8_t dscp;
	uint32_t hash;
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
	uint64_t req_off, resp_off, fill_off, free_off, meta_off; /* S: from the start */
	uint32_t resp_slots, free_slots;
	uint32_t burst;
	uint32_t pad0;
	_Alignas(64) uint64_t heartbeat; /* H: advanced on every loop turn (the watchdog's) */
	/* H: cycles spent taking requests and answering (nio_iso_clock), in turns that moved
	 * packets (a turn that found nothing to do is the idle poll of a busy-polling host) */
	uint64_t host_xcyc;
	uint64_t host_xpkts; /* H: requests taken */
	uint64_t host_pcyc;  /* H: the plugin's own cycles in those turns (process, dequeue) */
	_Alignas(64) uint32_t h_asleep; /* H: 1 while it sleeps on the request doorbell */
	_Alignas(64) uint32_t d_asleep; /* D: 1 while the worker sleeps on the response one */
	_Alignas(64) int32_t out_mtu;	/* D: host->out_mtu's value */
	_Alignas(64) uint64_t ctrs[64]; /* H: the plugin's counters() after each turn */
};

_Static_assert(sizeof(struct nio_xent) == 16, "xent layout");
_Static_assert(sizeof(struct nio_xmeta) == 64, "xmeta layout: one cache line");

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
/* a block's options as INIT carries them (a JSON string): the message less room for INIT's
 * other fields (a name, a path and two numbers, far below 4 KiB) */
#define NIO_ISO_CONF_MAX (NIO_ISO_MSG_MAX - 4096)

/* show_text.c: the whole show() text, malloc()ed (at most NIO_ISO_MSG_MAX bytes); NULL: no
 * memory */
char *nio_show_whole(int (*show)(void *inst, char *buf, size_t len), void *inst);

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

/* iso_desc.c (netiod): p's metadata into its slot; the host's answer e (and m, the slot's
 * private copy, with NIO_XF_META; else NULL) into p, -1 if it does not fit p's buffer (then p
 * is unchanged) */
void nio_iso_to_meta(const struct nio_pkt *p, struct nio_xmeta *m);
int nio_iso_from_ent(const struct nio_xent *e, const struct nio_xmeta *m, struct nio_pkt *p);

/* How many request positions the answer e disposes of (netiod), the requests from done up to
 * head having gone out with the buffers sent[pos & mask]; -1: impossible. A run names how
 * many (of one burst at most) and a verdict that needs no entry (passed unchanged, or kept);
 * an answer to one request must name the buffer sent at its position. Inline: it runs per
 * answer on the worker. */
static inline int nio_iso_positions(const struct nio_xent *e, uint32_t done, uint32_t head,
				    const uint32_t *sent, uint32_t mask)
{
	uint32_t left = head - done;

	if (e->xflags & NIO_XF_RUN) {
		if (e->xflags != NIO_XF_RUN || !e->len || e->len > left || e->len > NIO_BURST_MAX ||
		    (e->verdict != NIO_V_PASS && e->verdict != NIO_V_CONSUMED))
			return -1;
		return e->len;
	}
	if (!(e->xflags & NIO_XF_REQ))
		return 0;
	return left && sent[done & mask] == e->idx ? 1 : -1;
}

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

static inline struct nio_xent *nio_iso_ents(struct nio_ring *r)
{
	return (struct nio_xent *)(void *)(r + 1);
}

static inline struct nio_xmeta *nio_iso_meta(struct nio_iso_shm *s)
{
	return (struct nio_xmeta *)(void *)((uint8_t *)s + s->meta_off);
}

/* The full fence of a doorbell: a locked add on the stack is a full barrier on x86-64 and
 * cheaper than mfence; elsewhere the compiler's. */
static inline void nio_iso_fence(void)
{
#if defined(__x86_64__)
	__asm__ volatile("lock addl $0, -8(%%rsp)" ::: "memory", "cc");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif /* NETIO_ISOLATE_H */

/* The shared-memory ring ABI between netio.ko and netiod (one header for both worlds). */
#ifndef NETIO_RING_H
#define NETIO_RING_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <stdint.h>
#endif

/*
 * ABI 3, modelled on AF_XDP: packets live in a buffer region (the UMEM) and move between
 * netiod and the module by buffer index through four rings per queue. A binding has
 * num_queues queues (NETIO_A_QUEUES at bind time), each a complete ring set with its own
 * kernel locks, TX timer and wait queue: one queue per netiod worker, no lock shared between
 * them. Two mappings of /dev/netio after NETIO_IOC_ATTACH, both offsets from their own start,
 * never pointers:
 *
 * mmap offset 0: every queue's rings (map_size bytes)
 *   0          qinfo_off    rx_off         fill_off       tx_off         comp_off
 *   +----------+------------+--------------+--------------+--------------+--------------+
 *   | map_info | queue_info | RX ring      | fill ring    | TX ring      | completion   |
 *   | K writes | K writes   | K -> U descs | U -> K idx   | U -> K descs | K -> U idx   |
 *   +----------+------------+--------------+--------------+--------------+--------------+
 *              |<----------------------- queue 0 (queue_stride bytes) ----------------->|
 *   followed by queue 1 .. num_queues - 1: queue q's block is queue 0's moved by
 *   q * queue_stride (the offsets in map_info are queue 0's).
 *
 * mmap offset NIO_MMAP_REGION: the region (region_size bytes), nbufs x buf_size buffers;
 *   buffer i starts at i * buf_size. One region may serve several bindings (NETIO_A_REGION_OF
 *   at bind time): an RX buffer of one NIC can be sent by index on the TX ring of another.
 *
 *   fill:  U gives the kernel free buffers to receive into (entries: __u32 buffer index)
 *   RX:    K hands back filled buffers (entries: struct nio_slot, claim = matching claim id)
 *   TX:    U gives buffers to send (entries: struct nio_slot, flags/claim/reserved zero)
 *   comp:  K returns each buffer of a TX descriptor it took, sent or not, once no skb
 *          refers to it any more (entries: __u32 buffer index), on the queue it came from
 *
 * Which queue a claimed frame goes to: its flow hash (the NIC's RSS hash where the driver
 * gives one) modulo num_queues, so one flow stays on one queue and its frames keep their order.
 * Claims are per binding (per NIC), not per queue. The file that attached with
 * NETIO_IOC_ATTACH owns the binding and serves queue 0; each other queue is served by a file
 * of the owner's process attached with NETIO_IOC_ATTACH_QUEUE (poll, KICK per queue).
 *
 * A buffer belongs to exactly one side at a time: U (free or being processed), K through fill
 * (until it shows in RX), K through TX (until it shows in comp). RX copies the frame once
 * into a fill buffer; TX builds the skb around the region's pages (no copy) unless the frame
 * is shorter than tx_copybreak or the skb's path copies it (counted: NETIO_STAT_TX_COPIED).
 *
 * Each ring is single-producer / single-consumer. head (producer's) and tail (consumer's) are
 * free-running 32-bit counters; a slot index is (counter & (num_slots - 1)); full when
 * head - tail == num_slots, empty when head == tail (unsigned wrap-around arithmetic).
 *
 * Doorbells (need_wakeup): the consumer of a ring writes NIO_RING_F_NEED_WAKEUP into its
 * flags word when it stops looking at the ring; the producer, after publishing head, issues a
 * full barrier and wakes the consumer only if the flag is set.
 *   TX:  K is the consumer. While it drains the TX ring on its own (a softirq timer, every
 *        tx_poll_us, module parameter, while there is traffic; at most 64 descriptors a run)
 *        the flag is clear and U makes no syscall; once a run finds the ring empty K sets the
 *        flag and U kicks (NETIO_IOC_KICK or poll on the queue's file).
 *   RX:  U is the consumer. U sets the flag before it sleeps in poll(2) and clears it when it
 *        runs; K wakes the queue file's waiters only when it is set, and once per poll(2)
 *        wait (the first frame; those behind it find the waiter woken).
 *
 * The kernel trusts nothing it reads back: each field is read once into a private copy,
 * indices are checked against the ring (nio_ring_pending), buffer indices against nbufs,
 * off + len against buf_size in 64 bits; a TX buffer the kernel still holds (duplicate) or a
 * fill buffer still in an skb is refused and counted. Worst case the owner corrupts its own
 * packets.
 *
 * Evolution is append-only: new fields go at the end of a struct and the struct's size field
 * tells the reader which ones exist. NIO_ABI_VERSION changes only on incompatible change
 * (3: queues; the counters moved from map_info to each queue's queue_info).
 */
#define NIO_ABI_VERSION 3u
#define NIO_CACHELINE	64u
#define NIO_RING_MAGIC	0x4e494f52u    /* "NIOR" */
#define NIO_MMAP_REGION 0x100000000ull /* mmap offset of the buffer region */

/* Slot flags. */
#define NIO_SLOT_F_CSUM_PARTIAL 0x1u /* RX: checksum left to offload; netiod completes it */
#define NIO_SLOT_F_TRUNC	0x2u /* RX: frame longer than the buffer, truncated */

/* Ring flags (nio_ring.flags, written by the ring's consumer). */
#define NIO_RING_F_NEED_WAKEUP 0x1u

struct nio_slot {
	__u32 buf_idx;	/* buffer holding the frame */
	__u32 off;	/* frame start within the buffer */
	__u32 len;	/* frame length */
	__u16 flags;	/* NIO_SLOT_F_* */
	__u16 claim;	/* RX: id of the claim that matched; TX: must be 0 */
	__u64 reserved; /* must be 0 */
};

/* Ring header; the entries (struct nio_slot or __u32) follow it. */
struct nio_ring {
	/* Written once by the kernel at creation. */
	__u32 magic;
	__u32 hdr_size;	 /* sizeof(struct nio_ring) */
	__u32 slot_size; /* sizeof(struct nio_slot) or sizeof(__u32) */
	__u32 num_slots; /* power of two */
	__u8 pad0[NIO_CACHELINE - 16];

	/* Producer's cache line. The producer fills slots[head & mask], then stores head with
	 * release semantics; pairs with the consumer's acquire load of head. */
	__u32 head;
	__u8 pad1[NIO_CACHELINE - 4];

	/* Consumer's cache line. The consumer reads slots up to head, then stores tail with
	 * release semantics; pairs with the producer's acquire load of tail. */
	__u32 tail;
	__u32 flags; /* NIO_RING_F_*, written by the consumer (see "Doorbells") */
	__u8 pad2[NIO_CACHELINE - 8];
};

struct nio_map_info {
	__u32 magic; /* NIO_RING_MAGIC */
	__u32 abi_version;
	__u32 info_size; /* sizeof(struct nio_map_info) */
	__u32 ifindex;
	__u64 map_size;
	__u64 rx_off; /* queue 0's rings; queue q's are queue_stride * q further */
	__u64 fill_off;
	__u64 tx_off;
	__u64 comp_off;
	__u64 region_size;  /* bytes of the region mapping */
	__u32 num_rx_slots; /* also the fill ring's */
	__u32 num_tx_slots; /* also the completion ring's */
	__u32 nbufs;	    /* buffers in the region */
	__u32 buf_size;
	__u32 headroom;	 /* bytes the kernel leaves in front of each RX frame */
	__u32 region_id; /* bindings sharing a region report the same id */
	__u32 num_queues;
	__u32 reserved0;
	__u64 queue_stride; /* bytes between one queue's block and the next's */
	__u64 qinfo_off;    /* queue 0's struct nio_queue_info */
};

/* Kernel-maintained counters of one queue (informational; authoritative values, summed over
 * the queues, over netlink). Written by the kernel only, each by that queue's producer. */
struct nio_queue_info {
	__u64 rx_packets;
	__u64 rx_dropped_full;
	__u64 tx_packets;
	__u64 tx_bad_desc;
	__u8 pad[NIO_CACHELINE - 32];
};

#ifndef __KERNEL__
_Static_assert(sizeof(struct nio_slot) == 24, "nio_slot layout");
_Static_assert(__builtin_offsetof(struct nio_ring, head) == NIO_CACHELINE, "head cache line");
_Static_assert(__builtin_offsetof(struct nio_ring, tail) == 2 * NIO_CACHELINE, "tail cache line");
_Static_assert(sizeof(struct nio_ring) == 3 * NIO_CACHELINE, "ring header size");
_Static_assert(sizeof(struct nio_map_info) == 112, "map info layout");
_Static_assert(sizeof(struct nio_queue_info) == NIO_CACHELINE, "queue info layout");
#endif

/* The entries behind a ring header. */
static inline struct nio_slot *nio_ring_slots(struct nio_ring *r)
{
	return (struct nio_slot *)(void *)(r + 1);
}

static inline __u32 *nio_ring_idx(struct nio_ring *r)
{
	return (__u32 *)(void *)(r + 1);
}

/* Index arithmetic shared by both worlds; num_slots must be a power of two. */
static inline __u32 nio_ring_mask(__u32 num_slots)
{
	return num_slots - 1;
}

static inline __u32 nio_ring_used(__u32 head, __u32 tail)
{
	return head - tail; /* modulo 2^32: correct across wrap-around */
}

static inline __u32 nio_ring_free(__u32 head, __u32 tail, __u32 num_slots)
{
	return num_slots - nio_ring_used(head, tail);
}

static inline int nio_ring_valid_size(__u32 num_slots)
{
	return num_slots >= 2 && (num_slots & (num_slots - 1)) == 0;
}

#ifndef __KERNEL__
/* User-space accessors (GCC/Clang atomics; the kernel uses smp_load_acquire/smp_store_release). */
static inline __u32 nio_ring_load_acquire(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void nio_ring_store_release(__u32 *p, __u32 v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The producer's side of a doorbell: head is published; does the consumer want a wake-up?
 * The full barrier pairs with the consumer's between setting the flag and re-reading head. */
static inline int nio_ring_needs_wakeup(const struct nio_ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&r->flags, __ATOMIC_RELAXED) & NIO_RING_F_NEED_WAKEUP;
}
#endif

/* Bytes of one descriptor ring: header plus slots (num_slots bounded by the module). */
static inline __u64 nio_ring_bytes(__u32 num_slots)
{
	return sizeof(struct nio_ring) + (__u64)num_slots * sizeof(struct nio_slot);
}

/* Bytes of one index ring (fill, completion). */
static inline __u64 nio_ring_idx_bytes(__u32 num_slots)
{
	return sizeof(struct nio_ring) + (__u64)num_slots * sizeof(__u32);
}

static inline __u64 nio_align_up(__u64 v, __u64 align)
{
	return (v + align - 1) & ~(align - 1);
}

/*
 * Reasons a TX descriptor is refused. The caller copies each field out of shared memory once
 * (READ_ONCE in the kernel) into a private struct nio_slot and checks that copy, so the user
 * cannot change a field between the check and its use.
 */
enum nio_desc_err {
	NIO_DESC_OK = 0,
	NIO_DESC_BUF_IDX,  /* buf_idx >= nbufs */
	NIO_DESC_BOUNDS,   /* off + len > buf_size */
	NIO_DESC_SHORT,	   /* shorter than min_len (an Ethernet header) */
	NIO_DESC_RESERVED, /* flags, claim or reserved not zero */
};

static inline enum nio_desc_err nio_tx_desc_check(const struct nio_slot *d, __u32 nbufs,
						  __u32 buf_size, __u32 min_len)
{
	if (d->buf_idx >= nbufs)
		return NIO_DESC_BUF_IDX;
	/* 64-bit sum: off and len are each up to 2^32 - 1 (CVE-2017-7308 was this overflow) */
	if ((__u64)d->off + (__u64)d->len > (__u64)buf_size)
		return NIO_DESC_BOUNDS;
	if (d->len < min_len)
		return NIO_DESC_SHORT;
	if (d->flags || d->claim || d->reserved)
		return NIO_DESC_RESERVED;
	return NIO_DESC_OK;
}

/* A consumer's view of a ring whose other side may lie: how many slots it may take, or -1
 * when head - tail exceeds the ring (a corrupt or hostile index). */
static inline int nio_ring_pending(__u32 head, __u32 tail, __u32 num_slots)
{
	__u32 used = nio_ring_used(head, tail);

	return used > num_slots ? -1 : (int)used;
}

#endif /* NETIO_RING_H */

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
 * One mapping per bound NIC, created by the module and mmap()ed by netiod from /dev/netio.
 * Every position is an offset from the start of the mapping, never a pointer:
 *
 *   0                 rx_off              tx_off              buf_off
 *   +-----------------+-------------------+-------------------+--------------------------+
 *   | nio_map_info    | nio_ring (RX)     | nio_ring (TX)     | nbufs x buf_size buffers |
 *   | (K: writes)     | hdr + slots[]     | hdr + slots[]     |                          |
 *   +-----------------+-------------------+-------------------+--------------------------+
 *
 * Each ring is single-producer / single-consumer. head and tail are free-running 32-bit
 * counters; a slot index is (counter & (num_slots - 1)); the ring is full when
 * head - tail == num_slots and empty when head == tail (unsigned wrap-around arithmetic).
 *
 *   RX: producer = kernel (writes head, slots), consumer = netiod (writes tail).
 *   TX: producer = netiod (writes head, slots), consumer = kernel (writes tail).
 *
 * Buffers: RX slot i owns buffer i; TX slot i owns buffer num_rx_slots + i. A TX descriptor
 * may name any buffer index; the kernel checks buf_idx < nbufs and off + len <= buf_size and
 * counts and drops a descriptor that fails, reading each field exactly once.
 *
 * Evolution is append-only: new fields go at the end of a struct and the struct's size field
 * tells the reader which ones exist. NIO_ABI_VERSION changes only on incompatible change.
 */
#define NIO_ABI_VERSION 1u
#define NIO_CACHELINE	64u
#define NIO_RING_MAGIC	0x4e494f52u /* "NIOR" */

/* Slot flags. */
#define NIO_SLOT_F_CSUM_PARTIAL 0x1u /* RX: checksum left to offload; netiod completes it */
#define NIO_SLOT_F_TRUNC	0x2u /* RX: frame longer than the buffer, truncated */

struct nio_slot {
	__u32 buf_idx;	/* buffer holding the frame */
	__u32 off;	/* frame start within the buffer */
	__u32 len;	/* frame length */
	__u16 flags;	/* NIO_SLOT_F_* */
	__u16 claim;	/* RX: id of the claim that matched; TX: must be 0 */
	__u64 reserved; /* must be 0 */
};

struct nio_ring {
	/* Written once by the kernel at creation. */
	__u32 magic;
	__u32 hdr_size;	 /* sizeof(struct nio_ring) */
	__u32 slot_size; /* sizeof(struct nio_slot) */
	__u32 num_slots; /* power of two */
	__u8 pad0[NIO_CACHELINE - 16];

	/* Producer's cache line. The producer fills slots[head & mask], then stores head with
	 * release semantics; pairs with the consumer's acquire load of head. */
	__u32 head;
	__u8 pad1[NIO_CACHELINE - 4];

	/* Consumer's cache line. The consumer reads slots up to head, then stores tail with
	 * release semantics; pairs with the producer's acquire load of tail. */
	__u32 tail;
	__u32 need_wakeup; /* TX only: set by netiod when the kernel must be kicked */
	__u8 pad2[NIO_CACHELINE - 8];

	struct nio_slot slots[];
};

struct nio_map_info {
	__u32 magic; /* NIO_RING_MAGIC */
	__u32 abi_version;
	__u32 info_size; /* sizeof(struct nio_map_info) */
	__u32 ifindex;
	__u64 map_size;
	__u64 rx_off;
	__u64 tx_off;
	__u64 buf_off;
	__u32 num_rx_slots;
	__u32 num_tx_slots;
	__u32 nbufs;
	__u32 buf_size;
	__u32 headroom; /* bytes the kernel leaves in front of each RX frame */
	__u32 pad;
	/* Kernel-maintained counters (informational; authoritative values over netlink). */
	__u64 rx_packets;
	__u64 rx_dropped_full;
	__u64 tx_packets;
	__u64 tx_bad_desc;
};

#ifndef __KERNEL__
_Static_assert(sizeof(struct nio_slot) == 24, "nio_slot layout");
_Static_assert(__builtin_offsetof(struct nio_ring, head) == NIO_CACHELINE, "head cache line");
_Static_assert(__builtin_offsetof(struct nio_ring, tail) == 2 * NIO_CACHELINE, "tail cache line");
_Static_assert(sizeof(struct nio_ring) == 3 * NIO_CACHELINE, "ring header size");
#endif

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
#endif

/* Bytes of one ring: header plus slots (num_slots bounded by the module, so no overflow). */
static inline __u64 nio_ring_bytes(__u32 num_slots)
{
	return sizeof(struct nio_ring) + (__u64)num_slots * sizeof(struct nio_slot);
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

/* The control ABI of netio.ko: the "netio" generic netlink family and the /dev/netio ioctls. */
#ifndef NETIO_UAPI_H
#define NETIO_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * A binding ties one NIC to num_queues sets of RX, fill, TX and completion rings over a buffer
 * region (include/netio/ring.h, ABI 3). It is created over
 * generic netlink, owned by at most one open file of /dev/netio at a time, and outlives that
 * file: when the owner exits, the rings and claims stay for hold_ms so a restarted owner can
 * re-attach and continue from the ring indices. While no owner is attached, claimed packets
 * follow their claim's fail mode (secure: dropped; passthrough: left to the kernel stack).
 * hold_ms bounds how long queued packets wait, not the drop policy: when it runs out, a binding
 * without secure claims is destroyed (NETIO_GONE_HOLD); one with a secure claim discards its
 * queued packets (NETIO_STAT_RX_EXPIRED) and stays, dropping, until it is unbound or an owner
 * attaches again (a restarted owner finds it by ifindex and name, as within the hold time).
 *
 * Whatever the claims say, the module leaves to the kernel stack what is the kernel's: frames a
 * claim matched but that are IPv6 ND or MLD, link-local multicast (224.0.0.0/24, ff02::/16),
 * broadcast (link-layer, 255.255.255.255 or a subnet's broadcast address), or addressed to one
 * of the netns's own addresses unless a matching claim names that exact address as a host
 * prefix (a tunnel or ESP endpoint), and even then UDP to port 4500 that is not ESP (RFC 3948:
 * IKE behind the 4-byte non-ESP marker, the 1-byte NAT keepalive). They are counted per reason (NETIO_A_KEPT, enum
 * netio_kept) and per claim (NETIO_CLAIM_A_KEPT).
 *
 * Every command needs CAP_NET_ADMIN in the initial user namespace (the rings are kernel memory
 * and /dev/netio is the initial namespace's admin's) and sees only the bindings whose device is
 * in the caller's network namespace; others answer ENOENT. NETIO_IOC_ATTACH likewise.
 *
 * Device /dev/netio:
 *   ioctl(fd, NETIO_IOC_ATTACH, &bind_id)  make this file the binding's owner (EBUSY if owned);
 *              it serves queue 0
 *   ioctl(fd2, NETIO_IOC_ATTACH_QUEUE, &(struct netio_queue_attach){ bind_id, q })  another
 *              file of the owner's process serves queue q (poll and KICK act on q's rings);
 *              EPERM unless the caller's process owns the binding, EINVAL for q out of range
 *   mmap(NULL, map_size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)   the rings, after ATTACH
 *   mmap(NULL, region_size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, NIO_MMAP_REGION)  the region
 *   poll(fd)   POLLIN: the file's queue's RX ring not empty; POLLOUT: its TX ring not full;
 *              POLLERR: binding gone. poll also sends what that TX ring holds, like KICK.
 *   ioctl(fd, NETIO_IOC_KICK)  send every TX slot between the kernel's tail and the user's head
 *              now, and keep draining the TX ring from a softirq timer while traffic flows
 *              (the ring's NIO_RING_F_NEED_WAKEUP stays clear meanwhile)
 *   ioctl(fd, NETIO_IOC_INFLIGHT, buf)  copy the region's bitmap of buffers the kernel holds
 *              for TX (nbufs bits, rounded up to 64-bit words): a restarted owner rebuilds its
 *              free list from the rings and this
 *
 * Generic netlink family NETIO_GENL_NAME, version NETIO_GENL_VERSION. A command that changes
 * a binding whose owner is attached is refused with EPERM unless it comes from the owner's
 * process.
 *
 * NETIO_CMD_BIND: create a binding, or return the existing one with the same ifindex
 * and name (the re-attach path of a restarted owner). Request:
 *   NETIO_A_IFINDEX: NLA_U32, required
 *   NETIO_A_BIND_NAME: NLA_NUL_STRING, required, at most NETIO_NAME_MAX - 1 bytes
 *   NETIO_A_RX_SLOTS, NETIO_A_TX_SLOTS: NLA_U32, powers of two in [64, 32768], default 1024
 *   NETIO_A_BUF_SIZE: NLA_U32, multiple of 64 in [2048, 65536], default 2048
 *   NETIO_A_HEADROOM: NLA_U32, bytes the kernel leaves in front of each RX frame, default 64,
 *                  at most 1024 (room for a tunnel's headers, the frame processed in place)
 *   NETIO_A_NBUFS: NLA_U32, buffers of a new region, default 2 x (RX + TX slots), at most
 *                  NETIO_NBUFS_MAX and 256 MiB
 *   NETIO_A_QUEUES: NLA_U32, ring sets (queues) in [1, NETIO_QUEUES_MAX], default 1
 *   NETIO_A_REGION_OF: NLA_U32, a binding id: share that binding's region instead of creating
 *                  one (the caller must be allowed to change that binding; BUF_SIZE and NBUFS
 *                  are then ignored)
 *   NETIO_A_HOLD_MS: NLA_U32, 0 = hold until NETIO_CMD_UNBIND, default 60000; also updates an
 *                    existing binding
 * Reply: the NETIO_CMD_GET_BIND message of the binding.
 *
 * NETIO_CMD_UNBIND: destroy a binding, its rings and its claims.
 *   NETIO_A_BIND_ID: NLA_U32, required
 *
 * NETIO_CMD_GET_BIND: one binding (NETIO_A_BIND_ID given) or a dump of all. Reply:
 *   NETIO_A_BIND_ID: NLA_U32
 *   NETIO_A_IFINDEX: NLA_U32
 *   NETIO_A_BIND_NAME: NLA_NUL_STRING
 *   NETIO_A_OWNER_PID: NLA_U32, 0 when no owner is attached
 *   NETIO_A_HOLD_MS: NLA_U32
 *   NETIO_A_HOLD_STATE: NLA_U32, enum netio_hold_state
 *   NETIO_A_HOLD_LEFT_MS: NLA_U32, while NETIO_HOLD_WAITING with a hold time: ms until expiry
 *   NETIO_A_RX_SLOTS, NETIO_A_TX_SLOTS, NETIO_A_NBUFS, NETIO_A_BUF_SIZE, NETIO_A_HEADROOM: NLA_U32
 *   NETIO_A_REGION_ID: NLA_U32, the same for bindings that share a region
 *   NETIO_A_MAP_SIZE, NETIO_A_RX_OFF, NETIO_A_FILL_OFF, NETIO_A_TX_OFF, NETIO_A_COMP_OFF,
 *   NETIO_A_REGION_SIZE: NLA_U64
 *   NETIO_A_QUEUES: NLA_U32
 *   NETIO_A_QUEUE_RX: NLA_NESTED, frames copied into each queue's RX ring
 *     q + 1: NLA_U64 for queue q (type 0: padding)
 *   NETIO_A_STATS: NLA_NESTED, summed over the queues
 *     NETIO_STAT_*: NLA_U64 each (see enum netio_stat)
 *   NETIO_A_KEPT: NLA_NESTED
 *     NETIO_KEPT_*: NLA_U64 each, frames a claim matched that were left to the kernel
 *
 * NETIO_CMD_SET_CLAIMS: replace the binding's whole claim set, atomically. Refused with
 * EBUSY if a claim overlaps a claim of another binding on the same NIC (secure demultiplexing),
 * EINVAL (with an extended ack message) if a claim is malformed. Counters of a claim whose id
 * is kept carry over. Request:
 *   NETIO_A_BIND_ID: NLA_U32, required
 *   NETIO_A_CLAIMS: NLA_NESTED, may be empty (removes every claim); at most NETIO_CLAIMS_MAX
 *     0: NLA_NESTED, one claim
 *       NETIO_CLAIM_A_ID: NLA_U16, required, unique in the binding; copied to nio_slot.claim
 *       NETIO_CLAIM_A_FAMILY: NLA_U8, AF_INET or AF_INET6, 0 = both (then no prefixes)
 *       NETIO_CLAIM_A_PROTO: NLA_U8, IP protocol, 0 = any (then no port ranges)
 *       NETIO_CLAIM_A_SRC, NETIO_CLAIM_A_DST: NLA_BINARY, 4 or 16 bytes matching the family
 *       NETIO_CLAIM_A_SRC_PLEN, NETIO_CLAIM_A_DST_PLEN: NLA_U8, default: the full address
 *       NETIO_CLAIM_A_SPORT_LO, NETIO_CLAIM_A_SPORT_HI, NETIO_CLAIM_A_DPORT_LO,
 *       NETIO_CLAIM_A_DPORT_HI: NLA_U16, inclusive, default 0..65535; only with TCP, UDP,
 *                               SCTP or UDP-Lite
 *       NETIO_CLAIM_A_FAIL_MODE: NLA_U8, NETIO_FAIL_SECURE (default) or NETIO_FAIL_PASSTHROUGH
 *     0: NLA_NESTED, the next claim ...
 *
 * NETIO_CMD_GET_CLAIMS: dump only, filtered by NETIO_A_BIND_ID (required). Each message:
 *   NETIO_A_BIND_ID: NLA_U32
 *   NETIO_A_CLAIMS: NLA_NESTED
 *     0: NLA_NESTED, the claim attributes above plus its counters:
 *       NETIO_CLAIM_A_PACKETS, NETIO_CLAIM_A_BYTES: NLA_U64, matched (as received)
 *       NETIO_CLAIM_A_QUEUED: NLA_U64, frames copied to the RX ring; a GSO frame is cut to
 *                             wire size first and counts once per segment
 *       NETIO_CLAIM_A_DROPPED: NLA_U64, dropped (secure, no owner or ring full)
 *       NETIO_CLAIM_A_PASSED: NLA_U64, left to the kernel (passthrough, no owner or ring full)
 *       NETIO_CLAIM_A_KEPT: NLA_U64, matched but the kernel's own (see above); not in PACKETS
 *
 * NETIO_CMD_BIND_GONE: an event, never a request, sent to the multicast group
 * NETIO_GENL_MCGRP_EVENTS of the binding's network namespace when a binding is destroyed (a
 * binding that outlives its hold time because of a secure claim is not destroyed: no event):
 *   NETIO_A_BIND_ID: NLA_U32
 *   NETIO_A_IFINDEX: NLA_U32, the device it was bound to
 *   NETIO_A_BIND_NAME: NLA_NUL_STRING
 *   NETIO_A_REASON: NLA_U32, enum netio_gone_reason
 *
 * Only IPv4 and IPv6 frames without a VLAN tag can be claimed; ARP and every other EtherType
 * go to the kernel stack untouched (and are not counted in NETIO_A_KEPT: no claim matches them).
 */
#define NETIO_GENL_NAME		"netio"
#define NETIO_GENL_VERSION	1
#define NETIO_GENL_MCGRP_EVENTS "events"
#define NETIO_DEVICE		"/dev/netio"
#define NETIO_NAME_MAX		16
#define NETIO_CLAIMS_MAX	64 /* per binding */
#define NETIO_NBUFS_MAX		(1u << 20)
#define NETIO_QUEUES_MAX	64

#define NETIO_IOC_ATTACH       _IOW('N', 0x40, __u32)
#define NETIO_IOC_KICK	       _IO('N', 0x41)
#define NETIO_IOC_INFLIGHT     _IOR('N', 0x42, __u64)
#define NETIO_IOC_ATTACH_QUEUE _IOW('N', 0x43, struct netio_queue_attach)

struct netio_queue_attach {
	__u32 bind_id;
	__u32 queue; /* 1 .. num_queues - 1 (queue 0 is the owner's file) */
};

enum netio_cmd {
	NETIO_CMD_UNSPEC,
	NETIO_CMD_BIND,
	NETIO_CMD_UNBIND,
	NETIO_CMD_GET_BIND,
	NETIO_CMD_SET_CLAIMS,
	NETIO_CMD_GET_CLAIMS,
	NETIO_CMD_BIND_GONE,
	__NETIO_CMD_MAX
};
#define NETIO_CMD_MAX (__NETIO_CMD_MAX - 1)

enum netio_attr {
	NETIO_A_UNSPEC,
	NETIO_A_BIND_ID,
	NETIO_A_IFINDEX,
	NETIO_A_BIND_NAME,
	NETIO_A_OWNER_PID,
	NETIO_A_HOLD_MS,
	NETIO_A_RX_SLOTS,
	NETIO_A_TX_SLOTS,
	NETIO_A_NBUFS,
	NETIO_A_BUF_SIZE,
	NETIO_A_HEADROOM,
	NETIO_A_MAP_SIZE,
	NETIO_A_RX_OFF,
	NETIO_A_TX_OFF,
	NETIO_A_UNUSED_BUF_OFF, /* ABI 1's buffer offset: the region has its own mapping */
	NETIO_A_STATS,
	NETIO_A_CLAIMS,
	NETIO_A_PAD,
	NETIO_A_REASON,
	NETIO_A_HOLD_STATE,
	NETIO_A_HOLD_LEFT_MS,
	NETIO_A_KEPT,
	NETIO_A_FILL_OFF,
	NETIO_A_COMP_OFF,
	NETIO_A_REGION_ID,
	NETIO_A_REGION_OF,
	NETIO_A_REGION_SIZE,
	NETIO_A_QUEUES,
	NETIO_A_QUEUE_RX,
	__NETIO_A_MAX
};
#define NETIO_A_MAX (__NETIO_A_MAX - 1)

enum netio_stat {
	NETIO_STAT_UNSPEC,
	NETIO_STAT_RX_PACKETS, /* copied into the RX ring */
	NETIO_STAT_RX_BYTES,
	NETIO_STAT_RX_FULL,  /* claimed while the RX ring was full or the fill ring empty */
	NETIO_STAT_RX_TRUNC, /* longer than a buffer: truncated, NIO_SLOT_F_TRUNC */
	NETIO_STAT_TX_PACKETS,
	NETIO_STAT_TX_BYTES,
	NETIO_STAT_TX_BAD_DESC, /* TX descriptors or indices that failed validation */
	NETIO_STAT_TX_ERRORS,	/* valid descriptors the kernel could not send */
	NETIO_STAT_PAD,
	NETIO_STAT_RX_EXPIRED,	/* queued packets discarded when the hold time ran out */
	NETIO_STAT_RX_NOBUF,	/* claimed while the fill ring was empty (also in RX_FULL) */
	NETIO_STAT_FILL_BAD,	/* fill entries refused: index out of range or buffer in an skb */
	NETIO_STAT_TX_ZEROCOPY, /* sent from the region's pages, no copy anywhere */
	NETIO_STAT_TX_COPIED,	/* copied into the skb by netio.ko (up to tx_copybreak) */
	NETIO_STAT_TX_INFLIGHT, /* gauge: buffers the kernel holds for TX (0 when idle) */
	NETIO_STAT_COMP_LOST,	/* completions that found the completion ring full (hostile) */
	NETIO_STAT_TX_KICKS,	/* NETIO_IOC_KICK and poll calls that found TX work */
	NETIO_STAT_TX_POLLS,	/* timer runs that drained the TX ring without a syscall */
	NETIO_STAT_RX_WAKEUPS,	/* wake-ups of a sleeping owner */
	NETIO_STAT_TX_PATH_COPIED, /* sent from the pages, then copied on the skb's way (veth
				    * into a local stack, a packet tap): one copy, not netio's */
	__NETIO_STAT_MAX
};
#define NETIO_STAT_MAX (__NETIO_STAT_MAX - 1)

enum netio_claim_attr {
	NETIO_CLAIM_A_UNSPEC,
	NETIO_CLAIM_A_ID,
	NETIO_CLAIM_A_FAMILY,
	NETIO_CLAIM_A_PROTO,
	NETIO_CLAIM_A_SRC,
	NETIO_CLAIM_A_SRC_PLEN,
	NETIO_CLAIM_A_DST,
	NETIO_CLAIM_A_DST_PLEN,
	NETIO_CLAIM_A_SPORT_LO,
	NETIO_CLAIM_A_SPORT_HI,
	NETIO_CLAIM_A_DPORT_LO,
	NETIO_CLAIM_A_DPORT_HI,
	NETIO_CLAIM_A_FAIL_MODE,
	NETIO_CLAIM_A_PACKETS,
	NETIO_CLAIM_A_BYTES,
	NETIO_CLAIM_A_QUEUED,
	NETIO_CLAIM_A_DROPPED,
	NETIO_CLAIM_A_PASSED,
	NETIO_CLAIM_A_PAD,
	NETIO_CLAIM_A_KEPT,
	__NETIO_CLAIM_A_MAX
};
#define NETIO_CLAIM_A_MAX (__NETIO_CLAIM_A_MAX - 1)

/* Why a binding went away (NETIO_CMD_BIND_GONE). */
enum netio_gone_reason {
	NETIO_GONE_UNSPEC,
	NETIO_GONE_UNBIND, /* NETIO_CMD_UNBIND */
	NETIO_GONE_DEVICE, /* the device was unregistered */
	NETIO_GONE_HOLD,   /* no owner attached within the hold time */
	NETIO_GONE_UNLOAD, /* the module is being removed */
	__NETIO_GONE_MAX
};

/* Where a binding stands with its owner (NETIO_A_HOLD_STATE). */
enum netio_hold_state {
	NETIO_HOLD_ATTACHED, /* an owner has the rings */
	NETIO_HOLD_WAITING,  /* no owner; queued packets wait for the hold time (or for ever: 0) */
	NETIO_HOLD_EXPIRED,  /* no owner past the hold time: queue discarded, secure claims drop */
	__NETIO_HOLD_MAX
};

/* Why a frame a claim matched was left to the kernel stack (NETIO_A_KEPT). */
enum netio_kept {
	NETIO_KEPT_UNSPEC,
	NETIO_KEPT_ND,	/* ICMPv6 133-137: router/neighbour solicitation and advert, redirect */
	NETIO_KEPT_MLD, /* ICMPv6 130-132, 143 */
	NETIO_KEPT_LL_MCAST,  /* 224.0.0.0/24, ff02::/16 (and ff01::/16) */
	NETIO_KEPT_BROADCAST, /* link-layer broadcast, 255.255.255.255, a subnet's broadcast */
	NETIO_KEPT_LOCAL,     /* to an address of the netns no matching claim names exactly */
	NETIO_KEPT_PAD,
	NETIO_KEPT_NATT, /* UDP 4500 to an own address, not ESP: IKE's non-ESP marker, keepalive */
	__NETIO_KEPT_MAX
};
#define NETIO_KEPT_MAX (__NETIO_KEPT_MAX - 1)

enum netio_fail_mode { NETIO_FAIL_SECURE, NETIO_FAIL_PASSTHROUGH, __NETIO_FAIL_MAX };
#define NETIO_FAIL_MAX (__NETIO_FAIL_MAX - 1)

#endif /* NETIO_UAPI_H */

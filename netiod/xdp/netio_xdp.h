/* The maps netio_xdp.bpf.c shares with port_afxdp.c: one layout for both worlds. */
#ifndef NETIO_XDP_H
#define NETIO_XDP_H

#include <linux/types.h>

#define NIO_XDP_CLAIMS_MAX 256	/* claims per port (a pipeline's src x dst x proto product) */
#define NIO_XDP_QUEUES_MAX 64	/* XSK sockets per port, one per receive queue */
#define NIO_XDP_LOCAL_MAX  1024 /* the netns's own addresses */

/*
 * A claim, as netio.ko's: addresses IPv4-mapped (::ffff:a.b.c.d) in network order, prefixes as
 * masks over the 128 bits, family 0/4/6, proto 0 = any, port ranges [lo, hi] in host order and
 * only checked when has_ports. Claims are tried in order: the first that matches decides.
 */
struct nio_xdp_claim {
	__u32 src[4], src_mask[4];
	__u32 dst[4], dst_mask[4];
	__u16 sport_lo, sport_hi, dport_lo, dport_hi;
	__u8 family, proto, has_ports;
	__u8 dst_host;	  /* dst is one full-length address: it may take one of the box's own */
	__u8 passthrough; /* netiod absent: 1 hands the frame to the kernel, 0 drops it */
	__u8 pad[3];
};

/*
 * Written by netiod only. Two claim sets (claims map entries [set * MAX, set * MAX + n)): a
 * reload writes the one not in use, then flips set, so a frame never sees half of each.
 */
struct nio_xdp_conf {
	__u32 set;
	__u32 nclaims[2];
	__u8 mac[6]; /* the device's: a unicast frame to another station is not ours */
	__u8 pad[2];
};

/* Why the program left a frame to the kernel or dropped it, counted per CPU (stats map). */
enum nio_xdp_stat {
	NIO_XDP_REDIRECTED,
	NIO_XDP_FAIL_DROP, /* claimed, secure, netiod absent */
	NIO_XDP_FAIL_PASS, /* claimed, passthrough, netiod absent */
	NIO_XDP_KEPT,	   /* claimed but the kernel's own (ND, broadcast, own address) */
	NIO_XDP_UNCLAIMED,
	NIO_XDP_STATS
};

#endif /* NETIO_XDP_H */

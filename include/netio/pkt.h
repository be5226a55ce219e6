/* Packet buffer, burst and flow metadata shared by netiod and its service plugins. */
#ifndef NETIO_PKT_H
#define NETIO_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * A packet lives in one fixed-size buffer owned by a worker's pool:
 *
 *   buf                data                      data + len        buf + buf_size
 *   |<-- headroom -->|<------- frame (L2) ------->|<-- tailroom -->|
 *
 * The port driver copies a received frame to buf + NIO_PKT_HEADROOM, so a service can prepend
 * outer headers (tunnels, ESP) with nio_pkt_push() without copying or allocating. A driver
 * with its own buffer region (AF_XDP) receives in place: buf_size is then the region's (at
 * least NIO_PKT_BUF_SIZE) and the headroom at least NIO_PKT_HEADROOM.
 */
#define NIO_PKT_BUF_SIZE  2560u /* whole buffer, headroom included */
#define NIO_PKT_HEADROOM  256u	/* room for outer Ethernet + IPv6 + UDP + GENEVE/ESP headers */
#define NIO_PKT_MAX_FRAME (NIO_PKT_BUF_SIZE - NIO_PKT_HEADROOM)
#define NIO_BURST_MAX	  256u
#define NIO_PORT_NONE	  0xffffu

/* Parse results kept in nio_pkt.flags. */
#define NIO_PKT_F_IPV4	  0x01u
#define NIO_PKT_F_IPV6	  0x02u
#define NIO_PKT_F_L4	  0x04u /* l4_off valid and ports parsed (TCP/UDP/SCTP) */
#define NIO_PKT_F_FRAG	  0x08u /* non-first fragment: no L4 header */
#define NIO_PKT_F_VLAN	  0x10u
#define NIO_PKT_F_L2DONE  0x20u /* a service already wrote the final L2 header: no rewrite */
#define NIO_PKT_F_L2BCAST 0x40u /* received with a broadcast or multicast destination MAC */
/* The daemon decremented the TTL of the packet as received: headers a service builds in front
 * of it keep their own TTL. */
#define NIO_PKT_F_TTLDONE 0x80u

/* Flow key: the 5-tuple, addresses as 16 bytes (IPv4 mapped as ::ffff:a.b.c.d). */
struct nio_flow_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport; /* host order; 0 when the protocol has no ports */
	uint16_t dport;
	uint8_t proto;
	uint8_t family; /* 4 or 6 */
	uint16_t in_port;
};

struct nio_flow; /* opaque to services: the daemon's flow-cache entry */

struct nio_pkt {
	uint8_t *buf;	   /* start of the buffer */
	uint8_t *data;	   /* start of the frame (Ethernet header) */
	uint32_t len;	   /* frame length in bytes */
	uint32_t buf_size; /* NIO_PKT_BUF_SIZE */
	uint16_t l3_off;   /* offset of the IP header from data */
	uint16_t l4_off;   /* offset of the L4 header from data (valid with NIO_PKT_F_L4) */
	uint16_t in_port;  /* index of the receiving port */
	uint16_t out_port; /* a service may override the pipeline's output (NIO_PORT_NONE = keep) */
	uint16_t flags;	   /* NIO_PKT_F_* */
	uint8_t ip_proto;  /* L4 protocol (after IPv6 extension headers) */
	uint8_t dscp;	   /* DSCP as received (or re-marked) */
	uint32_t hash;	   /* flow hash of the 5-tuple, stable for a flow */
	uint64_t ts_ns;	   /* CLOCK_MONOTONIC receive time */
	struct nio_flow *flow;
	void *svc_state; /* per-flow state of the service being run (see service.h) */
	uint64_t user;	 /* scratch for the service currently holding the packet */
	struct nio_flow_key key;
	/* appended: the worker whose pool holds the buffer (a packet handed to another worker
	 * goes back there when freed); services leave it alone */
	uint32_t owner;
	/* appended: the claim that took the packet from the kernel, as the port driver read it
	 * (netiod's claim id + 1; 0: none). A classification hint the daemon checks before it
	 * uses it; services leave it alone */
	uint32_t claim_hint;
	/* appended: the packet tracer's handle of p's record, 0 when p is not traced; services
	 * leave it alone (a copy of a traced packet, e.g. a fragment, adds to the same record) */
	uint32_t trace;
	/* appended: a service that drops p may say why, for the packet tracer: 1 + the index in
	 * its counter_names of the counter it counted the drop under (0: not said). Read only
	 * after a drop verdict of a traced packet. */
	uint16_t drop_ctr;
	/* appended: where the buffer lives. region 0: the owner's pool; else the buffer region
	 * (id + 1) of a port driver (AF_XDP's UMEM) and the buffer's index in it, where the packet
	 * is processed in place and to whose free list it returns. Services leave them alone. */
	uint16_t region;
	uint32_t buf_idx;
};

static inline uint32_t nio_pkt_headroom(const struct nio_pkt *p)
{
	return (uint32_t)(p->data - p->buf);
}

static inline uint32_t nio_pkt_tailroom(const struct nio_pkt *p)
{
	return p->buf_size - nio_pkt_headroom(p) - p->len;
}

/* Prepend n bytes; returns the new start of the frame or NULL if the headroom is too small. */
static inline uint8_t *nio_pkt_push(struct nio_pkt *p, uint32_t n)
{
	if (n > nio_pkt_headroom(p))
		return NULL;
	p->data -= n;
	p->len += n;
	p->l3_off = (uint16_t)(p->l3_off + n);
	p->l4_off = (uint16_t)(p->l4_off + n);
	return p->data;
}

/* Strip n bytes from the front; returns the new start of the frame or NULL if too short. */
static inline uint8_t *nio_pkt_pull(struct nio_pkt *p, uint32_t n)
{
	if (n > p->len)
		return NULL;
	p->data += n;
	p->len -= n;
	p->l3_off = p->l3_off >= n ? (uint16_t)(p->l3_off - n) : 0;
	p->l4_off = p->l4_off >= n ? (uint16_t)(p->l4_off - n) : 0;
	return p->data;
}

/* Grow the frame at the tail by n bytes; returns a pointer to the new bytes or NULL. */
static inline uint8_t *nio_pkt_put(struct nio_pkt *p, uint32_t n)
{
	uint8_t *t = p->data + p->len;

	if (n > nio_pkt_tailroom(p))
		return NULL;
	p->len += n;
	return t;
}

/* Shrink the frame to n bytes. */
static inline int nio_pkt_trim(struct nio_pkt *p, uint32_t n)
{
	if (n > p->len)
		return -1;
	p->len = n;
	return 0;
}

static inline uint8_t *nio_pkt_l3(const struct nio_pkt *p)
{
	return p->data + p->l3_off;
}

static inline uint32_t nio_pkt_l3_len(const struct nio_pkt *p)
{
	return p->len - p->l3_off;
}

#endif /* NETIO_PKT_H */

// SPDX-License-Identifier: GPL-2.0
/* The afxdp port's XDP program: claimed frames to netiod's XSK socket of their queue, the
 * kernel's own traffic and everything unclaimed to the stack, fail-mode while netiod is away. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

#include "netio_xdp.h"

/* Maps port_afxdp.c fills; they outlive netiod (attached program, pins) so fail-mode holds. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * NIO_XDP_CLAIMS_MAX);
	__type(key, __u32);
	__type(value, struct nio_xdp_claim);
} nio_claims SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nio_xdp_conf);
} nio_conf SEC(".maps");

/* An entry exists while netiod's socket for that queue is open: the kernel removes it when
 * the socket is closed, whether netiod exited or was killed. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, NIO_XDP_QUEUES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} nio_xsks SEC(".maps");

/* The network namespace's own addresses (1) and IPv4 subnet broadcasts (2), IPv4-mapped. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NIO_XDP_LOCAL_MAX);
	__type(key, __u32[4]);
	__type(value, __u8);
} nio_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NIO_XDP_STATS);
	__type(key, __u32);
	__type(value, __u64);
} nio_stats SEC(".maps");

/* Run first among libxdp's programs on the device; the next one runs on XDP_PASS. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(netio_xdp);

struct key {
	__u32 src[4], dst[4];
	__u16 sport, dport;
	__u8 family, proto;
};

#define LOCAL_ADDR  1
#define LOCAL_BCAST 2

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&nio_stats, &what);

	if (v)
		(*v)++;
}

static __always_inline int ports_proto(__u8 p)
{
	return p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP || p == IPPROTO_UDPLITE;
}

/* Source and destination ports of a first fragment / unfragmented datagram; 0 otherwise. */
static __always_inline void l4_ports(struct key *k, void *l4, void *end, int first)
{
	__u16 *p = l4;

	if (!first || !ports_proto(k->proto) || (void *)(p + 2) > end)
		return;
	k->sport = bpf_ntohs(p[0]);
	k->dport = bpf_ntohs(p[1]);
}

/* 1: the kernel's traffic whatever the claims (broadcast, link-local multicast). */
static __always_inline int parse4(struct key *k, void *l3, void *end)
{
	struct iphdr *ip = l3;
	__u32 d;

	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return 1;
	d = bpf_ntohl(ip->daddr);
	if (d == 0xffffffff || (d & 0xffffff00) == 0xe0000000)
		return 1;
	k->family = 4;
	k->proto = ip->protocol;
	k->src[2] = k->dst[2] = bpf_htonl(0xffff);
	k->src[3] = ip->saddr;
	k->dst[3] = ip->daddr;
	l4_ports(k, l3 + ip->ihl * 4, end, !(ip->frag_off & bpf_htons(0x1fff)));
	return 0;
}

static __always_inline int nd_or_mld(__u8 type)
{
	return (type >= 133 && type <= 137) || (type >= 130 && type <= 132) || type == 143;
}

/* IPv6 past up to four extension headers, as netiod's parser goes. */
static __always_inline int parse6(struct key *k, void *l3, void *end)
{
	struct ipv6hdr *ip = l3;
	__u8 *h, nh;
	int first = 1;

	if ((void *)(ip + 1) > end)
		return 1;
	if (ip->daddr.s6_addr[0] == 0xff && (ip->daddr.s6_addr[1] & 0xf) <= 2)
		return 1; /* link-local (or smaller) multicast scope */
	k->family = 6;
	__builtin_memcpy(k->src, &ip->saddr, 16);
	__builtin_memcpy(k->dst, &ip->daddr, 16);
	nh = ip->nexthdr;
	h = (__u8 *)(ip + 1);
#pragma clang loop unroll(full)
	for (int i = 0; i < 4; i++) {
		if (nh != 0 && nh != 43 && nh != 60 && nh != 44)
			break;
		if ((void *)(h + 8) > end)
			return 1;
		if (nh == 44)
			first = !(h[2] | (h[3] & 0xf8));
		nh = h[0];
		h += nh == 44 ? 8 : (h[1] + 1) * 8;
	}
	k->proto = nh;
	if (nh == 58) {
		if ((void *)(h + 1) > end)
			return 1;
		if (nd_or_mld(h[0]))
			return 1;
	}
	l4_ports(k, h, end, first);
	return 0;
}

static __always_inline int masked(const __u32 *a, const __u32 *pfx, const __u32 *mask)
{
	return (a[0] & mask[0]) == pfx[0] && (a[1] & mask[1]) == pfx[1] &&
	       (a[2] & mask[2]) == pfx[2] && (a[3] & mask[3]) == pfx[3];
}

static __always_inline int claim_match(const struct nio_xdp_claim *c, const struct key *k,
				       int local)
{
	if (local && !c->dst_host)
		return 0;
	if ((c->family && c->family != k->family) || (c->proto && c->proto != k->proto))
		return 0;
	if (!masked(k->src, c->src, c->src_mask) || !masked(k->dst, c->dst, c->dst_mask))
		return 0;
	if (!c->has_ports)
		return 1;
	return ports_proto(k->proto) && k->sport >= c->sport_lo && k->sport <= c->sport_hi &&
	       k->dport >= c->dport_lo && k->dport <= c->dport_hi;
}

struct find {
	const struct key *k;
	__u32 base; /* the active set's first entry */
	int local;
	const struct nio_xdp_claim *found;
};

/* bpf_loop's body: claim i of the set; 1 stops at the first that matches. */
static long claim_try(__u32 i, void *arg)
{
	struct find *f = arg;
	__u32 idx = f->base + i;
	const struct nio_xdp_claim *c = bpf_map_lookup_elem(&nio_claims, &idx);

	if (!c || !claim_match(c, f->k, f->local))
		return 0;
	f->found = c;
	return 1;
}

/* The first claim of the active set matching k, or NULL. bpf_loop: the verifier checks the
 * body once instead of once per possible claim, so the program loads in milliseconds. */
static __always_inline const struct nio_xdp_claim *claim_find(const struct nio_xdp_conf *conf,
							      const struct key *k, int local)
{
	__u32 set = conf->set & 1, n = conf->nclaims[set];
	struct find f = { .k = k, .base = set * NIO_XDP_CLAIMS_MAX, .local = local };

	if (n > NIO_XDP_CLAIMS_MAX)
		n = NIO_XDP_CLAIMS_MAX;
	bpf_loop(n, claim_try, &f, 0);
	return f.found;
}

/* Past the Ethernet header and up to two VLAN tags: the L3 header, *proto its ethertype. */
static __always_inline void *l3_of(struct ethhdr *eth, void *end, __u16 *proto)
{
	void *l3 = eth + 1;

	*proto = eth->h_proto;
#pragma clang loop unroll(full)
	for (int i = 0; i < 2; i++) {
		if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
			break;
		if (l3 + 4 > end)
			return 0;
		*proto = *(__u16 *)(l3 + 2);
		l3 += 4;
	}
	return l3;
}

static __always_inline int for_us(const struct ethhdr *eth, const struct nio_xdp_conf *conf)
{
	if (eth->h_dest[0] & 1) /* multicast; broadcast was kept by the caller */
		return 1;
	return eth->h_dest[0] == conf->mac[0] && eth->h_dest[1] == conf->mac[1] &&
	       eth->h_dest[2] == conf->mac[2] && eth->h_dest[3] == conf->mac[3] &&
	       eth->h_dest[4] == conf->mac[4] && eth->h_dest[5] == conf->mac[5];
}

static __always_inline int parse(struct xdp_md *ctx, const struct nio_xdp_conf *conf, struct key *k)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u16 proto;
	void *l3;

	if ((void *)(eth + 1) > end)
		return 1;
	if ((eth->h_dest[0] & eth->h_dest[1] & eth->h_dest[2] & eth->h_dest[3] & eth->h_dest[4] &
	     eth->h_dest[5]) == 0xff)
		return 1;
	if (!for_us(eth, conf))
		return 1;
	l3 = l3_of(eth, end, &proto);
	if (!l3)
		return 1;
	if (proto == bpf_htons(ETH_P_IP))
		return parse4(k, l3, end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse6(k, l3, end);
	return 1; /* ARP, LLDP...: the kernel's */
}

SEC("xdp")
int netio_xdp(struct xdp_md *ctx)
{
	__u32 zero = 0, q = ctx->rx_queue_index;
	const struct nio_xdp_conf *conf = bpf_map_lookup_elem(&nio_conf, &zero);
	const struct nio_xdp_claim *c;
	struct key k = {};
	__u8 *local;

	if (!conf || parse(ctx, conf, &k))
		return XDP_PASS;
	local = bpf_map_lookup_elem(&nio_local, k.dst);
	if (local && *local == LOCAL_BCAST)
		return XDP_PASS;
	c = claim_find(conf, &k, local != 0);
	if (!c) {
		count(local ? NIO_XDP_KEPT : NIO_XDP_UNCLAIMED);
		return XDP_PASS;
	}
	if (bpf_map_lookup_elem(&nio_xsks, &q)) {
		count(NIO_XDP_REDIRECTED);
		return bpf_redirect_map(&nio_xsks, q, c->passthrough ? XDP_PASS : XDP_DROP);
	}
	count(c->passthrough ? NIO_XDP_FAIL_PASS : NIO_XDP_FAIL_DROP);
	return c->passthrough ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";

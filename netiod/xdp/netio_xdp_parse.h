/* The XDP program's frame parser and claim test, shared by netio_xdp.bpf.c and the fuzz target
 * tests/fuzz/fuzz_xdp_parse.c: every read is checked against end, as the verifier demands. */
#ifndef NETIO_XDP_PARSE_H
#define NETIO_XDP_PARSE_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/types.h>

#include <bpf/bpf_endian.h>

#include "netio_xdp.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* A frame's addresses (IPv4-mapped for IPv4, network order), ports (host order), family, L4. */
struct nio_xdp_key {
	__u32 src[4], dst[4];
	__u16 sport, dport;
	__u8 family, proto;
	__u8 natt_not_esp; /* UDP to port 4500 that is not ESP (nio_xdp_natt) */
};

#define NIO_XDP_NATT_PORT 4500

static __always_inline int nio_xdp_ports_proto(__u8 p)
{
	return p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP || p == IPPROTO_UDPLITE;
}

/*
 * RFC 3948: on the NAT-T port an ESP endpoint's claim takes ESP (a non-zero SPI first); IKE
 * (behind 4 zero bytes, the non-ESP marker) and the 1-byte 0xFF NAT keepalive are the IKE
 * daemon's, on the kernel's socket. The UDP length says where the datagram ends.
 */
static __always_inline void nio_xdp_natt(struct nio_xdp_key *k, __u8 *udp, void *end)
{
	__u16 len;

	if (k->proto != IPPROTO_UDP || k->dport != NIO_XDP_NATT_PORT || (void *)(udp + 8) > end)
		return;
	len = (__u16)(udp[4] << 8 | udp[5]);
	if (len == 9 && (void *)(udp + 9) <= end)
		k->natt_not_esp = udp[8] == 0xff;
	else if (len >= 12 && (void *)(udp + 12) <= end)
		k->natt_not_esp = !(udp[8] | udp[9] | udp[10] | udp[11]);
}

/* Source and destination ports of a first fragment / unfragmented datagram; 0 otherwise. */
static __always_inline void nio_xdp_l4_ports(struct nio_xdp_key *k, void *l4, void *end, int first)
{
	__u16 *p = l4;

	if (!first || !nio_xdp_ports_proto(k->proto) || (void *)(p + 2) > end)
		return;
	k->sport = bpf_ntohs(p[0]);
	k->dport = bpf_ntohs(p[1]);
	nio_xdp_natt(k, l4, end);
}

/* 1: the kernel's traffic whatever the claims (broadcast, link-local multicast). */
static __always_inline int nio_xdp_parse4(struct nio_xdp_key *k, void *l3, void *end)
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
	nio_xdp_l4_ports(k, (__u8 *)l3 + ip->ihl * 4, end, !(ip->frag_off & bpf_htons(0x1fff)));
	return 0;
}

static __always_inline int nio_xdp_nd_or_mld(__u8 type)
{
	return (type >= 133 && type <= 137) || (type >= 130 && type <= 132) || type == 143;
}

/*
 * IPv6 past up to NIO_XDP_EXT_MAX extension headers, as deep as netiod's parser (parse.c), so
 * both see the same protocol and ports: a flow's claim cannot be dodged by adding headers the
 * program would not look past. A header's length is its own (a fragment header: 8), read
 * before moving to the next. A deeper chain keeps the header type as proto (netiod drops it).
 */
#define NIO_XDP_EXT_MAX 8

static __always_inline int nio_xdp_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 44;
}

static __always_inline int nio_xdp_parse6(struct nio_xdp_key *k, void *l3, void *end)
{
	struct ipv6hdr *ip = l3;
	__u8 *h, nh;
	__u32 len;
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
	for (int i = 0; i < NIO_XDP_EXT_MAX; i++) {
		if (!nio_xdp_ext(nh))
			break;
		if ((void *)(h + 8) > end)
			return 1;
		if (nh == 44)
			first &= !(h[2] | (h[3] & 0xf8));
		len = nh == 44 ? 1 : h[1] + 1;
		nh = h[0];
		h += len * 8;
	}
	k->proto = nh;
	if (nh == 58) {
		if ((void *)(h + 1) > end)
			return 1;
		if (nio_xdp_nd_or_mld(h[0]))
			return 1;
	}
	nio_xdp_l4_ports(k, h, end, first);
	return 0;
}

static __always_inline int nio_xdp_masked(const __u32 *a, const __u32 *pfx, const __u32 *mask)
{
	return (a[0] & mask[0]) == pfx[0] && (a[1] & mask[1]) == pfx[1] &&
	       (a[2] & mask[2]) == pfx[2] && (a[3] & mask[3]) == pfx[3];
}

/* Does claim c take a frame with key k (local: k's destination is one of the box's own)? */
static __always_inline int nio_xdp_claim_match(const struct nio_xdp_claim *c,
					       const struct nio_xdp_key *k, int local)
{
	if (local && !c->dst_host)
		return 0;
	if ((c->family && c->family != k->family) || (c->proto && c->proto != k->proto))
		return 0;
	if (!nio_xdp_masked(k->src, c->src, c->src_mask) ||
	    !nio_xdp_masked(k->dst, c->dst, c->dst_mask))
		return 0;
	if (!c->has_ports)
		return 1;
	return nio_xdp_ports_proto(k->proto) && k->sport >= c->sport_lo &&
	       k->sport <= c->sport_hi && k->dport >= c->dport_lo && k->dport <= c->dport_hi;
}

struct nio_xdp_vlan {
	__be16 tci, proto;
};

/* Past the Ethernet header and up to two VLAN tags: the L3 header, *proto its ethertype. */
static __always_inline void *nio_xdp_l3(struct ethhdr *eth, void *end, __u16 *proto)
{
	void *l3 = eth + 1;

	*proto = eth->h_proto;
#pragma clang loop unroll(full)
	for (int i = 0; i < 2; i++) {
		struct nio_xdp_vlan *v = l3;

		if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(v + 1) > end)
			return 0;
		*proto = v->proto;
		l3 = v + 1;
	}
	return l3;
}

static __always_inline int nio_xdp_for_us(const struct ethhdr *eth, const struct nio_xdp_conf *conf)
{
	if (eth->h_dest[0] & 1) /* multicast; broadcast was kept by the caller */
		return 1;
	return eth->h_dest[0] == conf->mac[0] && eth->h_dest[1] == conf->mac[1] &&
	       eth->h_dest[2] == conf->mac[2] && eth->h_dest[3] == conf->mac[3] &&
	       eth->h_dest[4] == conf->mac[4] && eth->h_dest[5] == conf->mac[5];
}

/* The key of the frame [data, end); 1: the kernel's whatever the claims (not for this station,
 * broadcast, link-local multicast, ND, neither IPv4 nor IPv6, too short to tell). */
static __always_inline int nio_xdp_parse(void *data, void *end, const struct nio_xdp_conf *conf,
					 struct nio_xdp_key *k)
{
	struct ethhdr *eth = data;
	__u16 proto;
	void *l3;

	if ((void *)(eth + 1) > end)
		return 1;
	if ((eth->h_dest[0] & eth->h_dest[1] & eth->h_dest[2] & eth->h_dest[3] & eth->h_dest[4] &
	     eth->h_dest[5]) == 0xff)
		return 1;
	if (!nio_xdp_for_us(eth, conf))
		return 1;
	l3 = nio_xdp_l3(eth, end, &proto);
	if (!l3)
		return 1;
	if (proto == bpf_htons(ETH_P_IP))
		return nio_xdp_parse4(k, l3, end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return nio_xdp_parse6(k, l3, end);
	return 1; /* ARP, LLDP...: the kernel's */
}

#endif /* NETIO_XDP_PARSE_H */

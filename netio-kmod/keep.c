// SPDX-License-Identifier: GPL-2.0
/* What the kernel keeps: frames a claim matched that belong to the gateway's own stack. */
#include <linux/icmpv6.h>
#include <linux/inetdevice.h>
#include <linux/udp.h>
#include <net/addrconf.h>
#include <net/ipv6.h>
#include <net/ndisc.h>
#include <net/route.h>

#include "netio.h"

/*
 * No claim, however broad, may cut the gateway off: neighbour discovery, link-local multicast
 * (routing protocols, mDNS, VRRP), broadcast, and the traffic to the box itself (SSH, BGP, a
 * ping) stay with the kernel stack. The cheap tests on the link-layer type and the header come
 * first; the address lookups run only for unicast that a claim matched.
 */

#define NIO_NATT_PORT 4500

/*
 * RFC 3948: on the NAT-T port an ESP endpoint's claim takes ESP (a non-zero SPI first); IKE
 * (behind 4 zero bytes, the non-ESP marker) and the 1-byte 0xFF NAT keepalive go to the IKE
 * daemon's socket. The UDP length says where the datagram ends (Ethernet may pad it).
 */
static bool nio_natt_not_esp(const struct sk_buff *skb, const struct nio_key *k)
{
	struct udphdr _uh;
	const struct udphdr *uh;
	u8 _b[4];
	const u8 *b;
	unsigned int plen;

	if (k->proto != IPPROTO_UDP || !k->has_ports || k->dport != NIO_NATT_PORT)
		return false;
	uh = skb_header_pointer(skb, k->l4_off, sizeof(_uh), &_uh);
	if (!uh || ntohs(uh->len) < sizeof(*uh))
		return false;
	plen = ntohs(uh->len) - sizeof(*uh);
	if (plen != 1 && plen < 4)
		return false;
	b = skb_header_pointer(skb, k->l4_off + sizeof(*uh), plen == 1 ? 1 : 4, _b);
	if (!b)
		return false;
	return plen == 1 ? b[0] == 0xff : !(b[0] | b[1] | b[2] | b[3]);
}

/* To one of the netns's addresses: the kernel's, unless a matching claim names that address
 * as a host prefix (a tunnel or ESP endpoint), which then takes the frame, but for what
 * is IKE's on the NAT-T port. */
static u32 nio_keep_local(const struct sk_buff *skb, struct nio_claim_table *t,
			  const struct nio_key *k, struct nio_claim **c)
{
	struct nio_claim *host = nio_claim_lookup_host(t, k);

	if (!host)
		return NETIO_KEPT_LOCAL;
	*c = host;
	return nio_natt_not_esp(skb, k) ? NETIO_KEPT_NATT : 0;
}

static u32 nio_keep_v4(const struct sk_buff *skb, struct nio_claim_table *t,
		       const struct nio_key *k, struct nio_claim **c)
{
	__be32 dst;

	memcpy(&dst, &k->dst, sizeof(dst));
	if (ipv4_is_lbcast(dst))
		return NETIO_KEPT_BROADCAST;
	if (ipv4_is_multicast(dst))
		return ipv4_is_local_multicast(dst) ? NETIO_KEPT_LL_MCAST : 0;
	/* the local table knows both the own addresses and every subnet's broadcast address;
	 * asked even for a host-prefix claim, which must not make a broadcast claimable */
	switch (inet_addr_type_dev_table(dev_net(skb->dev), skb->dev, dst)) {
	case RTN_BROADCAST:
		return NETIO_KEPT_BROADCAST;
	case RTN_LOCAL:
		return nio_keep_local(skb, t, k, c);
	default:
		return 0;
	}
}

static bool nio_icmp6_nd(u8 type)
{
	return type >= NDISC_ROUTER_SOLICITATION && type <= NDISC_REDIRECT;
}

static bool nio_icmp6_mld(u8 type)
{
	return (type >= ICMPV6_MGM_QUERY && type <= ICMPV6_MGM_REDUCTION) ||
	       type == ICMPV6_MLD2_REPORT;
}

static u32 nio_keep_v6(const struct sk_buff *skb, struct nio_claim_table *t,
		       const struct nio_key *k, struct nio_claim **c)
{
	if (k->has_icmp6 && nio_icmp6_nd(k->icmp6_type))
		return NETIO_KEPT_ND;
	if (k->has_icmp6 && nio_icmp6_mld(k->icmp6_type))
		return NETIO_KEPT_MLD;
	if (ipv6_addr_is_multicast(&k->dst))
		return IPV6_ADDR_MC_SCOPE(&k->dst) <= IPV6_ADDR_SCOPE_LINKLOCAL
			       ? NETIO_KEPT_LL_MCAST
			       : 0;
	/* a host-prefix claim takes its address whether it is the gateway's or not (only IKE
	 * on the NAT-T port needs to know) */
	if (((*c)->dst_plen == 128 && !nio_natt_not_esp(skb, k)) || !IS_ENABLED(CONFIG_IPV6))
		return 0;
	if (ipv6_chk_addr(dev_net(skb->dev), &k->dst, NULL, 0))
		return nio_keep_local(skb, t, k, c);
	return 0;
}

/*
 * Why the frame claim *c matched belongs to the kernel (enum netio_kept), or 0 to claim it;
 * *c may change to the claim that names the destination exactly. Softirq, under RCU.
 */
u32 nio_keep_reason(const struct sk_buff *skb, struct nio_claim_table *t, const struct nio_key *k,
		    struct nio_claim **c)
{
	if (skb->pkt_type == PACKET_BROADCAST)
		return NETIO_KEPT_BROADCAST;
	if (k->family == AF_INET)
		return nio_keep_v4(skb, t, k, c);
	return nio_keep_v6(skb, t, k, c);
}

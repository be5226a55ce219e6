// SPDX-License-Identifier: GPL-2.0
/* What the kernel keeps: frames a claim matched that belong to the gateway's own stack. */
#include <linux/icmpv6.h>
#include <linux/inetdevice.h>
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

/* To one of the netns's addresses: the kernel's, unless a matching claim names that address
 * as a host prefix (a tunnel or ESP endpoint), which then takes the frame. */
static u32 nio_keep_local(struct nio_claim_table *t, const struct nio_key *k, struct nio_claim **c)
{
	struct nio_claim *host = nio_claim_lookup_host(t, k);

	if (!host)
		return NETIO_KEPT_LOCAL;
	*c = host;
	return 0;
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
		return nio_keep_local(t, k, c);
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
	/* a host-prefix claim takes its address whether it is the gateway's or not */
	if ((*c)->dst_plen == 128 || !IS_ENABLED(CONFIG_IPV6))
		return 0;
	if (ipv6_chk_addr(dev_net(skb->dev), &k->dst, NULL, 0))
		return nio_keep_local(t, k, c);
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

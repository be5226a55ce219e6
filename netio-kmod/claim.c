// SPDX-License-Identifier: GPL-2.0
/* Claims: parsing from netlink, the overlap rule between owners, and per-packet matching. */
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/ip.h>
#include <net/ipv6.h>

#include "netio.h"

const struct nla_policy nio_claim_policy[NETIO_CLAIM_A_MAX + 1] = {
	[NETIO_CLAIM_A_ID] = { .type = NLA_U16 },
	[NETIO_CLAIM_A_FAMILY] = { .type = NLA_U8 },
	[NETIO_CLAIM_A_PROTO] = { .type = NLA_U8 },
	[NETIO_CLAIM_A_SRC] = NLA_POLICY_RANGE(NLA_BINARY, 4, 16),
	[NETIO_CLAIM_A_SRC_PLEN] = NLA_POLICY_MAX(NLA_U8, 128),
	[NETIO_CLAIM_A_DST] = NLA_POLICY_RANGE(NLA_BINARY, 4, 16),
	[NETIO_CLAIM_A_DST_PLEN] = NLA_POLICY_MAX(NLA_U8, 128),
	[NETIO_CLAIM_A_SPORT_LO] = { .type = NLA_U16 },
	[NETIO_CLAIM_A_SPORT_HI] = { .type = NLA_U16 },
	[NETIO_CLAIM_A_DPORT_LO] = { .type = NLA_U16 },
	[NETIO_CLAIM_A_DPORT_HI] = { .type = NLA_U16 },
	[NETIO_CLAIM_A_FAIL_MODE] = NLA_POLICY_MAX(NLA_U8, NETIO_FAIL_MAX),
	[NETIO_CLAIM_A_PACKETS] = { .type = NLA_REJECT },
	[NETIO_CLAIM_A_BYTES] = { .type = NLA_REJECT },
	[NETIO_CLAIM_A_QUEUED] = { .type = NLA_REJECT },
	[NETIO_CLAIM_A_DROPPED] = { .type = NLA_REJECT },
	[NETIO_CLAIM_A_PASSED] = { .type = NLA_REJECT },
	[NETIO_CLAIM_A_KEPT] = { .type = NLA_REJECT },
};

static bool nio_has_ports(u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE;
}

static u8 nio_addr_bits(u8 family)
{
	return family == AF_INET ? 32 : 128;
}

/* Do a and b agree on their first plen bits? */
static bool nio_prefix_eq(const struct in6_addr *a, const struct in6_addr *b, u8 plen)
{
	u8 bytes = plen / 8, bits = plen % 8;

	if (memcmp(a, b, bytes))
		return false;
	return !bits || !((a->s6_addr[bytes] ^ b->s6_addr[bytes]) & (0xff00 >> bits));
}

static void nio_prefix_clear_host(struct in6_addr *a, u8 plen)
{
	u8 i;

	for (i = plen; i < 128; i++)
		a->s6_addr[i / 8] &= ~(0x80 >> (i % 8));
}

static int nio_claim_addr(struct nlattr *addr, struct nlattr *plen, u8 family, struct in6_addr *out,
			  u8 *out_plen, struct netlink_ext_ack *extack)
{
	*out_plen = 0;
	if (!addr) {
		if (plen) {
			NL_SET_ERR_MSG_ATTR(extack, plen, "prefix length without an address");
			return -EINVAL;
		}
		return 0;
	}
	if (!family || nla_len(addr) != nio_addr_bits(family) / 8) {
		NL_SET_ERR_MSG_ATTR(extack, addr, "address does not match the claim's family");
		return -EINVAL;
	}
	nla_memcpy(out, addr, sizeof(*out));
	*out_plen = plen ? nla_get_u8(plen) : nio_addr_bits(family);
	if (*out_plen > nio_addr_bits(family)) {
		NL_SET_ERR_MSG_ATTR(extack, plen, "prefix length too long");
		return -EINVAL;
	}
	nio_prefix_clear_host(out, *out_plen);
	return 0;
}

static int nio_claim_ports(struct nlattr **tb, struct nio_claim *c, struct netlink_ext_ack *extack)
{
	c->sport_lo = tb[NETIO_CLAIM_A_SPORT_LO] ? nla_get_u16(tb[NETIO_CLAIM_A_SPORT_LO]) : 0;
	c->sport_hi = tb[NETIO_CLAIM_A_SPORT_HI] ? nla_get_u16(tb[NETIO_CLAIM_A_SPORT_HI]) : 0xffff;
	c->dport_lo = tb[NETIO_CLAIM_A_DPORT_LO] ? nla_get_u16(tb[NETIO_CLAIM_A_DPORT_LO]) : 0;
	c->dport_hi = tb[NETIO_CLAIM_A_DPORT_HI] ? nla_get_u16(tb[NETIO_CLAIM_A_DPORT_HI]) : 0xffff;
	if (c->sport_lo > c->sport_hi || c->dport_lo > c->dport_hi) {
		NL_SET_ERR_MSG(extack, "port range with low > high");
		return -EINVAL;
	}
	if ((c->sport_lo || c->sport_hi != 0xffff || c->dport_lo || c->dport_hi != 0xffff) &&
	    !nio_has_ports(c->proto)) {
		NL_SET_ERR_MSG(extack, "port ranges need proto TCP, UDP, SCTP or UDP-Lite");
		return -EINVAL;
	}
	return 0;
}

/* Fill c from one nested claim; the policy has already checked types and ranges. */
int nio_claim_parse(struct nlattr *nest, struct nio_claim *c, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[NETIO_CLAIM_A_MAX + 1];
	int err;

	err = nla_parse_nested(tb, NETIO_CLAIM_A_MAX, nest, nio_claim_policy, extack);
	if (err)
		return err;
	if (!tb[NETIO_CLAIM_A_ID]) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "claim without an id");
		return -EINVAL;
	}
	c->id = nla_get_u16(tb[NETIO_CLAIM_A_ID]);
	c->family = tb[NETIO_CLAIM_A_FAMILY] ? nla_get_u8(tb[NETIO_CLAIM_A_FAMILY]) : 0;
	if (c->family && c->family != AF_INET && c->family != AF_INET6) {
		NL_SET_ERR_MSG_ATTR(extack, tb[NETIO_CLAIM_A_FAMILY],
				    "family must be 0, AF_INET or AF_INET6");
		return -EINVAL;
	}
	c->proto = tb[NETIO_CLAIM_A_PROTO] ? nla_get_u8(tb[NETIO_CLAIM_A_PROTO]) : 0;
	c->fail_mode = tb[NETIO_CLAIM_A_FAIL_MODE] ? nla_get_u8(tb[NETIO_CLAIM_A_FAIL_MODE])
						   : NETIO_FAIL_SECURE;
	err = nio_claim_addr(tb[NETIO_CLAIM_A_SRC], tb[NETIO_CLAIM_A_SRC_PLEN], c->family, &c->src,
			     &c->src_plen, extack);
	if (!err)
		err = nio_claim_addr(tb[NETIO_CLAIM_A_DST], tb[NETIO_CLAIM_A_DST_PLEN], c->family,
				     &c->dst, &c->dst_plen, extack);
	if (!err)
		err = nio_claim_ports(tb, c, extack);
	return err;
}

static bool nio_ranges_meet(u16 alo, u16 ahi, u16 blo, u16 bhi)
{
	return alo <= bhi && blo <= ahi;
}

/* Could one packet match both claims? Prefixes on both sides imply the same family. */
bool nio_claim_overlap(const struct nio_claim *a, const struct nio_claim *b)
{
	if (a->family && b->family && a->family != b->family)
		return false;
	if (a->proto && b->proto && a->proto != b->proto)
		return false;
	if (!nio_prefix_eq(&a->src, &b->src, min(a->src_plen, b->src_plen)))
		return false;
	if (!nio_prefix_eq(&a->dst, &b->dst, min(a->dst_plen, b->dst_plen)))
		return false;
	return nio_ranges_meet(a->sport_lo, a->sport_hi, b->sport_lo, b->sport_hi) &&
	       nio_ranges_meet(a->dport_lo, a->dport_hi, b->dport_lo, b->dport_hi);
}

static void nio_key_ports(const struct sk_buff *skb, int off, struct nio_key *k)
{
	__be16 _ports[2];
	const __be16 *ports;

	if (!nio_has_ports(k->proto))
		return;
	ports = skb_header_pointer(skb, off, sizeof(_ports), _ports);
	if (!ports)
		return;
	k->sport = ntohs(ports[0]);
	k->dport = ntohs(ports[1]);
	k->l4_off = off;
	k->has_ports = true;
}

static bool nio_key_v4(const struct sk_buff *skb, struct nio_key *k)
{
	struct iphdr _iph;
	const struct iphdr *iph = skb_header_pointer(skb, 0, sizeof(_iph), &_iph);

	if (!iph || iph->version != 4 || iph->ihl < 5)
		return false;
	k->family = AF_INET;
	k->proto = iph->protocol;
	memcpy(&k->src, &iph->saddr, 4);
	memcpy(&k->dst, &iph->daddr, 4);
	if (!(ntohs(iph->frag_off) & IP_OFFSET))
		nio_key_ports(skb, iph->ihl * 4, k);
	return true;
}

static bool nio_key_v6(const struct sk_buff *skb, struct nio_key *k)
{
	struct ipv6hdr _ip6h;
	const struct ipv6hdr *ip6h = skb_header_pointer(skb, 0, sizeof(_ip6h), &_ip6h);
	__be16 frag_off = 0;
	u8 nexthdr;
	int off;

	if (!ip6h || ip6h->version != 6)
		return false;
	nexthdr = ip6h->nexthdr;
	off = ipv6_skip_exthdr(skb, sizeof(*ip6h), &nexthdr, &frag_off);
	if (off < 0)
		return false;
	k->family = AF_INET6;
	k->proto = nexthdr;
	k->src = ip6h->saddr;
	k->dst = ip6h->daddr;
	if (frag_off & htons(IP6_OFFSET))
		return true;
	nio_key_ports(skb, off, k);
	if (nexthdr == IPPROTO_ICMPV6) {
		const u8 *type = skb_header_pointer(skb, off, 1, &k->icmp6_type);

		k->has_icmp6 = type;
		if (type)
			k->icmp6_type = *type;
	}
	return true;
}

static bool nio_claim_match(const struct nio_claim *c, const struct nio_key *k)
{
	bool any_ports =
		!c->sport_lo && c->sport_hi == 0xffff && !c->dport_lo && c->dport_hi == 0xffff;

	if ((c->family && c->family != k->family) || (c->proto && c->proto != k->proto))
		return false;
	if (!nio_prefix_eq(&c->src, &k->src, c->src_plen) ||
	    !nio_prefix_eq(&c->dst, &k->dst, c->dst_plen))
		return false;
	if (any_ports)
		return true;
	return k->has_ports && k->sport >= c->sport_lo && k->sport <= c->sport_hi &&
	       k->dport >= c->dport_lo && k->dport <= c->dport_hi;
}

/* The claim an Ethernet frame (skb->data at the network header) belongs to, or NULL; k gets
 * the frame's fields. */
struct nio_claim *nio_claim_lookup(struct nio_claim_table *t, const struct sk_buff *skb,
				   struct nio_key *k)
{
	unsigned int i;
	bool ok;

	memset(k, 0, sizeof(*k));
	if (skb->protocol == htons(ETH_P_IP))
		ok = nio_key_v4(skb, k);
	else if (skb->protocol == htons(ETH_P_IPV6))
		ok = nio_key_v6(skb, k);
	else
		return NULL;
	if (!ok)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (nio_claim_match(t->claims[i], k))
			return t->claims[i];
	return NULL;
}

/* The first claim matching k that names k's destination exactly, as a host prefix. */
struct nio_claim *nio_claim_lookup_host(struct nio_claim_table *t, const struct nio_key *k)
{
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (t->claims[i]->dst_plen == nio_addr_bits(k->family) &&
		    nio_claim_match(t->claims[i], k))
			return t->claims[i];
	return NULL;
}

/* Does b hold a claim that must keep dropping without an owner? nio_lock held. */
bool nio_claims_secure(const struct nio_bind *b)
{
	unsigned int i;

	for (i = 0; i < b->nclaims; i++)
		if (b->claims[i]->fail_mode == NETIO_FAIL_SECURE)
			return true;
	return false;
}

struct nio_claim *nio_claim_alloc(void)
{
	struct nio_claim *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return NULL;
	c->stats = alloc_percpu(struct nio_claim_stats);
	if (!c->stats) {
		kfree(c);
		return NULL;
	}
	return c;
}

/* Free a claim that was never published. */
void nio_claim_free_now(struct nio_claim *c)
{
	free_percpu(c->stats);
	kfree(c);
}

static void nio_claim_free_rcu(struct rcu_head *head)
{
	nio_claim_free_now(container_of(head, struct nio_claim, rcu));
}

/* Free after a grace period: the rx_handler may still be looking at c. */
void nio_claim_free(struct nio_claim *c)
{
	call_rcu(&c->rcu, nio_claim_free_rcu);
}

void nio_claim_stats_sum(const struct nio_claim *c, struct nio_claim_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct nio_claim_stats *s = per_cpu_ptr(c->stats, cpu);

		sum->packets += READ_ONCE(s->packets);
		sum->bytes += READ_ONCE(s->bytes);
		sum->queued += READ_ONCE(s->queued);
		sum->dropped += READ_ONCE(s->dropped);
		sum->passed += READ_ONCE(s->passed);
		sum->kept += READ_ONCE(s->kept);
	}
}

/* Keep the counters of a claim whose id survives a replacement (a few in-flight counts may
 * land on the old copy during the swap). */
static void nio_claim_carry(struct nio_bind *b, struct nio_claim *c)
{
	unsigned int i;
	int cpu;

	for (i = 0; i < b->nclaims; i++) {
		if (b->claims[i]->id != c->id)
			continue;
		for_each_possible_cpu(cpu)
			*per_cpu_ptr(c->stats, cpu) = *per_cpu_ptr(b->claims[i]->stats, cpu);
		return;
	}
}

static int nio_claims_check(struct nio_bind *b, struct nio_claim **claims, unsigned int n,
			    struct netlink_ext_ack *extack)
{
	unsigned int i, j, total = n;
	struct nio_bind *o;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (claims[i]->id == claims[j]->id) {
				NL_SET_ERR_MSG(extack, "duplicate claim id");
				return -EINVAL;
			}
	list_for_each_entry(o, &b->nic->bindings, nic_node) {
		if (o == b)
			continue;
		total += o->nclaims;
		for (i = 0; i < n; i++)
			for (j = 0; j < o->nclaims; j++)
				if (nio_claim_overlap(claims[i], o->claims[j])) {
					NL_SET_ERR_MSG(extack,
						       "claim overlaps another owner's claim");
					return -EBUSY;
				}
	}
	if (total > NIO_NIC_CLAIMS_MAX) {
		NL_SET_ERR_MSG(extack, "too many claims on this NIC");
		return -ENOSPC;
	}
	return 0;
}

static struct nio_claim_table *nio_table_build(struct nio_nic *nic, gfp_t gfp)
{
	struct nio_claim_table *t;
	struct nio_bind *b;
	unsigned int n = 0, i;

	list_for_each_entry(b, &nic->bindings, nic_node)
		n += b->nclaims;
	t = kzalloc(struct_size(t, claims, n), gfp);
	if (!t)
		return NULL;
	list_for_each_entry(b, &nic->bindings, nic_node)
		for (i = 0; i < b->nclaims; i++)
			t->claims[t->n++] = b->claims[i];
	return t;
}

/*
 * Install claims (an array of n, ownership passes to b) as b's whole claim set and publish the
 * NIC's new table; on error nothing changes and the caller still owns claims. nio_lock held.
 */
int nio_claims_replace(struct nio_bind *b, struct nio_claim **claims, unsigned int n,
		       struct netlink_ext_ack *extack)
{
	struct nio_claim **old = b->claims;
	unsigned int old_n = b->nclaims, i;
	struct nio_claim_table *t;
	int err;

	err = nio_claims_check(b, claims, n, extack);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		claims[i]->bind = b;
		nio_claim_carry(b, claims[i]);
	}
	b->claims = claims;
	b->nclaims = n;
	t = nio_table_build(b->nic, GFP_KERNEL);
	if (!t) {
		b->claims = old;
		b->nclaims = old_n;
		return -ENOMEM;
	}
	nio_nic_publish(b->nic, t);
	for (i = 0; i < old_n; i++)
		nio_claim_free(old[i]);
	kfree(old);
	return 0;
}

/* Rebuild the NIC's table after a binding left it; must not fail, or stale claims remain. */
void nio_nic_rebuild(struct nio_nic *nic)
{
	nio_nic_publish(nic, nio_table_build(nic, GFP_KERNEL | __GFP_NOFAIL));
}

static int nio_claim_fill_match(struct sk_buff *msg, const struct nio_claim *c)
{
	u8 alen = nio_addr_bits(c->family) / 8;

	if (nla_put_u16(msg, NETIO_CLAIM_A_ID, c->id) ||
	    nla_put_u8(msg, NETIO_CLAIM_A_FAMILY, c->family) ||
	    nla_put_u8(msg, NETIO_CLAIM_A_PROTO, c->proto) ||
	    nla_put_u8(msg, NETIO_CLAIM_A_FAIL_MODE, c->fail_mode) ||
	    nla_put_u16(msg, NETIO_CLAIM_A_SPORT_LO, c->sport_lo) ||
	    nla_put_u16(msg, NETIO_CLAIM_A_SPORT_HI, c->sport_hi) ||
	    nla_put_u16(msg, NETIO_CLAIM_A_DPORT_LO, c->dport_lo) ||
	    nla_put_u16(msg, NETIO_CLAIM_A_DPORT_HI, c->dport_hi))
		return -EMSGSIZE;
	if (c->src_plen && (nla_put(msg, NETIO_CLAIM_A_SRC, alen, &c->src) ||
			    nla_put_u8(msg, NETIO_CLAIM_A_SRC_PLEN, c->src_plen)))
		return -EMSGSIZE;
	if (c->dst_plen && (nla_put(msg, NETIO_CLAIM_A_DST, alen, &c->dst) ||
			    nla_put_u8(msg, NETIO_CLAIM_A_DST_PLEN, c->dst_plen)))
		return -EMSGSIZE;
	return 0;
}

/* One claim with its counters, as a nested array element (type 0). */
int nio_claim_fill(struct sk_buff *msg, const struct nio_claim *c)
{
	struct nio_claim_stats s;
	struct nlattr *nest = nla_nest_start(msg, 0);

	if (!nest)
		return -EMSGSIZE;
	nio_claim_stats_sum(c, &s);
	if (nio_claim_fill_match(msg, c) ||
	    nla_put_u64_64bit(msg, NETIO_CLAIM_A_PACKETS, s.packets, NETIO_CLAIM_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_CLAIM_A_BYTES, s.bytes, NETIO_CLAIM_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_CLAIM_A_QUEUED, s.queued, NETIO_CLAIM_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_CLAIM_A_DROPPED, s.dropped, NETIO_CLAIM_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_CLAIM_A_PASSED, s.passed, NETIO_CLAIM_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_CLAIM_A_KEPT, s.kept, NETIO_CLAIM_A_PAD)) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

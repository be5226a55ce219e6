/* Lookups in a published nio_fib snapshot: longest-prefix route match and next-hop neighbour. */
#include <stdio.h>
#include <string.h>

#include "netiod.h"

/*
 * neigh.c builds every snapshot in the order these lookups rely on:
 *   routes: longest prefix first, then lowest priority (metric) first, so the first match wins;
 *   neighs: by address (memcmp), then ifindex, so an address is found by binary search.
 */

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Family is checked because an IPv6 prefix shorter than /96 (the v6 default route) also covers
 * the ::ffff:0:0/96 block that holds IPv4 addresses. */
const struct nio_fib_route *nio_fib_route(const struct nio_fib *fib, uint32_t table,
					  const uint8_t dst[16])
{
	uint8_t family = memcmp(dst, v4mapped, sizeof(v4mapped)) ? 6 : 4;

	for (unsigned i = 0; i < fib->nroutes; i++) {
		const struct nio_fib_route *r = &fib->routes[i];

		if (r->table == table && r->dst.family == family &&
		    nio_prefix_contains(&r->dst, dst))
			return r;
	}
	return NULL;
}

/* Hash-threshold selection (RFC 2992), as the kernel's fib_select_multipath does it: the
 * 31-bit hash falls into one next hop's share of the range. */
static const struct nio_fib_nh *select_nh(const struct nio_fib *fib, const struct nio_fib_route *r,
					  uint32_t hash)
{
	hash >>= 1;
	for (uint32_t i = 0; i < r->nnh; i++)
		if (hash <= fib->nhs[r->nh + i].upper)
			return &fib->nhs[r->nh + i];
	return &fib->nhs[r->nh + r->nnh - 1];
}

/*
 * The route for dst in table: 0 (NIO_RT_UNICAST) with *ifindex and the next-hop address set,
 * another enum nio_rt_type for a reject route, -1 when no route covers dst. hash picks the
 * next hop of a multipath route (nio_fib_multipath_hash).
 */
int nio_fib_lookup(const struct nio_fib *fib, uint32_t table, const uint8_t dst[16], uint32_t hash,
		   int *ifindex, uint8_t nexthop[16])
{
	const struct nio_fib_route *r;
	const struct nio_fib_nh *nh;

	if (!fib)
		return -1;
	r = nio_fib_route(fib, table, dst);
	if (!r)
		return -1;
	if (r->type != NIO_RT_UNICAST)
		return r->type;
	if (r->nnh > 1 && r->nh + r->nnh <= fib->nnhs) {
		nh = select_nh(fib, r, hash);
		*ifindex = nh->ifindex;
		memcpy(nexthop, nh->has_gw ? nh->gw : dst, 16);
		return NIO_RT_UNICAST;
	}
	*ifindex = r->ifindex;
	memcpy(nexthop, r->has_gw ? r->gw : dst, 16);
	return NIO_RT_UNICAST;
}

/* The fields of the kernel's L4 multipath policy (fib_multipath_hash_policy = 1): addresses,
 * protocol and ports; never the input port, so both directions' choices are independent of it. */
uint32_t nio_fib_multipath_hash(const struct nio_flow_key *k)
{
	struct nio_flow_key l4 = { .sport = k->sport, .dport = k->dport, .proto = k->proto };

	memcpy(l4.src, k->src, 16);
	memcpy(l4.dst, k->dst, 16);
	return nio_flow_hash(&l4);
}

/* Each next hop's upper bound in the 31-bit hash space, in proportion to its weight, as the
 * kernel's fib_rebalance computes it. */
void nio_fib_rebalance(struct nio_fib_nh *nhs, const unsigned *weights, unsigned n)
{
	uint64_t total = 0, sum = 0;

	for (unsigned i = 0; i < n; i++)
		total += weights[i];
	for (unsigned i = 0; i < n && total; i++) {
		sum += weights[i];
		nhs[i].upper = (uint32_t)((((sum << 31) + total / 2) / total) - 1);
	}
}

/* Index of the first neighbour whose address is not below addr. */
static unsigned neigh_lower_bound(const struct nio_fib *fib, const uint8_t addr[16])
{
	unsigned lo = 0, hi = fib->nneighs;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (memcmp(fib->neighs[mid].addr, addr, 16) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The entry for addr on ifindex; ifindex 0 accepts the address on any interface. */
const struct nio_fib_neigh *nio_fib_neigh(const struct nio_fib *fib, const uint8_t addr[16],
					  int ifindex)
{
	if (!fib)
		return NULL;
	for (unsigned i = neigh_lower_bound(fib, addr); i < fib->nneighs; i++) {
		const struct nio_fib_neigh *n = &fib->neighs[i];

		if (memcmp(n->addr, addr, 16))
			break;
		if (!ifindex || n->ifindex == ifindex)
			return n;
	}
	return NULL;
}

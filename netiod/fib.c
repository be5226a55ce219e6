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
static const struct nio_fib_route *route_match(const struct nio_fib *fib, const uint8_t dst[16])
{
	uint8_t family = memcmp(dst, v4mapped, sizeof(v4mapped)) ? 6 : 4;

	for (unsigned i = 0; i < fib->nroutes; i++) {
		const struct nio_fib_route *r = &fib->routes[i];

		if (r->dst.family == family && nio_prefix_contains(&r->dst, dst))
			return r;
	}
	return NULL;
}

int nio_fib_lookup(const struct nio_fib *fib, const uint8_t dst[16], int *ifindex,
		   uint8_t nexthop[16])
{
	const struct nio_fib_route *r;

	if (!fib)
		return -1;
	r = route_match(fib, dst);
	if (!r)
		return -1;
	*ifindex = r->ifindex;
	memcpy(nexthop, r->has_gw ? r->gw : dst, 16);
	return 0;
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

/* Where a flow is matched: first pipeline (in config order) whose match accepts the flow key. */
#include <string.h>

#include "netiod.h"

static bool match_prefixes(const struct nio_prefix *pfx, unsigned n, const uint8_t addr[16])
{
	if (!n)
		return true;
	for (unsigned i = 0; i < n; i++)
		if (nio_prefix_contains(&pfx[i], addr))
			return true;
	return false;
}

static bool match_ports(const struct nio_match *m, const struct nio_flow_key *k)
{
	bool any_s = m->sport_lo == 0 && m->sport_hi == 65535;
	bool any_d = m->dport_lo == 0 && m->dport_hi == 65535;

	if (any_s && any_d)
		return true;
	/* port ranges only ever match transport protocols that carry ports */
	if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP && k->proto != IPPROTO_SCTP &&
	    k->proto != IPPROTO_UDPLITE)
		return false;
	return k->sport >= m->sport_lo && k->sport <= m->sport_hi && k->dport >= m->dport_lo &&
	       k->dport <= m->dport_hi;
}

bool nio_match_pkt(const struct nio_match *m, const struct nio_flow_key *k)
{
	if (m->in_port >= 0 && m->in_port != k->in_port)
		return false;
	if (m->family && m->family != k->family)
		return false;
	if (m->proto && m->proto != k->proto)
		return false;
	if (!match_prefixes(m->src, m->nsrc, k->src))
		return false;
	if (!match_prefixes(m->dst, m->ndst, k->dst))
		return false;
	return match_ports(m, k);
}

int nio_classify(const struct nio_config *c, const struct nio_flow_key *k)
{
	for (unsigned i = 0; i < c->npipelines; i++)
		if (nio_match_pkt(&c->pipelines[i].match, k))
			return (int)i;
	return -1;
}

/*
 * The pipeline the claim that took p in the kernel belongs to, when that is certainly the one
 * nio_classify would pick: p is within the claim (checked here: after a reload the id may be
 * an older configuration's) and no earlier pipeline can match a packet of the claim (decided
 * once per configuration, claims.c). Else -1: classify.
 */
int nio_classify_hint(const struct nio_config *c, const struct nio_pkt *p)
{
	const struct nio_hints *h;
	const struct nio_hint *hint;
	uint32_t pl, i;

	if (!p->claim_hint || p->in_port >= c->nports || !(h = c->hints[p->in_port]))
		return -1;
	pl = NIO_CLAIM_PIPELINE(p->claim_hint - 1);
	i = NIO_CLAIM_INDEX(p->claim_hint - 1);
	if (pl >= c->npipelines || h->first[pl] + i >= h->first[pl + 1])
		return -1;
	hint = &h->v[h->first[pl] + i];
	return hint->pipeline >= 0 && nio_match_pkt(&hint->match, &p->key) ? hint->pipeline : -1;
}

/*
 * A packet to one of the gateway's own addresses stays with the kernel (pings to the gateway,
 * its routing daemons and sockets) unless a pipeline names that address exactly as its
 * destination, as a tunnel or ESP endpoint's decap pipeline does.
 */
int nio_classify_local(const struct nio_config *c, const struct nio_flow_key *k)
{
	for (unsigned i = 0; i < c->npipelines; i++) {
		const struct nio_match *m = &c->pipelines[i].match;
		bool named = false;

		for (unsigned j = 0; j < m->ndst; j++)
			if (m->dst[j].len == 128 && !memcmp(m->dst[j].addr, k->dst, 16))
				named = true;
		if (named && nio_match_pkt(m, k))
			return (int)i;
	}
	return -1;
}

/* The pipeline of a new flow (-1: unclaimed, left to the kernel), as the worker decides it. */
int nio_classify_flow(const struct nio_config *c, const struct nio_flow_key *k)
{
	return nio_is_port_addr(c, k->family, k->dst) ? nio_classify_local(c, k)
						      : nio_classify(c, k);
}

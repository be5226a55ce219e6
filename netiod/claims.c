/* Claims: the flows of a configuration's pipelines a port driver takes from the kernel. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netiod.h"

struct claim_set {
	struct nio_claim *v; /* NULL: only count */
	unsigned n;
	const struct nio_pipeline *pl;
	unsigned pl_index; /* pl's in the configuration */
	unsigned in_pipeline;
};

static bool ports_any(const struct nio_match *mt)
{
	return !mt->sport_lo && mt->sport_hi == 65535 && !mt->dport_lo && mt->dport_hi == 65535;
}

static void set_prefix(const struct nio_prefix *p, uint8_t addr[16], uint8_t *len)
{
	memcpy(addr, p->addr, 16);
	*len = p->family == 4 ? (uint8_t)(p->len >= 96 ? p->len - 96 : 0) : p->len;
}

/* One claim for one (src, dst, proto) combination of a pipeline's match. */
static void add_claim(struct claim_set *x, const struct nio_prefix *src,
		      const struct nio_prefix *dst, uint8_t proto)
{
	const struct nio_match *mt = &x->pl->match;
	uint8_t family = src ? src->family : dst ? dst->family : mt->family;
	struct nio_claim *cl;

	if ((src && dst && src->family != dst->family) || (mt->family && family != mt->family))
		return; /* matches nothing */
	if (x->v) {
		cl = &x->v[x->n];
		*cl = (struct nio_claim){
			.id = NIO_CLAIM_ID(x->pl_index, x->in_pipeline),
			.family = family,
			.proto = proto,
			.has_src = src != NULL,
			.has_dst = dst != NULL,
			.sport_lo = mt->sport_lo,
			.sport_hi = mt->sport_hi,
			.dport_lo = mt->dport_lo,
			.dport_hi = mt->dport_hi,
			.fail_mode = (uint8_t)x->pl->fail_mode,
		};
		if (src)
			set_prefix(src, cl->src, &cl->src_len);
		if (dst)
			set_prefix(dst, cl->dst, &cl->dst_len);
	}
	x->in_pipeline++;
	x->n++;
}

/* Every claim of one pipeline: the product of its source and destination prefixes, and for
 * ports without a protocol, one claim per protocol that has ports. */
static void add_pipeline(struct claim_set *x)
{
	static const uint8_t with_ports[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	const struct nio_match *mt = &x->pl->match;
	const uint8_t any = 0, *protos = mt->proto ? &mt->proto : &any;
	unsigned nprotos = 1;

	if (!mt->proto && !ports_any(mt)) {
		protos = with_ports;
		nprotos = sizeof(with_ports);
	}
	x->in_pipeline = 0;
	for (unsigned s = 0; s < (mt->nsrc ? mt->nsrc : 1u); s++)
		for (unsigned d = 0; d < (mt->ndst ? mt->ndst : 1u); d++)
			for (unsigned p = 0; p < nprotos; p++)
				add_claim(x, mt->nsrc ? &mt->src[s] : NULL,
					  mt->ndst ? &mt->dst[d] : NULL, protos[p]);
}

/* The port's index in c, which its pipelines' in = names: a port a reload kept still has the
 * running configuration's id until the new one is applied, after its claims are set. */
static int index_in(const struct nio_config *c, const struct nio_port *port)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (c->ports[i] == port)
			return (int)i;
	return port->id;
}

static void add_all(struct claim_set *x, const struct nio_config *c, const struct nio_port *port)
{
	int idx = index_in(c, port);

	for (unsigned i = 0; i < c->npipelines; i++) {
		x->pl = &c->pipelines[i];
		x->pl_index = i;
		if (x->pl->match.in_port < 0 || x->pl->match.in_port == idx)
			add_pipeline(x);
	}
}

/* The claims of c's pipelines on port, in pipeline order (a malloc()ed array, *out). */
int nio_claims_build(const struct nio_config *c, const struct nio_port *port,
		     struct nio_claim **out, unsigned *n, char *err, size_t errlen)
{
	struct claim_set x = { .v = NULL };

	add_all(&x, c, port);
	*n = x.n;
	*out = calloc(x.n ? x.n : 1, sizeof(**out));
	if (!*out)
		return nio_err(err, errlen, "out of memory");
	x.v = *out;
	x.n = 0;
	add_all(&x, c, port);
	return 0;
}

/* The driver's refusal, with the configuration's file:line of what it refused. */
static int refused(const struct nio_config *c, const struct nio_port *port,
		   const struct nio_claim *v, unsigned n, unsigned r, const char *why, char *err,
		   size_t errlen)
{
	const struct nio_pipeline *pl;

	if (r >= n)
		return nio_err(err, errlen, "%s:%d: port '%s': %s", c->file, port->line, port->name,
			       why);
	pl = &c->pipelines[NIO_CLAIM_PIPELINE(v[r].id)];
	return nio_err(err, errlen, "%s:%d: port '%s': pipeline '%s' %s", c->file, pl->line,
		       port->name, pl->name, why);
}

static int check(const struct nio_config *c, const struct nio_port *port, const struct nio_claim *v,
		 unsigned n, char *err, size_t errlen)
{
	char why[256] = "";
	unsigned r = n;

	if (!port->ops->check_claims ||
	    port->ops->check_claims(port, v, n, &r, why, sizeof(why)) == 0)
		return 0;
	return refused(c, port, v, n, r, why[0] ? why : "claims refused", err, errlen);
}

/* Would the claims of every port whose driver takes claims fit? netiod -t asks, no port open. */
int nio_config_check_claims(const struct nio_config *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->nports; i++) {
		const struct nio_port *p = c->ports[i];
		struct nio_claim *v;
		unsigned n;
		int rc;

		if (!p->ops->check_claims)
			continue;
		if (nio_claims_build(c, p, &v, &n, err, errlen) < 0)
			return -1;
		rc = check(c, p, v, n, err, errlen);
		free(v);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Install c's claims on one open port (a reopened one, or each port of a new configuration). */
int nio_port_set_claims(struct nio_port *port, const struct nio_config *c, char *err, size_t errlen)
{
	struct nio_claim *v;
	unsigned n;
	int rc;

	if (!port->ops->set_claims)
		return 0;
	if (nio_claims_build(c, port, &v, &n, err, errlen) < 0)
		return -1;
	rc = check(c, port, v, n, err, errlen);
	if (rc == 0)
		rc = port->ops->set_claims(port, v, n, err, errlen);
	free(v);
	return rc;
}

/*
 * Tell each driver that takes claims which flows c's pipelines claim on its ports (netio.ko:
 * secure demultiplexing, a claim overlapping another owner's is refused). Taps see copies:
 * nothing to do.
 */
int nio_config_set_claims(const struct nio_config *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (c->ports[i]->open && nio_port_set_claims(c->ports[i], c, err, errlen) < 0)
			return -1;
	return 0;
}

/* ---------------------------------------------------------------- claim hints */

static bool port_proto(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE;
}

static bool match_ports_any(const struct nio_match *m)
{
	return !m->sport_lo && m->sport_hi == 65535 && !m->dport_lo && m->dport_hi == 65535;
}

static struct nio_prefix claim_prefix(const uint8_t addr[16], uint8_t len, uint8_t family)
{
	struct nio_prefix p = { .len = (uint8_t)(family == 4 ? 96 + len : len), .family = family };

	memcpy(p.addr, addr, 16);
	return p;
}

/* A claim is a match with at most one prefix each way, on its port. */
static void claim_match(const struct nio_claim *cl, uint16_t port, struct nio_match *m)
{
	*m = (struct nio_match){
		.in_port = port,
		.proto = cl->proto,
		.family = cl->family,
		.sport_lo = cl->sport_lo,
		.sport_hi = cl->sport_hi,
		.dport_lo = cl->dport_lo,
		.dport_hi = cl->dport_hi,
	};
	if (cl->has_src)
		m->src[m->nsrc++] = claim_prefix(cl->src, cl->src_len, cl->family);
	if (cl->has_dst)
		m->dst[m->ndst++] = claim_prefix(cl->dst, cl->dst_len, cl->family);
}

/* Prefixes compare in the 128-bit space, whatever their family (as nio_prefix_contains). */
static bool prefixes_overlap(const struct nio_prefix *a, const struct nio_prefix *b)
{
	return a->len <= b->len ? nio_prefix_contains(a, b->addr) : nio_prefix_contains(b, a->addr);
}

/*
 * No address is in one of q's prefixes and in the claim's (cl: its prefix, or none: any
 * address of its family). Only IPv4 bounds the addresses of a family: IPv6 packets may carry
 * any 128 bits.
 */
static bool prefixes_disjoint(const struct nio_prefix *q, unsigned nq, const struct nio_prefix *cl,
			      uint8_t family)
{
	static const struct nio_prefix v4 = { .addr = { [10] = 0xff, [11] = 0xff }, .len = 96 };

	if (!nq || (!cl && family != 4))
		return false;
	for (unsigned i = 0; i < nq; i++)
		if (prefixes_overlap(&q[i], cl ? cl : &v4))
			return false;
	return true;
}

static bool ranges_disjoint(uint16_t lo1, uint16_t hi1, uint16_t lo2, uint16_t hi2)
{
	return hi1 < lo2 || hi2 < lo1;
}

/* Can no packet match both q and the claim cm? Conservative: false when unsure. */
static bool disjoint(const struct nio_match *q, const struct nio_match *cm)
{
	if ((q->in_port >= 0 && q->in_port != cm->in_port) ||
	    (q->family && cm->family && q->family != cm->family) ||
	    (q->proto && cm->proto && q->proto != cm->proto))
		return true;
	/* port ranges only ever match protocols that carry ports (classify.c) */
	if ((!match_ports_any(q) && cm->proto && !port_proto(cm->proto)) ||
	    (!match_ports_any(cm) && q->proto && !port_proto(q->proto)))
		return true;
	if (ranges_disjoint(q->sport_lo, q->sport_hi, cm->sport_lo, cm->sport_hi) ||
	    ranges_disjoint(q->dport_lo, q->dport_hi, cm->dport_lo, cm->dport_hi))
		return true;
	return prefixes_disjoint(q->src, q->nsrc, cm->nsrc ? &cm->src[0] : NULL, cm->family) ||
	       prefixes_disjoint(q->dst, q->ndst, cm->ndst ? &cm->dst[0] : NULL, cm->family);
}

/* The claim's pipeline is the first to match each of its packets when no earlier one can. */
static int certain_pipeline(const struct nio_config *c, const struct nio_match *cm, unsigned pl)
{
	for (unsigned q = 0; q < pl; q++)
		if (!disjoint(&c->pipelines[q].match, cm))
			return -1;
	return (int)pl;
}

static struct nio_hints *port_hints(const struct nio_config *c, const struct nio_port *port)
{
	struct nio_claim *v;
	struct nio_hints *h;
	unsigned n;
	char err[64];

	if (nio_claims_build(c, port, &v, &n, err, sizeof(err)) < 0)
		return NULL;
	h = calloc(1, sizeof(*h) + n * sizeof(h->v[0]));
	for (unsigned i = 0; h && i < n; i++) {
		unsigned pl = NIO_CLAIM_PIPELINE(v[i].id);

		claim_match(&v[i], port->id, &h->v[i].match);
		h->v[i].pipeline = certain_pipeline(c, &h->v[i].match, pl);
		for (unsigned p = pl + 1; p <= NIO_MAX_PIPELINES; p++)
			h->first[p] = i + 1;
	}
	free(v);
	return h;
}

/*
 * What the claim ids a port driver reads from the kernel mean in c, decided once per
 * configuration so that a packet costs one lookup and one match (nio_classify_hint).
 */
int nio_config_hints(struct nio_config *c)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (c->ports[i]->ops->set_claims && !(c->hints[i] = port_hints(c, c->ports[i])))
			return -1;
	return 0;
}

void nio_config_hints_free(struct nio_config *c)
{
	for (unsigned i = 0; i < c->nports; i++) {
		free(c->hints[i]);
		c->hints[i] = NULL;
	}
}

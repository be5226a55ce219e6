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
			.id = NIO_CLAIM_ID(x->pl->id, x->in_pipeline),
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

static void add_all(struct claim_set *x, const struct nio_config *c, const struct nio_port *port)
{
	for (unsigned i = 0; i < c->npipelines; i++) {
		x->pl = &c->pipelines[i];
		if (x->pl->match.in_port < 0 || x->pl->match.in_port == port->id)
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

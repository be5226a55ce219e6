/* Packets as they cross to an isolated service and back: descriptors out, checked on return. */
#include "isolate.h"

void nio_iso_to_desc(const struct nio_pkt *p, uint32_t idx, struct nio_xdesc *d)
{
	*d = (struct nio_xdesc){ .idx = idx,
				 .off = nio_pkt_headroom(p),
				 .len = p->len,
				 .l3_off = p->l3_off,
				 .l4_off = p->l4_off,
				 .in_port = p->in_port,
				 .out_port = p->out_port,
				 .flags = p->flags,
				 .ip_proto = p->ip_proto,
				 .dscp = p->dscp,
				 .hash = p->hash,
				 .ts_ns = p->ts_ns,
				 .key = p->key };
}

/* The host's word on p, checked: the frame must lie within the buffer. */
int nio_iso_from_desc(const struct nio_xdesc *d, struct nio_pkt *p)
{
	if ((uint64_t)d->off + d->len > p->buf_size || d->l3_off > d->len || d->l4_off > d->len)
		return -1;
	p->data = p->buf + d->off;
	p->len = d->len;
	p->l3_off = d->l3_off;
	p->l4_off = d->l4_off;
	p->in_port = d->in_port;
	p->out_port = d->out_port;
	p->flags = d->flags & 0xff;
	p->ip_proto = d->ip_proto;
	p->dscp = d->dscp;
	p->hash = d->hash;
	p->ts_ns = d->ts_ns;
	p->key = d->key;
	p->drop_ctr = d->drop_ctr;
	/* the flow may be gone by the time a held packet comes back: never trust the pointer */
	p->flow = NULL;
	p->svc_state = NULL;
	return 0;
}

/* Packets as they cross to an isolated service and back: metadata out, the answer checked. */
#include "isolate.h"

void nio_iso_to_meta(const struct nio_pkt *p, struct nio_xmeta *m)
{
	*m = (struct nio_xmeta){ .l3_off = p->l3_off,
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

/*
 * The host's word on p, checked: the frame must lie within the buffer and the header offsets
 * within the frame (the new ones, or those p went out with when the host changed no
 * metadata). e and m are the caller's private copies: the host cannot change them meanwhile.
 */
int nio_iso_from_ent(const struct nio_xent *e, const struct nio_xmeta *m, struct nio_pkt *p)
{
	uint16_t l3 = m ? m->l3_off : p->l3_off, l4 = m ? m->l4_off : p->l4_off;

	if ((uint32_t)e->off + e->len > p->buf_size || l3 > e->len || l4 > e->len)
		return -1;
	p->data = p->buf + e->off;
	p->len = e->len;
	p->l3_off = l3;
	p->l4_off = l4;
	p->drop_ctr = e->drop_ctr;
	/* the flow may be gone by the time a held packet comes back: never trust the pointer */
	p->flow = NULL;
	p->svc_state = NULL;
	if (!m)
		return 0;
	p->in_port = m->in_port;
	p->out_port = m->out_port;
	p->flags = m->flags & 0xff;
	p->ip_proto = m->ip_proto;
	p->dscp = m->dscp;
	p->hash = m->hash;
	p->ts_ns = m->ts_ns;
	p->key = m->key;
	return 0;
}

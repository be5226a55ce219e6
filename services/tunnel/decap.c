/* Tunnel decapsulation: checks every outer and tunnel header byte it relies on, then strips them. */
#include <netio/csum.h>

#include "tunnel.h"

#define GRE_F_CSUM	    0x80
#define GRE_F_KEY	    0x20
#define GRE_F_SEQ	    0x10
#define GRE_F_MUST_BE_ZERO  0x4c /* RFC 2784: reserved0 bits 1, 4, 5 (RFC 2890 took 2 and 3) */
#define GRE_VERSION	    0x07
#define GENEVE_OAM	    0x80
#define GENEVE_OPT_CRITICAL 0x80

/* The outer IP payload, once the outer header is accepted. */
struct outer {
	uint8_t *ip;
	uint8_t *pl;
	uint32_t plen;
	uint8_t proto;
	uint8_t ecn;
};

/* Where the inner packet starts: eth for VXLAN/GENEVE, else NULL and ip set directly. */
struct decap {
	uint8_t *eth;
	uint8_t *ip;
	uint32_t avail; /* bytes from eth (or ip) to the end of the outer payload */
	uint32_t len;	/* inner IP length, once checked */
	bool v6;
};

static bool proto_ok(const struct tun *t, uint8_t proto)
{
	switch (t->type) {
	case TUN_GRE:
		return proto == IPPROTO_GRE;
	case TUN_IPIP:
		return proto == IPPROTO_IPIP || proto == IPPROTO_IPV6;
	default:
		return proto == IPPROTO_UDP;
	}
}

/* 0 or a drop reason; the daemon's parser is not trusted here (fuzzed on its own). */
static int outer4_check(const struct tun *t, uint8_t *ip, uint32_t avail, struct outer *o)
{
	uint32_t hl, tot;

	if (avail < IP4_HLEN)
		return TUN_C_TRUNC_OUTER;
	hl = (ip[0] & 0x0fu) * 4;
	if (ip[0] >> 4 != 4 || hl < IP4_HLEN)
		return TUN_C_BAD_OUTER;
	tot = rd16(ip + 2);
	if (hl > avail || tot > avail)
		return TUN_C_TRUNC_OUTER;
	if (tot < hl || nio_csum_fold(tun_csum_partial(ip, hl, 0)) != 0)
		return TUN_C_BAD_OUTER;
	if (rd16(ip + 6) & (IP4_MF | IP4_OFFMASK))
		return TUN_C_OUTER_FRAG;
	if (!proto_ok(t, ip[9]))
		return TUN_C_WRONG_PROTO;
	if (memcmp(ip + 16, t->local, 4) != 0)
		return TUN_C_WRONG_DST;
	if (memcmp(ip + 12, t->remote, 4) != 0)
		return TUN_C_WRONG_SRC;
	o->pl = ip + hl;
	o->plen = tot - hl;
	o->proto = ip[9];
	o->ecn = ip[1] & ECN_MASK;
	return 0;
}

/* RFC 2473 4.1: Linux's ip6tnl and ip6gre send a tunnel encapsulation limit in a destination
 * options header unless told "encaplimit none". That one header is skipped; an option with its
 * action bits set (RFC 8200 4.2: do not ignore if unknown) drops the packet. */
static int outer6_dstopts(struct outer *o)
{
	const uint8_t *h = o->pl;
	uint32_t hl, off = 2;

	if (o->plen < 8)
		return TUN_C_TRUNC_OUTER;
	hl = (h[1] + 1u) * 8;
	if (hl > o->plen)
		return TUN_C_TRUNC_OUTER;
	while (off < hl) {
		if (h[off] == 0) { /* Pad1 */
			off++;
			continue;
		}
		if (hl - off < 2 || hl - off - 2 < h[off + 1] || (h[off] & 0xc0))
			return TUN_C_BAD_OUTER;
		off += 2u + h[off + 1];
	}
	o->proto = h[0];
	o->pl += hl;
	o->plen -= hl;
	return 0;
}

/* Other extension headers between the outer IPv6 header and the tunnel: wrong-protocol. */
static int outer6_check(const struct tun *t, uint8_t *ip, uint32_t avail, struct outer *o)
{
	int e;

	if (avail < IP6_HLEN)
		return TUN_C_TRUNC_OUTER;
	if (ip[0] >> 4 != 6)
		return TUN_C_BAD_OUTER;
	if (rd16(ip + 4) > avail - IP6_HLEN)
		return TUN_C_TRUNC_OUTER;
	o->pl = ip + IP6_HLEN;
	o->plen = rd16(ip + 4);
	o->proto = ip[6];
	o->ecn = (ip[1] >> 4) & ECN_MASK;
	if (o->proto == IPPROTO_DSTOPTS && (e = outer6_dstopts(o)) != 0)
		return e;
	if (!proto_ok(t, o->proto))
		return TUN_C_WRONG_PROTO;
	if (memcmp(ip + 24, t->local, 16) != 0)
		return TUN_C_WRONG_DST;
	if (memcmp(ip + 8, t->remote, 16) != 0)
		return TUN_C_WRONG_SRC;
	return 0;
}

/* UDP: length, port, and the checksum when sent (mandatory over IPv6, RFC 8200 8.1). */
static int udp_check(const struct tun *t, struct outer *o)
{
	uint8_t *u = o->pl;
	uint32_t ulen, sum;

	if (o->plen < UDP_HLEN)
		return TUN_C_TRUNC_TUNNEL;
	ulen = rd16(u + 4);
	if (ulen < UDP_HLEN || ulen > o->plen)
		return TUN_C_BAD_UDP;
	if (rd16(u + 2) != t->port)
		return TUN_C_WRONG_PORT;
	if (rd16(u + 6) == 0) {
		if (t->family == 6)
			return TUN_C_BAD_UDP_CSUM;
	} else {
		sum = t->family == 6 ? nio_csum_pseudo6(o->ip + 8, o->ip + 24, IPPROTO_UDP, ulen)
				     : nio_csum_pseudo4(o->ip + 12, o->ip + 16, IPPROTO_UDP, ulen);
		if (nio_csum_fold(tun_csum_partial(u, ulen, sum)) != 0)
			return TUN_C_BAD_UDP_CSUM;
	}
	o->pl = u + UDP_HLEN;
	o->plen = ulen - UDP_HLEN;
	return 0;
}

/* RFC 7348 5: the I flag must be set; the other flag and reserved bits are ignored. */
static int vxlan_check(const struct tun *t, const struct outer *o, struct decap *d)
{
	const uint8_t *v = o->pl;

	if (o->plen < VXLAN_HLEN)
		return TUN_C_TRUNC_TUNNEL;
	if (!(v[0] & VXLAN_F_VNI))
		return TUN_C_BAD_HEADER;
	if (rd32(v + 4) >> 8 != t->vni)
		return TUN_C_WRONG_VNI;
	d->eth = o->pl + VXLAN_HLEN;
	d->avail = o->plen - VXLAN_HLEN;
	return 0;
}

/* RFC 8926 3.5: every option must fit the option area; we understand none, so a critical one
 * means the packet must be dropped. */
static int geneve_options(const uint8_t *opt, uint32_t len)
{
	uint32_t off = 0, olen;

	while (off < len) {
		olen = 4 + (opt[off + 3] & 0x1fu) * 4;
		if (olen > len - off)
			return TUN_C_BAD_OPTIONS;
		if (opt[off + 2] & GENEVE_OPT_CRITICAL)
			return TUN_C_CRITICAL_OPT;
		off += olen;
	}
	return 0;
}

static int geneve_check(const struct tun *t, const struct outer *o, struct decap *d)
{
	const uint8_t *g = o->pl;
	uint32_t optlen;
	int e;

	if (o->plen < GENEVE_HLEN)
		return TUN_C_TRUNC_TUNNEL;
	optlen = (g[0] & 0x3fu) * 4;
	if (g[0] >> 6 != 0)
		return TUN_C_BAD_HEADER;
	if (o->plen - GENEVE_HLEN < optlen)
		return TUN_C_TRUNC_TUNNEL;
	if (g[1] & GENEVE_OAM)
		return TUN_C_OAM;
	if (rd16(g + 2) != ETH_P_TEB)
		return TUN_C_INNER_PROTO;
	if (rd32(g + 4) >> 8 != t->vni)
		return TUN_C_WRONG_VNI;
	e = geneve_options(g + GENEVE_HLEN, optlen);
	if (e)
		return e;
	d->eth = o->pl + GENEVE_HLEN + optlen;
	d->avail = o->plen - GENEVE_HLEN - optlen;
	return 0;
}

/* RFC 2784 + RFC 2890: checksum, key and sequence number are optional words in that order. */
static int gre_check(const struct tun *t, const struct outer *o, struct decap *d)
{
	const uint8_t *g = o->pl;
	uint32_t hl;

	if (o->plen < GRE_HLEN)
		return TUN_C_TRUNC_TUNNEL;
	if ((g[0] & GRE_F_MUST_BE_ZERO) || (g[1] & GRE_VERSION))
		return TUN_C_BAD_HEADER;
	hl = GRE_HLEN + (g[0] & GRE_F_CSUM ? 4 : 0) + (g[0] & GRE_F_KEY ? 4 : 0) +
	     (g[0] & GRE_F_SEQ ? 4 : 0);
	if (o->plen < hl)
		return TUN_C_TRUNC_TUNNEL;
	if (!(g[0] & GRE_F_KEY) != !t->has_key ||
	    (t->has_key && rd32(g + (g[0] & GRE_F_CSUM ? 8 : 4)) != t->key))
		return TUN_C_WRONG_KEY;
	if ((g[0] & GRE_F_CSUM) && nio_csum_fold(tun_csum_partial(g, o->plen, 0)) != 0)
		return TUN_C_BAD_GRE_CSUM;
	if (rd16(g + 2) != ETH_P_IPV4 && rd16(g + 2) != ETH_P_IPV6)
		return TUN_C_INNER_PROTO;
	d->v6 = rd16(g + 2) == ETH_P_IPV6;
	d->ip = o->pl + hl;
	d->avail = o->plen - hl;
	return 0;
}

/* Check the tunnel header for the type and find the inner packet. */
static int tunnel_check(const struct tun *t, struct outer *o, struct decap *d)
{
	int e;

	switch (t->type) {
	case TUN_VXLAN:
	case TUN_GENEVE:
		e = udp_check(t, o);
		if (e)
			return e;
		return t->type == TUN_VXLAN ? vxlan_check(t, o, d) : geneve_check(t, o, d);
	case TUN_GRE:
		return gre_check(t, o, d);
	default:
		d->v6 = o->proto == IPPROTO_IPV6;
		d->ip = o->pl;
		d->avail = o->plen;
		return 0;
	}
}

/* The inner Ethernet header of VXLAN/GENEVE must carry IP: the daemon routes nothing else. */
static int inner_eth_check(struct decap *d)
{
	uint16_t et;

	if (d->avail < ETH_HLEN)
		return TUN_C_TRUNC_INNER;
	et = rd16(d->eth + 12);
	if (et != ETH_P_IPV4 && et != ETH_P_IPV6)
		return TUN_C_INNER_PROTO;
	d->v6 = et == ETH_P_IPV6;
	d->ip = d->eth + ETH_HLEN;
	d->avail -= ETH_HLEN;
	return 0;
}

/* What the kernel's ip_rcv / ipv6_rcv would refuse, refused here; sets d->len. */
static int inner_ip_check(struct decap *d)
{
	const uint8_t *ip = d->ip;
	uint32_t hl;

	if (d->avail < (d->v6 ? IP6_HLEN : IP4_HLEN))
		return TUN_C_TRUNC_INNER;
	hl = (ip[0] & 0x0fu) * 4;
	if (d->v6) {
		if (ip[0] >> 4 != 6)
			return TUN_C_BAD_INNER;
		d->len = IP6_HLEN + rd16(ip + 4);
		return d->len > d->avail ? TUN_C_TRUNC_INNER : 0;
	}
	if (ip[0] >> 4 != 4 || hl < IP4_HLEN)
		return TUN_C_BAD_INNER;
	d->len = rd16(ip + 2);
	if (hl > d->avail || d->len > d->avail)
		return TUN_C_TRUNC_INNER;
	if (d->len < hl || nio_csum_fold(tun_csum_partial(ip, hl, 0)) != 0)
		return TUN_C_BAD_INNER;
	return 0;
}

/* RFC 6040 4.2: an outer CE mark survives decap, and a not-ECT inner packet cannot carry it. */
static int ecn_decap(const struct decap *d, uint8_t outer_ecn)
{
	uint8_t *ip = d->ip;
	uint16_t old;

	if (outer_ecn != ECN_CE || (ip_tos(ip, d->v6) & ECN_MASK) == ECN_CE)
		return 0;
	if ((ip_tos(ip, d->v6) & ECN_MASK) == 0)
		return TUN_C_ECN;
	if (d->v6) {
		ip[1] |= ECN_CE << 4;
		return 0;
	}
	old = rd16(ip);
	ip[1] |= ECN_CE;
	wr16(ip + 10, nio_csum_update16(rd16(ip + 10), old, rd16(ip)));
	return 0;
}

/* The frame now is the inner packet: describe it so the daemon routes on the inner header. */
static void inner_meta(struct nio_pkt *p, const struct decap *d)
{
	const uint8_t *ip = d->ip;
	uint32_t hl = d->v6 ? IP6_HLEN : (ip[0] & 0x0fu) * 4;
	uint8_t proto = d->v6 ? ip[6] : ip[9];
	bool frag = !d->v6 && (rd16(ip + 6) & IP4_OFFMASK);
	bool l4 = !frag && d->len >= hl + 4 &&
		  (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP);

	p->flags = (uint16_t)((p->flags & ~(NIO_PKT_F_IPV4 | NIO_PKT_F_IPV6 | NIO_PKT_F_L4 |
					    NIO_PKT_F_FRAG | NIO_PKT_F_VLAN | NIO_PKT_F_L2DONE)) |
			      (d->v6 ? NIO_PKT_F_IPV6 : NIO_PKT_F_IPV4) |
			      (frag ? NIO_PKT_F_FRAG : 0) | (l4 ? NIO_PKT_F_L4 : 0));
	p->l3_off = ETH_HLEN;
	p->l4_off = (uint16_t)(l4 ? ETH_HLEN + hl : 0);
	p->ip_proto = proto;
	p->dscp = ip_tos(ip, d->v6) >> 2;
	tun_key_addr(p->key.src, d->v6 ? ip + 8 : ip + 12, d->v6);
	tun_key_addr(p->key.dst, d->v6 ? ip + 24 : ip + 16, d->v6);
	p->key.family = d->v6 ? 6 : 4;
	p->key.proto = proto;
	p->key.sport = l4 ? rd16(ip + hl) : 0;
	p->key.dport = l4 ? rd16(ip + hl + 2) : 0;
}

/* Strip the outer headers: keep the inner Ethernet header, or make one from the outer MACs. */
static void strip(struct nio_pkt *p, const struct decap *d)
{
	uint8_t *eth = d->eth ? d->eth : d->ip - ETH_HLEN;

	if (!d->eth)
		memmove(eth, p->data, 12);
	wr16(eth + 12, d->v6 ? ETH_P_IPV6 : ETH_P_IPV4);
	p->data = eth;
	p->len = ETH_HLEN + d->len;
	inner_meta(p, d);
}

int tunnel_decap(struct tun *t, struct nio_pkt *p)
{
	struct outer o;
	struct decap d = { 0 };
	int e;

	if (p->l3_off > p->len)
		return TUN_C_TRUNC_OUTER;
	o.ip = p->data + p->l3_off;
	e = t->family == 6 ? outer6_check(t, o.ip, p->len - p->l3_off, &o)
			   : outer4_check(t, o.ip, p->len - p->l3_off, &o);
	if (!e)
		e = tunnel_check(t, &o, &d);
	if (!e && d.eth)
		e = inner_eth_check(&d);
	if (!e)
		e = inner_ip_check(&d);
	if (e)
		return e;
	if (tun_is_own(t, d.ip, d.len, d.v6, t->local))
		return TUN_C_NESTED;
	e = ecn_decap(&d, o.ecn);
	if (e)
		return e;
	strip(p, &d);
	return TUN_C_DECAP;
}

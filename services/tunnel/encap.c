/* Tunnel encapsulation, and the in-place ICMP errors that keep path MTU discovery working. */
#include <netio/csum.h>

#include "tunnel.h"

#define ICMP4_QUOTE_MAX (576 - IP4_HLEN - 8)  /* RFC 1812 4.3.2.3 */
#define ICMP6_QUOTE_MAX (1280 - IP6_HLEN - 8) /* RFC 4443 2.4 (c) */
#define ICMP_TTL	64

/* The inner IP packet of the frame being encapsulated. */
struct inner {
	uint8_t *ip;
	uint32_t len; /* IP length from its header: Ethernet padding excluded */
	bool v6;
};

/* 0 or a drop reason. The daemon has parsed the frame; this re-checks only what encap relies on. */
static int inner_parse(const struct nio_pkt *p, struct inner *in)
{
	uint32_t avail;

	if (!(p->flags & (NIO_PKT_F_IPV4 | NIO_PKT_F_IPV6)))
		return TUN_C_NOT_IP;
	if (p->l3_off < ETH_HLEN || p->l3_off > p->len)
		return TUN_C_TRUNC_INNER;
	in->v6 = p->flags & NIO_PKT_F_IPV6;
	in->ip = p->data + p->l3_off;
	avail = p->len - p->l3_off;
	if (avail < (in->v6 ? IP6_HLEN : IP4_HLEN))
		return TUN_C_TRUNC_INNER;
	if (in->v6) {
		if (in->ip[0] >> 4 != 6)
			return TUN_C_BAD_INNER;
		in->len = IP6_HLEN + rd16(in->ip + 4);
	} else {
		in->len = rd16(in->ip + 2);
		if (in->ip[0] >> 4 != 4 || (in->ip[0] & 0x0f) < 5 ||
		    in->len < (in->ip[0] & 0x0fu) * 4)
			return TUN_C_BAD_INNER;
	}
	return in->len > avail ? TUN_C_TRUNC_INNER : 0;
}

static uint8_t *inner_ttl(const struct inner *in)
{
	return in->ip + (in->v6 ? 7 : 8);
}

/* RFC 1812 4.3.2.7 / RFC 4443 2.4 (e): never an error about an error, a non-first fragment,
 * or to a source that is not one host; IPv4 never about a multicast destination (the daemon
 * dropped broadcast and link-scope destinations before any service). */
static bool icmp_may_answer(const struct inner *in)
{
	static const uint8_t any[16], loop[16] = { [15] = 1 };
	uint32_t hl = (in->ip[0] & 0x0fu) * 4;
	uint8_t ty;

	if (in->v6) {
		if (in->ip[8] == 0xff || !memcmp(in->ip + 8, any, 16) ||
		    !memcmp(in->ip + 8, loop, 16))
			return false;
		return in->ip[6] != IPPROTO_ICMPV6 ||
		       (in->len > IP6_HLEN && in->ip[IP6_HLEN] >= 128);
	}
	if ((rd16(in->ip + 6) & IP4_OFFMASK) || in->ip[12] == 0 || in->ip[12] == 127 ||
	    in->ip[12] >= 224 || (in->ip[16] >= 224 && in->ip[16] <= 239))
		return false;
	if (in->ip[9] != IPPROTO_ICMP)
		return true;
	if (in->len <= hl)
		return false;
	ty = in->ip[hl];
	return ty != 3 && ty != 4 && ty != 5 && ty != 11 && ty != 12;
}

/* The error's source: icmp-src4/6 (or `local` of the inner family), else the input port's. */
static int icmp_source(const struct tun *t, const struct nio_pkt *p, bool v6, uint8_t *src)
{
	if (v6 ? t->has_icmp6 : t->has_icmp4) {
		memcpy(src, v6 ? t->icmp6 : t->icmp4, v6 ? 16 : 4);
		return 0;
	}
	return t->icmp_src ? t->icmp_src(p, v6 ? 6 : 4, src) : -1;
}

/* GCRA on the receive time: icmp-rate per second with bursts of ten. */
static bool icmp_rate_ok(struct tun *t, uint64_t now)
{
	uint64_t tat = t->icmp_tat_ns > now ? t->icmp_tat_ns : now;

	if (tat - now > t->icmp_burst_ns)
		return false;
	t->icmp_tat_ns = tat + t->icmp_interval_ns;
	return true;
}

/* Write the IPv4 + ICMP headers in front of the quoted packet; returns the IP length. */
static uint32_t icmp4_build(struct tun *t, uint8_t *ip, const uint8_t *src, const uint8_t *quoted,
			    uint32_t qlen, uint32_t info)
{
	uint8_t *icmp = ip + IP4_HLEN;
	uint32_t len = IP4_HLEN + 8 + qlen;

	ip[0] = 0x45;
	ip[1] = 0xc0; /* internetwork control, like every router's errors */
	wr16(ip + 2, (uint16_t)len);
	wr16(ip + 4, t->ip_id++);
	wr16(ip + 6, 0);
	ip[8] = ICMP_TTL;
	ip[9] = IPPROTO_ICMP;
	wr16(ip + 10, 0);
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, quoted + 12, 4);
	wr16(ip + 10, nio_csum_fold(tun_csum_partial(ip, IP4_HLEN, 0)));
	icmp[0] = 3; /* destination unreachable, */
	icmp[1] = 4; /* fragmentation needed and DF set (RFC 1191) */
	wr16(icmp + 2, 0);
	wr32(icmp + 4, info);
	wr16(icmp + 2, nio_csum_fold(tun_csum_partial(icmp, 8 + qlen, 0)));
	return len;
}

static uint32_t icmp6_build(uint8_t *ip, const uint8_t *src, const uint8_t *quoted, uint32_t qlen,
			    uint32_t info)
{
	uint8_t *icmp = ip + IP6_HLEN;
	uint32_t sum;

	wr32(ip, 0x60000000u);
	wr16(ip + 4, (uint16_t)(8 + qlen));
	ip[6] = IPPROTO_ICMPV6;
	ip[7] = ICMP_TTL;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, quoted + 8, 16);
	icmp[0] = 2; /* packet too big (RFC 8201) */
	icmp[1] = 0;
	wr16(icmp + 2, 0);
	wr32(icmp + 4, info);
	sum = nio_csum_pseudo6(ip + 8, ip + 24, IPPROTO_ICMPV6, 8 + qlen);
	wr16(icmp + 2, nio_csum_fold(tun_csum_partial(icmp, 8 + qlen, sum)));
	return IP6_HLEN + 8 + qlen;
}

/* The packet now is the ICMP error: describe it and send it back where it came from. */
static void icmp_meta(struct nio_pkt *p, const uint8_t *ip, bool v6)
{
	p->flags = (uint16_t)((p->flags &
			       ~(NIO_PKT_F_IPV4 | NIO_PKT_F_IPV6 | NIO_PKT_F_L4 | NIO_PKT_F_FRAG)) |
			      (v6 ? NIO_PKT_F_IPV6 : NIO_PKT_F_IPV4) | NIO_PKT_F_L2DONE);
	p->ip_proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	p->dscp = ip_tos(ip, v6) >> 2;
	p->out_port = p->in_port;
	p->key.family = v6 ? 6 : 4;
	p->key.proto = p->ip_proto;
	p->key.sport = 0;
	p->key.dport = 0;
	tun_key_addr(p->key.src, v6 ? ip + 8 : ip + 12, v6);
	tun_key_addr(p->key.dst, v6 ? ip + 24 : ip + 16, v6);
}

/* Turn p into an ICMP too-big error quoting its inner packet, in place:
 * [L2 (MACs swapped)][IP][ICMP][quoted inner packet, cut to the minimum MTU]. */
static int icmp_too_big(struct tun *t, struct nio_pkt *p, const struct inner *in)
{
	uint32_t hdr = (in->v6 ? IP6_HLEN : IP4_HLEN) + 8, info, qlen = in->len;
	uint8_t *ip = in->ip - hdr, *l2 = ip - p->l3_off, mac[6], src[16];

	if (!icmp_may_answer(in) || icmp_source(t, p, in->v6, src) < 0)
		return TUN_C_TOO_BIG;
	if (l2 < p->buf)
		return TUN_C_NO_HEADROOM;
	if (!icmp_rate_ok(t, p->ts_ns))
		return TUN_C_ICMP_RATE;
	info = tun_mtu(t) - t->overhead;
	memmove(l2, p->data, p->l3_off);
	memcpy(mac, l2, 6);
	memcpy(l2, l2 + 6, 6);
	memcpy(l2 + 6, mac, 6);
	if (in->v6) {
		qlen = qlen < ICMP6_QUOTE_MAX ? qlen : ICMP6_QUOTE_MAX;
		p->len = p->l3_off + icmp6_build(ip, src, in->ip, qlen, info);
	} else {
		qlen = qlen < ICMP4_QUOTE_MAX ? qlen : ICMP4_QUOTE_MAX;
		p->len = p->l3_off + icmp4_build(t, ip, src, in->ip, qlen, info);
	}
	p->data = l2;
	icmp_meta(p, ip, in->v6);
	return TUN_C_ICMP_TOO_BIG;
}

/* Inner Ethernet header of VXLAN/GENEVE: the received MACs (or the configured ones) right in
 * front of the IP header, any VLAN tag left out. */
static void inner_eth(const struct tun *t, const struct nio_pkt *p, uint8_t *eth, bool v6)
{
	if (eth != p->data)
		memmove(eth, p->data, 12);
	if (t->has_dmac)
		memcpy(eth, t->inner_dmac, 6);
	if (t->has_smac)
		memcpy(eth + 6, t->inner_smac, 6);
	wr16(eth + 12, v6 ? ETH_P_IPV6 : ETH_P_IPV4);
}

/* Per-packet fields of the outer IPv4 header; the checksum adds them to the template's sum. */
static void outer4(struct tun *t, uint8_t *ip, const struct inner *in, uint8_t tos, uint32_t len)
{
	uint32_t sum = t->csum_base[in->v6] + tos + len + t->ip_id;

	ip[1] = tos;
	wr16(ip + 2, (uint16_t)len);
	wr16(ip + 4, t->ip_id++);
	if (t->df == TUN_DF_INHERIT && (in->v6 || (rd16(in->ip + 6) & IP4_DF))) {
		wr16(ip + 6, IP4_DF);
		sum += IP4_DF;
	}
	if (!t->ttl) {
		ip[8] = *inner_ttl(in);
		sum += (uint32_t)ip[8] << 8;
	}
	wr16(ip + 10, nio_csum_fold(sum));
}

static void outer6(const struct tun *t, uint8_t *ip, const struct nio_pkt *p,
		   const struct inner *in, uint8_t tos, uint32_t len)
{
	wr32(ip, 0x60000000u | (uint32_t)tos << 20 | (p->hash & 0xfffffu));
	wr16(ip + 4, (uint16_t)(len - IP6_HLEN));
	if (!t->ttl)
		ip[7] = *inner_ttl(in);
}

/* UDP length, source port from the flow hash, and the checksum where wanted. */
static uint16_t outer_udp(const struct tun *t, uint8_t *u, const uint8_t *ip, uint32_t hash,
			  uint32_t ulen)
{
	uint16_t sport = (uint16_t)(t->sport_min + (((uint64_t)hash * t->sport_span) >> 32));
	uint32_t sum;
	uint16_t c;

	wr16(u, sport);
	wr16(u + 4, (uint16_t)ulen);
	if (t->udp_csum) {
		sum = t->family == 6 ? nio_csum_pseudo6(ip + 8, ip + 24, IPPROTO_UDP, ulen)
				     : nio_csum_pseudo4(ip + 12, ip + 16, IPPROTO_UDP, ulen);
		c = nio_csum_fold(tun_csum_partial(u, ulen, sum));
		wr16(u + 6, c ? c : 0xffff);
	}
	return sport;
}

/* The frame now is the outer packet: describe it so the daemon routes on the outer header. */
static void outer_meta(const struct tun *t, struct nio_pkt *p, const uint8_t *ip, uint16_t sport)
{
	bool udp = t->type == TUN_VXLAN || t->type == TUN_GENEVE;

	p->l3_off = ETH_HLEN;
	p->l4_off = (uint16_t)(ETH_HLEN + t->ip_hlen);
	p->flags = (uint16_t)((p->flags & ~(NIO_PKT_F_IPV4 | NIO_PKT_F_IPV6 | NIO_PKT_F_L4 |
					    NIO_PKT_F_FRAG | NIO_PKT_F_VLAN | NIO_PKT_F_L2DONE)) |
			      (t->family == 6 ? NIO_PKT_F_IPV6 : NIO_PKT_F_IPV4) |
			      (udp ? NIO_PKT_F_L4 : 0));
	p->ip_proto = t->family == 6 ? ip[6] : ip[9];
	p->dscp = ip_tos(ip, t->family == 6) >> 2;
	memcpy(p->key.src, t->key_local, 16);
	memcpy(p->key.dst, t->key_remote, 16);
	p->key.family = t->family;
	p->key.proto = p->ip_proto;
	p->key.sport = udp ? sport : 0;
	p->key.dport = udp ? t->port : 0;
}

static int encap_write(struct tun *t, struct nio_pkt *p, const struct inner *in)
{
	uint8_t *start = in->ip - t->eth_in - t->tmpl_len, *ip = start + ETH_HLEN;
	uint8_t tos = ip_tos(in->ip, in->v6);
	uint32_t len = in->len + t->overhead;
	uint16_t sport = 0;

	if (start < p->buf)
		return TUN_C_NO_HEADROOM;
	if (t->dscp >= 0)
		tos = (uint8_t)(t->dscp << 2 | (tos & ECN_MASK));
	if (t->eth_in)
		inner_eth(t, p, in->ip - ETH_HLEN, in->v6);
	memcpy(start, t->tmpl[in->v6], t->tmpl_len);
	if (t->family == 6)
		outer6(t, ip, p, in, tos, len);
	else
		outer4(t, ip, in, tos, len);
	if (t->type == TUN_VXLAN || t->type == TUN_GENEVE)
		sport = outer_udp(t, ip + t->ip_hlen, ip, p->hash, len - t->ip_hlen);
	p->data = start;
	p->len = ETH_HLEN + len;
	outer_meta(t, p, ip, sport);
	return TUN_C_ENCAP;
}

/* The copied options of an IPv4 header (RFC 791 3.1: copy flag set), which every fragment
 * after the first repeats, padded to a multiple of 4; -1 for a malformed option list. */
static int ip4_copied_opts(const uint8_t *ip, uint32_t hl, uint8_t out[40])
{
	uint32_t i = IP4_HLEN, n = 0;

	while (i < hl && ip[i] != 0) { /* 0: end of list */
		if (ip[i] == 1) {      /* no-operation, not copied */
			i++;
			continue;
		}
		if (i + 1 >= hl || ip[i + 1] < 2 || i + ip[i + 1] > hl)
			return -1;
		if (ip[i] & 0x80) {
			memcpy(out + n, ip + i, ip[i + 1]);
			n += ip[i + 1];
		}
		i += ip[i + 1];
	}
	while (n & 3)
		out[n++] = 0;
	return (int)n;
}

/* Length, fragment field and checksum of one fragment's header. */
static void ip4_frag_hdr(uint8_t *ip, uint32_t len, uint16_t keep, uint32_t off, bool mf)
{
	wr16(ip + 2, (uint16_t)len);
	wr16(ip + 6, (uint16_t)(keep | (mf ? IP4_MF : 0) | off / 8));
	wr16(ip + 10, 0);
	wr16(ip + 10, nio_csum_fold(tun_csum_partial(ip, (ip[0] & 0x0fu) * 4, 0)));
}

static void fq_drop(struct tun *t, struct nio_pkt **q, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		t->host->pkt_free(q[i]);
}

/* Fragment k (>= 1) of the inner packet, data bytes [off, off + n) of its payload, built in
 * a fresh buffer f with p's L2 header and metadata, then encapsulated like p. */
static void frag_make(struct tun *t, const struct nio_pkt *p, const struct inner *in,
		      struct nio_pkt *f, const uint8_t *opts, uint32_t ol, uint32_t off, uint32_t n,
		      bool mf)
{
	uint32_t hl = (in->ip[0] & 0x0fu) * 4, hl2 = IP4_HLEN + ol;
	uint8_t *buf = f->buf, *fip;
	uint32_t buf_size = f->buf_size;
	struct inner fin;

	*f = *p;
	f->buf = buf;
	f->buf_size = buf_size;
	f->data = buf + NIO_PKT_HEADROOM;
	memcpy(f->data, p->data, p->l3_off);
	fip = f->data + p->l3_off;
	memcpy(fip, in->ip, IP4_HLEN);
	memcpy(fip + IP4_HLEN, opts, ol);
	fip[0] = (uint8_t)(0x40 | hl2 / 4);
	memcpy(fip + hl2, in->ip + hl + off, n);
	ip4_frag_hdr(fip, hl2 + n, rd16(in->ip + 6) & 0x8000,
		     (rd16(in->ip + 6) & IP4_OFFMASK) * 8u + off, mf);
	f->len = p->l3_off + hl2 + n;
	f->flags = (uint16_t)((p->flags & ~NIO_PKT_F_L4) | NIO_PKT_F_FRAG);
	fin = (struct inner){ .ip = fip, .len = hl2 + n, .v6 = false };
	encap_write(t, f, &fin);
}

/*
 * An inner IPv4 packet without DF that does not fit: split it (RFC 791 3.2, RFC 815) into
 * fragments whose outer packets fit the mtu, as a router in front of the tunnel would. The
 * first fragment stays in p; the others get buffers from the host and wait in the fragment
 * queue until dequeue() sends them on, in the same worker turn. Nothing is queued on failure.
 */
static int fragment(struct tun *t, struct nio_pkt *p, struct inner *in)
{
	uint32_t hl = (in->ip[0] & 0x0fu) * 4, room = tun_mtu(t) - t->overhead, data = in->len - hl;
	uint32_t keep = rd16(in->ip + 6), base = (keep & IP4_OFFMASK) * 8u, first, step, nfrag;
	struct nio_pkt *q[TUN_FRAG_MAX];
	uint8_t opts[40];
	int ol = ip4_copied_opts(in->ip, hl, opts);

	if (ol < 0 || base + data > 0xffff)
		return TUN_C_BAD_INNER;
	first = (room - hl) & ~7u; /* room >= 68 (conf_outer), hl <= 60: first >= 8 */
	step = (room - IP4_HLEN - (uint32_t)ol) & ~7u;
	nfrag = 1 + (data - first + step - 1) / step;
	if (nfrag > TUN_FRAG_MAX || nfrag - 1 > TUN_FQ_SIZE - (t->fq_head - t->fq_tail))
		return TUN_C_NO_BUFFER;
	for (uint32_t i = 0; i < nfrag - 1; i++) {
		q[i] = t->host->pkt_alloc();
		if (!q[i]) {
			fq_drop(t, q, i);
			return TUN_C_NO_BUFFER;
		}
	}
	for (uint32_t k = 1, off = first; k < nfrag; k++, off += step) {
		uint32_t n = data - off < step ? data - off : step;

		frag_make(t, p, in, q[k - 1], opts, (uint32_t)ol, off, n,
			  k < nfrag - 1 || (keep & IP4_MF));
		t->fq[t->fq_head++ & (TUN_FQ_SIZE - 1)] = q[k - 1];
	}
	ip4_frag_hdr(in->ip, hl + first, keep & 0x8000, base, true);
	in->len = hl + first;
	t->cnt[TUN_C_FRAGMENTED]++;
	t->cnt[TUN_C_ENCAP] += nfrag - 1;
	return encap_write(t, p, in);
}

int tunnel_encap(struct tun *t, struct nio_pkt *p)
{
	struct inner in;
	int e = inner_parse(p, &in);

	if (e)
		return e;
	if (tun_is_own(t, in.ip, in.len, in.v6, t->remote))
		return TUN_C_NESTED;
	if (in.len + t->overhead > tun_mtu(t)) {
		if (!in.v6 && !(rd16(in.ip + 6) & IP4_DF))
			return t->fragment ? fragment(t, p, &in) : TUN_C_TOO_BIG;
		return icmp_too_big(t, p, &in);
	}
	return encap_write(t, p, &in);
}

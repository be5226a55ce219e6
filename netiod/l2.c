/* Where a packet leaves the pipeline: TTL / hop limit, ICMP time-exceeded, Ethernet rewrite. */
#include <arpa/inet.h>
#include <string.h>

#include <netio/csum.h>

#include "netiod.h"

#define ETH_HLEN_   14
#define ICMP4_QUOTE 548	 /* RFC 1812 4.3.2.3: as much as fits in 576 bytes */
#define ICMP6_QUOTE 1184 /* RFC 4443 2.4(c): as much as fits in the IPv6 minimum MTU */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Make the frame exactly Ethernet + L3 (dropping any VLAN tag) and address it to dst_mac. */
int nio_l2_rewrite(struct nio_pkt *p, const struct nio_port *out, const uint8_t dst_mac[6])
{
	uint8_t *eth;

	if (p->l3_off > ETH_HLEN_)
		nio_pkt_pull(p, p->l3_off - ETH_HLEN_);
	else if (p->l3_off < ETH_HLEN_ && !nio_pkt_push(p, ETH_HLEN_ - p->l3_off))
		return -1;
	p->l3_off = ETH_HLEN_;
	eth = p->data;
	memcpy(eth, dst_mac, 6);
	memcpy(eth + 6, out->mac, 6);
	wr16(eth + 12, (p->flags & NIO_PKT_F_IPV6) ? 0x86dd : 0x0800);
	return 0;
}

int nio_ttl_decrement(struct nio_pkt *p)
{
	uint8_t *ip = nio_pkt_l3(p);

	if (p->flags & NIO_PKT_F_IPV4) {
		uint16_t old = rd16(ip + 8);

		if (ip[8] <= 1)
			return -1;
		ip[8]--;
		wr16(ip + 10, nio_csum_update16(rd16(ip + 10), old, rd16(ip + 8)));
	} else if (p->flags & NIO_PKT_F_IPV6) {
		if (ip[7] <= 1)
			return -1;
		ip[7]--;
	}
	return 0;
}

/* p in place becomes ICMP type/code (rest: the 4 bytes after the checksum) to its source. The
 * caller has checked with nio_guard_icmp() that p may be answered at all. */
static int icmp_error4(struct nio_pkt *p, const struct nio_port *in, uint8_t type, uint8_t code,
		       uint32_t rest)
{
	uint8_t msg[20 + 8 + ICMP4_QUOTE], *ip = nio_pkt_l3(p);
	uint32_t quote = nio_pkt_l3_len(p), len;

	if (!in->has_v4)
		return -1;
	if (quote > ICMP4_QUOTE)
		quote = ICMP4_QUOTE;
	len = 28 + quote;
	memset(msg, 0, 28);
	msg[0] = 0x45;
	wr16(msg + 2, (uint16_t)len);
	msg[8] = 64;
	msg[9] = IPPROTO_ICMP;
	memcpy(msg + 12, &in->addr4, 4);
	memcpy(msg + 16, ip + 12, 4);
	wr16(msg + 10, nio_csum(msg, 20));
	msg[20] = type;
	msg[21] = code;
	wr16(msg + 24, (uint16_t)(rest >> 16));
	wr16(msg + 26, (uint16_t)rest);
	memcpy(msg + 28, ip, quote);
	wr16(msg + 22, nio_csum(msg + 20, 8 + quote));
	memcpy(ip, msg, len);
	p->len = p->l3_off + len;
	p->ip_proto = IPPROTO_ICMP;
	return 0;
}

static int icmp_error6(struct nio_pkt *p, const struct nio_port *in, uint8_t type, uint8_t code,
		       uint32_t rest)
{
	uint8_t msg[40 + 8 + ICMP6_QUOTE], *ip = nio_pkt_l3(p);
	uint32_t quote = nio_pkt_l3_len(p), len;

	if (!in->has_v6)
		return -1;
	if (quote > ICMP6_QUOTE)
		quote = ICMP6_QUOTE;
	len = 48 + quote;
	memset(msg, 0, 48);
	msg[0] = 0x60;
	wr16(msg + 4, (uint16_t)(8 + quote));
	msg[6] = IPPROTO_ICMPV6;
	msg[7] = 64;
	memcpy(msg + 8, &in->addr6, 16);
	memcpy(msg + 24, ip + 8, 16);
	msg[40] = type;
	msg[41] = code;
	wr16(msg + 44, (uint16_t)(rest >> 16));
	wr16(msg + 46, (uint16_t)rest);
	memcpy(msg + 48, ip, quote);
	wr16(msg + 42, nio_csum_fold(nio_csum_partial(
			       msg + 40, 8 + quote,
			       nio_csum_pseudo6(msg + 8, msg + 24, IPPROTO_ICMPV6, 8 + quote))));
	memcpy(ip, msg, len);
	p->len = p->l3_off + len;
	p->ip_proto = IPPROTO_ICMPV6;
	return 0;
}

/* Address the rebuilt error back out of the input port, to the sender's MAC. */
static int send_back(struct nio_pkt *p, const struct nio_port *in, const uint8_t src_mac[6])
{
	p->out_port = p->in_port;
	p->flags &= (uint16_t) ~(NIO_PKT_F_L2BCAST | NIO_PKT_F_FRAG);
	return nio_l2_rewrite(p, in, src_mac);
}

/* Turn p in place into a time-exceeded error to its source, sent back out of its input port. */
int nio_icmp_time_exceeded(struct nio_pkt *p, const struct nio_port *in)
{
	uint8_t src_mac[6];
	int r;

	memcpy(src_mac, p->data + 6, 6);
	/* RFC 792 type 11 / RFC 4443 type 3, code 0: TTL / hop limit exceeded in transit */
	r = (p->flags & NIO_PKT_F_IPV4) ? icmp_error4(p, in, 11, 0, 0)
					: icmp_error6(p, in, 3, 0, 0);
	return r < 0 ? -1 : send_back(p, in, src_mac);
}

/*
 * p does not fit the next link's MTU: answer "fragmentation needed" (IPv4 with DF; RFC 1191)
 * or "packet too big" (IPv6; RFC 8201) so the sender's PMTU discovery adapts. An IPv4 packet
 * without DF would need fragmenting, which netiod does not do: -1, the caller drops it.
 */
int nio_icmp_too_big(struct nio_pkt *p, const struct nio_port *in, uint32_t mtu)
{
	uint8_t src_mac[6];
	int r;

	memcpy(src_mac, p->data + 6, 6);
	if (p->flags & NIO_PKT_F_IPV4) {
		if (!(nio_pkt_l3(p)[6] & 0x40))
			return -1;
		r = icmp_error4(p, in, 3, 4, mtu & 0xffff);
	} else {
		r = icmp_error6(p, in, 2, 0, mtu);
	}
	return r < 0 ? -1 : send_back(p, in, src_mac);
}

/*
 * A reject route covers p's destination: answer "destination unreachable" with the code the
 * kernel uses for that route type (IPv4 code4, IPv6 code6), back out of the input port.
 */
int nio_icmp_dest_unreach(struct nio_pkt *p, const struct nio_port *in, uint8_t code4,
			  uint8_t code6)
{
	uint8_t src_mac[6];
	int r;

	memcpy(src_mac, p->data + 6, 6);
	/* RFC 792 type 3 / RFC 4443 type 1 */
	r = (p->flags & NIO_PKT_F_IPV4) ? icmp_error4(p, in, 3, code4, 0)
					: icmp_error6(p, in, 1, code6, 0);
	return r < 0 ? -1 : send_back(p, in, src_mac);
}

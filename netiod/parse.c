/* Where a received frame is validated and its flow key extracted (Ethernet, IPv4/IPv6, L4 ports). */
#include <arpa/inet.h>
#include <string.h>

#include <netio/csum.h>

#include "netiod.h"

#define ETH_HLEN_      14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define IPV6_HLEN      40
#define MAX_EXT_HDRS   8

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

#define DROP(r) (NIO_DROP_##r + 1)

/* Minimum L4 header bytes needed before the flow key can be trusted. */
static unsigned l4_min(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return 8;
	case IPPROTO_SCTP:
		return 12;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 4;
	default:
		return 0;
	}
}

/* UDP length and TCP data offset must describe the segment the IP payload carries (a first
 * fragment carries only the start of a UDP datagram, so its UDP length may go beyond). */
static int check_l4(const struct nio_pkt *p, unsigned off, unsigned end, bool more_frags)
{
	const uint8_t *l4 = p->data + off;

	if (p->ip_proto == IPPROTO_UDP) {
		unsigned ulen = rd16(l4 + 4);

		if (ulen < 8 || (!more_frags && ulen > end - off))
			return DROP(BAD_UDP_LEN);
	} else if (p->ip_proto == IPPROTO_TCP) {
		unsigned doff = (l4[12] >> 4) * 4u;

		if (doff < 20 || doff > end - off)
			return DROP(BAD_TCP_OFF);
	}
	return 0;
}

static int parse_l4(struct nio_pkt *p, unsigned off, unsigned end, bool more_frags)
{
	unsigned need = l4_min(p->ip_proto);

	p->key.proto = p->ip_proto;
	p->l4_off = (uint16_t)off;
	if (p->flags & NIO_PKT_F_FRAG)
		return 0;
	if (end - off < need)
		return DROP(TRUNC_L4);
	if (p->ip_proto == IPPROTO_TCP || p->ip_proto == IPPROTO_UDP ||
	    p->ip_proto == IPPROTO_UDPLITE || p->ip_proto == IPPROTO_SCTP) {
		p->key.sport = rd16(p->data + off);
		p->key.dport = rd16(p->data + off + 2);
		p->flags |= NIO_PKT_F_L4;
	} else if (p->ip_proto == IPPROTO_ICMP || p->ip_proto == IPPROTO_ICMPV6) {
		/* type/code stand in for ports so echo flows and errors classify apart */
		p->key.sport = p->data[off];
		p->key.dport = p->data[off + 1];
		p->flags |= NIO_PKT_F_L4;
	}
	return check_l4(p, off, end, more_frags);
}

/* RFC 791 3.1: options are end-of-list, no-operation, or type + length (>= 2) within the header. */
static bool ip4_options_ok(const uint8_t *ip, unsigned ihl)
{
	unsigned i = 20;

	while (i < ihl && ip[i] != 0) {
		if (ip[i] == 1) {
			i++;
			continue;
		}
		if (ihl - i < 2 || ip[i + 1] < 2 || ip[i + 1] > ihl - i)
			return false;
		i += ip[i + 1];
	}
	return true;
}

static int parse_ipv4(struct nio_pkt *p, unsigned off)
{
	const uint8_t *ip = p->data + off;
	unsigned avail = p->len - off, ihl, tot, frag;

	if (avail < 20)
		return DROP(TRUNC_IP);
	if (ip[0] >> 4 != 4)
		return DROP(BAD_VERSION);
	ihl = (ip[0] & 0xfu) * 4u;
	if (ihl < 20)
		return DROP(BAD_IHL);
	if (ihl > avail)
		return DROP(TRUNC_IP);
	tot = rd16(ip + 2);
	if (tot < ihl || tot > avail)
		return DROP(BAD_LEN);
	if (nio_csum(ip, ihl) != 0)
		return DROP(BAD_CSUM);
	if (!ip4_options_ok(ip, ihl))
		return DROP(BAD_OPTIONS);
	frag = rd16(ip + 6);
	/* the reassembled datagram could not be longer than 65535 bytes (ping of death) */
	if ((frag & 0x1fff) * 8u + (tot - ihl) > 0xffff)
		return DROP(BAD_FRAG);
	p->len = off + tot; /* strip Ethernet padding */
	p->flags |= NIO_PKT_F_IPV4;
	p->ip_proto = ip[9];
	p->dscp = ip[1] >> 2;
	if (frag & 0x1fff)
		p->flags |= NIO_PKT_F_FRAG;
	nio_addr_from_v4(p->key.src, ip + 12);
	nio_addr_from_v4(p->key.dst, ip + 16);
	p->key.family = 4;
	return parse_l4(p, off + ihl, p->len, frag & 0x2000);
}

static bool ipv6_is_ext(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 60;
}

static int parse_ipv6(struct nio_pkt *p, unsigned off)
{
	const uint8_t *ip = p->data + off;
	unsigned avail = p->len - off, plen, cur, end;
	bool more_frags = false;
	uint8_t nh;

	if (avail < IPV6_HLEN)
		return DROP(TRUNC_IP);
	if (ip[0] >> 4 != 6)
		return DROP(BAD_VERSION);
	plen = rd16(ip + 4);
	if (plen + IPV6_HLEN > avail)
		return DROP(BAD_LEN);
	p->len = off + IPV6_HLEN + plen;
	p->flags |= NIO_PKT_F_IPV6;
	p->dscp = (uint8_t)((rd16(ip) >> 6) & 0x3f);
	memcpy(p->key.src, ip + 8, 16);
	memcpy(p->key.dst, ip + 24, 16);
	p->key.family = 6;
	nh = ip[6];
	cur = off + IPV6_HLEN;
	end = p->len;
	for (int i = 0; ipv6_is_ext(nh); i++) {
		unsigned hl;

		if (i == MAX_EXT_HDRS || end - cur < 8)
			return DROP(TRUNC_L4);
		if (nh == 44) {
			unsigned fo = rd16(p->data + cur + 2);

			/* RFC 8200 4.5: the fragment's data may not end beyond 65535 */
			if ((fo & 0xfff8) + (end - cur - 8) > 0xffff)
				return DROP(BAD_FRAG);
			if (fo & 0xfff8)
				p->flags |= NIO_PKT_F_FRAG;
			more_frags = fo & 1;
			hl = 8;
		} else {
			hl = (p->data[cur + 1] + 1u) * 8u;
		}
		if (end - cur < hl)
			return DROP(TRUNC_L4);
		nh = p->data[cur];
		cur += hl;
	}
	p->ip_proto = nh;
	return parse_l4(p, cur, end, more_frags);
}

int nio_parse(struct nio_pkt *p)
{
	unsigned off = ETH_HLEN_;
	uint16_t type;

	memset(&p->key, 0, sizeof(p->key));
	p->key.in_port = p->in_port;
	p->flags = 0;
	if (p->len < ETH_HLEN_)
		return DROP(TRUNC_L2);
	if (p->data[0] & 1) /* group bit: broadcast or multicast */
		p->flags |= NIO_PKT_F_L2BCAST;
	type = rd16(p->data + 12);
	if (type == ETHERTYPE_VLAN) {
		if (p->len < ETH_HLEN_ + 4)
			return DROP(TRUNC_L2);
		type = rd16(p->data + 16);
		off += 4;
		p->flags |= NIO_PKT_F_VLAN;
	}
	p->l3_off = (uint16_t)off;
	if (type == ETHERTYPE_IPV4)
		return parse_ipv4(p, off);
	if (type == ETHERTYPE_IPV6)
		return parse_ipv6(p, off);
	return -1;
}

/* A 32-bit hash of the 5-tuple and input port (multiply-xorshift over 8-byte words). */
uint32_t nio_flow_hash(const struct nio_flow_key *k)
{
	const uint8_t *b = (const uint8_t *)k;
	uint64_t h = 0x9e3779b97f4a7c15ull, w;

	_Static_assert(sizeof(*k) == 40, "flow key is five 8-byte words");
	for (size_t i = 0; i < sizeof(*k); i += 8) {
		memcpy(&w, b + i, 8);
		h ^= w;
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return (uint32_t)h;
}

const char *const nio_drop_names[NIO_DROP_MAX] = {
#define _(sym, str) [NIO_DROP_##sym] = str,
	foreach_nio_drop
#undef _
};

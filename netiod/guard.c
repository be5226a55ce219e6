/* What a router must not forward, and what it must not answer with an ICMP error. */
#include <string.h>

#include "netiod.h"

#define ICMP6_INFO_MIN 128 /* RFC 4443 2.1: ICMPv6 types below are errors */

static bool is_bcast4(const struct nio_config *c, const uint8_t a[4])
{
	static const uint8_t all[4] = { 255, 255, 255, 255 };

	if (!memcmp(a, all, 4))
		return true;
	for (unsigned i = 0; i < c->nports; i++)
		for (unsigned j = 0; j < c->ports[i]->nbcast4; j++)
			if (!memcmp(a, &c->ports[i]->bcast4[j], 4))
				return true;
	return false;
}

/* RFC 4291 2.7: the scope nibble; 0 reserved, 1 interface-local, 2 link-local. */
static bool link_scope6(const uint8_t a[16])
{
	return a[0] == 0xff && (a[1] & 0x0f) <= 2;
}

/*
 * RFC 1812 4.2.2.11, 5.3.4 and 5.3.5, RFC 2644: a router never forwards link-local multicast
 * (224.0.0.0/24, ff02::/16 and narrower scopes), limited or directed broadcast of a subnet it
 * is on, nor a unicast packet that arrived as a link-layer broadcast or multicast. Afpacket and
 * pcap ports see copies of all of it. Returns 0 or the drop reason + 1.
 */
int nio_guard_forward(const struct nio_config *c, const struct nio_pkt *p)
{
	const uint8_t *ip = nio_pkt_l3(p);
	bool mcast;

	if (p->flags & NIO_PKT_F_IPV4) {
		if (ip[16] == 224 && ip[17] == 0 && ip[18] == 0)
			return NIO_DROP_LINK_SCOPE + 1;
		if (is_bcast4(c, ip + 16))
			return NIO_DROP_BROADCAST + 1;
		mcast = ip[16] >= 224 && ip[16] <= 239;
	} else if (p->flags & NIO_PKT_F_IPV6) {
		if (link_scope6(ip + 24))
			return NIO_DROP_LINK_SCOPE + 1;
		mcast = ip[24] == 0xff;
	} else {
		return 0;
	}
	if ((p->flags & NIO_PKT_F_L2BCAST) && !mcast)
		return NIO_DROP_L2_BCAST + 1;
	return 0;
}

/* RFC 1812 4.3.2.7: the source of an error's subject must be one host. */
static bool icmp_ok4(const struct nio_config *c, const struct nio_pkt *p, const uint8_t *ip)
{
	unsigned ihl = (ip[0] & 0x0fu) * 4;
	uint8_t type;

	if (ip[12] == 0 || ip[12] == 127 || ip[12] >= 224 || is_bcast4(c, ip + 12))
		return false; /* this network, loopback, multicast, class E and broadcast */
	if ((ip[16] >= 224 && ip[16] <= 239) || is_bcast4(c, ip + 16) ||
	    (p->flags & NIO_PKT_F_L2BCAST))
		return false;
	if (ip[9] != IPPROTO_ICMP || nio_pkt_l3_len(p) <= ihl)
		return true;
	type = ip[ihl];
	return type != 3 && type != 4 && type != 5 && type != 11 && type != 12;
}

/* RFC 4443 2.4(e): likewise, except that Packet Too Big may answer a multicast destination
 * (path MTU discovery for multicast; Parameter Problem code 2 too, which netiod never sends). */
static bool icmp_ok6(const struct nio_pkt *p, const uint8_t *ip, bool too_big)
{
	static const uint8_t any[16], loop[16] = { [15] = 1 };

	if (ip[8] == 0xff || !memcmp(ip + 8, any, 16) || !memcmp(ip + 8, loop, 16))
		return false;
	if (!too_big && (ip[24] == 0xff || (p->flags & NIO_PKT_F_L2BCAST)))
		return false;
	return !(p->ip_proto == IPPROTO_ICMPV6 && (p->flags & NIO_PKT_F_L4) &&
		 p->data[p->l4_off] < ICMP6_INFO_MIN);
}

/* May the gateway send an ICMP error (too_big: fragmentation needed / packet too big) about p? */
bool nio_guard_icmp(const struct nio_config *c, const struct nio_pkt *p, bool too_big)
{
	const uint8_t *ip = nio_pkt_l3(p);

	if (p->flags & NIO_PKT_F_FRAG)
		return false; /* only the first fragment is answered */
	if (p->flags & NIO_PKT_F_IPV4)
		return icmp_ok4(c, p, ip);
	if (p->flags & NIO_PKT_F_IPV6)
		return icmp_ok6(p, ip, too_big);
	return false;
}

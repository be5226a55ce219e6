/* Match rules on DSCP and the flow key, DSCP names, AF colours and DSCP re-marking. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <netio/csum.h>

#include "qos.h"

void qos_match_any(struct qos_match *m)
{
	*m = (struct qos_match){ .proto = -1, .sport_hi = 0xffff, .dport_hi = 0xffff };
}

bool qos_match_is_any(const struct qos_match *m)
{
	return m->dscp_mask == 0 && m->proto < 0 && m->sport_lo == 0 && m->sport_hi == 0xffff &&
	       m->dport_lo == 0 && m->dport_hi == 0xffff && m->nsrc == 0 && m->ndst == 0;
}

static bool prefix_contains(const struct qos_prefix *p, const uint8_t a[16])
{
	unsigned full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr, a, full) != 0)
		return false;
	return rest == 0 || ((p->addr[full] ^ a[full]) & (0xff00u >> rest)) == 0;
}

static bool any_prefix(const struct qos_prefix *v, unsigned n, const uint8_t a[16])
{
	for (unsigned i = 0; i < n; i++)
		if (prefix_contains(&v[i], a))
			return true;
	return n == 0;
}

static bool ports_match(const struct qos_match *m, const struct nio_pkt *p)
{
	bool any = m->sport_lo == 0 && m->sport_hi == 0xffff && m->dport_lo == 0 &&
		   m->dport_hi == 0xffff;

	if (any)
		return true;
	if (!(p->flags & NIO_PKT_F_L4))
		return false;
	return p->key.sport >= m->sport_lo && p->key.sport <= m->sport_hi &&
	       p->key.dport >= m->dport_lo && p->key.dport <= m->dport_hi;
}

bool qos_match_pkt(const struct qos_match *m, const struct nio_pkt *p)
{
	if (m->dscp_mask && !(m->dscp_mask & (UINT64_C(1) << (p->dscp & 63))))
		return false;
	if (m->proto >= 0 && p->key.proto != m->proto)
		return false;
	return ports_match(m, p) && any_prefix(m->src, m->nsrc, p->key.src) &&
	       any_prefix(m->dst, m->ndst, p->key.dst);
}

/* Parse a whole decimal string within [0, max]; -1 otherwise. */
static long parse_num(const char *s, long max)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtol(s, &end, 10);
	return *end || v > max ? -1 : v;
}

static const struct {
	const char *name;
	uint8_t dscp;
} dscp_names[] = {
	{ "be", 0 },	{ "default", 0 }, { "ef", 46 },	  { "va", 44 },	  { "le", 1 },
	{ "af11", 10 }, { "af12", 12 },	  { "af13", 14 }, { "af21", 18 }, { "af22", 20 },
	{ "af23", 22 }, { "af31", 26 },	  { "af32", 28 }, { "af33", 30 }, { "af41", 34 },
	{ "af42", 36 }, { "af43", 38 },
};

int qos_dscp_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(dscp_names) / sizeof(dscp_names[0]); i++)
		if (strcasecmp(s, dscp_names[i].name) == 0)
			return dscp_names[i].dscp;
	if ((s[0] == 'c' || s[0] == 'C') && (s[1] == 's' || s[1] == 'S') && s[2] >= '0' &&
	    s[2] <= '7' && !s[3])
		return (s[2] - '0') << 3;
	return (int)parse_num(s, 63);
}

int qos_proto_parse(const char *s)
{
	if (strcasecmp(s, "tcp") == 0)
		return 6;
	if (strcasecmp(s, "udp") == 0)
		return 17;
	if (strcasecmp(s, "icmp") == 0)
		return 1;
	if (strcasecmp(s, "ipv6-icmp") == 0 || strcasecmp(s, "icmpv6") == 0)
		return 58;
	if (strcasecmp(s, "sctp") == 0)
		return 132;
	return (int)parse_num(s, 255);
}

/* "80" or "1024-65535". */
int qos_port_range_parse(const char *s, uint16_t *lo, uint16_t *hi)
{
	char buf[16];
	const char *dash = strchr(s, '-');
	long a, b;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (dash)
		buf[dash - s] = '\0';
	a = parse_num(buf, 65535);
	b = dash ? parse_num(dash + 1, 65535) : a;
	if (a < 0 || b < 0 || a > b)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

int qos_prefix_parse(const char *s, struct qos_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	long len = -1;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		len = parse_num(slash + 1, 128);
		if (len < 0)
			return -1;
	}
	memset(p->addr, 0, sizeof(p->addr));
	if (inet_pton(AF_INET, buf, p->addr + 12) == 1) {
		if (len > 32)
			return -1;
		p->addr[10] = p->addr[11] = 0xff;
		p->len = (uint8_t)(96 + (len < 0 ? 32 : len));
		return 0;
	}
	if (inet_pton(AF_INET6, buf, p->addr) != 1)
		return -1;
	p->len = (uint8_t)(len < 0 ? 128 : len);
	return 0;
}

/* AF classes (RFC 2597) carry the drop precedence in bits 1-2: AFx1 green, AFx2 yellow,
 * AFx3 red. Every other code point is treated as green. */
enum qos_color qos_dscp_color(uint8_t dscp)
{
	unsigned cls = dscp >> 3, dp = (dscp & 7) >> 1;

	if (cls < 1 || cls > 4 || (dscp & 1) || dp == 0)
		return QOS_GREEN;
	return (enum qos_color)(dp - 1);
}

/* The TOS byte (IPv4) or traffic class (IPv6): DSCP in the top six bits, ECN in the low two. */
static uint8_t *tos_byte(struct nio_pkt *p, uint8_t *tos)
{
	uint8_t *ip = nio_pkt_l3(p);
	uint32_t len = p->l3_off < p->len ? nio_pkt_l3_len(p) : 0;

	if ((p->flags & NIO_PKT_F_IPV4) && len >= 20)
		*tos = ip[1];
	else if ((p->flags & NIO_PKT_F_IPV6) && len >= 40)
		*tos = (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4);
	else
		return NULL;
	return ip;
}

/* IPv4 keeps its header checksum by an RFC 1624 update; IPv6's traffic class straddles the
 * first two bytes, after the 4-bit version. */
static void set_tos(const struct nio_pkt *p, uint8_t *ip, uint8_t tos)
{
	if (p->flags & NIO_PKT_F_IPV4) {
		uint16_t old = (uint16_t)(ip[0] << 8 | ip[1]);
		uint16_t csum = (uint16_t)(ip[10] << 8 | ip[11]);

		ip[1] = tos;
		csum = nio_csum_update16(csum, old, (uint16_t)(ip[0] << 8 | ip[1]));
		ip[10] = (uint8_t)(csum >> 8);
		ip[11] = (uint8_t)csum;
	} else {
		ip[0] = (uint8_t)((ip[0] & 0xf0) | tos >> 4);
		ip[1] = (uint8_t)((tos & 0x0f) << 4 | (ip[1] & 0x0f));
	}
}

int qos_remark(struct nio_pkt *p, uint8_t dscp)
{
	uint8_t tos;
	uint8_t *ip = tos_byte(p, &tos);

	if (!ip)
		return -1;
	dscp &= 63;
	set_tos(p, ip, (uint8_t)(dscp << 2 | (tos & 3))); /* ECN untouched */
	p->dscp = dscp;
	return 0;
}

int qos_ecn_mark(struct nio_pkt *p)
{
	uint8_t tos;
	uint8_t *ip = tos_byte(p, &tos);

	if (!ip || (tos & 3) == 0)
		return -1; /* Not-ECT: the sender would not understand a mark */
	if ((tos & 3) != 3)
		set_tos(p, ip, tos | 3);
	return 0;
}

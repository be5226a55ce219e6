/* The tunnel service's instance, counters and wire-format helpers shared by its three files. */
#ifndef NETIO_TUNNEL_H
#define NETIO_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

#include <netio/pkt.h>
#include <netio/service.h>

/* Counters in export order: what went through, then one drop reason each. */
#define foreach_tunnel_counter          \
	_(ENCAP, "encap")               \
	_(DECAP, "decap")               \
	_(ICMP_TOO_BIG, "icmp-too-big") \
	_(FRAGMENTED, "fragmented")

#define foreach_tunnel_error                      \
	_(NOT_IP, "not-ip")                       \
	_(TRUNC_INNER, "truncated-inner")         \
	_(BAD_INNER, "bad-inner-ip")              \
	_(INNER_PROTO, "bad-inner-protocol")      \
	_(NESTED, "nested")                       \
	_(NO_HEADROOM, "no-headroom")             \
	_(TOO_BIG, "too-big")                     \
	_(NO_BUFFER, "no-buffer")                 \
	_(ICMP_RATE, "icmp-rate-limited")         \
	_(TRUNC_OUTER, "truncated-outer")         \
	_(BAD_OUTER, "bad-outer-ip")              \
	_(OUTER_FRAG, "outer-fragment")           \
	_(WRONG_PROTO, "wrong-protocol")          \
	_(WRONG_DST, "wrong-dst")                 \
	_(WRONG_SRC, "wrong-src")                 \
	_(WRONG_PORT, "wrong-port")               \
	_(TRUNC_TUNNEL, "truncated-tunnel")       \
	_(BAD_UDP, "bad-udp-length")              \
	_(BAD_UDP_CSUM, "bad-udp-checksum")       \
	_(BAD_HEADER, "bad-tunnel-header")        \
	_(WRONG_VNI, "wrong-vni")                 \
	_(WRONG_KEY, "wrong-key")                 \
	_(BAD_GRE_CSUM, "bad-gre-checksum")       \
	_(BAD_OPTIONS, "bad-geneve-options")      \
	_(CRITICAL_OPT, "geneve-critical-option") \
	_(OAM, "geneve-oam")                      \
	_(ECN, "ecn-ce-not-ect")

enum tun_counter {
#define _(sym, str) TUN_C_##sym,
	foreach_tunnel_counter foreach_tunnel_error
#undef _
		TUN_C_MAX
};
#define TUN_C_FIRST_DROP TUN_C_NOT_IP

enum tun_type { TUN_VXLAN, TUN_GENEVE, TUN_GRE, TUN_IPIP };
enum tun_df { TUN_DF_SET, TUN_DF_UNSET, TUN_DF_INHERIT };

#define ETH_HLEN     14
#define ETH_P_IPV4   0x0800
#define ETH_P_IPV6   0x86dd
#define ETH_P_TEB    0x6558 /* transparent Ethernet bridging: GENEVE's Ethernet payload */
#define IP4_HLEN     20
#define IP6_HLEN     40
#define UDP_HLEN     8
#define VXLAN_HLEN   8
#define GENEVE_HLEN  8
#define GRE_HLEN     4
#define VXLAN_F_VNI  0x08
#define IP4_DF	     0x4000
#define IP4_MF	     0x2000
#define IP4_OFFMASK  0x1fff
#define ECN_MASK     0x03
#define ECN_CE	     0x03
#define TUN_TMPL_MAX (ETH_HLEN + IP6_HLEN + UDP_HLEN + GENEVE_HLEN)
#define TUN_FQ_SIZE  256u  /* fragments waiting for dequeue(); a power of two */
#define TUN_FRAG_MAX 64u   /* most fragments made of one packet */
#define TUN_MTU_DEF  1500u /* without `mtu` and without a fixed output port */

/* One configured tunnel end. Written by init, read-only on the worker except counters,
 * ip_id and the ICMP rate limiter, which only the one worker running the instance touches. */
struct tun {
	uint8_t type;	     /* enum tun_type */
	bool decap;	     /* mode */
	uint8_t family;	     /* outer: 4 or 6 */
	uint8_t df;	     /* enum tun_df */
	uint8_t ttl;	     /* 0: inherit the inner TTL */
	int16_t dscp;	     /* -1: inherit the inner DSCP */
	bool udp_csum;	     /* compute the UDP checksum (always over IPv6) */
	bool has_key;	     /* GRE key present */
	uint16_t port;	     /* UDP destination port */
	uint16_t sport_min;  /* source port = sport_min + hash scaled into sport_span */
	uint32_t sport_span; /* sport_max - sport_min + 1 */
	uint32_t vni;
	uint32_t key;
	uint32_t mtu;	    /* largest outer IP packet; 0: the output port's MTU (tun_mtu) */
	const int *out_mtu; /* the host's view of the output port's MTU, or NULL */
	uint16_t ip_hlen;   /* outer IP header */
	uint16_t tun_hlen;  /* UDP + VXLAN/GENEVE, GRE, or nothing */
	uint16_t eth_in;    /* inner Ethernet header carried: 14 for VXLAN/GENEVE, else 0 */
	uint16_t overhead;  /* bytes encap adds to the inner IP packet's length */
	uint16_t tmpl_len;  /* outer Ethernet + IP + tunnel header */
	uint16_t ip_id;
	/* outer headers per inner family (0: IPv4, 1: IPv6), patched per packet; for an IPv4
	 * outer header csum_base is its sum with every per-packet field zero */
	uint8_t tmpl[2][TUN_TMPL_MAX];
	uint32_t csum_base[2];
	uint8_t local[16], remote[16];	       /* network order, 4 or 16 bytes used */
	uint8_t key_local[16], key_remote[16]; /* as in nio_flow_key */
	bool has_dmac, has_smac;
	uint8_t inner_dmac[6], inner_smac[6];
	bool has_icmp4, has_icmp6;
	uint8_t icmp4[4], icmp6[16];
	/* the host's input-port address, for an inner family without icmp-src; NULL: none */
	int (*icmp_src)(const struct nio_pkt *p, uint8_t family, uint8_t *out);
	uint64_t icmp_interval_ns; /* GCRA: one ICMP error per interval, bursts of icmp_burst_ns */
	uint64_t icmp_burst_ns;
	uint64_t icmp_tat_ns;
	bool fragment; /* fragment inner IPv4 packets without DF that do not fit */
	const struct nio_host *host;
	/* fragments after the first, encapsulated, until dequeue() hands them on: written and
	 * read by the one worker running the instance, free-running indices */
	uint32_t fq_head, fq_tail;
	struct nio_pkt *fq[TUN_FQ_SIZE];
	uint64_t cnt[TUN_C_MAX];
};

/* The largest outer IP packet: `mtu`, else the output port's, read per packet because the
 * port opens after init (never less than the smallest room conf_outer accepts). */
static inline uint32_t tun_mtu(const struct tun *t)
{
	uint32_t m = t->mtu;

	if (!m)
		m = t->out_mtu && *t->out_mtu > 0 ? (uint32_t)*t->out_mtu : TUN_MTU_DEF;
	return m < t->overhead + 68u ? t->overhead + 68u : m;
}

/* Big-endian field access at any alignment (packet headers are not aligned). */
static inline uint16_t rd16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline void wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* nio_csum_partial() four bytes at a time: the folded sum of native-order words is the byte swap
 * of the big-endian one (RFC 1071 2.B), so the result adds to the other partial sums as is. */
static inline uint32_t tun_csum_partial(const uint8_t *b, uint32_t len, uint32_t sum)
{
	uint64_t acc = 0, acc2 = 0;
	uint32_t w[4];
	uint16_t h;

	for (; len >= 16; b += 16, len -= 16) { /* two chains: payload checksums over IPv6 */
		memcpy(w, b, 16);
		acc += (uint64_t)w[0] + w[1];
		acc2 += (uint64_t)w[2] + w[3];
	}
	for (acc += acc2; len >= 4; b += 4, len -= 4) {
		memcpy(w, b, 4);
		acc += w[0];
	}
	if (len >= 2) {
		memcpy(&h, b, 2);
		acc += h;
		b += 2;
		len -= 2;
	}
	if (len) {
		const uint8_t last[2] = { b[0], 0 };

		memcpy(&h, last, 2);
		acc += h;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	h = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	h = (uint16_t)(h << 8 | h >> 8);
#endif
	return sum + h;
}

/* Traffic class / TOS byte of an IPv4 or IPv6 header. */
static inline uint8_t ip_tos(const uint8_t *ip, bool v6)
{
	return v6 ? (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4) : ip[1];
}

/* Fill a flow key address: IPv4 as ::ffff:a.b.c.d. */
static inline void tun_key_addr(uint8_t out[16], const uint8_t *a, bool v6)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (v6) {
		memcpy(out, a, 16);
	} else {
		memcpy(out, v4mapped, 12);
		memcpy(out + 12, a, 4);
	}
}

/* Is this inner IP packet (len bytes) a packet of our own tunnel sent to addr? Tunnelling it
 * again, or delivering it after decap, would loop. */
static inline bool tun_is_own(const struct tun *t, const uint8_t *ip, uint32_t len, bool v6,
			      const uint8_t *addr)
{
	uint32_t hl = v6 ? IP6_HLEN : (ip[0] & 0x0fu) * 4;
	uint8_t proto = v6 ? ip[6] : ip[9];
	bool ours;

	switch (t->type) {
	case TUN_GRE:
		ours = proto == IPPROTO_GRE;
		break;
	case TUN_IPIP:
		ours = proto == IPPROTO_IPIP || proto == IPPROTO_IPV6;
		break;
	default:
		ours = proto == IPPROTO_UDP && len >= hl + 4 && rd16(ip + hl + 2) == t->port;
		break;
	}
	/* the protocol first: it rules out nearly every packet without touching the addresses */
	if (!ours || v6 != (t->family == 6))
		return false;
	return v6 ? memcmp(ip + 24, addr, 16) == 0 : memcmp(ip + 16, addr, 4) == 0;
}

extern const struct nio_service tunnel_service;

/* encap.c: returns the counter to bump (TUN_C_ENCAP, TUN_C_ICMP_* or a drop reason). */
int tunnel_encap(struct tun *t, struct nio_pkt *p);
/* decap.c: returns TUN_C_DECAP or a drop reason. */
int tunnel_decap(struct tun *t, struct nio_pkt *p);

#endif /* NETIO_TUNNEL_H */

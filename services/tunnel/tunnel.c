/* Tunnel service: VXLAN, GENEVE, GRE and IP-in-IP encapsulation and decapsulation, one end per pipeline. */

/*
 * Contract with netiod (what process() receives and leaves behind):
 *
 * In:  p->data is a full Ethernet frame, p->l3_off the offset of its IP header, p->flags says
 *      NIO_PKT_F_IPV4 or NIO_PKT_F_IPV6, p->hash the flow hash of the inner 5-tuple.
 *
 * encap: the inner IP packet (Ethernet padding trimmed) gets, in front of it,
 *          [outer Ethernet][outer IPv4|IPv6][UDP][VXLAN|GENEVE][inner Ethernet]  VXLAN, GENEVE
 *          [outer Ethernet][outer IPv4|IPv6][GRE (+key)]                         GRE
 *          [outer Ethernet][outer IPv4|IPv6]                                     IPIP, ip6ip6...
 *        written into the headroom (no copy of the payload, no allocation). The inner Ethernet
 *        header is the received one (optionally with inner-dst-mac / inner-src-mac), VLAN tags
 *        dropped. The outer Ethernet MACs are left zero: the daemon's L2 rewrite fills them in.
 *        Afterwards l3_off = 14 points at the outer IP header, flags/ip_proto/l4_off/key
 *        describe the outer packet (key.src = local, key.dst = remote) so the daemon routes
 *        and rewrites the outer packet. The daemon decremented the inner TTL / hop limit when
 *        the packet entered the pipeline (this gateway forwards the inner packet, RFC 2003
 *        3.1) and answered an expiring one; it leaves the outer header alone, whose TTL is
 *        exactly `ttl` (0: the inner one, as decremented), so `ttl = 1` reaches the peer. UDP source
 *        ports spread p->hash over [src-port-min, src-port-max]; an IPv6 outer header carries
 *        the hash as flow label (RFC 6438). The outer ECN field copies the inner one
 *        (RFC 6040 normal mode).
 *        Path MTU: when the outer packet would exceed `mtu` (default: the MTU of the pipeline's
 *        output port, host->out_mtu), an inner IPv4 packet with DF set or an inner IPv6 packet
 *        is answered with ICMP fragmentation-needed / ICMPv6 packet-too-big (next-hop MTU =
 *        mtu - overhead) whatever the outer family, built in place: the packet becomes the
 *        ICMP error, MACs swapped, p->out_port = p->in_port and NIO_PKT_F_L2DONE set, so it
 *        goes straight back out of the port it came from. Its source is icmp-src4/icmp-src6
 *        (default: `local` when of the inner family, else the input port's own address,
 *        host->icmp_src); errors are rate limited (icmp-rate per second, GCRA on p->ts_ns)
 *        and never sent about ICMP errors nor to a source that is not one host (RFC 1812
 *        4.3.2.7, RFC 4443 2.4(e)). An inner IPv4 packet
 *        without DF is fragmented (RFC 791; `fragment = no` drops it as too-big instead):
 *        p becomes the first fragment, encapsulated; the others are built in buffers from
 *        host->pkt_alloc, encapsulated the same way and handed out by dequeue(), which the
 *        worker calls in the same loop turn, so they continue with the next service. The
 *        peer reassembles (or its inner destination does), as after a Linux tunnel device.
 *
 * decap: the outer IP header at l3_off and the tunnel header are checked completely (lengths,
 *        IPv4 header checksum, UDP/GRE checksums when present, addresses: dst = local,
 *        src = remote, port, VNI/key, GENEVE version/options/OAM, no nesting of our own tunnel;
 *        one IPv6 destination options header, as Linux ip6gre/ip6tnl send by default, skipped)
 *        and stripped; the frame left is [Ethernet][inner IP], with the inner Ethernet header
 *        of VXLAN/GENEVE or, for GRE/IPIP, one made from the outer frame's MACs, l3_off = 14,
 *        flags/ip_proto/l4_off/dscp/key describing the inner packet so the daemon routes it on
 *        the inner destination. An outer CE mark is copied into an ECN-capable inner packet
 *        and drops a not-ECT one (RFC 6040). Failures are counted per reason and dropped.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <netio/csum.h>

#include "tunnel.h"

static const struct nio_opt tunnel_options[] = {
	{ .name = "type",
	  .type = NIO_OPT_ENUM,
	  .flags = NIO_OPT_F_REQUIRED,
	  .choices = "vxlan|geneve|gre|ipip",
	  .help = "encapsulation; IPv6 local/remote give the IPv6-outer variants (ip6gre, "
		  "ip6ip6)" },
	{ .name = "mode",
	  .type = NIO_OPT_ENUM,
	  .def = "encap",
	  .choices = "encap|decap",
	  .help = "add the outer headers, or check and strip them" },
	{ .name = "local",
	  .type = NIO_OPT_ADDR,
	  .flags = NIO_OPT_F_REQUIRED,
	  .help = "this end's tunnel address: outer source (encap), required outer destination "
		  "(decap)" },
	{ .name = "remote",
	  .type = NIO_OPT_ADDR,
	  .flags = NIO_OPT_F_REQUIRED,
	  .help = "the peer's tunnel address: outer destination (encap), required outer source "
		  "(decap)" },
	{ .name = "vni",
	  .type = NIO_OPT_INT,
	  .min = 0,
	  .max = 16777215,
	  .help = "VXLAN/GENEVE network identifier (required for them)" },
	{ .name = "key",
	  .type = NIO_OPT_INT,
	  .min = 0,
	  .max = 4294967295LL,
	  .help = "GRE key (RFC 2890); without it packets carry no key" },
	{ .name = "port",
	  .type = NIO_OPT_INT,
	  .min = 1,
	  .max = 65535,
	  .help = "UDP destination port (default 4789 for VXLAN, 6081 for GENEVE)" },
	{ .name = "src-port-min",
	  .type = NIO_OPT_INT,
	  .def = "49152",
	  .min = 1,
	  .max = 65535,
	  .help = "lowest UDP source port; the inner flow hash picks one in the range" },
	{ .name = "src-port-max", .type = NIO_OPT_INT, .def = "65535", .min = 1, .max = 65535 },
	{ .name = "udp-csum",
	  .type = NIO_OPT_BOOL,
	  .def = "false",
	  .help = "compute the UDP checksum over IPv4 (over IPv6 it is always computed)" },
	{ .name = "dscp",
	  .type = NIO_OPT_STR,
	  .def = "inherit",
	  .help = "outer DSCP: inherit or 0-63" },
	{ .name = "ttl",
	  .type = NIO_OPT_INT,
	  .def = "64",
	  .min = 0,
	  .max = 255,
	  .help = "outer TTL / hop limit; 0 inherits the inner one" },
	{ .name = "df",
	  .type = NIO_OPT_ENUM,
	  .def = "set",
	  .choices = "set|unset|inherit",
	  .help = "outer IPv4 don't-fragment bit" },
	{ .name = "mtu",
	  .type = NIO_OPT_INT,
	  .min = 576,
	  .max = 9216,
	  .help = "path MTU for the outer packet (default: the output port's MTU); bigger ones get "
		  "ICMP too-big or are fragmented" },
	{ .name = "fragment",
	  .type = NIO_OPT_BOOL,
	  .def = "true",
	  .help = "fragment inner IPv4 packets without DF that exceed the mtu (else drop them)" },
	{ .name = "inner-dst-mac",
	  .type = NIO_OPT_STR,
	  .help = "VXLAN/GENEVE: destination MAC of the inner frame (default: as received)" },
	{ .name = "inner-src-mac",
	  .type = NIO_OPT_STR,
	  .help = "VXLAN/GENEVE: source MAC of the inner frame (default: as received)" },
	{ .name = "icmp-src4",
	  .type = NIO_OPT_ADDR,
	  .help = "source of ICMP errors to IPv4 senders (default: local if IPv4)" },
	{ .name = "icmp-src6",
	  .type = NIO_OPT_ADDR,
	  .help = "source of ICMPv6 errors to IPv6 senders (default: local if IPv6)" },
	{ .name = "icmp-rate",
	  .type = NIO_OPT_INT,
	  .def = "100",
	  .min = 0,
	  .max = 1000000,
	  .help = "ICMP too-big errors per second (bursts of 10); 0 sends none" },
	{ .name = NULL },
};

static const char *const tunnel_counter_names[] = {
#define _(sym, str) str,
	foreach_tunnel_counter foreach_tunnel_error
#undef _
		NULL
};

static const char *const type_names[] = { "vxlan", "geneve", "gre", "ipip" };

/* An address of either family into out (4 or 16 bytes); returns 4, 6 or 0 when unparsable. */
static int parse_addr(const char *s, uint8_t out[16])
{
	if (s && inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (s && inet_pton(AF_INET6, s, out) == 1)
		return 6;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	int n = 0;

	if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx%n", &mac[0], &mac[1], &mac[2], &mac[3],
		   &mac[4], &mac[5], &n) != 6 ||
	    s[n] != '\0')
		return -1;
	return 0;
}

static int parse_type(const char *s)
{
	for (int i = 0; i < (int)(sizeof(type_names) / sizeof(type_names[0])); i++)
		if (strcmp(s, type_names[i]) == 0)
			return i;
	return -1;
}

#define fail(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return -1;                          \
	} while (0)

/* type, mode, addresses: what every tunnel needs. */
static int conf_endpoints(struct tun *t, const struct nio_host *h, const struct nio_conf *c,
			  char *err, size_t errlen)
{
	int type = parse_type(h->conf_str(c, "type"));
	int fl = parse_addr(h->conf_str(c, "local"), t->local);
	int fr = parse_addr(h->conf_str(c, "remote"), t->remote);

	if (type < 0)
		fail("unknown tunnel type '%s'", h->conf_str(c, "type"));
	if (!fl || !fr)
		fail("local and remote must be IP addresses");
	if (fl != fr)
		fail("local and remote must be of the same address family");
	t->type = (uint8_t)type;
	t->family = (uint8_t)fl;
	t->decap = strcmp(h->conf_str(c, "mode"), "decap") == 0;
	tun_key_addr(t->key_local, t->local, fl == 6);
	tun_key_addr(t->key_remote, t->remote, fl == 6);
	return 0;
}

/* vni / key / ports: which apply depends on the type. */
static int conf_ids(struct tun *t, const struct nio_host *h, const struct nio_conf *c, char *err,
		    size_t errlen)
{
	bool udp = t->type == TUN_VXLAN || t->type == TUN_GENEVE;
	long long lo = h->conf_int(c, "src-port-min"), hi = h->conf_int(c, "src-port-max");

	if (udp != (bool)h->conf_isset(c, "vni"))
		fail(udp ? "vni is required for %s" : "vni does not apply to %s",
		     type_names[t->type]);
	if (!udp && (h->conf_isset(c, "port") || h->conf_isset(c, "udp-csum")))
		fail("port and udp-csum do not apply to %s", type_names[t->type]);
	if (t->type != TUN_GRE && h->conf_isset(c, "key"))
		fail("key applies to gre only");
	if (lo > hi)
		fail("src-port-min is above src-port-max");
	t->vni = (uint32_t)h->conf_int(c, "vni");
	t->has_key = h->conf_isset(c, "key");
	t->key = (uint32_t)h->conf_int(c, "key");
	t->port = (uint16_t)(h->conf_isset(c, "port") ? h->conf_int(c, "port")
			     : t->type == TUN_VXLAN   ? 4789
						      : 6081);
	t->sport_min = (uint16_t)lo;
	t->sport_span = (uint32_t)(hi - lo + 1);
	t->udp_csum = h->conf_int(c, "udp-csum") || t->family == 6;
	return 0;
}

/* dscp / ttl / df / mtu: what the outer header looks like. */
static int conf_outer(struct tun *t, const struct nio_host *h, const struct nio_conf *c, char *err,
		      size_t errlen)
{
	const char *dscp = h->conf_str(c, "dscp"), *df = h->conf_str(c, "df");
	char *end;
	long v;

	t->dscp = -1;
	if (strcmp(dscp, "inherit") != 0) {
		v = strtol(dscp, &end, 10);
		if (end == dscp || *end || v < 0 || v > 63)
			fail("dscp must be 'inherit' or 0-63, not '%s'", dscp);
		t->dscp = (int16_t)v;
	}
	t->df = strcmp(df, "set") == 0	   ? TUN_DF_SET
		: strcmp(df, "unset") == 0 ? TUN_DF_UNSET
					   : TUN_DF_INHERIT;
	t->ttl = (uint8_t)h->conf_int(c, "ttl");
	t->mtu = (uint32_t)h->conf_int(c, "mtu");
	t->ip_hlen = t->family == 6 ? IP6_HLEN : IP4_HLEN;
	t->tun_hlen = t->type == TUN_VXLAN    ? UDP_HLEN + VXLAN_HLEN
		      : t->type == TUN_GENEVE ? UDP_HLEN + GENEVE_HLEN
		      : t->type == TUN_GRE    ? GRE_HLEN + (t->has_key ? 4 : 0)
					      : 0;
	t->eth_in = t->type == TUN_VXLAN || t->type == TUN_GENEVE ? ETH_HLEN : 0;
	t->overhead = (uint16_t)(t->ip_hlen + t->tun_hlen + t->eth_in);
	t->tmpl_len = (uint16_t)(ETH_HLEN + t->ip_hlen + t->tun_hlen);
	if (!t->mtu && NIO_HOST_HAS(h, out_mtu))
		t->out_mtu = h->out_mtu;
	if (t->mtu && t->family == 6 && t->mtu < 1280)
		fail("mtu %u is below the IPv6 minimum of 1280", t->mtu);
	if (t->mtu && t->mtu < t->overhead + 68u)
		fail("mtu %u leaves no room for an inner packet", t->mtu);
	return 0;
}

/* Inner MAC overrides and the ICMP error sources. */
static int conf_l2_icmp(struct tun *t, const struct nio_host *h, const struct nio_conf *c,
			char *err, size_t errlen)
{
	uint8_t a[16];
	long long rate = h->conf_int(c, "icmp-rate");

	t->has_dmac = h->conf_isset(c, "inner-dst-mac");
	t->has_smac = h->conf_isset(c, "inner-src-mac");
	if ((t->has_dmac || t->has_smac) && !t->eth_in)
		fail("inner MACs apply to vxlan and geneve only");
	if (t->has_dmac && parse_mac(h->conf_str(c, "inner-dst-mac"), t->inner_dmac) < 0)
		fail("inner-dst-mac is not a MAC address");
	if (t->has_smac && parse_mac(h->conf_str(c, "inner-src-mac"), t->inner_smac) < 0)
		fail("inner-src-mac is not a MAC address");
	if (h->conf_isset(c, "icmp-src4") && parse_addr(h->conf_str(c, "icmp-src4"), a) != 4)
		fail("icmp-src4 must be an IPv4 address");
	if (h->conf_isset(c, "icmp-src6") && parse_addr(h->conf_str(c, "icmp-src6"), a) != 6)
		fail("icmp-src6 must be an IPv6 address");
	t->has_icmp4 =
		rate > 0 && parse_addr(h->conf_isset(c, "icmp-src4") ? h->conf_str(c, "icmp-src4")
								     : h->conf_str(c, "local"),
				       a) == 4;
	if (t->has_icmp4)
		memcpy(t->icmp4, a, 4);
	t->has_icmp6 =
		rate > 0 && parse_addr(h->conf_isset(c, "icmp-src6") ? h->conf_str(c, "icmp-src6")
								     : h->conf_str(c, "local"),
				       a) == 6;
	if (t->has_icmp6)
		memcpy(t->icmp6, a, 16);
	t->fragment = h->conf_int(c, "fragment") && NIO_HOST_HAS(h, pkt_alloc) && h->pkt_alloc;
	if (rate > 0 && NIO_HOST_HAS(h, icmp_src))
		t->icmp_src = h->icmp_src;
	t->icmp_interval_ns = rate > 0 ? 1000000000ull / (uint64_t)rate : 0;
	t->icmp_burst_ns = 10 * t->icmp_interval_ns;
	return 0;
}

/* The UDP, GRE or no header after the outer IP header; inner_v6 picks the GRE protocol. */
static void build_tunnel_hdr(const struct tun *t, uint8_t *b, bool inner_v6)
{
	switch (t->type) {
	case TUN_VXLAN:
	case TUN_GENEVE:
		wr16(b + 2, t->port);
		b += UDP_HLEN;
		if (t->type == TUN_VXLAN)
			b[0] = VXLAN_F_VNI;
		else
			wr16(b + 2, ETH_P_TEB);
		wr32(b + 4, t->vni << 8);
		break;
	case TUN_GRE:
		b[0] = t->has_key ? 0x20 : 0; /* K bit (RFC 2890) */
		wr16(b + 2, inner_v6 ? ETH_P_IPV6 : ETH_P_IPV4);
		if (t->has_key)
			wr32(b + 4, t->key);
		break;
	default:
		break;
	}
}

static uint8_t outer_proto(const struct tun *t, bool inner_v6)
{
	switch (t->type) {
	case TUN_GRE:
		return IPPROTO_GRE;
	case TUN_IPIP:
		return inner_v6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	default:
		return IPPROTO_UDP;
	}
}

/* Outer headers with every per-packet field zero; see struct tun. */
static void build_template(struct tun *t, int fi)
{
	uint8_t *b = t->tmpl[fi], *ip = b + ETH_HLEN;

	wr16(b + 12, t->family == 6 ? ETH_P_IPV6 : ETH_P_IPV4);
	if (t->family == 6) {
		ip[0] = 0x60;
		ip[6] = outer_proto(t, fi);
		ip[7] = t->ttl;
		memcpy(ip + 8, t->local, 16);
		memcpy(ip + 24, t->remote, 16);
	} else {
		ip[0] = 0x45;
		wr16(ip + 6, t->df == TUN_DF_SET ? IP4_DF : 0);
		ip[8] = t->ttl;
		ip[9] = outer_proto(t, fi);
		memcpy(ip + 12, t->local, 4);
		memcpy(ip + 16, t->remote, 4);
		t->csum_base[fi] = nio_csum_partial(ip, IP4_HLEN, 0);
	}
	build_tunnel_hdr(t, ip + t->ip_hlen, fi);
}

static int tunnel_configure(struct tun *t, const struct nio_host *h, const struct nio_conf *c,
			    char *err, size_t errlen)
{
	if (conf_endpoints(t, h, c, err, errlen) < 0 || conf_ids(t, h, c, err, errlen) < 0 ||
	    conf_outer(t, h, c, err, errlen) < 0 || conf_l2_icmp(t, h, c, err, errlen) < 0)
		return -1;
	build_template(t, 0);
	build_template(t, 1);
	return 0;
}

static void *tunnel_init(const struct nio_host *host, const struct nio_conf *conf, char *err,
			 size_t errlen)
{
	struct tun *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->host = host;
	if (tunnel_configure(t, host, conf, err, errlen) < 0) {
		free(t);
		return NULL;
	}
	if (t->decap && NIO_HOST_HAS(host, endpoint) && host->endpoint)
		host->endpoint(host, t->key_local);
	return t;
}

/* Called with the worker paused: fragments not yet handed on go back to the pool. */
static void tunnel_fini(void *inst)
{
	struct tun *t = inst;

	while (t->fq_tail != t->fq_head)
		t->host->pkt_free(t->fq[t->fq_tail++ & (TUN_FQ_SIZE - 1)]);
	free(t);
}

static void tunnel_process(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts)
{
	struct tun *t = inst;
	int c;

	for (uint16_t i = 0; i < n; i++) {
		c = t->decap ? tunnel_decap(t, pkts[i]) : tunnel_encap(t, pkts[i]);
		t->cnt[c]++;
		verdicts[i] = c >= TUN_C_FIRST_DROP ? NIO_V_DROP : NIO_V_PASS;
		if (c >= TUN_C_FIRST_DROP)
			pkts[i]->drop_ctr = (uint16_t)(c + 1); /* for the packet tracer */
	}
}

/* The fragments encap queued: due now, every one. */
static uint16_t tunnel_dequeue(void *inst, uint64_t now_ns, struct nio_pkt **pkts, uint16_t max,
			       uint64_t *next_ns)
{
	struct tun *t = inst;
	uint16_t n = 0;

	while (n < max && t->fq_tail != t->fq_head)
		pkts[n++] = t->fq[t->fq_tail++ & (TUN_FQ_SIZE - 1)];
	*next_ns = t->fq_tail != t->fq_head ? (now_ns ? now_ns : 1) : 0;
	return n;
}

static const uint64_t *tunnel_counters(void *inst)
{
	return ((struct tun *)inst)->cnt;
}

static int tunnel_show(void *inst, char *buf, size_t len)
{
	const struct tun *t = inst;
	char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
	int af = t->family == 6 ? AF_INET6 : AF_INET;

	inet_ntop(af, t->local, l, sizeof(l));
	inet_ntop(af, t->remote, r, sizeof(r));
	/* mtu and fragment shape what encap sends; decap has no use for them */
	if (t->decap)
		return snprintf(buf, len, "%s decap %s -> %s vni %" PRIu32 " key %s",
				type_names[t->type], l, r, t->vni, t->has_key ? "yes" : "no");
	return snprintf(buf, len,
			"%s encap %s -> %s vni %" PRIu32 " key %s mtu %" PRIu32 " fragment %s",
			type_names[t->type], l, r, t->vni, t->has_key ? "yes" : "no", tun_mtu(t),
			t->fragment ? "yes" : "no");
}

const struct nio_service tunnel_service = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "tunnel",
	.version = "1.0",
	.description = "VXLAN, GENEVE, GRE and IP-in-IP tunnel end (IPv4 or IPv6 outer)",
	.options = tunnel_options,
	.counter_names = tunnel_counter_names,
	.init = tunnel_init,
	.fini = tunnel_fini,
	.process = tunnel_process,
	.dequeue = tunnel_dequeue,
	.counters = tunnel_counters,
	.show = tunnel_show,
};

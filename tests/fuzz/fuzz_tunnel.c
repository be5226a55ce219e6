/* libFuzzer target for the tunnel service: decap of any frame, and encap of any inner frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netio/csum.h>

#include "../../services/tunnel/tunnel.h"
#include "../unit/fake_host.h"

/*
 * Input: one selector byte, then the Ethernet frame. selector % NCFG picks the instance below;
 * bit 7 asks the harness to fix the outer IPv4 header checksum first, so mutations get past it
 * to the tunnel headers. Seeds in corpus/fuzz_tunnel/ were made from the unit-test vectors.
 */
#define OPT(n, v)          \
	{                  \
		n, v, NULL \
	}
#define END                      \
	{                        \
		NULL, NULL, NULL \
	}
static const struct fake_opt cfgs[][10] = {
	{ OPT("type", "vxlan"), OPT("mode", "decap"), OPT("local", "203.0.113.9"),
	  OPT("remote", "203.0.113.1"), OPT("vni", "42"), END },
	{ OPT("type", "vxlan"), OPT("mode", "decap"), OPT("local", "2001:db8:ffff::9"),
	  OPT("remote", "2001:db8:ffff::1"), OPT("vni", "42"), END },
	{ OPT("type", "geneve"), OPT("mode", "decap"), OPT("local", "203.0.113.1"),
	  OPT("remote", "203.0.113.9"), OPT("vni", "42"), END },
	{ OPT("type", "geneve"), OPT("mode", "decap"), OPT("local", "2001:db8:ffff::9"),
	  OPT("remote", "2001:db8:ffff::1"), OPT("vni", "42"), END },
	{ OPT("type", "gre"), OPT("mode", "decap"), OPT("local", "203.0.113.9"),
	  OPT("remote", "203.0.113.1"), OPT("key", "4660"), END },
	{ OPT("type", "gre"), OPT("mode", "decap"), OPT("local", "203.0.113.1"),
	  OPT("remote", "203.0.113.9"), OPT("key", "4660"), END },
	{ OPT("type", "gre"), OPT("mode", "decap"), OPT("local", "2001:db8:ffff::9"),
	  OPT("remote", "2001:db8:ffff::1"), END },
	{ OPT("type", "ipip"), OPT("mode", "decap"), OPT("local", "203.0.113.9"),
	  OPT("remote", "203.0.113.1"), END },
	{ OPT("type", "ipip"), OPT("mode", "decap"), OPT("local", "2001:db8:ffff::9"),
	  OPT("remote", "2001:db8:ffff::1"), END },
	{ OPT("type", "vxlan"), OPT("local", "203.0.113.1"), OPT("remote", "203.0.113.9"),
	  OPT("vni", "42"), OPT("mtu", "1400"), OPT("icmp-src6", "2001:db8:ffff::1"), END },
	{ OPT("type", "geneve"), OPT("local", "2001:db8:ffff::1"),
	  OPT("remote", "2001:db8:ffff::9"), OPT("vni", "42"),
	  OPT("inner-dst-mac", "02:00:00:00:00:09"), END },
	{ OPT("type", "gre"), OPT("local", "203.0.113.1"), OPT("remote", "203.0.113.9"),
	  OPT("key", "4660"), OPT("dscp", "46"), OPT("ttl", "0"), OPT("df", "inherit"), END },
	{ OPT("type", "ipip"), OPT("local", "2001:db8:ffff::1"), OPT("remote", "2001:db8:ffff::9"),
	  OPT("mtu", "1300"), OPT("icmp-src4", "192.0.2.1"), END },
	{ OPT("type", "ipip"), OPT("local", "203.0.113.1"), OPT("remote", "203.0.113.9"),
	  OPT("mtu", "576"), END }, /* fragments inner IPv4 packets over 556 bytes */
};
#define NCFG (sizeof(cfgs) / sizeof(cfgs[0]))

static void *insts[NCFG];

static void setup(void)
{
	static struct nio_conf conf[NCFG];
	char err[256];

	for (unsigned i = 0; i < NCFG; i++) {
		fake_conf(&conf[i], tunnel_service.options, cfgs[i]);
		insts[i] = tunnel_service.init(&fake_host, &conf[i], err, sizeof(err));
		if (!insts[i])
			abort();
	}
}

static void fix_outer4(uint8_t *f, size_t len)
{
	uint8_t *ip = f + ETH_HLEN;
	size_t hl;
	uint16_t c;

	if (len < ETH_HLEN + IP4_HLEN || rd16(f + 12) != ETH_P_IPV4)
		return;
	hl = (ip[0] & 0x0fu) * 4;
	if (hl < IP4_HLEN || ETH_HLEN + hl > len)
		return;
	wr16(ip + 10, 0);
	c = nio_csum(ip, hl);
	wr16(ip + 10, c);
}

/* The frame must stay inside the buffer whatever the service did to it. */
static void check_bounds(const struct nio_pkt *p)
{
	if (p->data < p->buf || p->data + p->len > p->buf + p->buf_size || p->l3_off > p->len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	struct nio_pkt p = { 0 }, *pp = &p;
	uint8_t *mem, verdict = 0xff;
	uint16_t et;

	if (!insts[0])
		setup();
	if (n < 1 || n - 1 > NIO_PKT_MAX_FRAME)
		return 0;
	/* exactly headroom + frame, so ASan sees any read past the end of the frame */
	mem = malloc(NIO_PKT_HEADROOM + n - 1);
	if (!mem)
		return 0;
	memcpy(mem + NIO_PKT_HEADROOM, in + 1, n - 1);
	p.buf = mem;
	p.buf_size = (uint32_t)(NIO_PKT_HEADROOM + n - 1);
	p.data = mem + NIO_PKT_HEADROOM;
	p.len = (uint32_t)(n - 1);
	if (in[0] & 0x80)
		fix_outer4(p.data, p.len);
	p.l3_off = p.len < ETH_HLEN ? (uint16_t)p.len : ETH_HLEN;
	et = p.len >= ETH_HLEN ? rd16(p.data + 12) : 0;
	if (et == 0x8100 && p.len >= ETH_HLEN + 4) {
		p.flags = NIO_PKT_F_VLAN;
		p.l3_off = ETH_HLEN + 4;
		et = rd16(p.data + 16);
	}
	p.flags |= et == ETH_P_IPV4 ? NIO_PKT_F_IPV4 : et == ETH_P_IPV6 ? NIO_PKT_F_IPV6 : 0;
	p.hash = 0x9e3779b9u;
	p.out_port = NIO_PORT_NONE;
	void *inst = insts[(in[0] & 0x7f) % NCFG];
	struct nio_pkt *frags[NIO_BURST_MAX];
	uint64_t next = 1;
	uint16_t nf;

	tunnel_service.process(inst, &pp, 1, &verdict);
	if (verdict != NIO_V_PASS && verdict != NIO_V_DROP)
		abort();
	check_bounds(&p);
	/* fragments of an over-mtu packet: each in bounds, and the queue drained every time */
	nf = tunnel_service.dequeue(inst, 1, frags, NIO_BURST_MAX, &next);
	if (next)
		abort();
	for (uint16_t i = 0; i < nf; i++) {
		check_bounds(frags[i]);
		fake_host.pkt_free(frags[i]);
	}
	free(mem);
	return 0;
}

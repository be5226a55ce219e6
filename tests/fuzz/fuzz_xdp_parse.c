/* Fuzz the afxdp port's XDP parser (netio_xdp_parse.h, compiled here as user space C) with
 * arbitrary bytes as a frame: no read past the frame (ASan), and wherever it and netiod's own
 * parser both take the frame they must see the same flow: a claim the program matches on other
 * addresses, protocol or ports than netiod classifies by would let a frame dodge its pipeline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../netiod/netiod.h"
#include "../../netiod/xdp/netio_xdp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ports_of(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE;
}

/* RFC 3948's rule on netiod's parse: UDP to 4500 whose payload is the keepalive or begins
 * with the non-ESP marker (the program tells these apart for the kernel) */
static uint8_t natt_not_esp(const struct nio_pkt *p)
{
	const uint8_t *u = p->data + p->l4_off;
	uint32_t ulen;

	if (!(p->flags & NIO_PKT_F_L4) || p->key.proto != IPPROTO_UDP || p->key.dport != 4500 ||
	    p->l4_off + 8u > p->len)
		return 0;
	ulen = (uint32_t)u[4] << 8 | u[5];
	if (ulen == 9 && p->l4_off + 9u <= p->len)
		return u[8] == 0xff;
	if (ulen >= 12 && p->l4_off + 12u <= p->len)
		return !(u[8] | u[9] | u[10] | u[11]);
	return 0;
}

/* The program's key against netiod's for a frame both parsed. */
static void compare(const struct nio_xdp_key *k, const struct nio_pkt *p)
{
	if (k->family != p->key.family || k->proto != p->key.proto ||
	    memcmp(k->src, p->key.src, 16) || memcmp(k->dst, p->key.dst, 16))
		__builtin_trap();
	if ((p->flags & NIO_PKT_F_L4) && ports_of(k->proto) &&
	    (k->sport != p->key.sport || k->dport != p->key.dport))
		__builtin_trap();
	if ((p->flags & NIO_PKT_F_FRAG) && (k->sport || k->dport))
		__builtin_trap();
	if (k->natt_not_esp != natt_not_esp(p))
		__builtin_trap();
}

/* A few claims of each shape, so the matcher runs on every key. */
static void claims(const struct nio_xdp_key *k)
{
	static const struct nio_xdp_claim c[] = {
		{ .family = 4,
		  .proto = IPPROTO_UDP,
		  .has_ports = 1,
		  .dport_lo = 53,
		  .dport_hi = 53 },
		{ .family = 6, .dst_host = 1, .sport_hi = 65535, .dport_lo = 1, .dport_hi = 1023 },
		{ .dst = { 0, 0, 0xffff0000u, 0x00640033u },
		  .dst_mask = { ~0u, ~0u, ~0u, 0xffffffu } },
		{ 0 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		(void)nio_xdp_claim_match(&c[i], k, (int)(i & 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[NIO_PKT_BUF_SIZE];
	struct nio_pkt p = { .buf = buf, .buf_size = sizeof(buf), .data = buf + NIO_PKT_HEADROOM };
	struct nio_xdp_conf conf = { 0 };
	struct nio_xdp_key k = { 0 };
	uint8_t *frame;
	int r;

	if (size > NIO_PKT_MAX_FRAME)
		return 0;
	/* the station's own MAC unless the size is odd: the program looks at frames to others too */
	if (size >= 6 && !(size & 1))
		memcpy(conf.mac, data, 6);
	/* a copy ending where the frame ends (a read past it is ASan's), 2 bytes in as a driver puts
	 * it (NET_IP_ALIGN): the IP header aligned, as the program's loads expect */
	frame = malloc(size + 2);
	if (!frame)
		return 0;
	memcpy(frame + 2, data, size);
	r = nio_xdp_parse(frame + 2, frame + 2 + size, &conf, &k);
	free(frame);
	if (r)
		return 0;
	if (k.family != 4 && k.family != 6)
		__builtin_trap();
	claims(&k);
	memcpy(p.data, data, size);
	p.len = (uint32_t)size;
	if (nio_parse(&p) == 0)
		compare(&k, &p);
	return 0;
}

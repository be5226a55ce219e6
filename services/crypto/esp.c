/* ESP tunnel mode (RFC 4303) framing: build and check headers and trailers around the AEAD. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netio/csum.h>

#include "crypto.h"

#define ETH_HLEN     14
#define IPPROTO_ESP_ 50
#define IPPROTO_UDP_ 17
#define NH_IPV4	     4
#define NH_IPV6	     41
#define NH_NONE	     59 /* RFC 4303 2.6: a dummy packet for traffic flow confidentiality */
#define ESP_OVERHEAD (CRYPTO_ESP_HLEN + CRYPTO_IV_LEN)
#define ESP_MIN_LEN  (ESP_OVERHEAD + 2 + CRYPTO_ICV_LEN) /* empty payload, no padding */

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void addr_from_v4(uint8_t out[16], const uint8_t *v4)
{
	memcpy(out, v4mapped, 12);
	memcpy(out + 12, v4, 4);
}

int crypto_addr_parse(const char *s, uint8_t out[16], uint8_t *family)
{
	uint8_t v4[4];

	if (inet_pton(AF_INET, s, v4) == 1) {
		addr_from_v4(out, v4);
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = 6;
		return 0;
	}
	return -1;
}

int crypto_prefix_parse(const char *s, struct crypto_prefix *p)
{
	char buf[64], *slash, *end;
	uint8_t family;
	unsigned long len;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (crypto_addr_parse(buf, p->addr, &family) < 0)
		return -1;
	len = family == 4 ? 32 : 128;
	if (slash) {
		len = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || len > (family == 4 ? 32u : 128u))
			return -1;
	}
	p->len = (uint8_t)(family == 4 ? 96 + len : len);
	return 0;
}

static bool prefix_has(const struct crypto_prefix *pf, const uint8_t addr[16])
{
	unsigned full = pf->len / 8, rest = pf->len % 8;

	if (memcmp(pf->addr, addr, full))
		return false;
	return !rest || !((pf->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest));
}

/* An empty list matches everything. */
bool crypto_prefix_match(const struct crypto_prefix *pf, unsigned n, const uint8_t addr[16])
{
	if (!n)
		return true;
	for (unsigned i = 0; i < n; i++)
		if (prefix_has(&pf[i], addr))
			return true;
	return false;
}

/* Length of the IP packet at ip from its own header, so Ethernet padding is left out. */
static int ip_len(const uint8_t *ip, uint32_t avail, uint32_t *len, uint8_t *family)
{
	if (avail >= 20 && ip[0] >> 4 == 4) {
		uint32_t ihl = (ip[0] & 0xfu) * 4u, tot = (uint32_t)ip[2] << 8 | ip[3];

		if (ihl < 20 || tot < ihl || tot > avail)
			return -1;
		*len = tot;
		*family = 4;
		return 0;
	}
	if (avail >= 40 && ip[0] >> 4 == 6) {
		uint32_t tot = 40u + ((uint32_t)ip[4] << 8 | ip[5]);

		if (tot > avail)
			return -1;
		*len = tot;
		*family = 6;
		return 0;
	}
	return -1;
}

static void ip_addrs(const uint8_t *ip, uint8_t family, uint8_t src[16], uint8_t dst[16])
{
	if (family == 4) {
		addr_from_v4(src, ip + 12);
		addr_from_v4(dst, ip + 16);
	} else {
		memcpy(src, ip + 8, 16);
		memcpy(dst, ip + 24, 16);
	}
}

static uint8_t ip_tos(const uint8_t *ip, uint8_t family)
{
	return family == 4 ? ip[1] : (uint8_t)((ip[0] & 0xf) << 4 | ip[1] >> 4);
}

/* Where p's ESP is: after the outer IP header, or after the UDP header of RFC 3948. */
struct esp_outer {
	uint32_t off, len; /* of the ESP packet, from data */
	uint16_t port;	   /* UDP: the destination port; 0: plain ESP */
	uint8_t dst[16];
};

enum { OUTER_NONE, OUTER_ESP, OUTER_BAD, OUTER_NOT_ESP };

/*
 * RFC 3948 2.2/2.3: in UDP, a non-zero first 4 bytes are the SPI of an ESP packet; 4 zero
 * bytes (the non-ESP marker: IKE) and the 1-byte 0xFF NAT keepalive are the kernel's.
 * Fragments need reassembly first, which netio does not do.
 */
static int outer_udp(const uint8_t *udp, uint32_t avail, bool frag, struct esp_outer *o)
{
	uint32_t ulen;

	if (avail < CRYPTO_UDP_HLEN)
		return OUTER_NONE; /* no port to tell whose it is */
	o->port = (uint16_t)(udp[2] << 8 | udp[3]);
	ulen = (uint32_t)udp[4] << 8 | udp[5];
	if (!o->port) /* no SA's (0 would read as plain ESP) */
		return OUTER_NONE;
	if (frag || ulen != avail)
		return OUTER_BAD;
	o->off += CRYPTO_UDP_HLEN;
	o->len = ulen - CRYPTO_UDP_HLEN;
	if ((o->len == 1 && udp[CRYPTO_UDP_HLEN] == 0xff) ||
	    (o->len >= 4 && !crypto_get32(udp + CRYPTO_UDP_HLEN)))
		return OUTER_NOT_ESP;
	return o->len < ESP_MIN_LEN ? OUTER_BAD : OUTER_ESP;
}

/* Is p ESP (IP protocol 50, or UDP) right after the IP header? What outer_udp says for UDP. */
static int outer_esp(const struct nio_pkt *p, struct esp_outer *o)
{
	const uint8_t *ip = nio_pkt_l3(p);
	uint32_t iplen, hl;
	uint8_t family, proto, src[16];
	bool frag, first;

	memset(o, 0, sizeof(*o));
	if (p->l3_off >= p->len || ip_len(ip, p->len - p->l3_off, &iplen, &family) < 0)
		return OUTER_NONE;
	proto = family == 4 ? ip[9] : ip[6];
	if (proto != IPPROTO_ESP_ && proto != IPPROTO_UDP_)
		return OUTER_NONE;
	ip_addrs(ip, family, src, o->dst);
	hl = family == 4 ? (ip[0] & 0xfu) * 4u : 40;
	frag = family == 4 && ((ip[6] & 0x3f) || ip[7]);
	first = family == 6 || !((ip[6] & 0x1f) || ip[7]);
	o->off = p->l3_off + hl;
	o->len = iplen - hl;
	if (proto == IPPROTO_UDP_)
		return first ? outer_udp(ip + hl, iplen - hl, frag, o) : OUTER_NONE;
	if (frag)
		return OUTER_BAD;
	return o->len < ESP_MIN_LEN ? OUTER_BAD : OUTER_ESP;
}

/* Does the SA take ESP that came this way (port 0: plain; else to that UDP port)? */
static bool sa_takes_port(const struct crypto_sa *sa, uint16_t port)
{
	return port ? sa->encap && crypto_sa_local_port(sa) == port : !sa->encap;
}

/*
 * The inbound SA of an ESP packet (SPI, our address, how it came). NULL with *ours set: sent
 * to one of our inbound addresses (and ports) but no SA takes it; *why says how it is
 * counted (no-sa; malformed; udp-not-esp: IKE or a keepalive, the kernel's).
 */
struct crypto_sa *crypto_sa_lookup_in(struct crypto_inst *ci, const struct nio_pkt *p, bool *ours,
				      enum crypto_counter *why)
{
	struct esp_outer o;
	int r = outer_esp(p, &o);
	uint32_t spi = r == OUTER_ESP ? crypto_get32(p->data + o.off) : 0;

	*ours = false;
	*why = r == OUTER_BAD	    ? CRYPTO_C_MALFORMED
	       : r == OUTER_NOT_ESP ? CRYPTO_C_UDP_NOT_ESP
				    : CRYPTO_C_NO_SA;
	if (r == OUTER_NONE)
		return NULL;
	for (unsigned i = 0; i < ci->nsas; i++) {
		struct crypto_sa *sa = ci->sas[i];

		if (sa->out || memcmp(sa->local, o.dst, 16) || !sa_takes_port(sa, o.port))
			continue;
		*ours = true;
		if (r == OUTER_ESP && sa->spi == spi)
			return sa;
	}
	/* kernel source: ESP (plain or on the NAT-T port) to our address is ours even before
	 * its first inbound SA */
	if (ci->ks && !memcmp(ci->ks->local, o.dst, 16) && (!o.port || o.port == CRYPTO_NATT_PORT))
		*ours = true;
	return NULL;
}

/* The first outbound SA whose inner selectors take the packet (kernel source: its policies). */
struct crypto_sa *crypto_sa_select_out(struct crypto_inst *ci, const struct nio_pkt *p)
{
	if (ci->kv)
		return crypto_ksrc_select_out(ci->kv, p);
	for (unsigned i = 0; i < ci->nsas; i++) {
		struct crypto_sa *sa = ci->sas[i];

		if (sa->out && crypto_prefix_match(sa->src, sa->nsrc, p->key.src) &&
		    crypto_prefix_match(sa->dst, sa->ndst, p->key.dst))
			return sa;
	}
	return NULL;
}

/* RFC 4303 2.2.1: the AAD carries seq-hi only with ESN, between SPI and seq-lo. */
void crypto_esp_aad(struct crypto_op *op, uint32_t spi, uint64_t seq, bool esn)
{
	crypto_put32(op->aad_buf, spi);
	if (esn) {
		crypto_put32(op->aad_buf + 4, (uint32_t)(seq >> 32));
		crypto_put32(op->aad_buf + 8, (uint32_t)seq);
		op->aad_len = 12;
	} else {
		crypto_put32(op->aad_buf + 4, (uint32_t)seq);
		op->aad_len = 8;
	}
	op->aad = op->aad_buf;
}

static void write_eth(uint8_t *eth, uint8_t family)
{
	/* placeholder MACs: the daemon's L2 rewrite sets the real ones after the route lookup */
	memset(eth, 0, 12);
	eth[12] = family == 4 ? 0x08 : 0x86;
	eth[13] = family == 4 ? 0x00 : 0xdd;
}

static uint8_t outer_proto(const struct crypto_sa *sa)
{
	return sa->encap ? IPPROTO_UDP_ : IPPROTO_ESP_;
}

static void write_outer4(uint8_t *ip, const struct crypto_sa *sa, uint32_t tot, uint8_t tos,
			 uint64_t seq)
{
	uint16_t c;

	ip[0] = 0x45;
	ip[1] = tos; /* DSCP and ECN copied from the inner header (RFC 4301 5.1.2, RFC 6040) */
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[4] = (uint8_t)(seq >> 8); /* unique enough per SA: the packets are not fragmented */
	ip[5] = (uint8_t)seq;
	ip[6] = 0;
	ip[7] = 0;
	ip[8] = 64;
	ip[9] = outer_proto(sa);
	ip[10] = 0;
	ip[11] = 0;
	memcpy(ip + 12, sa->local + 12, 4);
	memcpy(ip + 16, sa->remote + 12, 4);
	c = nio_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

static void write_outer6(uint8_t *ip, const struct crypto_sa *sa, uint32_t plen, uint8_t tos,
			 uint32_t flow_hash)
{
	uint32_t vtf = 6u << 28 | (uint32_t)tos << 20 | (flow_hash & 0xfffffu);

	crypto_put32(ip, vtf);
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	ip[6] = outer_proto(sa);
	ip[7] = 64;
	memcpy(ip + 8, sa->local, 16);
	memcpy(ip + 24, sa->remote, 16);
}

/* The largest inner packet whose outer one fits mtu: outer header, ESP header and IV, the
 * inner packet padded with its pad length and next header to a multiple of 4, the ICV. */
uint32_t crypto_esp_inner_mtu(uint32_t mtu, uint8_t outer_family)
{
	uint32_t fixed = (outer_family == 4 ? 20u : 40u) + ESP_OVERHEAD + CRYPTO_ICV_LEN;

	return mtu > fixed + 4 ? (mtu - fixed) / 4 * 4 - 2 : 0;
}

uint32_t crypto_sa_mtu(const struct crypto_sa *sa)
{
	uint32_t m = sa->mtu;

	if (!m)
		m = sa->out_mtu && *sa->out_mtu > 0 ? (uint32_t)*sa->out_mtu : 1500u;
	return m < 576u ? 576u : m;
}

uint32_t crypto_sa_inner_mtu(const struct crypto_sa *sa)
{
	return crypto_esp_inner_mtu(crypto_sa_mtu(sa) - (sa->encap ? CRYPTO_UDP_HLEN : 0),
				    sa->family);
}

/* RFC 3948 2.1: the UDP header in front of the ESP header; checksum 0 (IPv4: none) */
static void write_udp(uint8_t *udp, const struct crypto_sa *sa, uint32_t len)
{
	uint32_t ports = atomic_load_explicit(&sa->encap_ports, memory_order_relaxed);

	crypto_put32(udp, ports);
	udp[4] = (uint8_t)(len >> 8);
	udp[5] = (uint8_t)len;
	udp[6] = 0;
	udp[7] = 0;
}

/* An inner packet too big for the SA's path: the sender's error (PASS) or a drop. */
static int too_big(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p)
{
	const struct nio_host *h = ci->host;

	if (NIO_HOST_HAS(h, icmp_too_big) && h->icmp_too_big &&
	    h->icmp_too_big(p, crypto_sa_inner_mtu(sa)) == 0) {
		crypto_count(ci, sa, CRYPTO_C_ICMP_TOO_BIG, 1);
		return CRYPTO_PREP_PASS;
	}
	crypto_count_drop(ci, sa, p, CRYPTO_C_TOO_BIG);
	return CRYPTO_PREP_DROP;
}

/* Does the buffer have room for the outer headers in front and the trailer behind? */
static bool encap_fits(const struct nio_pkt *p, uint32_t hdr, uint32_t ilen, uint32_t trailer)
{
	uint32_t front = nio_pkt_headroom(p) + p->l3_off;

	return front >= hdr && p->buf_size - front - ilen >= trailer &&
	       hdr + ilen + trailer <= NIO_PKT_MAX_FRAME;
}

static void encap_meta(struct nio_pkt *p, const struct crypto_sa *sa, uint32_t ohl)
{
	uint32_t ports = sa->encap ? crypto_get32(p->data + ETH_HLEN + ohl) : 0;

	p->l3_off = ETH_HLEN;
	p->l4_off = (uint16_t)(ETH_HLEN + ohl);
	p->flags = sa->family == 4 ? NIO_PKT_F_IPV4 : NIO_PKT_F_IPV6;
	if (sa->encap)
		p->flags |= NIO_PKT_F_L4;
	p->ip_proto = outer_proto(sa);
	memcpy(p->key.src, sa->local, 16);
	memcpy(p->key.dst, sa->remote, 16);
	p->key.family = sa->family;
	p->key.proto = outer_proto(sa);
	p->key.sport = (uint16_t)(ports >> 16);
	p->key.dport = (uint16_t)ports;
}

static uint64_t next_seq(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p)
{
	bool took_spare;
	uint64_t seq = crypto_seq_next(&sa->seq, &took_spare);

	if (took_spare)
		sem_post(&ci->wake);
	if (!seq)
		crypto_count_drop(ci, sa, p,
				  atomic_load_explicit(&sa->seq.exhausted, memory_order_relaxed)
					  ? CRYPTO_C_SEQ_OVERFLOW
					  : CRYPTO_C_SEQ_STALL);
	return seq;
}

/*
 * Lay out the ESP packet around the inner IP packet and describe the encryption:
 *   [Eth | outer IP | (UDP) | SPI seq | IV=seq | inner IP | pad 1..n | padlen | nh | ICV]
 * The IV is the 64-bit sequence number, unique per key thanks to seq.c. The UDP header
 * (RFC 3948) is there for an SA the kernel has with UDP encapsulation.
 */
int crypto_esp_encap_prep(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p,
			  struct crypto_op *op, struct crypto_pctx *pc)
{
	uint8_t *inner = nio_pkt_l3(p), *t, *esp;
	uint32_t ilen, pad, ohl = sa->family == 4 ? 20 : 40, hdr, trailer;
	uint32_t udp = sa->encap ? CRYPTO_UDP_HLEN : 0;
	uint8_t ifam, tos;
	uint64_t seq;

	if (crypto_ksa_spent(sa)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_LIFETIME);
		return CRYPTO_PREP_DROP;
	}
	if (p->l3_off >= p->len || ip_len(inner, p->len - p->l3_off, &ilen, &ifam) < 0) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_MALFORMED);
		return CRYPTO_PREP_DROP;
	}
	if (ilen > crypto_sa_inner_mtu(sa))
		return too_big(ci, sa, p);
	pad = (4 - (ilen + 2) % 4) % 4;
	hdr = ETH_HLEN + ohl + udp + ESP_OVERHEAD;
	trailer = pad + 2 + CRYPTO_ICV_LEN;
	if (!encap_fits(p, hdr, ilen, trailer)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_NO_ROOM);
		return CRYPTO_PREP_DROP;
	}
	seq = next_seq(ci, sa, p);
	if (!seq)
		return CRYPTO_PREP_DROP;
	tos = ip_tos(inner, ifam);
	nio_pkt_trim(p, p->l3_off + ilen);
	t = nio_pkt_put(p, trailer);
	for (uint32_t i = 0; i < pad; i++)
		t[i] = (uint8_t)(i + 1); /* RFC 4303 2.4: monotonic padding bytes */
	t[pad] = (uint8_t)pad;
	t[pad + 1] = ifam == 4 ? NH_IPV4 : NH_IPV6;
	nio_pkt_pull(p, p->l3_off);
	nio_pkt_push(p, hdr);

	write_eth(p->data, sa->family);
	if (sa->family == 4)
		write_outer4(p->data + ETH_HLEN, sa, ohl + udp + ESP_OVERHEAD + ilen + trailer, tos,
			     seq);
	else
		write_outer6(p->data + ETH_HLEN, sa, udp + ESP_OVERHEAD + ilen + trailer, tos,
			     p->hash);
	if (udp)
		write_udp(p->data + ETH_HLEN + ohl, sa, udp + ESP_OVERHEAD + ilen + trailer);
	esp = p->data + ETH_HLEN + ohl + udp;
	crypto_put32(esp, sa->spi);
	crypto_put32(esp + 4, (uint32_t)seq);
	crypto_put32(esp + 8, (uint32_t)(seq >> 32));
	crypto_put32(esp + 12, (uint32_t)seq);

	op->key = sa->key;
	op->encrypt = true;
	memcpy(op->nonce, sa->salt, CRYPTO_SALT_LEN);
	memcpy(op->nonce + CRYPTO_SALT_LEN, esp + CRYPTO_ESP_HLEN, CRYPTO_IV_LEN);
	crypto_esp_aad(op, sa->spi, seq, sa->esn);
	op->data = esp + ESP_OVERHEAD;
	op->len = ilen + pad + 2;
	op->icv = op->data + op->len;
	encap_meta(p, sa, ohl);
	pc->sa = sa;
	pc->seq = seq;
	pc->inner_len = ilen;
	return CRYPTO_PREP_OP;
}

static enum crypto_counter replay_counter(enum crypto_replay_result r)
{
	return r == CRYPTO_REPLAY_DUP ? CRYPTO_C_REPLAY_DUP : CRYPTO_C_REPLAY_OLD;
}

/* Header checks and the duplicate check, all before any cryptography (RFC 4303 3.4.3). */
int crypto_esp_decap_prep(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p,
			  struct crypto_op *op, struct crypto_pctx *pc)
{
	struct esp_outer o;
	uint32_t seq_lo;
	uint8_t *esp;
	uint64_t seq;
	enum crypto_replay_result r;

	if (outer_esp(p, &o) != OUTER_ESP || !sa_takes_port(sa, o.port)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_MALFORMED);
		return CRYPTO_PREP_DROP;
	}
	if (crypto_ksa_spent(sa)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_LIFETIME);
		return CRYPTO_PREP_DROP;
	}
	esp = p->data + o.off;
	seq_lo = crypto_get32(esp + 4);
	seq = crypto_replay_infer(&sa->replay, seq_lo, sa->esn);
	/* the first packet is number 1; with ESN only the full 64-bit 0 is (seq-lo 0 follows a wrap) */
	if (!seq && !seq_lo) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_SEQ_ZERO);
		return CRYPTO_PREP_DROP;
	}
	r = crypto_replay_check(&sa->replay, seq);
	if (r != CRYPTO_REPLAY_OK) {
		crypto_count_drop(ci, sa, p, replay_counter(r));
		return CRYPTO_PREP_DROP;
	}
	op->key = sa->key;
	op->encrypt = false;
	memcpy(op->nonce, sa->salt, CRYPTO_SALT_LEN);
	memcpy(op->nonce + CRYPTO_SALT_LEN, esp + CRYPTO_ESP_HLEN, CRYPTO_IV_LEN);
	crypto_esp_aad(op, sa->spi, seq, sa->esn);
	op->data = esp + ESP_OVERHEAD;
	op->len = o.len - ESP_OVERHEAD - CRYPTO_ICV_LEN;
	op->icv = op->data + op->len;
	pc->sa = sa;
	pc->seq = seq;
	pc->resync = crypto_resync_arm(&sa->resync, op);
	return CRYPTO_PREP_OP;
}

/* The ICV verdict, with a second chance under higher seq-hi when the SA is out of sync. */
static bool icv_verified(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p,
			 struct crypto_op *op, struct crypto_pctx *pc)
{
	uint64_t seq = 0;

	if (!op->ok && pc->resync)
		seq = crypto_resync_try(&sa->resync, &ci->engine, sa->spi, &sa->replay, op,
					pc->seq);
	crypto_resync_note(&sa->resync, pc->resync, op->ok);
	if (!op->ok) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_AUTH_FAIL);
		return false;
	}
	if (seq) {
		pc->seq = seq;
		crypto_count(ci, sa, CRYPTO_C_ESN_RESYNC, 1);
	}
	return true;
}

/* Self-describing padding (RFC 4303 2.4): the bytes are 1, 2, 3... */
static int check_trailer(const uint8_t *pt, uint32_t len, uint32_t *payload, uint8_t *nh)
{
	uint32_t padlen = pt[len - 2];

	if (padlen + 2 > len)
		return -1;
	for (uint32_t i = 0; i < padlen; i++)
		if (pt[len - 2 - padlen + i] != (uint8_t)(i + 1))
			return -1;
	*payload = len - 2 - padlen;
	*nh = pt[len - 1];
	return 0;
}

static void inner_ports(struct nio_pkt *p, const uint8_t *ip, uint32_t hl, uint32_t len)
{
	const uint8_t *l4 = ip + hl;
	bool frag = p->key.family == 4 && ((ip[6] & 0x3f) || ip[7]);

	p->key.sport = 0;
	p->key.dport = 0;
	p->l4_off = (uint16_t)(ETH_HLEN + hl);
	if (frag || (p->ip_proto != 6 && p->ip_proto != 17) || len < hl + 4)
		return;
	p->key.sport = (uint16_t)(l4[0] << 8 | l4[1]);
	p->key.dport = (uint16_t)(l4[2] << 8 | l4[3]);
	p->flags |= NIO_PKT_F_L4;
}

/* Turn the frame into [placeholder Eth | inner IP packet] and describe it for routing. */
static void decap_frame(struct nio_pkt *p, uint8_t *inner, uint32_t ilen, uint8_t family)
{
	uint32_t hl = family == 4 ? (inner[0] & 0xfu) * 4u : 40;

	nio_pkt_pull(p, (uint32_t)(inner - ETH_HLEN - p->data));
	nio_pkt_trim(p, ETH_HLEN + ilen);
	write_eth(p->data, family);
	p->l3_off = ETH_HLEN;
	p->flags = family == 4 ? NIO_PKT_F_IPV4 : NIO_PKT_F_IPV6;
	p->ip_proto = family == 4 ? inner[9] : inner[6];
	p->dscp = ip_tos(inner, family) >> 2;
	ip_addrs(inner, family, p->key.src, p->key.dst);
	p->key.family = family;
	p->key.proto = p->ip_proto;
	inner_ports(p, inner, hl, ilen);
}

/* After the AEAD: ICV verdict, window update, trailer and inner packet checks, policy. */
int crypto_esp_decap_finish(struct crypto_inst *ci, struct nio_pkt *p, struct crypto_op *op,
			    struct crypto_pctx *pc)
{
	struct crypto_sa *sa = pc->sa;
	enum crypto_replay_result r;
	uint32_t payload, ilen;
	uint8_t nh, family, src[16], dst[16];

	if (!icv_verified(ci, sa, p, op, pc))
		return -1;
	r = crypto_replay_advance(&sa->replay, pc->seq);
	if (r != CRYPTO_REPLAY_OK) {
		crypto_count_drop(ci, sa, p, replay_counter(r));
		return -1;
	}
	if (check_trailer(op->data, op->len, &payload, &nh) < 0) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_BAD_PAD);
		return -1;
	}
	if (nh == NH_NONE) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_DUMMY);
		return -1;
	}
	if (nh != NH_IPV4 && nh != NH_IPV6) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_BAD_NH);
		return -1;
	}
	/* TFC padding may follow the inner packet: its own length field decides */
	if (ip_len(op->data, payload, &ilen, &family) < 0 || (family == 4) != (nh == NH_IPV4)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_BAD_INNER);
		return -1;
	}
	ip_addrs(op->data, family, src, dst);
	if (!crypto_prefix_match(sa->src, sa->nsrc, src) ||
	    !crypto_prefix_match(sa->dst, sa->ndst, dst)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_POLICY);
		return -1;
	}
	decap_frame(p, op->data, ilen, family);
	/* a kernel SA's inner packet needs an in/fwd policy of its reqid (ports included) */
	if (sa->kernel && !crypto_ksrc_in_allowed(ci->kv, sa, &p->key)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_POLICY);
		return -1;
	}
	crypto_count(ci, sa, CRYPTO_C_DEC_PACKETS, 1);
	crypto_count(ci, sa, CRYPTO_C_DEC_BYTES, ilen);
	return 0;
}

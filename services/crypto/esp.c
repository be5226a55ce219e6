/* ESP tunnel mode (RFC 4303) framing: build and check headers and trailers around the AEAD. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netio/csum.h>

#include "crypto.h"

#define ETH_HLEN     14
#define IPPROTO_ESP_ 50
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

/*
 * Is p an ESP packet (outer IP protocol 50 right after the IP header)? 1 yes, with the ESP
 * offset and length from data, 0 no, -1 ESP but unusable (fragment, too short).
 */
static int outer_esp(const struct nio_pkt *p, uint32_t *off, uint32_t *len, uint8_t dst[16])
{
	const uint8_t *ip = nio_pkt_l3(p);
	uint32_t iplen, hl;
	uint8_t family, src[16];

	if (p->l3_off >= p->len || ip_len(ip, p->len - p->l3_off, &iplen, &family) < 0)
		return 0;
	if ((family == 4 ? ip[9] : ip[6]) != IPPROTO_ESP_)
		return 0;
	ip_addrs(ip, family, src, dst);
	hl = family == 4 ? (ip[0] & 0xfu) * 4u : 40;
	/* fragments of ESP need reassembly first; netio does not do that */
	if (family == 4 && ((ip[6] & 0x3f) || ip[7]))
		return -1;
	*off = p->l3_off + hl;
	*len = iplen - hl;
	return *len < ESP_MIN_LEN ? -1 : 1;
}

/*
 * The inbound SA of an ESP packet (SPI and our address). NULL with *ours set: ESP sent to one
 * of our inbound addresses that no SA takes (*malformed: or that is not even well-formed).
 */
struct crypto_sa *crypto_sa_lookup_in(struct crypto_inst *ci, const struct nio_pkt *p, bool *ours,
				      bool *malformed)
{
	uint32_t off = 0, len = 0, spi;
	uint8_t dst[16];
	int r = outer_esp(p, &off, &len, dst);

	*ours = false;
	*malformed = r < 0;
	if (r == 0)
		return NULL;
	spi = r > 0 ? crypto_get32(p->data + off) : 0;
	for (unsigned i = 0; i < ci->nsas; i++) {
		struct crypto_sa *sa = ci->sas[i];

		if (sa->out || memcmp(sa->local, dst, 16))
			continue;
		*ours = true;
		if (r > 0 && sa->spi == spi)
			return sa;
	}
	/* kernel source: ESP to our address is ours even before its first inbound SA */
	if (ci->ks && !memcmp(ci->ks->local, dst, 16))
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
	ip[9] = IPPROTO_ESP_;
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
	ip[6] = IPPROTO_ESP_;
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

/* An inner packet too big for the SA's path: the sender's error (PASS) or a drop. */
static int too_big(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p)
{
	const struct nio_host *h = ci->host;

	if (NIO_HOST_HAS(h, icmp_too_big) && h->icmp_too_big &&
	    h->icmp_too_big(p, crypto_esp_inner_mtu(crypto_sa_mtu(sa), sa->family)) == 0) {
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
	p->l3_off = ETH_HLEN;
	p->l4_off = (uint16_t)(ETH_HLEN + ohl);
	p->flags = sa->family == 4 ? NIO_PKT_F_IPV4 : NIO_PKT_F_IPV6;
	p->ip_proto = IPPROTO_ESP_;
	memcpy(p->key.src, sa->local, 16);
	memcpy(p->key.dst, sa->remote, 16);
	p->key.family = sa->family;
	p->key.proto = IPPROTO_ESP_;
	p->key.sport = 0;
	p->key.dport = 0;
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
 *   [Eth | outer IP | SPI seq | IV=seq | inner IP | pad 1..n | padlen | nh | ICV]
 * The IV is the 64-bit sequence number, unique per key thanks to seq.c.
 */
int crypto_esp_encap_prep(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p,
			  struct crypto_op *op, struct crypto_pctx *pc)
{
	uint8_t *inner = nio_pkt_l3(p), *t, *esp;
	uint32_t ilen, pad, ohl = sa->family == 4 ? 20 : 40, hdr, trailer;
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
	if (ilen > crypto_esp_inner_mtu(crypto_sa_mtu(sa), sa->family))
		return too_big(ci, sa, p);
	pad = (4 - (ilen + 2) % 4) % 4;
	hdr = ETH_HLEN + ohl + ESP_OVERHEAD;
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
		write_outer4(p->data + ETH_HLEN, sa, ohl + ESP_OVERHEAD + ilen + trailer, tos, seq);
	else
		write_outer6(p->data + ETH_HLEN, sa, ESP_OVERHEAD + ilen + trailer, tos, p->hash);
	esp = p->data + ETH_HLEN + ohl;
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
	uint32_t off, len, seq_lo;
	uint8_t dst[16], *esp;
	uint64_t seq;
	enum crypto_replay_result r;

	if (outer_esp(p, &off, &len, dst) != 1) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_MALFORMED);
		return CRYPTO_PREP_DROP;
	}
	if (crypto_ksa_spent(sa)) {
		crypto_count_drop(ci, sa, p, CRYPTO_C_LIFETIME);
		return CRYPTO_PREP_DROP;
	}
	esp = p->data + off;
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
	op->len = len - ESP_OVERHEAD - CRYPTO_ICV_LEN;
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

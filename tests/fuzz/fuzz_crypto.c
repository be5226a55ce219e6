/* libFuzzer target for the crypto service: ESP (plain and in UDP) decap on raw frames, on authentic plaintexts, and encap round trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/crypto/crypto.h"

extern const struct nio_service crypto_service;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * One instance, built by hand (no key files, no state directory), with:
 *   sas[0] in  SPI 0x1001 aes128-gcm        203.0.113.9 <- 203.0.113.1, window 64
 *   sas[1] in  SPI 0x1002 chacha20-poly1305 2001:db8:2::1 <- 2001:db8:1::1, ESN, inner-src
 *   sas[2] out SPI 0x1003 aes256-gcm        203.0.113.1 -> 203.0.113.77
 *   sas[3] in  SPI 0x1003 aes256-gcm        203.0.113.77 <- 203.0.113.1 (sas[2]'s peer)
 *   sas[4] in  SPI 0x1004 aes128-gcm        203.0.113.9 <- 203.0.113.1, in UDP 4500 -> 4500
 * Encryption contexts for sas[0], sas[1] (and sas[4], keyed as sas[0]) let inputs reach the
 * checks behind the ICV. The round trip runs sas[2]/sas[3] plain or, for a while, in UDP.
 */
static struct crypto_inst *ci;
static void *enc_key[2];
/* no callbacks: an inner packet too big for the SA's path is dropped (too-big-drops) */
static const struct nio_host host = { .abi_version = NIO_SERVICE_ABI_VERSION,
				      .size = sizeof(struct nio_host) };

static const uint8_t key32[32] = { 0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
				   0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
				   0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4 };

static struct crypto_sa *sa_new(uint32_t spi, bool out, enum crypto_cipher c, const char *local,
				const char *remote, bool esn)
{
	struct crypto_sa *sa = calloc(1, sizeof(*sa));

	if (!sa)
		abort();
	sa->spi = spi;
	sa->out = out;
	sa->esn = esn;
	sa->cipher = c;
	memcpy(sa->salt, "\x11\x22\x33\x44", 4);
	if (crypto_addr_parse(local, sa->local, &sa->family) < 0 ||
	    crypto_addr_parse(remote, sa->remote, &sa->family) < 0)
		abort();
	sa->key = ci->engine.ops->key_new(ci->engine.priv, c, key32, out);
	if (out) {
		sa->seq.next = 1;
		sa->seq.end = 1ull << 62; /* never asks the (absent) reserver */
		sa->seq.limit = UINT64_MAX - 1;
	} else if (crypto_replay_init(&sa->replay, 64) < 0 ||
		   crypto_resync_init(&sa->resync, esn) < 0) {
		abort();
	}
	ci->sas[ci->nsas++] = sa;
	return sa;
}

static void udp_encap(struct crypto_sa *sa, bool on)
{
	sa->encap = on;
	atomic_store(&sa->encap_ports, (uint32_t)CRYPTO_NATT_PORT << 16 | CRYPTO_NATT_PORT);
}

static void setup(void)
{
	char err[128];
	struct crypto_sa *sa;

	ci = calloc(1, sizeof(*ci));
	if (ci)
		ci->host = &host;
	if (!ci || sem_init(&ci->wake, 0, 0) < 0 ||
	    crypto_engine_open(&ci->engine, "openssl", err, sizeof(err)) < 0)
		abort();
	sa_new(0x1001, false, CRYPTO_AES128_GCM, "203.0.113.9", "203.0.113.1", false);
	sa = sa_new(0x1002, false, CRYPTO_CHACHA20_POLY1305, "2001:db8:2::1", "2001:db8:1::1",
		    true);
	sa->nsrc = 1;
	if (crypto_prefix_parse("198.51.100.0/24", &sa->src[0]) < 0)
		abort();
	sa_new(0x1003, true, CRYPTO_AES256_GCM, "203.0.113.1", "203.0.113.77", false);
	sa_new(0x1003, false, CRYPTO_AES256_GCM, "203.0.113.77", "203.0.113.1", false);
	sa = sa_new(0x1004, false, CRYPTO_AES128_GCM, "203.0.113.9", "203.0.113.1", false);
	udp_encap(sa, true);
	enc_key[0] = ci->engine.ops->key_new(ci->engine.priv, CRYPTO_AES128_GCM, key32, true);
	enc_key[1] =
		ci->engine.ops->key_new(ci->engine.priv, CRYPTO_CHACHA20_POLY1305, key32, true);
}

struct fpkt {
	struct nio_pkt p;
	uint8_t buf[NIO_PKT_BUF_SIZE];
};

static void pkt_set(struct fpkt *f, const uint8_t *frame, size_t len)
{
	memset(&f->p, 0, sizeof(f->p));
	f->p.buf = f->buf;
	f->p.buf_size = NIO_PKT_BUF_SIZE;
	f->p.data = f->buf + NIO_PKT_HEADROOM;
	f->p.len = (uint32_t)len;
	f->p.l3_off = 14;
	memcpy(f->p.data, frame, len);
	f->p.flags = len > 14 && frame[14] >> 4 == 6 ? NIO_PKT_F_IPV6 : NIO_PKT_F_IPV4;
}

static uint8_t run(struct fpkt *f)
{
	struct nio_pkt *p = &f->p;
	uint8_t v = 0xff;

	crypto_service.process(ci, &p, 1, &v);
	if (v != NIO_V_PASS && v != NIO_V_DROP)
		abort();
	if (v == NIO_V_PASS && (p->data < p->buf || p->len > NIO_PKT_MAX_FRAME ||
				p->data + p->len > p->buf + p->buf_size || p->l3_off != 14))
		abort();
	return v;
}

/* ESP around an authentic plaintext (trailer included) for sas[0] (IPv4), sas[1] (IPv6), or
 * in UDP for sas[4] (which 2: IPv4, sas[0]'s key). */
static void authentic(struct fpkt *f, unsigned which, uint32_t seq, const uint8_t *pt, size_t len)
{
	const struct crypto_sa *sa = ci->sas[which == 2 ? 4 : which];
	uint32_t udp = which == 2 ? 8 : 0;
	uint32_t ohl = which == 1 ? 40 : 20, iplen = ohl + udp + 16 + (uint32_t)len + 16;
	uint8_t *ip, *esp;
	struct crypto_op op = { 0 };

	pkt_set(f, (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\x08\0", 14);
	f->p.len = 14 + iplen;
	ip = f->p.data + 14;
	memset(ip, 0, ohl);
	if (which == 1) {
		f->p.data[12] = 0x86, f->p.data[13] = 0xdd;
		ip[0] = 0x60;
		ip[4] = (uint8_t)((iplen - 40) >> 8), ip[5] = (uint8_t)(iplen - 40);
		ip[6] = 50;
		ip[7] = 64;
		memcpy(ip + 8, sa->remote, 16);
		memcpy(ip + 24, sa->local, 16);
		f->p.flags = NIO_PKT_F_IPV6;
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen;
		ip[8] = 64;
		ip[9] = udp ? 17 : 50;
		memcpy(ip + 12, sa->remote + 12, 4);
		memcpy(ip + 16, sa->local + 12, 4);
	}
	if (udp) { /* RFC 3948: 4500 -> 4500, its length, checksum 0 */
		crypto_put32(ip + ohl, (uint32_t)CRYPTO_NATT_PORT << 16 | CRYPTO_NATT_PORT);
		ip[ohl + 4] = (uint8_t)((iplen - ohl) >> 8), ip[ohl + 5] = (uint8_t)(iplen - ohl);
	}
	esp = ip + ohl + udp;
	crypto_put32(esp, sa->spi);
	crypto_put32(esp + 4, seq);
	crypto_put32(esp + 8, 0);
	crypto_put32(esp + 12, seq);
	memcpy(esp + 16, pt, len);
	op.key = enc_key[which == 1];
	op.encrypt = true;
	memcpy(op.nonce, sa->salt, 4);
	memcpy(op.nonce + 4, esp + 8, 8);
	crypto_put32(op.aad_buf, sa->spi);
	if (which == 1) { /* ESN: a high half of 0 while the window is young */
		crypto_put32(op.aad_buf + 4, 0);
		crypto_put32(op.aad_buf + 8, seq);
	} else {
		crypto_put32(op.aad_buf + 4, seq);
	}
	op.aad = op.aad_buf;
	op.aad_len = which == 1 ? 12 : 8;
	op.data = esp + 16;
	op.len = (uint32_t)len;
	op.icv = esp + 16 + len;
	ci->engine.ops->run(ci->engine.priv, &op, 1);
}

/* Encapsulate with sas[2] and decapsulate with sas[3] (both in UDP or not): the inner IP
 * packet must survive. */
static void round_trip(const uint8_t *frame, size_t len, bool udp)
{
	static struct fpkt f, orig;
	uint32_t iplen;

	pkt_set(&f, frame, len);
	pkt_set(&orig, frame, len);
	udp_encap(ci->sas[2], udp);
	udp_encap(ci->sas[3], udp);
	/* plaintext to the peer: not ESP for one of our inbound SAs */
	if (run(&f) != NIO_V_PASS)
		goto out;
	if (f.p.ip_proto != (udp ? 17 : 50) || memcmp(f.p.key.dst, ci->sas[2]->remote, 16) ||
	    (udp && f.p.key.dport != CRYPTO_NATT_PORT))
		abort();
	if (run(&f) != NIO_V_PASS)
		abort();
	iplen = f.p.len - 14;
	if (iplen > len - 14)
		abort();
	/* the encapsulator forwarded the inner packet: TTL / hop limit one less (+ checksum) */
	if (f.p.key.family == 4)
		memcpy(orig.p.data + 14 + 8, f.p.data + 14 + 8, 4);
	else
		orig.p.data[14 + 7] = f.p.data[14 + 7];
	if (memcmp(f.p.data + 14, orig.p.data + 14, iplen))
		abort();
out:
	udp_encap(ci->sas[2], false);
	udp_encap(ci->sas[3], false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fpkt f;

	if (!ci)
		setup();
	if (size < 6 || size > NIO_PKT_MAX_FRAME - 200)
		return 0;
	switch (data[0] % 4) {
	case 0:
		pkt_set(&f, data + 1, size - 1);
		run(&f);
		break;
	case 1:
		authentic(&f, data[1] % 3, crypto_get32(data + 2), data + 6, size - 6);
		run(&f);
		break;
	default:
		if (size - 1 > 14)
			round_trip(data + 1, size - 1, data[0] % 4 == 3);
		break;
	}
	return 0;
}

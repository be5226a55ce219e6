/* Crypto service cost per packet: ESP encap/decap per engine against the raw OpenSSL EVP AEAD bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../services/crypto/crypto.h"
#include "../unit/fake_host.h"

extern const struct nio_service crypto_service;

#define BURST  32
#define MIN_NS 300000000ull /* run each case at least this long */

struct bpkt {
	struct nio_pkt p;
	uint8_t buf[NIO_PKT_BUF_SIZE];
};

static char dir[64];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Simple IMIX 7:4:1 by inner IP length; the large size stays below a 1500-byte tunnel MTU. */
static const uint32_t imix[12] = { 64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1420 };

static uint32_t size_of(const char *mix, unsigned i)
{
	return !strcmp(mix, "imix") ? imix[i % 12] : (uint32_t)atoi(mix);
}

/* Ethernet + IPv4/UDP frame of iplen bytes. */
static void frame(struct bpkt *b, uint32_t iplen)
{
	uint8_t *f = b->buf + NIO_PKT_HEADROOM, *ip = f + 14;

	memset(&b->p, 0, sizeof(b->p));
	b->p.buf = b->buf;
	b->p.buf_size = NIO_PKT_BUF_SIZE;
	b->p.data = f;
	b->p.len = 14 + iplen;
	b->p.l3_off = 14;
	b->p.flags = NIO_PKT_F_IPV4;
	memset(f, 0x5a, 14 + iplen);
	f[12] = 0x08, f[13] = 0;
	memset(ip, 0, 20);
	ip[0] = 0x45, ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen, ip[8] = 64, ip[9] = 17;
	memcpy(ip + 12, "\xc0\x00\x02\x0a\xc6\x33\x64\x14", 8);
	b->p.key.family = 4;
}

static void *instance(const char *engine, const char *cipher, const char *keyfile, bool out,
		      struct fake_opt *sa, struct fake_opt *top, struct nio_conf *c,
		      struct nio_host *h)
{
	char err[256];
	void *inst;

	sa[0] = (struct fake_opt){ "spi", "0x1001", NULL };
	sa[1] = (struct fake_opt){ "direction", out ? "out" : "in", NULL };
	sa[2] = (struct fake_opt){ "cipher", cipher, NULL };
	sa[3] = (struct fake_opt){ "key-file", keyfile, NULL };
	sa[4] = (struct fake_opt){ "local", out ? "203.0.113.1" : "203.0.113.9", NULL };
	sa[5] = (struct fake_opt){ "remote", out ? "203.0.113.9" : "203.0.113.1", NULL };
	sa[6] = (struct fake_opt){ "esn", "yes", NULL };
	sa[7] = (struct fake_opt){ NULL, NULL, NULL };
	top[0] = (struct fake_opt){ "engine", engine, NULL };
	top[1] = (struct fake_opt){ "seq-block", "1048576", NULL };
	top[2] = (struct fake_opt){ "sa", "bench", sa };
	top[3] = (struct fake_opt){ NULL, NULL, NULL };
	fake_conf(c, crypto_service.options, top);
	*h = fake_host;
	h->state_dir = dir;
	inst = crypto_service.init(h, c, err, sizeof(err));
	if (!inst) {
		fprintf(stderr, "crypto_bench: %s engine: %s\n", engine, err);
		exit(1);
	}
	return inst;
}

/* Decap replays the same burst every round: the bench, not a peer, rewinds the window. */
static void reset_window(void *in)
{
	struct crypto_replay *r = &((struct crypto_inst *)in)->sas[0]->replay;

	r->top = 0;
	memset(r->bits, 0, ((size_t)r->mask + 1) * sizeof(*r->bits));
}

/* Encap (out) or decap (in) bursts of fresh copies until MIN_NS; returns ns per packet. */
static double run_plugin(void *out, void *in, const char *mix, bool decap, double *copy_ns)
{
	static struct bpkt tmpl[BURST], work[BURST];
	struct nio_pkt *ps[BURST];
	uint8_t v[BURST];
	uint64_t n = 0, t0, t, tc = 0;

	for (unsigned i = 0; i < BURST; i++) {
		frame(&tmpl[i], size_of(mix, i));
		ps[i] = &tmpl[i].p;
	}
	if (decap)
		crypto_service.process(out, ps, BURST, v); /* templates become ESP */
	t0 = now_ns();
	do {
		uint64_t c0 = now_ns();

		for (unsigned i = 0; i < BURST; i++) {
			work[i].p = tmpl[i].p;
			work[i].p.buf = work[i].buf;
			work[i].p.data = work[i].buf + (tmpl[i].p.data - tmpl[i].buf);
			memcpy(work[i].p.data, tmpl[i].p.data, tmpl[i].p.len);
			ps[i] = &work[i].p;
		}
		tc += now_ns() - c0;
		if (decap)
			reset_window(in);
		crypto_service.process(decap ? in : out, ps, BURST, v);
		for (unsigned i = 0; i < BURST; i++)
			if (v[i] != NIO_V_PASS) {
				fprintf(stderr, "crypto_bench: packet dropped\n");
				exit(1);
			}
		n += BURST;
		t = now_ns() - t0;
	} while (t < MIN_NS);
	*copy_ns = (double)tc / (double)n;
	return (double)t / (double)n;
}

/* The bound: one EVP AEAD seal or open per packet over the ESP payload, nothing else. */
static double run_evp(const char *cipher, const uint8_t *key, const char *mix, bool open_)
{
	const EVP_CIPHER *c = !strcmp(cipher, "aes128-gcm")   ? EVP_aes_128_gcm()
			      : !strcmp(cipher, "aes256-gcm") ? EVP_aes_256_gcm()
							      : EVP_chacha20_poly1305();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	static uint8_t data[BURST][1600], tag[BURST][16];
	uint8_t iv[12] = { 1 }, aad[12] = { 2 };
	uint64_t n = 0, t0, t;
	int l;

	EVP_CipherInit_ex(ctx, c, NULL, key, NULL, !open_);
	for (unsigned i = 0; i < BURST; i++) {
		EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, 1);
		EVP_CipherUpdate(ctx, NULL, &l, aad, 12);
		EVP_CipherUpdate(ctx, data[i], &l, data[i], (int)size_of(mix, i) + 2);
		EVP_CipherFinal_ex(ctx, data[i], &l);
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag[i]);
	}
	EVP_CipherInit_ex(ctx, NULL, NULL, NULL, NULL, !open_);
	t0 = now_ns();
	do {
		for (unsigned i = 0; i < BURST; i++) {
			int len = (int)size_of(mix, i) + 2;

			EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1);
			if (open_)
				EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag[i]);
			EVP_CipherUpdate(ctx, NULL, &l, aad, 12);
			EVP_CipherUpdate(ctx, data[i], &l, data[i], len);
			EVP_CipherFinal_ex(ctx, data[i] + len, &l);
			/* opening data it already opened fails the tag check at the same cost */
			if (!open_)
				EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag[i]);
		}
		n += BURST;
		t = now_ns() - t0;
	} while (t < MIN_NS);
	EVP_CIPHER_CTX_free(ctx);
	return (double)t / (double)n;
}

static double mean_bytes(const char *mix)
{
	double s = 0;

	for (unsigned i = 0; i < 12; i++)
		s += size_of(mix, i);
	return s / 12;
}

int main(int argc, char **argv)
{
	static const char *const ciphers[] = { "aes128-gcm", "aes256-gcm", "chacha20-poly1305" };
	static const char *const mixes[] = { "64", "imix", "1420" };
	static const char *const engines[] = { "openssl", "ipsec-mb" };
	uint8_t key[36];
	char keyfile[96];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/crypto_bench.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	printf("%-18s %-5s %-8s %-6s %9s %9s %8s %9s\n", "cipher", "size", "engine", "dir",
	       "ns/pkt", "Gbit/s", "vs-EVP", "copy-ns");
	for (size_t c = 0; c < 3; c++) {
		size_t klen = c == 0 ? 16 : 32;

		for (size_t i = 0; i < sizeof(key); i++)
			key[i] = (uint8_t)(i * 7 + 1);
		f = fopen(keyfile, "w");
		for (size_t i = 0; i < klen + 4; i++)
			fprintf(f, "%02x", key[i]);
		fclose(f);
		chmod(keyfile, 0600);
		for (size_t m = 0; m < 3; m++) {
			for (int d = 0; d < 2; d++) {
				double evp = run_evp(ciphers[c], key, mixes[m], d);

				printf("%-18s %-5s %-8s %-6s %9.1f %9.2f %8s %9s\n", ciphers[c],
				       mixes[m], "raw-evp", d ? "open" : "seal", evp,
				       mean_bytes(mixes[m]) * 8 / evp, "1.00", "-");
				for (size_t e = 0; e < 2; e++) {
					struct fake_opt sa[2][8], top[2][4];
					struct nio_conf conf[2];
					struct nio_host host[2];
					void *out, *in;
					double ns, copy;

					if (argc > 1 && strcmp(argv[1], engines[e]))
						continue;
					out = instance(engines[e], ciphers[c], keyfile, true, sa[0],
						       top[0], &conf[0], &host[0]);
					in = instance(engines[e], ciphers[c], keyfile, false, sa[1],
						      top[1], &conf[1], &host[1]);
					ns = run_plugin(out, in, mixes[m], d, &copy);
					printf("%-18s %-5s %-8s %-6s %9.1f %9.2f %8.2f %9.1f\n",
					       ciphers[c], mixes[m], engines[e],
					       d ? "decap" : "encap", ns,
					       mean_bytes(mixes[m]) * 8 / ns, ns / evp, copy);
					crypto_service.fini(out);
					crypto_service.fini(in);
				}
			}
		}
	}
	snprintf(keyfile, sizeof(keyfile), "rm -rf '%s'", dir);
	return system(keyfile) == 0 ? 0 : 1;
}

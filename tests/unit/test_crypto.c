/* Unit tests of the crypto service's parts: AEAD engines (known answers), replay window, ESN, seq. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../services/crypto/crypto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct crypto_engine_ops *const engines[] = {
	&crypto_engine_openssl,
#ifdef NIO_HAVE_IPSECMB
	&crypto_engine_ipsecmb,
#endif
};

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (s[0] && s[1] && n < max) {
		unsigned v;

		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	assert_int_equal(s[0], '\0');
	return n;
}

/*
 * Known answers. GCM: test cases 2-4 and 14-16 of McGrew & Viega, "The Galois/Counter Mode
 * of Operation" (12-byte IV = the 4-byte RFC 4106 salt and the 8-byte explicit IV).
 * ChaCha20-Poly1305: RFC 7539 2.8.2, whose nonce (07000000 || 4041..47) and 12-byte AAD
 * (SPI 50515253, seq-hi c0c1c2c3, seq-lo c4c5c6c7) have exactly the RFC 7634 ESN layout.
 */
struct kat {
	const char *name;
	enum crypto_cipher cipher;
	const char *key, *nonce, *aad, *pt, *ct, *tag;
};

#define GCM_PT3                                                            \
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define GCM_PT4                                                            \
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define RFC7539_PT                                                         \
	"4c616469657320616e642047656e746c656d656e206f662074686520636c6173" \
	"73206f66202739393a204966204920636f756c64206f6666657220796f75206f" \
	"6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73" \
	"637265656e20776f756c642062652069742e"

static const struct kat kats[] = {
	{ "gcm-tc2", CRYPTO_AES128_GCM, "00000000000000000000000000000000",
	  "000000000000000000000000", "", "00000000000000000000000000000000",
	  "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf" },
	{ "gcm-tc3", CRYPTO_AES128_GCM, "feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "", GCM_PT3,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	  "4d5c2af327cd64a62cf35abd2ba6fab4" },
	{ "gcm-tc4", CRYPTO_AES128_GCM, "feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", GCM_PT4,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "gcm-tc14", CRYPTO_AES256_GCM,
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "gcm-tc15", CRYPTO_AES256_GCM,
	  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "", GCM_PT3,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "gcm-tc16", CRYPTO_AES256_GCM,
	  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", GCM_PT4,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
	{ "rfc7539-2.8.2", CRYPTO_CHACHA20_POLY1305,
	  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
	  "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7", RFC7539_PT,
	  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	  "3ff4def08e4b7a9de576d26586cec64b6116",
	  "1ae10b594f09e26a7e902ecbd0600691" },
};

/* One vector's buffers, decoded. */
struct kat_buf {
	uint8_t key[32], aad[32], pt[128], ct[128], tag[16], data[128], icv[16];
	size_t aad_len, len;
	void *ekey, *dkey;
};

static void kat_load(const struct crypto_engine_ops *e, void *eng, const struct kat *k,
		     struct kat_buf *b, struct crypto_op *op, bool encrypt)
{
	unhex(k->key, b->key, sizeof(b->key));
	b->aad_len = unhex(k->aad, b->aad, sizeof(b->aad));
	b->len = unhex(k->pt, b->pt, sizeof(b->pt));
	assert_int_equal(unhex(k->ct, b->ct, sizeof(b->ct)), b->len);
	unhex(k->tag, b->tag, sizeof(b->tag));
	b->ekey = e->key_new(eng, k->cipher, b->key, true);
	b->dkey = e->key_new(eng, k->cipher, b->key, false);
	assert_non_null(b->ekey);
	assert_non_null(b->dkey);
	memset(op, 0, sizeof(*op));
	unhex(k->nonce, op->nonce, sizeof(op->nonce));
	op->aad = b->aad;
	op->aad_len = (uint32_t)b->aad_len;
	op->data = b->data;
	op->len = (uint32_t)b->len;
	op->icv = b->icv;
	op->encrypt = encrypt;
	op->key = encrypt ? b->ekey : b->dkey;
	memcpy(b->data, encrypt ? b->pt : b->ct, b->len);
	memcpy(b->icv, encrypt ? b->icv : b->tag, 16);
}

static void kat_free(const struct crypto_engine_ops *e, void *eng, struct kat_buf *b)
{
	e->key_free(eng, b->ekey);
	e->key_free(eng, b->dkey);
}

/* What a tampered decryption changes: the tag, a ciphertext byte, or an AAD byte. */
enum tamper { T_NONE, T_TAG, T_CT, T_AAD };

static void kat_decrypt(const struct crypto_engine_ops *e, void *eng, const struct kat *k,
			enum tamper t)
{
	struct kat_buf b;
	struct crypto_op op;

	kat_load(e, eng, k, &b, &op, false);
	if (t == T_TAG)
		b.icv[15] ^= 0x01;
	if (t == T_CT)
		b.data[b.len / 2] ^= 0x80;
	if (t == T_AAD && b.aad_len)
		b.aad[0] ^= 0x01;
	e->run(eng, &op, 1);
	if (t == T_NONE || (t == T_AAD && !b.aad_len)) {
		assert_true(op.ok);
		assert_memory_equal(b.data, b.pt, b.len);
	} else {
		assert_false(op.ok);
	}
	kat_free(e, eng, &b);
}

static void test_kat_every_engine(void **state)
{
	for (size_t e = 0; e < ARRAY_SIZE(engines); e++) {
		char err[128];
		void *eng = engines[e]->open(err, sizeof(err));

		if (!eng) {
			print_message("engine %s unusable here: %s\n", engines[e]->name, err);
			continue;
		}
		for (size_t i = 0; i < ARRAY_SIZE(kats); i++) {
			struct kat_buf b;
			struct crypto_op op;

			kat_load(engines[e], eng, &kats[i], &b, &op, true);
			engines[e]->run(eng, &op, 1);
			assert_true(op.ok);
			assert_memory_equal(b.data, b.ct, b.len);
			assert_memory_equal(b.icv, b.tag, 16);
			kat_free(engines[e], eng, &b);
			for (enum tamper t = T_NONE; t <= T_AAD; t++)
				kat_decrypt(engines[e], eng, &kats[i], t);
		}
		engines[e]->close(eng);
	}
}

/* All vectors in one run() call, bad tags interleaved: a burst keeps verdicts per packet. */
static void test_kat_burst(void **state)
{
	enum { N = 2 * ARRAY_SIZE(kats) };

	for (size_t e = 0; e < ARRAY_SIZE(engines); e++) {
		char err[128];
		void *eng = engines[e]->open(err, sizeof(err));
		static struct kat_buf b[N];
		struct crypto_op ops[N];

		if (!eng)
			continue;
		for (size_t i = 0; i < N; i++) {
			kat_load(engines[e], eng, &kats[i % ARRAY_SIZE(kats)], &b[i], &ops[i],
				 false);
			if (i & 1)
				b[i].icv[0] ^= 0x40;
		}
		engines[e]->run(eng, ops, N);
		for (size_t i = 0; i < N; i++) {
			assert_int_equal(ops[i].ok, !(i & 1));
			if (!(i & 1))
				assert_memory_equal(b[i].data, b[i].pt, b[i].len);
			kat_free(engines[e], eng, &b[i]);
		}
		engines[e]->close(eng);
	}
}

/* Engines agree byte for byte on random packets of every size an ESP payload can have. */
static void test_engines_identical(void **state)
{
	static uint8_t a[1500], b[1500];
	uint8_t key[32], ta[16], tb[16], aad[12];
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	if (ARRAY_SIZE(engines) < 2)
		skip();
	for (int c = CRYPTO_AES128_GCM; c <= CRYPTO_CHACHA20_POLY1305; c++) {
		char err[128];
		void *e0 = engines[0]->open(err, sizeof(err));
		void *e1 = engines[1]->open(err, sizeof(err));
		void *k0, *k1;

		if (!e1) {
			engines[0]->close(e0);
			skip();
		}
		for (size_t i = 0; i < sizeof(key); i++)
			key[i] = (uint8_t)(seed >> (i % 8 * 8)) ^ (uint8_t)i;
		k0 = engines[0]->key_new(e0, (enum crypto_cipher)c, key, true);
		k1 = engines[1]->key_new(e1, (enum crypto_cipher)c, key, true);
		for (uint32_t len = 2; len <= sizeof(a); len += 37) {
			struct crypto_op o0 = { .key = k0,
						.aad = aad,
						.aad_len = 12,
						.data = a,
						.len = len,
						.icv = ta,
						.encrypt = true };
			struct crypto_op o1 = o0;

			o1.key = k1;
			o1.data = b;
			o1.icv = tb;
			for (uint32_t i = 0; i < len; i++) {
				seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
				a[i] = b[i] = (uint8_t)seed;
			}
			memcpy(o0.nonce, &seed, 8);
			memcpy(o1.nonce, &seed, 8);
			memcpy(aad, &seed, 8);
			engines[0]->run(e0, &o0, 1);
			engines[1]->run(e1, &o1, 1);
			assert_true(o0.ok && o1.ok);
			assert_memory_equal(a, b, len);
			assert_memory_equal(ta, tb, 16);
		}
		engines[0]->key_free(e0, k0);
		engines[1]->key_free(e1, k1);
		engines[0]->close(e0);
		engines[1]->close(e1);
	}
}

/* ---------------------------------------------------------------- anti-replay window */

enum rop { CHECK, ADVANCE };

struct replay_step {
	enum rop op;
	uint64_t seq;
	enum crypto_replay_result want;
};

static void run_steps(uint32_t window, const struct replay_step *s, size_t n)
{
	struct crypto_replay r;

	assert_int_equal(crypto_replay_init(&r, window), 0);
	for (size_t i = 0; i < n; i++) {
		enum crypto_replay_result got = s[i].op == CHECK
							? crypto_replay_check(&r, s[i].seq)
							: crypto_replay_advance(&r, s[i].seq);
		if (got != s[i].want)
			fail_msg("window %u step %zu (seq %llu): got %d want %d", window, i,
				 (unsigned long long)s[i].seq, got, s[i].want);
	}
	crypto_replay_fini(&r);
}

static void test_replay_edges(void **state)
{
	/* W = 64: accepted range is (top - 64, top] */
	static const struct replay_step w64[] = {
		{ CHECK, 0, CRYPTO_REPLAY_OLD }, /* 0 is never a valid ESP number */
		{ ADVANCE, 1, CRYPTO_REPLAY_OK },
		{ ADVANCE, 1, CRYPTO_REPLAY_DUP },
		{ ADVANCE, 100, CRYPTO_REPLAY_OK },
		{ CHECK, 37, CRYPTO_REPLAY_OK },  /* top - 63: oldest in window */
		{ CHECK, 36, CRYPTO_REPLAY_OLD }, /* top - 64: just out */
		{ ADVANCE, 37, CRYPTO_REPLAY_OK },
		{ ADVANCE, 37, CRYPTO_REPLAY_DUP },
		{ CHECK, 100, CRYPTO_REPLAY_DUP },
		{ CHECK, 99, CRYPTO_REPLAY_OK },
		{ ADVANCE, 128, CRYPTO_REPLAY_OK }, /* crosses a word: 37 leaves, 99 stays */
		{ CHECK, 37, CRYPTO_REPLAY_OLD },
		{ CHECK, 100, CRYPTO_REPLAY_DUP },
		{ CHECK, 65, CRYPTO_REPLAY_OK },
		{ ADVANCE, 1000000, CRYPTO_REPLAY_OK }, /* far ahead clears everything */
		{ CHECK, 999937, CRYPTO_REPLAY_OK },
		{ CHECK, 999936, CRYPTO_REPLAY_OLD },
		{ CHECK, 128, CRYPTO_REPLAY_OLD },
		{ CHECK, 1000000, CRYPTO_REPLAY_DUP },
		{ ADVANCE, 999999, CRYPTO_REPLAY_OK },
		{ ADVANCE, 999999, CRYPTO_REPLAY_DUP },
	};
	/* W = 1024, the default, with bits set across word and ring boundaries */
	static const struct replay_step w1024[] = {
		{ ADVANCE, 5000, CRYPTO_REPLAY_OK },
		{ ADVANCE, 3977, CRYPTO_REPLAY_OK }, /* top - 1023 */
		{ CHECK, 3976, CRYPTO_REPLAY_OLD },
		{ ADVANCE, 4095, CRYPTO_REPLAY_OK },
		{ ADVANCE, 6000, CRYPTO_REPLAY_OK }, /* 4977..6000 stay in the window */
		{ CHECK, 4976, CRYPTO_REPLAY_OLD },
		{ CHECK, 5000, CRYPTO_REPLAY_DUP },
		{ CHECK, 4977, CRYPTO_REPLAY_OK },
		{ CHECK, 5999, CRYPTO_REPLAY_OK },
		{ ADVANCE, 6001, CRYPTO_REPLAY_OK },
		{ CHECK, 5000, CRYPTO_REPLAY_DUP },
		{ ADVANCE, 6000 + 2048,
		  CRYPTO_REPLAY_OK }, /* the ring wraps: old bits are cleared */
		{ CHECK, 6000 + 2048 - 1023, CRYPTO_REPLAY_OK },
		{ CHECK, 6000 + 1024, CRYPTO_REPLAY_OLD },
	};
	/* W = 32: a window narrower than one bitmap word */
	static const struct replay_step w32[] = {
		{ ADVANCE, 64, CRYPTO_REPLAY_OK },  { ADVANCE, 63, CRYPTO_REPLAY_OK },
		{ ADVANCE, 65, CRYPTO_REPLAY_OK },  { CHECK, 63, CRYPTO_REPLAY_DUP },
		{ CHECK, 34, CRYPTO_REPLAY_OK },    { CHECK, 33, CRYPTO_REPLAY_OLD },
		{ ADVANCE, 128, CRYPTO_REPLAY_OK }, { CHECK, 97, CRYPTO_REPLAY_OK },
		{ CHECK, 96, CRYPTO_REPLAY_OLD },   { CHECK, 127, CRYPTO_REPLAY_OK },
	};

	run_steps(64, w64, ARRAY_SIZE(w64));
	run_steps(1024, w1024, ARRAY_SIZE(w1024));
	run_steps(32, w32, ARRAY_SIZE(w32));
}

static void test_replay_bad_size(void **state)
{
	struct crypto_replay r;

	assert_int_not_equal(crypto_replay_init(&r, 1000), 0);
	assert_int_not_equal(crypto_replay_init(&r, 16), 0);
	assert_int_not_equal(crypto_replay_init(&r, 0), 0);
}

/* Every in-window number is accepted once, in any order, and nothing older. */
static void test_replay_exhaustive(void **state)
{
	struct crypto_replay r;
	static uint8_t seen[1 << 14];
	uint64_t seed = 1;

	assert_int_equal(crypto_replay_init(&r, 256), 0);
	for (int i = 0; i < 200000; i++) {
		uint64_t s;
		enum crypto_replay_result want, got;

		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		s = 1 + (uint64_t)(i / 16) + seed % 300;
		if (s >= sizeof(seen))
			break;
		want = s + 256 <= r.top ? CRYPTO_REPLAY_OLD
		       : seen[s]	? CRYPTO_REPLAY_DUP
					: CRYPTO_REPLAY_OK;
		got = crypto_replay_advance(&r, s);
		assert_int_equal(got, want);
		if (got == CRYPTO_REPLAY_OK)
			seen[s] = 1;
	}
	crypto_replay_fini(&r);
}

/* ---------------------------------------------------------------- ESN inference */

static void test_esn_inference(void **state)
{
	static const struct {
		uint64_t top;
		uint32_t window, seq_lo;
		uint64_t want;
	} rows[] = {
		/* window inside one subspace (Tl >= W - 1) */
		{ 0x500000000ull | 5000, 1024, 5001, 0x500000000ull | 5001 },
		{ 0x500000000ull | 5000, 1024, 3977, 0x500000000ull | 3977 }, /* bottom edge */
		{ 0x500000000ull | 5000, 1024, 3976, 0x600000000ull | 3976 }, /* wrapped ahead */
		{ 0x500000000ull | 1023, 1024, 0, 0x500000000ull },	      /* Tl == W - 1 */
		{ 0x5ffffffffull, 1024, 2, 0x600000002ull }, /* just over the top */
		{ 0x5ffffffffull, 1024, 0xfffffc00u, 0x5fffffc00ull },
		/* window spanning two subspaces (Tl < W - 1) */
		{ 0x600000010ull, 1024, 0xfffffff0u, 0x5fffffff0ull }, /* from the old subspace */
		{ 0x600000010ull, 1024, 0xfffffc11u, 0x5fffffc11ull }, /* bottom edge */
		{ 0x600000010ull, 1024, 0xfffffc10u, 0x6fffffc10ull }, /* below it: ahead */
		{ 0x600000010ull, 1024, 0x20, 0x600000020ull },
		{ 0x600000010ull, 1024, 0x5, 0x600000005ull },
		/* the first subspace has nothing below it */
		{ 0, 1024, 1, 1 },
		{ 0, 1024, 0xffffffffu, 0 },
		{ 100, 1024, 0xfffffff0u, 0 },
		{ 100, 64, 0xfffffff0u, 0xfffffff0u }, /* Tl >= W - 1: Seql >= bottom */
		/* the last subspace has nothing above it */
		{ 0xffffffff00001000ull, 32, 3, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct crypto_replay r;

		assert_int_equal(crypto_replay_init(&r, rows[i].window), 0);
		r.top = rows[i].top;
		if (crypto_replay_infer(&r, rows[i].seq_lo, true) != rows[i].want)
			fail_msg("row %zu: got %#llx want %#llx", i,
				 (unsigned long long)crypto_replay_infer(&r, rows[i].seq_lo, true),
				 (unsigned long long)rows[i].want);
		assert_int_equal(crypto_replay_infer(&r, rows[i].seq_lo, false), rows[i].seq_lo);
		crypto_replay_fini(&r);
	}
}

/* ---------------------------------------------------------------- sequence reservation */

static char tmpdir[64];

static int mk_tmpdir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_crypto.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int rm_tmpdir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const uint8_t km[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 };

/*
 * A crash is an instance that vanishes without a word: no fini, nothing flushed. Whatever it
 * used, the next instance of the same key starts above everything it had reserved.
 */
static void test_seq_survives_crash(void **state)
{
	struct crypto_seq *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[256];
	uint64_t lo, hi, used = 0, s;
	bool took;

	assert_int_equal(crypto_seq_open(a, tmpdir, km, sizeof(km), 1024, false, err, sizeof(err)),
			 0);
	assert_int_equal(a->next, 1);
	assert_int_equal(crypto_seq_reserve(a, &lo, &hi), 0); /* the spare */
	crypto_seq_put_spare(a, lo, hi);
	for (int i = 0; i < 1500; i++) {
		s = crypto_seq_next(a, &took);
		assert_true(s > used);
		used = s;
	}
	free(a); /* kill -9 */

	assert_int_equal(crypto_seq_open(b, tmpdir, km, sizeof(km), 1024, false, err, sizeof(err)),
			 0);
	assert_true(b->next > used);
	assert_int_equal(b->next, 2049); /* above both blocks the dead instance had */
	free(b);
}

/* Two live instances of one key (a reload) interleave reservations without overlap. */
static void test_seq_disjoint(void **state)
{
	static const uint8_t k2[20] = { 42 };
	struct crypto_seq *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[256];
	uint64_t lo[8], hi[8];

	assert_int_equal(crypto_seq_open(a, tmpdir, k2, sizeof(k2), 1024, true, err, sizeof(err)),
			 0);
	assert_int_equal(crypto_seq_open(b, tmpdir, k2, sizeof(k2), 1024, true, err, sizeof(err)),
			 0);
	assert_true(a->end <= b->next);
	for (int i = 0; i < 8; i++)
		assert_int_equal(crypto_seq_reserve(i & 1 ? a : b, &lo[i], &hi[i]), 0);
	for (int i = 1; i < 8; i++)
		assert_true(lo[i] >= hi[i - 1]);
	free(a);
	free(b);
}

/* Without ESN the numbers end at 2^32 - 1: the last block is short, then nothing. */
static void test_seq_exhaustion(void **state)
{
	static const uint8_t k3[20] = { 7, 7, 7 };
	struct crypto_seq *a = calloc(1, sizeof(*a));
	char err[256], path[PATH_MAX];
	uint64_t lo, hi;
	FILE *f;

	assert_int_equal(crypto_seq_open(a, tmpdir, k3, sizeof(k3), 1024, false, err, sizeof(err)),
			 0);
	snprintf(path, sizeof(path), "%s", a->path);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "netio-crypto-seq 1 next %llu\n", 0xffffffffull - 9);
	fclose(f);
	assert_int_equal(crypto_seq_reserve(a, &lo, &hi), 0);
	assert_int_equal(lo, 0xffffffffull - 9);
	assert_int_equal(hi, 0x100000000ull);
	assert_int_equal(crypto_seq_reserve(a, &lo, &hi), -ENOSPC);
	assert_int_not_equal(
		crypto_seq_open(a, tmpdir, k3, sizeof(k3), 1024, false, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "used up"));
	free(a);
}

static void test_seq_corrupt_state(void **state)
{
	static const uint8_t k4[20] = { 9 };
	struct crypto_seq *a = calloc(1, sizeof(*a));
	char err[256];
	FILE *f;

	assert_int_equal(crypto_seq_open(a, tmpdir, k4, sizeof(k4), 1024, false, err, sizeof(err)),
			 0);
	f = fopen(a->path, "w");
	assert_non_null(f);
	fputs("garbage\n", f);
	fclose(f);
	/* an unreadable counter must stop the SA, not restart it at 1 */
	assert_int_not_equal(
		crypto_seq_open(a, tmpdir, k4, sizeof(k4), 1024, false, err, sizeof(err)), 0);
	free(a);
}

/* ---------------------------------------------------------------- key files */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_key_file(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
		size_t want;
		int ok;
		const char *msg;
	} rows[] = {
		{ "000102030405060708090a0b0c0d0e0f10111213\n", 0600, 20, 1, NULL },
		{ "0x000102030405060708090a0b0c0d0e0f10111213", 0400, 20, 1, NULL },
		{ "00010203 04050607 08090A0B 0C0D0E0F\n10111213\n", 0600, 20, 1, NULL },
		{ "000102030405060708090a0b0c0d0e0f10111213\n", 0640, 20, 0, "group/other" },
		{ "000102030405060708090a0b0c0d0e0f10111213\n", 0604, 20, 0, "chmod 600" },
		{ "000102030405060708090a0b0c0d0e0f1011121314", 0600, 20, 0, "want 20 bytes" },
		{ "000102030405060708090a0b0c0d0e0f101112", 0600, 20, 0, "want 20 bytes" },
		{ "000102030405060708090a0b0c0d0e0f1011121", 0600, 20, 0, "want 20 bytes" },
		{ "zz0102030405060708090a0b0c0d0e0f10111213", 0600, 20, 0, "hex" },
	};
	char path[128], err[256];
	uint8_t out[36];

	snprintf(path, sizeof(path), "%s/key", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		unlink(path);
		write_file(path, rows[i].text, rows[i].mode);
		err[0] = '\0';
		if ((crypto_key_load(path, out, rows[i].want, err, sizeof(err)) == 0) != rows[i].ok)
			fail_msg("row %zu: %s", i, err);
		if (rows[i].ok) {
			for (unsigned j = 0; j < 20; j++)
				assert_int_equal(out[j], j);
		} else {
			assert_non_null(strstr(err, rows[i].msg));
		}
	}
	assert_int_not_equal(crypto_key_load("/nonexistent/key", out, 20, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_every_engine),  cmocka_unit_test(test_kat_burst),
		cmocka_unit_test(test_engines_identical), cmocka_unit_test(test_replay_edges),
		cmocka_unit_test(test_replay_bad_size),	  cmocka_unit_test(test_replay_exhaustive),
		cmocka_unit_test(test_esn_inference),	  cmocka_unit_test(test_seq_survives_crash),
		cmocka_unit_test(test_seq_disjoint),	  cmocka_unit_test(test_seq_exhaustion),
		cmocka_unit_test(test_seq_corrupt_state), cmocka_unit_test(test_key_file),
	};

	return cmocka_run_group_tests(tests, mk_tmpdir, rm_tmpdir);
}

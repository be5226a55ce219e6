/* AEAD engine on intel-ipsec-mb: the burst API runs a whole burst through the SIMD lanes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include "crypto.h"

struct mb_engine {
	IMB_MGR *mgr;
	IMB_ARCH arch;
	char detail[64];
};

/* Keys of both ciphers in one cache-aligned object: GCM uses the expanded form. */
struct mb_key {
	struct gcm_key_data gcm;
	uint8_t raw[CRYPTO_KEY_MAX];
	enum crypto_cipher cipher;
	bool encrypt;
};

static const char *arch_name(IMB_ARCH a)
{
	switch (a) {
	case IMB_ARCH_SSE:
		return "sse";
	case IMB_ARCH_AVX:
		return "avx";
	case IMB_ARCH_AVX2:
		return "avx2";
	case IMB_ARCH_AVX512:
		return "avx512";
	default:
		return "none";
	}
}

/* Only worth it with AES-NI and carry-less multiply; without them OpenSSL is the better bet. */
static void *mb_open(char *err, size_t errlen)
{
	struct mb_engine *e = calloc(1, sizeof(*e));
	const uint64_t need = IMB_FEATURE_AESNI | IMB_FEATURE_PCLMULQDQ;

	if (!e) {
		snprintf(err, errlen, "engine ipsec-mb: out of memory");
		return NULL;
	}
	e->mgr = alloc_mb_mgr(0);
	if (!e->mgr) {
		snprintf(err, errlen, "engine ipsec-mb: cannot allocate a manager");
		free(e);
		return NULL;
	}
	init_mb_mgr_auto(e->mgr, &e->arch);
	if (e->arch < IMB_ARCH_SSE || (e->mgr->features & need) != need || imb_get_errno(e->mgr)) {
		snprintf(err, errlen, "engine ipsec-mb: CPU lacks AES-NI/PCLMULQDQ");
		free_mb_mgr(e->mgr);
		free(e);
		return NULL;
	}
	snprintf(e->detail, sizeof(e->detail), "intel-ipsec-mb %s %s", imb_get_version_str(),
		 arch_name(e->arch));
	return e;
}

static void mb_close(void *eng)
{
	struct mb_engine *e = eng;

	free_mb_mgr(e->mgr);
	free(e);
}

static void *mb_key_new(void *eng, enum crypto_cipher c, const uint8_t *key, bool encrypt)
{
	struct mb_engine *e = eng;
	size_t sz = (sizeof(struct mb_key) + 63) & ~(size_t)63;
	struct mb_key *k = aligned_alloc(64, sz);

	if (!k)
		return NULL;
	memset(k, 0, sizeof(*k));
	k->cipher = c;
	k->encrypt = encrypt;
	if (c == CRYPTO_AES128_GCM)
		IMB_AES128_GCM_PRE(e->mgr, key, &k->gcm);
	else if (c == CRYPTO_AES256_GCM)
		IMB_AES256_GCM_PRE(e->mgr, key, &k->gcm);
	else
		memcpy(k->raw, key, 32);
	return k;
}

static void mb_key_free(void *eng, void *key)
{
	OPENSSL_cleanse(key, sizeof(struct mb_key));
	free(key);
}

static void fill_job(IMB_JOB *j, struct crypto_op *op)
{
	const struct mb_key *k = op->key;
	bool gcm = k->cipher != CRYPTO_CHACHA20_POLY1305;

	j->cipher_direction = op->encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
	j->chain_order = op->encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
	j->src = op->data;
	j->dst = op->data;
	j->cipher_start_src_offset_in_bytes = 0;
	j->msg_len_to_cipher_in_bytes = op->len;
	j->hash_start_src_offset_in_bytes = 0;
	j->msg_len_to_hash_in_bytes = op->len;
	j->iv = op->nonce;
	j->iv_len_in_bytes = CRYPTO_NONCE_LEN;
	/* decrypting computes the tag into scratch; it is compared after the job completes */
	j->auth_tag_output = op->encrypt ? op->icv : op->tag;
	j->auth_tag_output_len_in_bytes = CRYPTO_ICV_LEN;
	j->user_data = op;
	if (gcm) {
		j->cipher_mode = IMB_CIPHER_GCM;
		j->hash_alg = IMB_AUTH_AES_GMAC;
		j->enc_keys = &k->gcm;
		j->dec_keys = &k->gcm;
		j->key_len_in_bytes = k->cipher == CRYPTO_AES128_GCM ? 16 : 32;
		j->u.GCM.aad = op->aad;
		j->u.GCM.aad_len_in_bytes = op->aad_len;
	} else {
		j->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
		j->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
		j->enc_keys = k->raw;
		j->dec_keys = k->raw;
		j->key_len_in_bytes = 32;
		j->u.CHACHA20_POLY1305.aad = op->aad;
		j->u.CHACHA20_POLY1305.aad_len_in_bytes = op->aad_len;
	}
}

static void complete(IMB_JOB *j)
{
	struct crypto_op *op = j->user_data;

	if (j->status != IMB_STATUS_COMPLETED)
		op->ok = false;
	else if (op->encrypt)
		op->ok = true;
	else
		op->ok = CRYPTO_memcmp(op->tag, op->icv, CRYPTO_ICV_LEN) == 0;
}

/* Submits up to IMB_MAX_BURST_SIZE operations and flushes until every one has completed. */
static void mb_burst(struct mb_engine *e, struct crypto_op *ops, unsigned n)
{
	IMB_JOB *jobs[IMB_MAX_BURST_SIZE];
	uint32_t got, done;

	while ((got = IMB_GET_NEXT_BURST(e->mgr, n, jobs)) < n) {
		done = IMB_FLUSH_BURST(e->mgr, IMB_MAX_BURST_SIZE, jobs);
		for (uint32_t i = 0; i < done; i++)
			complete(jobs[i]);
		if (!done)
			break;
	}
	if (got < n) {
		for (unsigned i = 0; i < n; i++)
			ops[i].ok = false;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		ops[i].ok = false;
		fill_job(jobs[i], &ops[i]);
	}
	done = IMB_SUBMIT_BURST(e->mgr, n, jobs);
	for (uint32_t i = 0; i < done; i++)
		complete(jobs[i]);
	while ((done = IMB_FLUSH_BURST(e->mgr, IMB_MAX_BURST_SIZE, jobs)) > 0)
		for (uint32_t i = 0; i < done; i++)
			complete(jobs[i]);
}

static void mb_run(void *eng, struct crypto_op *ops, unsigned n)
{
	while (n) {
		unsigned k = n < IMB_MAX_BURST_SIZE ? n : IMB_MAX_BURST_SIZE;

		mb_burst(eng, ops, k);
		ops += k;
		n -= k;
	}
}

static const char *mb_detail(void *eng)
{
	return ((struct mb_engine *)eng)->detail;
}

const struct crypto_engine_ops crypto_engine_ipsecmb = {
	.name = "ipsec-mb",
	.open = mb_open,
	.close = mb_close,
	.key_new = mb_key_new,
	.key_free = mb_key_free,
	.run = mb_run,
	.detail = mb_detail,
};

/* AEAD engine on OpenSSL libcrypto EVP: portable; one keyed EVP_CIPHER_CTX per SA. */
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include "crypto.h"

static void *ossl_open(char *err, size_t errlen)
{
	/* stateless: the keyed contexts carry everything; any non-NULL handle will do */
	static const char handle[] = OPENSSL_VERSION_TEXT;

	return (void *)handle;
}

static void ossl_close(void *eng)
{
}

static const EVP_CIPHER *evp_of(enum crypto_cipher c)
{
	switch (c) {
	case CRYPTO_AES128_GCM:
		return EVP_aes_128_gcm();
	case CRYPTO_AES256_GCM:
		return EVP_aes_256_gcm();
	case CRYPTO_CHACHA20_POLY1305:
		return EVP_chacha20_poly1305();
	}
	return NULL;
}

/* The key schedule is computed here once; per packet only the nonce is set. */
static void *ossl_key_new(void *eng, enum crypto_cipher c, const uint8_t *key, bool encrypt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return NULL;
	if (EVP_CipherInit_ex(ctx, evp_of(c), NULL, NULL, NULL, encrypt) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, CRYPTO_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, encrypt) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void ossl_key_free(void *eng, void *key)
{
	EVP_CIPHER_CTX_free(key);
}

static bool ossl_one(struct crypto_op *op)
{
	EVP_CIPHER_CTX *ctx = (EVP_CIPHER_CTX *)op->key;
	int n, fin;

	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, op->nonce, -1) != 1)
		return false;
	if (!op->encrypt &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_ICV_LEN, op->icv) != 1)
		return false;
	if (op->aad_len && EVP_CipherUpdate(ctx, NULL, &n, op->aad, (int)op->aad_len) != 1)
		return false;
	if (op->len && EVP_CipherUpdate(ctx, op->data, &n, op->data, (int)op->len) != 1)
		return false;
	if (EVP_CipherFinal_ex(ctx, op->data + op->len, &fin) != 1)
		return false; /* decrypting: the tag did not verify */
	if (op->encrypt)
		return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_ICV_LEN, op->icv) ==
		       1;
	return true;
}

static void ossl_run(void *eng, struct crypto_op *ops, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ops[i].ok = ossl_one(&ops[i]);
}

static const char *ossl_detail(void *eng)
{
	return (const char *)eng;
}

const struct crypto_engine_ops crypto_engine_openssl = {
	.name = "openssl",
	.open = ossl_open,
	.close = ossl_close,
	.key_new = ossl_key_new,
	.key_free = ossl_key_free,
	.run = ossl_run,
	.detail = ossl_detail,
};

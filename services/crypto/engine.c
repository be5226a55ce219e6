/* Choosing the AEAD engine (auto, openssl, ipsec-mb) and the cipher names shared by both. */
#include <stdio.h>
#include <string.h>

#include "crypto.h"

size_t crypto_cipher_key_len(enum crypto_cipher c)
{
	return c == CRYPTO_AES128_GCM ? 16 : 32;
}

int crypto_cipher_parse(const char *s, enum crypto_cipher *c)
{
	if (!strcmp(s, "aes128-gcm"))
		*c = CRYPTO_AES128_GCM;
	else if (!strcmp(s, "aes256-gcm"))
		*c = CRYPTO_AES256_GCM;
	else if (!strcmp(s, "chacha20-poly1305"))
		*c = CRYPTO_CHACHA20_POLY1305;
	else
		return -1;
	return 0;
}

/* Seal a fixed 203-byte message with ops and return its ciphertext and tag in out. */
static bool seal(const struct crypto_engine_ops *ops, void *eng, enum crypto_cipher c,
		 uint8_t out[219])
{
	uint8_t key[CRYPTO_KEY_MAX], aad[12];
	struct crypto_op op = { .aad = aad,
				.aad_len = 12,
				.len = 203,
				.data = out,
				.icv = out + 203,
				.encrypt = true };
	void *k;

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xa5 ^ i * 29);
	for (unsigned i = 0; i < 203; i++)
		out[i] = (uint8_t)(i * 13 + 7);
	memset(op.nonce, 0x3c, sizeof(op.nonce));
	memset(aad, 0x5e, sizeof(aad));
	k = ops->key_new(eng, c, key, true);
	if (!k)
		return false;
	op.key = k;
	ops->run(eng, &op, 1);
	ops->key_free(eng, k);
	return op.ok;
}

/*
 * A second engine must agree with OpenSSL before it is trusted with traffic: a library or CPU
 * that computes something else would otherwise only show as a peer refusing every packet.
 */
static int agrees_with_openssl(const struct crypto_engine *e)
{
	void *ref = crypto_engine_openssl.open(NULL, 0);
	int rc = 0;

	for (int c = CRYPTO_AES128_GCM; c <= CRYPTO_CHACHA20_POLY1305 && !rc; c++) {
		uint8_t a[219], b[219];

		if (!seal(e->ops, e->priv, (enum crypto_cipher)c, a) ||
		    !seal(&crypto_engine_openssl, ref, (enum crypto_cipher)c, b) ||
		    memcmp(a, b, sizeof(a)))
			rc = -1;
	}
	crypto_engine_openssl.close(ref);
	return rc;
}

static int try_open(struct crypto_engine *e, const struct crypto_engine_ops *ops, char *err,
		    size_t errlen)
{
	e->priv = ops->open(err, errlen);
	if (!e->priv)
		return -1;
	e->ops = ops;
	if (ops != &crypto_engine_openssl && agrees_with_openssl(e) < 0) {
		snprintf(err, errlen, "engine %s: self-test against OpenSSL failed", ops->name);
		crypto_engine_close(e);
		return -1;
	}
	return 0;
}

/* "auto" prefers intel-ipsec-mb when the CPU has what it needs and falls back to OpenSSL. */
int crypto_engine_open(struct crypto_engine *e, const char *name, char *err, size_t errlen)
{
	if (!strcmp(name, "openssl"))
		return try_open(e, &crypto_engine_openssl, err, errlen);
#ifdef NIO_HAVE_IPSECMB
	if (!strcmp(name, "ipsec-mb"))
		return try_open(e, &crypto_engine_ipsecmb, err, errlen);
	if (!strcmp(name, "auto")) {
		if (try_open(e, &crypto_engine_ipsecmb, err, errlen) == 0)
			return 0;
		return try_open(e, &crypto_engine_openssl, err, errlen);
	}
#else
	if (!strcmp(name, "ipsec-mb")) {
		snprintf(err, errlen,
			 "engine ipsec-mb: not built in (no libipsec-mb at build time)");
		return -1;
	}
	if (!strcmp(name, "auto"))
		return try_open(e, &crypto_engine_openssl, err, errlen);
#endif
	snprintf(err, errlen, "unknown engine '%s'", name);
	return -1;
}

void crypto_engine_close(struct crypto_engine *e)
{
	if (e->ops)
		e->ops->close(e->priv);
	e->ops = NULL;
	e->priv = NULL;
}

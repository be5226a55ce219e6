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

static int try_open(struct crypto_engine *e, const struct crypto_engine_ops *ops, char *err,
		    size_t errlen)
{
	e->priv = ops->open(err, errlen);
	if (!e->priv)
		return -1;
	e->ops = ops;
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

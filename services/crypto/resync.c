/* Extended sequence numbers: re-finding the high half after the receiver lost it (RFC 4303 A3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/*
 * The receiver infers the high 32 bits of an ESN from its window (replay.c). When the window
 * no longer says where the sender is (the receiver restarted from an empty window after the
 * peer passed 2^32, or 2^32 packets in a row were lost), every packet is inferred into the
 * wrong subspace and fails its ICV. After CRYPTO_RESYNC_AFTER consecutive ICV failures,
 * one packet per burst keeps a copy of its ciphertext and, when it fails too, is verified
 * again with the next CRYPTO_RESYNC_SPAN higher seq-hi values. Only an ICV that verifies
 * under the SA's key moves the window, so forged packets cost CPU (bounded: SPAN AEAD runs
 * per burst and SA) but can neither move nor reset it.
 */
int crypto_resync_init(struct crypto_resync *rs, bool esn)
{
	rs->fails = 0;
	rs->busy = false;
	rs->copy = NULL;
	if (!esn)
		return 0;
	rs->copy = malloc(NIO_PKT_MAX_FRAME);
	return rs->copy ? 0 : -ENOMEM;
}

void crypto_resync_fini(struct crypto_resync *rs)
{
	free(rs->copy);
	rs->copy = NULL;
}

/* Before the AEAD runs (it decrypts in place): keep the ciphertext if a retry may follow. */
bool crypto_resync_arm(struct crypto_resync *rs, const struct crypto_op *op)
{
	if (!rs->copy || rs->busy || rs->fails < CRYPTO_RESYNC_AFTER || op->len > NIO_PKT_MAX_FRAME)
		return false;
	memcpy(rs->copy, op->data, op->len);
	rs->busy = true;
	return true;
}

/*
 * The armed packet failed under the seq-hi it was inferred into: try the higher ones, above
 * the window's own subspace so that the number found is always ahead of the window (a
 * resynchronised packet can never be a replay). Returns the 64-bit number whose ICV
 * verified, 0 when none did.
 */
uint64_t crypto_resync_try(struct crypto_resync *rs, const struct crypto_engine *e, uint32_t spi,
			   const struct crypto_replay *r, struct crypto_op *op, uint64_t inferred)
{
	uint64_t base = inferred >> 32 > r->top >> 32 ? inferred >> 32 : r->top >> 32;

	for (uint64_t hi = base + 1; hi <= base + CRYPTO_RESYNC_SPAN && hi <= UINT32_MAX; hi++) {
		uint64_t seq = hi << 32 | (uint32_t)inferred;

		memcpy(op->data, rs->copy, op->len);
		crypto_esp_aad(op, spi, seq, true);
		e->ops->run(e->priv, op, 1);
		if (op->ok)
			return seq;
	}
	return 0;
}

/* The final ICV verdict of every inbound packet of the SA; armed: it held the copy. */
void crypto_resync_note(struct crypto_resync *rs, bool armed, bool verified)
{
	if (armed)
		rs->busy = false;
	if (verified)
		rs->fails = 0;
	else if (rs->fails < UINT32_MAX)
		rs->fails++;
}

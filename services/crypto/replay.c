/* Inbound anti-replay window and extended sequence number inference (RFC 4303 3.4.3, A2). */
#include <errno.h>
#include <stdlib.h>

#include "crypto.h"

/*
 * The bitmap is a ring of 64-bit words indexed by seq / 64 (RFC 6479): advancing the window
 * clears whole words instead of shifting, so a packet far ahead costs at most one pass over
 * the ring. One spare word beyond W keeps the W numbers below top intact while the word that
 * holds top is only partly used.
 */
int crypto_replay_init(struct crypto_replay *r, uint32_t window)
{
	uint32_t words = 1;

	if (window < 32 || (window & (window - 1)))
		return -EINVAL;
	while (words < (window + 63) / 64 + 1)
		words <<= 1;
	r->bits = calloc(words, sizeof(*r->bits));
	if (!r->bits)
		return -ENOMEM;
	r->top = 0;
	r->window = window;
	r->mask = words - 1;
	return 0;
}

void crypto_replay_fini(struct crypto_replay *r)
{
	free(r->bits);
	r->bits = NULL;
}

/*
 * RFC 4303 A2.2: place the received low 32 bits in the subspace that keeps the number
 * closest to the window. Returns 0 (never a valid ESP number) when it can only lie before
 * the first subspace or after the last.
 */
static uint64_t infer_hi(const struct crypto_replay *r, uint32_t seq_lo)
{
	uint32_t tl = (uint32_t)r->top, th = (uint32_t)(r->top >> 32);
	uint32_t bottom = tl - r->window + 1; /* wraps when the window spans two subspaces */
	uint32_t hi = th;

	if (tl >= r->window - 1) {
		if (seq_lo < bottom) {
			if (th == UINT32_MAX)
				return 0;
			hi = th + 1;
		}
	} else if (seq_lo >= bottom) {
		if (th == 0)
			return 0;
		hi = th - 1;
	}
	return (uint64_t)hi << 32 | seq_lo;
}

uint64_t crypto_replay_infer(const struct crypto_replay *r, uint32_t seq_lo, bool esn)
{
	return esn ? infer_hi(r, seq_lo) : seq_lo;
}

static uint64_t *word_of(const struct crypto_replay *r, uint64_t seq)
{
	return &r->bits[(seq >> 6) & r->mask];
}

/* The duplicate check, done before the ICV is verified; it changes nothing. */
enum crypto_replay_result crypto_replay_check(const struct crypto_replay *r, uint64_t seq)
{
	if (seq == 0)
		return CRYPTO_REPLAY_OLD;
	if (seq > r->top)
		return CRYPTO_REPLAY_OK;
	if (r->top - seq >= r->window)
		return CRYPTO_REPLAY_OLD;
	if (*word_of(r, seq) & (1ull << (seq & 63)))
		return CRYPTO_REPLAY_DUP;
	return CRYPTO_REPLAY_OK;
}

static void slide(struct crypto_replay *r, uint64_t seq)
{
	uint64_t from = r->top >> 6, to = seq >> 6, n = to - from;

	if (n > (uint64_t)r->mask + 1)
		n = (uint64_t)r->mask + 1;
	for (uint64_t i = 1; i <= n; i++)
		r->bits[(from + i) & r->mask] = 0;
	r->top = seq;
}

/*
 * Only after the ICV verified: check again (a burst may carry the same number twice, both
 * passing the early check) and mark the number as seen, moving the window if it is ahead.
 */
enum crypto_replay_result crypto_replay_advance(struct crypto_replay *r, uint64_t seq)
{
	enum crypto_replay_result res = crypto_replay_check(r, seq);

	if (res != CRYPTO_REPLAY_OK)
		return res;
	if (seq > r->top)
		slide(r, seq);
	*word_of(r, seq) |= 1ull << (seq & 63);
	return CRYPTO_REPLAY_OK;
}

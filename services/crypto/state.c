/* Inbound anti-replay windows handed from a replaced instance to its successor (reload, upgrade). */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/*
 * Without the handoff a reload would open every inbound window at zero and accept, once more,
 * any packet an attacker recorded in the last window. The daemon calls save on the old
 * instance and restore on the new one with the worker paused, so the window is exact.
 * A record is the window of one SA, matched by SPI, local address and key fingerprint:
 * a re-keyed SA starts afresh, as it must.
 */
struct rec_hdr {
	uint32_t spi;
	uint32_t window;
	uint32_t nwords;
	uint32_t pad;
	uint64_t top;
	uint8_t local[16];
	uint8_t key_id[CRYPTO_KEY_ID_LEN];
};

#define STATE_MAGIC 0x4e435257u /* "NCRW" */

static size_t rec_size(const struct crypto_sa *sa)
{
	return sizeof(struct rec_hdr) + ((size_t)sa->replay.mask + 1) * sizeof(uint64_t);
}

int crypto_save_state(void *inst, void **blob, size_t *len)
{
	struct crypto_inst *ci = inst;
	size_t total = 2 * sizeof(uint32_t), off;
	uint32_t head[2] = { STATE_MAGIC, 0 };
	uint8_t *b;

	for (unsigned i = 0; i < ci->nsas; i++)
		if (!ci->sas[i]->out)
			total += rec_size(ci->sas[i]);
	b = calloc(1, total);
	if (!b)
		return -1;
	off = sizeof(head);
	for (unsigned i = 0; i < ci->nsas; i++) {
		const struct crypto_sa *sa = ci->sas[i];
		struct rec_hdr h = { .spi = sa->spi,
				     .window = sa->replay.window,
				     .nwords = sa->replay.mask + 1,
				     .top = sa->replay.top };

		if (sa->out)
			continue;
		memcpy(h.local, sa->local, 16);
		memcpy(h.key_id, sa->key_id, CRYPTO_KEY_ID_LEN);
		memcpy(b + off, &h, sizeof(h));
		memcpy(b + off + sizeof(h), sa->replay.bits, h.nwords * sizeof(uint64_t));
		off += rec_size(sa);
		head[1]++;
	}
	memcpy(b, head, sizeof(head));
	*blob = b;
	*len = total;
	return 0;
}

static struct crypto_sa *find_in(struct crypto_inst *ci, const struct rec_hdr *h)
{
	for (unsigned i = 0; i < ci->nsas; i++) {
		struct crypto_sa *sa = ci->sas[i];

		if (!sa->out && sa->spi == h->spi && !memcmp(sa->local, h->local, 16) &&
		    !memcmp(sa->key_id, h->key_id, CRYPTO_KEY_ID_LEN))
			return sa;
	}
	return NULL;
}

/* Same geometry: the exact bitmap. Otherwise the top, with everything below it seen. */
static void adopt(struct crypto_sa *sa, const struct rec_hdr *h, const uint8_t *words)
{
	struct crypto_replay *r = &sa->replay;

	r->top = h->top;
	if (h->nwords == r->mask + 1 && h->window == r->window)
		memcpy(r->bits, words, h->nwords * sizeof(uint64_t));
	else
		memset(r->bits, 0xff, ((size_t)r->mask + 1) * sizeof(uint64_t));
}

/* Walks the records; adopts them only when apply is set, so a broken blob changes nothing. */
static int walk(struct crypto_inst *ci, const uint8_t *b, size_t len, bool apply)
{
	uint32_t magic, n;
	size_t off = 2 * sizeof(uint32_t);

	if (len < off)
		return -1;
	memcpy(&magic, b, sizeof(magic));
	memcpy(&n, b + sizeof(magic), sizeof(n));
	if (magic != STATE_MAGIC)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		struct rec_hdr h;
		struct crypto_sa *sa;

		if (len - off < sizeof(h))
			return -1;
		memcpy(&h, b + off, sizeof(h));
		off += sizeof(h);
		if (h.nwords > (len - off) / sizeof(uint64_t))
			return -1;
		sa = apply ? find_in(ci, &h) : NULL;
		if (sa)
			adopt(sa, &h, b + off);
		off += (size_t)h.nwords * sizeof(uint64_t);
	}
	return off == len ? 0 : -1;
}

int crypto_restore_state(void *inst, const void *blob, size_t len)
{
	if (walk(inst, blob, len, false) < 0)
		return -1;
	return walk(inst, blob, len, true);
}

/* Inbound ESP whose kernel SA netiod has not seen yet: held briefly instead of dropped. */
#include "crypto.h"

/*
 * The IKE daemon installs a new inbound SA in the kernel, and the peer may send on it as soon
 * as the exchange ends (strongSwan's initiator of a rekey does). The kernel has the SA then;
 * netiod's thread learns it over netlink a moment later. A packet arriving in between is held
 * (at most CRYPTO_HOLD_MAX packets, each at most CRYPTO_HOLD_NS) and decapsulated by
 * dequeue() once the worker's view has its SA; one still unknown after that is dropped as
 * no-sa, as it would have been at once. Only for sa-source kernel: configured SAs never come
 * later.
 */

#define CRYPTO_HOLD_NS	    (200ull * 1000 * 1000) /* longer than the thread ever takes */
#define CRYPTO_HOLD_POLL_NS (1000ull * 1000)	   /* how often dequeue() looks again */

bool crypto_hold_put(struct crypto_inst *ci, struct nio_pkt *p)
{
	struct crypto_hold *h = &ci->hold;

	if (h->n == CRYPTO_HOLD_MAX)
		return false;
	h->p[h->n] = p;
	h->t[h->n] = ci->host->now_ns();
	h->n++;
	return true;
}

static void drop(struct crypto_inst *ci, struct nio_pkt *p)
{
	crypto_count(ci, NULL, CRYPTO_C_NO_SA, 1);
	ci->host->pkt_free(p);
}

/* Queue the decapsulation of held packets whose SA is known now; keep the others. */
static unsigned retry(struct crypto_inst *ci, uint64_t now, struct nio_pkt **ps, unsigned max)
{
	struct crypto_hold *h = &ci->hold;
	unsigned nops = 0, keep = 0;

	for (unsigned i = 0; i < h->n; i++) {
		struct nio_pkt *p = h->p[i];
		bool ours;
		enum crypto_counter why;
		struct crypto_sa *sa = nops < max ? crypto_sa_lookup_in(ci, p, &ours, &why) : NULL;

		if (sa && crypto_esp_decap_prep(ci, sa, p, &ci->ops[nops], &ci->pctx[nops]) ==
				  CRYPTO_PREP_OP)
			ps[nops++] = p;
		else if (sa) /* counted by the preparation */
			ci->host->pkt_free(p);
		else if (now - h->t[i] >= CRYPTO_HOLD_NS)
			drop(ci, p);
		else {
			h->p[keep] = p;
			h->t[keep++] = h->t[i];
		}
	}
	h->n = keep;
	return nops;
}

uint16_t crypto_hold_release(struct crypto_inst *ci, uint64_t now, struct nio_pkt **out,
			     uint16_t max, uint64_t *next_ns)
{
	struct nio_pkt *ps[CRYPTO_HOLD_MAX];
	unsigned nops;
	uint16_t n = 0;

	*next_ns = 0;
	if (!ci->hold.n)
		return 0;
	crypto_ksrc_enter(ci);
	nops = retry(ci, now, ps, max < CRYPTO_HOLD_MAX ? max : CRYPTO_HOLD_MAX);
	if (nops)
		ci->engine.ops->run(ci->engine.priv, ci->ops, nops);
	for (unsigned j = 0; j < nops; j++) {
		if (crypto_esp_decap_finish(ci, ps[j], &ci->ops[j], &ci->pctx[j]) == 0)
			out[n++] = ps[j];
		else
			ci->host->pkt_free(ps[j]);
	}
	if (ci->hold.n)
		*next_ns = now + CRYPTO_HOLD_POLL_NS;
	return n;
}

void crypto_hold_flush(struct crypto_inst *ci)
{
	for (unsigned i = 0; i < ci->hold.n; i++)
		ci->host->pkt_free(ci->hold.p[i]);
	ci->hold.n = 0;
}

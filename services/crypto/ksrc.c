/* The kernel SA source: mirror the kernel's XFRM SAs and policies of one tunnel for the worker. */
#include <errno.h>
#include <linux/xfrm.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypto.h"

/*
 * An IKE daemon (strongSwan's charon, libreswan, or `ip xfrm`) installs SAs and policies into
 * the kernel as usual; this thread follows them over netlink (xfrm_nl.c) for the tunnel
 * between the configured local and remote addresses: an ESP tunnel-mode SA from local to
 * remote is outbound, one from remote to local inbound; a policy counts when its template is
 * ESP in tunnel mode between the two. The kernel never sees the claimed traffic, so netiod
 * does what it would:
 *  - outbound: the packet's first matching `out` policy (best priority) names a reqid, and
 *    may name an SPI; of the outbound SAs it takes, the newest that is not dying (soft-expired)
 *    is used, as the kernel's xfrm_state_find prefers. strongSwan's responder to a rekey
 *    installs the new outbound SA at once but leaves the policy's template on the old SPI
 *    until the initiator deletes the old pair (the peer may not have the new inbound SA yet),
 *    then updates the policy: traffic moves when the policy says so. Without an SPI in the
 *    template a new SA is used as soon as it is installed. No policy or no SA: no-sa.
 *  - inbound: by SPI and destination; the old SA of a rekey keeps decrypting until the daemon
 *    deletes it. The inner packet must match an `in` or `fwd` policy whose template names the
 *    SA's reqid (policy-drops otherwise).
 *  - a deleted or hard-expired SA is gone from the next view: the worker takes that view
 *    before its next packet, so nothing more is encrypted or accepted with it.
 * Sequence numbers keep seq.c's guarantee: each outbound SA reserves blocks in a state file
 * named after its key, so a restarted netiod continues above its last reservation. The
 * kernel's own sequence counter for the SA is not used (the kernel sends nothing with it).
 *
 * Views are immutable: the thread builds a new one on each change and publishes it; an SA or
 * view that left is freed once the worker has taken a newer view (it acknowledges the
 * generation it runs with), so the worker never waits and never reads freed memory.
 */

#define XFRM_PROTO_ESP 50
#define ESPINUDP       2 /* UDP_ENCAP_ESPINUDP (linux/udp.h): RFC 3948 */

static void ks_log(const struct crypto_ksrc *ks, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ks_log(const struct crypto_ksrc *ks, int prio, const char *fmt, ...)
{
	const struct nio_host *h = ks->ci->host;
	char msg[256];
	va_list ap;

	if (!h->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->log(prio, "crypto %s: %s", h->instance ? h->instance : "", msg);
}

/* Is the SA one of our tunnel's? *out: it goes from local to remote. */
static bool sa_ours(const struct crypto_ksrc *ks, const struct crypto_xfrm_sa *x, bool *out)
{
	if (x->proto != XFRM_PROTO_ESP || x->family != ks->family)
		return false;
	*out = !memcmp(x->src, ks->local, 16) && !memcmp(x->dst, ks->remote, 16);
	return *out || (!memcmp(x->src, ks->remote, 16) && !memcmp(x->dst, ks->local, 16));
}

static int sa_find(const struct crypto_ksrc *ks, uint32_t spi, const uint8_t dst[16])
{
	for (unsigned i = 0; i < ks->nsas; i++) {
		const struct crypto_sa *sa = ks->sas[i];

		if (sa->spi == spi && !memcmp(sa->out ? sa->remote : sa->local, dst, 16))
			return (int)i;
	}
	return -1;
}

/* A window of the kernel's size, rounded up to what replay.c takes (a power of two). */
static uint32_t window_of(uint32_t w)
{
	uint32_t r = 32;

	while (r < w && r < 65536)
		r <<= 1;
	return r;
}

/* NAT-T: ESP in UDP as RFC 3948 has it, over IPv4, whose UDP checksum 0 means none (IPv6
 * would need a real one, RFC 6935); the ports are the SA's: charon floats them with NAT. */
static int sa_encap(const struct crypto_xfrm_sa *x, struct crypto_sa *sa, const char **why)
{
	if (!x->encap)
		return 0;
	if (x->encap_bad || x->encap_type != ESPINUDP || !x->encap_sport || !x->encap_dport) {
		*why = "UDP encapsulation other than ESP in UDP (RFC 3948)";
		return -1;
	}
	if (x->family != 4) {
		*why = "UDP-encapsulated over IPv6 (netiod encapsulates in UDP over IPv4 only)";
		return -1;
	}
	sa->encap = true;
	atomic_store_explicit(&sa->encap_ports, (uint32_t)x->encap_sport << 16 | x->encap_dport,
			      memory_order_relaxed);
	return 0;
}

static int sa_fill(struct crypto_ksrc *ks, const struct crypto_xfrm_sa *x, bool out,
		   struct crypto_sa *sa, const char **why)
{
	struct crypto_inst *ci = ks->ci;
	size_t klen;
	char err[256];

	if (x->mode != XFRM_MODE_TUNNEL) {
		*why = "not tunnel mode";
		return -1;
	}
	if (sa_encap(x, sa, why) < 0 || crypto_xfrm_cipher(x, &sa->cipher, why) < 0)
		return -1;
	klen = crypto_cipher_key_len(sa->cipher);
	snprintf(sa->name, sizeof(sa->name), "xfrm-%08x", x->spi);
	sa->kernel = true;
	sa->spi = x->spi;
	sa->reqid = x->reqid;
	sa->out = out;
	sa->esn = x->esn;
	sa->family = x->family;
	memcpy(sa->local, ks->local, 16);
	memcpy(sa->remote, ks->remote, 16);
	if (NIO_HOST_HAS(ci->host, out_mtu))
		sa->out_mtu = ci->host->out_mtu;
	sa->life.soft_bytes = x->soft_bytes;
	sa->life.hard_bytes = x->hard_bytes;
	sa->life.soft_packets = x->soft_packets;
	sa->life.hard_packets = x->hard_packets;
	sa->life.add_time = x->add_time;
	memcpy(sa->salt, x->key + klen, CRYPTO_SALT_LEN);
	*why = "out of memory or state";
	if (crypto_key_id(x->key, x->keylen, sa->key_id) < 0)
		return -1;
	if (!out && (crypto_replay_init(&sa->replay, window_of(x->replay_window)) < 0 ||
		     crypto_resync_init(&sa->resync, sa->esn) < 0))
		return -1;
	sa->key = ci->engine.ops->key_new(ci->engine.priv, sa->cipher, x->key, out);
	if (!sa->key)
		return -1;
	if (out && crypto_seq_open(&sa->seq, ci->host->state_dir, x->key, x->keylen, ks->block,
				   sa->esn, err, sizeof(err)) < 0) {
		*why = "its sequence state cannot be reserved";
		return -1;
	}
	if (out)
		crypto_count(ci, sa, CRYPTO_C_SEQ_RESERVE, 1);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The state file's lock beside it: NAME.seq, NAME.lock */
static void unlink_state(const char *path)
{
	char lock[PATH_MAX];
	size_t n = strlen(path);

	unlink(path);
	if (n > 4 && n - 4 + sizeof(".lock") <= sizeof(lock)) {
		memcpy(lock, path, n - 4);
		memcpy(lock + n - 4, ".lock", sizeof(".lock"));
		unlink(lock);
	}
}

static void grave_drop(struct crypto_ksrc *ks, unsigned i, bool remove)
{
	if (remove)
		unlink_state(ks->grave[i].path);
	memmove(&ks->grave[i], &ks->grave[i + 1], (ks->ngrave - i - 1) * sizeof(ks->grave[0]));
	ks->ngrave--;
}

static void grave_add(struct crypto_ksrc *ks, const struct crypto_sa *sa)
{
	if (ks->ngrave == CRYPTO_MAX_SAS)
		grave_drop(ks, 0, true);
	snprintf(ks->grave[ks->ngrave].path, sizeof(ks->grave[0].path), "%s", sa->seq.path);
	ks->grave[ks->ngrave++].due_ms = now_ms() + CRYPTO_KGRAVE_MS;
}

/* The SA's key came back (deleted and added again): its state file stays. */
static void grave_revive(struct crypto_ksrc *ks, const struct crypto_sa *sa)
{
	for (unsigned i = 0; i < ks->ngrave; i++)
		if (!strcmp(ks->grave[i].path, sa->seq.path)) {
			grave_drop(ks, i, false);
			return;
		}
}

void crypto_ksrc_graves(struct crypto_ksrc *ks, uint64_t now)
{
	while (ks->ngrave && ks->grave[0].due_ms <= now)
		grave_drop(ks, 0, true);
}

/* Out of the table; freed once the worker runs with the view published next. */
static void sa_retire(struct crypto_ksrc *ks, unsigned i, bool gone)
{
	struct crypto_sa *sa = ks->sas[i];

	pthread_mutex_lock(&ks->lock);
	ks->sas[i] = ks->sas[--ks->nsas];
	sa->retire_gen = ks->gen + 1;
	/* the kernel deleted it: unless its key comes back soon, so does its sequence state */
	if (gone && sa->out)
		grave_add(ks, sa);
	sa->retired_next = ks->retired_sas;
	ks->retired_sas = sa;
	pthread_mutex_unlock(&ks->lock);
	ks->changed = true;
}

static void sa_insert(struct crypto_ksrc *ks, struct crypto_sa *sa)
{
	sa->serial = ++ks->serial;
	sa->mark = true;
	pthread_mutex_lock(&ks->lock);
	ks->sas[ks->nsas++] = sa;
	pthread_mutex_unlock(&ks->lock);
	ks->changed = true;
}

/* UPDSA of a NAT-T SA with new ports (the NAT's mapping changed): the worker's next packet
 * takes them (one 32-bit store: never half old, half new). */
static void ports_float(struct crypto_ksrc *ks, struct crypto_sa *sa,
			const struct crypto_xfrm_sa *x)
{
	uint32_t v = (uint32_t)x->encap_sport << 16 | x->encap_dport;

	if (!sa->encap || x->encap_type != ESPINUDP || !x->encap_sport || !x->encap_dport ||
	    v == atomic_load_explicit(&sa->encap_ports, memory_order_relaxed))
		return;
	atomic_store_explicit(&sa->encap_ports, v, memory_order_relaxed);
	ks_log(ks, LOG_INFO, "kernel SA 0x%08x: UDP ports now %u -> %u", sa->spi, x->encap_sport,
	       x->encap_dport);
}

static void sa_add(struct crypto_ksrc *ks, const struct crypto_xfrm_sa *x)
{
	struct crypto_inst *ci = ks->ci;
	struct crypto_sa *sa;
	uint8_t id[CRYPTO_KEY_ID_LEN];
	const char *why = "";
	bool out;
	int i;

	if (!sa_ours(ks, x, &out))
		return;
	i = sa_find(ks, x->spi, x->dst);
	/* an update with the same key keeps the SA, its window and its sequence numbers */
	if (i >= 0 && crypto_key_id(x->key, x->keylen, id) == 0 &&
	    !memcmp(id, ks->sas[i]->key_id, sizeof(id))) {
		ks->sas[i]->mark = true;
		ports_float(ks, ks->sas[i], x);
		return;
	}
	if (i >= 0)
		sa_retire(ks, (unsigned)i, true);
	if (ks->nsas == CRYPTO_MAX_SAS || !(sa = calloc(1, sizeof(*sa)))) {
		crypto_count(ci, NULL, CRYPTO_C_XFRM_SKIPPED, 1);
		ks_log(ks, LOG_WARNING, "kernel SA 0x%08x not followed: table full", x->spi);
		return;
	}
	if (sa_fill(ks, x, out, sa, &why) < 0) {
		crypto_count(ci, NULL, CRYPTO_C_XFRM_SKIPPED, 1);
		ks_log(ks, LOG_WARNING, "kernel SA 0x%08x not followed: %s", x->spi, why);
		crypto_sa_free(ci, sa);
		return;
	}
	if (sa->out)
		grave_revive(ks, sa);
	sa_insert(ks, sa);
	if (sa->encap)
		ks_log(ks, LOG_INFO, "following kernel SA %s 0x%08x (ESP in UDP %u -> %u)",
		       out ? "out" : "in", x->spi, x->encap_sport, x->encap_dport);
	else
		ks_log(ks, LOG_INFO, "following kernel SA %s 0x%08x", out ? "out" : "in", x->spi);
}

static void sa_del(struct crypto_ksrc *ks, const struct crypto_xfrm_sa *x)
{
	int i = x->proto == XFRM_PROTO_ESP ? sa_find(ks, x->spi, x->dst) : -1;

	if (i < 0)
		return;
	ks_log(ks, LOG_INFO, "kernel SA 0x%08x gone", x->spi);
	sa_retire(ks, (unsigned)i, true);
}

/* Soft expiry: a newer SA is preferred; hard expiry: the kernel deleted it (no DELSA follows). */
static void sa_expire(struct crypto_ksrc *ks, const struct crypto_xfrm_sa *x)
{
	int i = x->proto == XFRM_PROTO_ESP ? sa_find(ks, x->spi, x->dst) : -1;

	if (i < 0)
		return;
	if (x->hard) {
		sa_del(ks, x);
		return;
	}
	pthread_mutex_lock(&ks->lock);
	ks->sas[i]->dying = true;
	pthread_mutex_unlock(&ks->lock);
	ks->changed = true;
}

/* A policy counts when its (first) template is ESP in tunnel mode between our addresses. */
static bool pol_ours(const struct crypto_ksrc *ks, const struct crypto_xfrm_pol *p)
{
	const uint8_t *src = p->dir == XFRM_POLICY_OUT ? ks->local : ks->remote;
	const uint8_t *dst = p->dir == XFRM_POLICY_OUT ? ks->remote : ks->local;

	if (!p->main_type || p->dir > XFRM_POLICY_FWD || p->ntmpl == 0)
		return false;
	return p->tmpl[0].proto == XFRM_PROTO_ESP && p->tmpl[0].mode == XFRM_MODE_TUNNEL &&
	       p->tmpl[0].family == ks->family && !memcmp(p->tmpl[0].src, src, 16) &&
	       !memcmp(p->tmpl[0].dst, dst, 16);
}

static int pol_find(const struct crypto_ksrc *ks, uint32_t index, uint8_t dir)
{
	for (unsigned i = 0; i < ks->npol; i++)
		if (ks->pol[i].index == index && ks->pol[i].dir == dir)
			return (int)i;
	return -1;
}

static void pol_remove(struct crypto_ksrc *ks, unsigned i)
{
	ks->npol--;
	ks->pol[i] = ks->pol[ks->npol];
	ks->pol_mark[i] = ks->pol_mark[ks->npol];
	ks->changed = true;
}

static void pol_add(struct crypto_ksrc *ks, const struct crypto_xfrm_pol *p)
{
	int i = pol_find(ks, p->index, p->dir);

	if (!pol_ours(ks, p)) {
		if (i >= 0) /* updated to something else */
			pol_remove(ks, (unsigned)i);
		return;
	}
	if (i < 0 && ks->npol == CRYPTO_KMAX_POL) {
		crypto_count(ks->ci, NULL, CRYPTO_C_XFRM_SKIPPED, 1);
		ks_log(ks, LOG_WARNING, "kernel policy %u not followed: table full", p->index);
		return;
	}
	if (i < 0)
		i = (int)ks->npol++;
	ks->pol[i] = *p;
	ks->pol_mark[i] = true;
	ks->changed = true;
}

static void pol_del(struct crypto_ksrc *ks, const struct crypto_xfrm_pol *p)
{
	int i = pol_find(ks, p->index, p->dir);

	if (i >= 0)
		pol_remove(ks, (unsigned)i);
}

static void flush_sas(struct crypto_ksrc *ks)
{
	while (ks->nsas)
		sa_retire(ks, ks->nsas - 1, true);
}

void crypto_ksrc_apply(struct crypto_ksrc *ks, struct crypto_xfrm_msg *m)
{
	switch (m->kind) {
	case CRYPTO_XFRM_SA_ADD:
		sa_add(ks, &m->sa);
		break;
	case CRYPTO_XFRM_SA_DEL:
		sa_del(ks, &m->sa);
		break;
	case CRYPTO_XFRM_SA_EXPIRE:
		sa_expire(ks, &m->sa);
		break;
	case CRYPTO_XFRM_SA_FLUSH:
		flush_sas(ks);
		break;
	case CRYPTO_XFRM_POL_ADD:
		pol_add(ks, &m->pol);
		break;
	case CRYPTO_XFRM_POL_DEL:
		pol_del(ks, &m->pol);
		break;
	case CRYPTO_XFRM_POL_FLUSH:
		while (ks->npol)
			pol_remove(ks, ks->npol - 1);
		break;
	case CRYPTO_XFRM_BAD:
		crypto_count(ks->ci, NULL, CRYPTO_C_XFRM_BAD, 1);
		break;
	default:
		break;
	}
	OPENSSL_cleanse(m->sa.key, sizeof(m->sa.key));
}

/* Before a resynchronising dump: what the dump does not mention is gone. */
void crypto_ksrc_sweep(struct crypto_ksrc *ks)
{
	for (unsigned i = ks->nsas; i-- > 0;)
		if (!ks->sas[i]->mark)
			sa_retire(ks, i, true);
	for (unsigned i = ks->npol; i-- > 0;)
		if (!ks->pol_mark[i])
			pol_remove(ks, i);
	for (unsigned i = 0; i < ks->nsas; i++)
		ks->sas[i]->mark = false;
	for (unsigned i = 0; i < ks->npol; i++)
		ks->pol_mark[i] = false;
}

/* ---------------------------------------------------------------- views */

/* The kernel's xfrm_state_ok: a template's reqid and SPI, when set, name the SA. */
static bool tmpl_takes(const struct crypto_xfrm_pol *p, const struct crypto_sa *sa)
{
	return (!p->tmpl[0].reqid || p->tmpl[0].reqid == sa->reqid) &&
	       (!p->tmpl[0].spi || p->tmpl[0].spi == sa->spi);
}

/* The kernel's choice (xfrm_state_find): not dying before dying, then the newest. */
static struct crypto_sa *out_sa(const struct crypto_ksrc *ks, const struct crypto_xfrm_pol *p)
{
	struct crypto_sa *best = NULL;

	for (unsigned i = 0; i < ks->nsas; i++) {
		struct crypto_sa *sa = ks->sas[i];

		if (!sa->out || !tmpl_takes(p, sa))
			continue;
		if (!best || (best->dying && !sa->dying) ||
		    (best->dying == sa->dying && sa->serial > best->serial))
			best = sa;
	}
	return best;
}

static int pol_cmp(const void *a, const void *b)
{
	const struct crypto_kpol *x = a, *y = b;

	if (x->p.priority != y->p.priority)
		return x->p.priority < y->p.priority ? -1 : 1;
	return x->p.index < y->p.index ? -1 : x->p.index > y->p.index;
}

static void reap(struct crypto_ksrc *ks)
{
	uint64_t seen = atomic_load_explicit(&ks->seen, memory_order_acquire);
	struct crypto_sa **ps = &ks->retired_sas;
	struct crypto_kview **pv = &ks->retired_views;

	pthread_mutex_lock(&ks->lock);
	while (*ps) {
		struct crypto_sa *sa = *ps;

		if (sa->retire_gen <= seen) {
			*ps = sa->retired_next;
			crypto_sa_free(ks->ci, sa);
		} else {
			ps = &sa->retired_next;
		}
	}
	pthread_mutex_unlock(&ks->lock);
	while (*pv) {
		struct crypto_kview *v = *pv;

		if (v->gen < seen) {
			*pv = v->retired_next;
			free(v);
		} else {
			pv = &v->retired_next;
		}
	}
}

/* Publish the table as a new view if it changed, and free what the worker no longer uses. */
void crypto_ksrc_publish(struct crypto_ksrc *ks)
{
	struct crypto_kview *v, *old;

	if (ks->changed && (v = calloc(1, sizeof(*v)))) {
		v->gen = ++ks->gen;
		v->nsas = ks->nsas;
		memcpy(v->sas, ks->sas, ks->nsas * sizeof(ks->sas[0]));
		v->npol = ks->npol;
		for (unsigned i = 0; i < ks->npol; i++) {
			v->pol[i].p = ks->pol[i];
			if (ks->pol[i].dir == XFRM_POLICY_OUT)
				v->pol[i].sa = out_sa(ks, &ks->pol[i]);
		}
		qsort(v->pol, v->npol, sizeof(v->pol[0]), pol_cmp);
		/* pairs with the acquire in crypto_ksrc_enter: the view is complete before seen */
		old = atomic_exchange_explicit(&ks->cur, v, memory_order_acq_rel);
		if (old) {
			old->retired_next = ks->retired_views;
			ks->retired_views = old;
		}
		ks->changed = false;
	}
	reap(ks);
}

/* Worker, at the start of a burst: take the newest view and say so. */
void crypto_ksrc_enter(struct crypto_inst *ci)
{
	const struct crypto_kview *v = atomic_load_explicit(&ci->ks->cur, memory_order_acquire);

	if (v == ci->kv)
		return;
	ci->kv = v;
	ci->nsas = v->nsas;
	memcpy(ci->sas, v->sas, v->nsas * sizeof(v->sas[0]));
	/* pairs with the acquire in reap: the old view and SAs are no longer used after this */
	atomic_store_explicit(&ci->ks->seen, v->gen, memory_order_release);
}

struct crypto_sa *crypto_ksrc_select_out(const struct crypto_kview *v, const struct nio_pkt *p)
{
	for (unsigned i = 0; i < v->npol; i++)
		if (v->pol[i].p.dir == XFRM_POLICY_OUT &&
		    crypto_xfrm_sel_match(&v->pol[i].p.sel, &p->key))
			return v->pol[i].p.action == XFRM_POLICY_ALLOW ? v->pol[i].sa : NULL;
	return NULL;
}

bool crypto_ksrc_in_allowed(const struct crypto_kview *v, const struct crypto_sa *sa,
			    const struct nio_flow_key *inner)
{
	for (unsigned i = 0; i < v->npol; i++) {
		const struct crypto_xfrm_pol *p = &v->pol[i].p;

		if ((p->dir == XFRM_POLICY_IN || p->dir == XFRM_POLICY_FWD) &&
		    p->action == XFRM_POLICY_ALLOW && tmpl_takes(p, sa) &&
		    crypto_xfrm_sel_match(&p->sel, inner))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- thread and lifecycle */

static bool reached(uint64_t used, uint64_t limit)
{
	return limit && used >= limit;
}

/*
 * What the kernel would have counted and decided itself: the SA's counters (so `ip -s xfrm
 * state` and the IKE daemon see the traffic), then a soft EXPIRE (the daemon rekeys) and a
 * hard one (the kernel deletes the SA) once netiod's counts pass the SA's limits.
 */
static void lifetimes(struct crypto_ksrc *ks)
{
	pthread_mutex_lock(&ks->lock); /* show() reads what is sent */
	for (unsigned i = 0; i < ks->nsas; i++) {
		struct crypto_sa *sa = ks->sas[i];
		struct crypto_klife *l = &sa->life;
		uint64_t b, p;

		crypto_ksa_usage(sa, &b, &p);
		if ((b != l->pushed_bytes || p != l->pushed_packets) &&
		    crypto_xfrm_push_usage(ks, sa, b, p) == 0) {
			l->pushed_bytes = b;
			l->pushed_packets = p;
		}
		if (!l->soft_sent && (reached(b, l->soft_bytes) || reached(p, l->soft_packets))) {
			l->soft_sent = crypto_xfrm_expire(ks, sa, false) == 0;
			if (l->soft_sent)
				ks_log(ks, LOG_INFO,
				       "kernel SA 0x%08x: soft lifetime reached "
				       "(%llu bytes, %llu packets)",
				       sa->spi, (unsigned long long)b, (unsigned long long)p);
		}
		if (!l->hard_sent && (reached(b, l->hard_bytes) || reached(p, l->hard_packets)))
			l->hard_sent = crypto_xfrm_expire(ks, sa, true) == 0;
	}
	pthread_mutex_unlock(&ks->lock);
}

static void *ksrc_main(void *arg)
{
	struct crypto_ksrc *ks = arg;
	struct pollfd pfd[2] = { { .fd = ks->ev_fd, .events = POLLIN },
				 { .fd = ks->stop_fd, .events = POLLIN } };
	uint64_t last = now_ms();

	for (;;) {
		/* at least every 200 ms: lifetimes, and retired SAs freed even without events */
		int n = poll(pfd, 2, 200);

		if (n > 0 && pfd[1].revents)
			break;
		if (n > 0 && pfd[0].revents && crypto_xfrm_events(ks) < 0)
			ks->resync = true;
		if (ks->resync && crypto_xfrm_dump_all(ks) == 0) {
			ks->resync = false;
			crypto_count(ks->ci, NULL, CRYPTO_C_XFRM_RESYNC, 1);
		}
		if (now_ms() - last >= 200) {
			lifetimes(ks);
			crypto_ksrc_graves(ks, now_ms());
			last = now_ms();
		}
		crypto_ksrc_publish(ks);
	}
	return NULL;
}

int crypto_ksrc_open(struct crypto_inst *ci, const struct nio_conf *conf, char *err, size_t errlen)
{
	const struct nio_host *h = ci->host;
	struct crypto_ksrc *ks;
	uint8_t fr;

	ks = calloc(1, sizeof(*ks));
	if (!ks) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ci->ks = ks;
	ks->ci = ci;
	ks->ev_fd = ks->req_fd = ks->stop_fd = -1;
	ks->block = (uint64_t)h->conf_int(conf, "seq-block");
	pthread_mutex_init(&ks->lock, NULL);
	if (!h->conf_str(conf, "local") || !h->conf_str(conf, "remote") ||
	    crypto_addr_parse(h->conf_str(conf, "local"), ks->local, &ks->family) < 0 ||
	    crypto_addr_parse(h->conf_str(conf, "remote"), ks->remote, &fr) < 0 ||
	    fr != ks->family) {
		snprintf(err, errlen,
			 "sa-source kernel needs local and remote addresses of one "
			 "family");
		return -1;
	}
	if (h->check_only)
		return 0;
	if (crypto_xfrm_open(ks, err, errlen) < 0)
		return -1;
	if (crypto_xfrm_dump_all(ks) < 0) {
		snprintf(err, errlen, "cannot read the kernel's XFRM SAs and policies: %s",
			 strerror(errno));
		return -1;
	}
	ks->changed = true;
	crypto_ksrc_publish(ks);
	if (!atomic_load(&ks->cur)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	crypto_ksrc_enter(ci);
	return 0;
}

int crypto_ksrc_start(struct crypto_ksrc *ks, char *err, size_t errlen)
{
	if (ks->ci->host->check_only)
		return 0;
	if (pthread_create(&ks->thread, NULL, ksrc_main, ks) != 0) {
		snprintf(err, errlen, "cannot start the XFRM thread");
		return -1;
	}
	ks->started = true;
	return 0;
}

void crypto_ksrc_close(struct crypto_ksrc *ks)
{
	struct crypto_kview *v;

	if (ks->started) {
		uint64_t one = 1;

		if (write(ks->stop_fd, &one, sizeof(one)) < 0)
			abort(); /* an eventfd write cannot fail here; a hang would be worse */
		pthread_join(ks->thread, NULL);
	}
	crypto_xfrm_close(ks);
	/* what is still in the grave stays on disk: its key may come back to a later netiod */
	/* no worker runs the instance any more: everything goes */
	atomic_store(&ks->seen, UINT64_MAX);
	while (ks->nsas) {
		struct crypto_sa *sa = ks->sas[--ks->nsas];

		crypto_sa_free(ks->ci, sa);
	}
	reap(ks);
	v = atomic_load(&ks->cur);
	free(v);
	pthread_mutex_destroy(&ks->lock);
	free(ks);
}

/* XFRM netlink messages (SAs, policies, expiry) turned into what the kernel SA source needs. */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <string.h>

#include "crypto.h"

/*
 * Every length comes from the message and is checked before the bytes behind it are read:
 * nlmsg_len against the buffer, each attribute's nla_len against the message, each fixed
 * structure against what its header says is there. Structures are copied out with memcpy
 * (netlink only promises 4-byte alignment). Key material is wiped from the copies here; the
 * caller wipes its crypto_xfrm_msg once the key went to the engine.
 */

#define NLA_ALIGN_(n) (((n) + 3u) & ~3u)

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* xfrm_address_t of a family into netio's 16-byte form; -1 for a family netio does not do */
static int addr_in(uint8_t out[16], const xfrm_address_t *a, uint16_t family, uint8_t *fam)
{
	if (family == AF_INET) {
		memcpy(out, v4mapped, 12);
		memcpy(out + 12, &a->a4, 4);
		*fam = 4;
		return 0;
	}
	if (family == AF_INET6) {
		memcpy(out, a->a6, 16);
		*fam = 6;
		return 0;
	}
	return -1;
}

static int sel_in(struct crypto_xfrm_sel *s, const struct xfrm_selector *k)
{
	unsigned max;

	memset(s, 0, sizeof(*s));
	if (k->family == AF_UNSPEC)
		return 0; /* any address of any family */
	if (addr_in(s->src.addr, &k->saddr, k->family, &s->family) < 0 ||
	    addr_in(s->dst.addr, &k->daddr, k->family, &s->family) < 0)
		return -1;
	max = s->family == 4 ? 32 : 128;
	if (k->prefixlen_s > max || k->prefixlen_d > max)
		return -1;
	s->src.len = (uint8_t)(s->family == 4 ? 96 + k->prefixlen_s : k->prefixlen_s);
	s->dst.len = (uint8_t)(s->family == 4 ? 96 + k->prefixlen_d : k->prefixlen_d);
	s->proto = k->proto;
	s->sport = ntohs(k->sport);
	s->sport_mask = ntohs(k->sport_mask);
	s->dport = ntohs(k->dport);
	s->dport_mask = ntohs(k->dport_mask);
	return 0;
}

static bool pfx_has(const struct crypto_prefix *pf, const uint8_t addr[16])
{
	return crypto_prefix_match(pf, 1, addr);
}

bool crypto_xfrm_sel_match(const struct crypto_xfrm_sel *s, const struct nio_flow_key *k)
{
	if (!s->family)
		return true;
	if (s->family != k->family || !pfx_has(&s->src, k->src) || !pfx_has(&s->dst, k->dst))
		return false;
	if (s->proto && s->proto != k->proto)
		return false;
	return !((k->sport ^ s->sport) & s->sport_mask) && !((k->dport ^ s->dport) & s->dport_mask);
}

/* The attribute of type t inside [a, a + len), or NULL; *alen is its payload length. */
static const uint8_t *attr_find(const uint8_t *a, size_t len, uint16_t t, size_t *alen)
{
	while (len >= sizeof(struct nlattr)) {
		struct nlattr h;

		memcpy(&h, a, sizeof(h));
		if (h.nla_len < sizeof(h) || h.nla_len > len)
			return NULL;
		if ((h.nla_type & NLA_TYPE_MASK) == t) {
			*alen = h.nla_len - sizeof(h);
			return a + sizeof(h);
		}
		if (NLA_ALIGN_(h.nla_len) >= len)
			return NULL;
		a += NLA_ALIGN_(h.nla_len);
		len -= NLA_ALIGN_(h.nla_len);
	}
	return NULL;
}

static void sa_aead(struct crypto_xfrm_sa *sa, const uint8_t *a, size_t len)
{
	struct xfrm_algo_aead h;
	size_t key_bytes;

	if (len < sizeof(h))
		return;
	memcpy(&h, a, sizeof(h));
	key_bytes = (h.alg_key_len + 7u) / 8u;
	if (key_bytes > len - sizeof(h) || key_bytes > sizeof(sa->key))
		return; /* has_aead stays false: no SA netiod can run */
	sa->has_aead = true;
	memcpy(sa->alg, h.alg_name, sizeof(sa->alg) - 1);
	sa->alg[sizeof(sa->alg) - 1] = '\0';
	sa->icv_bits = h.alg_icv_len;
	sa->keylen = key_bytes;
	memcpy(sa->key, a + sizeof(h), key_bytes);
}

/* The ESN window, when XFRMA_REPLAY_ESN_VAL is there: it replaces the 8-bit field. */
static void sa_esn_window(struct crypto_xfrm_sa *sa, const uint8_t *a, size_t len)
{
	struct xfrm_replay_state_esn r;

	if (len < sizeof(r))
		return;
	memcpy(&r, a, sizeof(r));
	sa->replay_window = r.replay_window;
}

/* XFRMA_ENCAP: the UDP ports of a NAT-T SA (encap_oa, for transport mode, is not used) */
static void sa_encap(struct crypto_xfrm_sa *sa, const uint8_t *a, size_t len)
{
	struct xfrm_encap_tmpl e;

	sa->encap = true;
	if (len < sizeof(e)) {
		sa->encap_bad = true;
		return;
	}
	memcpy(&e, a, sizeof(e));
	sa->encap_type = e.encap_type;
	sa->encap_sport = ntohs(e.encap_sport);
	sa->encap_dport = ntohs(e.encap_dport);
}

static void sa_attrs(struct crypto_xfrm_sa *sa, const uint8_t *a, size_t len)
{
	const uint8_t *v;
	size_t vlen;

	if ((v = attr_find(a, len, XFRMA_ALG_AEAD, &vlen)))
		sa_aead(sa, v, vlen);
	sa->other_alg = attr_find(a, len, XFRMA_ALG_CRYPT, &vlen) ||
			attr_find(a, len, XFRMA_ALG_AUTH, &vlen) ||
			attr_find(a, len, XFRMA_ALG_AUTH_TRUNC, &vlen) ||
			attr_find(a, len, XFRMA_ALG_COMP, &vlen);
	if ((v = attr_find(a, len, XFRMA_ENCAP, &vlen)))
		sa_encap(sa, v, vlen);
	if ((v = attr_find(a, len, XFRMA_REPLAY_ESN_VAL, &vlen)))
		sa_esn_window(sa, v, vlen);
}

static int sa_info(struct crypto_xfrm_sa *sa, const struct xfrm_usersa_info *u)
{
	uint8_t fs, fd;

	if (addr_in(sa->src, &u->saddr, u->family, &fs) < 0 ||
	    addr_in(sa->dst, &u->id.daddr, u->family, &fd) < 0)
		return -1;
	sa->family = fs;
	sa->spi = ntohl(u->id.spi);
	sa->proto = u->id.proto;
	sa->reqid = u->reqid;
	sa->mode = u->mode;
	sa->esn = u->flags & XFRM_STATE_ESN;
	sa->replay_window = u->replay_window;
	sa->soft_bytes = u->lft.soft_byte_limit == XFRM_INF ? 0 : u->lft.soft_byte_limit;
	sa->hard_bytes = u->lft.hard_byte_limit == XFRM_INF ? 0 : u->lft.hard_byte_limit;
	sa->soft_packets = u->lft.soft_packet_limit == XFRM_INF ? 0 : u->lft.soft_packet_limit;
	sa->hard_packets = u->lft.hard_packet_limit == XFRM_INF ? 0 : u->lft.hard_packet_limit;
	sa->add_time = u->curlft.add_time;
	return 0;
}

/* NEWSA / UPDSA: xfrm_usersa_info, then attributes */
static enum crypto_xfrm_kind msg_sa(struct crypto_xfrm_sa *sa, const uint8_t *p, size_t len)
{
	struct xfrm_usersa_info u;

	if (len < sizeof(u))
		return CRYPTO_XFRM_BAD;
	memcpy(&u, p, sizeof(u));
	if (sa_info(sa, &u) < 0)
		return CRYPTO_XFRM_IGNORE; /* not IPv4/IPv6 */
	sa_attrs(sa, p + NLA_ALIGN_(sizeof(u)),
		 len > NLA_ALIGN_(sizeof(u)) ? len - NLA_ALIGN_(sizeof(u)) : 0);
	return CRYPTO_XFRM_SA_ADD;
}

/* DELSA: xfrm_usersa_id (the notification adds XFRMA_SA, not needed) */
static enum crypto_xfrm_kind msg_sa_del(struct crypto_xfrm_sa *sa, const uint8_t *p, size_t len)
{
	struct xfrm_usersa_id id;
	uint8_t fam;

	if (len < sizeof(id))
		return CRYPTO_XFRM_BAD;
	memcpy(&id, p, sizeof(id));
	if (addr_in(sa->dst, &id.daddr, id.family, &fam) < 0)
		return CRYPTO_XFRM_IGNORE;
	sa->family = fam;
	sa->spi = ntohl(id.spi);
	sa->proto = id.proto;
	return CRYPTO_XFRM_SA_DEL;
}

static enum crypto_xfrm_kind msg_expire(struct crypto_xfrm_sa *sa, const uint8_t *p, size_t len)
{
	struct xfrm_user_expire e;

	if (len < sizeof(e))
		return CRYPTO_XFRM_BAD;
	memcpy(&e, p, sizeof(e));
	if (sa_info(sa, &e.state) < 0)
		return CRYPTO_XFRM_IGNORE;
	sa->hard = e.hard != 0;
	return CRYPTO_XFRM_SA_EXPIRE;
}

static int pol_tmpls(struct crypto_xfrm_pol *pol, const uint8_t *a, size_t len)
{
	size_t n = len / sizeof(struct xfrm_user_tmpl);

	if (len % sizeof(struct xfrm_user_tmpl) || n > CRYPTO_XFRM_MAX_TMPL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct xfrm_user_tmpl t;

		memcpy(&t, a + i * sizeof(t), sizeof(t));
		if (addr_in(pol->tmpl[i].src, &t.saddr, t.family, &pol->tmpl[i].family) < 0 ||
		    addr_in(pol->tmpl[i].dst, &t.id.daddr, t.family, &pol->tmpl[i].family) < 0)
			return -1;
		pol->tmpl[i].reqid = t.reqid;
		pol->tmpl[i].spi = ntohl(t.id.spi);
		pol->tmpl[i].proto = t.id.proto;
		pol->tmpl[i].mode = t.mode;
	}
	pol->ntmpl = (unsigned)n;
	return 0;
}

static int pol_info(struct crypto_xfrm_pol *pol, const struct xfrm_userpolicy_info *u)
{
	if (sel_in(&pol->sel, &u->sel) < 0)
		return -1;
	pol->index = u->index;
	pol->priority = u->priority;
	pol->dir = u->dir;
	pol->action = u->action;
	return 0;
}

/* Only main-type policies count (a missing XFRMA_POLICY_TYPE means main). */
static void pol_type(struct crypto_xfrm_pol *pol, const uint8_t *a, size_t len)
{
	const uint8_t *v;
	size_t vlen;
	struct xfrm_userpolicy_type t;

	pol->main_type = true;
	if ((v = attr_find(a, len, XFRMA_POLICY_TYPE, &vlen)) && vlen >= sizeof(t)) {
		memcpy(&t, v, sizeof(t));
		pol->main_type = t.type == XFRM_POLICY_TYPE_MAIN;
	}
}

/* NEWPOLICY / UPDPOLICY: xfrm_userpolicy_info, then XFRMA_TMPL and the type */
static enum crypto_xfrm_kind msg_pol(struct crypto_xfrm_pol *pol, const uint8_t *p, size_t len)
{
	struct xfrm_userpolicy_info u;
	const uint8_t *a, *v;
	size_t alen, vlen;

	if (len < sizeof(u))
		return CRYPTO_XFRM_BAD;
	memcpy(&u, p, sizeof(u));
	if (pol_info(pol, &u) < 0)
		return CRYPTO_XFRM_IGNORE;
	a = p + NLA_ALIGN_(sizeof(u));
	alen = len > NLA_ALIGN_(sizeof(u)) ? len - NLA_ALIGN_(sizeof(u)) : 0;
	pol_type(pol, a, alen);
	if ((v = attr_find(a, alen, XFRMA_TMPL, &vlen)) && pol_tmpls(pol, v, vlen) < 0)
		return CRYPTO_XFRM_IGNORE; /* more templates than netiod follows: not its policy */
	return CRYPTO_XFRM_POL_ADD;
}

/* DELPOLICY: xfrm_userpolicy_id; the notification carries the policy (XFRMA_POLICY). */
static enum crypto_xfrm_kind msg_pol_del(struct crypto_xfrm_pol *pol, const uint8_t *p, size_t len)
{
	struct xfrm_userpolicy_id id;
	const uint8_t *a, *v;
	size_t alen, vlen;

	if (len < sizeof(id))
		return CRYPTO_XFRM_BAD;
	memcpy(&id, p, sizeof(id));
	a = p + NLA_ALIGN_(sizeof(id));
	alen = len > NLA_ALIGN_(sizeof(id)) ? len - NLA_ALIGN_(sizeof(id)) : 0;
	pol_type(pol, a, alen);
	v = attr_find(a, alen, XFRMA_POLICY, &vlen);
	if (v && vlen >= sizeof(struct xfrm_userpolicy_info)) {
		struct xfrm_userpolicy_info u;

		memcpy(&u, v, sizeof(u));
		if (pol_info(pol, &u) < 0)
			return CRYPTO_XFRM_IGNORE;
		return CRYPTO_XFRM_POL_DEL;
	}
	if (sel_in(&pol->sel, &id.sel) < 0)
		return CRYPTO_XFRM_IGNORE;
	pol->index = id.index;
	pol->dir = id.dir;
	return CRYPTO_XFRM_POL_DEL;
}

static enum crypto_xfrm_kind msg_error(struct crypto_xfrm_msg *m, const uint8_t *p, size_t len)
{
	struct nlmsgerr e;

	if (len < sizeof(e.error))
		return CRYPTO_XFRM_BAD;
	memcpy(&e.error, p, sizeof(e.error));
	m->err = e.error;
	return CRYPTO_XFRM_ERROR;
}

static enum crypto_xfrm_kind dispatch(struct crypto_xfrm_msg *m, uint16_t type, const uint8_t *p,
				      size_t len)
{
	switch (type) {
	case NLMSG_DONE:
		return CRYPTO_XFRM_DONE;
	case NLMSG_ERROR:
		return msg_error(m, p, len);
	case XFRM_MSG_NEWSA:
	case XFRM_MSG_UPDSA:
		return msg_sa(&m->sa, p, len);
	case XFRM_MSG_DELSA:
		return msg_sa_del(&m->sa, p, len);
	case XFRM_MSG_EXPIRE:
		return msg_expire(&m->sa, p, len);
	case XFRM_MSG_FLUSHSA:
		return CRYPTO_XFRM_SA_FLUSH;
	case XFRM_MSG_NEWPOLICY:
	case XFRM_MSG_UPDPOLICY:
		return msg_pol(&m->pol, p, len);
	case XFRM_MSG_DELPOLICY:
		return msg_pol_del(&m->pol, p, len);
	case XFRM_MSG_FLUSHPOLICY:
		return CRYPTO_XFRM_POL_FLUSH;
	default:
		return CRYPTO_XFRM_IGNORE;
	}
}

size_t crypto_xfrm_parse(const uint8_t *buf, size_t len, struct crypto_xfrm_msg *m)
{
	struct nlmsghdr h;
	size_t body;

	memset(m, 0, sizeof(*m));
	if (len < sizeof(h))
		return 0;
	memcpy(&h, buf, sizeof(h));
	m->seq = h.nlmsg_seq;
	if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len) {
		m->kind = CRYPTO_XFRM_BAD;
		return len; /* the rest of the buffer cannot be framed */
	}
	body = h.nlmsg_len - NLMSG_HDRLEN;
	m->kind = h.nlmsg_len < NLMSG_HDRLEN ? CRYPTO_XFRM_BAD
					     : dispatch(m, h.nlmsg_type, buf + NLMSG_HDRLEN, body);
	return NLMSG_ALIGN(h.nlmsg_len) < len ? NLMSG_ALIGN(h.nlmsg_len) : len;
}

int crypto_xfrm_cipher(const struct crypto_xfrm_sa *sa, enum crypto_cipher *c, const char **why)
{
	if (!sa->has_aead || sa->other_alg) {
		*why = "not an AEAD SA (netiod runs AES-GCM and ChaCha20-Poly1305)";
		return -1;
	}
	if (sa->icv_bits != CRYPTO_ICV_LEN * 8) {
		*why = "ICV is not 128 bits";
		return -1;
	}
	if (!strcmp(sa->alg, "rfc4106(gcm(aes))") && sa->keylen == 16 + CRYPTO_SALT_LEN)
		*c = CRYPTO_AES128_GCM;
	else if (!strcmp(sa->alg, "rfc4106(gcm(aes))") && sa->keylen == 32 + CRYPTO_SALT_LEN)
		*c = CRYPTO_AES256_GCM;
	else if (!strcmp(sa->alg, "rfc7539esp(chacha20,poly1305)") &&
		 sa->keylen == 32 + CRYPTO_SALT_LEN)
		*c = CRYPTO_CHACHA20_POLY1305;
	else {
		*why = "AEAD or key length netiod does not run";
		return -1;
	}
	return 0;
}

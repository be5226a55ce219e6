/*
 * Writes the seed corpus of fuzz_xfrm (corpus/fuzz_xfrm/): XFRM netlink messages as the kernel
 * sends them to the crypto service's kernel SA source, built with linux/xfrm.h's structures.
 * cc -I../../include -o /tmp/xfrm_seeds xfrm_seeds.c && /tmp/xfrm_seeds corpus/fuzz_xfrm
 */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char buf[8192];
static size_t len;

static void *put(const void *p, size_t n)
{
	void *at = buf + len;

	if (p)
		memcpy(at, p, n);
	else
		memset(at, 0, n);
	len += NLMSG_ALIGN(n);
	return at;
}

static struct nlmsghdr *msg(unsigned short type)
{
	struct nlmsghdr *h = put(NULL, sizeof(*h));

	h->nlmsg_type = type;
	h->nlmsg_seq = 7;
	return h;
}

static void end(struct nlmsghdr *h)
{
	h->nlmsg_len = (unsigned)(buf + len - (unsigned char *)h);
}

static void attr(unsigned short type, const void *p, size_t n)
{
	struct nlattr *a = put(NULL, sizeof(*a));

	a->nla_type = type;
	a->nla_len = (unsigned short)(sizeof(*a) + n);
	put(p, n);
}

static void v4(xfrm_address_t *a, const char *s)
{
	inet_pton(AF_INET, s, &a->a4);
}

static void sa(unsigned short type, const char *src, const char *dst, unsigned spi, const char *alg,
	       unsigned keybits, int esn, int encap)
{
	struct nlmsghdr *h = msg(type);
	struct xfrm_usersa_info *u = put(NULL, sizeof(*u));
	unsigned char ab[sizeof(struct xfrm_algo_aead) + 36];
	struct xfrm_algo_aead *a = (struct xfrm_algo_aead *)ab;

	v4(&u->saddr, src);
	v4(&u->id.daddr, dst);
	u->id.spi = htonl(spi);
	u->id.proto = IPPROTO_ESP;
	u->family = AF_INET;
	u->mode = XFRM_MODE_TUNNEL;
	u->reqid = 1;
	u->replay_window = 32;
	u->flags = esn ? XFRM_STATE_ESN : 0;
	u->lft.soft_byte_limit = u->lft.hard_byte_limit = XFRM_INF;
	u->lft.soft_packet_limit = u->lft.hard_packet_limit = XFRM_INF;
	memset(ab, 0x5a, sizeof(ab));
	snprintf(a->alg_name, sizeof(a->alg_name), "%s", alg);
	a->alg_key_len = keybits;
	a->alg_icv_len = 128;
	attr(XFRMA_ALG_AEAD, ab, sizeof(*a) + (keybits + 7) / 8);
	if (esn) {
		struct xfrm_replay_state_esn r = { .bmp_len = 1, .replay_window = 32 };
		unsigned char rb[sizeof(r) + 4] = { 0 };

		memcpy(rb, &r, sizeof(r));
		attr(XFRMA_REPLAY_ESN_VAL, rb, sizeof(rb));
	}
	if (encap) { /* NAT-T: 1 ESP in UDP 4500 -> 4500, 2 the peer's port floated to 4501,
		      * 3 another encapsulation type, 4 an XFRMA_ENCAP cut short */
		struct xfrm_encap_tmpl e = { .encap_type = encap == 3 ? 1 : 2,
					     .encap_sport = htons(4500),
					     .encap_dport = htons(encap == 2 ? 4501 : 4500) };
		attr(XFRMA_ENCAP, &e, encap == 4 ? 4 : sizeof(e));
	}
	end(h);
}

static void pol(unsigned short type, unsigned char dir, const char *s, unsigned char sl,
		const char *d, unsigned char dl, const char *ts, const char *td, unsigned index)
{
	struct nlmsghdr *h = msg(type);
	struct xfrm_userpolicy_info *u = put(NULL, sizeof(*u));
	struct xfrm_user_tmpl t = { 0 };

	v4(&u->sel.saddr, s);
	v4(&u->sel.daddr, d);
	u->sel.prefixlen_s = sl;
	u->sel.prefixlen_d = dl;
	u->sel.family = AF_INET;
	u->dir = dir;
	u->index = index;
	u->priority = 100;
	v4(&t.saddr, ts);
	v4(&t.id.daddr, td);
	t.id.proto = IPPROTO_ESP;
	t.family = AF_INET;
	t.mode = XFRM_MODE_TUNNEL;
	t.reqid = 1;
	attr(XFRMA_TMPL, &t, sizeof(t));
	end(h);
}

static void del_sa(const char *dst, unsigned spi)
{
	struct nlmsghdr *h = msg(XFRM_MSG_DELSA);
	struct xfrm_usersa_id *id = put(NULL, sizeof(*id));

	v4(&id->daddr, dst);
	id->spi = htonl(spi);
	id->family = AF_INET;
	id->proto = IPPROTO_ESP;
	end(h);
}

static void expire(const char *src, const char *dst, unsigned spi, int hard)
{
	struct nlmsghdr *h = msg(XFRM_MSG_EXPIRE);
	struct xfrm_user_expire *e = put(NULL, sizeof(*e));

	v4(&e->state.saddr, src);
	v4(&e->state.id.daddr, dst);
	e->state.id.spi = htonl(spi);
	e->state.id.proto = IPPROTO_ESP;
	e->state.family = AF_INET;
	e->hard = (unsigned char)hard;
	end(h);
}

static void done(void)
{
	struct nlmsghdr *h = msg(NLMSG_DONE);

	put(NULL, sizeof(int));
	end(h);
}

static void write_seed(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		exit(1);
	len = 0;
}

#define GCM    "rfc4106(gcm(aes))"
#define CHACHA "rfc7539esp(chacha20,poly1305)"

int main(int argc, char **argv)
{
	const char *d = argc > 1 ? argv[1] : ".";

	/* a tunnel as charon sets it up: both SAs, out/in/fwd policies, end of dump */
	sa(XFRM_MSG_NEWSA, "203.0.113.1", "203.0.113.9", 0xc0000001, GCM, 160, 0, 0);
	sa(XFRM_MSG_NEWSA, "203.0.113.9", "203.0.113.1", 0xc0000002, GCM, 160, 0, 0);
	pol(XFRM_MSG_NEWPOLICY, XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25,
	    "203.0.113.1", "203.0.113.9", 1);
	pol(XFRM_MSG_NEWPOLICY, XFRM_POLICY_IN, "203.0.113.128", 25, "192.0.2.0", 24, "203.0.113.9",
	    "203.0.113.1", 8);
	pol(XFRM_MSG_NEWPOLICY, XFRM_POLICY_FWD, "203.0.113.128", 25, "192.0.2.0", 24,
	    "203.0.113.9", "203.0.113.1", 2);
	done();
	write_seed(d, "tunnel-gcm128");
	/* a rekey: new pair, soft expiry of the old, then its deletion */
	sa(XFRM_MSG_NEWSA, "203.0.113.1", "203.0.113.9", 0xc0000001, GCM, 288, 1, 0);
	sa(XFRM_MSG_UPDSA, "203.0.113.9", "203.0.113.1", 0xc0000002, CHACHA, 288, 1, 0);
	pol(XFRM_MSG_UPDPOLICY, XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25,
	    "203.0.113.1", "203.0.113.9", 1);
	sa(XFRM_MSG_NEWSA, "203.0.113.1", "203.0.113.9", 0xc0000003, CHACHA, 288, 1, 0);
	expire("203.0.113.1", "203.0.113.9", 0xc0000001, 0);
	del_sa("203.0.113.9", 0xc0000001);
	expire("203.0.113.9", "203.0.113.1", 0xc0000002, 1);
	write_seed(d, "rekey-chacha-esn");
	/* what is not netiod's: CBC, another tunnel, a policy delete */
	sa(XFRM_MSG_NEWSA, "203.0.113.1", "203.0.113.9", 0xc0000006, "cbc(aes)", 128, 0, 0);
	sa(XFRM_MSG_NEWSA, "198.51.100.1", "198.51.100.2", 0xc0000007, GCM, 160, 0, 0);
	pol(XFRM_MSG_NEWPOLICY, XFRM_POLICY_OUT, "0.0.0.0", 0, "0.0.0.0", 0, "198.51.100.1",
	    "198.51.100.2", 9);
	pol(XFRM_MSG_DELPOLICY, XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25,
	    "203.0.113.1", "203.0.113.9", 1);
	write_seed(d, "foreign");
	/* NAT-T: ESP in UDP both ways, the peer's port floats, encapsulations not followed */
	sa(XFRM_MSG_NEWSA, "203.0.113.1", "203.0.113.9", 0xc0000005, GCM, 160, 0, 1);
	sa(XFRM_MSG_NEWSA, "203.0.113.9", "203.0.113.1", 0xc0000006, CHACHA, 288, 0, 1);
	pol(XFRM_MSG_NEWPOLICY, XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25,
	    "203.0.113.1", "203.0.113.9", 1);
	sa(XFRM_MSG_UPDSA, "203.0.113.1", "203.0.113.9", 0xc0000005, GCM, 160, 0, 2);
	sa(XFRM_MSG_NEWSA, "203.0.113.1", "203.0.113.9", 0xc0000007, GCM, 160, 0, 3);
	sa(XFRM_MSG_NEWSA, "203.0.113.1", "203.0.113.9", 0xc0000008, GCM, 160, 0, 4);
	done();
	write_seed(d, "natt");
	return 0;
}

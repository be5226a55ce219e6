/* Unit tests of the crypto service's kernel SA source: XFRM messages in, the worker's choices out. */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../services/crypto/crypto.h"
#include "fake_host.h"

/*
 * A kernel SA source built by hand (no sockets, no thread) for the tunnel 203.0.113.1 ⇄
 * 203.0.113.9, fed netlink messages as the kernel sends them (built with linux/xfrm.h's
 * structures), then published and taken by the "worker" as crypto_process does.
 */
static char tmpdir[64];
static struct nio_host host;
static struct crypto_inst *ci;
static uint8_t msg[4096];
static const char *me = "203.0.113.1", *them = "203.0.113.9"; /* policy templates' ends */
static size_t mlen;

#define GCM    "rfc4106(gcm(aes))"
#define CHACHA "rfc7539esp(chacha20,poly1305)"
#define A      "203.0.113.1"
#define B      "203.0.113.9"

/* An instance whose kernel SA source follows the tunnel local <-> remote. */
static struct crypto_inst *inst_new(const char *local, const char *remote)
{
	char err[128];
	struct crypto_inst *in = calloc(1, sizeof(*in));
	struct crypto_ksrc *ks = calloc(1, sizeof(*ks));
	uint8_t fam;

	assert_true(in && ks);
	assert_int_equal(crypto_engine_open(&in->engine, "openssl", err, sizeof(err)), 0);
	in->host = &host;
	in->ks = ks;
	ks->ci = in;
	ks->block = 1024;
	ks->ev_fd = ks->req_fd = ks->stop_fd = -1;
	pthread_mutex_init(&ks->lock, NULL);
	assert_int_equal(crypto_addr_parse(local, ks->local, &ks->family), 0);
	assert_int_equal(crypto_addr_parse(remote, ks->remote, &fam), 0);
	ks->changed = true;
	crypto_ksrc_publish(ks);
	crypto_ksrc_enter(in);
	return in;
}

static void inst_free(struct crypto_inst *in)
{
	crypto_hold_flush(in);
	crypto_ksrc_close(in->ks);
	crypto_engine_close(&in->engine);
	free(in);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_ksrc.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	host = fake_host;
	host.state_dir = tmpdir;
	ci = inst_new(A, B);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	inst_free(ci);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---------------------------------------------------------------- messages */

static void *put(size_t n)
{
	void *at = msg + mlen;

	memset(at, 0, n);
	mlen += NLMSG_ALIGN(n);
	return at;
}

static struct nlmsghdr *hdr(uint16_t type)
{
	struct nlmsghdr *h;

	mlen = 0;
	h = put(sizeof(*h));
	h->nlmsg_type = type;
	return h;
}

static void attr(uint16_t type, const void *p, size_t n)
{
	struct nlattr *a = put(sizeof(*a));

	a->nla_type = type;
	a->nla_len = (uint16_t)(sizeof(*a) + n);
	memcpy(put(n), p, n);
}

/* Hand the message to the source as its thread would, then let the worker take the view. */
static void deliver(struct nlmsghdr *h)
{
	struct crypto_xfrm_msg m;

	h->nlmsg_len = (uint32_t)(msg + mlen - (uint8_t *)h);
	assert_int_equal(crypto_xfrm_parse(msg, mlen, &m), mlen);
	crypto_ksrc_apply(ci->ks, &m);
	crypto_ksrc_publish(ci->ks);
	crypto_ksrc_enter(ci);
	crypto_ksrc_publish(ci->ks); /* frees what the worker no longer uses */
}

static void v4(xfrm_address_t *a, const char *s)
{
	assert_int_equal(inet_pton(AF_INET, s, &a->a4), 1);
}

static const struct xfrm_encap_tmpl no_ports = { .encap_type = 2 }; /* ESP in UDP, no ports */

static void sa(const char *src, const char *dst, uint32_t spi, uint32_t reqid, const char *alg,
	       unsigned keybits, const struct xfrm_encap_tmpl *encap, uint64_t hard_packets)
{
	struct nlmsghdr *h = hdr(XFRM_MSG_NEWSA);
	struct xfrm_usersa_info *u = put(sizeof(*u));
	uint8_t ab[sizeof(struct xfrm_algo_aead) + 36];
	struct xfrm_algo_aead *a = (struct xfrm_algo_aead *)ab;

	v4(&u->saddr, src);
	v4(&u->id.daddr, dst);
	u->id.spi = htonl(spi);
	u->id.proto = IPPROTO_ESP;
	u->family = AF_INET;
	u->mode = XFRM_MODE_TUNNEL;
	u->reqid = reqid;
	u->replay_window = 32;
	u->lft.soft_byte_limit = u->lft.hard_byte_limit = XFRM_INF;
	u->lft.soft_packet_limit = XFRM_INF;
	u->lft.hard_packet_limit = hard_packets ? hard_packets : XFRM_INF;
	memset(ab, (int)spi, sizeof(ab)); /* a key of its own per SPI */
	snprintf(a->alg_name, sizeof(a->alg_name), "%s", alg);
	a->alg_key_len = keybits;
	a->alg_icv_len = 128;
	attr(XFRMA_ALG_AEAD, ab, sizeof(*a) + keybits / 8);
	if (encap)
		attr(XFRMA_ENCAP, encap, sizeof(*encap));
	deliver(h);
}

/* the next policy's template names this SPI (strongSwan's outbound policies do) */
static uint32_t tmpl_spi;

static void pol(uint8_t dir, const char *s, uint8_t sl, const char *d, uint8_t dl, uint32_t reqid,
		uint32_t index, uint8_t proto)
{
	struct nlmsghdr *h = hdr(XFRM_MSG_NEWPOLICY);
	struct xfrm_userpolicy_info *u = put(sizeof(*u));
	struct xfrm_user_tmpl t = { .family = AF_INET, .mode = XFRM_MODE_TUNNEL, .reqid = reqid };

	v4(&u->sel.saddr, s);
	v4(&u->sel.daddr, d);
	u->sel.prefixlen_s = sl;
	u->sel.prefixlen_d = dl;
	u->sel.proto = proto;
	u->sel.family = AF_INET;
	u->dir = dir;
	u->index = index;
	v4(&t.saddr, dir == XFRM_POLICY_OUT ? me : them);
	v4(&t.id.daddr, dir == XFRM_POLICY_OUT ? them : me);
	t.id.proto = IPPROTO_ESP;
	t.id.spi = htonl(tmpl_spi);
	attr(XFRMA_TMPL, &t, sizeof(t));
	deliver(h);
}

static void del_sa(const char *dst, uint32_t spi)
{
	struct nlmsghdr *h = hdr(XFRM_MSG_DELSA);
	struct xfrm_usersa_id *id = put(sizeof(*id));

	v4(&id->daddr, dst);
	id->spi = htonl(spi);
	id->family = AF_INET;
	id->proto = IPPROTO_ESP;
	deliver(h);
}

static void expire(const char *src, const char *dst, uint32_t spi, bool hard)
{
	struct nlmsghdr *h = hdr(XFRM_MSG_EXPIRE);
	struct xfrm_user_expire *e = put(sizeof(*e));

	v4(&e->state.saddr, src);
	v4(&e->state.id.daddr, dst);
	e->state.id.spi = htonl(spi);
	e->state.id.proto = IPPROTO_ESP;
	e->state.family = AF_INET;
	e->hard = hard;
	deliver(h);
}

/* ---------------------------------------------------------------- the worker's view */

static struct nio_flow_key flow(const char *src, const char *dst, uint8_t proto)
{
	struct nio_flow_key k = { .family = 4, .proto = proto, .sport = 1000, .dport = 80 };
	uint8_t fam;

	assert_int_equal(crypto_addr_parse(src, k.src, &fam), 0);
	assert_int_equal(crypto_addr_parse(dst, k.dst, &fam), 0);
	return k;
}

/* SPI of the SA a packet src -> dst would be encrypted with, 0 for none (dropped) */
static uint32_t out_spi(const char *src, const char *dst, uint8_t proto)
{
	struct nio_pkt p = { .key = flow(src, dst, proto) };
	const struct crypto_sa *s = crypto_sa_select_out(ci, &p);

	return s ? s->spi : 0;
}

static struct crypto_sa *in_sa(uint32_t spi)
{
	for (unsigned i = 0; i < ci->nsas; i++)
		if (!ci->sas[i]->out && ci->sas[i]->spi == spi)
			return ci->sas[i];
	return NULL;
}

static void tunnel(uint32_t out, uint32_t in)
{
	sa(A, B, out, 1, GCM, 160, NULL, 0);
	sa(B, A, in, 1, GCM, 160, NULL, 0);
	pol(XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25, 1, 1, 0);
	pol(XFRM_POLICY_IN, "203.0.113.128", 25, "192.0.2.0", 24, 1, 8, 0);
	pol(XFRM_POLICY_FWD, "203.0.113.128", 25, "192.0.2.0", 24, 1, 2, 0);
}

/* ---------------------------------------------------------------- tests */

static void test_tunnel(void **state)
{
	struct nio_flow_key in = flow("203.0.113.130", "192.0.2.10", 6);
	struct nio_flow_key other = flow("198.51.100.7", "192.0.2.10", 6);

	(void)state;
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0); /* nothing yet */
	tunnel(0xc0000001, 0xc0000002);
	assert_int_equal(ci->nsas, 2);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000001);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.5", 6), 0); /* no policy takes it */
	assert_non_null(in_sa(0xc0000002));
	assert_true(crypto_ksrc_in_allowed(ci->kv, in_sa(0xc0000002), &in));
	assert_false(crypto_ksrc_in_allowed(ci->kv, in_sa(0xc0000002), &other));
	assert_true(in_sa(0xc0000002)->kernel && !in_sa(0xc0000002)->out);
	assert_int_equal(in_sa(0xc0000002)->replay.window, 32);
}

/* the newest outbound SA, the not-dying before the dying, the old one until deleted */
static void test_rekey(void **state)
{
	const struct crypto_sa *old_in;
	char path[PATH_MAX];

	(void)state;
	tunnel(0xc0000001, 0xc0000002);
	sa(B, A, 0xc0000004, 1, GCM, 160, NULL, 0); /* the new inbound SA first, as charon does */
	sa(A, B, 0xc0000003, 1, GCM, 160, NULL, 0);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000003);
	old_in = in_sa(0xc0000002);
	assert_non_null(old_in);
	assert_non_null(in_sa(0xc0000004));
	expire(A, B, 0xc0000003, false); /* soft: the older, still fresh one is preferred */
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000001);
	expire(A, B, 0xc0000001, false);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000003);
	for (unsigned i = 0; i < ci->nsas; i++)
		if (ci->sas[i]->spi == 0xc0000001)
			snprintf(path, sizeof(path), "%s", ci->sas[i]->seq.path);
	assert_int_equal(access(path, F_OK), 0); /* its sequence reservations */
	del_sa(B, 0xc0000001);
	assert_int_equal(access(path, F_OK), 0); /* the key may come back for a while */
	crypto_ksrc_graves(ci->ks, UINT64_MAX);
	assert_int_not_equal(access(path, F_OK), 0); /* then it is gone for good */
	del_sa(A, 0xc0000002);
	assert_null(in_sa(0xc0000002));
	assert_int_equal(ci->nsas, 2);
	expire(A, B, 0xc0000003, true); /* hard: the kernel deleted it without a DELSA */
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0);
	assert_int_equal(ci->nsas, 1);
	assert_null(ci->ks->retired_sas); /* freed: the worker took the newer view */
}

/* strongSwan's responder to a rekey: the new outbound SA is installed at once, the policy's
 * template keeps the old SPI until the initiator deleted the old pair (the peer may not have
 * its new inbound SA yet); traffic moves when the policy is updated, not before */
static void test_rekey_policy_spi(void **state)
{
	(void)state;
	tmpl_spi = 0xc0000001;
	tunnel(0xc0000001, 0xc0000002);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000001);
	sa(B, A, 0xc0000004, 1, GCM, 160, NULL, 0);
	sa(A, B, 0xc0000003, 1, GCM, 160, NULL, 0);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000001); /* not yet */
	tmpl_spi = 0xc0000003; /* XFRM_MSG_UPDPOLICY, same index */
	pol(XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25, 1, 1, 0);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000003);
	del_sa(B, 0xc0000001);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000003);
	tmpl_spi = 0xc0000005; /* a policy naming an SA netiod does not have: nothing */
	pol(XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25, 1, 1, 0);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0);
	tmpl_spi = 0;
}

/*
 * An SA deleted and added again with the same key (strongSwan moving it to a NAT's new port)
 * goes on above its reservations: the same nonce is never used twice.
 */
static void test_readd(void **state)
{
	uint64_t end;

	(void)state;
	sa(A, B, 0xc0000001, 1, GCM, 160, NULL, 0);
	end = ci->sas[0]->seq.end;
	assert_true(end > 1);
	del_sa(B, 0xc0000001);
	assert_int_equal(ci->nsas, 0);
	sa(A, B, 0xc0000001, 1, GCM, 160, NULL, 0);
	assert_true(ci->sas[0]->seq.next >= end);
	assert_int_equal(ci->ks->ngrave, 0); /* revived: its state file stays */
}

/* what netiod cannot run is not followed; its traffic finds no SA */
static void test_not_ours(void **state)
{
	(void)state;
	sa(A, B, 0xc0000005, 1, GCM, 160, &no_ports, 0);		      /* no ports */
	sa(A, B, 0xc0000006, 1, "cbc(aes)", 128, NULL, 0);		      /* not an AEAD */
	sa(A, B, 0xc0000007, 1, GCM, 128, NULL, 0);			      /* no salt */
	sa("198.51.100.1", "198.51.100.2", 0xc0000008, 1, GCM, 160, NULL, 0); /* other tunnel */
	assert_int_equal(ci->nsas, 0);
	assert_int_equal(ci->cnt[CRYPTO_C_XFRM_SKIPPED], 3);
	sa(A, B, 0xc0000009, 1, CHACHA, 288, NULL, 0);
	assert_int_equal(ci->nsas, 1);
	assert_int_equal(ci->sas[0]->cipher, CRYPTO_CHACHA20_POLY1305);
}

/* policy order, reqid, protocol selectors, deletion */
static void test_policies(void **state)
{
	struct nlmsghdr *h;
	struct xfrm_userpolicy_id *id;

	(void)state;
	sa(A, B, 0xc0000001, 1, GCM, 160, NULL, 0);
	sa(A, B, 0xc0000011, 2, GCM, 160, NULL, 0);
	pol(XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25, 1, 1, 0);
	pol(XFRM_POLICY_OUT, "192.0.2.0", 24, "203.0.113.128", 25, 2, 9, 17); /* udp: reqid 2 */
	/* equal priority: the lower index first, so it takes UDP too */
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0xc0000001);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 17), 0xc0000001);
	h = hdr(XFRM_MSG_DELPOLICY);
	id = put(sizeof(*id));
	id->index = 1;
	id->dir = XFRM_POLICY_OUT;
	deliver(h);
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 6), 0); /* tcp: none left */
	assert_int_equal(out_spi("192.0.2.10", "203.0.113.130", 17), 0xc0000011);
}

/* the worker stops an SA at its hard packet limit */
static void test_hard_limit(void **state)
{
	struct crypto_sa *s;

	(void)state;
	sa(A, B, 0xc0000001, 1, GCM, 160, NULL, 3);
	s = ci->sas[0];
	assert_int_equal(s->life.hard_packets, 3);
	assert_false(crypto_ksa_spent(s));
	s->cnt[CRYPTO_C_ENC_PACKETS] = 3;
	assert_true(crypto_ksa_spent(s));
}

extern const struct nio_service crypto_service;

struct tpkt {
	struct nio_pkt p;
	uint8_t buf[NIO_PKT_BUF_SIZE];
};

/* An Ethernet + IPv4 + UDP frame src -> dst, described as netiod's parser would. */
static void mk_udp(struct tpkt *t, const char *src, const char *dst)
{
	uint8_t *ip;

	memset(t, 0, sizeof(*t));
	t->p.buf = t->buf;
	t->p.buf_size = NIO_PKT_BUF_SIZE;
	t->p.data = t->buf + NIO_PKT_HEADROOM;
	t->p.len = 14 + 20 + 8 + 32;
	t->p.out_port = NIO_PORT_NONE;
	t->p.data[12] = 0x08;
	ip = t->p.data + 14;
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 32;
	ip[8] = 64;
	ip[9] = 17;
	assert_int_equal(inet_pton(AF_INET, src, ip + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, ip + 16), 1);
	ip[25] = 8 + 32;
	t->p.l3_off = 14;
	t->p.flags = NIO_PKT_F_IPV4;
	t->p.ip_proto = 17;
	t->p.key = flow(src, dst, 17);
	t->p.key.sport = t->p.key.dport = 0;
}

static uint8_t run1(struct crypto_inst *in, struct tpkt *t)
{
	struct nio_pkt *p = &t->p;
	uint8_t v = 0xff;

	crypto_service.process(in, &p, 1, &v);
	return v;
}

/*
 * ESP on an SA the kernel has but the thread has not published yet is held, not dropped,
 * and decapsulated once the SA is there; after CRYPTO_HOLD_NS without it, it is dropped.
 */
static void test_hold(void **state)
{
	struct crypto_inst *peer = inst_new(B, A), *save = ci;
	struct tpkt t, t2;
	struct nio_pkt *out[4];
	uint64_t next;

	(void)state;
	ci = peer; /* the peer's kernel has its outbound SA and policy: it encrypts */
	me = B;
	them = A;
	sa(B, A, 0xc0000002, 1, GCM, 160, NULL, 0);
	pol(XFRM_POLICY_OUT, "203.0.113.128", 25, "192.0.2.0", 24, 1, 1, 0);
	ci = save;
	me = A;
	them = B;
	mk_udp(&t, "203.0.113.130", "192.0.2.10");
	assert_int_equal(run1(peer, &t), NIO_V_PASS);
	t.p.l3_off = 14;
	t2 = t;
	t2.p.buf = t2.buf;
	t2.p.data = t2.buf + (t.p.data - t.buf);
	fake_now_ns = 1000;
	assert_int_equal(run1(ci, &t), NIO_V_CONSUMED); /* ours, SA not seen yet: held */
	assert_int_equal(crypto_service.dequeue(ci, 2000, out, 4, &next), 0);
	assert_true(next > 2000);		    /* it asks to be called again */
	sa(B, A, 0xc0000002, 1, GCM, 160, NULL, 0); /* the thread publishes the SA */
	pol(XFRM_POLICY_IN, "203.0.113.128", 25, "192.0.2.0", 24, 1, 8, 0);
	assert_int_equal(crypto_service.dequeue(ci, 3000, out, 4, &next), 1);
	assert_ptr_equal(out[0], &t.p);
	assert_int_equal(out[0]->key.dst[15], 10); /* the inner packet, to 192.0.2.10 */
	assert_int_equal(ci->cnt[CRYPTO_C_DEC_PACKETS], 1);
	assert_int_equal(next, 0);
	/* the same packet on an SA that never comes: dropped after the hold time */
	del_sa(A, 0xc0000002);
	fake_now_ns = 5000;
	assert_int_equal(run1(ci, &t2), NIO_V_CONSUMED);
	fake_pkts_freed = 0;
	assert_int_equal(crypto_service.dequeue(ci, 5000 + 300000000ull, out, 4, &next), 0);
	assert_int_equal(fake_pkts_freed, 1);
	assert_int_equal(ci->cnt[CRYPTO_C_NO_SA], 1);
	inst_free(peer);
}

/* XFRMA_ENCAP as charon sets it for NAT-T (type 2: ESP in UDP) */
static struct xfrm_encap_tmpl encap_of(uint16_t type, uint16_t sport, uint16_t dport)
{
	struct xfrm_encap_tmpl e = { .encap_type = type };

	e.encap_sport = htons(sport);
	e.encap_dport = htons(dport);
	return e;
}

/* A UDP datagram to A:4500 with the payload given (IKE's non-ESP marker, a keepalive) */
static void mk_natt(struct tpkt *t, const uint8_t *pl, uint8_t n)
{
	uint8_t *ip;

	mk_udp(&t[0], "203.0.113.9", A);
	ip = t->p.data + 14;
	ip[3] = (uint8_t)(20 + 8 + n);
	ip[21] = 0x94; /* 4500 -> 4500 */
	ip[20] = ip[22] = 0x11;
	ip[23] = 0x94;
	ip[25] = (uint8_t)(8 + n);
	memcpy(ip + 28, pl, n);
	t->p.len = 14 + 20 + 8 + n;
}

/*
 * NAT-T: a UDP-encapsulated SA (RFC 3948) puts its ESP in UDP with the SA's ports and
 * checksum 0; the receiver takes ESP in UDP to its port, and drops (udp-not-esp) IKE's
 * non-ESP marker and the keepalive that reach it; plain ESP is not the encapsulated SA's.
 * IPv6 and other encapsulations are not followed; an update with new ports floats them.
 */
static void test_natt(void **state)
{
	struct crypto_inst *peer = inst_new(B, A), *save = ci;
	struct xfrm_encap_tmpl e = encap_of(2, 4500, 4500), e2 = encap_of(2, 4500, 4501);
	static const uint8_t marker[8] = { 0 }, keepalive[1] = { 0xff };
	struct tpkt t, t2;
	uint8_t *ip;
	unsigned tot;

	(void)state;
	ci = peer;
	me = B;
	them = A;
	sa(B, A, 0xc0000002, 1, GCM, 160, &e, 0);
	pol(XFRM_POLICY_OUT, "203.0.113.128", 25, "192.0.2.0", 24, 1, 1, 0);
	assert_true(ci->nsas == 1 && ci->sas[0]->encap);
	fake_out_mtu = 1500;
	assert_int_equal(crypto_sa_inner_mtu(ci->sas[0]), 1446 - 8);
	fake_out_mtu = 0;
	ci = save;
	me = A;
	them = B;
	sa(B, A, 0xc0000002, 1, GCM, 160, &e, 0);
	pol(XFRM_POLICY_IN, "203.0.113.128", 25, "192.0.2.0", 24, 1, 8, 0);
	mk_udp(&t, "203.0.113.130", "192.0.2.10");
	assert_int_equal(run1(peer, &t), NIO_V_PASS);
	ip = t.p.data + t.p.l3_off;
	assert_int_equal(ip[9], 17); /* UDP, 4500 -> 4500, length, checksum 0, then the SPI */
	assert_int_equal(ip[20] << 8 | ip[21], 4500);
	assert_int_equal(ip[22] << 8 | ip[23], 4500);
	assert_int_equal(ip[24] << 8 | ip[25], (ip[2] << 8 | ip[3]) - 20);
	assert_int_equal(ip[26] | ip[27], 0);
	assert_int_equal(crypto_get32(ip + 28), 0xc0000002);
	assert_true(t.p.key.proto == 17 && t.p.key.sport == 4500 && t.p.key.dport == 4500);
	t.p.l3_off = 14;
	t2 = t;
	t2.p.buf = t2.buf;
	t2.p.data = t2.buf + (t.p.data - t.buf);
	assert_int_equal(run1(ci, &t), NIO_V_PASS); /* decapsulated */
	assert_int_equal(t.p.key.dst[15], 10);
	assert_int_equal(ci->cnt[CRYPTO_C_DEC_PACKETS], 1);
	ip = t2.p.data + 14; /* the same ESP, not in UDP: not the encapsulated SA's */
	memmove(ip + 20, ip + 28, t2.p.len - 14 - 28);
	t2.p.len -= 8;
	tot = (ip[2] << 8 | ip[3]) - 8;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[9] = 50;
	fake_now_ns = 1000;
	assert_int_equal(run1(ci, &t2), NIO_V_CONSUMED); /* held: no plain SA 0xc0000002 */
	crypto_hold_flush(ci);
	mk_natt(&t, marker, sizeof(marker));
	assert_int_equal(run1(ci, &t), NIO_V_DROP);
	mk_natt(&t, keepalive, sizeof(keepalive));
	assert_int_equal(run1(ci, &t), NIO_V_DROP);
	assert_int_equal(ci->cnt[CRYPTO_C_UDP_NOT_ESP], 2);
	/* the NAT's mapping changed: the same SA, the new port on the next packet */
	ci = peer;
	me = B;
	them = A;
	sa(B, A, 0xc0000002, 1, GCM, 160, &e2, 0);
	assert_int_equal(ci->nsas, 1);
	mk_udp(&t, "203.0.113.130", "192.0.2.10");
	assert_int_equal(run1(peer, &t), NIO_V_PASS);
	assert_int_equal(t.p.key.dport, 4501);
	ci = save;
	me = A;
	them = B;
	e2 = encap_of(1, 4500, 4500); /* ESPINUDP_NON_IKE: not followed */
	sa(A, B, 0xc0000007, 1, GCM, 160, &e2, 0);
	assert_int_equal(ci->cnt[CRYPTO_C_XFRM_SKIPPED], 1);
	inst_free(peer);
}

/* An IPv6 SA with UDP encapsulation is refused, clearly. */
static void test_natt_v6(void **state)
{
	struct crypto_inst *save = ci;
	struct nlmsghdr *h;
	struct xfrm_usersa_info *u;
	struct xfrm_encap_tmpl e = encap_of(2, 4500, 4500);
	uint8_t ab[sizeof(struct xfrm_algo_aead) + 20] = { 0 };
	struct xfrm_algo_aead *a = (struct xfrm_algo_aead *)ab;

	(void)state;
	ci = inst_new("2001:db8::1", "2001:db8::9");
	h = hdr(XFRM_MSG_NEWSA);
	u = put(sizeof(*u));
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &u->saddr), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::9", &u->id.daddr), 1);
	u->id.spi = htonl(0xc0000001);
	u->id.proto = IPPROTO_ESP;
	u->family = AF_INET6;
	u->mode = XFRM_MODE_TUNNEL;
	snprintf(a->alg_name, sizeof(a->alg_name), "%s", GCM);
	a->alg_key_len = 160;
	a->alg_icv_len = 128;
	attr(XFRMA_ALG_AEAD, ab, sizeof(ab));
	attr(XFRMA_ENCAP, &e, sizeof(e));
	fake_log_count = 0;
	deliver(h);
	assert_int_equal(ci->nsas, 0);
	assert_int_equal(ci->cnt[CRYPTO_C_XFRM_SKIPPED], 1);
	assert_non_null(strstr(fake_log_last, "UDP-encapsulated over IPv6"));
	inst_free(ci);
	ci = save;
}

/* sa-source: the kernel's SAs or the sa blocks, never both; local and remote of one family */
static void test_config(void **state)
{
	static const struct fake_opt sa_blk[] = { { "spi", "0x1001", NULL }, { NULL, NULL, NULL } };
	static const struct {
		struct fake_opt o[5];
		const char *msg; /* NULL: accepted */
	} rows[] = {
		{ { { "sa-source", "kernel", NULL }, { "local", A, NULL }, { "remote", B, NULL } },
		  NULL },
		{ { { "sa-source", "kernel", NULL }, { "local", A, NULL } }, "local and remote" },
		{ { { "sa-source", "kernel", NULL },
		    { "local", A, NULL },
		    { "remote", "2001:db8::9", NULL } },
		  "one family" },
		{ { { "sa-source", "kernel", NULL },
		    { "local", A, NULL },
		    { "remote", B, NULL },
		    { "sa", "x", sa_blk } },
		  "no sa blocks" },
		{ { { "local", A, NULL }, { "remote", B, NULL } }, "sa-source = \"kernel\"" },
	};
	struct nio_host h = fake_host;
	struct nio_conf c;
	char err[256];

	(void)state;
	h.check_only = 1; /* netiod -t: no netlink socket, no thread */
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		void *inst;

		fake_conf(&c, crypto_service.options, rows[r].o);
		err[0] = '\0';
		inst = crypto_service.init(&h, &c, err, sizeof(err));
		if (!rows[r].msg) {
			assert_non_null(inst);
			crypto_service.fini(inst);
		} else if (inst || !strstr(err, rows[r].msg)) {
			fail_msg("row %zu: '%s' lacks '%s'", r, err, rows[r].msg);
		}
	}
	/* isolate = true: the child could not follow the kernel, so the block is refused */
	h.isolated = 1;
	fake_conf(&c, crypto_service.options, rows[0].o);
	assert_null(crypto_service.init(&h, &c, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot run isolated"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tunnel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_policy_spi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hard_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_natt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_natt_v6, setup, teardown),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

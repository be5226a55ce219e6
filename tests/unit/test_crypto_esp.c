/* Unit tests of the crypto plugin as netiod runs it: ESP encap/decap, replay, ESN, overflow, config. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <netio/csum.h>

#include "../../services/crypto/crypto.h"
#include "fake_host.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern const struct nio_service crypto_service;

static char tmpdir[64];

static const char *const ciphers[] = { "aes128-gcm", "aes256-gcm", "chacha20-poly1305" };
static const char *const engine_names[] = { "openssl",
#ifdef NIO_HAVE_IPSECMB
					    "ipsec-mb"
#endif
};

/* key || salt for each cipher, as the key files hold them */
static const char *const keyhex[] = {
	"00112233445566778899aabbccddeeff"
	"c0ffee01",
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	"c0ffee02",
	"8899aabbccddeeff0011223344556677ffeeddccbbaa99887766554433221100"
	"c0ffee03",
};

/* ---------------------------------------------------------------- fixtures */

static void write_key(const char *name, const char *hex, mode_t mode)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", hex);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	char name[32];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_crypto_esp.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(keyhex); i++) {
		snprintf(name, sizeof(name), "%s.key", ciphers[i]);
		write_key(name, keyhex[i], 0600);
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* One SA as a config block would give it. */
struct sa_spec {
	const char *title, *spi, *dir, *cipher, *local, *remote, *esn, *window;
	const char *src, *dst; /* one inner prefix each, or NULL */
	const char *keyfile;   /* default: <tmpdir>/<cipher>.key */
};

/* The six fields every SA has, then any others by name: SA(..., .esn = "yes"). */
#define SA(t, s, d, c, l, r, ...)                                                                 \
	{                                                                                         \
		.title = t, .spi = s, .dir = d, .cipher = c, .local = l, .remote = r, __VA_ARGS__ \
	}

struct inst_spec {
	const char *engine;
	const char *state; /* state directory; default tmpdir */
	unsigned nsas;
	struct sa_spec sa[2];
};

/* The fake_opt tables for one instance, kept together so they outlive init(). */
struct conf_store {
	char keypath[2][160];
	struct fake_opt sa[2][14];
	struct fake_opt top[4];
	struct nio_conf conf;
	struct nio_host host;
};

static void sa_table(struct fake_opt *t, const struct sa_spec *s, const char *keypath)
{
	unsigned n = 0;

	t[n++] = (struct fake_opt){ "spi", s->spi, NULL };
	t[n++] = (struct fake_opt){ "direction", s->dir, NULL };
	t[n++] = (struct fake_opt){ "cipher", s->cipher, NULL };
	t[n++] = (struct fake_opt){ "key-file", keypath, NULL };
	t[n++] = (struct fake_opt){ "local", s->local, NULL };
	t[n++] = (struct fake_opt){ "remote", s->remote, NULL };
	if (s->esn)
		t[n++] = (struct fake_opt){ "esn", s->esn, NULL };
	if (s->window)
		t[n++] = (struct fake_opt){ "replay-window", s->window, NULL };
	if (s->src)
		t[n++] = (struct fake_opt){ "inner-src", s->src, NULL };
	if (s->dst)
		t[n++] = (struct fake_opt){ "inner-dst", s->dst, NULL };
	t[n] = (struct fake_opt){ NULL, NULL, NULL };
}

static void *inst_new(struct conf_store *cs, const struct inst_spec *is, char *err, size_t errlen)
{
	unsigned n = 0;

	memset(cs, 0, sizeof(*cs));
	cs->top[n++] = (struct fake_opt){ "engine", is->engine, NULL };
	for (unsigned i = 0; i < is->nsas; i++) {
		if (is->sa[i].keyfile)
			snprintf(cs->keypath[i], sizeof(cs->keypath[i]), "%s", is->sa[i].keyfile);
		else
			snprintf(cs->keypath[i], sizeof(cs->keypath[i]), "%s/%s.key", tmpdir,
				 is->sa[i].cipher);
		sa_table(cs->sa[i], &is->sa[i], cs->keypath[i]);
		cs->top[n++] = (struct fake_opt){ "sa", is->sa[i].title, cs->sa[i] };
	}
	cs->top[n] = (struct fake_opt){ NULL, NULL, NULL };
	fake_conf(&cs->conf, crypto_service.options, cs->top);
	cs->host = fake_host;
	cs->host.state_dir = is->state ? is->state : tmpdir;
	err[0] = '\0';
	return crypto_service.init(&cs->host, &cs->conf, err, errlen);
}

static struct crypto_sa *sa_of(void *inst, unsigned i)
{
	return ((struct crypto_inst *)inst)->sas[i];
}

static uint64_t counter(void *inst, enum crypto_counter c)
{
	return crypto_service.counters(inst)[c];
}

/* ---------------------------------------------------------------- packets */

struct tpkt {
	struct nio_pkt p;
	uint8_t buf[NIO_PKT_BUF_SIZE];
};

static void addr16(const char *s, uint8_t out[16], uint8_t *family)
{
	assert_int_equal(crypto_addr_parse(s, out, family), 0);
}

static void pkt_init(struct tpkt *t, uint32_t len)
{
	memset(&t->p, 0, sizeof(t->p));
	t->p.buf = t->buf;
	t->p.buf_size = NIO_PKT_BUF_SIZE;
	t->p.data = t->buf + NIO_PKT_HEADROOM;
	t->p.len = len;
	t->p.out_port = NIO_PORT_NONE;
}

/* Fill key, flags and l3_off the way netiod's parser does for an Ethernet + IP frame. */
static void pkt_parse(struct tpkt *t)
{
	uint8_t *ip = t->p.data + 14;

	t->p.l3_off = 14;
	if (ip[0] >> 4 == 4) {
		t->p.flags = NIO_PKT_F_IPV4;
		t->p.key.family = 4;
		t->p.ip_proto = ip[9];
		memset(t->p.key.src, 0, 16);
		memset(t->p.key.dst, 0, 16);
		t->p.key.src[10] = t->p.key.src[11] = t->p.key.dst[10] = t->p.key.dst[11] = 0xff;
		memcpy(t->p.key.src + 12, ip + 12, 4);
		memcpy(t->p.key.dst + 12, ip + 16, 4);
	} else {
		t->p.flags = NIO_PKT_F_IPV6;
		t->p.key.family = 6;
		t->p.ip_proto = ip[6];
		memcpy(t->p.key.src, ip + 8, 16);
		memcpy(t->p.key.dst, ip + 24, 16);
	}
	t->p.key.proto = t->p.ip_proto;
}

/*
 * An Ethernet frame with a UDP datagram of plen payload bytes, plus 3 bytes of Ethernet
 * trailer that must not end up in the tunnel.
 */
static void mk_inner(struct tpkt *t, const char *src, const char *dst, uint32_t plen, uint8_t fill)
{
	uint8_t s[16], d[16], fam, *f, *ip, *udp;
	uint32_t hl, iplen;

	addr16(src, s, &fam);
	addr16(dst, d, &fam);
	hl = fam == 4 ? 20 : 40;
	iplen = hl + 8 + plen;
	pkt_init(t, 14 + iplen + 3);
	f = t->p.data;
	memset(f, 0xee, t->p.len);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	f[12] = fam == 4 ? 0x08 : 0x86;
	f[13] = fam == 4 ? 0x00 : 0xdd;
	ip = f + 14;
	memset(ip, 0, hl);
	if (fam == 4) {
		uint16_t c;

		ip[0] = 0x45;
		ip[1] = 0xb8; /* EF, not ECT */
		ip[2] = (uint8_t)(iplen >> 8);
		ip[3] = (uint8_t)iplen;
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, s + 12, 4);
		memcpy(ip + 16, d + 12, 4);
		c = nio_csum(ip, 20);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	} else {
		ip[0] = 0x6b; /* traffic class 0xb8 */
		ip[1] = 0x80;
		ip[4] = (uint8_t)((iplen - 40) >> 8);
		ip[5] = (uint8_t)(iplen - 40);
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, s, 16);
		memcpy(ip + 24, d, 16);
	}
	udp = ip + hl;
	udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0x00, udp[3] = 0x35; /* 12345 -> 53 */
	udp[4] = (uint8_t)((8 + plen) >> 8), udp[5] = (uint8_t)(8 + plen);
	udp[6] = udp[7] = 0;
	memset(udp + 8, fill, plen);
	pkt_parse(t);
}

static uint8_t run1(void *inst, struct tpkt *t)
{
	struct nio_pkt *p = &t->p;
	uint8_t v = 0xff;

	crypto_service.process(inst, &p, 1, &v);
	return v;
}

static void pkt_copy(struct tpkt *dst, const struct tpkt *src)
{
	pkt_init(dst, 0);
	dst->p = src->p;
	dst->p.buf = dst->buf;
	dst->p.data = dst->buf + (src->p.data - src->buf);
	memcpy(dst->buf, src->buf, sizeof(dst->buf));
}

/* ---------------------------------------------------------------- SA pairs */

struct addrs {
	const char *gw_a, *gw_b;     /* tunnel endpoints */
	const char *host_a, *host_b; /* inner hosts */
};

static const struct addrs addr_sets[] = {
	{ "203.0.113.1", "203.0.113.9", "192.0.2.10", "198.51.100.20" },
	{ "2001:db8:1::1", "2001:db8:2::1", "2001:db8:a::10", "2001:db8:b::20" },
	{ "203.0.113.1", "203.0.113.9", "2001:db8:a::10", "2001:db8:b::20" },
	{ "2001:db8:1::1", "2001:db8:2::1", "192.0.2.10", "198.51.100.20" },
};

/* Gateway A sends with an outbound SA, gateway B receives with the matching inbound one. */
static void pair_new(void **a, void **b, struct conf_store *ca, struct conf_store *cb,
		     const char *engine, const char *cipher, const char *esn,
		     const struct addrs *ad, const char *state_a)
{
	char err[256];
	struct inst_spec sa = { .engine = engine, .state = state_a, .nsas = 1 };
	struct inst_spec sb = { .engine = engine, .nsas = 1 };

	sa.sa[0] =
		(struct sa_spec)SA("to-b", "0x1001", "out", cipher, ad->gw_a, ad->gw_b, .esn = esn);
	sb.sa[0] = (struct sa_spec)SA("from-a", "0x1001", "in", cipher, ad->gw_b, ad->gw_a,
				      .esn = esn);
	*a = inst_new(ca, &sa, err, sizeof(err));
	if (!*a)
		fail_msg("init A: %s", err);
	*b = inst_new(cb, &sb, err, sizeof(err));
	if (!*b)
		fail_msg("init B: %s", err);
}

/* The ESP frame as the wire will carry it: lengths, headers, checksum, IV = sequence number. */
static void check_esp_frame(const struct tpkt *t, const struct addrs *ad, uint32_t ilen,
			    uint64_t seq)
{
	const uint8_t *f = t->p.data, *ip = f + 14, *esp;
	uint8_t a[16], b[16], fam;
	uint32_t ohl, ct;

	addr16(ad->gw_a, a, &fam);
	addr16(ad->gw_b, b, &fam);
	ohl = fam == 4 ? 20 : 40;
	esp = ip + ohl;
	ct = t->p.len - 14 - ohl - 16 - 16;
	assert_int_equal(t->p.l3_off, 14);
	assert_int_equal(t->p.ip_proto, 50);
	assert_int_equal(t->p.key.family, fam);
	assert_memory_equal(t->p.key.src, a, 16);
	assert_memory_equal(t->p.key.dst, b, 16);
	assert_int_equal(ct % 4, 0);
	assert_true(ct >= ilen + 2 && ct <= ilen + 5);
	if (fam == 4) {
		assert_int_equal(f[12] << 8 | f[13], 0x0800);
		assert_int_equal(ip[9], 50);
		assert_int_equal(ip[2] << 8 | ip[3], t->p.len - 14);
		assert_int_equal(nio_csum(ip, 20), 0);
		assert_memory_equal(ip + 12, a + 12, 4);
		assert_memory_equal(ip + 16, b + 12, 4);
		assert_int_equal(ip[1], 0xb8);
	} else {
		assert_int_equal(f[12] << 8 | f[13], 0x86dd);
		assert_int_equal(ip[6], 50);
		assert_int_equal(ip[4] << 8 | ip[5], t->p.len - 14 - 40);
		assert_memory_equal(ip + 8, a, 16);
		assert_memory_equal(ip + 24, b, 16);
	}
	assert_int_equal(crypto_get32(esp), 0x1001);
	assert_int_equal(crypto_get32(esp + 4), (uint32_t)seq);
	assert_int_equal(crypto_get32(esp + 8), (uint32_t)(seq >> 32));
	assert_int_equal(crypto_get32(esp + 12), (uint32_t)seq);
}

/*
 * Every engine x cipher x ESN x outer/inner family: A encapsulates, the frame is well formed,
 * B decapsulates to the very inner packet A got, described for routing.
 */
static void test_round_trip(void **state)
{
	static const uint32_t sizes[] = { 0, 1, 2, 3, 4, 5, 64, 500, 1370 };

	for (size_t e = 0; e < ARRAY_SIZE(engine_names); e++)
		for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++)
			for (int esn = 0; esn < 2; esn++)
				for (size_t ad = 0; ad < ARRAY_SIZE(addr_sets); ad++) {
					struct conf_store ca, cb;
					void *a, *b;
					char dir[128];

					snprintf(dir, sizeof(dir), "%s/rt%zu%zu%d%zu", tmpdir, e, c,
						 esn, ad);
					pair_new(&a, &b, &ca, &cb, engine_names[e], ciphers[c],
						 esn ? "yes" : "no", &addr_sets[ad], dir);
					for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
						static struct tpkt t, orig;
						const struct addrs *x = &addr_sets[ad];
						uint32_t ilen;

						mk_inner(&t, x->host_a, x->host_b, sizes[s],
							 (uint8_t)s);
						pkt_copy(&orig, &t);
						ilen = t.p.len - 14 - 3;
						assert_int_equal(run1(a, &t), NIO_V_PASS);
						check_esp_frame(&t, x, ilen, s + 1);
						assert_int_equal(run1(b, &t), NIO_V_PASS);
						assert_int_equal(t.p.len, 14 + ilen);
						assert_memory_equal(t.p.data + 14, orig.p.data + 14,
								    ilen);
						assert_int_equal(t.p.l3_off, 14);
						assert_int_equal(t.p.flags & 3, orig.p.flags & 3);
						assert_int_equal(t.p.ip_proto, 17);
						assert_memory_equal(&t.p.key.src, orig.p.key.src,
								    16);
						assert_memory_equal(&t.p.key.dst, orig.p.key.dst,
								    16);
						assert_int_equal(t.p.key.dport, 53);
						assert_int_equal(t.p.dscp, 0xb8 >> 2);
					}
					assert_int_equal(counter(a, CRYPTO_C_ENC_PACKETS),
							 ARRAY_SIZE(sizes));
					assert_int_equal(counter(b, CRYPTO_C_DEC_PACKETS),
							 ARRAY_SIZE(sizes));
					crypto_service.fini(a);
					crypto_service.fini(b);
				}
}

/* The same packets through each engine (fresh state each) give the same bytes on the wire. */
static void test_engines_same_wire(void **state)
{
	static struct tpkt out[2][40];

	if (ARRAY_SIZE(engine_names) < 2)
		skip();
	for (size_t c = 0; c < ARRAY_SIZE(ciphers); c++) {
		for (size_t e = 0; e < 2; e++) {
			struct conf_store ca, cb;
			void *a, *b;
			char dir[128];
			struct nio_pkt *ps[40];
			uint8_t v[40];

			snprintf(dir, sizeof(dir), "%s/same%zu%zu", tmpdir, c, e);
			pair_new(&a, &b, &ca, &cb, engine_names[e], ciphers[c], "yes",
				 &addr_sets[c % 2], dir);
			for (unsigned i = 0; i < 40; i++) {
				mk_inner(&out[e][i], addr_sets[c % 2].host_a,
					 addr_sets[c % 2].host_b, i * 34, (uint8_t)i);
				ps[i] = &out[e][i].p;
			}
			crypto_service.process(a, ps, 40, v); /* one burst */
			for (unsigned i = 0; i < 40; i++)
				assert_int_equal(v[i], NIO_V_PASS);
			crypto_service.fini(a);
			crypto_service.fini(b);
		}
		for (unsigned i = 0; i < 40; i++) {
			assert_int_equal(out[0][i].p.len, out[1][i].p.len);
			assert_memory_equal(out[0][i].p.data, out[1][i].p.data, out[0][i].p.len);
		}
	}
}

/* ---------------------------------------------------------------- anti-replay via the plugin */

static void test_replay_through_plugin(void **state)
{
	static struct tpkt pk[2001], t;
	struct conf_store ca, cb;
	void *a, *b;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/replay", tmpdir);
	pair_new(&a, &b, &ca, &cb, "auto", "aes128-gcm", NULL, &addr_sets[0], dir);
	for (unsigned i = 1; i <= 2000; i++) {
		mk_inner(&pk[i], "192.0.2.10", "198.51.100.20", 20, (uint8_t)i);
		assert_int_equal(run1(a, &pk[i]), NIO_V_PASS);
	}
	pkt_copy(&t, &pk[1]);
	assert_int_equal(run1(b, &t), NIO_V_PASS);
	pkt_copy(&t, &pk[1]);
	assert_int_equal(run1(b, &t), NIO_V_DROP); /* duplicate */
	assert_int_equal(counter(b, CRYPTO_C_REPLAY_DUP), 1);
	assert_int_equal(t.p.drop_ctr, CRYPTO_C_REPLAY_DUP + 1); /* named for the tracer */

	/* far ahead but forged: the ICV fails and the window must not move */
	pkt_copy(&t, &pk[2000]);
	t.p.data[t.p.len - 1] ^= 1;
	assert_int_equal(run1(b, &t), NIO_V_DROP);
	assert_int_equal(counter(b, CRYPTO_C_AUTH_FAIL), 1);
	assert_int_equal(t.p.drop_ctr, CRYPTO_C_AUTH_FAIL + 1);
	assert_int_equal(sa_of(b, 0)->replay.top, 1);
	pkt_copy(&t, &pk[2]);
	assert_int_equal(run1(b, &t), NIO_V_PASS);

	/* the genuine far-ahead packet moves it; 2..975 fall out of the 1024 window */
	pkt_copy(&t, &pk[2000]);
	assert_int_equal(run1(b, &t), NIO_V_PASS);
	pkt_copy(&t, &pk[976]);
	assert_int_equal(run1(b, &t), NIO_V_DROP);
	assert_int_equal(counter(b, CRYPTO_C_REPLAY_OLD), 1);
	pkt_copy(&t, &pk[977]);
	assert_int_equal(run1(b, &t), NIO_V_PASS);

	/* the same number twice in one burst: both pass the early check, one is dropped */
	{
		static struct tpkt d1, d2;
		struct nio_pkt *ps[2] = { &d1.p, &d2.p };
		uint8_t v[2];

		pkt_copy(&d1, &pk[1500]);
		pkt_copy(&d2, &pk[1500]);
		crypto_service.process(b, ps, 2, v);
		assert_int_equal(v[0], NIO_V_PASS);
		assert_int_equal(v[1], NIO_V_DROP);
		assert_int_equal(counter(b, CRYPTO_C_REPLAY_DUP), 2);
	}
	crypto_service.fini(a);
	crypto_service.fini(b);
}

/* ---------------------------------------------------------------- ESN */

/* Sending across 2^32: the wire carries the low half, B infers the high half. */
static void test_esn_across_2_32(void **state)
{
	struct conf_store ca, cb;
	void *a, *b;
	char dir[128];
	static struct tpkt t;
	struct crypto_sa *sa;

	snprintf(dir, sizeof(dir), "%s/esn", tmpdir);
	pair_new(&a, &b, &ca, &cb, "auto", "chacha20-poly1305", "yes", &addr_sets[1], dir);
	/* as if A had sent 2^32 - 17 packets and B had seen them */
	sa = sa_of(a, 0);
	sa->seq.next = 0xffffffefull;
	sa->seq.end = 0x100000100ull;
	sa_of(b, 0)->replay.top = 0xffffffeeull;
	for (uint64_t s = 0xffffffefull; s < 0x100000020ull; s++) {
		mk_inner(&t, "2001:db8:a::10", "2001:db8:b::20", 100, 1);
		assert_int_equal(run1(a, &t), NIO_V_PASS);
		check_esp_frame(&t, &addr_sets[1], 148, s);
		assert_int_equal(run1(b, &t), NIO_V_PASS);
	}
	assert_int_equal(sa_of(b, 0)->replay.top, 0x10000001full);
	crypto_service.fini(a);
	crypto_service.fini(b);
}

/*
 * RFC 4303 A3 resynchronisation, through the plugin with real packets and every engine. Each
 * row starts A's outbound ESN SA at a 64-bit number and B's window at a top (0: B restarted
 * with an empty window), then sends a pattern: g a genuine packet, f a genuine one with its
 * ICV flipped (forged), r the last packet again (a replay). want holds B's verdicts, P pass,
 * D drop.
 */
static void test_esn_resync(void **state)
{
	static const struct {
		const char *name;
		uint64_t sender, top;
		const char *pattern, *want;
		uint64_t top_after, resyncs, auth;
	} rows[] = {
		{ "restarted past 2^32", 0x100000005ull, 0, "gggggggggg", "DDDDDDDDPP",
		  0x10000000eull, 1, 8 },
		{ "restarted past 3 * 2^32", 0x300000007ull, 0, "gggggggggg", "DDDDDDDDPP",
		  0x300000010ull, 1, 8 },
		{ "seven failures are not enough", 0x100000005ull, 0, "ggggggg", "DDDDDDD", 0, 0,
		  7 },
		{ "forged packets never resync", 0x100000005ull, 0, "ffffffffffff", "DDDDDDDDDDDD",
		  0, 0, 12 },
		{ "forged ones arm it, a genuine one resyncs", 0x100000005ull, 0, "ffffffffffgg",
		  "DDDDDDDDDDPP", 0x100000010ull, 1, 10 },
		{ "forged after the resync do not move it", 0x100000005ull, 0, "ggggggggggfffg",
		  "DDDDDDDDPPDDDP", 0x100000012ull, 1, 11 },
		{ "a replay of the resynced packet", 0x100000005ull, 0, "gggggggggr", "DDDDDDDDPD",
		  0x10000000dull, 1, 8 },
		{ "window in subspace 2, peer in 5", 0x500000032ull, 0x200000064ull, "gggggggggg",
		  "DDDDDDDDPP", 0x50000003bull, 1, 8 },
		{ "peer beyond the span", ((uint64_t)CRYPTO_RESYNC_SPAN + 1) << 32 | 5, 0,
		  "gggggggggggg", "DDDDDDDDDDDD", 0, 0, 12 },
		{ "in sync: nothing to do", 5, 0, "ggg", "PPP", 7, 0, 0 },
	};

	for (size_t k = 0; k < ARRAY_SIZE(rows) * ARRAY_SIZE(engine_names); k++) {
		size_t r = k % ARRAY_SIZE(rows);
		const char *eng = engine_names[k / ARRAY_SIZE(rows)];
		struct conf_store ca, cb;
		static struct tpkt t, last;
		void *a, *b;
		char dir[128];

		snprintf(dir, sizeof(dir), "%s/resync%zu", tmpdir, k);
		pair_new(&a, &b, &ca, &cb, eng, "aes256-gcm", "yes", &addr_sets[0], dir);
		sa_of(a, 0)->seq.next = rows[r].sender;
		sa_of(a, 0)->seq.end = rows[r].sender + 1000;
		sa_of(b, 0)->replay.top = rows[r].top;
		for (size_t i = 0; rows[r].pattern[i]; i++) {
			char c = rows[r].pattern[i];
			uint8_t v;

			if (c != 'r') {
				mk_inner(&last, "192.0.2.10", "198.51.100.20", 40, (uint8_t)i);
				assert_int_equal(run1(a, &last), NIO_V_PASS);
			}
			pkt_copy(&t, &last);
			if (c == 'f')
				t.p.data[t.p.len - 1] ^= 0x20;
			v = run1(b, &t);
			if (v != (rows[r].want[i] == 'P' ? NIO_V_PASS : NIO_V_DROP))
				fail_msg("%s, row '%s', packet %zu: wrong verdict", eng,
					 rows[r].name, i);
		}
		if (sa_of(b, 0)->replay.top !=
		    (rows[r].top_after ? rows[r].top_after : rows[r].top))
			fail_msg("%s, row '%s': top %#llx", eng, rows[r].name,
				 (unsigned long long)sa_of(b, 0)->replay.top);
		if (counter(b, CRYPTO_C_ESN_RESYNC) != rows[r].resyncs ||
		    counter(b, CRYPTO_C_AUTH_FAIL) != rows[r].auth)
			fail_msg("%s, row '%s': %llu resyncs, %llu auth failures", eng,
				 rows[r].name, (unsigned long long)counter(b, CRYPTO_C_ESN_RESYNC),
				 (unsigned long long)counter(b, CRYPTO_C_AUTH_FAIL));
		crypto_service.fini(a);
		crypto_service.fini(b);
	}
}

/*
 * One burst: the packets of a burst are prepared before any verdict, so the resync happens
 * in the first burst that starts with the SA already out of sync, on its first packet.
 */
static void test_esn_resync_burst(void **state)
{
	static struct tpkt pk[12];
	struct nio_pkt *ps[12];
	struct conf_store ca, cb;
	uint8_t v[12];
	void *a, *b;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/resync-burst", tmpdir);
	pair_new(&a, &b, &ca, &cb, "auto", "chacha20-poly1305", "yes", &addr_sets[1], dir);
	sa_of(a, 0)->seq.next = 0x200000001ull;
	sa_of(a, 0)->seq.end = 0x200001000ull;
	for (int i = 0; i < 12; i++) {
		mk_inner(&pk[i], "2001:db8:a::10", "2001:db8:b::20", 64, (uint8_t)i);
		assert_int_equal(run1(a, &pk[i]), NIO_V_PASS);
		ps[i] = &pk[i].p;
	}
	crypto_service.process(b, ps, 9, v);
	for (int i = 0; i < 9; i++)
		assert_int_equal(v[i], NIO_V_DROP);
	crypto_service.process(b, ps + 9, 3, v);
	assert_int_equal(v[0], NIO_V_PASS);
	assert_int_equal(sa_of(b, 0)->replay.top, 0x20000000aull);
	assert_int_equal(counter(b, CRYPTO_C_ESN_RESYNC), 1);
	/* the rest of that burst was inferred before the resync: dropped, never misplaced */
	assert_int_equal(v[1], NIO_V_DROP);
	assert_int_equal(v[2], NIO_V_DROP);
	crypto_service.fini(a);
	crypto_service.fini(b);
}

/*
 * Sequence number 0 is never sent (RFC 4303 3.3.3: the first packet is 1): counted before any
 * cryptography. With ESN the low half is 0 once per 2^32 after the wrap, and that is valid.
 */
static void test_seq_zero(void **state)
{
	static const struct {
		const char *name, *esn;
		uint64_t sender, top;
		bool zero_on_wire; /* overwrite the low half with 0 after A built the packet */
		int want;	   /* counter that counts the verdict */
	} rows[] = {
		{ "no ESN, 0 first", "no", 1, 0, true, CRYPTO_C_SEQ_ZERO },
		{ "no ESN, 0 after traffic", "no", 3000, 2999, true, CRYPTO_C_SEQ_ZERO },
		{ "ESN, 0 first", "yes", 1, 0, true, CRYPTO_C_SEQ_ZERO },
		{ "ESN, 0 early in the first subspace", "yes", 100, 99, true, CRYPTO_C_SEQ_ZERO },
		{ "ESN, low half 0 right after the wrap", "yes", 0x100000000ull, 0xfffffffbull,
		  false, CRYPTO_C_DEC_PACKETS },
		{ "ESN, low half 0 just behind the top", "yes", 0x100000000ull, 0x100000005ull,
		  false, CRYPTO_C_DEC_PACKETS },
	};

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct conf_store ca, cb;
		static struct tpkt t;
		void *a, *b;
		char dir[128];

		snprintf(dir, sizeof(dir), "%s/zero%zu", tmpdir, r);
		pair_new(&a, &b, &ca, &cb, "auto", "aes128-gcm", rows[r].esn, &addr_sets[0], dir);
		sa_of(a, 0)->seq.next = rows[r].sender;
		sa_of(a, 0)->seq.end = rows[r].sender + 10;
		sa_of(b, 0)->replay.top = rows[r].top;
		mk_inner(&t, "192.0.2.10", "198.51.100.20", 40, 7);
		assert_int_equal(run1(a, &t), NIO_V_PASS);
		if (rows[r].zero_on_wire)
			memset(t.p.data + 14 + 20 + 4, 0, 4);
		if (run1(b, &t) != (rows[r].want == CRYPTO_C_DEC_PACKETS ? NIO_V_PASS : NIO_V_DROP))
			fail_msg("row '%s': wrong verdict", rows[r].name);
		if (counter(b, (enum crypto_counter)rows[r].want) != 1)
			fail_msg("row '%s': not counted", rows[r].name);
		assert_int_equal(counter(b, CRYPTO_C_AUTH_FAIL), 0);
		assert_int_equal(counter(b, CRYPTO_C_REPLAY_OLD), 0);
		assert_int_equal(sa_of(b, 0)->replay.top,
				 rows[r].zero_on_wire || rows[r].top > rows[r].sender
					 ? rows[r].top
					 : rows[r].sender);
		crypto_service.fini(a);
		crypto_service.fini(b);
	}
}

/* Without ESN a receiver sees the wrap as numbers far in the past: never accepted. */
static void test_no_esn_never_wraps(void **state)
{
	struct conf_store ca, cb;
	void *a, *b;
	char dir[128], err[256], path[PATH_MAX];
	static struct tpkt t;
	uint8_t km[20];
	struct crypto_seq probe;
	FILE *f;

	/* the state file of this key says only 3 numbers are left */
	snprintf(dir, sizeof(dir), "%s/ovf", tmpdir);
	for (unsigned i = 0; i < 20; i++)
		sscanf(keyhex[0] + 2 * i, "%2hhx", &km[i]);
	assert_int_equal(crypto_seq_open(&probe, dir, km, 20, 1024, false, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s", probe.path);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "netio-crypto-seq 1 next %llu\n", 0xfffffffdull);
	fclose(f);

	pair_new(&a, &b, &ca, &cb, "auto", "aes128-gcm", "no", &addr_sets[0], dir);
	for (int i = 0; i < 100 && !atomic_load(&sa_of(a, 0)->seq.exhausted); i++)
		usleep(20000); /* the reserver finds the space used up */
	assert_true(atomic_load(&sa_of(a, 0)->seq.exhausted));
	for (int i = 0; i < 3; i++) {
		mk_inner(&t, "192.0.2.10", "198.51.100.20", 10, 1);
		assert_int_equal(run1(a, &t), NIO_V_PASS);
		assert_int_equal(run1(b, &t), NIO_V_PASS);
	}
	assert_int_equal(sa_of(b, 0)->replay.top, 0xffffffffull);
	for (int i = 0; i < 5; i++) {
		mk_inner(&t, "192.0.2.10", "198.51.100.20", 10, 1);
		assert_int_equal(run1(a, &t), NIO_V_DROP);
	}
	assert_int_equal(counter(a, CRYPTO_C_SEQ_OVERFLOW), 5);
	assert_int_equal(counter(a, CRYPTO_C_ENC_PACKETS), 3);
	crypto_service.fini(a);
	crypto_service.fini(b);
}

/* A reload hands the inbound windows over: recorded packets stay replays in the new instance. */
static void test_state_handoff(void **state)
{
	static struct tpkt pk[12], t;
	struct conf_store ca, cb, c2;
	struct inst_spec is = { .engine = "auto", .nsas = 1 };
	void *a, *b, *b2, *blob;
	char dir[128], err[256];
	size_t len;
	static const char *const windows[] = { NULL, "2048" };

	snprintf(dir, sizeof(dir), "%s/handoff", tmpdir);
	pair_new(&a, &b, &ca, &cb, "auto", "aes256-gcm", "yes", &addr_sets[0], dir);
	for (unsigned i = 1; i <= 11; i++) {
		mk_inner(&pk[i], "192.0.2.10", "198.51.100.20", 30, (uint8_t)i);
		assert_int_equal(run1(a, &pk[i]), NIO_V_PASS);
	}
	for (unsigned i = 1; i <= 10; i++) {
		pkt_copy(&t, &pk[i]);
		assert_int_equal(run1(b, &t), NIO_V_PASS);
	}
	assert_int_equal(crypto_service.save_state(b, &blob, &len), 0);
	/* same SA, then the same SA with another window size: the old numbers stay refused */
	for (size_t w = 0; w < ARRAY_SIZE(windows); w++) {
		is.sa[0] = (struct sa_spec)SA("from-a", "0x1001", "in", "aes256-gcm",
					      addr_sets[0].gw_b, addr_sets[0].gw_a, .esn = "yes",
					      .window = windows[w]);
		b2 = inst_new(&c2, &is, err, sizeof(err));
		assert_non_null(b2);
		assert_int_equal(crypto_service.restore_state(b2, blob, len), 0);
		assert_int_equal(sa_of(b2, 0)->replay.top, 10);
		pkt_copy(&t, &pk[5]);
		assert_int_equal(run1(b2, &t), NIO_V_DROP);
		pkt_copy(&t, &pk[11]);
		assert_int_equal(run1(b2, &t), NIO_V_PASS);
		/* broken blobs are refused whole */
		assert_int_equal(crypto_service.restore_state(b2, blob, 5), -1);
		assert_int_equal(crypto_service.restore_state(b2, blob, len - 1), -1);
		crypto_service.fini(b2);
	}
	/* a re-keyed SA with the same SPI starts afresh */
	is.sa[0] = (struct sa_spec)SA("from-a", "0x1001", "in", "aes128-gcm", addr_sets[0].gw_b,
				      addr_sets[0].gw_a, .esn = "yes");
	b2 = inst_new(&c2, &is, err, sizeof(err));
	assert_non_null(b2);
	assert_int_equal(crypto_service.restore_state(b2, blob, len), 0);
	assert_int_equal(sa_of(b2, 0)->replay.top, 0);
	crypto_service.fini(b2);
	((uint8_t *)blob)[0] ^= 1;
	assert_int_equal(crypto_service.restore_state(b, blob, len), -1);
	free(blob);
	crypto_service.fini(a);
	crypto_service.fini(b);
}

/* ---------------------------------------------------------------- decap validation */

/*
 * An ESP packet to B (203.0.113.9, SPI 0x1001, aes128-gcm) whose plaintext, trailer included,
 * is exactly pt: how a broken or hostile peer could build one with the right key.
 */
static void craft(struct tpkt *t, uint32_t spi, uint32_t seq, const uint8_t *pt, uint32_t len)
{
	uint8_t key[16], *f, *ip, *esp;
	struct crypto_op op = { 0 };
	void *eng, *k;
	char err[64];
	uint16_t c;

	for (unsigned i = 0; i < 16; i++)
		sscanf(keyhex[0] + 2 * i, "%2hhx", &key[i]);
	pkt_init(t, 14 + 20 + 16 + len + 16);
	f = t->p.data;
	memset(f, 0, 14);
	f[12] = 0x08;
	ip = f + 14;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((t->p.len - 14) >> 8);
	ip[3] = (uint8_t)(t->p.len - 14);
	ip[8] = 64;
	ip[9] = 50;
	memcpy(ip + 12, "\xcb\x00\x71\x01", 4);
	memcpy(ip + 16, "\xcb\x00\x71\x09", 4);
	c = nio_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	esp = ip + 20;
	crypto_put32(esp, spi);
	crypto_put32(esp + 4, seq);
	crypto_put32(esp + 8, 0);
	crypto_put32(esp + 12, seq);
	memcpy(esp + 16, pt, len);
	eng = crypto_engine_openssl.open(err, sizeof(err));
	k = crypto_engine_openssl.key_new(eng, CRYPTO_AES128_GCM, key, true);
	op.key = k;
	op.encrypt = true;
	memcpy(op.nonce, "\xc0\xff\xee\x01", 4);
	memcpy(op.nonce + 4, esp + 8, 8);
	memcpy(op.aad_buf, esp, 8);
	op.aad = op.aad_buf;
	op.aad_len = 8;
	op.data = esp + 16;
	op.len = len;
	op.icv = esp + 16 + len;
	crypto_engine_openssl.run(eng, &op, 1);
	assert_true(op.ok);
	crypto_engine_openssl.key_free(eng, k);
	crypto_engine_openssl.close(eng);
	pkt_parse(t);
}

/* A valid inner IPv4 packet of 28 bytes (UDP, no payload) from src. */
static uint32_t inner4(uint8_t *b, const char *src)
{
	uint8_t s[16], fam;
	uint16_t c;

	addr16(src, s, &fam);
	memset(b, 0, 28);
	b[0] = 0x45;
	b[3] = 28;
	b[8] = 64;
	b[9] = 17;
	memcpy(b + 12, s + 12, 4);
	memcpy(b + 16, "\xc6\x33\x64\x14", 4); /* 198.51.100.20 */
	c = nio_csum(b, 20);
	b[10] = (uint8_t)(c >> 8);
	b[11] = (uint8_t)c;
	return 28;
}

static void test_decap_checks(void **state)
{
	enum { OK = -1 };
	static const struct {
		const char *name;
		const char *src;   /* inner source */
		int tfc;	   /* bytes of TFC padding after the inner packet */
		const char *trail; /* pad bytes, pad length, next header, as hex */
		int want;	   /* counter that counts the drop, or OK */
	} rows[] = {
		{ "no padding", "198.51.100.7", 0, "0004", OK },
		{ "padding 1 2", "198.51.100.7", 0, "01020204", OK },
		{ "tfc padding", "198.51.100.7", 6, "0004", OK },
		{ "bad pad bytes", "198.51.100.7", 0, "00000204", CRYPTO_C_BAD_PAD },
		{ "pad longer than payload", "198.51.100.7", 0, "ff04", CRYPTO_C_BAD_PAD },
		{ "next header udp", "198.51.100.7", 0, "0011", CRYPTO_C_BAD_NH },
		{ "dummy packet", "198.51.100.7", 0, "003b", CRYPTO_C_DUMMY },
		{ "ipv6 claimed, ipv4 inside", "198.51.100.7", 0, "0029", CRYPTO_C_BAD_INNER },
		{ "policy: source outside", "192.0.2.99", 0, "0004", CRYPTO_C_POLICY },
	};
	struct inst_spec is = { .engine = "openssl", .nsas = 1 };
	struct conf_store cs;
	char err[256];
	void *b;

	is.sa[0] = (struct sa_spec)SA("from-a", "0x1001", "in", "aes128-gcm", "203.0.113.9",
				      "203.0.113.1", .src = "198.51.100.0/24");
	b = inst_new(&cs, &is, err, sizeof(err));
	if (!b)
		fail_msg("%s", err);
	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		static struct tpkt t;
		uint8_t pt[128];
		uint32_t n = inner4(pt, rows[r].src);
		uint64_t before = rows[r].want == OK
					  ? counter(b, CRYPTO_C_DEC_PACKETS)
					  : counter(b, (enum crypto_counter)rows[r].want);

		memset(pt + n, 0xab, (size_t)rows[r].tfc);
		n += (uint32_t)rows[r].tfc;
		for (const char *h = rows[r].trail; *h; h += 2)
			sscanf(h, "%2hhx", &pt[n++]);
		craft(&t, 0x1001, (uint32_t)r + 1, pt, n);
		if (run1(b, &t) != (rows[r].want == OK ? NIO_V_PASS : NIO_V_DROP))
			fail_msg("row '%s': wrong verdict", rows[r].name);
		if (rows[r].want == OK) {
			assert_int_equal(counter(b, CRYPTO_C_DEC_PACKETS), before + 1);
			assert_int_equal(t.p.len, 14 + 28);
		} else {
			assert_int_equal(counter(b, (enum crypto_counter)rows[r].want), before + 1);
		}
	}
	crypto_service.fini(b);
}

/* What arrives at B's address without being ESP of a known SA. */
static void test_classify(void **state)
{
	struct inst_spec is = { .engine = "openssl", .nsas = 1 };
	struct conf_store cs;
	char err[256];
	void *b;
	static struct tpkt t;
	uint8_t pt[64];
	uint32_t n = inner4(pt, "198.51.100.7");

	pt[n++] = 0;
	pt[n++] = 4;
	is.sa[0] = (struct sa_spec)SA("from-a", "0x1001", "in", "aes128-gcm", "203.0.113.9",
				      "203.0.113.1", .esn = NULL);
	b = inst_new(&cs, &is, err, sizeof(err));
	if (!b)
		fail_msg("%s", err);
	craft(&t, 0x2002, 1, pt, n); /* unknown SPI */
	assert_int_equal(run1(b, &t), NIO_V_DROP);
	assert_int_equal(counter(b, CRYPTO_C_NO_SA), 1);
	craft(&t, 0x1001, 1, pt, n);
	t.p.data[14 + 3] = 20 + 30; /* ESP shorter than header + trailer + ICV */
	t.p.len = 14 + 20 + 30;
	assert_int_equal(run1(b, &t), NIO_V_DROP);
	craft(&t, 0x1001, 1, pt, n);
	t.p.data[14 + 6] = 0x20; /* first fragment of an ESP packet */
	assert_int_equal(run1(b, &t), NIO_V_DROP);
	assert_int_equal(counter(b, CRYPTO_C_MALFORMED), 2);
	mk_inner(&t, "192.0.2.10", "198.51.100.20", 10, 1); /* plaintext, no outbound SA */
	assert_int_equal(run1(b, &t), NIO_V_DROP);
	assert_int_equal(counter(b, CRYPTO_C_NO_SA), 2);
	crypto_service.fini(b);
}

/* Outbound selectors pick the SA; none matching means drop, never plaintext. */
static void test_select_out(void **state)
{
	struct inst_spec is = { .engine = "openssl", .nsas = 2 };
	struct conf_store cs;
	char err[256], dir[128];
	void *a;
	static struct tpkt t;

	snprintf(dir, sizeof(dir), "%s/sel", tmpdir);
	is.state = dir;
	is.sa[0] = (struct sa_spec)SA("to-b", "0x1001", "out", "aes128-gcm", "203.0.113.1",
				      "203.0.113.9", .dst = "198.51.100.0/25");
	is.sa[1] = (struct sa_spec)SA("to-c", "0x1002", "out", "aes256-gcm", "203.0.113.1",
				      "203.0.113.77", .dst = "2001:db8:b::/48");
	a = inst_new(&cs, &is, err, sizeof(err));
	if (!a)
		fail_msg("%s", err);
	mk_inner(&t, "192.0.2.10", "198.51.100.20", 10, 1);
	assert_int_equal(run1(a, &t), NIO_V_PASS);
	assert_int_equal(crypto_get32(t.p.data + 14 + 20), 0x1001);
	mk_inner(&t, "2001:db8:a::10", "2001:db8:b::20", 10, 1);
	assert_int_equal(run1(a, &t), NIO_V_PASS);
	assert_int_equal(crypto_get32(t.p.data + 14 + 20), 0x1002);
	assert_int_equal(t.p.key.dst[15], 77);
	mk_inner(&t, "192.0.2.10", "198.51.100.200", 10, 1);
	assert_int_equal(run1(a, &t), NIO_V_DROP);
	assert_int_equal(counter(a, CRYPTO_C_NO_SA), 1);
	crypto_service.fini(a);
}

/* The daemon owns the TTL: the inner packet is sealed as handed over (TTL 1 included) and
 * the outer header carries 64. */
static void test_inner_ttl(void **state)
{
	struct inst_spec is = { .engine = "openssl", .nsas = 1 };
	struct conf_store cs;
	char err[256], dir[128];
	void *a;
	static struct tpkt t;

	snprintf(dir, sizeof(dir), "%s/ttl", tmpdir);
	is.state = dir;
	is.sa[0] = (struct sa_spec)SA("to-b", "0x1001", "out", "aes128-gcm", "203.0.113.1",
				      "203.0.113.9", .esn = NULL);
	a = inst_new(&cs, &is, err, sizeof(err));
	if (!a)
		fail_msg("%s", err);
	mk_inner(&t, "192.0.2.10", "198.51.100.20", 10, 1);
	t.p.data[14 + 8] = 1;
	assert_int_equal(run1(a, &t), NIO_V_PASS);
	assert_int_equal(t.p.data[14 + 8], 64);
	mk_inner(&t, "2001:db8:a::10", "2001:db8:b::20", 10, 1);
	t.p.data[14 + 7] = 1;
	assert_int_equal(run1(a, &t), NIO_V_PASS);
	assert_int_equal(counter(a, CRYPTO_C_ENC_PACKETS), 2);
	crypto_service.fini(a);
}

/* What the pipeline's host->icmp_too_big was asked, answering as netiod does: IPv4 with DF and
 * IPv6 get an error (0), IPv4 without DF none (-1). */
static unsigned too_big_calls;
static uint32_t too_big_mtu;

static int fake_icmp_too_big(struct nio_pkt *p, uint32_t mtu)
{
	too_big_calls++;
	too_big_mtu = mtu;
	if ((p->flags & NIO_PKT_F_IPV4) && !(nio_pkt_l3(p)[6] & 0x40))
		return -1;
	return 0;
}

/* An inner packet of ilen bytes (UDP), with DF if df; its verdict through inst a. */
static uint8_t run_sized(void *a, struct tpkt *t, const char *src, const char *dst, uint32_t ilen,
			 bool df)
{
	bool v4 = strchr(src, ':') == NULL;

	mk_inner(t, src, dst, ilen - (v4 ? 28 : 48), 1);
	if (df && v4) {
		uint8_t *ip = t->p.data + 14;
		uint16_t c;

		ip[6] |= 0x40;
		ip[10] = ip[11] = 0;
		c = nio_csum(ip, 20);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	return run1(a, t);
}

/*
 * The outer packet may not exceed the SA's mtu: the largest inner packet that fits is
 * mtu - outer header - 8 (SPI, seq) - 8 (IV) - 16 (ICV) - 2 (pad length, next header), less
 * the padding to a multiple of 4: 1446 for IPv4 outside at 1500, 1426 for IPv6. One byte more
 * gets the sender's ICMP with that value as MTU (IPv4 with DF, IPv6) or is dropped (no DF).
 */
static void one_family_mtu(const char *local, const char *remote, uint32_t fit)
{
	struct inst_spec is = { .engine = "openssl", .nsas = 1 };
	struct conf_store cs;
	char err[256], dir[128];
	static struct tpkt t;
	void *a;

	snprintf(dir, sizeof(dir), "%s/mtu%s", tmpdir, strchr(local, ':') ? "6" : "4");
	is.state = dir;
	is.sa[0] = (struct sa_spec)SA("to-b", "0x1001", "out", "aes128-gcm", local, remote,
				      .esn = NULL);
	a = inst_new(&cs, &is, err, sizeof(err));
	if (!a)
		fail_msg("%s", err);
	cs.host.icmp_too_big = fake_icmp_too_big;
	too_big_calls = 0;
	assert_int_equal(crypto_esp_inner_mtu(1500, sa_of(a, 0)->family), fit);

	assert_int_equal(run_sized(a, &t, "192.0.2.10", "198.51.100.20", fit, true), NIO_V_PASS);
	assert_int_equal(t.p.len - t.p.l3_off, 1500);
	assert_int_equal(run_sized(a, &t, "2001:db8:a::10", "2001:db8:b::20", fit, false),
			 NIO_V_PASS);
	assert_int_equal(t.p.len - t.p.l3_off, 1500);
	assert_int_equal(counter(a, CRYPTO_C_ENC_PACKETS), 2);
	assert_int_equal(too_big_calls, 0);

	assert_int_equal(run_sized(a, &t, "192.0.2.10", "198.51.100.20", fit + 1, true),
			 NIO_V_PASS);
	assert_int_equal(too_big_mtu, fit);
	assert_int_equal(run_sized(a, &t, "2001:db8:a::10", "2001:db8:b::20", fit + 1, false),
			 NIO_V_PASS);
	assert_int_equal(too_big_mtu, fit);
	assert_int_equal(counter(a, CRYPTO_C_ICMP_TOO_BIG), 2);
	assert_int_equal(run_sized(a, &t, "192.0.2.10", "198.51.100.20", fit + 1, false),
			 NIO_V_DROP);
	assert_int_equal(counter(a, CRYPTO_C_TOO_BIG), 1);
	assert_int_equal(too_big_calls, 3);
	/* a host without icmp_too_big: dropped, never sent oversized */
	cs.host.icmp_too_big = NULL;
	assert_int_equal(run_sized(a, &t, "192.0.2.10", "198.51.100.20", fit + 1, true),
			 NIO_V_DROP);
	assert_int_equal(counter(a, CRYPTO_C_TOO_BIG), 2);
	assert_int_equal(counter(a, CRYPTO_C_ENC_PACKETS), 2);
	/* no `mtu`: the output port's, once it is open */
	fake_out_mtu = 1400;
	assert_int_equal(run_sized(a, &t, "192.0.2.10", "198.51.100.20", fit - 100, true),
			 NIO_V_PASS);
	assert_int_equal(counter(a, CRYPTO_C_ENC_PACKETS), 3);
	assert_int_equal(run_sized(a, &t, "192.0.2.10", "198.51.100.20", fit - 99, true),
			 NIO_V_DROP);
	assert_int_equal(counter(a, CRYPTO_C_TOO_BIG), 3);
	fake_out_mtu = 0;
	crypto_service.fini(a);
}

static void test_path_mtu(void **state)
{
	one_family_mtu("203.0.113.1", "203.0.113.9", 1446);
	one_family_mtu("2001:db8:ff::1", "2001:db8:ff::9", 1426);
}

/* ---------------------------------------------------------------- configuration */

static void test_config_errors(void **state)
{
	static const struct {
		struct sa_spec sa;
		const char *msg;
	} rows[] = {
		{ SA("x", "12", "in", "aes128-gcm", "203.0.113.9", "203.0.113.1", .esn = NULL),
		  "spi" },
		{ SA("x", "0x1001", "in", "aes128-gcm", "203.0.113.9", "2001:db8::1", .esn = NULL),
		  "family" },
		{ SA("x", "0x1001", "in", "aes128-gcm", "203.0.113.9", "203.0.113.1",
		     .window = "1000"),
		  "power of two" },
		{ SA("x", "0x1001", "in", "aes128-gcm", "203.0.113.9", "203.0.113.1",
		     .src = "192.0.2.0/33"),
		  "bad prefix" },
		{ SA("x", "0x1001", "in", "aes256-gcm", "203.0.113.9", "203.0.113.1",
		     .keyfile = "/tmp/test_crypto_esp-missing.key"),
		  "No such file" },
	};
	struct conf_store cs;
	char err[256], kp[160];

	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		struct inst_spec is = { .engine = "openssl", .nsas = 1, .sa = { rows[r].sa } };

		assert_null(inst_new(&cs, &is, err, sizeof(err)));
		if (!strstr(err, rows[r].msg))
			fail_msg("row %zu: '%s' lacks '%s'", r, err, rows[r].msg);
	}
	/* a key readable by others is refused with a clear message */
	write_key("loose.key", keyhex[0], 0644);
	snprintf(kp, sizeof(kp), "%s/loose.key", tmpdir);
	{
		struct inst_spec is = { .engine = "openssl", .nsas = 1 };

		is.sa[0] = (struct sa_spec)SA("x", "0x1001", "in", "aes128-gcm", "203.0.113.9",
					      "203.0.113.1", .keyfile = kp);
		assert_null(inst_new(&cs, &is, err, sizeof(err)));
		assert_non_null(strstr(err, "group/other"));
		/* the key of the wrong size for the cipher */
		is.sa[0].cipher = "aes256-gcm";
		is.sa[0].keyfile = NULL;
		snprintf(kp, sizeof(kp), "%s/aes128-gcm.key", tmpdir);
		is.sa[0].keyfile = kp;
		assert_null(inst_new(&cs, &is, err, sizeof(err)));
		assert_non_null(strstr(err, "want 36 bytes"));
		/* two inbound SAs with one SPI and address */
		is.nsas = 2;
		is.sa[0].cipher = "aes128-gcm";
		is.sa[1] = is.sa[0];
		is.sa[1].title = "y";
		assert_null(inst_new(&cs, &is, err, sizeof(err)));
		assert_non_null(strstr(err, "same SPI"));
	}
}

/* show() names the engine in use and each SA's state. */
static void test_show(void **state)
{
	for (size_t e = 0; e < ARRAY_SIZE(engine_names); e++) {
		struct conf_store ca, cb;
		void *a, *b;
		char buf[512], dir[128], want[64];

		snprintf(dir, sizeof(dir), "%s/show%zu", tmpdir, e);
		pair_new(&a, &b, &ca, &cb, engine_names[e], "aes256-gcm", "yes", &addr_sets[0],
			 dir);
		assert_int_equal(crypto_service.show(a, buf, sizeof(buf)), 0);
		snprintf(want, sizeof(want), "engine %s (", engine_names[e]);
		assert_non_null(strstr(buf, want));
		assert_non_null(strstr(buf, "sa to-b out spi 0x00001001 aes256-gcm esn"));
		assert_int_equal(crypto_service.show(b, buf, sizeof(buf)), 0);
		assert_non_null(strstr(buf, "sa from-a in spi 0x00001001"));
		assert_int_equal(crypto_service.show(b, buf, 8), 0);
		assert_int_equal(strlen(buf), 7);
		crypto_service.fini(a);
		crypto_service.fini(b);
	}
}

/* The counter names come from the X-macro, one per counter, NULL-terminated. */
static void test_counter_names(void **state)
{
	const char *const *n = crypto_service.counter_names;
	size_t i = 0;

	while (n[i])
		i++;
	assert_int_equal(i, CRYPTO_C_MAX);
	assert_string_equal(n[CRYPTO_C_AUTH_FAIL], "auth-failures");
	assert_string_equal(n[CRYPTO_C_SEQ_RESERVE], "seq-reservations");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_engines_same_wire),
		cmocka_unit_test(test_replay_through_plugin),
		cmocka_unit_test(test_esn_across_2_32),
		cmocka_unit_test(test_esn_resync),
		cmocka_unit_test(test_esn_resync_burst),
		cmocka_unit_test(test_seq_zero),
		cmocka_unit_test(test_no_esn_never_wraps),
		cmocka_unit_test(test_state_handoff),
		cmocka_unit_test(test_decap_checks),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_select_out),
		cmocka_unit_test(test_inner_ttl),
		cmocka_unit_test(test_path_mtu),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_counter_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

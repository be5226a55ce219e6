/* The crypto service's structures and, per file, what each file offers the others. */
#ifndef NETIO_CRYPTO_H
#define NETIO_CRYPTO_H

#include <limits.h>
#include <semaphore.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netio/pkt.h>
#include <netio/service.h>

#define CRYPTO_SALT_LEN	  4  /* RFC 4106 / RFC 7634: last 4 bytes of the key material */
#define CRYPTO_IV_LEN	  8  /* explicit IV carried in every packet */
#define CRYPTO_NONCE_LEN  12 /* salt || IV */
#define CRYPTO_ICV_LEN	  16
#define CRYPTO_KEY_MAX	  32
#define CRYPTO_ESP_HLEN	  8 /* SPI + sequence number */
#define CRYPTO_MAX_SAS	  64
#define CRYPTO_MAX_SEL	  8    /* inner-src / inner-dst prefixes per SA */
#define CRYPTO_KEY_ID_LEN 8    /* bytes of a key fingerprint */
#define CRYPTO_NATT_PORT  4500 /* RFC 3948: ESP in UDP (and IKE behind its non-ESP marker) */
#define CRYPTO_UDP_HLEN	  8

enum crypto_cipher {
	CRYPTO_AES128_GCM,
	CRYPTO_AES256_GCM,
	CRYPTO_CHACHA20_POLY1305,
};

/* One AEAD operation, in place over data[0, len) with the tag at icv. */
struct crypto_op {
	const void *key; /* from crypto_engine_ops.key_new */
	const uint8_t *aad;
	uint32_t aad_len;
	uint32_t len;
	uint8_t *data;
	uint8_t *icv; /* written when encrypting, verified when decrypting */
	bool encrypt;
	bool ok; /* result: tag verified / encryption done */
	uint8_t nonce[CRYPTO_NONCE_LEN];
	uint8_t aad_buf[12];	     /* SPI || [seq-hi] || seq-lo, what ESP points aad at */
	uint8_t tag[CRYPTO_ICV_LEN]; /* engine scratch for the computed tag */
};

/*
 * An AEAD implementation. open/close/key_new/key_free run on the control thread; run on the
 * worker, over a whole burst so that multi-buffer engines can interleave packets. A key
 * context is prepared once per SA and direction and only read by run().
 */
struct crypto_engine_ops {
	const char *name;
	void *(*open)(char *err, size_t errlen); /* NULL when unusable on this machine */
	void (*close)(void *eng);
	void *(*key_new)(void *eng, enum crypto_cipher c, const uint8_t *key, bool encrypt);
	void (*key_free)(void *eng, void *key);
	void (*run)(void *eng, struct crypto_op *ops, unsigned n);
	const char *(*detail)(void *eng); /* e.g. the instruction set in use */
};

struct crypto_engine {
	const struct crypto_engine_ops *ops;
	void *priv;
};

/* Counters, kept per SA and summed per instance. */
#define foreach_crypto_counter                      \
	_(ENC_PACKETS, "enc-packets")               \
	_(ENC_BYTES, "enc-bytes")                   \
	_(DEC_PACKETS, "dec-packets")               \
	_(DEC_BYTES, "dec-bytes")                   \
	_(REPLAY_DUP, "replay-duplicate")           \
	_(REPLAY_OLD, "replay-too-old")             \
	_(SEQ_ZERO, "bad-seq-zero")                 \
	_(ESN_RESYNC, "esn-resyncs")                \
	_(AUTH_FAIL, "auth-failures")               \
	_(BAD_PAD, "bad-padding")                   \
	_(BAD_NH, "bad-next-header")                \
	_(BAD_INNER, "bad-inner-packet")            \
	_(DUMMY, "dummy-packets")                   \
	_(POLICY, "policy-drops")                   \
	_(SEQ_OVERFLOW, "seq-overflow")             \
	_(SEQ_STALL, "seq-stall")                   \
	_(SEQ_RESERVE, "seq-reservations")          \
	_(SEQ_RESERVE_FAIL, "seq-reserve-failures") \
	_(NO_SA, "no-sa")                           \
	_(MALFORMED, "malformed")                   \
	_(NO_ROOM, "no-room")                       \
	_(ICMP_TOO_BIG, "icmp-too-big")             \
	_(TOO_BIG, "too-big-drops")                 \
	_(ENGINE_FAIL, "engine-failures")           \
	_(XFRM_EVENTS, "xfrm-events")               \
	_(XFRM_BAD, "xfrm-malformed")               \
	_(XFRM_SKIPPED, "xfrm-sas-skipped")         \
	_(XFRM_RESYNC, "xfrm-resyncs")              \
	_(LIFETIME, "lifetime-expired")             \
	_(UDP_NOT_ESP, "udp-not-esp")

enum crypto_counter {
#define _(sym, str) CRYPTO_C_##sym,
	foreach_crypto_counter
#undef _
		CRYPTO_C_MAX
};
extern const char *const crypto_counter_names[CRYPTO_C_MAX + 1];

/* Anti-replay window (RFC 4303 3.4.3, bitmap as in RFC 6479: no shifting). */
struct crypto_replay {
	uint64_t top;	 /* highest sequence number accepted so far (0: none) */
	uint32_t window; /* W: accepted range is (top - W, top] */
	uint32_t mask;	 /* words in bits[] - 1; the ring holds at least W + 64 bits */
	uint64_t *bits;
};

enum crypto_replay_result { CRYPTO_REPLAY_OK, CRYPTO_REPLAY_DUP, CRYPTO_REPLAY_OLD };

/* RFC 4303 A3 resynchronisation of an inbound ESN SA (resync.c). */
#define CRYPTO_RESYNC_AFTER 8  /* consecutive ICV failures before higher seq-hi are tried */
#define CRYPTO_RESYNC_SPAN  16 /* seq-hi values tried above the window's */

struct crypto_resync {
	uint32_t fails; /* consecutive ICV failures */
	bool busy;	/* copy holds the armed packet of the burst in progress */
	uint8_t *copy;	/* its ciphertext; allocated for inbound ESN SAs only */
};

/* Outbound sequence numbers, reserved in durable blocks (see seq.c for the guarantee). */
struct crypto_seq {
	char path[PATH_MAX];
	char lock_path[PATH_MAX];
	uint64_t block;		     /* numbers per reservation */
	uint64_t limit;		     /* last usable number: 2^32 - 1, or 2^64 - 2 with ESN */
	uint64_t next;		     /* worker: next number to use */
	uint64_t end;		     /* worker: first number not reserved for it */
	uint64_t spare_lo, spare_hi; /* reserver: the block the worker takes next */
	atomic_bool spare_ready;     /* release by reserver, acquire by worker */
	atomic_bool exhausted;	     /* the sequence space is used up: the SA is stopped */
	int last_err;		     /* reserver: the failure last logged, 0 after a success */
};

struct crypto_prefix {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	uint8_t len;	  /* in the 128-bit space */
};

/*
 * A kernel SA's byte and packet lifetimes (0: no limit). The kernel never sees the SA's
 * packets, so netiod counts them: the worker stops the SA at the hard limit, the thread tells
 * the kernel (its counters, and the soft and hard expiry the IKE daemon rekeys on).
 */
struct crypto_klife {
	uint64_t soft_bytes, hard_bytes, soft_packets, hard_packets;
	uint64_t add_time;		       /* the kernel's, handed back with the counters */
	uint64_t pushed_bytes, pushed_packets; /* thread: last counters written to the kernel */
	bool soft_sent, hard_sent;	       /* thread: EXPIRE sent */
};

struct crypto_sa {
	char name[64];
	uint32_t spi;
	bool out;
	bool esn;
	enum crypto_cipher cipher;
	uint8_t salt[CRYPTO_SALT_LEN];
	uint8_t key_id[CRYPTO_KEY_ID_LEN]; /* names the key without revealing it */
	uint8_t local[16], remote[16];
	uint8_t family;	    /* of local/remote: 4 or 6 */
	uint32_t mtu;	    /* largest outer IP packet (out); 0: the output port's MTU */
	const int *out_mtu; /* the host's view of the output port's MTU, or NULL */
	void *key;	    /* engine key context */
	unsigned nsrc, ndst;
	struct crypto_prefix src[CRYPTO_MAX_SEL], dst[CRYPTO_MAX_SEL];
	struct crypto_replay replay; /* inbound */
	struct crypto_resync resync; /* inbound */
	struct crypto_seq seq;	     /* outbound */
	uint64_t cnt[CRYPTO_C_MAX];
	/* sa-source kernel (ksrc.c), written by its thread only: the kernel SA this mirrors */
	bool kernel;
	bool dying;	     /* the kernel's soft expiry came: a newer SA is preferred */
	bool mark;	     /* seen by the dump of a resynchronisation */
	uint32_t reqid;	     /* of the kernel SA, matched against the policies' templates */
	uint64_t serial;     /* order of installation: the newest usable outbound SA is used */
	uint64_t retire_gen; /* freed once the worker uses a view this new */
	struct crypto_sa *retired_next;
	struct crypto_klife life;
	/* RFC 3948 UDP encapsulation (kernel SAs with XFRMA_ENCAP): IPv4 only, checksum 0 */
	bool encap;
	_Atomic uint32_t encap_ports; /* source port << 16 | destination port, as the SA says;
				       * the thread updates them when the SA's ports float */
};

/* An encapsulated SA's UDP port on this gateway's side (inbound: the destination). */
static inline uint16_t crypto_sa_local_port(const struct crypto_sa *sa)
{
	uint32_t v = atomic_load_explicit(&sa->encap_ports, memory_order_relaxed);

	return (uint16_t)(sa->out ? v >> 16 : v);
}

/* Per packet of a burst, between preparation and the engine's verdict. */
struct crypto_pctx {
	struct crypto_sa *sa;
	uint64_t seq;
	uint32_t inner_len; /* encap: bytes accounted */
	bool resync;	    /* decap: armed for resynchronisation (resync.c) */
};

struct crypto_ksrc;
struct crypto_kview;

/* hold.c: inbound ESP waiting for the thread to publish its kernel SA */
#define CRYPTO_HOLD_MAX 64
struct crypto_hold {
	unsigned n;
	struct nio_pkt *p[CRYPTO_HOLD_MAX];
	uint64_t t[CRYPTO_HOLD_MAX]; /* when held (host->now_ns) */
};

struct crypto_inst {
	const struct nio_host *host;
	/* sa-source kernel: the source and the view the worker uses (sas/nsas are its copy) */
	struct crypto_ksrc *ks;
	const struct crypto_kview *kv;
	struct crypto_hold hold;
	struct crypto_engine engine;
	unsigned nsas;
	struct crypto_sa *sas[CRYPTO_MAX_SAS];
	uint64_t cnt[CRYPTO_C_MAX];
	/* burst scratch, used by the one worker that runs this instance */
	struct crypto_op ops[NIO_BURST_MAX];
	struct crypto_pctx pctx[NIO_BURST_MAX];
	uint16_t idx[NIO_BURST_MAX];
	/* the reserver thread keeps one spare block ready per outbound SA */
	pthread_t reserver;
	bool reserver_started;
	sem_t wake;
	atomic_bool stop;
};

/* engine.c */
int crypto_engine_open(struct crypto_engine *e, const char *name, char *err, size_t errlen);
void crypto_engine_close(struct crypto_engine *e);
size_t crypto_cipher_key_len(enum crypto_cipher c);
int crypto_cipher_parse(const char *s, enum crypto_cipher *c);
extern const struct crypto_engine_ops crypto_engine_openssl;
#ifdef NIO_HAVE_IPSECMB
extern const struct crypto_engine_ops crypto_engine_ipsecmb;
#endif

/* replay.c */
int crypto_replay_init(struct crypto_replay *r, uint32_t window);
void crypto_replay_fini(struct crypto_replay *r);
uint64_t crypto_replay_infer(const struct crypto_replay *r, uint32_t seq_lo, bool esn);
enum crypto_replay_result crypto_replay_check(const struct crypto_replay *r, uint64_t seq);
enum crypto_replay_result crypto_replay_advance(struct crypto_replay *r, uint64_t seq);

/* resync.c */
int crypto_resync_init(struct crypto_resync *rs, bool esn);
void crypto_resync_fini(struct crypto_resync *rs);
bool crypto_resync_arm(struct crypto_resync *rs, const struct crypto_op *op);
uint64_t crypto_resync_try(struct crypto_resync *rs, const struct crypto_engine *e, uint32_t spi,
			   const struct crypto_replay *r, struct crypto_op *op, uint64_t inferred);
void crypto_resync_note(struct crypto_resync *rs, bool armed, bool verified);

/* seq.c */
int crypto_key_id(const uint8_t *keymat, size_t keylen, uint8_t id[CRYPTO_KEY_ID_LEN]);
int crypto_seq_open(struct crypto_seq *s, const char *dir, const uint8_t *keymat, size_t keylen,
		    uint64_t block, bool esn, char *err, size_t errlen);
int crypto_seq_reserve(struct crypto_seq *s, uint64_t *lo, uint64_t *hi);
uint64_t crypto_seq_next(struct crypto_seq *s, bool *took_spare);
bool crypto_seq_wants_spare(const struct crypto_seq *s);
void crypto_seq_put_spare(struct crypto_seq *s, uint64_t lo, uint64_t hi);

/* state.c: inbound windows handed from a replaced instance to its successor */
int crypto_save_state(void *inst, void **blob, size_t *len);
int crypto_restore_state(void *inst, const void *blob, size_t len);

/*
 * xfrm_msg.c: one XFRM netlink message (linux/xfrm.h) as netiod uses it. The bytes come from
 * the kernel, but the parser trusts no length in them (fuzzed: tests/fuzz/fuzz_xfrm.c).
 */
enum crypto_xfrm_kind {
	CRYPTO_XFRM_IGNORE, /* a message of no interest (ACQUIRE, NEWAE, ...) */
	CRYPTO_XFRM_SA_ADD, /* NEWSA, UPDSA (also dump replies) */
	CRYPTO_XFRM_SA_DEL, /* DELSA */
	CRYPTO_XFRM_SA_EXPIRE /* EXPIRE: soft (mark dying) or hard (gone) */,
	CRYPTO_XFRM_SA_FLUSH,
	CRYPTO_XFRM_POL_ADD, /* NEWPOLICY, UPDPOLICY */
	CRYPTO_XFRM_POL_DEL,
	CRYPTO_XFRM_POL_FLUSH,
	CRYPTO_XFRM_DONE,  /* end of a dump */
	CRYPTO_XFRM_ERROR, /* NLMSG_ERROR: err holds the (negative) errno, 0 for an ACK */
	CRYPTO_XFRM_BAD,   /* malformed: counted and skipped */
};

#define CRYPTO_XFRM_MAX_TMPL 4

struct crypto_xfrm_sel {
	struct crypto_prefix src, dst; /* in the 128-bit space */
	uint8_t family;		       /* 4, 6, or 0 (any) */
	uint8_t proto;		       /* 0: any */
	uint16_t sport, sport_mask, dport, dport_mask;
};

struct crypto_xfrm_sa {
	uint32_t spi, reqid;
	uint8_t src[16], dst[16]; /* outer addresses, IPv4 as ::ffff:a.b.c.d */
	uint8_t family, proto, mode;
	bool esn;
	uint32_t replay_window;					     /* packets */
	uint64_t soft_bytes, hard_bytes, soft_packets, hard_packets; /* 0: no limit */
	uint64_t add_time;					     /* curlft.add_time */
	bool hard;						     /* EXPIRE: the hard limit */
	bool encap;	     /* XFRMA_ENCAP present (UDP encapsulation) */
	bool encap_bad;	     /* XFRMA_ENCAP too short to read */
	uint16_t encap_type; /* UDP_ENCAP_ESPINUDP (RFC 3948) is the one netiod runs */
	uint16_t encap_sport, encap_dport; /* host order: the SA's source and destination port */
	bool has_aead;			   /* XFRMA_ALG_AEAD present */
	bool other_alg; /* an encryption or authentication algorithm other than an AEAD */
	char alg[64];	/* AEAD name as the kernel knows it */
	uint32_t icv_bits;
	size_t keylen; /* bytes of key material, salt included */
	uint8_t key[CRYPTO_KEY_MAX + CRYPTO_SALT_LEN];
};

struct crypto_xfrm_pol {
	struct crypto_xfrm_sel sel;
	uint32_t index, priority;
	uint8_t dir;	/* XFRM_POLICY_IN / OUT / FWD */
	uint8_t action; /* XFRM_POLICY_ALLOW / BLOCK */
	bool main_type; /* XFRM_POLICY_TYPE_MAIN (sub policies are not used) */
	unsigned ntmpl;
	struct {
		uint8_t src[16], dst[16];
		uint32_t reqid;
		uint32_t spi; /* host order; 0: any SA of the reqid */
		uint8_t proto, mode, family;
	} tmpl[CRYPTO_XFRM_MAX_TMPL];
};

struct crypto_xfrm_msg {
	enum crypto_xfrm_kind kind;
	int err;
	uint32_t seq;
	struct crypto_xfrm_sa sa;   /* SA_* (DEL: spi, dst, family, proto only) */
	struct crypto_xfrm_pol pol; /* POL_* (DEL: index, dir, sel) */
};

/* Parse the message at buf (len bytes available); returns its aligned length, or 0 when no
 * whole message header is there. m->kind says what it was. */
size_t crypto_xfrm_parse(const uint8_t *buf, size_t len, struct crypto_xfrm_msg *m);
/* The crypto cipher of an AEAD SA, or -1 with why set when netiod cannot run it. */
int crypto_xfrm_cipher(const struct crypto_xfrm_sa *sa, enum crypto_cipher *c, const char **why);
bool crypto_xfrm_sel_match(const struct crypto_xfrm_sel *s, const struct nio_flow_key *k);

/*
 * ksrc.c: the kernel SA source. A thread follows the kernel's XFRM SAs and policies (xfrm_nl.c)
 * between the configured local and remote tunnel addresses and publishes immutable views; the
 * worker picks the newest view up at the start of each burst.
 */
#define CRYPTO_KMAX_POL 64

struct crypto_kpol {
	struct crypto_xfrm_pol p;
	struct crypto_sa *sa; /* dir out: the SA its packets use now (NULL: none, dropped) */
};

struct crypto_kview {
	uint64_t gen;
	unsigned nsas, npol;
	struct crypto_sa *sas[CRYPTO_MAX_SAS];
	struct crypto_kpol pol[CRYPTO_KMAX_POL]; /* ours, best priority first */
	struct crypto_kview *retired_next;
};

/*
 * A deleted outbound SA's sequence state, removed CRYPTO_KGRAVE_MS later: strongSwan moves an
 * SA to new addresses or ports (a NAT's new mapping, MOBIKE) by deleting it and adding it
 * again with the same key, which must go on above the old reservations, never from 1 again.
 */
#define CRYPTO_KGRAVE_MS 10000
struct crypto_kgrave {
	char path[PATH_MAX];
	uint64_t due_ms;
};

struct crypto_ksrc {
	struct crypto_inst *ci;
	uint8_t local[16], remote[16];
	uint8_t family;
	uint64_t block; /* seq-block */
	int ev_fd, req_fd, stop_fd;
	uint32_t req_seq;
	pthread_t thread;
	bool started;
	bool resync;	      /* events were lost: dump again */
	pthread_mutex_t lock; /* sas[] and their counters against show() and the reserver */
	unsigned nsas, npol;
	struct crypto_sa *sas[CRYPTO_MAX_SAS];
	struct crypto_xfrm_pol pol[CRYPTO_KMAX_POL];
	bool pol_mark[CRYPTO_KMAX_POL];
	uint64_t serial, gen;
	bool changed;
	_Atomic(struct crypto_kview *) cur; /* release by the thread, acquire by the worker */
	_Atomic uint64_t seen;		    /* the worker's view: release by it, acquire here */
	struct crypto_sa *retired_sas;
	struct crypto_kview *retired_views;
	unsigned ngrave; /* thread: deleted SAs' sequence state, oldest first */
	struct crypto_kgrave grave[CRYPTO_MAX_SAS];
};

int crypto_ksrc_open(struct crypto_inst *ci, const struct nio_conf *conf, char *err, size_t errlen);
int crypto_ksrc_start(struct crypto_ksrc *ks, char *err, size_t errlen);
void crypto_ksrc_close(struct crypto_ksrc *ks);
void crypto_ksrc_apply(struct crypto_ksrc *ks, struct crypto_xfrm_msg *m);
void crypto_ksrc_sweep(struct crypto_ksrc *ks);
void crypto_ksrc_publish(struct crypto_ksrc *ks);
/* Remove the sequence state of SAs deleted before now_ms - CRYPTO_KGRAVE_MS (thread). */
void crypto_ksrc_graves(struct crypto_ksrc *ks, uint64_t now_ms);
/* worker */
void crypto_ksrc_enter(struct crypto_inst *ci);
struct crypto_sa *crypto_ksrc_select_out(const struct crypto_kview *v, const struct nio_pkt *p);
bool crypto_ksrc_in_allowed(const struct crypto_kview *v, const struct crypto_sa *sa,
			    const struct nio_flow_key *inner);

/* The SA's traffic so far, as its lifetimes count it (inner bytes). */
static inline void crypto_ksa_usage(const struct crypto_sa *sa, uint64_t *bytes, uint64_t *packets)
{
	*bytes = sa->cnt[sa->out ? CRYPTO_C_ENC_BYTES : CRYPTO_C_DEC_BYTES];
	*packets = sa->cnt[sa->out ? CRYPTO_C_ENC_PACKETS : CRYPTO_C_DEC_PACKETS];
}

/* Worker: has the SA reached its hard byte or packet limit? */
static inline bool crypto_ksa_spent(const struct crypto_sa *sa)
{
	uint64_t b, p;

	if (!sa->kernel || (!sa->life.hard_bytes && !sa->life.hard_packets))
		return false;
	crypto_ksa_usage(sa, &b, &p);
	return (sa->life.hard_bytes && b >= sa->life.hard_bytes) ||
	       (sa->life.hard_packets && p >= sa->life.hard_packets);
}

/* xfrm_nl.c: the XFRM netlink sockets of a kernel SA source */
int crypto_xfrm_open(struct crypto_ksrc *ks, char *err, size_t errlen);
int crypto_xfrm_dump_all(struct crypto_ksrc *ks);
int crypto_xfrm_events(struct crypto_ksrc *ks);
/* Tell the kernel what netiod counted on the SA (NEWAE) and its expiry (EXPIRE). */
int crypto_xfrm_push_usage(struct crypto_ksrc *ks, const struct crypto_sa *sa, uint64_t bytes,
			   uint64_t packets);
int crypto_xfrm_expire(struct crypto_ksrc *ks, const struct crypto_sa *sa, bool hard);
void crypto_xfrm_close(struct crypto_ksrc *ks);

bool crypto_hold_put(struct crypto_inst *ci, struct nio_pkt *p);
uint16_t crypto_hold_release(struct crypto_inst *ci, uint64_t now, struct nio_pkt **out,
			     uint16_t max, uint64_t *next_ns);
void crypto_hold_flush(struct crypto_inst *ci);

/* crypto.c, for ksrc.c */
void crypto_sa_free(struct crypto_inst *ci, struct crypto_sa *sa);

/* keyfile.c */
int crypto_key_load(const char *path, uint8_t *out, size_t want, char *err, size_t errlen);

/* esp.c: per packet, split around the engine run so that a burst is encrypted at once */
/* PASS: p became an ICMP error to its sender and goes on as it is */
/* HOLD: p waits for its kernel SA (hold.c) */
enum crypto_prep { CRYPTO_PREP_OP, CRYPTO_PREP_DROP, CRYPTO_PREP_PASS, CRYPTO_PREP_HOLD };
struct crypto_sa *crypto_sa_lookup_in(struct crypto_inst *ci, const struct nio_pkt *p, bool *ours,
				      enum crypto_counter *why);
struct crypto_sa *crypto_sa_select_out(struct crypto_inst *ci, const struct nio_pkt *p);
/* The largest inner packet whose ESP packet, outer header included, fits mtu. */
uint32_t crypto_esp_inner_mtu(uint32_t mtu, uint8_t outer_family);
/* The SA's path MTU: `mtu`, else the output port's once open, else 1500; at least 576. */
uint32_t crypto_sa_mtu(const struct crypto_sa *sa);
/* The largest inner packet the SA carries within its path MTU (UDP encapsulation included). */
uint32_t crypto_sa_inner_mtu(const struct crypto_sa *sa);
int crypto_esp_encap_prep(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p,
			  struct crypto_op *op, struct crypto_pctx *pc);
int crypto_esp_decap_prep(struct crypto_inst *ci, struct crypto_sa *sa, struct nio_pkt *p,
			  struct crypto_op *op, struct crypto_pctx *pc);
int crypto_esp_decap_finish(struct crypto_inst *ci, struct nio_pkt *p, struct crypto_op *op,
			    struct crypto_pctx *pc);
void crypto_esp_aad(struct crypto_op *op, uint32_t spi, uint64_t seq, bool esn);
bool crypto_prefix_match(const struct crypto_prefix *pf, unsigned n, const uint8_t addr[16]);
int crypto_prefix_parse(const char *s, struct crypto_prefix *p);
int crypto_addr_parse(const char *s, uint8_t out[16], uint8_t *family);

static inline void crypto_count(struct crypto_inst *ci, struct crypto_sa *sa, enum crypto_counter c,
				uint64_t v)
{
	ci->cnt[c] += v;
	if (sa)
		sa->cnt[c] += v;
}

/* p is dropped, counted under c: the packet tracer shows that name (nio_pkt.drop_ctr). */
static inline void crypto_count_drop(struct crypto_inst *ci, struct crypto_sa *sa,
				     struct nio_pkt *p, enum crypto_counter c)
{
	crypto_count(ci, sa, c, 1);
	p->drop_ctr = (uint16_t)(c + 1);
}

static inline void crypto_put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static inline uint32_t crypto_get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

#endif /* NETIO_CRYPTO_H */

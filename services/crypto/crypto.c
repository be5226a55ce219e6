/* The crypto service: ESP tunnel mode SAs (AES-GCM, ChaCha20-Poly1305) for a netio pipeline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <openssl/crypto.h>

#include "crypto.h"

/*
 * Packet contract (what the daemon gives and gets back):
 *
 * Every packet is a full Ethernet frame with l3_off and NIO_PKT_F_IPV4/IPV6 set.
 *  - ESP (IP protocol 50) sent to the local address of one of the block's inbound SAs is
 *    decapsulated: SA by SPI and destination, duplicate check, AEAD verify+decrypt, window
 *    update, padding and next-header checks, inner packet sanity, inner-src/inner-dst policy.
 *    It leaves as [Ethernet with placeholder MACs | inner IP packet]; l3_off, flags,
 *    ip_proto, dscp and key describe the inner packet, so the daemon routes it.
 *    ESP to our address with an unknown SPI is dropped (no-sa).
 *  - Everything else is encapsulated by the first outbound SA whose inner-src/inner-dst
 *    selectors take it (none: dropped, no-sa): the old L2 header is replaced by a fresh one
 *    with placeholder MACs, then outer IPv4/IPv6 (local -> remote), ESP header, 8-byte IV,
 *    the encrypted inner IP packet + padding + pad length + next header, and the 16-byte
 *    ICV. l3_off, l4_off, flags, ip_proto (50) and key (outer addresses, family) describe
 *    the outer packet, so the daemon routes it towards the peer and rewrites the MACs.
 *    The daemon decremented the inner TTL / hop limit when the packet entered the pipeline
 *    (this gateway forwards the inner packet; RFC 4301 5.1.2.1) and answered an expiring one
 *    with time exceeded; it leaves the outer header alone: its TTL is 64, DSCP/ECN are copied
 *    from the inner header.
 *    Path MTU: an inner packet whose outer packet would exceed the SA's `mtu` (default: the
 *    output port's, host->out_mtu) becomes, by the host's icmp_too_big, the ICMP error the kernel sends (IPv4 with DF: fragmentation needed,
 *    IPv6: packet too big) with the largest inner size that fits as next-hop MTU, and goes
 *    back to its sender (icmp-too-big); one the host answers nothing for (IPv4 without DF)
 *    is dropped (too-big-drops): it is not fragmented.
 * Nothing passes unencrypted by accident: a pipeline with this service should run
 * fail-mode "secure".
 *
 * Nonces: the IV is the 64-bit sequence number; outbound numbers are reserved in durable
 * blocks (seq.c), so a (key, nonce) pair is never used twice, across crashes and restarts
 * included, as long as the state directory survives.
 *
 * ESN: a receiver that lost track of the sender's high 32 bits (restarted with an empty
 * window after the peer passed 2^32, or 2^32 packets lost) resynchronises as RFC 4303 A3
 * describes (resync.c). Sequence number 0 is never valid on receive (bad-seq-zero).
 *
 * Not done: ESP fragments (dropped), IPv6 extension headers before ESP (not seen as ESP),
 * ECN CE propagation on decap, ICMP errors (too big, time exceeded) towards the inner source.
 */

const char *const crypto_counter_names[CRYPTO_C_MAX + 1] = {
#define _(sym, str) str,
	foreach_crypto_counter
#undef _
		NULL
};

static const struct nio_opt sa_opts[] = {
	{ .name = "spi",
	  .type = NIO_OPT_STR,
	  .flags = NIO_OPT_F_REQUIRED,
	  .help = "Security Parameter Index, 256..4294967295 (decimal or 0x hex)" },
	{ .name = "direction",
	  .type = NIO_OPT_ENUM,
	  .flags = NIO_OPT_F_REQUIRED,
	  .choices = "in|out",
	  .help = "in: decapsulate, out: encapsulate" },
	{ .name = "cipher",
	  .type = NIO_OPT_ENUM,
	  .flags = NIO_OPT_F_REQUIRED,
	  .choices = "aes128-gcm|aes256-gcm|chacha20-poly1305",
	  .help = "AEAD, 16-byte ICV" },
	{ .name = "key-file",
	  .type = NIO_OPT_STR,
	  .flags = NIO_OPT_F_REQUIRED,
	  .help = "hex key followed by the 4-byte salt; mode 0600 or stricter" },
	{ .name = "local",
	  .type = NIO_OPT_ADDR,
	  .flags = NIO_OPT_F_REQUIRED,
	  .help = "our tunnel address" },
	{ .name = "remote",
	  .type = NIO_OPT_ADDR,
	  .flags = NIO_OPT_F_REQUIRED,
	  .help = "the peer's tunnel address" },
	{ .name = "esn",
	  .type = NIO_OPT_BOOL,
	  .def = "no",
	  .help = "64-bit extended sequence numbers (RFC 4303 2.2.1)" },
	{ .name = "replay-window",
	  .type = NIO_OPT_INT,
	  .def = "1024",
	  .min = 32,
	  .max = 65536,
	  .help = "inbound anti-replay window in packets, a power of two" },
	{ .name = "inner-src",
	  .type = NIO_OPT_LIST,
	  .help = "inner source prefixes: selector (out) or required (in); empty = any" },
	{ .name = "inner-dst",
	  .type = NIO_OPT_LIST,
	  .help = "inner destination prefixes: selector (out) or required (in); empty = any" },
	{ .name = "mtu",
	  .type = NIO_OPT_INT,
	  .min = 576,
	  .max = 9216,
	  .help = "out: path MTU for the outer packet (default: the output port's MTU); inner "
		  "packets that would exceed it get ICMP too-big (IPv4 with DF, IPv6) or are "
		  "dropped" },
	{ .name = NULL },
};

static const struct nio_opt crypto_opts[] = {
	{ .name = "engine",
	  .type = NIO_OPT_ENUM,
	  .def = "auto",
	  .choices = "auto|openssl|ipsec-mb",
	  .help = "AEAD implementation; auto = intel-ipsec-mb when the CPU allows, else OpenSSL" },
	{ .name = "seq-block",
	  .type = NIO_OPT_INT,
	  .def = "65536",
	  .min = 1024,
	  .max = 1073741824,
	  .help = "outbound sequence numbers reserved per durable write" },
	{ .name = "sa-source",
	  .type = NIO_OPT_ENUM,
	  .def = "config",
	  .choices = "config|kernel",
	  .help = "config: the sa blocks with their key files; kernel: follow the kernel's XFRM "
		  "SAs and policies between local and remote (an IKE daemon installs them)" },
	{ .name = "local", .type = NIO_OPT_ADDR, .help = "sa-source kernel: our tunnel address" },
	{ .name = "remote",
	  .type = NIO_OPT_ADDR,
	  .help = "sa-source kernel: the peer's tunnel address" },
	{ .name = "sa",
	  .type = NIO_OPT_SECTION,
	  .sub = sa_opts,
	  .help = "one security association (sa-source config)" },
	{ .name = NULL },
};

/* ---------------------------------------------------------------- configuration */

static int parse_spi(const char *s, uint32_t *spi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s || v < 256 || v > UINT32_MAX)
		return -1;
	*spi = (uint32_t)v;
	return 0;
}

static int parse_prefixes(const struct nio_host *h, const struct nio_conf *c, const char *name,
			  struct crypto_prefix *out, unsigned *n, char *err, size_t errlen)
{
	unsigned cnt = h->conf_count(c, name);

	if (cnt > CRYPTO_MAX_SEL) {
		snprintf(err, errlen, "%s: at most %d prefixes", name, CRYPTO_MAX_SEL);
		return -1;
	}
	for (unsigned i = 0; i < cnt; i++) {
		const char *s = h->conf_list(c, name, i);

		if (crypto_prefix_parse(s, &out[i]) < 0) {
			snprintf(err, errlen, "%s: bad prefix '%s'", name, s);
			return -1;
		}
	}
	*n = cnt;
	return 0;
}

static int sa_addrs(const struct nio_host *h, const struct nio_conf *c, struct crypto_sa *sa,
		    char *err, size_t errlen)
{
	uint8_t fl, fr;

	if (crypto_addr_parse(h->conf_str(c, "local"), sa->local, &fl) < 0 ||
	    crypto_addr_parse(h->conf_str(c, "remote"), sa->remote, &fr) < 0) {
		snprintf(err, errlen, "bad local/remote address");
		return -1;
	}
	if (fl != fr) {
		snprintf(err, errlen, "local and remote must be the same address family");
		return -1;
	}
	sa->family = fl;
	return 0;
}

/* Key material: the key goes to the engine, the salt stays here, the buffer is wiped. */
static int sa_key(struct crypto_inst *ci, const struct nio_conf *c, struct crypto_sa *sa,
		  uint64_t block, char *err, size_t errlen)
{
	uint8_t km[CRYPTO_KEY_MAX + CRYPTO_SALT_LEN];
	size_t klen = crypto_cipher_key_len(sa->cipher);
	int rc = -1;

	if (crypto_key_load(ci->host->conf_str(c, "key-file"), km, klen + CRYPTO_SALT_LEN, err,
			    errlen) < 0)
		goto out;
	memcpy(sa->salt, km + klen, CRYPTO_SALT_LEN);
	if (crypto_key_id(km, klen + CRYPTO_SALT_LEN, sa->key_id) < 0) {
		snprintf(err, errlen, "cannot fingerprint the key");
		goto out;
	}
	sa->key = ci->engine.ops->key_new(ci->engine.priv, sa->cipher, km, sa->out);
	if (!sa->key) {
		snprintf(err, errlen, "engine %s refused the key", ci->engine.ops->name);
		goto out;
	}
	/* netiod -t only checks the configuration: reserve nothing, write nothing */
	if (sa->out && !ci->host->check_only &&
	    crypto_seq_open(&sa->seq, ci->host->state_dir, km, klen + CRYPTO_SALT_LEN, block,
			    sa->esn, err, errlen) < 0)
		goto out;
	if (sa->out && !ci->host->check_only)
		crypto_count(ci, sa, CRYPTO_C_SEQ_RESERVE, 1);
	rc = 0;
out:
	OPENSSL_cleanse(km, sizeof(km));
	return rc;
}

static int sa_conf(struct crypto_inst *ci, const struct nio_conf *c, struct crypto_sa *sa,
		   uint64_t block, char *err, size_t errlen)
{
	const struct nio_host *h = ci->host;
	long long window = h->conf_int(c, "replay-window");

	snprintf(sa->name, sizeof(sa->name), "%s", h->conf_title(c) ? h->conf_title(c) : "");
	if (parse_spi(h->conf_str(c, "spi"), &sa->spi) < 0) {
		snprintf(err, errlen, "spi must be 256..4294967295");
		return -1;
	}
	sa->out = !strcmp(h->conf_str(c, "direction"), "out");
	sa->esn = h->conf_int(c, "esn") != 0;
	sa->mtu = (uint32_t)h->conf_int(c, "mtu");
	if (!sa->mtu && NIO_HOST_HAS(h, out_mtu))
		sa->out_mtu = h->out_mtu;
	if (crypto_cipher_parse(h->conf_str(c, "cipher"), &sa->cipher) < 0) {
		snprintf(err, errlen, "unknown cipher");
		return -1;
	}
	if (sa_addrs(h, c, sa, err, errlen) < 0 ||
	    parse_prefixes(h, c, "inner-src", sa->src, &sa->nsrc, err, errlen) < 0 ||
	    parse_prefixes(h, c, "inner-dst", sa->dst, &sa->ndst, err, errlen) < 0)
		return -1;
	if (!sa->out && crypto_replay_init(&sa->replay, (uint32_t)window) < 0) {
		snprintf(err, errlen, "replay-window must be a power of two, 32..65536");
		return -1;
	}
	if (!sa->out && crypto_resync_init(&sa->resync, sa->esn) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return sa_key(ci, c, sa, block, err, errlen);
}

/* Two inbound SAs with the same SPI and address would make the lookup ambiguous. */
static int sa_unique(const struct crypto_inst *ci, const struct crypto_sa *sa, char *err,
		     size_t errlen)
{
	for (unsigned i = 0; i < ci->nsas; i++) {
		const struct crypto_sa *o = ci->sas[i];

		if (o->out == sa->out && o->spi == sa->spi && !memcmp(o->local, sa->local, 16)) {
			snprintf(err, errlen, "sa %s: same SPI 0x%08x and local address as sa %s",
				 sa->name, sa->spi, o->name);
			return -1;
		}
	}
	return 0;
}

void crypto_sa_free(struct crypto_inst *ci, struct crypto_sa *sa)
{
	if (sa->key)
		ci->engine.ops->key_free(ci->engine.priv, sa->key);
	crypto_replay_fini(&sa->replay);
	crypto_resync_fini(&sa->resync);
	free(sa);
}

static int load_sas(struct crypto_inst *ci, const struct nio_conf *conf, char *err, size_t errlen)
{
	const struct nio_host *h = ci->host;
	unsigned n = h->conf_count(conf, "sa");
	uint64_t block = (uint64_t)h->conf_int(conf, "seq-block");
	char why[256];

	if (n == 0 || n > CRYPTO_MAX_SAS) {
		snprintf(err, errlen, "need 1..%d sa blocks", CRYPTO_MAX_SAS);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct nio_conf *c = h->conf_section(conf, "sa", i);
		struct crypto_sa *sa = calloc(1, sizeof(*sa));

		if (!sa) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (sa_conf(ci, c, sa, block, why, sizeof(why)) < 0 ||
		    sa_unique(ci, sa, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "sa %s (line %d): %s", sa->name,
				 h->conf_line ? h->conf_line(c) : 0, why);
			crypto_sa_free(ci, sa);
			return -1;
		}
		ci->sas[ci->nsas++] = sa;
	}
	return 0;
}

/* The sa blocks, or the kernel's SAs: one or the other. */
static int load_source(struct crypto_inst *ci, const struct nio_conf *conf, char *err,
		       size_t errlen)
{
	const struct nio_host *h = ci->host;
	bool kernel = !strcmp(h->conf_str(conf, "sa-source"), "kernel");

	if (!kernel) {
		if (h->conf_isset(conf, "local") || h->conf_isset(conf, "remote")) {
			snprintf(err, errlen,
				 "local and remote belong to sa blocks, or go with "
				 "sa-source = \"kernel\"");
			return -1;
		}
		return load_sas(ci, conf, err, errlen);
	}
	if (h->conf_count(conf, "sa")) {
		snprintf(err, errlen,
			 "sa-source kernel takes its SAs from the kernel: no sa blocks");
		return -1;
	}
	if (NIO_HOST_HAS(h, isolated) && h->isolated) {
		/* following XFRM takes a netlink socket and CAP_NET_ADMIN: the child has neither */
		snprintf(err, errlen,
			 "sa-source kernel cannot run isolated (an isolated service has no "
			 "netlink socket and no CAP_NET_ADMIN to follow the kernel's SAs)");
		return -1;
	}
	return crypto_ksrc_open(ci, conf, err, errlen);
}

/* ---------------------------------------------------------------- sequence reserver */

/* The SAs the reserver serves: the configured ones, or the kernel source's table (locked). */
static void reserve_spares(struct crypto_inst *ci)
{
	unsigned n = ci->ks ? ci->ks->nsas : ci->nsas;
	struct crypto_sa *const *sas = ci->ks ? ci->ks->sas : ci->sas;

	for (unsigned i = 0; i < n; i++) {
		struct crypto_sa *sa = sas[i];
		uint64_t lo, hi;
		int rc;

		if (!sa->out || !crypto_seq_wants_spare(&sa->seq))
			continue;
		rc = crypto_seq_reserve(&sa->seq, &lo, &hi);
		if (rc == 0) {
			crypto_seq_put_spare(&sa->seq, lo, hi);
			crypto_count(ci, sa, CRYPTO_C_SEQ_RESERVE, 1);
			if (sa->seq.last_err && ci->host->log)
				ci->host->log(
					LOG_INFO,
					"crypto %s: sa %s: sequence reservations written again",
					ci->host->instance, sa->name);
			sa->seq.last_err = 0;
		} else if (rc == -ENOSPC) {
			/* the SA stops here: its numbers must never wrap */
			atomic_store_explicit(&sa->seq.exhausted, true, memory_order_relaxed);
		} else {
			crypto_count(ci, sa, CRYPTO_C_SEQ_RESERVE_FAIL, 1);
			/* once per cause: retried every period, the SA stalls (seq-stall) meanwhile */
			if (rc != sa->seq.last_err && ci->host->log)
				ci->host->log(
					LOG_ERR,
					"crypto %s: sa %s: sequence reservation in %s failed: %s; "
					"its packets are dropped (seq-stall) until a retry "
					"succeeds",
					ci->host->instance, sa->name, sa->seq.path, strerror(-rc));
			sa->seq.last_err = rc;
		}
	}
}

/*
 * Writes the durable reservations off the worker (fsync may take milliseconds). Woken when a
 * worker takes a spare block; the periodic timeout retries failed writes (disk full...).
 */
static void *reserver_main(void *arg)
{
	struct crypto_inst *ci = arg;

	while (!atomic_load(&ci->stop)) {
		struct timespec ts;

		if (ci->ks)
			pthread_mutex_lock(&ci->ks->lock);
		reserve_spares(ci);
		if (ci->ks)
			pthread_mutex_unlock(&ci->ks->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		while (sem_timedwait(&ci->wake, &ts) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

static bool has_out(const struct crypto_inst *ci)
{
	for (unsigned i = 0; i < ci->nsas; i++)
		if (ci->sas[i]->out)
			return true;
	return false;
}

static int start_reserver(struct crypto_inst *ci, char *err, size_t errlen)
{
	if (!ci->ks && !has_out(ci))
		return 0;
	if (pthread_create(&ci->reserver, NULL, reserver_main, ci) != 0) {
		snprintf(err, errlen, "cannot start the sequence reserver thread");
		return -1;
	}
	ci->reserver_started = true;
	return 0;
}

/* ---------------------------------------------------------------- lifecycle */

static void crypto_fini(void *inst)
{
	struct crypto_inst *ci = inst;

	if (ci->reserver_started) {
		atomic_store(&ci->stop, true);
		sem_post(&ci->wake);
		pthread_join(ci->reserver, NULL);
	}
	crypto_hold_flush(ci);
	if (ci->ks)
		crypto_ksrc_close(ci->ks); /* frees the SAs; sas[] is only the worker's copy */
	else
		for (unsigned i = 0; i < ci->nsas; i++)
			crypto_sa_free(ci, ci->sas[i]);
	crypto_engine_close(&ci->engine);
	sem_destroy(&ci->wake);
	free(ci);
}

static void *crypto_init(const struct nio_host *host, const struct nio_conf *conf, char *err,
			 size_t errlen)
{
	struct crypto_inst *ci = calloc(1, sizeof(*ci));

	if (!ci) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ci->host = host;
	atomic_init(&ci->stop, false);
	if (sem_init(&ci->wake, 0, 0) < 0) {
		snprintf(err, errlen, "sem_init: %s", strerror(errno));
		free(ci);
		return NULL;
	}
	if (crypto_engine_open(&ci->engine, host->conf_str(conf, "engine"), err, errlen) < 0 ||
	    load_source(ci, conf, err, errlen) < 0 ||
	    (!host->check_only && start_reserver(ci, err, errlen) < 0) ||
	    (ci->ks && crypto_ksrc_start(ci->ks, err, errlen) < 0)) {
		crypto_fini(ci);
		return NULL;
	}
	/* ESP to an inbound SA's local address ends here: the daemon decrements the inner TTL */
	for (unsigned i = 0; i < ci->nsas && NIO_HOST_HAS(host, endpoint) && host->endpoint; i++)
		if (!ci->sas[i]->out)
			host->endpoint(host, ci->sas[i]->local);
	if (ci->ks && NIO_HOST_HAS(host, endpoint) && host->endpoint)
		host->endpoint(host, ci->ks->local);
	if (host->log)
		host->log(LOG_INFO, "crypto %s: %u SAs, engine %s (%s)",
			  host->instance ? host->instance : "", ci->nsas, ci->engine.ops->name,
			  ci->engine.ops->detail(ci->engine.priv));
	return ci;
}

/* ---------------------------------------------------------------- data path */

/* Decide what to do with one packet; CRYPTO_PREP_OP queues an AEAD operation. */
static int prep_one(struct crypto_inst *ci, struct nio_pkt *p, struct crypto_op *op,
		    struct crypto_pctx *pc)
{
	bool ours;
	enum crypto_counter why;
	struct crypto_sa *sa = crypto_sa_lookup_in(ci, p, &ours, &why);

	if (sa)
		return crypto_esp_decap_prep(ci, sa, p, op, pc);
	if (ours && why == CRYPTO_C_NO_SA && ci->ks && crypto_hold_put(ci, p))
		return CRYPTO_PREP_HOLD;
	if (ours) {
		crypto_count_drop(ci, NULL, p, why);
		return CRYPTO_PREP_DROP;
	}
	sa = crypto_sa_select_out(ci, p);
	if (!sa) {
		crypto_count_drop(ci, NULL, p, CRYPTO_C_NO_SA);
		return CRYPTO_PREP_DROP;
	}
	return crypto_esp_encap_prep(ci, sa, p, op, pc);
}

static uint8_t finish_one(struct crypto_inst *ci, struct nio_pkt *p, struct crypto_op *op,
			  struct crypto_pctx *pc)
{
	if (!op->encrypt)
		return crypto_esp_decap_finish(ci, p, op, pc) == 0 ? NIO_V_PASS : NIO_V_DROP;
	if (!op->ok) {
		crypto_count_drop(ci, pc->sa, p, CRYPTO_C_ENGINE_FAIL);
		return NIO_V_DROP;
	}
	crypto_count(ci, pc->sa, CRYPTO_C_ENC_PACKETS, 1);
	crypto_count(ci, pc->sa, CRYPTO_C_ENC_BYTES, pc->inner_len);
	return NIO_V_PASS;
}

static void crypto_process(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts)
{
	struct crypto_inst *ci = inst;
	unsigned nops = 0;

	if (ci->ks)
		crypto_ksrc_enter(ci);
	for (uint16_t i = 0; i < n; i++) {
		int r = prep_one(ci, pkts[i], &ci->ops[nops], &ci->pctx[nops]);

		verdicts[i] = r == CRYPTO_PREP_PASS   ? NIO_V_PASS
			      : r == CRYPTO_PREP_HOLD ? NIO_V_CONSUMED
						      : NIO_V_DROP;
		if (r == CRYPTO_PREP_OP)
			ci->idx[nops++] = i;
	}
	if (nops)
		ci->engine.ops->run(ci->engine.priv, ci->ops, nops);
	for (unsigned j = 0; j < nops; j++)
		verdicts[ci->idx[j]] = finish_one(ci, pkts[ci->idx[j]], &ci->ops[j], &ci->pctx[j]);
}

static uint16_t crypto_dequeue(void *inst, uint64_t now_ns, struct nio_pkt **pkts, uint16_t max,
			       uint64_t *next_ns)
{
	return crypto_hold_release(inst, now_ns, pkts, max, next_ns);
}

static const uint64_t *crypto_counters(void *inst)
{
	return ((struct crypto_inst *)inst)->cnt;
}

/* ---------------------------------------------------------------- status */

static const char *cipher_name(enum crypto_cipher c)
{
	return c == CRYPTO_AES128_GCM	? "aes128-gcm"
	       : c == CRYPTO_AES256_GCM ? "aes256-gcm"
					: "chacha20-poly1305";
}

static const char *limit(uint64_t v, char *buf, size_t len)
{
	if (!v)
		return "-";
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/* A kernel SA's reqid, its usage and lifetimes (soft/hard, "-": none) and expiry state. */
static int show_klife(const struct crypto_sa *sa, char *buf, size_t len)
{
	const struct crypto_klife *l = &sa->life;
	char sb[24], hb[24], sp[24], hp[24];
	uint64_t b, p;
	int n;

	crypto_ksa_usage(sa, &b, &p);
	n = snprintf(buf, len,
		     " reqid %u bytes %llu packets %llu life-bytes %s/%s life-packets %s/%s%s",
		     sa->reqid, (unsigned long long)b, (unsigned long long)p,
		     limit(l->soft_bytes, sb, sizeof(sb)), limit(l->hard_bytes, hb, sizeof(hb)),
		     limit(l->soft_packets, sp, sizeof(sp)), limit(l->hard_packets, hp, sizeof(hp)),
		     l->hard_sent		   ? " EXPIRED"
		     : (sa->dying || l->soft_sent) ? " dying"
						   : "");
	return n < 0 ? 0 : n;
}

/* NAT-T: the UDP ports the SA's ESP goes between (source -> destination) */
static int show_encap(const struct crypto_sa *sa, char *buf, size_t len)
{
	uint32_t v = atomic_load_explicit(&sa->encap_ports, memory_order_relaxed);
	int n = snprintf(buf, len, " udp %u->%u", v >> 16, v & 0xffffu);

	return n < 0 ? 0 : n;
}

static size_t show_sa(const struct crypto_sa *sa, char *buf, size_t len)
{
	int n;

	if (sa->out)
		n = snprintf(buf, len, "; sa %s out spi 0x%08x %s%s seq %llu%s enc %llu", sa->name,
			     sa->spi, cipher_name(sa->cipher), sa->esn ? " esn" : "",
			     (unsigned long long)sa->seq.next,
			     atomic_load(&sa->seq.exhausted) ? " STOPPED(seq exhausted)" : "",
			     (unsigned long long)sa->cnt[CRYPTO_C_ENC_PACKETS]);
	else
		n = snprintf(buf, len,
			     "; sa %s in spi 0x%08x %s%s top %llu dec %llu auth-fail %llu "
			     "replay %llu",
			     sa->name, sa->spi, cipher_name(sa->cipher), sa->esn ? " esn" : "",
			     (unsigned long long)sa->replay.top,
			     (unsigned long long)sa->cnt[CRYPTO_C_DEC_PACKETS],
			     (unsigned long long)sa->cnt[CRYPTO_C_AUTH_FAIL],
			     (unsigned long long)(sa->cnt[CRYPTO_C_REPLAY_DUP] +
						  sa->cnt[CRYPTO_C_REPLAY_OLD]));
	if (n < 0)
		return 0;
	if ((size_t)n < len && sa->encap)
		n += show_encap(sa, buf + n, len - (size_t)n);
	if ((size_t)n < len && sa->kernel)
		n += show_klife(sa, buf + n, len - (size_t)n);
	return (size_t)n < len ? (size_t)n : len - 1;
}

static int crypto_show(void *inst, char *buf, size_t len)
{
	struct crypto_inst *ci = inst;
	size_t off;
	int n;

	if (!len)
		return -1;
	n = snprintf(buf, len, "engine %s (%s)", ci->engine.ops->name,
		     ci->engine.ops->detail(ci->engine.priv));
	off = n < 0 ? 0 : ((size_t)n < len ? (size_t)n : len - 1);
	if (ci->ks) {
		pthread_mutex_lock(&ci->ks->lock);
		for (unsigned i = 0; i < ci->ks->nsas && off + 1 < len; i++)
			off += show_sa(ci->ks->sas[i], buf + off, len - off);
		pthread_mutex_unlock(&ci->ks->lock);
		return 0;
	}
	for (unsigned i = 0; i < ci->nsas && off + 1 < len; i++)
		off += show_sa(ci->sas[i], buf + off, len - off);
	return 0;
}

const struct nio_service crypto_service = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "crypto",
	.version = "1.0",
	.description = "ESP tunnel mode (RFC 4303) with AES-GCM and ChaCha20-Poly1305",
	.options = crypto_opts,
	.counter_names = crypto_counter_names,
	.init = crypto_init,
	.fini = crypto_fini,
	.process = crypto_process,
	.dequeue = crypto_dequeue,
	.counters = crypto_counters,
	.save_state = crypto_save_state,
	.restore_state = crypto_restore_state,
	.show = crypto_show,
};

/* mark: the reference service — counts, re-marks DSCP, drops a prefix; state survives replace. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netio/csum.h>
#include <netio/service.h>

#ifndef MARK_VERSION
#define MARK_VERSION "1"
#endif

#define foreach_mark_counter         \
	_(SEEN, "seen")              \
	_(MARKED, "marked")          \
	_(DROPPED, "dropped-prefix") \
	_(FLOWS, "flows")

enum {
#define _(sym, str) MARK_##sym,
	foreach_mark_counter
#undef _
		MARK_N
};

static const char *const mark_counter_names[] = {
#define _(sym, str) str,
	foreach_mark_counter
#undef _
		NULL,
};

struct mark {
	int dscp; /* -1: leave as is */
	int drop_family;
	uint8_t drop[16];
	uint8_t drop_len;
	char tag[32];
	uint64_t ctr[MARK_N];
};

struct mark_flow {
	uint64_t packets;
};

static const struct nio_opt mark_options[] = {
	{ .name = "dscp",
	  .type = NIO_OPT_INT,
	  .min = 0,
	  .max = 63,
	  .help = "re-mark to this DSCP" },
	{ .name = "drop-dst", .type = NIO_OPT_PREFIX, .help = "drop packets to this prefix" },
	{ .name = "tag", .type = NIO_OPT_STR, .def = "mark", .help = "name shown in status" },
	{ .name = NULL },
};

static int parse_prefix(struct mark *m, const char *s)
{
	char buf[64], *slash;
	int v4;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	v4 = strchr(buf, ':') == NULL;
	memset(m->drop, 0, sizeof(m->drop));
	if (v4) {
		m->drop[10] = m->drop[11] = 0xff;
		if (inet_pton(AF_INET, buf, m->drop + 12) != 1)
			return -1;
	} else if (inet_pton(AF_INET6, buf, m->drop) != 1) {
		return -1;
	}
	m->drop_len = (uint8_t)(atoi(slash + 1) + (v4 ? 96 : 0));
	m->drop_family = v4 ? 4 : 6;
	return 0;
}

static void *mark_init(const struct nio_host *h, const struct nio_conf *c, char *err, size_t len)
{
	struct mark *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	m->dscp = h->conf_isset(c, "dscp") ? (int)h->conf_int(c, "dscp") : -1;
	if (h->conf_isset(c, "drop-dst") && parse_prefix(m, h->conf_str(c, "drop-dst")) < 0) {
		snprintf(err, len, "drop-dst: cannot use '%s'", h->conf_str(c, "drop-dst"));
		free(m);
		return NULL;
	}
	snprintf(m->tag, sizeof(m->tag), "%s", h->conf_str(c, "tag"));
	return m;
}

static void mark_fini(void *inst)
{
	free(inst);
}

static int in_drop_prefix(const struct mark *m, const struct nio_pkt *p)
{
	unsigned full = m->drop_len / 8, rest = m->drop_len % 8;

	if (!m->drop_family || m->drop_family != p->key.family)
		return 0;
	if (memcmp(m->drop, p->key.dst, full))
		return 0;
	return !rest || !((m->drop[full] ^ p->key.dst[full]) & (uint8_t)(0xff00u >> rest));
}

/* Several workers run one instance (NIO_SVC_F_MT_SAFE): counters are added atomically, once
 * per burst; the rest of the instance is read-only after init. */
static void ctr_add(struct mark *m, unsigned i, uint64_t v)
{
	if (v)
		__atomic_fetch_add(&m->ctr[i], v, __ATOMIC_RELAXED);
}

static void remark(const struct mark *m, struct nio_pkt *p)
{
	uint8_t *ip = nio_pkt_l3(p);

	if (p->flags & NIO_PKT_F_IPV4) {
		uint16_t old = (uint16_t)(ip[0] << 8 | ip[1]), now, csum;

		ip[1] = (uint8_t)((m->dscp << 2) | (ip[1] & 3));
		now = (uint16_t)(ip[0] << 8 | ip[1]);
		csum = nio_csum_update16((uint16_t)(ip[10] << 8 | ip[11]), old, now);
		ip[10] = (uint8_t)(csum >> 8);
		ip[11] = (uint8_t)csum;
	} else if (p->flags & NIO_PKT_F_IPV6) {
		ip[0] = (uint8_t)((ip[0] & 0xf0) | (m->dscp >> 2));
		ip[1] = (uint8_t)(((m->dscp & 3) << 6) | (ip[1] & 0x3f));
	}
	p->dscp = (uint8_t)m->dscp;
}

static void mark_process(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts)
{
	struct mark *m = inst;
	uint64_t dropped = 0, marked = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct nio_pkt *p = pkts[i];

		if (p->svc_state) /* the flow's worker only: no lock */
			((struct mark_flow *)p->svc_state)->packets++;
		if (in_drop_prefix(m, p)) {
			dropped++;
			verdicts[i] = NIO_V_DROP;
			p->drop_ctr = MARK_DROPPED + 1; /* for the packet tracer */
			continue;
		}
		if (m->dscp >= 0) {
			remark(m, p);
			marked++;
		}
	}
	ctr_add(m, MARK_SEEN, n);
	ctr_add(m, MARK_DROPPED, dropped);
	ctr_add(m, MARK_MARKED, marked);
}

static void mark_flow_attach(void *inst, void *state, const struct nio_flow_key *key)
{
	(void)state;
	(void)key;
	ctr_add(inst, MARK_FLOWS, 1);
}

static const uint64_t *mark_counters(void *inst)
{
	return ((struct mark *)inst)->ctr;
}

static int mark_save(void *inst, void **blob, size_t *len)
{
	struct mark *m = inst;

	*blob = malloc(sizeof(m->ctr));
	if (!*blob)
		return -1;
	memcpy(*blob, m->ctr, sizeof(m->ctr));
	*len = sizeof(m->ctr);
	return 0;
}

static int mark_restore(void *inst, const void *blob, size_t len)
{
	struct mark *m = inst;

	if (len != sizeof(m->ctr))
		return -1;
	memcpy(m->ctr, blob, len);
	return 0;
}

static int mark_show(void *inst, char *buf, size_t len)
{
	const struct mark *m = inst;

	return snprintf(buf, len, "%s v%s dscp %d", m->tag, MARK_VERSION, m->dscp);
}

const struct nio_service mark_service = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "mark",
	.version = MARK_VERSION,
	.description = "reference service: count, re-mark DSCP, drop a destination prefix",
	.options = mark_options,
	.counter_names = mark_counter_names,
	.flow_state_size = sizeof(struct mark_flow),
	.init = mark_init,
	.fini = mark_fini,
	.process = mark_process,
	.flow_attach = mark_flow_attach,
	.counters = mark_counters,
	.save_state = mark_save,
	.restore_state = mark_restore,
	.show = mark_show,
	.flags = NIO_SVC_F_MT_SAFE,
};

/* The qos option schema and building an instance (policers, class tree) from a config block. */
#include <stdio.h>
#include <string.h>

#include <netio/service.h>

#include "qos.h"

/* The match rules policers and classes share; spliced into both schemas. */
/* clang-format off */
#define QOS_MATCH_OPTS \
	{ .name = "dscp", .type = NIO_OPT_LIST, .help = "DSCPs: ef, af21, cs1, 46" }, \
	{ .name = "proto", .type = NIO_OPT_STR, .help = "tcp, udp, icmp or a number" }, \
	{ .name = "sport", .type = NIO_OPT_STR, .help = "source port or range lo-hi" }, \
	{ .name = "dport", .type = NIO_OPT_STR, .help = "destination port or range" }, \
	{ .name = "src", .type = NIO_OPT_LIST, .help = "source prefixes" }, \
	{ .name = "dst", .type = NIO_OPT_LIST, .help = "destination prefixes" }
/* Flow queues: the service-wide defaults (d: flows, i: flow-isolation) and each class's own.
 * Not "isolate": that is netiod's own option of every service block (its own process). */
#define QOS_FQ_OPTS(d, i) \
	{ .name = "flows", .type = NIO_OPT_INT, .def = d, .min = 0, .max = QOS_FLOWS_MAX, \
	  .help = "flow queues per class (DRR, CoDel each, sparse first); 0: one FIFO" }, \
	{ .name = "flow-isolation", .type = NIO_OPT_ENUM, .def = i, \
	  .choices = "flows|dual-src|dual-dst|triple", \
	  .help = "fair share per flow, or per source / destination host first (CAKE)" }, \
	{ .name = "limit-bytes", .type = NIO_OPT_SIZE, \
	  .help = "queue bytes per class; over it (or limit) the fattest flow drops" }
/* clang-format on */

static const struct nio_opt policer_opts[] = {
	{ .name = "type",
	  .type = NIO_OPT_ENUM,
	  .def = "srtcm",
	  .choices = "srtcm|trtcm",
	  .help = "RFC 2697 single-rate or RFC 2698 two-rate three-colour marker" },
	{ .name = "cir",
	  .type = NIO_OPT_RATE,
	  .flags = NIO_OPT_F_REQUIRED,
	  .help = "committed information rate" },
	{ .name = "cbs", .type = NIO_OPT_SIZE, .def = "16k", .help = "committed burst size" },
	{ .name = "ebs", .type = NIO_OPT_SIZE, .def = "16k", .help = "excess burst size (srtcm)" },
	{ .name = "pir", .type = NIO_OPT_RATE, .help = "peak information rate (trtcm)" },
	{ .name = "pbs", .type = NIO_OPT_SIZE, .def = "16k", .help = "peak burst size (trtcm)" },
	{ .name = "color-aware",
	  .type = NIO_OPT_BOOL,
	  .def = "false",
	  .help = "take the pre-colour from the AF drop precedence of the DSCP" },
	{ .name = "green", .type = NIO_OPT_STR, .def = "pass", .help = "pass, drop or a DSCP" },
	{ .name = "yellow", .type = NIO_OPT_STR, .def = "pass", .help = "pass, drop or a DSCP" },
	{ .name = "red", .type = NIO_OPT_STR, .def = "drop", .help = "pass, drop or a DSCP" },
	QOS_MATCH_OPTS,
	{ .name = NULL },
};

static const struct nio_opt class_opts[] = {
	{ .name = "parent", .type = NIO_OPT_STR, .def = "root", .help = "parent class" },
	{ .name = "rate", .type = NIO_OPT_RATE, .help = "assured rate (default 0: borrow only)" },
	{ .name = "ceil", .type = NIO_OPT_RATE, .help = "upper bound, borrowing included" },
	{ .name = "burst", .type = NIO_OPT_SIZE, .help = "rate bucket (default 10 ms of rate)" },
	{ .name = "cburst", .type = NIO_OPT_SIZE, .help = "ceil bucket (default 10 ms of ceil)" },
	{ .name = "prio",
	  .type = NIO_OPT_INT,
	  .def = "0",
	  .min = 0,
	  .max = QOS_MAX_PRIO - 1,
	  .help = "strict priority among siblings, 0 first" },
	{ .name = "weight",
	  .type = NIO_OPT_INT,
	  .def = "1",
	  .min = 1,
	  .max = 1000,
	  .help = "DRR share among siblings of one priority" },
	{ .name = "limit", .type = NIO_OPT_INT, .min = 1, .max = 65536, .help = "queue, packets" },
	{ .name = "codel", .type = NIO_OPT_BOOL, .help = "CoDel on the queue" },
	{ .name = "ecn", .type = NIO_OPT_BOOL, .help = "CoDel marks ECN-capable packets" },
	{ .name = "target", .type = NIO_OPT_TIME, .help = "CoDel target" },
	{ .name = "interval", .type = NIO_OPT_TIME, .help = "CoDel interval" },
	QOS_FQ_OPTS(NULL, NULL),
	QOS_MATCH_OPTS,
	{ .name = NULL },
};

const struct nio_opt qos_options[] = {
	{ .name = "rate", .type = NIO_OPT_RATE, .help = "shape to this rate (the root class)" },
	{ .name = "burst", .type = NIO_OPT_SIZE, .help = "root bucket (default 10 ms of rate)" },
	{ .name = "limit",
	  .type = NIO_OPT_INT,
	  .def = "1000",
	  .min = 1,
	  .max = 65536,
	  .help = "default queue limit per class, packets" },
	{ .name = "quantum",
	  .type = NIO_OPT_SIZE,
	  .def = "1514",
	  .help = "DRR bytes per round for weight 1" },
	{ .name = "codel", .type = NIO_OPT_BOOL, .def = "true", .help = "CoDel on class queues" },
	{ .name = "ecn",
	  .type = NIO_OPT_BOOL,
	  .def = "false",
	  .help = "CoDel sets ECN CE on ECN-capable packets instead of dropping them" },
	{ .name = "target", .type = NIO_OPT_TIME, .def = "5ms", .help = "CoDel target delay" },
	{ .name = "interval", .type = NIO_OPT_TIME, .def = "100ms", .help = "CoDel interval" },
	QOS_FQ_OPTS("0", "flows"),
	{ .name = "default", .type = NIO_OPT_STR, .help = "class of packets no rule matches" },
	{ .name = "policer", .type = NIO_OPT_SECTION, .sub = policer_opts, .help = "a policer" },
	{ .name = "class", .type = NIO_OPT_SECTION, .sub = class_opts, .help = "a shaper class" },
	{ .name = NULL },
};

/* Errors name the section and its line: the daemon only prefixes the service block's. */
#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return -1;                          \
	} while (0)

static int load_list(const struct nio_host *h, const struct nio_conf *c, const char *opt,
		     struct qos_prefix *v, uint8_t *n, char *err, size_t errlen)
{
	unsigned count = h->conf_count(c, opt);

	if (count > QOS_MAX_PREFIXES)
		FAIL("line %d: more than %u prefixes in %s", h->conf_line(c), QOS_MAX_PREFIXES,
		     opt);
	for (unsigned i = 0; i < count; i++)
		if (qos_prefix_parse(h->conf_list(c, opt, i), &v[i]) < 0)
			FAIL("line %d: bad prefix '%s'", h->conf_line(c), h->conf_list(c, opt, i));
	*n = (uint8_t)count;
	return 0;
}

static int load_dscps(const struct nio_host *h, const struct nio_conf *c, uint64_t *mask, char *err,
		      size_t errlen)
{
	for (unsigned i = 0; i < h->conf_count(c, "dscp"); i++) {
		int d = qos_dscp_parse(h->conf_list(c, "dscp", i));

		if (d < 0)
			FAIL("line %d: bad dscp '%s'", h->conf_line(c), h->conf_list(c, "dscp", i));
		*mask |= UINT64_C(1) << d;
	}
	return 0;
}

static int load_port(const struct nio_host *h, const struct nio_conf *c, const char *opt,
		     uint16_t *lo, uint16_t *hi, char *err, size_t errlen)
{
	if (h->conf_isset(c, opt) && qos_port_range_parse(h->conf_str(c, opt), lo, hi) < 0)
		FAIL("line %d: bad %s '%s'", h->conf_line(c), opt, h->conf_str(c, opt));
	return 0;
}

static int load_match(const struct nio_host *h, const struct nio_conf *c, struct qos_match *m,
		      char *err, size_t errlen)
{
	qos_match_any(m);
	if (h->conf_isset(c, "proto") && (m->proto = qos_proto_parse(h->conf_str(c, "proto"))) < 0)
		FAIL("line %d: bad proto '%s'", h->conf_line(c), h->conf_str(c, "proto"));
	if (load_dscps(h, c, &m->dscp_mask, err, errlen) < 0 ||
	    load_port(h, c, "sport", &m->sport_lo, &m->sport_hi, err, errlen) < 0 ||
	    load_port(h, c, "dport", &m->dport_lo, &m->dport_hi, err, errlen) < 0 ||
	    load_list(h, c, "src", m->src, &m->nsrc, err, errlen) < 0)
		return -1;
	return load_list(h, c, "dst", m->dst, &m->ndst, err, errlen);
}

static int load_actions(const struct nio_host *h, const struct nio_conf *c, int *action, char *err,
			size_t errlen)
{
	static const char *const colour[3] = { "green", "yellow", "red" };

	for (int i = 0; i < 3; i++) {
		action[i] = qos_action_parse(h->conf_str(c, colour[i]));
		if (action[i] < QOS_ACT_DROP)
			FAIL("line %d: %s: expected pass, drop or a DSCP, not '%s'",
			     h->conf_line(c), colour[i], h->conf_str(c, colour[i]));
	}
	return 0;
}

static int load_policer(struct qos *q, const struct nio_conf *c, uint64_t now, char *err,
			size_t errlen)
{
	const struct nio_host *h = q->host;
	struct qos_policer *pol = &q->pol[q->npol];
	uint64_t cir = (uint64_t)h->conf_int(c, "cir");

	if (q->npol == QOS_MAX_POLICERS)
		FAIL("line %d: more than %u policers", h->conf_line(c), QOS_MAX_POLICERS);
	snprintf(pol->name, sizeof(pol->name), "%s", h->conf_title(c));
	if (strcmp(h->conf_str(c, "type"), "srtcm") == 0) {
		qos_srtcm_init(&pol->meter, cir, (uint64_t)h->conf_int(c, "cbs"),
			       (uint64_t)h->conf_int(c, "ebs"), now);
	} else {
		if (!h->conf_isset(c, "pir") || (uint64_t)h->conf_int(c, "pir") < cir)
			FAIL("line %d: trtcm needs pir >= cir", h->conf_line(c));
		qos_trtcm_init(&pol->meter, cir, (uint64_t)h->conf_int(c, "cbs"),
			       (uint64_t)h->conf_int(c, "pir"), (uint64_t)h->conf_int(c, "pbs"),
			       now);
	}
	pol->color_aware = h->conf_int(c, "color-aware") != 0;
	if (load_actions(h, c, pol->action, err, errlen) < 0 ||
	    load_match(h, c, &pol->match, err, errlen) < 0)
		return -1;
	q->npol++;
	return 0;
}

/* An option of a class, or the service-wide value when the class leaves it out. */
static long long inherit(const struct nio_host *h, const struct nio_conf *c,
			 const struct nio_conf *top, const char *opt)
{
	return h->conf_isset(c, opt) ? h->conf_int(c, opt) : h->conf_int(top, opt);
}

static enum qos_isolate isolate_of(const struct nio_host *h, const struct nio_conf *c)
{
	static const char *const names[] = { "flows", "dual-src", "dual-dst", "triple" };
	const char *v = h->conf_str(c, "flow-isolation");

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0)
			return (enum qos_isolate)i;
	return QOS_ISOLATE_FLOWS; /* the schema admits no other word */
}

static int load_class(struct qos *q, const struct nio_conf *c, const struct nio_conf *top,
		      uint64_t now, char *err, size_t errlen)
{
	const struct nio_host *h = q->host;
	const char *title = h->conf_title(c);
	struct qos_class_conf cc = {
		.name = title,
		.parent = qos_sched_find(&q->sched, h->conf_str(c, "parent")),
		.rate = (uint64_t)h->conf_int(c, "rate"),
		.ceil = (uint64_t)h->conf_int(c, "ceil"),
		.burst = (uint64_t)h->conf_int(c, "burst"),
		.cburst = (uint64_t)h->conf_int(c, "cburst"),
		.prio = (uint32_t)h->conf_int(c, "prio"),
		.weight = (uint32_t)h->conf_int(c, "weight"),
		.limit = (uint32_t)inherit(h, c, top, "limit"),
		.codel = inherit(h, c, top, "codel") != 0,
		.ecn = inherit(h, c, top, "ecn") != 0,
		.target = (uint64_t)inherit(h, c, top, "target"),
		.interval = (uint64_t)inherit(h, c, top, "interval"),
		.flows = (uint32_t)inherit(h, c, top, "flows"),
		.limit_bytes = (uint64_t)inherit(h, c, top, "limit-bytes"),
		.isolate = isolate_of(h, h->conf_isset(c, "flow-isolation") ? c : top),
	};
	char msg[200];
	int i;

	if (cc.parent < 0)
		FAIL("line %d: class '%s': parent '%s' must be defined above it", h->conf_line(c),
		     title, h->conf_str(c, "parent"));
	i = qos_sched_add(&q->sched, &cc, now, msg, sizeof(msg));
	if (i < 0)
		FAIL("line %d: %s", h->conf_line(c), msg);
	return load_match(h, c, &q->sched.cls[i].match, err, errlen);
}

static int load_root(struct qos *q, const struct nio_conf *top, uint64_t now, char *err,
		     size_t errlen)
{
	const struct nio_host *h = q->host;
	struct qos_class_conf root = {
		.name = "root",
		.parent = -1,
		.rate = (uint64_t)h->conf_int(top, "rate"),
		.burst = (uint64_t)h->conf_int(top, "burst"),
		.cburst = (uint64_t)h->conf_int(top, "burst"),
		.weight = 1,
		.limit = (uint32_t)h->conf_int(top, "limit"),
		.codel = h->conf_int(top, "codel") != 0,
		.ecn = h->conf_int(top, "ecn") != 0,
		.target = (uint64_t)h->conf_int(top, "target"),
		.interval = (uint64_t)h->conf_int(top, "interval"),
		.flows = (uint32_t)h->conf_int(top, "flows"),
		.limit_bytes = (uint64_t)h->conf_int(top, "limit-bytes"),
		.isolate = isolate_of(h, top),
	};

	qos_sched_init(&q->sched, (uint32_t)h->conf_int(top, "quantum"), h->pkt_free);
	return qos_sched_add(&q->sched, &root, now, err, errlen) < 0 ? -1 : 0;
}

/* Match rules belong on leaves; the default class is named, or the first leaf without rules. */
static int check_tree(struct qos *q, const struct nio_conf *top, char *err, size_t errlen)
{
	const struct nio_host *h = q->host;
	struct qos_sched *s = &q->sched;

	for (unsigned i = 0; i < s->n; i++)
		if (!qos_sched_is_leaf(s, i) && !qos_match_is_any(&s->cls[i].match))
			FAIL("class '%s' has children: match rules belong on leaves",
			     s->cls[i].name);
	q->def_cls = -1;
	if (h->conf_isset(top, "default")) {
		q->def_cls = qos_sched_find(s, h->conf_str(top, "default"));
		if (q->def_cls < 0 || !qos_sched_is_leaf(s, (unsigned)q->def_cls))
			FAIL("default '%s' is not a leaf class", h->conf_str(top, "default"));
		return 0;
	}
	for (unsigned i = 0; i < s->n && q->def_cls < 0; i++)
		if (qos_sched_is_leaf(s, i) && qos_match_is_any(&s->cls[i].match))
			q->def_cls = (int)i;
	if (q->def_cls < 0)
		FAIL("no default class: set default or add a class without match rules");
	return 0;
}

static int load_shaper(struct qos *q, const struct nio_conf *top, uint64_t now, char *err,
		       size_t errlen)
{
	const struct nio_host *h = q->host;

	if (!h->conf_isset(top, "rate")) {
		if (h->conf_count(top, "class"))
			FAIL("classes need a rate for the root");
		return 0;
	}
	if (h->conf_int(top, "quantum") < 64 || h->conf_int(top, "quantum") > 65536)
		FAIL("quantum must be 64 bytes to 64k");
	q->shaping = true;
	if (load_root(q, top, now, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < h->conf_count(top, "class"); i++)
		if (load_class(q, h->conf_section(top, "class", i), top, now, err, errlen) < 0)
			return -1;
	if (check_tree(q, top, err, errlen) < 0)
		return -1;
	qos_classify_init(q);
	return 0;
}

int qos_conf_load(struct qos *q, const struct nio_conf *conf, uint64_t now, char *err,
		  size_t errlen)
{
	const struct nio_host *h = q->host;

	for (unsigned i = 0; i < h->conf_count(conf, "policer"); i++)
		if (load_policer(q, h->conf_section(conf, "policer", i), now, err, errlen) < 0)
			return -1;
	if (load_shaper(q, conf, now, err, errlen) < 0)
		return -1;
	if (!q->shaping && q->npol == 0)
		FAIL("nothing to do: give a rate, classes or policers");
	return 0;
}

/* The config file: libConfuse schema (with the loaded plugins' options), validation, loading. */
#include <arpa/inet.h>
#include <confuse.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netiod.h"

/* The loader in progress: libConfuse callbacks have no user pointer. Control thread only. */
static struct netiod *ld;
static char *ld_err;
static size_t ld_errlen;
static struct {
	const char *name;
	int line;
} ld_lines[32];		 /* where each global option was set, for errors found after parsing */
static int ld_last_line; /* of the text, for what the whole file lacks */
static struct {
	const cfg_t *port;
	const char *name;
	int line;
} ld_port_lines[256]; /* where each driver option of a port block was set */
static unsigned ld_nport_lines;

static void __attribute__((format(printf, 3, 0)))
set_err(const char *file, int line, const char *fmt, va_list ap)
{
	char msg[384];

	if (!ld_err || ld_err[0])
		return; /* keep the first error: later ones are usually its consequence */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		snprintf(ld_err, ld_errlen, "%s:%d: %s", file ? file : "<config>", line, msg);
	else
		snprintf(ld_err, ld_errlen, "%s: %s", file ? file : "<config>", msg);
}

/* Record "file:line: message" for the load in progress; returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(const cfg_t *cfg, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_err(cfg->filename, line, fmt, ap);
	va_end(ap);
	return -1;
}

static struct nio_plugin *plugin_of(cfg_t *svc);

static void __attribute__((format(printf, 2, 0))) errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	/* an option of an unknown service is unknown because the service is: say that */
	if (cfg && cfg->name && !strcmp(cfg->name, "service") && cfg_title(cfg) && ld &&
	    !plugin_of(cfg)) {
		fail(cfg, cfg->line, "unknown service '%s' (no plugin of that name is loaded)",
		     cfg_title(cfg));
		return;
	}
	set_err(cfg ? cfg->filename : NULL, cfg ? cfg->line : 0, fmt, ap);
}

/* ------------------------------------------------------------------ value checks */

const struct nio_opt *nio_opt_find(const struct nio_opt *o, const char *name)
{
	for (; o && o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

/* What a value of each type looks like, for error messages. */
static const char *const opt_hint[] = {
	[NIO_OPT_INT] = "an integer",
	[NIO_OPT_BOOL] = "a boolean (true/false, yes/no, on/off)",
	[NIO_OPT_RATE] = "a rate (e.g. 100mbit, 64kbit, 1gbit)",
	[NIO_OPT_SIZE] = "a size (e.g. 1500, 64k, 1m)",
	[NIO_OPT_TIME] = "a duration (e.g. 5ms, 100us, 1s)",
	[NIO_OPT_ADDR] = "an IPv4 or IPv6 address",
	[NIO_OPT_PREFIX] = "a prefix (address/length, host bits zero)",
};

static bool value_ok(const struct nio_opt *o, const char *v, long long *i)
{
	unsigned long long u;
	struct nio_prefix p;
	uint8_t a[16], fam;
	bool b;

	switch (o->type) {
	case NIO_OPT_INT:
		return nio_parse_int(v, i) == 0;
	case NIO_OPT_BOOL:
		return nio_parse_bool(v, &b) == 0;
	case NIO_OPT_RATE:
		return nio_parse_rate(v, &u) == 0;
	case NIO_OPT_SIZE:
		return nio_parse_size(v, &u) == 0;
	case NIO_OPT_TIME:
		return nio_parse_time(v, &u) == 0;
	case NIO_OPT_ADDR:
		return nio_addr_parse(v, a, &fam) == 0;
	case NIO_OPT_PREFIX:
		return nio_prefix_parse(v, &p) == 0;
	default:
		return true;
	}
}

/* Check one textual value against its schema entry; on error write a message into why. */
int nio_opt_check(const struct nio_opt *o, const char *v, char *why, size_t len)
{
	long long i = 0;

	if (o->type == NIO_OPT_ENUM) {
		if (nio_enum_ok(o->choices, v))
			return 0;
		snprintf(why, len, "'%s' is not one of %s", v, o->choices);
		return -1;
	}
	if (!value_ok(o, v, &i)) {
		snprintf(why, len, "'%s' is not %s", v, opt_hint[o->type]);
		return -1;
	}
	if (o->type == NIO_OPT_INT && (o->min || o->max) && (i < o->min || i > o->max)) {
		snprintf(why, len, "%lld is out of range [%lld, %lld]", i, o->min, o->max);
		return -1;
	}
	return 0;
}

static struct nio_plugin *plugin_of(cfg_t *svc)
{
	return ld ? nio_plugin_find(ld, cfg_title(svc)) : NULL;
}

/* A leaf option of a service block, checked as it is parsed so the line number is exact. */
static int validate_leaf(cfg_t *svc, cfg_opt_t *opt)
{
	struct nio_plugin *pl = plugin_of(svc);
	const struct nio_opt *o;
	char why[256];

	if (!pl) {
		cfg_error(svc, "unknown service '%s' (no plugin of that name is loaded)",
			  cfg_title(svc));
		return -1;
	}
	o = nio_opt_find(pl->svc->options, opt->name);
	if (!o)
		o = nio_opt_find(nio_svc_host_opts, opt->name);
	if (!o || o->type == NIO_OPT_SECTION) {
		cfg_error(svc, "service '%s' has no option '%s'", pl->name, opt->name);
		return -1;
	}
	if ((o->type == NIO_OPT_LIST) != (opt->type == CFGT_STR && (opt->flags & CFGF_LIST))) {
		cfg_error(svc, "service '%s': option '%s' %s", pl->name, opt->name,
			  o->type == NIO_OPT_LIST ? "takes a list { \"a\", \"b\" }"
						  : "takes one value");
		return -1;
	}
	for (unsigned i = 0; i < opt->nvalues && o->type != NIO_OPT_LIST; i++) {
		if (nio_opt_check(o, cfg_opt_getnstr(opt, i), why, sizeof(why)) < 0) {
			cfg_error(svc, "service '%s': %s: %s", pl->name, opt->name, why);
			return -1;
		}
	}
	return 0;
}

/* After a whole block: options of sub-sections, required options. */
static int validate_block(cfg_t *blk, const struct nio_opt *schema, const char *what)
{
	char why[256];

	for (const struct nio_opt *o = schema; o && o->name; o++) {
		if (o->type == NIO_OPT_SECTION) {
			for (unsigned i = 0; i < cfg_size(blk, o->name); i++) {
				cfg_t *sub = cfg_getnsec(blk, o->name, i);

				if (validate_block(sub, o->sub, what) < 0)
					return -1;
			}
			continue;
		}
		if (o->type == NIO_OPT_LIST) {
			if ((o->flags & NIO_OPT_F_REQUIRED) && !cfg_size(blk, o->name)) {
				cfg_error(blk, "%s: missing required option '%s'", what, o->name);
				return -1;
			}
			continue;
		}
		if (!cfg_getstr(blk, o->name)) {
			if (o->flags & NIO_OPT_F_REQUIRED) {
				cfg_error(blk, "%s: missing required option '%s' in block '%s'",
					  what, o->name,
					  cfg_title(blk) ? cfg_title(blk) : blk->name);
				return -1;
			}
			continue;
		}
		if (nio_opt_check(o, cfg_getstr(blk, o->name), why, sizeof(why)) < 0) {
			cfg_error(blk, "%s: %s: %s", what, o->name, why);
			return -1;
		}
	}
	return 0;
}

/* Options the union schema knows but this block's service does not (in sub-sections). */
static int check_unknown(cfg_t *blk, const struct nio_opt *schema, const char *what)
{
	for (unsigned i = 0; blk->opts[i].name; i++) {
		cfg_opt_t *opt = &blk->opts[i];
		const struct nio_opt *o;
		bool set = opt->type == CFGT_SEC      ? cfg_size(blk, opt->name) > 0
			   : (opt->flags & CFGF_LIST) ? opt->nvalues > 0
						      : cfg_getstr(blk, opt->name) != NULL;

		if (!set)
			continue;
		o = nio_opt_find(schema, opt->name);
		if (!o && nio_opt_find(nio_svc_host_opts, opt->name))
			continue; /* netiod's own (validate_leaf checked it) */
		if (!o) {
			cfg_error(blk, "%s has no option '%s'", what, opt->name);
			return -1;
		}
		for (unsigned j = 0; o->type == NIO_OPT_SECTION && j < cfg_size(blk, opt->name);
		     j++)
			if (check_unknown(cfg_getnsec(blk, opt->name, j), o->sub, what) < 0)
				return -1;
	}
	return 0;
}

static int validate_service(cfg_t *pipeline, cfg_opt_t *opt)
{
	cfg_t *svc = cfg_opt_getnsec(opt, opt->nvalues - 1);
	struct nio_plugin *pl = plugin_of(svc);
	char what[96];

	if (!pl) {
		cfg_error(pipeline, "unknown service '%s' (no plugin of that name is loaded)",
			  cfg_title(svc));
		return -1;
	}
	if (opt->nvalues > NIO_MAX_SVCS)
		return fail(svc, pipeline->line, "more than %d services in a pipeline (the limit)",
			    NIO_MAX_SVCS);
	snprintf(what, sizeof(what), "service '%s'", pl->name);
	svc->line = pipeline->line;
	if (check_unknown(svc, pl->svc->options, what) < 0)
		return -1;
	return validate_block(svc, pl->svc->options, what);
}

/* Check a parsed service block against a (new) plugin's schema, for 'service replace'. */
int nio_config_check_block(struct nio_config *c, const struct nio_svc_inst *si, char *err,
			   size_t errlen)
{
	char what[96];
	int r;

	err[0] = '\0';
	ld_err = err;
	ld_errlen = errlen;
	snprintf(what, sizeof(what), "service '%s'", si->svc->name);
	r = check_unknown(si->conf_block, si->svc->options, what) < 0 ||
			    validate_block(si->conf_block, si->svc->options, what) < 0
		    ? -1
		    : 0;
	ld_err = NULL;
	(void)c;
	return r;
}

/* ------------------------------------------------------------------ the schema */

/* A growable cfg_opt_t array; names are owned by the schema arena. */
struct optv {
	cfg_opt_t *v;
	unsigned n, cap;
};

struct schema {
	struct optv svc;  /* union of every loaded plugin's options */
	struct optv port; /* the common port options and the union of every driver's */
	struct optv top;  /* the top-level options, with the drivers' NIO_OPT_F_GLOBAL ones */
	char **names;	  /* strdup()ed names and sub-arrays to free */
	unsigned nnames;
	cfg_opt_t **subs;
	unsigned nsubs;
};

static void optv_push(struct optv *ov, cfg_opt_t o)
{
	if (ov->n + 1 >= ov->cap) {
		ov->cap = ov->cap ? ov->cap * 2 : 16;
		ov->v = realloc(ov->v, ov->cap * sizeof(*ov->v));
		if (!ov->v)
			fatal("realloc");
	}
	ov->v[ov->n++] = o;
	memset(&ov->v[ov->n], 0, sizeof(ov->v[ov->n])); /* CFG_END() */
}

static bool optv_has(const struct optv *ov, const char *name)
{
	for (unsigned i = 0; i < ov->n; i++)
		if (!strcmp(ov->v[i].name, name))
			return true;
	return false;
}

static cfg_opt_t *sub_opts(struct schema *s, const struct nio_opt *sub);

static void add_opt(struct schema *s, struct optv *ov, const struct nio_opt *o)
{
	cfg_opt_t leaf = CFG_STR(NULL, NULL, CFGF_NONE);
	cfg_opt_t list = CFG_STR_LIST(NULL, NULL, CFGF_NONE);
	cfg_opt_t sec = CFG_SEC(NULL, NULL, CFGF_TITLE | CFGF_MULTI | CFGF_NO_TITLE_DUPES);
	cfg_opt_t x;

	if (optv_has(ov, o->name))
		return; /* two plugins share the name: the value is checked per service */
	x = o->type == NIO_OPT_SECTION ? sec : o->type == NIO_OPT_LIST ? list : leaf;
	x.name = o->name;
	if (o->type == NIO_OPT_SECTION)
		x.subopts = sub_opts(s, o->sub);
	optv_push(ov, x);
}

static cfg_opt_t *sub_opts(struct schema *s, const struct nio_opt *sub)
{
	struct optv ov = { 0 };

	for (const struct nio_opt *o = sub; o && o->name; o++)
		add_opt(s, &ov, o);
	if (!ov.v)
		optv_push(&ov, (cfg_opt_t)CFG_STR("-", NULL, CFGF_NONE));
	s->subs = realloc(s->subs, (s->nsubs + 1) * sizeof(*s->subs));
	if (!s->subs)
		fatal("realloc");
	s->subs[s->nsubs++] = ov.v;
	return ov.v;
}

static void schema_free(struct schema *s)
{
	for (unsigned i = 0; i < s->nsubs; i++)
		free(s->subs[i]);
	free(s->subs);
	free(s->svc.v);
	free(s->port.v);
	free(s->top.v);
	memset(s, 0, sizeof(*s));
}

static cfg_opt_t match_opts[] = {
	CFG_STR("in", NULL, CFGF_NONE),	      CFG_STR_LIST("src", NULL, CFGF_NONE),
	CFG_STR_LIST("dst", NULL, CFGF_NONE), CFG_STR("proto", NULL, CFGF_NONE),
	CFG_STR("sport", NULL, CFGF_NONE),    CFG_STR("dport", NULL, CFGF_NONE),
	CFG_STR("family", NULL, CFGF_NONE),   CFG_END(),
};

/* The options every port takes, whatever its driver (the drivers declare the others). */
static const cfg_opt_t port_common[] = {
	CFG_STR("device", NULL, CFGF_NONE),   CFG_STR("driver", "auto", CFGF_NONE),
	CFG_STR("mac", NULL, CFGF_NONE),      CFG_STR("address", NULL, CFGF_NONE),
	CFG_STR("address6", NULL, CFGF_NONE), CFG_END(),
};

static bool port_common_has(const char *name)
{
	for (unsigned i = 0; port_common[i].name; i++)
		if (!strcmp(port_common[i].name, name))
			return true;
	return false;
}

/* The port block's schema: the common options and every driver's, as strings checked after
 * parsing against the port's driver (driver_opts); NIO_OPT_F_GLOBAL ones also at top level. */
static void port_schema(struct schema *s)
{
	struct nio_plugin *qos = ld ? nio_plugin_find(ld, "qos") : NULL;

	for (unsigned i = 0; port_common[i].name; i++)
		optv_push(&s->port, port_common[i]);
	/* the port's shaper (load_egress) takes the qos service's options; MULTI tells a block
	 * given from none (a single section always exists), load_egress refuses a second */
	if (qos)
		optv_push(&s->port,
			  (cfg_opt_t)CFG_SEC("qos", sub_opts(s, qos->svc->options), CFGF_MULTI));
	for (const struct nio_port_ops *const *d = nio_drivers; *d; d++)
		for (const struct nio_opt *o = (*d)->options; o && o->name; o++) {
			add_opt(s, &s->port, o);
			if ((o->flags & NIO_OPT_F_GLOBAL) && !optv_has(&s->top, o->name))
				add_opt(s, &s->top, o);
		}
}

/*
 * Two libConfuse 3.3 quirks are handled before it lexes: it counts each comment's newline more
 * than once (skewing every later line number), so comments are blanked out (outside quoted
 * strings, newlines kept); and it accepts a block left open at the end of the file, so braces
 * are counted here. Returns the line of an unclosed '{', or 0.
 */
static int blank_comments(char *t)
{
	int line = 1, depth = 0, open_line[64] = { 0 };
	char quote = 0;

	for (; *t; t++) {
		if (*t == '\n')
			line++;
		if (quote) {
			if (*t == '\\' && t[1] && t[1] != '\n')
				t++;
			else if (*t == quote)
				quote = 0;
		} else if (*t == '"' || *t == '\'') {
			quote = *t;
		} else if (*t == '{') {
			open_line[depth < 64 ? depth : 63] = line;
			depth++;
		} else if (*t == '}') {
			depth -= depth > 0;
		} else if (*t == '#' || (*t == '/' && t[1] == '/')) {
			while (t[1] && t[1] != '\n')
				*t++ = ' ';
			*t = ' ';
		} else if (*t == '/' && t[1] == '*') {
			for (; *t && !(*t == '*' && t[1] == '/'); t++) {
				if (*t == '\n')
					line++;
				else
					*t = ' ';
			}
			if (!*t)
				break;
			t[0] = t[1] = ' ';
			t++;
		}
	}
	return depth ? open_line[depth - 1 < 64 ? depth - 1 : 63] : 0;
}

static const char *kind_of(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
			     : "a special file";
}

/* Read at most NIO_CONF_MAX_BYTES + 1 bytes: enough to tell a file is over the limit. */
static char *read_fd(int fd, size_t *len)
{
	char *text = malloc(NIO_CONF_MAX_BYTES + 2);
	ssize_t r = 1;

	*len = 0;
	while (text && r > 0 && *len <= NIO_CONF_MAX_BYTES) {
		r = read(fd, text + *len, NIO_CONF_MAX_BYTES + 1 - *len);
		if (r < 0 && errno == EINTR)
			r = 1;
		else if (r > 0)
			*len += (size_t)r;
	}
	if (text && r < 0) {
		free(text);
		return NULL;
	}
	if (text)
		text[*len] = '\0';
	return text;
}

/*
 * Only a regular, non-empty file of at most NIO_CONF_MAX_BYTES is read. O_NONBLOCK: a FIFO
 * named by mistake (or by a hostile reload request) must not block the main thread in open(2).
 */
static char *read_file(const char *file, size_t *len)
{
	int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), e;
	struct stat st;
	char *text = NULL;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		text = NULL;
	else if (!S_ISREG(st.st_mode))
		snprintf(ld_err, ld_errlen, "%s: is %s, not a regular file", file,
			 kind_of(st.st_mode));
	else if (st.st_size == 0)
		snprintf(ld_err, ld_errlen, "%s: the file is empty", file);
	else
		text = read_fd(fd, len);
	e = errno;
	close(fd);
	errno = e;
	return text;
}

/* The text of the configuration (a copy of buf, or the file's): NULL with ld_err set. */
static char *config_text(const char *file, const char *buf)
{
	size_t len = buf ? strlen(buf) : 0;
	char *text = buf ? strdup(buf) : read_file(file, &len);

	if (!text) {
		if (!ld_err[0])
			snprintf(ld_err, ld_errlen, "%s: %s", file ? file : "<config>",
				 strerror(errno));
		return NULL;
	}
	if (len > NIO_CONF_MAX_BYTES) {
		snprintf(ld_err, ld_errlen, "%s: larger than the limit of %d bytes (1 MiB)",
			 file ? file : "<config>", NIO_CONF_MAX_BYTES);
		free(text);
		return NULL;
	}
	if (strlen(text) != len) {
		int line = 1;

		for (const char *t = text; *t; t++)
			line += *t == '\n';
		snprintf(ld_err, ld_errlen, "%s:%d: a NUL byte in the text",
			 file ? file : "<config>", line);
		free(text);
		return NULL;
	}
	return text;
}

static int parse_text(cfg_t *cfg, const char *file, const char *buf)
{
	char *text = config_text(file, buf);
	FILE *fp;
	int r;

	if (!text)
		return CFG_FILE_ERROR;
	ld_last_line = 1;
	for (const char *t = text; *t; t++)
		ld_last_line += *t == '\n' && t[1];
	r = blank_comments(text);
	if (r) {
		if (ld_err && !ld_err[0])
			snprintf(ld_err, ld_errlen, "%s:%d: '{' is never closed",
				 file ? file : "<config>", r);
		free(text);
		return CFG_PARSE_ERROR;
	}
	fp = fmemopen(text, strlen(text), "r");
	if (!fp) {
		free(text);
		return CFG_FILE_ERROR;
	}
	free(cfg->filename);
	cfg->filename = strdup(file ? file : "<config>");
	r = cfg_parse_fp(cfg, fp);
	fclose(fp);
	free(text);
	return r;
}

/* Where a global option was set (its last setting), or 0 when it was not. */
static void remember_line(const char *name, int line)
{
	unsigned i = 0;

	while (i < sizeof(ld_lines) / sizeof(ld_lines[0]) - 1 && ld_lines[i].name &&
	       strcmp(ld_lines[i].name, name))
		i++;
	ld_lines[i].name = name;
	ld_lines[i].line = line;
}

static int line_of(const char *name)
{
	for (unsigned i = 0; i < sizeof(ld_lines) / sizeof(ld_lines[0]) && ld_lines[i].name; i++)
		if (!strcmp(ld_lines[i].name, name))
			return ld_lines[i].line;
	return 0;
}

static int note_line(cfg_t *cfg, cfg_opt_t *opt)
{
	remember_line(opt->name, cfg->line);
	return 0;
}

/* libConfuse reads an integer with strtol's base 0, where "010" is eight: the globals that are
 * integers take netiod's rule instead (nio_parse_int(): decimal, or hex after 0x). */
static int int_value(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	long long v;

	_Static_assert(sizeof(long) == sizeof(v), "libConfuse's integer holds any parsed");
	if (nio_parse_int(value, &v) < 0) {
		cfg_error(cfg, "%s: '%s' is not an integer", opt->name, value);
		return -1;
	}
	*(long *)result = (long)v;
	return 0;
}

/* A driver option of a port block is checked once the block's driver is known: its line is
 * kept as it is parsed (the block's own is where it ends). */
static int note_port_line(cfg_t *port, cfg_opt_t *opt)
{
	unsigned i = ld_nport_lines;

	if (i == sizeof(ld_port_lines) / sizeof(ld_port_lines[0]))
		return 0;
	ld_port_lines[i].port = port;
	ld_port_lines[i].name = opt->name;
	ld_port_lines[i].line = port->line;
	ld_nport_lines++;
	return 0;
}

static int port_line_of(const cfg_t *port, const char *name)
{
	for (unsigned i = ld_nport_lines; i-- > 0;)
		if (ld_port_lines[i].port == port && !strcmp(ld_port_lines[i].name, name))
			return ld_port_lines[i].line;
	return port->line;
}

/*
 * The limits are checked as each block is parsed, so that a huge file stops at the first block
 * past a limit instead of being parsed whole (libConfuse copies the schema into every block).
 */
static int count_blocks(cfg_t *cfg, cfg_opt_t *opt, unsigned max, const char *what)
{
	if (opt->nvalues <= max)
		return 0;
	return fail(cfg, cfg_opt_getnsec(opt, opt->nvalues - 1)->line,
		    "more than %u %s (the limit)", max, what);
}

static int count_ports(cfg_t *cfg, cfg_opt_t *opt)
{
	return count_blocks(cfg, opt, NIO_MAX_PORTS, "ports");
}

static int count_pipelines(cfg_t *cfg, cfg_opt_t *opt)
{
	return count_blocks(cfg, opt, NIO_MAX_PIPELINES, "pipelines");
}

static int count_prefixes(cfg_t *cfg, cfg_opt_t *opt)
{
	if (opt->nvalues <= NIO_MAX_PREFIXES)
		return 0;
	return fail(cfg, cfg->line, "match: more than %d prefixes in '%s' (the limit)",
		    NIO_MAX_PREFIXES, opt->name);
}

static cfg_t *parse(struct schema *s, const char *file, const char *buf)
{
	cfg_opt_t pipeline_opts[] = {
		CFG_SEC("match", match_opts, CFGF_NONE),
		CFG_SEC("service", s->svc.v, CFGF_TITLE | CFGF_MULTI | CFGF_NO_TITLE_DUPES),
		CFG_STR("out", NULL, CFGF_NONE),
		CFG_STR("via", NULL, CFGF_NONE),
		CFG_STR("dst-mac", NULL, CFGF_NONE),
		CFG_STR("fail-mode", "secure", CFGF_NONE),
		CFG_BOOL("decrement-ttl", cfg_true, CFGF_NONE),
		CFG_STR("table", "main", CFGF_NONE),
		CFG_END(),
	};
	cfg_opt_t top[] = {
		CFG_INT_CB("burst", 32, CFGF_NONE, int_value),
		CFG_INT_CB("flow-table-size", 65536, CFGF_NONE, int_value),
		CFG_STR("flow-idle", "60s", CFGF_NONE),
		CFG_INT_CB("spin-us", 200, CFGF_NONE, int_value),
		CFG_STR("poll", "sleep", CFGF_NONE),
		CFG_STR("workers", "auto", CFGF_NONE),
		CFG_STR("worker-sched", "other", CFGF_NONE),
		CFG_STR("control-socket", NULL, CFGF_NONE),
		CFG_STR("state-dir", NULL, CFGF_NONE),
		CFG_STR("metrics-listen", "", CFGF_NONE),
		CFG_INT_CB("control-max-connections", 16, CFGF_NONE, int_value),
		CFG_STR("control-idle", "60s", CFGF_NONE),
		CFG_BOOL("forward-nothing", cfg_false, CFGF_NONE),
		CFG_STR("user", "", CFGF_NONE),
		CFG_STR("group", "", CFGF_NONE),
		CFG_STR("control-group", "", CFGF_NONE),
		CFG_BOOL("seccomp", cfg_true, CFGF_NONE),
		CFG_SEC("port", s->port.v, CFGF_TITLE | CFGF_MULTI | CFGF_NO_TITLE_DUPES),
		CFG_SEC("pipeline", pipeline_opts, CFGF_TITLE | CFGF_MULTI | CFGF_NO_TITLE_DUPES),
		CFG_END(),
	};
	struct optv all = { 0 };
	cfg_t *cfg;
	int r;
	char path[64];

	if (!s->svc.v)
		optv_push(&s->svc, (cfg_opt_t)CFG_STR("-", NULL, CFGF_NONE));
	for (unsigned i = 0; top[i].name; i++)
		optv_push(&all, top[i]);
	for (unsigned i = 0; i < s->top.n; i++)
		optv_push(&all, s->top.v[i]);
	cfg = cfg_init(all.v, CFGF_NONE);
	free(all.v); /* cfg_init copied it */
	cfg_set_error_function(cfg, errfunc);
	memset(ld_lines, 0, sizeof(ld_lines));
	for (unsigned i = 0; cfg->opts[i].name; i++)
		if (cfg->opts[i].type != CFGT_SEC)
			cfg_set_validate_func(cfg, cfg->opts[i].name, note_line);
	cfg_set_validate_func(cfg, "port", count_ports);
	cfg_set_validate_func(cfg, "pipeline", count_pipelines);
	cfg_set_validate_func(cfg, "pipeline|match|src", count_prefixes);
	cfg_set_validate_func(cfg, "pipeline|match|dst", count_prefixes);
	cfg_set_validate_func(cfg, "pipeline|service", validate_service);
	ld_nport_lines = 0;
	for (unsigned i = 0; i < s->port.n; i++) {
		snprintf(path, sizeof(path), "port|%s", s->port.v[i].name);
		if (!port_common_has(s->port.v[i].name))
			cfg_set_validate_func(cfg, path, note_port_line);
	}
	for (unsigned i = 0; i < s->svc.n; i++) {
		if (s->svc.v[i].type == CFGT_SEC)
			continue;
		snprintf(path, sizeof(path), "pipeline|service|%s", s->svc.v[i].name);
		cfg_set_validate_func(cfg, path, validate_leaf);
	}
	r = parse_text(cfg, file, buf);
	if (r != CFG_SUCCESS) {
		cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

/* ------------------------------------------------------------------ building the config */

static int port_index(const struct nio_config *c, const char *name)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (!strcmp(c->ports[i]->name, name))
			return (int)i;
	return -1;
}

/* A port's own IPv4 address, with the length of its subnet (whose broadcast is never
 * forwarded) when the port has no device to learn it from. */
static int port_addr4(struct nio_port *p, const char *v)
{
	char buf[32], *slash, *end;
	unsigned long len = 32;
	uint8_t a[16], fam;

	snprintf(buf, sizeof(buf), "%s", v);
	if ((slash = strchr(buf, '/'))) {
		*slash = 0;
		len = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || len > 32)
			return -1;
	}
	if (nio_addr_parse(buf, a, &fam) < 0 || fam != 4)
		return -1;
	memcpy(&p->addr4, a + 12, 4);
	p->has_v4 = true;
	nio_bcast4_add(p, &p->addr4, (unsigned)len);
	return 0;
}

/* The drivers a port's options are checked against: its own, or for auto every driver auto
 * may pick, so that a file valid on a host with netio.ko is valid on one without. */
static bool driver_candidate(const struct nio_port *p, const struct nio_port_ops *d)
{
	return strcmp(p->driver, "auto") ? d == p->ops : d->probe != NULL;
}

/* "kmod" or "kmod|afpacket": the drivers that declare an option. */
static void option_owners(const char *name, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (const struct nio_port_ops *const *d = nio_drivers; *d && off < len; d++)
		if (nio_opt_find((*d)->options, name))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "|" : "",
						(*d)->name);
}

/* One driver option set in a port block: some candidate driver declares it, and every
 * candidate that does accepts the value. */
static int driver_opt(cfg_t *sec, const struct nio_port *p, const char *name, const char *v)
{
	char why[256];
	bool known = false;

	for (const struct nio_port_ops *const *d = nio_drivers; *d; d++) {
		const struct nio_opt *o = nio_opt_find((*d)->options, name);

		if (!o || !driver_candidate(p, *d))
			continue;
		known = true;
		if (nio_opt_check(o, v, why, sizeof(why)) < 0)
			return fail(sec, port_line_of(sec, name), "port '%s': %s: %s", p->name,
				    name, why);
	}
	if (known)
		return 0;
	option_owners(name, why, sizeof(why));
	return fail(sec, port_line_of(sec, name), "port '%s': option '%s' is for driver %s, not %s",
		    p->name, name, why, p->driver);
}

/* A global value of a NIO_OPT_F_GLOBAL option, checked where it was set. */
static int global_opts(cfg_t *cfg)
{
	char why[256];

	for (const struct nio_port_ops *const *d = nio_drivers; *d; d++)
		for (const struct nio_opt *o = (*d)->options; o && o->name; o++) {
			const char *v =
				(o->flags & NIO_OPT_F_GLOBAL) ? cfg_getstr(cfg, o->name) : NULL;

			if (v && nio_opt_check(o, v, why, sizeof(why)) < 0)
				return fail(cfg, line_of(o->name), "%s: %s", o->name, why);
		}
	return 0;
}

/* The driver's options: checked, defaults from the top level, parsed into p->opts. */
static int driver_opts(struct nio_port *p, cfg_t *sec, cfg_t *top)
{
	struct nio_conf *conf;
	char why[256] = "";
	int r;

	for (unsigned i = 0; sec->opts[i].name; i++) {
		const char *name = sec->opts[i].name;
		const char *v = sec->opts[i].type == CFGT_SEC ? NULL : cfg_getstr(sec, name);

		if (v && !port_common_has(name) && driver_opt(sec, p, name, v) < 0)
			return -1;
	}
	for (const struct nio_opt *o = p->ops->options; o && o->name; o++)
		if ((o->flags & NIO_OPT_F_GLOBAL) && !cfg_getstr(sec, o->name) &&
		    cfg_getstr(top, o->name))
			cfg_setstr(sec, o->name, cfg_getstr(top, o->name));
	if (!p->ops->parse)
		return 0; /* a driver without options of its own (afxdp) */
	conf = nio_conf_open(sec, p->ops->options);
	r = p->ops->parse(p, conf, why, sizeof(why));
	nio_conf_close(conf);
	if (r < 0)
		return fail(sec, sec->line, "port '%s': %s", p->name, why[0] ? why : "bad options");
	return 0;
}

/* The driver named, or for auto the one this host supports (said when the port opens). */
static int port_driver(struct nio_port *p, cfg_t *sec)
{
	char names[128];

	snprintf(p->driver, sizeof(p->driver), "%s", cfg_getstr(sec, "driver"));
	if (!strcmp(p->driver, "auto")) {
		p->ops = nio_driver_auto(p->auto_why, sizeof(p->auto_why));
		if (!p->ops)
			return fail(sec, sec->line, "port '%s': driver auto: no driver fits (%s)",
				    p->name, p->auto_why);
		return 0;
	}
	p->ops = nio_driver_find(p->driver);
	if (p->ops)
		return 0;
	nio_driver_names(names, sizeof(names));
	return fail(sec, sec->line, "port '%s': driver '%s' is not one of %s", p->name, p->driver,
		    names);
}

/* The qos block of a port: what a pipeline's qos service takes, but for the class tree only
 * (a policer meters one pipeline's traffic: it stays in the pipeline). */
static int check_egress(const struct nio_port *p, const struct nio_plugin *qos, cfg_t *q)
{
	char what[96];

	snprintf(what, sizeof(what), "port '%s': qos", p->name);
	if (check_unknown(q, qos->svc->options, what) < 0 ||
	    validate_block(q, qos->svc->options, what) < 0)
		return -1;
	if (cfg_size(q, "policer"))
		return fail(q, q->line,
			    "%s: policers belong in a pipeline's qos service (they meter one "
			    "pipeline)",
			    what);
	if (!cfg_getstr(q, "rate"))
		return fail(q, q->line, "%s: missing 'rate' (what the port may send)", what);
	return 0;
}

/* port NAME { qos { ... } }: the stage "egress:NAME", one qos instance every packet leaving
 * the port goes through (egress.c). */
static int load_egress(struct nio_config *c, struct nio_port *p, cfg_t *q)
{
	struct nio_plugin *qos = nio_plugin_find(ld, "qos");
	struct nio_pipeline *eg;
	struct nio_svc_inst *si;
	char err[256] = "";

	if (check_egress(p, qos, q) < 0)
		return -1;
	eg = calloc(1, sizeof(*eg));
	if (!eg)
		return fail(q, q->line, "out of memory");
	c->egress[p->id] = eg;
	snprintf(eg->name, sizeof(eg->name), "egress:%.24s", p->name);
	eg->line = q->line;
	eg->out_port = p->id;
	eg->table = NIO_RT_TABLE_MAIN;
	eg->nsvcs = 1;
	si = &eg->svcs[0];
	si->plugin = qos;
	si->svc = qos->svc;
	si->conf_block = q;
	si->inst = nio_service_init(ld, c, eg, si, err, sizeof(err));
	if (!si->inst)
		return fail(q, q->line, "port '%s': qos: %s", p->name,
			    err[0] ? err : "init failed");
	qos->refs++;
	c->any_dequeue = true;
	return 0;
}

static int load_port(struct nio_config *c, cfg_t *sec, cfg_t *top)
{
	struct nio_port *p = calloc(1, sizeof(*p));
	const char *v;
	uint8_t a[16], fam;

	if (!p)
		return fail(sec, sec->line, "out of memory");
	c->ports[c->nports] = p;
	p->id = (uint16_t)c->nports++;
	p->line = sec->line;
	snprintf(p->name, sizeof(p->name), "%s", cfg_title(sec));
	if (port_driver(p, sec) < 0)
		return -1;
	if ((v = cfg_getstr(sec, "device")) && strlen(v) >= IFNAMSIZ)
		return fail(sec, sec->line, "port '%s': device name '%s' too long", p->name, v);
	if (v)
		snprintf(p->device, sizeof(p->device), "%s", v);
	else if (!(p->ops->flags & NIO_DRV_F_NO_DEVICE))
		return fail(sec, sec->line, "port '%s': missing 'device'", p->name);
	if ((v = cfg_getstr(sec, "mac")) && nio_mac_parse(v, p->mac) < 0)
		return fail(sec, sec->line, "port '%s': bad mac '%s'", p->name, v);
	if ((v = cfg_getstr(sec, "address")) && port_addr4(p, v) < 0)
		return fail(sec, sec->line, "port '%s': 'address' must be IPv4 (a.b.c.d[/len])",
			    p->name);
	if ((v = cfg_getstr(sec, "address6"))) {
		if (nio_addr_parse(v, a, &fam) < 0 || fam != 6)
			return fail(sec, sec->line, "port '%s': 'address6' must be IPv6", p->name);
		memcpy(&p->addr6, a, 16);
		p->has_v6 = true;
	}
	if (driver_opts(p, sec, top) < 0)
		return -1;
	if (!nio_plugin_find(ld, "qos")) /* the schema has no qos block */
		return 0;
	if (cfg_size(sec, "qos") > 1)
		return fail(sec, sec->line, "port '%s': more than one qos block", p->name);
	return cfg_size(sec, "qos") ? load_egress(c, p, cfg_getsec(sec, "qos")) : 0;
}

static int load_prefixes(cfg_t *m, const char *opt, struct nio_prefix *out, uint8_t *n,
			 const char *pl)
{
	unsigned cnt = cfg_size(m, opt);

	if (cnt > NIO_MAX_PREFIXES)
		return fail(m, m->line, "pipeline '%s': at most %d prefixes in '%s'", pl,
			    NIO_MAX_PREFIXES, opt);
	for (unsigned i = 0; i < cnt; i++) {
		const char *v = cfg_getnstr(m, opt, i);

		if (nio_prefix_parse(v, &out[i]) < 0)
			return fail(m, m->line,
				    "pipeline '%s': %s: '%s' is not a prefix (address/length, host "
				    "bits zero)",
				    pl, opt, v);
	}
	*n = (uint8_t)cnt;
	return 0;
}

int nio_proto_parse(const char *v)
{
	static const struct {
		const char *name;
		int proto;
	} names[] = { { "tcp", 6 },	{ "udp", 17 },	 { "icmp", 1 },
		      { "icmpv6", 58 }, { "sctp", 132 }, { "gre", 47 },
		      { "esp", 50 },	{ "ipip", 4 },	 { "ipv6", 41 } };
	long long n;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v, names[i].name))
			return names[i].proto;
	if (nio_parse_int(v, &n) == 0 && n > 0 && n < 256)
		return (int)n;
	return -1;
}

static int load_match(struct nio_config *c, struct nio_pipeline *pl, cfg_t *m)
{
	struct nio_match *mt = &pl->match;
	const char *v;
	int proto;

	mt->in_port = -1;
	mt->sport_hi = mt->dport_hi = 65535;
	if (!m)
		return 0;
	if ((v = cfg_getstr(m, "in")) && (mt->in_port = port_index(c, v)) < 0)
		return fail(m, m->line, "pipeline '%s': match: unknown port '%s'", pl->name, v);
	if (load_prefixes(m, "src", mt->src, &mt->nsrc, pl->name) < 0 ||
	    load_prefixes(m, "dst", mt->dst, &mt->ndst, pl->name) < 0)
		return -1;
	if ((v = cfg_getstr(m, "proto"))) {
		if ((proto = nio_proto_parse(v)) < 0)
			return fail(m, m->line, "pipeline '%s': match: unknown protocol '%s'",
				    pl->name, v);
		mt->proto = (uint8_t)proto;
	}
	if ((v = cfg_getstr(m, "sport")) &&
	    nio_parse_port_range(v, &mt->sport_lo, &mt->sport_hi) < 0)
		return fail(m, m->line, "pipeline '%s': match: bad port range '%s'", pl->name, v);
	if ((v = cfg_getstr(m, "dport")) &&
	    nio_parse_port_range(v, &mt->dport_lo, &mt->dport_hi) < 0)
		return fail(m, m->line, "pipeline '%s': match: bad port range '%s'", pl->name, v);
	if ((v = cfg_getstr(m, "family"))) {
		if (!nio_enum_ok("ipv4|ipv6", v))
			return fail(m, m->line, "pipeline '%s': match: family must be ipv4 or ipv6",
				    pl->name);
		mt->family = v[3] == '4' ? 4 : 6;
	}
	return 0;
}

/* netiod's own options of a service block (nio_svc_host_opts): where the instance runs. */
static int load_isolation(cfg_t *s, const struct nio_pipeline *pl, struct nio_svc_inst *si)
{
	struct nio_conf *h = nio_conf_open(s, nio_svc_host_opts);
	struct nio_iso_conf *ic = &si->isoc;

	ic->isolate = nio_conf_int(h, "isolate");
	ic->intensity = (unsigned)nio_conf_int(h, "restart-intensity");
	ic->period_ns = (uint64_t)nio_conf_int(h, "restart-period");
	ic->watchdog_ns = (uint64_t)nio_conf_int(h, "watchdog");
	nio_conf_close(h);
	if (!ic->isolate)
		return 0;
	if (si->svc->flow_state_size)
		return fail(s, s->line,
			    "pipeline '%s': service '%s' keeps per-flow state in netiod's flow "
			    "table: it cannot be isolated",
			    pl->name, si->svc->name);
	if (ic->watchdog_ns < 10000000ull || ic->period_ns < 1000000ull)
		return fail(s, s->line,
			    "pipeline '%s': service '%s': watchdog must be at least 10ms and "
			    "restart-period at least 1ms",
			    pl->name, si->svc->name);
	return 0;
}

static int load_services(struct nio_config *c, struct nio_pipeline *pl, cfg_t *sec)
{
	char err[256];
	size_t off = 0;

	pl->nsvcs = cfg_size(sec, "service");
	if (pl->nsvcs > NIO_MAX_SVCS)
		return fail(sec, sec->line, "pipeline '%s': at most %d services", pl->name,
			    NIO_MAX_SVCS);
	for (unsigned i = 0; i < pl->nsvcs; i++) {
		cfg_t *s = cfg_getnsec(sec, "service", i);
		struct nio_svc_inst *si = &pl->svcs[i];

		si->plugin = nio_plugin_find(ld, cfg_title(s));
		si->svc = si->plugin->svc;
		si->conf_block = s;
		si->state_off = off;
		off += (si->svc->flow_state_size + 15) & ~(size_t)15;
		err[0] = '\0';
		if (load_isolation(s, pl, si) < 0)
			return -1;
		si->inst = nio_service_init(ld, c, pl, si, err, sizeof(err));
		if (!si->inst)
			return fail(sec, s->line, "pipeline '%s': service '%s': %s", pl->name,
				    si->plugin->name, err[0] ? err : "init failed");
		si->plugin->refs++;
		c->any_dequeue |= si->svc->dequeue != NULL && !si->iso;
		c->any_iso |= si->iso != NULL;
	}
	pl->flow_state_size = off;
	return 0;
}

static int load_pipeline(struct nio_config *c, cfg_t *sec)
{
	struct nio_pipeline *pl = &c->pipelines[c->npipelines];
	const char *v;
	uint8_t fam;

	pl->id = (uint16_t)c->npipelines++;
	pl->line = sec->line;
	snprintf(pl->name, sizeof(pl->name), "%s", cfg_title(sec));
	if (load_match(c, pl, cfg_size(sec, "match") ? cfg_getsec(sec, "match") : NULL) < 0)
		return -1;
	pl->out_port = -1;
	if ((v = cfg_getstr(sec, "out")) && (pl->out_port = port_index(c, v)) < 0)
		return fail(sec, sec->line, "pipeline '%s': out: unknown port '%s'", pl->name, v);
	if ((v = cfg_getstr(sec, "via"))) {
		if (nio_addr_parse(v, pl->via, &fam) < 0)
			return fail(sec, sec->line, "pipeline '%s': via: '%s' is not an address",
				    pl->name, v);
		pl->has_via = true;
	}
	if ((v = cfg_getstr(sec, "dst-mac"))) {
		if (nio_mac_parse(v, pl->dst_mac) < 0)
			return fail(sec, sec->line,
				    "pipeline '%s': dst-mac: '%s' is not a MAC address", pl->name,
				    v);
		pl->has_dst_mac = true;
	}
	v = cfg_getstr(sec, "fail-mode");
	if (!nio_enum_ok("secure|passthrough", v))
		return fail(sec, sec->line,
			    "pipeline '%s': fail-mode must be secure or passthrough", pl->name);
	pl->fail_mode = strcmp(v, "secure") ? NIO_FAIL_PASSTHROUGH : NIO_FAIL_SECURE;
	pl->no_ttl = !cfg_getbool(sec, "decrement-ttl");
	v = cfg_getstr(sec, "table");
	if (nio_parse_rt_table(v, &pl->table) < 0)
		return fail(sec, sec->line,
			    "pipeline '%s': table: '%s' is neither a table number (1-4294967295, "
			    "not 255) nor a name in rt_tables",
			    pl->name, v);
	return load_services(c, pl, sec);
}

/* The control socket's limits (control.c reads them from the running configuration). */
static int load_control(struct nio_config *c, cfg_t *cfg)
{
	unsigned long long ns;

	if (cfg_getint(cfg, "control-max-connections") < 1 ||
	    cfg_getint(cfg, "control-max-connections") > 1024)
		return fail(cfg, line_of("control-max-connections"),
			    "control-max-connections must be within [1, 1024]");
	c->ctl_max_conns = (unsigned)cfg_getint(cfg, "control-max-connections");
	if (nio_parse_time(cfg_getstr(cfg, "control-idle"), &ns) < 0 || ns < 100000000ull ||
	    ns > 86400000000000ull)
		return fail(cfg, line_of("control-idle"),
			    "control-idle: '%s' is not a duration within [100ms, 1 day]",
			    cfg_getstr(cfg, "control-idle"));
	c->ctl_idle_ms = (unsigned)(ns / 1000000);
	return 0;
}

/* One of user, group, control-group: a name or a number within NIO_NAME_MAX. */
static int privs_name(cfg_t *cfg, const char *opt, char *out)
{
	const char *v = cfg_getstr(cfg, opt);

	if (strlen(v) >= NIO_NAME_MAX)
		return fail(cfg, line_of(opt), "%s: '%s' is longer than %d characters", opt, v,
			    NIO_NAME_MAX - 1);
	snprintf(out, NIO_NAME_MAX, "%s", v);
	return 0;
}

/* Who netiod runs as after start (privs.c); names are looked up now, so -t reports them. */
static int load_privs(struct nio_privs *p, cfg_t *cfg)
{
	if (privs_name(cfg, "user", p->user) < 0 || privs_name(cfg, "group", p->group) < 0 ||
	    privs_name(cfg, "control-group", p->ctl_group) < 0)
		return -1;
	p->seccomp = cfg_getbool(cfg, "seccomp");
	if (p->user[0] && nio_user_id(p->user, &p->uid, &p->gid) < 0)
		return fail(cfg, line_of("user"), "user '%s': no such user", p->user);
	if (p->user[0] && p->uid == 0)
		return fail(cfg, line_of("user"),
			    "user '%s' is root: name the unprivileged user netiod should run as",
			    p->user);
	if (p->group[0] && !p->user[0])
		return fail(cfg, line_of("group"), "group without user: set user too");
	if (p->group[0] && nio_group_id(p->group, &p->gid) < 0)
		return fail(cfg, line_of("group"), "group '%s': no such group", p->group);
	if (p->user[0] && p->gid == (gid_t)-1)
		return fail(cfg, line_of("user"),
			    "user '%s' has no entry in the user database: set group too", p->user);
	if (p->ctl_group[0] && nio_group_id(p->ctl_group, &p->ctl_gid) < 0)
		return fail(cfg, line_of("control-group"), "control-group '%s': no such group",
			    p->ctl_group);
	return 0;
}

/* Online CPUs this process may run on, less one for the control thread; at least 1. */
unsigned nio_workers_auto(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set) - 1;
	if (n < 1)
		return 1;
	return n > NIO_MAX_WORKERS ? NIO_MAX_WORKERS : (unsigned)n;
}

const char *const nio_poll_names[] = { "sleep", "busy", "napi" };

/* poll = sleep | busy | napi; a reload switches the workers at their next turn. */
static int load_poll(struct nio_config *c, cfg_t *cfg)
{
	const char *v = cfg_getstr(cfg, "poll");

	for (unsigned i = 0; i < sizeof(nio_poll_names) / sizeof(nio_poll_names[0]); i++)
		if (!strcmp(v, nio_poll_names[i])) {
			c->poll = (enum nio_poll)i;
			return 0;
		}
	return fail(cfg, line_of("poll"), "poll: '%s' is not one of sleep|busy|napi", v);
}

/* workers = N | auto; the count in force is fixed at start (-f: one, for gdb). */
static int load_workers(struct nio_config *c, cfg_t *cfg)
{
	const char *v = cfg_getstr(cfg, "workers");
	long long n;

	if (strcmp(v, "auto") && (nio_parse_int(v, &n) < 0 || n < 1 || n > NIO_MAX_WORKERS))
		return fail(cfg, line_of("workers"),
			    "workers: '%s' is neither auto nor a number within [1, %d]", v,
			    NIO_MAX_WORKERS);
	c->workers = strcmp(v, "auto") ? (unsigned)n : 0;
	if (ld && ld->nworkers)
		c->nworkers = ld->nworkers;
	else if (ld && ld->foreground)
		c->nworkers = 1;
	else
		c->nworkers = c->workers ? c->workers : nio_workers_auto();
	return 0;
}

/* worker-sched = other | nice N | fifo N | rr N; read at start. */
static int load_wsched(struct nio_config *c, cfg_t *cfg)
{
	const char *v = cfg_getstr(cfg, "worker-sched");

	if (nio_wsched_parse(v, &c->wsched) < 0)
		return fail(cfg, line_of("worker-sched"),
			    "worker-sched: '%s' is not other, nice N (-20 to 19), fifo N or rr N "
			    "(1 to 99)",
			    v);
	return 0;
}

/*
 * A real-time worker must sleep: one that polls without sleeping (busy, napi) keeps every
 * normal task on its CPU (the control thread, the kernel's softirq threads, sshd) waiting for
 * the kernel's RT throttling. A reload does not change the workers' policy, so on a reload
 * the running one is what counts.
 */
static int check_rt_poll(const struct nio_config *c, cfg_t *cfg)
{
	const struct nio_wsched *ws = ld && ld->running ? &ld->running->wsched : &c->wsched;
	char what[16];

	if (c->poll == NIO_POLL_SLEEP || ws->policy == SCHED_OTHER)
		return 0;
	nio_wsched_format(ws, what, sizeof(what));
	return fail(cfg, line_of("poll"),
		    "poll: '%s' with %sworker-sched '%s': a real-time worker that never sleeps "
		    "keeps every other task off its CPU; use poll = \"sleep\"",
		    nio_poll_names[c->poll], ld && ld->running ? "the running " : "", what);
}

/*
 * A pipeline with a service not declared NIO_SVC_F_MT_SAFE runs on one worker, the same for
 * all its packets; such pipelines are spread over the workers by index.
 */
void nio_config_assign_owners(struct nio_config *c)
{
	for (unsigned i = 0; i < c->npipelines; i++) {
		struct nio_pipeline *pl = &c->pipelines[i];

		pl->owner = -1;
		for (unsigned s = 0; s < pl->nsvcs; s++)
			if (!(pl->svcs[s].svc->flags & NIO_SVC_F_MT_SAFE) ||
			    pl->svcs[s].isoc.isolate)
				pl->owner = (int)(i % c->nworkers);
	}
	for (unsigned i = 0; i < c->nports; i++)
		if (c->egress[i])
			c->egress[i]->owner = (int)((c->npipelines + i) % c->nworkers);
}

static int load_globals(struct nio_config *c, cfg_t *cfg)
{
	unsigned long long ns;
	const char *v;
	char why[128];
	int r;

	if (cfg_getint(cfg, "burst") < 1 || cfg_getint(cfg, "burst") > (long)NIO_BURST_MAX)
		return fail(cfg, line_of("burst"), "burst must be within [1, %u]", NIO_BURST_MAX);
	c->burst = (unsigned)cfg_getint(cfg, "burst");
	if (cfg_getint(cfg, "flow-table-size") < 16 || cfg_getint(cfg, "flow-table-size") > 1 << 24)
		return fail(cfg, line_of("flow-table-size"),
			    "flow-table-size must be within [16, 16777216]");
	c->flow_table_size = (unsigned)cfg_getint(cfg, "flow-table-size");
	if (nio_parse_time(cfg_getstr(cfg, "flow-idle"), &ns) < 0 || ns < 1000000)
		return fail(cfg, line_of("flow-idle"),
			    "flow-idle: '%s' is not a duration of at least 1ms",
			    cfg_getstr(cfg, "flow-idle"));
	c->flow_idle_ms = (unsigned)(ns / 1000000);
	if (cfg_getint(cfg, "spin-us") < 0 || cfg_getint(cfg, "spin-us") > 1000000)
		return fail(cfg, line_of("spin-us"), "spin-us must be within [0, 1000000]");
	c->spin_us = (unsigned)cfg_getint(cfg, "spin-us");
	if (load_poll(c, cfg) < 0)
		return -1;
	if (load_workers(c, cfg) < 0 || load_wsched(c, cfg) < 0 || check_rt_poll(c, cfg) < 0)
		return -1;
	if ((v = cfg_getstr(cfg, "control-socket")))
		snprintf(c->control_socket, sizeof(c->control_socket), "%s", v);
	if ((v = cfg_getstr(cfg, "state-dir")))
		snprintf(c->state_dir, sizeof(c->state_dir), "%s", v);
	v = cfg_getstr(cfg, "metrics-listen");
	if (v[0] &&
	    (strlen(v) >= sizeof(c->metrics_listen) || nio_hostport_parse(v, NULL, 0, NULL) < 0))
		return fail(cfg, line_of("metrics-listen"),
			    "metrics-listen: '%s' is not address:port (e.g. 127.0.0.1:9110, "
			    "[::1]:9110)",
			    cfg_getstr(cfg, "metrics-listen"));
	snprintf(c->metrics_listen, sizeof(c->metrics_listen), "%s", v);
	r = v[0] && ld->check_only ? nio_hostport_bindable(v, why, sizeof(why)) : 0;
	if (r == EADDRINUSE) /* most likely by the netiod this file is checked for */
		log_warnx("%s:%d: metrics-listen '%s' is in use now (by a running netiod?)",
			  cfg->filename, line_of("metrics-listen"), v);
	else if (r)
		return fail(cfg, line_of("metrics-listen"), "metrics-listen '%s': %s", v, why);
	if (load_privs(&c->privs, cfg) < 0)
		return -1;
	return load_control(c, cfg);
}

/* A file without pipelines starts and forwards nothing: a mistake unless it says so. */
static int check_forwarding(const struct nio_config *c, cfg_t *cfg)
{
	bool nothing = cfg_getbool(cfg, "forward-nothing");

	if (!c->npipelines && !nothing)
		return fail(cfg, ld_last_line,
			    "no pipeline: this configuration forwards nothing (say "
			    "'forward-nothing = true' if that is intended)");
	if (c->npipelines && nothing)
		return fail(cfg, line_of("forward-nothing"),
			    "forward-nothing = true, but %u pipeline(s) are configured",
			    c->npipelines);
	return 0;
}

static int load_all(struct nio_config *c, cfg_t *cfg)
{
	if (load_globals(c, cfg) < 0)
		return -1;
	if (global_opts(cfg) < 0)
		return -1;
	for (unsigned i = 0; i < cfg_size(cfg, "port"); i++)
		if (load_port(c, cfg_getnsec(cfg, "port", i), cfg) < 0)
			return -1;
	for (unsigned i = 0; i < cfg_size(cfg, "pipeline"); i++)
		if (load_pipeline(c, cfg_getnsec(cfg, "pipeline", i)) < 0)
			return -1;
	nio_config_assign_owners(c);
	if (nio_config_hints(c) < 0)
		return fail(cfg, 0, "out of memory");
	return check_forwarding(c, cfg);
}

/*
 * Parse and validate a file (or, with buf, a string), create every service instance.
 * All or nothing: on error nothing is left behind and err holds "file:line: message".
 * Ports are described but not opened (nio_config_open_ports does that).
 */
struct nio_config *nio_config_load(struct netiod *d, const char *file, const char *buf, char *err,
				   size_t errlen)
{
	struct nio_config *c = calloc(1, sizeof(*c));
	struct schema *s = calloc(1, sizeof(*s));
	cfg_t *cfg;

	err[0] = '\0';
	if (!c || !s)
		fatal("calloc");
	c->schema = s;
	ld = d;
	ld_err = err;
	ld_errlen = errlen;
	for (struct nio_plugin *p = d->plugins; p; p = p->next)
		for (const struct nio_opt *o = p->svc->options; o && o->name; o++)
			add_opt(s, &s->svc, o);
	for (const struct nio_opt *o = nio_svc_host_opts; o->name; o++)
		add_opt(s, &s->svc, o);
	port_schema(s);
	snprintf(c->file, sizeof(c->file), "%s", file ? file : "<buffer>");
	cfg = parse(s, file, buf);
	if (!cfg) {
		if (!err[0])
			snprintf(err, errlen, "%s: parse error", c->file);
		goto fail;
	}
	c->cfg = cfg;
	if (load_all(c, cfg) < 0)
		goto fail;
	ld = NULL;
	ld_err = NULL;
	return c;
fail:
	nio_config_free(c);
	ld = NULL;
	ld_err = NULL;
	return NULL;
}

void nio_config_free(struct nio_config *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->npipelines; i++)
		nio_pipeline_fini(&c->pipelines[i]);
	for (unsigned i = 0; i < c->nports; i++) {
		if (c->egress[i])
			nio_pipeline_fini(c->egress[i]);
		free(c->egress[i]);
	}
	nio_config_hints_free(c);
	for (unsigned i = 0; i < c->nports; i++)
		nio_port_put(c->ports[i]);
	if (c->cfg)
		cfg_free(c->cfg);
	schema_free(c->schema);
	free(c->schema);
	free(c);
}

/* ------------------------------------------------------------------ printing (netiod -t -v) */

static void dump_prefixes(FILE *out, const char *what, const struct nio_prefix *p, unsigned n)
{
	char a[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < n; i++) {
		nio_addr_format(p[i].addr, a, sizeof(a));
		fprintf(out, " %s %s/%u", what, a, p[i].family == 4 ? p[i].len - 96u : p[i].len);
	}
}

static void dump_block(FILE *out, cfg_t *blk, const struct nio_opt *schema, int indent)
{
	for (const struct nio_opt *o = schema; o && o->name; o++) {
		if (o->type == NIO_OPT_SECTION) {
			for (unsigned i = 0; i < cfg_size(blk, o->name); i++) {
				cfg_t *sub = cfg_getnsec(blk, o->name, i);

				fprintf(out, "%*s%s %s\n", indent, "", o->name, cfg_title(sub));
				dump_block(out, sub, o->sub, indent + 2);
			}
		} else if (o->type == NIO_OPT_LIST) {
			fprintf(out, "%*s%s =", indent, "", o->name);
			for (unsigned i = 0; i < cfg_size(blk, o->name); i++)
				fprintf(out, " %s", cfg_getnstr(blk, o->name, i));
			fprintf(out, "\n");
		} else {
			const char *v = cfg_getstr(blk, o->name);

			if (v || o->def)
				fprintf(out, "%*s%s = %s%s\n", indent, "", o->name, v ? v : o->def,
					v ? "" : " (default)");
		}
	}
}

static void dump_pipeline(const struct nio_config *c, const struct nio_pipeline *pl, FILE *out)
{
	const struct nio_match *m = &pl->match;
	char a[INET6_ADDRSTRLEN];

	fprintf(out, "pipeline %s\n  match", pl->name);
	if (m->in_port >= 0)
		fprintf(out, " in %s", c->ports[m->in_port]->name);
	if (m->family)
		fprintf(out, " family ipv%u", m->family);
	dump_prefixes(out, "src", m->src, m->nsrc);
	dump_prefixes(out, "dst", m->dst, m->ndst);
	if (m->proto)
		fprintf(out, " proto %u", m->proto);
	if (m->sport_lo || m->sport_hi != 65535)
		fprintf(out, " sport %u-%u", m->sport_lo, m->sport_hi);
	if (m->dport_lo || m->dport_hi != 65535)
		fprintf(out, " dport %u-%u", m->dport_lo, m->dport_hi);
	fprintf(out, "\n");
	for (unsigned i = 0; i < pl->nsvcs; i++) {
		fprintf(out, "  service %s\n", pl->svcs[i].plugin->name);
		dump_block(out, pl->svcs[i].conf_block, pl->svcs[i].svc->options, 4);
		if (pl->svcs[i].isoc.isolate) /* where it runs, only when not in netiod */
			dump_block(out, pl->svcs[i].conf_block, nio_svc_host_opts, 4);
	}
	fprintf(out, "  out %s", pl->out_port >= 0 ? c->ports[pl->out_port]->name : "(route)");
	if (pl->has_via) {
		nio_addr_format(pl->via, a, sizeof(a));
		fprintf(out, " via %s", a);
	}
	if (pl->has_dst_mac)
		fprintf(out, " dst-mac %02x:%02x:%02x:%02x:%02x:%02x", pl->dst_mac[0],
			pl->dst_mac[1], pl->dst_mac[2], pl->dst_mac[3], pl->dst_mac[4],
			pl->dst_mac[5]);
	if (pl->table != NIO_RT_TABLE_MAIN)
		fprintf(out, " table %u", pl->table);
	fprintf(out, " fail-mode %s%s\n",
		pl->fail_mode == NIO_FAIL_SECURE ? "secure" : "passthrough",
		pl->no_ttl ? " decrement-ttl false" : "");
}

static void dump_privs(const struct nio_privs *p, FILE *out)
{
	if (p->user[0])
		fprintf(out, "user %s uid %u gid %u\n", p->user, (unsigned)p->uid,
			(unsigned)p->gid);
	if (p->ctl_group[0])
		fprintf(out, "control-group %s gid %u\n", p->ctl_group, (unsigned)p->ctl_gid);
	if (!p->seccomp)
		fprintf(out, "seccomp off\n");
}

void nio_config_dump(const struct nio_config *c, FILE *out)
{
	fprintf(out, "burst %u flow-table-size %u flow-idle %ums spin-us %u\n", c->burst,
		c->flow_table_size, c->flow_idle_ms, c->spin_us);
	if (c->workers)
		fprintf(out, "workers %u\n", c->workers);
	if (c->poll != NIO_POLL_SLEEP)
		fprintf(out, "poll %s\n", nio_poll_names[c->poll]);
	if (c->wsched.policy != SCHED_OTHER || c->wsched.prio) {
		char ws[16];

		nio_wsched_format(&c->wsched, ws, sizeof(ws));
		fprintf(out, "worker-sched %s\n", ws);
	}
	dump_privs(&c->privs, out);
	for (unsigned i = 0; i < c->nports; i++) {
		const struct nio_port *p = c->ports[i];

		fprintf(out, "port %s driver %s", p->name, p->driver);
		if (p->device[0])
			fprintf(out, " device %s", p->device);
		if (p->ops->dump)
			p->ops->dump(p, out);
		fprintf(out, "\n");
		if (c->egress[i]) {
			fprintf(out, "  qos\n");
			dump_block(out, c->egress[i]->svcs[0].conf_block,
				   c->egress[i]->svcs[0].svc->options, 4);
		}
	}
	for (unsigned i = 0; i < c->npipelines; i++)
		dump_pipeline(c, &c->pipelines[i], out);
}

/* Where service plugins come from: dlopen + ABI checks, option accessors, instance life cycle. */
#include <confuse.h>
#include <dirent.h>
#include <jansson.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netiod.h"
#include "isolate.h"

/* ------------------------------------------------------------------ option accessors */

struct nio_conf {
	cfg_t *cfg;
	const struct nio_opt *schema;
	struct nio_conf *children; /* handles given out by conf_section, freed with this one */
	struct nio_conf *next;
};

static struct nio_conf *conf_new(cfg_t *cfg, const struct nio_opt *schema)
{
	struct nio_conf *c = calloc(1, sizeof(*c));

	if (!c)
		fatal("calloc");
	c->cfg = cfg;
	c->schema = schema;
	return c;
}

static void conf_free(struct nio_conf *c)
{
	while (c && c->children) {
		struct nio_conf *ch = c->children;

		c->children = ch->next;
		conf_free(ch);
	}
	free(c);
}

static const char *conf_str(const struct nio_conf *c, const char *name)
{
	const struct nio_opt *o = nio_opt_find(c->schema, name);
	const char *v;

	if (!o || o->type == NIO_OPT_LIST || o->type == NIO_OPT_SECTION)
		return NULL;
	v = cfg_getstr(c->cfg, name);
	return v ? v : o->def;
}

static long long conf_int(const struct nio_conf *c, const char *name)
{
	const struct nio_opt *o = nio_opt_find(c->schema, name);
	const char *v = conf_str(c, name);
	unsigned long long u = 0;
	long long i = 0;
	bool b = false;

	if (!o || !v)
		return 0;
	switch (o->type) {
	case NIO_OPT_INT:
		return nio_parse_int(v, &i) < 0 ? 0 : i;
	case NIO_OPT_BOOL:
		return nio_parse_bool(v, &b) < 0 ? 0 : b;
	case NIO_OPT_RATE:
		return nio_parse_rate(v, &u) < 0 ? 0 : (long long)u;
	case NIO_OPT_SIZE:
		return nio_parse_size(v, &u) < 0 ? 0 : (long long)u;
	case NIO_OPT_TIME:
		return nio_parse_time(v, &u) < 0 ? 0 : (long long)u;
	default:
		return 0;
	}
}

static int conf_isset(const struct nio_conf *c, const char *name)
{
	const struct nio_opt *o = nio_opt_find(c->schema, name);

	if (!o)
		return 0;
	if (o->type == NIO_OPT_LIST || o->type == NIO_OPT_SECTION)
		return cfg_size(c->cfg, name) > 0;
	return cfg_getstr(c->cfg, name) != NULL;
}

static unsigned conf_count(const struct nio_conf *c, const char *name)
{
	const struct nio_opt *o = nio_opt_find(c->schema, name);

	if (!o || (o->type != NIO_OPT_LIST && o->type != NIO_OPT_SECTION))
		return 0;
	return cfg_size(c->cfg, name);
}

static const char *conf_list(const struct nio_conf *c, const char *name, unsigned i)
{
	return i < conf_count(c, name) ? cfg_getnstr(c->cfg, name, i) : NULL;
}

static const struct nio_conf *conf_section(const struct nio_conf *c, const char *name, unsigned i)
{
	const struct nio_opt *o = nio_opt_find(c->schema, name);
	struct nio_conf *ch;

	if (!o || o->type != NIO_OPT_SECTION || i >= cfg_size(c->cfg, name))
		return NULL;
	ch = conf_new(cfg_getnsec(c->cfg, name, i), o->sub);
	/* the parent is logically const to the plugin; the child list is bookkeeping */
	ch->next = ((struct nio_conf *)c)->children;
	((struct nio_conf *)c)->children = ch;
	return ch;
}

static const char *conf_title(const struct nio_conf *c)
{
	return cfg_title(c->cfg);
}

static int conf_line(const struct nio_conf *c)
{
	return c->cfg->line;
}

/* ------------------------------------------------------------------ netiod's own options */

/* Options every service block takes besides its plugin's: where the instance runs. */
const struct nio_opt nio_svc_host_opts[] = {
	{ .name = "isolate",
	  .type = NIO_OPT_BOOL,
	  .def = "false",
	  .help = "run the instance in its own sandboxed process (netio-svchost)" },
	{ .name = "restart-intensity",
	  .type = NIO_OPT_INT,
	  .def = "5",
	  .min = 0,
	  .max = 64,
	  .help = "restarts of a crashed or hung isolated instance allowed within restart-period" },
	{ .name = "restart-period",
	  .type = NIO_OPT_TIME,
	  .def = "10s",
	  .help = "the window restart-intensity counts restarts in" },
	{ .name = "watchdog",
	  .type = NIO_OPT_TIME,
	  .def = "50ms",
	  .help = "an isolated instance with work and no heartbeat for this long is hung" },
	{ 0 },
};

/* The block's plugin options as JSON, for an isolated instance's host (svchost_conf.c):
 * {"line": N, "opts": {name: {"s": text, "i": number, "set": bool} | [items] | [sections]}}
 * where a section is {"title": t, "line": N, "opts": {...}}. */
static json_t *conf_json_of(const struct nio_conf *c)
{
	json_t *opts = json_object();

	for (const struct nio_opt *o = c->schema; o && o->name; o++) {
		json_t *v;

		if (o->type == NIO_OPT_LIST) {
			v = json_array();
			for (unsigned i = 0; i < conf_count(c, o->name); i++)
				json_array_append_new(v, json_string(conf_list(c, o->name, i)));
		} else if (o->type == NIO_OPT_SECTION) {
			v = json_array();
			for (unsigned i = 0; i < conf_count(c, o->name); i++) {
				const struct nio_conf *sub = conf_section(c, o->name, i);
				json_t *js = conf_json_of(sub);

				json_object_set_new(
					js, "title",
					json_string(conf_title(sub) ? conf_title(sub) : ""));
				json_array_append_new(v, js);
			}
		} else {
			const char *str = conf_str(c, o->name);

			v = json_pack("{s:s?, s:I, s:b}", "s", str, "i",
				      (json_int_t)conf_int(c, o->name), "set",
				      conf_isset(c, o->name));
		}
		json_object_set_new(opts, o->name, v);
	}
	return json_pack("{s:i, s:o}", "line", conf_line(c), "opts", opts);
}

json_t *nio_conf_json(const struct nio_conf *c)
{
	return conf_json_of(c);
}

/* The same accessors over a port block, for the options its driver declares (config.c). */
struct nio_conf *nio_conf_open(void *cfg, const struct nio_opt *schema)
{
	return conf_new(cfg, schema);
}

void nio_conf_close(struct nio_conf *conf)
{
	conf_free(conf);
}

const char *nio_conf_str(const struct nio_conf *conf, const char *name)
{
	return conf_str(conf, name);
}

long long nio_conf_int(const struct nio_conf *conf, const char *name)
{
	return conf_int(conf, name);
}

static void __attribute__((format(printf, 2, 3))) host_log(int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(prio, "%s", msg);
}

static void host_endpoint(const struct nio_host *h, const uint8_t addr[16]);

static struct nio_host host_template = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_host),
	.log = host_log,
	.conf_str = conf_str,
	.conf_int = conf_int,
	.conf_isset = conf_isset,
	.conf_count = conf_count,
	.conf_list = conf_list,
	.conf_section = conf_section,
	.conf_title = conf_title,
	.conf_line = conf_line,
	.pkt_free = nio_worker_pkt_free,
	.now_ns = nio_now_ns,
	.pkt_alloc = nio_worker_pkt_alloc,
	.icmp_src = nio_worker_icmp_src,
	.endpoint = host_endpoint,
	.icmp_too_big = nio_worker_icmp_too_big,
};

/* ------------------------------------------------------------------ instances */

/*
 * The host table handed to init carries the instance's own strings (its name and the state
 * directory of the configuration being loaded), in the same allocation.
 */
struct host_alloc {
	struct nio_host h;
	struct nio_config *c; /* the configuration the instance belongs to */
	char instance[NIO_NAME_MAX * 2 + 2];
	char state_dir[256];
};

/* Packets to addr end at a service: the daemon treats addr as the gateway's own. */
static void host_endpoint(const struct nio_host *h, const uint8_t addr[16])
{
	struct nio_config *c = ((const struct host_alloc *)(const void *)h)->c;

	for (unsigned i = 0; i < c->nendpoints; i++)
		if (!memcmp(c->endpoints[i], addr, 16))
			return;
	if (c->nendpoints == NIO_MAX_ENDPOINTS) {
		log_warnx("%s: more than %d tunnel/SA ends: TTL of packets to the others is "
			  "decremented on the outer header",
			  h->instance, NIO_MAX_ENDPOINTS);
		return;
	}
	memcpy(c->endpoints[c->nendpoints++], addr, 16);
}

static struct nio_host *host_for(const struct netiod *d, struct nio_config *c, const char *pipeline,
				 const char *svc)
{
	struct host_alloc *a = malloc(sizeof(*a));

	if (!a)
		fatal("malloc");
	a->h = host_template;
	snprintf(a->instance, sizeof(a->instance), "%s/%s", pipeline, svc);
	snprintf(a->state_dir, sizeof(a->state_dir), "%s",
		 c->state_dir[0] ? c->state_dir : d->state_dir);
	a->h.instance = a->instance;
	a->h.state_dir = a->state_dir;
	a->h.check_only = d->check_only;
	a->c = c;
	return &a->h;
}

/* The options of a block as an isolated host gets them (malloc()ed), or NULL. Their
 * size is taken as INIT carries them, a JSON string (escaped once more), so that whatever
 * passes here fits a message. */
char *nio_conf_text(const struct nio_conf *conf, char *err, size_t errlen)
{
	json_t *j = nio_conf_json(conf);
	char *s = json_dumps(j, JSON_COMPACT);
	json_t *str = s ? json_string(s) : NULL;
	char *sent = str ? json_dumps(str, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(j);
	json_decref(str);
	if (!sent) {
		nio_err(err, errlen, "isolate: out of memory");
	} else if (strlen(sent) > NIO_ISO_CONF_MAX) {
		nio_err(err, errlen,
			"isolate: the block's options take %zu bytes as JSON, above %u",
			strlen(sent), NIO_ISO_CONF_MAX);
	} else {
		free(sent);
		return s;
	}
	free(sent);
	free(s);
	return NULL;
}

void *nio_service_init(struct netiod *d, struct nio_config *c, struct nio_pipeline *pl,
		       struct nio_svc_inst *si, char *err, size_t errlen)
{
	si->conf = conf_new(si->conf_block, si->svc->options);
	si->host = host_for(d, c, pl->name, si->svc->name);
	if (pl->out_port >= 0) {
		/* plugins keep this pointer: it must name the port struct that stays, which is the
		 * running config's where a reload keeps that port open (nio_config_open_ports) */
		const struct nio_port *p = c->ports[pl->out_port];
		const struct nio_port *kept = nio_port_reusable(d->running, p);

		si->host->out_mtu = &(kept ? kept : p)->mtu;
	}
	si->host->isolated = si->isoc.isolate;
	/* netiod -t checks the block in-process: no host to start, nothing kept; but what the
	 * host would be handed, too */
	if (si->isoc.isolate && !d->check_only)
		return nio_iso_create(d, c, pl, si, err, errlen);
	if (si->isoc.isolate) {
		char *text = nio_conf_text(si->conf, err, errlen);

		if (!text)
			return NULL;
		free(text);
	}
	return si->svc->init(si->host, si->conf, err, errlen);
}

void nio_svc_inst_fini(struct nio_svc_inst *si)
{
	if (si->iso) {
		nio_iso_destroy(si->iso);
		si->plugin->refs--;
	} else if (si->inst) {
		si->svc->fini(si->inst);
		si->plugin->refs--;
	}
	conf_free(si->conf);
	free(si->host);
	si->inst = NULL;
	si->conf = NULL;
	si->host = NULL;
}

/* What the control verbs ask an instance, wherever it runs. */
const uint64_t *nio_svc_counters(const struct nio_svc_inst *si)
{
	if (si->iso)
		return nio_iso_counters(si->iso);
	return si->svc->counters ? si->svc->counters(si->inst) : NULL;
}

char *nio_svc_show(const struct nio_svc_inst *si)
{
	if (!si->svc->show)
		return NULL;
	return si->iso ? nio_iso_show(si->iso) : nio_show_whole(si->svc->show, si->inst);
}

bool nio_svc_objects(const struct nio_svc_inst *si,
		     void (*emit)(void *ctx, const struct nio_obj *o), void *ctx)
{
	/* si->inst of an isolated instance is no plugin instance: objects() would read junk */
	if (si->iso || !si->inst || !si->svc->objects)
		return false;
	si->svc->objects(si->inst, emit, ctx);
	return true;
}

int nio_svc_save(const struct nio_svc_inst *si, void **blob, size_t *len)
{
	if (!si->svc->save_state)
		return -1;
	return si->iso ? nio_iso_save(si->iso, blob, len)
		       : si->svc->save_state(si->inst, blob, len);
}

int nio_svc_restore(struct nio_svc_inst *si, const void *blob, size_t len)
{
	if (!si->svc->restore_state)
		return -1;
	return si->iso ? nio_iso_restore(si->iso, blob, len)
		       : si->svc->restore_state(si->inst, blob, len);
}

void nio_pipeline_fini(struct nio_pipeline *pl)
{
	nio_capture_release(pl);
	for (unsigned i = 0; i < pl->nsvcs; i++)
		nio_svc_inst_fini(&pl->svcs[i]);
}

/* ------------------------------------------------------------------ plugins */

static int check_opts(const struct nio_opt *o, int depth, char *err, size_t errlen)
{
	for (; o && o->name; o++) {
		if (o->type < NIO_OPT_STR || o->type > NIO_OPT_SECTION)
			return nio_err(err, errlen, "option '%s' has an unknown type", o->name);
		if (o->type == NIO_OPT_ENUM && !o->choices)
			return nio_err(err, errlen, "enum option '%s' has no choices", o->name);
		if (o->type == NIO_OPT_SECTION &&
		    (depth > 3 || check_opts(o->sub, depth + 1, err, errlen) < 0))
			return -1;
	}
	return 0;
}

/* Everything netiod relies on before calling into a plugin. */
int nio_plugin_check(const struct nio_service *s, const char *name, char *err, size_t errlen)
{
	if (s->abi_version != NIO_SERVICE_ABI_VERSION)
		return nio_err(err, errlen, "ABI version %u, netiod speaks %u", s->abi_version,
			       NIO_SERVICE_ABI_VERSION);
	if (s->size != sizeof(struct nio_service))
		return nio_err(err, errlen, "descriptor size %u, netiod expects %zu", s->size,
			       sizeof(struct nio_service));
	if (!s->name || strcmp(s->name, name))
		return nio_err(err, errlen, "descriptor names '%s', file is '%s'",
			       s->name ? s->name : "(null)", name);
	if (!s->init || !s->fini || !s->process)
		return nio_err(err, errlen, "init, fini and process are mandatory");
	if (!!s->save_state != !!s->restore_state)
		return nio_err(err, errlen, "save_state and restore_state come together");
	return check_opts(s->options, 0, err, errlen);
}

struct nio_plugin *nio_plugin_find(struct netiod *d, const char *name)
{
	for (struct nio_plugin *p = d->plugins; p; p = p->next)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

/* "<dir>/tunnel.so" -> "tunnel" */
static int name_of(const char *path, char *name, size_t len)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n < 4 || strcmp(base + n - 3, ".so") || n - 3 >= len)
		return -1;
	memcpy(name, base, n - 3);
	name[n - 3] = '\0';
	return 0;
}

/*
 * The code netiod runs is a private copy of the file, never the file itself. dlopen hands back
 * the handle it already has for a path (or an inode) loaded before, so a plugin upgraded under
 * the same name (cp over it, or a rename onto it) would keep running the old code after
 * 'service replace'; and a file overwritten in place would change under a running daemon.
 * The copy is a memfd named "netio:<path>" (so /proc/PID/maps shows /memfd:netio:<path>),
 * opened as /proc/<pid>/fd/<n>: a name gdb opens too, for symbols and pending breakpoints.
 */
static int copy_to_memfd(const char *path, char *err, size_t errlen)
{
	char name[256], buf[65536];
	struct stat st;
	ssize_t n = 0;
	int in, fd;

	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return nio_err(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return nio_err(err, errlen, "%s: not a regular file", path);
	}
	snprintf(name, sizeof(name), "netio:%s", path);
	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0) {
		nio_err(err, errlen, "%s: memfd_create: %s", path, strerror(errno));
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n < 0)
		nio_err(err, errlen, "%s: copying: %s", path, strerror(errno));
	close(in);
	if (n < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *dlopen_copy(const char *path, int *fd, char *err, size_t errlen)
{
	char proc[64];
	void *dl;

	*fd = copy_to_memfd(path, err, errlen);
	if (*fd < 0)
		return NULL;
	snprintf(proc, sizeof(proc), "/proc/%d/fd/%d", (int)getpid(), *fd);
	dl = dlopen(proc, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "%s: %s", path, dlerror());
		close(*fd);
		*fd = -1;
	}
	return dl;
}

/* dlopen and check a plugin without registering it (load and replace share this). */
int nio_plugin_open(const char *path, struct nio_plugin **out, char *err, size_t errlen)
{
	char sym[NIO_NAME_MAX + 16], why[256];
	struct nio_plugin *p;
	const struct nio_service *s;

	p = calloc(1, sizeof(*p));
	if (!p)
		fatal("calloc");
	if (name_of(path, p->name, sizeof(p->name)) < 0) {
		snprintf(err, errlen, "%s: a plugin file is named <service>.so", path);
		free(p);
		return -1;
	}
	p->dl = dlopen_copy(path, &p->fd, err, errlen);
	if (!p->dl) {
		free(p);
		return -1;
	}
	snprintf(sym, sizeof(sym), "%s%s", p->name, NIO_SERVICE_SYMBOL_SUFFIX);
	s = dlsym(p->dl, sym);
	if (!s || nio_plugin_check(s, p->name, why, sizeof(why)) < 0) {
		if (!s)
			snprintf(why, sizeof(why), "no symbol '%s'", sym);
		snprintf(err, errlen, "%s: %s", path, why);
		nio_plugin_close(p);
		free(p);
		return -1;
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->svc = s;
	*out = p;
	return 0;
}

/*
 * Under ASan, unmapping code breaks symbolised reports and leak checks: keep it mapped, and
 * keep the copy's descriptor open so that the symboliser can still read it.
 */
void nio_plugin_close(struct nio_plugin *p)
{
#ifndef NIO_SANITIZED
	if (p->dl)
		dlclose(p->dl);
	if (p->fd >= 0)
		close(p->fd);
	p->dl = NULL;
	p->fd = -1;
#else
	(void)p;
#endif
}

int nio_plugin_load(struct netiod *d, const char *path, struct nio_plugin **out, char *err,
		    size_t errlen)
{
	struct nio_plugin *p, *dup;

	if (nio_plugin_open(path, &p, err, errlen) < 0)
		return -1;
	dup = nio_plugin_find(d, p->name);
	if (dup) {
		snprintf(err, errlen, "service '%s' is already loaded (from %s)", p->name,
			 dup->path);
		nio_plugin_close(p);
		free(p);
		return -1;
	}
	p->next = d->plugins;
	d->plugins = p;
	log_debug("loaded service %s %s from %s (a private copy: fd %d)", p->name,
		  p->svc->version ? p->svc->version : "", path, p->fd);
	if (out)
		*out = p;
	return 0;
}

int nio_plugin_load_dir(struct netiod *d, const char *dir)
{
	struct dirent **ents;
	char path[512], err[512];
	int n = scandir(dir, &ents, NULL, alphasort), loaded = 0;

	if (n < 0) {
		log_warn("plugin directory %s", dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen(ents[i]->d_name);

		if (len > 3 && !strcmp(ents[i]->d_name + len - 3, ".so")) {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			if (nio_plugin_load(d, path, NULL, err, sizeof(err)) < 0)
				log_warnx("skipping plugin: %s", err);
			else
				loaded++;
		}
		free(ents[i]);
	}
	free(ents);
	return loaded;
}

void nio_plugin_unlink(struct netiod *d, struct nio_plugin *p)
{
	for (struct nio_plugin **pp = &d->plugins; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

int nio_plugin_unload(struct netiod *d, const char *name, char *err, size_t errlen)
{
	struct nio_plugin *p = nio_plugin_find(d, name);

	if (!p)
		return nio_err(err, errlen, "no service '%s' is loaded", name);
	if (p->refs)
		return snprintf(err, errlen,
				"service '%s' is used by %u pipeline(s); remove it from the "
				"configuration and reload first",
				name, p->refs),
		       -1;
	nio_plugin_unlink(d, p);
	nio_plugin_close(p);
	log_info("unloaded service %s", name);
	free(p);
	return 0;
}

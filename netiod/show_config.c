/* config show: the running configuration as netiod understood it. The text is the very printer
 * of netiod -t -v (config.c); the JSON carries the same fields, read from the same structures. */
#include <confuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "show.h"

static json_t *prefixes(const struct nio_prefix *p, unsigned n)
{
	json_t *a = json_array();
	char s[INET6_ADDRSTRLEN + 5], addr[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < n; i++) {
		nio_addr_format(p[i].addr, addr, sizeof(addr));
		snprintf(s, sizeof(s), "%s/%u", addr, p[i].family == 4 ? p[i].len - 96u : p[i].len);
		json_array_append_new(a, json_string(s));
	}
	return a;
}

static json_t *port_range(uint16_t lo, uint16_t hi)
{
	char s[16];

	if (!lo && hi == 65535)
		return json_null();
	snprintf(s, sizeof(s), "%u-%u", lo, hi);
	return json_string(s);
}

static json_t *match_json(const struct nio_config *c, const struct nio_match *m)
{
	return json_pack("{s:o, s:i, s:o, s:o, s:i, s:o, s:o}", "in",
			 m->in_port >= 0 ? nio_json_text(c->ports[m->in_port]->name) : json_null(),
			 "family", m->family, "src", prefixes(m->src, m->nsrc), "dst",
			 prefixes(m->dst, m->ndst), "proto", m->proto, "sport",
			 port_range(m->sport_lo, m->sport_hi), "dport",
			 port_range(m->dport_lo, m->dport_hi));
}

/* A service block by its schema, as the text printer walks it; defaults are listed apart. */
static json_t *block_json(cfg_t *blk, const struct nio_opt *schema)
{
	json_t *o = json_object(), *defaults = json_array();

	for (const struct nio_opt *opt = schema; opt && opt->name; opt++) {
		json_t *v = NULL;

		if (opt->type == NIO_OPT_SECTION) {
			v = json_array();
			for (unsigned i = 0; i < cfg_size(blk, opt->name); i++) {
				cfg_t *sub = cfg_getnsec(blk, opt->name, i);
				json_t *s = block_json(sub, opt->sub);

				json_object_set_new(s, "title", nio_json_text(cfg_title(sub)));
				json_array_append_new(v, s);
			}
		} else if (opt->type == NIO_OPT_LIST) {
			v = json_array();
			for (unsigned i = 0; i < cfg_size(blk, opt->name); i++)
				json_array_append_new(
					v, nio_json_text(cfg_getnstr(blk, opt->name, i)));
		} else if (cfg_getstr(blk, opt->name)) {
			v = nio_json_text(cfg_getstr(blk, opt->name));
		} else if (opt->def) {
			v = nio_json_text(opt->def);
			json_array_append_new(defaults, json_string(opt->name));
		}
		if (v)
			json_object_set_new(o, opt->name, v);
	}
	if (json_array_size(defaults))
		json_object_set_new(o, "defaults", defaults);
	else
		json_decref(defaults);
	return o;
}

static json_t *pipeline_json(const struct nio_config *c, const struct nio_pipeline *pl)
{
	json_t *svcs = json_array(), *o;
	char a[INET6_ADDRSTRLEN], mac[18];

	for (unsigned i = 0; i < pl->nsvcs; i++) {
		json_t *s = block_json(pl->svcs[i].conf_block, pl->svcs[i].svc->options);

		json_array_append_new(svcs, json_pack("{s:o, s:o}", "name",
						      nio_json_text(pl->svcs[i].plugin->name),
						      "options", s));
	}
	o = json_pack("{s:o, s:o, s:o, s:o, s:I, s:s, s:b}", "name", nio_json_text(pl->name),
		      "match", match_json(c, &pl->match), "services", svcs, "out",
		      pl->out_port >= 0 ? nio_json_text(c->ports[pl->out_port]->name) : json_null(),
		      "table", (json_int_t)pl->table, "fail_mode",
		      pl->fail_mode == NIO_FAIL_SECURE ? "secure" : "passthrough", "decrement_ttl",
		      !pl->no_ttl);
	if (pl->has_via) {
		nio_addr_format(pl->via, a, sizeof(a));
		json_object_set_new(o, "via", json_string(a));
	}
	if (pl->has_dst_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", pl->dst_mac[0],
			 pl->dst_mac[1], pl->dst_mac[2], pl->dst_mac[3], pl->dst_mac[4],
			 pl->dst_mac[5]);
		json_object_set_new(o, "dst_mac", json_string(mac));
	}
	return o;
}

/* The driver's own options as its printer (ops->dump) writes them for netiod -t -v. */
static json_t *driver_options(const struct nio_port *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	json_t *j;

	if (!p->ops || !p->ops->dump || !(f = open_memstream(&buf, &len)))
		return json_string("");
	p->ops->dump(p, f);
	if (fclose(f)) {
		free(buf);
		return json_string("");
	}
	j = nio_json_text(buf + strspn(buf, " "));
	free(buf);
	return j;
}

static json_t *port_json(const struct nio_port *p)
{
	json_t *o = json_pack("{s:o, s:o, s:o}", "name", nio_json_text(p->name), "driver",
			      nio_json_text(p->driver), "options", driver_options(p));

	if (p->device[0])
		json_object_set_new(o, "device", nio_json_text(p->device));
	return o;
}

/* What netiod -t -v prints, into a string. */
static char *config_text(const struct nio_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	nio_config_dump(c, f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

json_t *nio_show_config(struct netiod *d, char *err, size_t errlen)
{
	const struct nio_config *c = d->running;
	char *txt = config_text(c);
	json_t *ports = json_array(), *pls = json_array(), *o;

	if (!txt) {
		json_decref(ports);
		json_decref(pls);
		return nio_err(err, errlen, "out of memory"), NULL;
	}
	for (unsigned i = 0; i < c->nports; i++)
		json_array_append_new(ports, port_json(c->ports[i]));
	for (unsigned i = 0; i < c->npipelines; i++)
		json_array_append_new(pls, pipeline_json(c, &c->pipelines[i]));
	o = json_pack("{s:o, s:I, s:o, s:i, s:i, s:i, s:i, s:s, s:i, s:o, s:o}", "file",
		      nio_json_text(d->conf_file), "generation", (json_int_t)c->generation, "text",
		      nio_json_text(txt), "burst", (int)c->burst, "flow_table_size",
		      (int)c->flow_table_size, "flow_idle_ms", (int)c->flow_idle_ms, "spin_us",
		      (int)c->spin_us, "poll", nio_poll_names[c->poll], "workers", (int)c->workers,
		      "ports", ports, "pipelines", pls);
	free(txt);
	return o;
}

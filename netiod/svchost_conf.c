/* netio-svchost: the option accessors of struct nio_host over the block netiod sent as JSON. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "svchost.h"

/* A block: its options object; sections handed out are kept until the host exits. */
struct nio_conf {
	json_t *blk; /* {"line": N, "title": t, "opts": {...}} */
};

static json_t *opt(const struct nio_conf *c, const char *name)
{
	return json_object_get(json_object_get(c->blk, "opts"), name);
}

static const char *conf_str(const struct nio_conf *c, const char *name)
{
	return json_string_value(json_object_get(opt(c, name), "s"));
}

static long long conf_int(const struct nio_conf *c, const char *name)
{
	return (long long)json_integer_value(json_object_get(opt(c, name), "i"));
}

static int conf_isset(const struct nio_conf *c, const char *name)
{
	json_t *o = opt(c, name);

	if (json_is_array(o))
		return json_array_size(o) > 0;
	return json_is_true(json_object_get(o, "set"));
}

static unsigned conf_count(const struct nio_conf *c, const char *name)
{
	json_t *o = opt(c, name);

	return json_is_array(o) ? (unsigned)json_array_size(o) : 0;
}

static const char *conf_list(const struct nio_conf *c, const char *name, unsigned i)
{
	return json_string_value(json_array_get(opt(c, name), i));
}

static const struct nio_conf *conf_section(const struct nio_conf *c, const char *name, unsigned i)
{
	json_t *s = json_array_get(opt(c, name), i);
	struct nio_conf *ch;

	if (!json_is_object(s))
		return NULL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->blk = s;
	return ch;
}

static const char *conf_title(const struct nio_conf *c)
{
	return json_string_value(json_object_get(c->blk, "title"));
}

static int conf_line(const struct nio_conf *c)
{
	return (int)json_integer_value(json_object_get(c->blk, "line"));
}

struct nio_conf *svchost_conf(json_t *blk)
{
	struct nio_conf *c = calloc(1, sizeof(*c));

	if (c)
		c->blk = blk;
	return c;
}

void svchost_conf_ops(struct nio_host *h)
{
	h->conf_str = conf_str;
	h->conf_int = conf_int;
	h->conf_isset = conf_isset;
	h->conf_count = conf_count;
	h->conf_list = conf_list;
	h->conf_section = conf_section;
	h->conf_title = conf_title;
	h->conf_line = conf_line;
}

/* The fake nio_host of fake_host.h: table-driven option accessors, a settable clock, counters. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_host.h"

uint64_t fake_now_ns;
unsigned fake_pkts_freed;
unsigned fake_log_count;
char fake_log_last[256];

void fake_conf(struct nio_conf *c, const struct nio_opt *schema, const struct fake_opt *vals)
{
	c->schema = schema;
	c->vals = vals;
	c->title = NULL;
	c->line = 1;
}

/* A test asking for an option its plugin never declared is a bug in the plugin or the test. */
static const struct nio_opt *schema_find(const struct nio_conf *c, const char *name)
{
	for (const struct nio_opt *o = c->schema; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	fprintf(stderr, "fake_host: option '%s' is not in the schema\n", name);
	abort();
}

static const struct fake_opt *val_find(const struct nio_conf *c, const char *name, unsigned i)
{
	for (const struct fake_opt *v = c->vals; v && v->name; v++)
		if (strcmp(v->name, name) == 0 && i-- == 0)
			return v;
	return NULL;
}

/* The value as written, or the schema's default. */
static const char *raw(const struct nio_conf *c, const char *name)
{
	const struct nio_opt *o = schema_find(c, name);
	const struct fake_opt *v = val_find(c, name, 0);

	return v ? v->value : o->def;
}

static const char *fake_conf_str(const struct nio_conf *c, const char *name)
{
	return raw(c, name);
}

static long long scaled(const char *s, const char *const *units, const long long *mult)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	for (unsigned i = 0; units[i]; i++)
		if (strcasecmp(end, units[i]) == 0)
			return v * mult[i];
	fprintf(stderr, "fake_host: bad unit in '%s'\n", s);
	abort();
}

static long long parse_bool(const char *s)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };

	for (unsigned i = 0; i < 4; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	return 0;
}

/* INT as is, BOOL 0/1, SIZE bytes (k = 1024), RATE bits/s (k = 1000, *bps = bytes), TIME ns. */
static long long fake_conf_int(const struct nio_conf *c, const char *name)
{
	static const char *const size_u[] = { "", "k", "m", "g", NULL };
	static const long long size_m[] = { 1, 1LL << 10, 1LL << 20, 1LL << 30 };
	static const char *const rate_u[] = { "bit",  "kbit", "mbit", "gbit", "bps",
					      "kbps", "mbps", "gbps", NULL };
	static const long long rate_m[] = { 1, 1000, 1000000, 1000000000,
					    8, 8000, 8000000, 8000000000LL };
	static const char *const time_u[] = { "ns", "us", "ms", "s", NULL };
	static const long long time_m[] = { 1, 1000, 1000000, 1000000000 };
	const char *s = raw(c, name);

	if (!s)
		return 0;
	switch (schema_find(c, name)->type) {
	case NIO_OPT_BOOL:
		return parse_bool(s);
	case NIO_OPT_SIZE:
		return scaled(s, size_u, size_m);
	case NIO_OPT_RATE:
		return scaled(s, rate_u, rate_m);
	case NIO_OPT_TIME:
		return scaled(s, time_u, time_m);
	default:
		return strtoll(s, NULL, 10);
	}
}

static int fake_conf_isset(const struct nio_conf *c, const char *name)
{
	schema_find(c, name);
	return val_find(c, name, 0) != NULL;
}

static unsigned fake_conf_count(const struct nio_conf *c, const char *name)
{
	unsigned n = 0;

	schema_find(c, name);
	while (val_find(c, name, n))
		n++;
	return n;
}

static const char *fake_conf_list(const struct nio_conf *c, const char *name, unsigned i)
{
	const struct fake_opt *v = val_find(c, name, i);

	schema_find(c, name);
	return v ? v->value : NULL;
}

/* Sections are handed out from a small ring: enough for any one init() call. */
static const struct nio_conf *fake_conf_section(const struct nio_conf *c, const char *name,
						unsigned i)
{
	static struct nio_conf ring[64];
	static unsigned next;
	const struct nio_opt *o = schema_find(c, name);
	const struct fake_opt *v = val_find(c, name, i);
	struct nio_conf *s;

	if (!v)
		return NULL;
	s = &ring[next++ % 64];
	fake_conf(s, o->sub, v->sub);
	s->title = v->value;
	return s;
}

static const char *fake_conf_title(const struct nio_conf *c)
{
	return c->title;
}

static int fake_conf_line(const struct nio_conf *c)
{
	return c->line;
}

__attribute__((format(printf, 2, 3))) static void fake_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fake_log_last, sizeof(fake_log_last), fmt, ap);
	va_end(ap);
	fake_log_count++;
}

/* A small pool for pkt_alloc(): buffers out are marked busy until pkt_free() returns them. */
#define FAKE_POOL 320
static struct {
	struct nio_pkt p;
	uint8_t mem[NIO_PKT_BUF_SIZE];
	bool busy;
} fake_pool[FAKE_POOL];
unsigned fake_pkts_alloced;
unsigned fake_alloc_limit = FAKE_POOL;

static struct nio_pkt *fake_pkt_alloc(void)
{
	unsigned out = 0;

	for (unsigned i = 0; i < FAKE_POOL; i++)
		out += fake_pool[i].busy;
	for (unsigned i = 0; i < FAKE_POOL && out < fake_alloc_limit; i++) {
		if (fake_pool[i].busy)
			continue;
		fake_pool[i].busy = true;
		memset(&fake_pool[i].p, 0, sizeof(fake_pool[i].p));
		fake_pool[i].p.buf = fake_pool[i].mem;
		fake_pool[i].p.buf_size = NIO_PKT_BUF_SIZE;
		fake_pool[i].p.data = fake_pool[i].mem + NIO_PKT_HEADROOM;
		fake_pool[i].p.out_port = NIO_PORT_NONE;
		fake_pkts_alloced++;
		return &fake_pool[i].p;
	}
	return NULL;
}

static void fake_pkt_free(struct nio_pkt *p)
{
	for (unsigned i = 0; i < FAKE_POOL; i++)
		if (p == &fake_pool[i].p)
			fake_pool[i].busy = false;
	fake_pkts_freed++;
}

static uint64_t fake_now(void)
{
	return fake_now_ns;
}

int fake_out_mtu;
bool fake_port_addrs;
const uint8_t fake_port4[4] = { 192, 0, 2, 1 };
const uint8_t fake_port6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 1 };

unsigned fake_nendpoints;
uint8_t fake_endpoint[16];

static void fake_endpoint_add(const struct nio_host *h, const uint8_t addr[16])
{
	(void)h;
	fake_nendpoints++;
	memcpy(fake_endpoint, addr, 16);
}

static int fake_icmp_src(const struct nio_pkt *p, uint8_t family, uint8_t *out)
{
	(void)p;
	if (!fake_port_addrs)
		return -1;
	memcpy(out, family == 4 ? fake_port4 : fake_port6, family == 4 ? 4 : 16);
	return 0;
}

const struct nio_host fake_host = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_host),
	.log = fake_log,
	.conf_str = fake_conf_str,
	.conf_int = fake_conf_int,
	.conf_isset = fake_conf_isset,
	.conf_count = fake_conf_count,
	.conf_list = fake_conf_list,
	.conf_section = fake_conf_section,
	.conf_title = fake_conf_title,
	.conf_line = fake_conf_line,
	.pkt_free = fake_pkt_free,
	.now_ns = fake_now,
	.state_dir = "/tmp",
	.instance = "test/service",
	.pkt_alloc = fake_pkt_alloc,
	.out_mtu = &fake_out_mtu,
	.icmp_src = fake_icmp_src,
	.endpoint = fake_endpoint_add,
};

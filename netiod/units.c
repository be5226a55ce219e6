/* Parsers for option values in human units: rates, sizes, durations, integers, booleans. */
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netiod.h"

struct unit {
	const char *suffix;
	unsigned long long mult;
};

/* Parse "<number><suffix>" where the number may have a fraction ("1.5mbit"). */
static int parse_scaled(const char *s, const struct unit *units, unsigned long long *out)
{
	unsigned long long ip = 0, frac = 0, fdiv = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (ip > (ULLONG_MAX - 9) / 10)
			return -1;
		ip = ip * 10 + (unsigned long long)(*p - '0');
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			if (fdiv >= 1000000000ull)
				continue; /* ignore digits beyond nano precision */
			frac = frac * 10 + (unsigned long long)(*p - '0');
			fdiv *= 10;
		}
	}
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcasecmp(p, u->suffix))
			continue;
		if (ip > ULLONG_MAX / u->mult)
			return -1;
		*out = ip * u->mult + frac * u->mult / fdiv;
		return 0;
	}
	return -1;
}

int nio_parse_rate(const char *s, unsigned long long *bps)
{
	static const struct unit u[] = {
		{ "bit", 1 }, { "kbit", 1000 }, { "mbit", 1000000 }, { "gbit", 1000000000 },
		{ "bps", 8 }, { "kbps", 8000 }, { "mbps", 8000000 }, { "gbps", 8000000000ull },
		{ NULL, 0 },
	};

	return parse_scaled(s, u, bps) < 0 || *bps == 0 ? -1 : 0;
}

int nio_parse_size(const char *s, unsigned long long *bytes)
{
	static const struct unit u[] = {
		{ "", 1 },	  { "b", 1 },	     { "k", 1024 },
		{ "kb", 1024 },	  { "m", 1 << 20 },  { "mb", 1 << 20 },
		{ "g", 1 << 30 }, { "gb", 1 << 30 }, { NULL, 0 },
	};

	return parse_scaled(s, u, bytes);
}

int nio_parse_time(const char *s, unsigned long long *ns)
{
	static const struct unit u[] = {
		{ "ns", 1 },	     { "us", 1000 },	      { "ms", 1000000 },
		{ "s", 1000000000 }, { "m", 60000000000ull }, { NULL, 0 },
	};

	return parse_scaled(s, u, ns);
}

/* Decimal, or hexadecimal after 0x (an SPI, say). A leading zero is no octal prefix: an
 * operator who writes "010" means ten, and "08" is eight, not an error. */
int nio_parse_int(const char *s, long long *v)
{
	const char *p = s;
	char *end;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '+' || *p == '-')
		p++;
	errno = 0;
	*v = strtoll(s, &end, p[0] == '0' && (p[1] == 'x' || p[1] == 'X') ? 16 : 10);
	return errno || end == s || *end ? -1 : 0;
}

int nio_parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (unsigned i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*v = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*v = false;
			return 0;
		}
	}
	return -1;
}

/* Is word one of the '|'-separated choices? */
bool nio_enum_ok(const char *choices, const char *word)
{
	size_t n = strlen(word);

	for (const char *c = choices; c && *c;) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);

		if (len == n && !strncmp(c, word, n))
			return true;
		c = bar ? bar + 1 : NULL;
	}
	return false;
}

/* "80", "1000-2000" -> [lo, hi]. */
int nio_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char *end;
	unsigned long a, b;

	a = strtoul(s, &end, 10);
	if (end == s || a > 65535)
		return -1;
	b = a;
	if (*end == '-') {
		const char *s2 = end + 1;

		b = strtoul(s2, &end, 10);
		if (end == s2 || b > 65535 || b < a)
			return -1;
	}
	if (*end)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* Find name in an iproute2 rt_tables file ("NUMBER NAME" lines, '#' comments). */
static int rt_tables_find(const char *file, const char *name, uint32_t *id)
{
	FILE *f = fopen(file, "re");
	char line[256], word[64];
	unsigned long n;
	int rc = -1;

	if (!f)
		return -1;
	while (rc < 0 && fgets(line, sizeof(line), f))
		if (line[0] != '#' && sscanf(line, "%lu %63s", &n, word) == 2 &&
		    !strcmp(word, name) && n > 0 && n <= UINT32_MAX) {
			*id = (uint32_t)n;
			rc = 0;
		}
	fclose(f);
	return rc;
}

/*
 * A kernel routing table as iproute2 names it: a number, or a name from rt_tables (the
 * administrator's file first, then the distribution's). Table 0 does not exist and the
 * local table (255) holds only routes to the host itself: neither can route transit traffic.
 */
int nio_parse_rt_table(const char *s, uint32_t *id)
{
	static const char *const files[] = { "/etc/iproute2/rt_tables",
					     "/usr/share/iproute2/rt_tables" };
	long long v;

	if (nio_parse_int(s, &v) == 0) {
		if (v <= 0 || v > UINT32_MAX)
			return -1;
		*id = (uint32_t)v;
	} else if (!strcmp(s, "main")) {
		*id = NIO_RT_TABLE_MAIN;
	} else if (!strcmp(s, "default")) {
		*id = 253;
	} else if (rt_tables_find(files[0], s, id) < 0 && rt_tables_find(files[1], s, id) < 0) {
		return -1;
	}
	return *id == 255 ? -1 : 0;
}

/* Parse and print the human units of rates, sizes and times ("10mbit", "64k", "5ms"). */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "qos.h"

struct unit {
	const char *suffix;
	uint64_t mul; /* value in base units of one suffix */
};

/* tc's conventions: rates in SI multiples of bits unless "bps" (bytes); sizes in binary
 * multiples of bytes. */
static const struct unit rate_units[] = {
	{ "", 1 },
	{ "bit", 1 },
	{ "kbit", 1000 },
	{ "mbit", 1000000 },
	{ "gbit", 1000000000 },
	{ "tbit", 1000000000000 },
	{ "kibit", 1024 },
	{ "mibit", 1048576 },
	{ "gibit", 1073741824 },
	{ "bps", 8 },
	{ "kbps", 8000 },
	{ "mbps", 8000000 },
	{ "gbps", 8000000000 },
	{ NULL, 0 },
};

static const struct unit size_units[] = {
	{ "", 1 },	  { "b", 1 },	      { "k", 1024 },	   { "kb", 1024 },
	{ "m", 1048576 }, { "mb", 1048576 },  { "g", 1073741824 }, { "gb", 1073741824 },
	{ "kbit", 128 },  { "mbit", 131072 }, { NULL, 0 },
};

static const struct unit bare_units[] = { { "", 1 }, { NULL, 0 } };

static const struct unit time_units[] = {
	{ "ns", 1 },	     { "nsec", 1 },	    { "us", 1000 },
	{ "usec", 1000 },    { "ms", 1000000 },	    { "msec", 1000000 },
	{ "s", 1000000000 }, { "sec", 1000000000 }, { NULL, 0 },
};

#define FRAC_DIGITS 9
#define FRAC_ONE    1000000000ull

/* "12.5" -> 12500000000 (value * 1e9); stops at the first character of the suffix. */
static int parse_fixed(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t ip = 0, frac = 0, place = FRAC_ONE;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++)
		if (__builtin_mul_overflow(ip, 10, &ip) ||
		    __builtin_add_overflow(ip, *s - '0', &ip))
			return -1;
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return -1;
		for (; isdigit((unsigned char)*s); s++) {
			if (place == 1)
				return -1; /* more than nanounit precision */
			place /= 10;
			frac += (uint64_t)(*s - '0') * place;
		}
	}
	if (__builtin_mul_overflow(ip, FRAC_ONE, out) || __builtin_add_overflow(*out, frac, out))
		return -1;
	*sp = s;
	return 0;
}

/* value * mul / 1e9 without overflowing the intermediate product; must come out whole. */
static int scale(uint64_t fixed, uint64_t mul, uint64_t *out)
{
	unsigned __int128 v = (unsigned __int128)fixed * mul;

	if (v % FRAC_ONE || v / FRAC_ONE > UINT64_MAX)
		return -1;
	*out = (uint64_t)(v / FRAC_ONE);
	return 0;
}

static int parse_unit(const char *s, const struct unit *units, uint64_t *out)
{
	uint64_t fixed;

	while (isspace((unsigned char)*s))
		s++;
	if (parse_fixed(&s, &fixed) < 0)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	for (const struct unit *u = units; u->suffix; u++)
		if (strcasecmp(s, u->suffix) == 0)
			return scale(fixed, u->mul, out);
	return -1;
}

int qos_parse_rate(const char *s, uint64_t *bps)
{
	return parse_unit(s, rate_units, bps) < 0 || *bps > QOS_RATE_MAX ? -1 : 0;
}

int qos_parse_size(const char *s, uint64_t *bytes)
{
	return parse_unit(s, size_units, bytes);
}

/* A bare number is accepted only for zero: tc reads it as microseconds, people as seconds. */
int qos_parse_time(const char *s, uint64_t *ns)
{
	if (parse_unit(s, time_units, ns) == 0)
		return 0;
	if (parse_unit(s, bare_units, ns) == 0 && *ns == 0)
		return 0;
	return -1;
}

void qos_format_rate(uint64_t bps, char *buf, size_t len)
{
	static const struct unit shown[] = {
		{ "gbit", 1000000000 }, { "mbit", 1000000 }, { "kbit", 1000 }, { "bit", 1 }
	};
	size_t i = 0;

	while (i < 3 && bps < shown[i].mul)
		i++;
	if (bps % shown[i].mul == 0)
		snprintf(buf, len, "%llu%s", (unsigned long long)(bps / shown[i].mul),
			 shown[i].suffix);
	else
		snprintf(buf, len, "%llu.%03llu%s", (unsigned long long)(bps / shown[i].mul),
			 (unsigned long long)(bps % shown[i].mul * 1000 / shown[i].mul),
			 shown[i].suffix);
}

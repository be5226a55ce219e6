/* libFuzzer target: the qos plugin's parsers for rates, sizes, times, DSCPs, ports, prefixes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/qos/qos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A value that parses must print as text that parses again. */
static void rate_round_trip(const char *s)
{
	uint64_t bps, again;
	char buf[64];

	if (qos_parse_rate(s, &bps) < 0)
		return;
	if (bps > QOS_RATE_MAX)
		abort();
	qos_format_rate(bps, buf, sizeof(buf));
	if (qos_parse_rate(buf, &again) < 0 || again > bps)
		abort();
}

static void parse_all(const char *s)
{
	uint64_t v;
	uint16_t lo, hi;
	struct qos_prefix p;
	int d = qos_dscp_parse(s);

	rate_round_trip(s);
	(void)qos_parse_size(s, &v);
	(void)qos_parse_time(s, &v);
	if (d > 63 || qos_proto_parse(s) > 255 || qos_action_parse(s) > 63)
		abort();
	if (d >= 0)
		(void)qos_dscp_color((uint8_t)d);
	if (qos_port_range_parse(s, &lo, &hi) == 0 && lo > hi)
		abort();
	if (qos_prefix_parse(s, &p) == 0 && p.len > 128)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	parse_all(s);
	free(s);
	return 0;
}

/* Fuzz the config loader (libConfuse grammar + netiod's validation) with arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../netiod/netiod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void nio_worker_pkt_free(struct nio_pkt *p)
{
	(void)p;
}

struct nio_pkt *nio_worker_pkt_alloc(void)
{
	return NULL;
}

int nio_worker_icmp_src(const struct nio_pkt *p, uint8_t family, uint8_t *out)
{
	(void)p;
	(void)family;
	(void)out;
	return -1;
}

int nio_worker_icmp_too_big(struct nio_pkt *p, uint32_t mtu)
{
	(void)p;
	(void)mtu;
	return -1;
}

void nio_port_put(struct nio_port *p)
{
	free(p);
}

void nio_capture_release(struct nio_pipeline *pl)
{
	(void)pl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct netiod d;
	char err[512], *text;
	struct nio_config *c;

	if (size > 16384)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	c = nio_config_load(&d, NULL, text, err, sizeof(err));
	if (!c && !err[0])
		__builtin_trap(); /* every failure must explain itself */
	nio_config_free(c);
	free(text);
	return 0;
}

/* What config.c and service.c call into the worker and port layers, for tests and fuzz targets
 * that load configurations without running a worker: no packet ever reaches these. */
#include <stdint.h>
#include <stdlib.h>

#include "../../netiod/netiod.h"

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

struct nio_port *nio_port_reusable(const struct nio_config *old, const struct nio_port *p)
{
	(void)old;
	(void)p;
	return NULL;
}

void nio_capture_release(struct nio_pipeline *pl)
{
	(void)pl;
}

/* What config.c and service.c call into the worker and port layers, for tests and fuzz targets
 * that load configurations without running a worker: no packet ever reaches these. */
#include <stdint.h>
#include <stdio.h>
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

enum nio_poll nio_worker_poll(void)
{
	return NIO_POLL_SLEEP;
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

/* Isolated instances need the daemon (its spawner and workers): refused here. */
void *nio_iso_create(struct netiod *d, struct nio_config *c, struct nio_pipeline *pl,
		     struct nio_svc_inst *si, char *err, size_t errlen)
{
	(void)d;
	(void)c;
	(void)pl;
	(void)si;
	snprintf(err, errlen, "isolate: no spawner in this program");
	return NULL;
}

void nio_iso_destroy(struct nio_iso *iso)
{
	(void)iso;
}

const uint64_t *nio_iso_counters(struct nio_iso *iso)
{
	(void)iso;
	return NULL;
}

int nio_iso_save(struct nio_iso *iso, void **blob, size_t *len)
{
	(void)iso;
	(void)blob;
	(void)len;
	return -1;
}

int nio_iso_restore(struct nio_iso *iso, const void *blob, size_t len)
{
	(void)iso;
	(void)blob;
	(void)len;
	return -1;
}

char *nio_iso_show(struct nio_iso *iso)
{
	(void)iso;
	return NULL;
}

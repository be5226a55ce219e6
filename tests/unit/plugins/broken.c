/* Plugins that break the ABI contract in one way each (built once per BROKEN_* define). */
#include <stdio.h>

#include <netio/service.h>

static void *init(const struct nio_host *h, const struct nio_conf *c, char *err, size_t len)
{
#ifdef BROKEN_fail_init
	snprintf(err, len, "refusing to start: %s", h->conf_str(c, "why"));
	return NULL;
#else
	return (void *)1;
#endif
}

static const struct nio_opt options[] = {
	{ .name = "why", .type = NIO_OPT_STR, .def = "no reason" },
	{ .name = NULL },
};

static void fini(void *inst)
{
}

static __attribute__((unused)) void process(void *inst, struct nio_pkt **pkts, uint16_t n,
					    uint8_t *v)
{
}

#ifdef BROKEN_no_symbol
#define SYMBOL svc_descriptor /* not the "<name>_service" the loader looks for */
#else
#define SYMBOL svc_service
#endif

const struct nio_service SYMBOL = {
#ifdef BROKEN_bad_abi
	.abi_version = NIO_SERVICE_ABI_VERSION + 41,
#else
	.abi_version = NIO_SERVICE_ABI_VERSION,
#endif
#ifdef BROKEN_bad_size
	.size = sizeof(struct nio_service) - 8,
#else
	.size = sizeof(struct nio_service),
#endif
#ifdef BROKEN_wrong_name
	.name = "other",
#else
	.name = "svc",
#endif
	.options = options,
	.init = init,
	.fini = fini,
#ifndef BROKEN_no_process
	.process = process,
#endif
};

/* A bench service that does nothing: every packet passes untouched (its frame and metadata are
 * not read). membench runs it in-process and isolated, so that the difference is the crossing
 * itself, without a plugin's own work or its touching the frames. */
#include <stdlib.h>

#include <netio/service.h>

static const struct nio_opt nop_opts[] = { { 0 } };

static void *nop_init(const struct nio_host *h, const struct nio_conf *c, char *err, size_t errlen)
{
	(void)h;
	(void)c;
	(void)err;
	(void)errlen;
	return calloc(1, 1);
}

static void nop_fini(void *inst)
{
	free(inst);
}

/* The verdicts come preset to NIO_V_PASS. */
static void nop_process(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts)
{
	(void)inst;
	(void)pkts;
	(void)n;
	(void)verdicts;
}

const struct nio_service nop_service = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "nop",
	.version = "1",
	.description = "bench service: passes every packet untouched",
	.options = nop_opts,
	.init = nop_init,
	.fini = nop_fini,
	.process = nop_process,
};

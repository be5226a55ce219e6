/* Fuzz the frame parser, classifier and forwarding guard with arbitrary bytes as a received frame. */
#include <stdint.h>
#include <string.h>

#include "../../netiod/netiod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[NIO_PKT_BUF_SIZE];
	static struct nio_config cfg;
	static struct nio_port port = { .has_v4 = true };
	struct nio_pkt p = { .buf = buf, .buf_size = sizeof(buf), .data = buf + NIO_PKT_HEADROOM };
	int r;

	if (size > NIO_PKT_MAX_FRAME)
		return 0;
	if (!cfg.npipelines) {
		cfg.npipelines = 1;
		cfg.pipelines[0].match.in_port = -1;
		cfg.pipelines[0].match.dport_lo = 53;
		cfg.pipelines[0].match.dport_hi = 53;
		cfg.pipelines[0].match.sport_hi = 65535;
		nio_prefix_parse("198.51.100.0/24", &cfg.pipelines[0].match.dst[0]);
		cfg.pipelines[0].match.ndst = 1;
		memcpy(&port.addr4, (const uint8_t[]){ 192, 0, 2, 1 }, 4);
		nio_bcast4_add(&port, &port.addr4, 24);
		cfg.nports = 1;
		cfg.ports[0] = &port;
	}
	/* a fresh copy so reads past the frame land outside it and ASan sees them */
	memcpy(p.data, data, size);
	p.len = (uint32_t)size;
	r = nio_parse(&p);
	if (r == 0) {
		/* parsed offsets must stay inside the (possibly trimmed) frame */
		if (p.l3_off > p.len || p.l4_off > p.len || p.len > size)
			__builtin_trap();
		(void)nio_classify(&cfg, &p.key);
		(void)nio_flow_hash(&p.key);
		(void)nio_guard_forward(&cfg, &p);
		(void)nio_guard_icmp(&cfg, &p, size & 1);
	}
	return 0;
}

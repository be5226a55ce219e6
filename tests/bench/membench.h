/* membench: the generator/sink ports shared by the in-memory bench's driver and its port file. */
#ifndef MEMBENCH_H
#define MEMBENCH_H

#include <stdatomic.h>
#include <stdint.h>

#include "../../netiod/netiod.h"

#define MB_MIX_MAX     12
#define MB_CHUNK_PKTS  4096 /* a run's figure is the median over chunks of this many packets */
#define MB_CHUNKS_MAX  512
#define MB_PACKETS_MAX (MB_CHUNK_PKTS * MB_CHUNKS_MAX)
#define MB_WINDOW      512 /* packets in flight at most (an isolated service's, NIO_ISO_REQ) */

enum mb_mode {
	MB_PIPE,  /* generated bursts go through the worker's parse, flow lookup and pipeline */
	MB_TOUCH, /* reference: TTL decrement + checksum update on each frame, then freed */
};

/* Frame lengths without FCS, cycled per packet: "64 B" is a 60-byte buffer. */
struct mb_mix {
	const char *name;
	unsigned n;
	uint16_t len[MB_MIX_MAX];
};

/* TSC cycles summed per chunk: a preemption spoils a chunk or two, not the median. */
struct mb_acc {
	uint64_t cyc, pkts;
	unsigned n;
	double v[MB_CHUNKS_MAX]; /* cycles per packet of each full chunk */
};

/*
 * One run. The main thread writes the parameters while running is 0; the worker's rx_burst
 * reads them after it sees running == 1 (acquire) and publishes the sums with done (release).
 */
struct mb_run {
	atomic_int running;
	atomic_int done;
	enum mb_mode mode;
	const struct mb_mix *mix;
	uint64_t warm, total; /* packets: the first warm are not counted */
	uint64_t sent, sunk;
	atomic_uint_fast64_t sunk_all; /* sunk, for the main thread (answers of an isolated
					* service arrive after the last burst was sent) */
	uint64_t t_prev;	       /* TSC when rx_burst last returned */
	uint64_t sunk_prev;	       /* sunk then */
	uint16_t n_prev;	       /* its size */
	struct mb_acc pipe, copy, touch;
};

extern struct mb_run mb_run;
extern const struct nio_port_ops mb_gen_ops;  /* the input port: generator + sink */
extern const struct nio_port_ops mb_sink_ops; /* the output port: sink only */

void mb_frames_init(void);
double mb_acc_median(struct mb_acc *a);

#endif /* MEMBENCH_H */

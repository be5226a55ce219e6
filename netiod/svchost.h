/* netio-svchost: the host process of an isolated service instance (one per instance). */
#ifndef NETIO_SVCHOST_H
#define NETIO_SVCHOST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <netio/service.h>

#include "isolate.h"

/* svchost_conf.c */
struct nio_conf *svchost_conf(json_t *blk);
void svchost_conf_ops(struct nio_host *h);

/* svchost_sandbox.c */
int svchost_become(uid_t uid, gid_t gid, char *why, size_t len);
int svchost_sandbox(uid_t uid, gid_t gid, const char *state_dir, char *why, size_t len);

/* svchost_pkt.c: the host's view of the rings and its packets */
struct svchost {
	const struct nio_service *svc;
	void *inst;
	struct nio_iso_shm *shm;
	uint8_t *arena;
	struct nio_ring *req, *resp, *fill, *freer;
	struct nio_xmeta *meta; /* one slot per buffer */
	struct nio_pkt *pkts;	/* one per arena buffer, private to the host */
	uint32_t *too_big;	/* per buffer: host->icmp_too_big's mtu, 0: not asked */
	uint32_t *asked;	/* per buffer: the request's frame offset << 16 | length */
	uint32_t nbufs;
};

extern struct svchost H;

struct nio_pkt *svchost_pkt_alloc(void);
void svchost_pkt_free(struct nio_pkt *p);
int svchost_icmp_too_big(struct nio_pkt *p, uint32_t mtu);
unsigned svchost_take(struct nio_pkt **pkts, unsigned max);
void svchost_answer(struct nio_pkt *const *pkts, struct nio_pkt *const *taken,
		    const uint8_t *verdicts, unsigned n);
void svchost_release(struct nio_pkt *const *pkts, unsigned n);
unsigned svchost_room(unsigned want);
void svchost_view_init(void);
void svchost_ring(int efd);
void svchost_flush(bool idle, bool fenced);

#endif /* NETIO_SVCHOST_H */

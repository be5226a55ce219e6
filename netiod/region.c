/* Buffer regions a port driver owns (AF_XDP's UMEM, netio.ko's mapped region): packets live in
 * them in place, and a freed buffer goes back to the free list of the worker that took it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "netiod.h"

/*
 * Every buffer is in exactly one place: a worker's free list (home[i] set), or out (a driver's
 * fill or TX ring, the kernel, a packet in flight). A buffer taken from worker w's list carries
 * owner = w and only ever returns to that list, so each list is touched by its worker alone
 * and a worker's share of a region never changes: the handoff back rings (worker.c) sized for
 * pool + NIO_REGION_WORKER_BUFS can always take what another worker returns.
 */
static struct nio_region *regions[NIO_MAX_REGIONS];
static uint32_t share[NIO_MAX_WORKERS]; /* region buffers each worker owns, all regions */

static void region_free(struct nio_region *r)
{
	regions[r->id] = NULL;
	for (unsigned w = 0; w < r->nworkers; w++) {
		share[w] -= r->shares[w];
		free(r->free[w].idx);
	}
	if (r->mem)
		munmap(r->mem, r->size);
	free(r->pkts);
	free(r->home);
	free(r);
}

static int slot_new(void)
{
	for (int i = 0; i < NIO_MAX_REGIONS; i++)
		if (!regions[i])
			return i;
	return -1;
}

static void bufs_init(struct nio_region *r)
{
	for (uint32_t i = 0; i < r->nbufs; i++) {
		struct nio_pkt *p = &r->pkts[i];

		p->buf = r->mem + (size_t)i * r->buf_size;
		p->buf_size = r->buf_size;
		p->region = (uint16_t)(r->id + 1);
		p->buf_idx = i;
	}
}

/* Buffers [i * nbufs / nworkers, (i + 1) * nbufs / nworkers) start in worker i's list. */
static int lists_init(struct nio_region *r)
{
	for (unsigned w = 0; w < r->nworkers; w++) {
		uint32_t lo = (uint32_t)((uint64_t)r->nbufs * w / r->nworkers);
		uint32_t hi = (uint32_t)((uint64_t)r->nbufs * (w + 1) / r->nworkers);

		r->shares[w] = hi - lo;
		r->free[w].idx = calloc(hi - lo ? hi - lo : 1, sizeof(uint32_t));
		if (!r->free[w].idx)
			return -1;
		for (uint32_t i = lo; i < hi; i++) {
			r->pkts[i].owner = w;
			r->free[w].idx[r->free[w].n++] = i;
			r->home[i] = 1;
		}
	}
	return 0;
}

static bool shares_fit(uint32_t nbufs, unsigned nworkers)
{
	for (unsigned w = 0; w < nworkers; w++)
		if (share[w] + nbufs / nworkers + 1 > NIO_REGION_WORKER_BUFS)
			return false;
	return true;
}

/* r's memory, buffers, lists; mem NULL: anonymous memory of its own. */
static struct nio_region *region_new(const char *name, void *mem, uint32_t nbufs, uint32_t buf_size,
				     unsigned nworkers, char *err, size_t errlen)
{
	struct nio_region *r;
	int id = slot_new();

	if (id < 0)
		return nio_err(err, errlen, "region %s: more than %d regions", name,
			       NIO_MAX_REGIONS),
		       NULL;
	if (!nbufs || !nworkers || nworkers > NIO_MAX_WORKERS || buf_size < NIO_PKT_BUF_SIZE ||
	    (buf_size & (buf_size - 1)) || !shares_fit(nbufs, nworkers))
		return nio_err(err, errlen,
			       "region %s: %u buffers of %u bytes over %u workers: "
			       "not a possible geometry (at most %u buffers per worker)",
			       name, nbufs, buf_size, nworkers, NIO_REGION_WORKER_BUFS),
		       NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return nio_err(err, errlen, "region %s: out of memory", name), NULL;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->id = (uint16_t)id;
	r->nbufs = nbufs;
	r->buf_size = buf_size;
	r->nworkers = nworkers;
	r->size = (size_t)nbufs * buf_size;
	r->refs = 1;
	regions[id] = r;
	r->mem = mem ? mem
		     : mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			    0);
	if (r->mem == MAP_FAILED)
		r->mem = NULL;
	r->pkts = calloc(nbufs, sizeof(*r->pkts));
	r->home = calloc(nbufs, 1);
	if (!r->mem || !r->pkts || !r->home) {
		r->mem = mem ? NULL : r->mem; /* the caller's mapping stays the caller's */
		region_free(r);
		return nio_err(err, errlen, "region %s: %zu bytes: %s", name,
			       (size_t)nbufs * buf_size, strerror(ENOMEM)),
		       NULL;
	}
	bufs_init(r);
	if (lists_init(r) < 0) {
		r->mem = mem ? NULL : r->mem;
		region_free(r);
		return nio_err(err, errlen, "region %s: out of memory", name), NULL;
	}
	for (unsigned w = 0; w < nworkers; w++)
		share[w] += r->shares[w];
	return r;
}

/*
 * A region of nbufs buffers of buf_size bytes (a power of two: AF_XDP's aligned chunks), split
 * evenly over nworkers free lists. Control thread, before any worker can see it.
 */
struct nio_region *nio_region_create(const char *name, uint32_t nbufs, uint32_t buf_size,
				     unsigned nworkers, char *err, size_t errlen)
{
	return region_new(name, NULL, nbufs, buf_size, nworkers, err, errlen);
}

/* Take the busy buffers off the free lists: they are out (in a driver's kernel rings). Control
 * thread, before any worker uses the region or while none does. */
void nio_region_take(struct nio_region *r, const uint8_t *busy)
{
	for (unsigned w = 0; w < r->nworkers; w++) {
		struct nio_region_list *l = &r->free[w];
		uint32_t k = 0;

		for (uint32_t i = 0; i < l->n; i++) {
			if (busy[l->idx[i]])
				r->home[l->idx[i]] = 0;
			else
				l->idx[k++] = l->idx[i];
		}
		l->n = k;
	}
}

/*
 * A region over memory the caller mapped (netio.ko's buffer region: nbufs x buf_size bytes,
 * munmapped with the region), whose buffers busy[i] are out already (in the module's rings, a
 * restarted netiod's view). Control thread, before any worker can see it.
 */
struct nio_region *nio_region_adopt(const char *name, void *mem, uint32_t nbufs, uint32_t buf_size,
				    unsigned nworkers, const uint8_t *busy, char *err,
				    size_t errlen)
{
	struct nio_region *r = region_new(name, mem, nbufs, buf_size, nworkers, err, errlen);

	if (r)
		nio_region_take(r, busy);
	return r;
}

struct nio_region *nio_region_of(const struct nio_pkt *p)
{
	return p->region ? regions[p->region - 1] : NULL;
}

/* The packet of the buffer that holds byte off of the region, or NULL if off is outside it. */
struct nio_pkt *nio_region_pkt(struct nio_region *r, uint64_t off)
{
	if (off >= r->size)
		return NULL;
	return &r->pkts[off / r->buf_size];
}

/* A buffer from worker w's list, out of it from now on; data at the standard headroom. */
struct nio_pkt *nio_region_get(struct nio_region *r, unsigned w)
{
	struct nio_region_list *l = &r->free[w];
	struct nio_pkt *p;

	if (!l->n)
		return NULL;
	p = &r->pkts[l->idx[--l->n]];
	r->home[p->buf_idx] = 0;
	nio_pkt_reset(p, NIO_PKT_HEADROOM);
	return p;
}

/*
 * p back home, on its owner's list: the caller is that worker, or the control thread while the
 * workers are paused. A buffer already home (a driver bug) is counted, never listed twice.
 */
void nio_region_put(struct nio_region *r, struct nio_pkt *p)
{
	struct nio_region_list *l = &r->free[p->owner];

	if (r->home[p->buf_idx]) {
		r->double_puts++;
		return;
	}
	r->home[p->buf_idx] = 1;
	l->idx[l->n++] = p->buf_idx;
}

/* Buffers on free lists; nbufs minus this are out. Control thread, workers paused. */
uint32_t nio_region_home(const struct nio_region *r)
{
	uint32_t n = 0;

	for (unsigned w = 0; w < r->nworkers; w++)
		n += r->free[w].n;
	return n;
}

/* One more port uses r (AF_XDP ports of one netiod share their UMEM). */
struct nio_region *nio_region_ref(struct nio_region *r)
{
	r->refs++;
	return r;
}

/*
 * A port is done with r; the driver gave back every buffer its rings held. The last user frees
 * it once every buffer is home; one still held (a shaper's queue) keeps it until
 * nio_regions_collect finds it complete.
 */
void nio_region_unref(struct nio_region *r)
{
	if (--r->refs)
		return;
	if (nio_region_home(r) == r->nbufs)
		region_free(r);
	else
		log_info("region %s: %u buffers still in flight; freed when they are back", r->name,
			 r->nbufs - nio_region_home(r));
}

/* Free the unused regions whose buffers are all back (control thread, workers paused), or
 * every unused one (all): at exit, when no packet is left anywhere. */
void nio_regions_collect(bool all)
{
	for (int i = 0; i < NIO_MAX_REGIONS; i++)
		if (regions[i] && !regions[i]->refs &&
		    (all || nio_region_home(regions[i]) == regions[i]->nbufs))
			region_free(regions[i]);
}

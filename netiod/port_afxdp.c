/* AF_XDP port driver: one XSK socket per receive queue on a UMEM that is a buffer region shared
 * by every afxdp port, so frames are processed in place and a forward is a descriptor move. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/if_xdp.h>

#include <xdp/xsk.h>

#include "netiod.h"

/*
 * Geometry: 4 KiB frames (AF_XDP's aligned chunks; the kernel puts a received frame 256 bytes
 * in, NIO_PKT_HEADROOM) and AFX_BUFS buffers (48 MiB) per worker in the shared UMEM. A worker
 * kept off its CPU loses nothing while its fill ring holds buffers and its RX ring has room:
 * AFX_RX entries each (4096 frames: 12 ms at 0.35 Mpps). The buffers of two ports' full fill
 * rings leave AFX_BUFS - 2 * AFX_RX in flight: the TX rings, and frames a TX completes only
 * when the receiving stack frees them (veth: its backlog, which a busy CPU leaves to
 * ksoftirqd). With a share of 8192 those held the fill ring below half under load: it ran
 * empty while the RX ring was far from full.
 */
#define AFX_FRAME 4096u
#define AFX_RX	  4096u /* RX and fill rings */
#define AFX_TX	  2048u /* TX and completion rings */
#define AFX_BUFS  12288u
#define AFX_BATCH 64u

_Static_assert(XDP_PACKET_HEADROOM == NIO_PKT_HEADROOM, "frames land at the standard headroom");

/*
 * One socket. fq/rx are used by the worker polling the queue; tx/cq by whoever sends on it
 * (under the port's tx_lock when shared). held[i]: buffer i of the region was put in one of
 * this socket's rings and has not come back out; closing returns exactly those home.
 */
struct afx_queue {
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons rx, cq;
	uint8_t *held;
	bool tx_kick; /* descriptors submitted since the last sendto */
	bool zerocopy;
	bool busy_poll;	       /* the socket's busy-poll options are on (poll = "napi") */
	bool busy_poll_failed; /* the last change was refused (logged): not tried again */
	uint64_t dropped_seen; /* the socket's ring drops at the last ring_stats */
};

struct afx_port {
	struct nio_xdp xdp;
	unsigned nq;
	struct afx_queue q[];
};

/* The UMEM every afxdp port of this netiod shares: its memory is a buffer region. */
static struct {
	struct nio_region *region;
	struct xsk_umem *umem;
	struct xsk_ring_prod fq; /* the first socket's rings, handed over by libxdp */
	struct xsk_ring_cons cq;
	unsigned users;
	/* libxdp binds the UMEM's own fd as the first socket, and it stays bound until the UMEM
	 * goes: when its port closes while others share the UMEM, the socket is parked here
	 * (ifindex, queue) and a port opened on that queue again takes it back */
	struct afx_queue parked;
	int parked_ifindex;
	unsigned parked_q;
} shared;

static struct afx_queue *queue(struct nio_port *port)
{
	struct afx_port *ap = port->priv;

	return &ap->q[nio_worker_self() < ap->nq ? nio_worker_self() : 0];
}

/* ---------------------------------------------------------------- buffers */

static uint64_t addr_of(const struct nio_pkt *p)
{
	return (uint64_t)(p->data - shared.region->mem);
}

/* Completed TX buffers go home (over a back ring if another worker owns them). */
static void cq_reap(struct afx_queue *a)
{
	uint32_t idx, n = xsk_ring_cons__peek(&a->cq, AFX_TX, &idx);

	for (uint32_t i = 0; i < n; i++) {
		struct nio_pkt *p =
			nio_region_pkt(shared.region, *xsk_ring_cons__comp_addr(&a->cq, idx + i));

		if (!p)
			continue;
		a->held[p->buf_idx] = 0;
		nio_worker_pkt_free(p);
	}
	if (n)
		xsk_ring_cons__release(&a->cq, n);
}

/* Keep the fill ring stocked from the calling worker's free list of the region. */
static void fq_refill(struct afx_queue *a)
{
	struct nio_region_list *l = &shared.region->free[nio_worker_self()];
	uint32_t idx, want = xsk_prod_nb_free(&a->fq, AFX_BATCH), got;

	if (want < AFX_BATCH)
		return;
	want = want < l->n ? want : l->n;
	if (!want || (got = xsk_ring_prod__reserve(&a->fq, want, &idx)) == 0)
		return;
	for (uint32_t i = 0; i < got; i++) {
		struct nio_pkt *p = nio_region_get(shared.region, nio_worker_self());

		a->held[p->buf_idx] = 1;
		*xsk_ring_prod__fill_addr(&a->fq, idx + i) =
			(uint64_t)(p->buf - shared.region->mem);
	}
	xsk_ring_prod__submit(&a->fq, got);
}

/* ---------------------------------------------------------------- RX */

static bool rx_bad(struct nio_port *port, const struct xdp_desc *d, struct nio_pkt *p)
{
	if (!p || (d->addr & (AFX_FRAME - 1)) + d->len > AFX_FRAME) {
		nio_port_stats(port)->drops[NIO_DROP_OVERSIZE]++;
		return true;
	}
	if (d->len < 14) {
		nio_port_stats(port)->drops[NIO_DROP_TRUNC_L2]++;
		return true;
	}
	return false;
}

/*
 * poll = "napi" (set by the worker, whose queue this is, when it sees a configuration ask for
 * it): the socket's recvfrom and sendto run the device's NAPI for its queue (SO_BUSY_POLL; the
 * worker never blocks in them, so the value only has to be non-zero), and with
 * SO_PREFER_BUSY_POLL a device whose interrupts are deferred (napi_defer_hard_irqs,
 * gro_flush_timeout) leaves its receive to them: no interrupt, no softirq, no wake-up. Turning
 * it on needs CAP_NET_ADMIN, which the port's driver keeps.
 */
static void busy_poll_set(struct afx_queue *a, bool on)
{
	int fd = xsk_socket__fd(a->xsk), v = on, us = on ? 20 : 0, budget = AFX_BATCH;

	if (setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &v, sizeof(v)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us)) < 0 ||
	    (on && setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)) < 0)) {
		if (!a->busy_poll_failed)
			log_warn("AF_XDP socket busy-poll %s", on ? "on" : "off");
		a->busy_poll_failed = true;
		return;
	}
	a->busy_poll = on;
}

/* Frames come in place: the packet is the RX buffer, nothing is copied. */
static uint16_t afx_rx_burst(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
			     uint16_t max)
{
	struct afx_queue *a = queue(port);
	bool napi = nio_worker_poll() == NIO_POLL_NAPI;
	uint32_t idx, n;
	uint64_t now = 0;
	uint16_t k = 0;

	(void)pool;
	if (napi != a->busy_poll && !a->busy_poll_failed)
		busy_poll_set(a, napi);
	fq_refill(a);
	/* busy-poll: the device's receive runs in this call, on the worker's CPU */
	if (a->busy_poll || xsk_ring_prod__needs_wakeup(&a->fq))
		(void)recvfrom(xsk_socket__fd(a->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
	n = xsk_ring_cons__peek(&a->rx, max, &idx);
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&a->rx, idx + i);
		struct nio_pkt *p = nio_region_pkt(shared.region, d->addr);

		if (p)
			a->held[p->buf_idx] = 0;
		if (rx_bad(port, d, p)) {
			if (p)
				nio_worker_pkt_free(p);
			continue;
		}
		p->data = shared.region->mem + d->addr;
		p->len = d->len;
		p->in_port = port->id;
		now = now ? now : nio_now_ns();
		p->ts_ns = now;
		nio_port_stats(port)->rx_packets++;
		nio_port_stats(port)->rx_bytes += p->len;
		pkts[k++] = p;
	}
	if (n)
		xsk_ring_cons__release(&a->rx, n);
	return k;
}

/* ---------------------------------------------------------------- TX */

/* The buffer for p: its own when it is in the UMEM (moved: the caller must not free it), else
 * a copy into a fresh one (tx_sendable counted it). */
static struct nio_pkt *tx_buf(struct nio_port *port, struct nio_pkt *p)
{
	struct nio_pkt *b;

	if (nio_region_of(p) == shared.region)
		return p;
	b = nio_region_get(shared.region, nio_worker_self());
	memcpy(b->data, p->data, p->len);
	b->len = p->len;
	nio_port_stats(port)->tx_copies++;
	return b;
}

/* How many of pkts can be given a UMEM buffer: those in it, and copies while the worker has
 * free buffers. */
static uint16_t tx_sendable(struct nio_pkt **pkts, uint16_t n)
{
	uint32_t spare = shared.region->free[nio_worker_self()].n;
	uint16_t i;

	for (i = 0; i < n; i++)
		if (nio_region_of(pkts[i]) != shared.region && !spare--)
			break;
	return i;
}

static uint16_t afx_tx_burst(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	struct afx_queue *a = queue(port);
	uint32_t idx, room;
	uint16_t i;

	cq_reap(a);
	room = xsk_ring_prod__reserve(&a->tx, tx_sendable(pkts, n), &idx);
	for (i = 0; i < room; i++) {
		struct nio_pkt *b = tx_buf(port, pkts[i]);
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&a->tx, idx + i);

		d->addr = addr_of(b);
		d->len = b->len;
		d->options = 0;
		a->held[b->buf_idx] = 1;
		nio_port_stats(port)->tx_packets++;
		nio_port_stats(port)->tx_bytes += b->len;
		if (b == pkts[i])
			pkts[i] = NULL; /* the buffer is the TX ring's until completion */
	}
	if (i) {
		xsk_ring_prod__submit(&a->tx, i);
		a->tx_kick = true;
	}
	nio_port_stats(port)->drops[NIO_DROP_TX_FULL] += n - i;
	return i;
}

/* Descriptors in the TX ring the kernel has not taken yet. */
static uint32_t tx_pending(const struct afx_queue *a)
{
	/* acquire: pairs with the kernel's release of the consumer index once it read them */
	return a->tx.cached_prod - __atomic_load_n(a->tx.consumer, __ATOMIC_ACQUIRE);
}

/*
 * need_wakeup: the kernel asks for a kick only when its TX processing has stopped (always, in
 * copy mode). A copy-mode kick sends at most 32 frames (the kernel's TX_BATCH_SIZE), so kick
 * until the ring is empty, bounded by the ring's size: a frame left there would wait for the
 * next one sent, however long that takes.
 */
static void afx_flush(struct nio_port *port)
{
	struct afx_queue *a = queue(port);

	for (unsigned i = 0; a->tx_kick && i < AFX_TX / 32 + 1; i++) {
		if (!tx_pending(a) || !xsk_ring_prod__needs_wakeup(&a->tx))
			break;
		if (sendto(xsk_socket__fd(a->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN)
			break; /* ENOBUFS, ENETDOWN: the next turn tries again */
	}
	a->tx_kick = tx_pending(a) != 0;
	cq_reap(a);
}

/* ---------------------------------------------------------------- kernel drops */

static int xsk_stats(const struct afx_queue *a, struct xdp_statistics *st)
{
	socklen_t len = sizeof(*st);

	memset(st, 0, sizeof(*st));
	return getsockopt(xsk_socket__fd(a->xsk), SOL_XDP, XDP_STATISTICS, st, &len);
}

/* Worker, about once a second: the frames the kernel dropped on its queue's socket since the
 * last look because netiod was behind (RX ring full, fill ring empty), as rx-ring-full. The
 * socket's totals run from its bind, and travel with it when it is parked or taken over. */
static void afx_ring_stats(struct nio_port *port, struct nio_ring_stats *out)
{
	struct afx_queue *a = queue(port);
	struct xdp_statistics st;
	uint64_t now;

	if (!a->xsk || xsk_stats(a, &st) < 0)
		return;
	now = st.rx_ring_full + st.rx_fill_ring_empty_descs;
	out->rx_full += now - a->dropped_seen;
	a->dropped_seen = now;
}

/* ---------------------------------------------------------------- open / close */

static int umem_get(unsigned nworkers, char *err, size_t errlen)
{
	struct xsk_umem_config cfg = {
		.fill_size = AFX_RX,
		.comp_size = AFX_TX,
		.frame_size = AFX_FRAME,
		.frame_headroom = 0,
	};
	int rc;

	if (shared.users++)
		return 0;
	shared.region =
		nio_region_create("afxdp", AFX_BUFS * nworkers, AFX_FRAME, nworkers, err, errlen);
	if (!shared.region) {
		shared.users = 0;
		return -1;
	}
	rc = xsk_umem__create(&shared.umem, shared.region->mem, shared.region->size, &shared.fq,
			      &shared.cq, &cfg);
	if (rc < 0) {
		nio_err(err, errlen, "AF_XDP UMEM of %zu bytes: %s", shared.region->size,
			strerror(-rc));
		nio_region_unref(shared.region);
		shared.region = NULL;
		shared.users = 0;
		return -1;
	}
	return 0;
}

static void queue_close(const char *name, unsigned q, struct afx_queue *a);

static void umem_put(void)
{
	if (--shared.users)
		return;
	if (shared.parked.xsk)
		queue_close("(parked)", shared.parked_q, &shared.parked);
	xsk_umem__delete(shared.umem);
	shared.umem = NULL;
	nio_region_unref(shared.region);
	shared.region = NULL;
}

/* What the kernel could not put in the socket's rings, which netiod's counters cannot see. */
static void log_totals(const char *name, unsigned q, const struct afx_queue *a)
{
	struct xdp_statistics st;

	if (xsk_stats(a, &st) < 0)
		return;
	if (st.rx_dropped || st.rx_ring_full || st.rx_fill_ring_empty_descs ||
	    st.rx_invalid_descs || st.tx_invalid_descs)
		log_info(
			"port %s queue %u: the kernel dropped %llu frames (RX ring full %llu, fill "
			"ring empty %llu), invalid descriptors RX %llu TX %llu",
			name, q, (unsigned long long)st.rx_dropped,
			(unsigned long long)st.rx_ring_full,
			(unsigned long long)st.rx_fill_ring_empty_descs,
			(unsigned long long)st.rx_invalid_descs,
			(unsigned long long)st.tx_invalid_descs);
}

/* Every buffer this socket's rings held goes home: the socket is closed, the kernel let go. */
static void queue_close(const char *name, unsigned q, struct afx_queue *a)
{
	if (a->xsk) {
		log_totals(name, q, a);
		xsk_socket__delete(a->xsk);
	}
	a->xsk = NULL;
	for (uint32_t i = 0; a->held && i < shared.region->nbufs; i++)
		if (a->held[i])
			nio_region_put(shared.region, &shared.region->pkts[i]);
	free(a->held);
	a->held = NULL;
}

/* The UMEM's own socket cannot be closed while other ports share the UMEM: keep it. */
static bool park(const struct nio_port *port, unsigned q, struct afx_queue *a)
{
	if (!a->xsk || shared.users < 2 || xsk_socket__fd(a->xsk) != xsk_umem__fd(shared.umem))
		return false;
	shared.parked = *a;
	shared.parked_ifindex = port->ifindex;
	shared.parked_q = q;
	a->xsk = NULL;
	a->held = NULL;
	return true;
}

/* The parked socket, if it is bound to this device and queue. */
static bool unpark(const struct nio_port *port, unsigned q, struct afx_queue *a)
{
	if (!shared.parked.xsk || shared.parked_ifindex != port->ifindex || shared.parked_q != q)
		return false;
	*a = shared.parked;
	memset(&shared.parked, 0, sizeof(shared.parked));
	return true;
}

static void afx_close(struct nio_port *port)
{
	struct afx_port *ap = port->priv;

	if (!ap)
		return;
	for (unsigned i = 0; i < ap->nq; i++) {
		if (park(port, i, &ap->q[i]))
			continue;
		queue_close(port->name, i, &ap->q[i]);
	}
	nio_xdp_detach(&ap->xdp);
	umem_put();
	free(ap);
	port->priv = NULL;
}

/* The socket of receive queue i, zero-copy if the driver can, else copy mode. */
static int queue_open(struct nio_port *port, struct afx_port *ap, unsigned i, char *err,
		      size_t errlen)
{
	struct afx_queue *a = &ap->q[i];
	struct xsk_socket_config cfg = {
		.rx_size = AFX_RX,
		.tx_size = AFX_TX,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xdp_options opts = { 0 };
	socklen_t len = sizeof(opts);
	int rc;

	if (unpark(port, i, a))
		return nio_xdp_set_xsk(&ap->xdp, i, xsk_socket__fd(a->xsk)) < 0
			       ? nio_err(err, errlen, "XSK map, queue %u: %s", i, strerror(errno))
			       : 0;
	a->held = calloc(shared.region->nbufs, 1);
	if (!a->held)
		return nio_err(err, errlen, "out of memory");
	rc = xsk_socket__create_shared(&a->xsk, port->device, i, shared.umem, &a->rx, &a->tx,
				       &a->fq, &a->cq, &cfg);
	if (rc < 0) {
		a->xsk = NULL;
		return nio_err(err, errlen, "AF_XDP socket on queue %u: %s", i, strerror(-rc));
	}
	if (getsockopt(xsk_socket__fd(a->xsk), SOL_XDP, XDP_OPTIONS, &opts, &len) == 0)
		a->zerocopy = opts.flags & XDP_OPTIONS_ZEROCOPY;
	if (nio_xdp_set_xsk(&ap->xdp, i, xsk_socket__fd(a->xsk)) < 0)
		return nio_err(err, errlen, "XSK map, queue %u: %s", i, strerror(errno));
	return 0;
}

/* The device's receive queues (sysfs), each needing a socket: a frame on a queue without one
 * would meet the fail-mode. */
static unsigned rx_queues(const char *dev)
{
	char path[64 + IFNAMSIZ];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", dev);
	if (!(d = opendir(path)))
		return 1;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "rx-", 3);
	closedir(d);
	return n ? n : 1;
}

static int queues_fit(struct nio_port *port, unsigned nworkers, char *err, size_t errlen)
{
	unsigned n = rx_queues(port->device);

	if (n == 1 || n == nworkers) {
		port->nqueues = n;
		return 0;
	}
	return nio_err(err, errlen,
		       "%u receive queues for %u workers: make them equal (workers = %u, or "
		       "ethtool -L %s combined %u) or use one queue",
		       n, nworkers, n, port->device, nworkers);
}

static int afx_open(struct nio_port *port, char *err, size_t errlen)
{
	unsigned nworkers = port->nqueues ? port->nqueues : 1;
	struct afx_port *ap;
	int taken;

	port->ifindex = (int)if_nametoindex(port->device);
	if (!port->ifindex)
		return nio_err(err, errlen, "%s: no such device", port->device);
	if (nio_dev_info(port, err, errlen) < 0 || queues_fit(port, nworkers, err, errlen) < 0)
		return -1;
	nio_dev_addrs(port);
	ap = calloc(1, sizeof(*ap) + port->nqueues * sizeof(ap->q[0]));
	if (!ap)
		return nio_err(err, errlen, "out of memory");
	ap->nq = port->nqueues;
	port->priv = ap;
	if (umem_get(nworkers, err, errlen) < 0) {
		free(ap);
		port->priv = NULL;
		return -1;
	}
	taken = nio_xdp_attach(&ap->xdp, port, err, errlen);
	if (taken < 0)
		goto err;
	for (unsigned i = 0; i < ap->nq; i++)
		if (queue_open(port, ap, i, err, errlen) < 0)
			goto err;
	log_info("port %s: AF_XDP on %s, %u queue(s), %s mode%s", port->name, port->device, ap->nq,
		 ap->q[0].zerocopy ? "zero-copy" : "copy",
		 taken ? ", XDP program and claims taken over from the previous netiod" : "");
	return 0;
err:
	afx_close(port);
	return -1;
}

static int afx_fd(struct nio_port *port)
{
	return xsk_socket__fd(queue(port)->xsk);
}

/* driver = "auto" may pick afxdp: the kernel has AF_XDP sockets and the program is there. */
static bool afx_probe(char *why, size_t len)
{
	char path[4096];
	int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(why, len, "no AF_XDP sockets: %s", strerror(errno));
		return false;
	}
	close(fd);
	if (nio_xdp_obj_path(path, sizeof(path)) < 0) {
		snprintf(why, len, "no XDP program at %s", path);
		return false;
	}
	snprintf(why, len, "AF_XDP sockets and the XDP program are available");
	return true;
}

/* Zero-copy when every socket of the port is. */
bool nio_afxdp_zerocopy(const struct nio_port *port)
{
	const struct afx_port *ap = port->priv;

	for (unsigned i = 0; ap && i < ap->nq; i++)
		if (!ap->q[i].zerocopy)
			return false;
	return ap != NULL;
}

/* The XDP program's counters (enum nio_xdp_stat order), kept across netiod restarts. */
void nio_afxdp_xdp_stats(const struct nio_port *port, uint64_t *out)
{
	const struct afx_port *ap = port->priv;

	nio_xdp_stats(&ap->xdp, out);
}

static int afx_set_claims(struct nio_port *port, const struct nio_claim *claims, unsigned n,
			  char *err, size_t errlen)
{
	struct afx_port *ap = port->priv;

	return nio_xdp_set_claims(&ap->xdp, port, claims, n, err, errlen);
}

const struct nio_port_ops nio_port_afxdp_ops = {
	.name = "afxdp",
	.flags = NIO_DRV_F_EXCLUSIVE,
	.probe = afx_probe,
	.check_claims = nio_xdp_check_claims,
	.set_claims = afx_set_claims,
	.open = afx_open,
	.close = afx_close,
	.rx_burst = afx_rx_burst,
	.tx_burst = afx_tx_burst,
	.flush = afx_flush,
	.fd = afx_fd,
	.ring_stats = afx_ring_stats,
	/* AF_XDP sockets, attaching the XDP program and its maps (a port added by reload, or
	 * netiod started unprivileged); CAP_PERFMON: without it the verifier refuses the
	 * program's variable packet offsets ("pointer arithmetic ... prohibited for !root") */
	.caps = NIO_CAP(CAP_NET_RAW) | NIO_CAP(CAP_NET_ADMIN) | NIO_CAP(CAP_BPF) |
		NIO_CAP(CAP_PERFMON),
};

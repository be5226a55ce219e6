/* netio.ko port driver: a binding over generic netlink, its rings mapped from /dev/netio. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <netio/ring.h>
#include <netio/uapi.h>
#include <linux/capability.h>

#include "netiod.h"

/*
 * The binding is named after the port, so a restarted netiod finds the rings it left behind
 * and continues from their indices; packets queued meanwhile are not lost. Buffers are as big
 * as a pool packet, so every frame a pipeline sends fits a TX buffer.
 */
#define KMOD_BUF_SIZE	4096u /* a power of two, as the region layer wants (region.c) */
#define KMOD_NBUFS	8192u /* of a new region, shared by every kmod port (32 MiB) */
#define KMOD_FILL_KEEP	256u  /* a worker's free buffers the fill ring leaves for TX copies */
#define KMOD_CLAIM_BITS 6     /* claim id = pipeline id << 6 | index within the pipeline */

_Static_assert(KMOD_BUF_SIZE % 64 == 0, "the module wants buffers in multiples of 64");
_Static_assert(NIO_MAX_WORKERS <= NETIO_QUEUES_MAX, "a netio.ko queue per worker");
_Static_assert(NIO_MAX_PIPELINES << KMOD_CLAIM_BITS <= 65536, "claim ids are 16 bits");

_Static_assert(sizeof(struct nio_kmod_opts) <= NIO_PORT_OPTS_SIZE,
	       "port->opts holds the kmod options");

static const struct nio_kmod_opts *opts_of(const struct nio_port *port)
{
	return (const struct nio_kmod_opts *)(const void *)port->opts;
}

/*
 * A netio.ko buffer region as netiod's region layer (region.c) sees it: packets are processed
 * in place in it and a forward between two kmod ports on it is a descriptor move. The first
 * kmod port's binding creates it, the others bind with NETIO_A_REGION_OF; a restarted netiod
 * finds each binding's region by its id. Control thread only.
 */
struct kregion {
	uint32_t kid;	  /* the module's region id */
	uint32_t bind_id; /* a binding that uses it, for NETIO_A_REGION_OF */
	unsigned users;	  /* kmod ports on it; workers read it (fill_top), atomically */
	struct nio_region *r;
};

static struct kregion kregions[NIO_MAX_REGIONS];

/* One ring set of the binding (ring ABI 3), served by one worker. */
struct kq {
	int fd; /* queue 0: the owner's /dev/netio file; others: NETIO_IOC_ATTACH_QUEUE */
	struct nio_ring *rx, *fill, *tx, *comp;
	const struct nio_queue_info *info;
	uint32_t rx_tail, fill_head, tx_head, comp_tail; /* this side's indices */
	uint64_t rx_full_seen; /* the module's rx_dropped_full at the last ring_stats */
	bool tx_pending;       /* slots published since the last doorbell check */
	bool sleeping;	       /* RX NEED_WAKEUP set: the worker sleeps on fd */
};

struct kmod {
	struct nl_sock *sk;
	int family;
	int nl_err;	  /* negative errno of the last request */
	char nl_msg[160]; /* the kernel's extended ack message */
	uint32_t bind_id;
	uint32_t hold_state; /* enum netio_hold_state as found at bind time */
	uint8_t *map;
	size_t map_size;
	struct kregion *kr; /* the buffer region, shared with the other kmod ports on it */
	uint8_t *held;	    /* held[i]: buffer i is in this binding's rings or its skbs */
	size_t region_size;
	/* geometry copied once from nio_map_info and checked, never re-read */
	uint32_t rx_slots, tx_slots, nbufs, buf_size, headroom, region_id;
	unsigned nq, want_nq; /* queues the binding has, and the workers asked for */
	struct kq q[];	      /* want_nq of them, nq in use */
};

/* The queue of the calling worker: its own, or the only one (then under the port's TX lock
 * for sending, and polled by one worker). */
static struct kq *kq_of(struct nio_port *port)
{
	struct kmod *k = port->priv;

	return k->nq == 1 ? &k->q[0] : &k->q[nio_worker_self()];
}

/* ---------------------------------------------------------------- generic netlink */

static int nl_on_err(struct sockaddr_nl *sa, struct nlmsgerr *e, void *arg)
{
	struct kmod *k = arg;
	struct nlmsghdr *h = (struct nlmsghdr *)e - 1;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*e));

	(void)sa;
	k->nl_err = e->error ? e->error : -EIO;
	/* with NETLINK_CAP_ACK the TLVs follow the error header directly */
	if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && (int)h->nlmsg_len > off &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)(void *)((char *)h + off),
		       (int)h->nlmsg_len - off, NULL) &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(k->nl_msg, sizeof(k->nl_msg), "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int nl_on_ack(struct nl_msg *m, void *arg)
{
	(void)m;
	*(bool *)arg = true;
	return NL_STOP;
}

/* Send m and feed replies to cb until the kernel's ACK; 0 or a negative errno. */
static int nl_exec(struct kmod *k, struct nl_msg *m, int (*cb)(struct nl_msg *, void *), void *arg)
{
	struct nl_cb *c = nl_cb_alloc(NL_CB_DEFAULT);
	bool done = false;
	int err = -ENOMEM;

	k->nl_err = 0;
	k->nl_msg[0] = 0;
	if (c) {
		nl_cb_err(c, NL_CB_CUSTOM, nl_on_err, k);
		nl_cb_set(c, NL_CB_ACK, NL_CB_CUSTOM, nl_on_ack, &done);
		if (cb)
			nl_cb_set(c, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
		err = nl_send_auto(k->sk, m);
		while (err >= 0 && !done && !k->nl_err)
			err = nl_recvmsgs(k->sk, c);
		nl_cb_put(c);
	}
	nlmsg_free(m);
	if (k->nl_err)
		return k->nl_err;
	return err < 0 ? -EIO : 0;
}

static struct nl_msg *nl_req(struct kmod *k, int cmd)
{
	struct nl_msg *m = nlmsg_alloc();

	if (m && !genlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, k->family, 0, 0, (uint8_t)cmd,
			      NETIO_GENL_VERSION)) {
		nlmsg_free(m);
		m = NULL;
	}
	return m;
}

static int nl_open(struct kmod *k, char *err, size_t errlen)
{
	int one = 1;

	k->sk = nl_socket_alloc();
	if (!k->sk || genl_connect(k->sk) < 0)
		return nio_err(err, errlen, "cannot open a generic netlink socket");
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	k->family = genl_ctrl_resolve(k->sk, NETIO_GENL_NAME);
	if (k->family < 0)
		return nio_err(err, errlen, "generic netlink family '%s' not found (netio.ko?)",
			       NETIO_GENL_NAME);
	return 0;
}

static int nl_fail(const struct kmod *k, int rc, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s%s%s", what, strerror(-rc), k->nl_msg[0] ? ": " : "",
		 k->nl_msg);
	return -1;
}

/* ---------------------------------------------------------------- binding and mapping */

static int on_bind(struct nl_msg *m, void *arg)
{
	struct kmod *k = arg;
	struct nlattr *tb[NETIO_A_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(m), 0, tb, NETIO_A_MAX, NULL) || !tb[NETIO_A_BIND_ID] ||
	    !tb[NETIO_A_MAP_SIZE])
		return NL_SKIP;
	k->bind_id = nla_get_u32(tb[NETIO_A_BIND_ID]);
	k->map_size = (size_t)nla_get_u64(tb[NETIO_A_MAP_SIZE]);
	k->hold_state = tb[NETIO_A_HOLD_STATE] ? nla_get_u32(tb[NETIO_A_HOLD_STATE]) : 0;
	return NL_OK;
}

static int bind_port(struct kmod *k, const struct nio_port *port, char *err, size_t errlen)
{
	struct nl_msg *m = nl_req(k, NETIO_CMD_BIND);
	char name[NETIO_NAME_MAX];
	uint32_t slots = opts_of(port)->ring_slots;
	int rc;

	if (!m)
		return nio_err(err, errlen, "out of memory");
	snprintf(name, sizeof(name), "%.15s", port->name);
	nla_put_u32(m, NETIO_A_IFINDEX, (uint32_t)port->ifindex);
	nla_put_string(m, NETIO_A_BIND_NAME, name);
	nla_put_u32(m, NETIO_A_HOLD_MS, opts_of(port)->hold_ms);
	nla_put_u32(m, NETIO_A_BUF_SIZE, KMOD_BUF_SIZE);
	nla_put_u32(m, NETIO_A_NBUFS, KMOD_NBUFS);
	nla_put_u32(m, NETIO_A_HEADROOM, NIO_PKT_HEADROOM);
	if (k->want_nq > 1) /* a module without queues then says "ABI mismatch", not EINVAL */
		nla_put_u32(m, NETIO_A_QUEUES, k->want_nq);
	for (unsigned i = 0; i < NIO_MAX_REGIONS; i++)
		if (kregions[i].users) {
			nla_put_u32(m, NETIO_A_REGION_OF, kregions[i].bind_id);
			break;
		}
	if (slots) {
		nla_put_u32(m, NETIO_A_RX_SLOTS, slots);
		nla_put_u32(m, NETIO_A_TX_SLOTS, slots);
	}
	rc = nl_exec(k, m, on_bind, k);
	if (rc < 0)
		return nl_fail(k, rc, "bind", err, errlen);
	if (!k->bind_id || !k->map_size)
		return nio_err(err, errlen, "bind: no binding in the kernel's reply");
	return 0;
}

static bool ring_fits(const struct kmod *k, uint64_t off, uint64_t bytes)
{
	return off % NIO_CACHELINE == 0 && off + bytes <= k->map_size;
}

/* Every queue's block: queue 0's offsets moved by q strides, each ring inside the mapping. */
static bool queues_fit(const struct kmod *k, const struct nio_map_info *info)
{
	for (uint64_t q = 0; q < k->nq; q++) {
		uint64_t d = q * info->queue_stride;

		if (!ring_fits(k, info->qinfo_off + d, sizeof(struct nio_queue_info)) ||
		    !ring_fits(k, info->rx_off + d, nio_ring_bytes(k->rx_slots)) ||
		    !ring_fits(k, info->fill_off + d, nio_ring_idx_bytes(k->rx_slots)) ||
		    !ring_fits(k, info->tx_off + d, nio_ring_bytes(k->tx_slots)) ||
		    !ring_fits(k, info->comp_off + d, nio_ring_idx_bytes(k->tx_slots)))
			return false;
	}
	return true;
}

static void set_rings(struct kmod *k, const struct nio_map_info *info)
{
	for (unsigned i = 0; i < k->nq; i++) {
		uint8_t *block = k->map + (size_t)i * info->queue_stride;
		struct kq *q = &k->q[i];

		q->info = (const struct nio_queue_info *)(const void *)(block + info->qinfo_off);
		q->rx = (struct nio_ring *)(void *)(block + info->rx_off);
		q->fill = (struct nio_ring *)(void *)(block + info->fill_off);
		q->tx = (struct nio_ring *)(void *)(block + info->tx_off);
		q->comp = (struct nio_ring *)(void *)(block + info->comp_off);
	}
}

/* Copy the geometry out of the shared page once and check it against the mapping. */
static int check_geometry(struct kmod *k, char *err, size_t errlen)
{
	const struct nio_map_info *info = (const struct nio_map_info *)(void *)k->map;

	if (k->map_size < sizeof(*info) || info->magic != NIO_RING_MAGIC ||
	    info->abi_version != NIO_ABI_VERSION || info->info_size < sizeof(*info))
		return nio_err(err, errlen, "ring ABI mismatch (module and netiod disagree)");
	k->rx_slots = info->num_rx_slots;
	k->tx_slots = info->num_tx_slots;
	k->nbufs = info->nbufs;
	k->buf_size = info->buf_size;
	k->region_size = (size_t)info->region_size;
	k->headroom = info->headroom;
	k->region_id = info->region_id;
	k->nq = info->num_queues;
	if (k->nq != 1 && k->nq != k->want_nq)
		return nio_err(err, errlen,
			       "binding has %u queues for %u workers (a netiod with other "
			       "workers left it: netioctl kernel unbind it)",
			       k->nq, k->want_nq);
	if (!nio_ring_valid_size(k->rx_slots) || !nio_ring_valid_size(k->tx_slots) ||
	    !queues_fit(k, info) || !k->nbufs || (uint64_t)k->nbufs * k->buf_size > k->region_size)
		return nio_err(err, errlen, "inconsistent ring geometry");
	if (k->buf_size != KMOD_BUF_SIZE || k->headroom < NIO_PKT_HEADROOM)
		return snprintf(err, errlen,
				"binding has %u-byte buffers and %u bytes of headroom, %u and %u "
				"needed (netioctl kernel unbind the binding)",
				k->buf_size, k->headroom, KMOD_BUF_SIZE, NIO_PKT_HEADROOM),
		       -1;
	set_rings(k, info);
	return 0;
}

/* Continue from the indices a previous owner left, unless they make no sense. */
static void resume_indices(struct kmod *k, struct kq *q)
{
	q->rx_tail = q->rx->tail;
	if (nio_ring_pending(nio_ring_load_acquire(&q->rx->head), q->rx_tail, k->rx_slots) < 0)
		q->rx_tail = q->rx->head;
	q->fill_head = q->fill->head;
	if (nio_ring_pending(q->fill_head, nio_ring_load_acquire(&q->fill->tail), k->rx_slots) < 0)
		q->fill_head = q->fill->tail;
	q->tx_head = q->tx->head;
	if (nio_ring_pending(q->tx_head, nio_ring_load_acquire(&q->tx->tail), k->tx_slots) < 0)
		q->tx_head = q->tx->tail;
	q->comp_tail = q->comp->tail;
	if (nio_ring_pending(nio_ring_load_acquire(&q->comp->head), q->comp_tail, k->tx_slots) < 0)
		q->comp_tail = q->comp->head;
	nio_ring_store_release(&q->rx->tail, q->rx_tail);
	nio_ring_store_release(&q->fill->head, q->fill_head);
	nio_ring_store_release(&q->tx->head, q->tx_head);
	nio_ring_store_release(&q->comp->tail, q->comp_tail);
}

static void mark(uint8_t *busy, const struct kmod *k, uint32_t idx)
{
	if (idx < k->nbufs)
		busy[idx] = 1;
}

/* Buffers a ring names between two indices; slot_of picks the index out of entry i. */
static void mark_descs(uint8_t *busy, const struct kmod *k, struct nio_ring *r, uint32_t from,
		       uint32_t to, uint32_t slots)
{
	for (uint32_t i = from; nio_ring_pending(to, i, slots) > 0 && i != to; i++)
		mark(busy, k, nio_ring_slots(r)[i & (slots - 1)].buf_idx);
}

static void mark_idx(uint8_t *busy, const struct kmod *k, struct nio_ring *r, uint32_t from,
		     uint32_t to, uint32_t slots)
{
	for (uint32_t i = from; nio_ring_pending(to, i, slots) > 0 && i != to; i++)
		mark(busy, k, nio_ring_idx(r)[i & (slots - 1)]);
}

/*
 * The buffers the module holds for this binding: every buffer its rings name or an skb holds.
 * Read in the kernel's order (TX, fill, RX of every queue, then what is in flight, then the
 * completions) so a buffer moving meanwhile is seen at least once (ring.h). The rest of the
 * region is netiod's.
 */
static int busy_map(struct kmod *k, uint8_t *busy, char *err, size_t errlen)
{
	uint64_t *inflight = calloc((k->nbufs + 63) / 64, sizeof(uint64_t));

	if (!inflight)
		return nio_err(err, errlen, "out of memory");
	for (struct kq *q = k->q; q < k->q + k->nq; q++) {
		mark_descs(busy, k, q->tx, nio_ring_load_acquire(&q->tx->tail), q->tx_head,
			   k->tx_slots);
		mark_idx(busy, k, q->fill, nio_ring_load_acquire(&q->fill->tail), q->fill_head,
			 k->rx_slots);
		mark_descs(busy, k, q->rx, q->rx_tail, nio_ring_load_acquire(&q->rx->head),
			   k->rx_slots);
	}
	if (ioctl(k->q[0].fd, NETIO_IOC_INFLIGHT, inflight) < 0) {
		free(inflight);
		return nio_err(err, errlen, "buffers in flight: %s", strerror(errno));
	}
	for (uint32_t i = 0; i < k->nbufs; i++)
		busy[i] |= (uint8_t)(inflight[i / 64] >> (i % 64) & 1);
	for (struct kq *q = k->q; q < k->q + k->nq; q++)
		mark_idx(busy, k, q->comp, q->comp_tail, nio_ring_load_acquire(&q->comp->head),
			 k->tx_slots);
	free(inflight);
	return 0;
}

static struct kregion *kregion_find(uint32_t kid)
{
	for (unsigned i = 0; i < NIO_MAX_REGIONS; i++)
		if (kregions[i].users && kregions[i].kid == kid)
			return &kregions[i];
	return NULL;
}

/* Map the binding's region and hand it to the region layer, unless another port did. */
static int kregion_get(struct kmod *k, unsigned nworkers, char *err, size_t errlen)
{
	struct kregion *kr = kregion_find(k->region_id);
	void *mem;

	if (kr) {
		/* a restarted netiod's second port on the region: what this binding's rings
		 * hold is out too (a fresh binding, a reload's, holds nothing, and the lists
		 * the running workers use stay untouched) */
		if (memchr(k->held, 1, k->nbufs))
			nio_region_take(kr->r, k->held);
		__atomic_fetch_add(&kr->users, 1, __ATOMIC_RELAXED);
		k->kr = kr;
		return 0;
	}
	for (kr = kregions; kr < kregions + NIO_MAX_REGIONS && kr->users; kr++)
		;
	if (kr == kregions + NIO_MAX_REGIONS)
		return nio_err(err, errlen, "more than %d netio.ko regions", NIO_MAX_REGIONS);
	mem = mmap(NULL, (size_t)k->nbufs * k->buf_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   k->q[0].fd, (off_t)NIO_MMAP_REGION);
	if (mem == MAP_FAILED)
		return nio_err(err, errlen, "mmap of the buffer region (%zu bytes): %s",
			       k->region_size, strerror(errno));
	kr->r = nio_region_adopt("kmod", mem, k->nbufs, k->buf_size, nworkers, k->held, err,
				 errlen);
	if (!kr->r) {
		munmap(mem, (size_t)k->nbufs * k->buf_size);
		return -1;
	}
	kr->kid = k->region_id;
	kr->bind_id = k->bind_id;
	__atomic_store_n(&kr->users, 1, __ATOMIC_RELAXED);
	k->kr = kr;
	return 0;
}

static void kregion_put(struct kregion *kr)
{
	if (__atomic_sub_fetch(&kr->users, 1, __ATOMIC_RELAXED))
		return;
	nio_region_unref(kr->r);
	kr->r = NULL;
}

static int open_dev(int *fd, char *err, size_t errlen)
{
	*fd = open(NETIO_DEVICE, O_RDWR | O_CLOEXEC);
	if (*fd < 0)
		return nio_err(err, errlen, "%s: %s%s", NETIO_DEVICE, strerror(errno),
			       errno == EACCES && geteuid()
				       ? " (netiod runs unprivileged: give its group read-write "
					 "access to the device, e.g. the udev rule in README)"
				       : "");
	return 0;
}

/* Queues 1.. are served by files of their own, so each worker sleeps on its queue only. */
static int attach_queues(struct kmod *k, char *err, size_t errlen)
{
	for (unsigned i = 1; i < k->nq; i++) {
		struct netio_queue_attach a = { .bind_id = k->bind_id, .queue = i };

		if (open_dev(&k->q[i].fd, err, errlen) < 0)
			return -1;
		if (ioctl(k->q[i].fd, NETIO_IOC_ATTACH_QUEUE, &a) < 0)
			return nio_err(err, errlen, "attach to queue %u of binding %u: %s", i,
				       k->bind_id, strerror(errno));
	}
	return 0;
}

static int attach_map(struct kmod *k, char *err, size_t errlen)
{
	if (open_dev(&k->q[0].fd, err, errlen) < 0)
		return -1;
	if (ioctl(k->q[0].fd, NETIO_IOC_ATTACH, &k->bind_id) < 0)
		return nio_err(err, errlen, "attach to binding %u: %s%s", k->bind_id,
			       strerror(errno),
			       errno == EBUSY ? " (another process owns this port's rings)" : "");
	k->map = mmap(NULL, k->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->q[0].fd, 0);
	if (k->map == MAP_FAILED) {
		k->map = NULL;
		return nio_err(err, errlen, "mmap %zu bytes: %s", k->map_size, strerror(errno));
	}
	if (check_geometry(k, err, errlen) < 0 || attach_queues(k, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < k->nq; i++)
		resume_indices(k, &k->q[i]);
	k->held = calloc(k->nbufs, 1);
	if (!k->held)
		return nio_err(err, errlen, "out of memory");
	return busy_map(k, k->held, err, errlen);
}

/* ---------------------------------------------------------------- claims */

static uint8_t af_of(uint8_t family)
{
	return family == 4 ? AF_INET : family == 6 ? AF_INET6 : 0;
}

/* A claim's prefix as the module's address and prefix length. */
static void put_prefix(struct nl_msg *m, int addr_attr, int plen_attr, uint8_t family,
		       const uint8_t addr[16], uint8_t len)
{
	if (family == 4)
		nla_put(m, addr_attr, 4, addr + 12);
	else
		nla_put(m, addr_attr, 16, addr);
	nla_put_u8(m, plen_attr, len);
}

static bool ports_any(const struct nio_claim *cl)
{
	return !cl->sport_lo && cl->sport_hi == 65535 && !cl->dport_lo && cl->dport_hi == 65535;
}

/* netio.ko's claim id: pipeline << KMOD_CLAIM_BITS | index (the id RX slots carry). */
static uint16_t kmod_claim_id(const struct nio_claim *cl)
{
	return (uint16_t)(NIO_CLAIM_PIPELINE(cl->id) << KMOD_CLAIM_BITS | NIO_CLAIM_INDEX(cl->id));
}

static void put_claim(struct nl_msg *m, const struct nio_claim *cl)
{
	struct nlattr *nest = nla_nest_start(m, 0);

	nla_put_u16(m, NETIO_CLAIM_A_ID, kmod_claim_id(cl));
	nla_put_u8(m, NETIO_CLAIM_A_FAMILY, af_of(cl->family));
	nla_put_u8(m, NETIO_CLAIM_A_PROTO, cl->proto);
	if (cl->has_src)
		put_prefix(m, NETIO_CLAIM_A_SRC, NETIO_CLAIM_A_SRC_PLEN, cl->family, cl->src,
			   cl->src_len);
	if (cl->has_dst)
		put_prefix(m, NETIO_CLAIM_A_DST, NETIO_CLAIM_A_DST_PLEN, cl->family, cl->dst,
			   cl->dst_len);
	if (!ports_any(cl)) {
		nla_put_u16(m, NETIO_CLAIM_A_SPORT_LO, cl->sport_lo);
		nla_put_u16(m, NETIO_CLAIM_A_SPORT_HI, cl->sport_hi);
		nla_put_u16(m, NETIO_CLAIM_A_DPORT_LO, cl->dport_lo);
		nla_put_u16(m, NETIO_CLAIM_A_DPORT_HI, cl->dport_hi);
	}
	nla_put_u8(m, NETIO_CLAIM_A_FAIL_MODE,
		   cl->fail_mode == NIO_FAIL_PASSTHROUGH ? NETIO_FAIL_PASSTHROUGH
							 : NETIO_FAIL_SECURE);
	nla_nest_end(m, nest);
}

/* The module takes NETIO_CLAIMS_MAX claims per port, ids of 16 bits. netiod -t asks too. */
static int kmod_check_claims(const struct nio_port *port, const struct nio_claim *claims,
			     unsigned n, unsigned *refused, char *err, size_t errlen)
{
	(void)port;
	for (unsigned i = 0; i < n; i++) {
		if (i < NETIO_CLAIMS_MAX && NIO_CLAIM_INDEX(claims[i].id) < 1u << KMOD_CLAIM_BITS)
			continue;
		*refused = i;
		return nio_err(err, errlen,
			       "needs more claims than netio.ko takes (%u per port, %u per "
			       "pipeline)",
			       (unsigned)NETIO_CLAIMS_MAX, 1u << KMOD_CLAIM_BITS);
	}
	return 0;
}

static int kmod_set_claims(struct nio_port *port, const struct nio_claim *claims, unsigned n,
			   char *err, size_t errlen)
{
	struct kmod *k = port->priv;
	struct nl_msg *m = nl_req(k, NETIO_CMD_SET_CLAIMS);
	struct nlattr *list;
	int rc;

	if (!m)
		return nio_err(err, errlen, "out of memory");
	nla_put_u32(m, NETIO_A_BIND_ID, k->bind_id);
	list = nla_nest_start(m, NETIO_A_CLAIMS);
	for (unsigned i = 0; i < n; i++)
		put_claim(m, &claims[i]);
	nla_nest_end(m, list);
	rc = nl_exec(k, m, NULL, NULL);
	/* most likely a binding a netiod left under another port name: secure, it stays */
	if (rc == -EBUSY)
		return nl_fail(k, rc,
			       "set claims (netioctl kernel list shows who holds the device; "
			       "netioctl kernel unbind one without owner)",
			       err, errlen);
	if (rc < 0)
		return nl_fail(k, rc, "set claims", err, errlen);
	log_debug("port %s: %u claims installed in netio.ko", port->name, n);
	return 0;
}

/* ---------------------------------------------------------------- port ops */

static bool keep_bindings; /* the daemon is exiting: leave every binding to its hold time */

void nio_kmod_keep_bindings(void)
{
	keep_bindings = true;
}

/* A port a reload dropped (or a failed reload had opened) gives its binding and claims back
 * now: held for the hold time, its secure claims would drop the NIC's traffic meanwhile. */
static void unbind_port(struct kmod *k, const struct nio_port *port)
{
	struct nl_msg *m = nl_req(k, NETIO_CMD_UNBIND);
	int rc;

	if (!m)
		return;
	nla_put_u32(m, NETIO_A_BIND_ID, k->bind_id);
	rc = nl_exec(k, m, NULL, NULL);
	if (rc < 0)
		log_warnx("port %s: unbind %u: %s", port->name, k->bind_id, strerror(-rc));
	else
		log_info("port %s: netio.ko binding %u released", port->name, k->bind_id);
}

/* The binding is gone: what its rings held is netiod's again, but for the buffers skbs
 * still hold (their completions would go to the destroyed binding: they stay out). */
static void give_back(struct kmod *k)
{
	uint64_t *inflight = calloc((k->nbufs + 63) / 64, sizeof(uint64_t));

	if (!k->kr || !inflight || ioctl(k->q[0].fd, NETIO_IOC_INFLIGHT, inflight) < 0) {
		free(inflight);
		return;
	}
	for (uint32_t i = 0; i < k->nbufs; i++)
		if (k->held[i] && !(inflight[i / 64] >> (i % 64) & 1))
			nio_region_put(k->kr->r, &k->kr->r->pkts[i]);
	free(inflight);
}

static void kmod_close(struct nio_port *port)
{
	struct kmod *k = port->priv;

	if (!k)
		return;
	/* On exit the binding stays for its hold time: a restarted netiod continues from the
	 * rings. A port that was never fully opened leaves whatever binding it found alone. */
	if (port->open && !keep_bindings && k->sk && !atomic_load(&port->gone)) {
		unbind_port(k, port);
		give_back(k);
	}
	if (k->kr)
		kregion_put(k->kr);
	if (k->map)
		munmap(k->map, k->map_size);
	free(k->held);
	for (unsigned i = 0; i < k->want_nq; i++)
		if (k->q[i].fd >= 0)
			close(k->q[i].fd);
	if (k->sk)
		nl_socket_free(k->sk);
	free(k);
	port->priv = NULL;
}

static int kmod_open(struct nio_port *port, char *err, size_t errlen)
{
	unsigned nworkers = port->nqueues ? port->nqueues : 1;
	struct kmod *k = calloc(1, sizeof(*k) + nworkers * sizeof(k->q[0]));

	if (!k)
		return nio_err(err, errlen, "out of memory");
	/* one ring set per worker: each polls and sends on its own, no lock between them */
	k->want_nq = nworkers;
	for (unsigned i = 0; i < nworkers; i++)
		k->q[i].fd = -1;
	port->priv = k;
	port->ifindex = (int)if_nametoindex(port->device);
	if (!port->ifindex) {
		snprintf(err, errlen, "%s: no such device", port->device);
		goto err;
	}
	if (nio_dev_info(port, err, errlen) < 0 || nl_open(k, err, errlen) < 0 ||
	    bind_port(k, port, err, errlen) < 0 || attach_map(k, err, errlen) < 0 ||
	    kregion_get(k, nworkers, err, errlen) < 0)
		goto err;
	/* a binding an older netiod left with one queue is served as such */
	port->nqueues = k->nq;
	nio_dev_addrs(port);
	log_info("port %s: netio.ko binding %u on %s, %u queue(s) of %u/%u slots, region %u%s",
		 port->name, k->bind_id, port->device, k->nq, k->rx_slots, k->tx_slots,
		 k->region_id,
		 k->hold_state == NETIO_HOLD_EXPIRED
			 ? " (taken over past its hold time: its queue was discarded, its secure "
			   "claims dropped meanwhile)"
			 : "");
	return 0;
err:
	kmod_close(port);
	return -1;
}

/*
 * Keep the fill ring stocked from the polling worker's free list of the region, leaving that
 * worker a few buffers for TX copies. Each worker stocks one fill ring per kmod port on the
 * region: none may take more than its part of half the worker's share, or one idle port's
 * ring would hold every buffer and starve the busy one (the other half is in flight).
 */
static void fill_top(struct kmod *k, struct kq *q)
{
	struct nio_region *r = k->kr->r;
	uint32_t used = nio_ring_used(q->fill_head, nio_ring_load_acquire(&q->fill->tail));
	unsigned w = nio_worker_self(), users = __atomic_load_n(&k->kr->users, __ATOMIC_RELAXED);
	uint32_t want = r->shares[w] / (2 * (users ? users : 1));

	if (used > k->rx_slots)
		return; /* a tail only a bug or a scribbler makes: leave the ring alone */
	want = want < k->rx_slots ? want : k->rx_slots;
	for (; used < want && r->free[w].n > KMOD_FILL_KEEP; used++) {
		struct nio_pkt *p = nio_region_get(r, w);

		k->held[p->buf_idx] = 1;
		nio_ring_idx(q->fill)[q->fill_head++ & (k->rx_slots - 1)] = p->buf_idx;
	}
	/* release: the entries are written before the kernel may see the new head */
	nio_ring_store_release(&q->fill->head, q->fill_head);
}

/* Buffers the kernel is done sending go home (over a back ring if another worker owns them). */
static void comp_drain(struct kmod *k, struct kq *q)
{
	/* acquire: pairs with the kernel's release store of head after it wrote the entries */
	uint32_t head = nio_ring_load_acquire(&q->comp->head), idx;

	if (nio_ring_pending(head, q->comp_tail, k->tx_slots) < 0)
		return;
	for (; q->comp_tail != head; q->comp_tail++) {
		idx = nio_ring_idx(q->comp)[q->comp_tail & (k->tx_slots - 1)];
		if (idx < k->nbufs && k->held[idx]) {
			k->held[idx] = 0;
			nio_worker_pkt_free(&k->kr->r->pkts[idx]);
		}
	}
	nio_ring_store_release(&q->comp->tail, q->comp_tail);
}

/* The RX slot's buffer as a packet, in place; NULL if the slot is unusable (counted). */
static struct nio_pkt *rx_take(struct nio_port *port, struct kmod *k, const struct nio_slot *s)
{
	uint32_t idx = s->buf_idx, off = s->off, len = s->len, claim = s->claim;
	uint16_t flags = s->flags;
	struct nio_pkt *p;

	if (idx >= k->nbufs || !k->held[idx]) {
		nio_port_stats(port)->drops[NIO_DROP_OVERSIZE]++;
		return NULL; /* not a buffer this binding was given: leave it alone */
	}
	k->held[idx] = 0;
	p = &k->kr->r->pkts[idx];
	if (off < NIO_PKT_HEADROOM || (uint64_t)off + len > k->buf_size || len < 14 ||
	    (flags & NIO_SLOT_F_TRUNC)) {
		nio_port_stats(port)->drops[NIO_DROP_OVERSIZE]++;
		nio_worker_pkt_free(p);
		return NULL;
	}
	/* as nio_region_get would: a buffer a previous netiod gave the kernel was never got here */
	nio_pkt_reset(p, off);
	p->len = len;
	p->in_port = port->id;
	/* the classifier checks the hint before it trusts it (nio_classify_hint) */
	p->claim_hint =
		NIO_CLAIM_ID(claim >> KMOD_CLAIM_BITS, claim & ((1u << KMOD_CLAIM_BITS) - 1)) + 1;
	nio_port_stats(port)->rx_packets++;
	nio_port_stats(port)->rx_bytes += len;
	return p;
}

/* Frames come in place: the packet is the RX buffer the module copied the frame into. */
static uint16_t kmod_rx_burst(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
			      uint16_t max)
{
	struct kmod *k = port->priv;
	struct kq *q = kq_of(port);
	/* acquire: pairs with the kernel's release store of head after it wrote the slots */
	uint32_t head = nio_ring_load_acquire(&q->rx->head), mask = nio_ring_mask(k->rx_slots);
	uint64_t now = 0;
	uint16_t n = 0;

	(void)pool;
	if (q->sleeping) {
		q->sleeping = false;
		__atomic_store_n(&q->rx->flags, 0, __ATOMIC_RELAXED);
	}
	if (nio_ring_pending(head, q->rx_tail, k->rx_slots) < 0)
		return 0;
	for (; n < max && q->rx_tail != head; q->rx_tail++) {
		struct nio_pkt *p = rx_take(port, k, &nio_ring_slots(q->rx)[q->rx_tail & mask]);

		if (!p)
			continue;
		now = now ? now : nio_now_ns();
		p->ts_ns = now;
		pkts[n++] = p;
	}
	/* release: the slots we read may be overwritten from now on */
	nio_ring_store_release(&q->rx->tail, q->rx_tail);
	fill_top(k, q);
	return n;
}

/* Ring the TX doorbell if the kernel is not draining the ring on its own. */
static void tx_doorbell(struct kq *q)
{
	if (!q->tx_pending)
		return;
	q->tx_pending = false;
	/* flag clear after our head was published: the kernel's TX timer will see that head */
	if (!nio_ring_needs_wakeup(q->tx))
		return;
	/* the kernel counts bad descriptors and send errors itself; nothing to retry here */
	(void)ioctl(q->fd, NETIO_IOC_KICK);
}

static bool tx_has_room(const struct kmod *k, struct kq *q)
{
	/* acquire: pairs with the kernel's release store of tail once it took the slots */
	return nio_ring_used(q->tx_head, nio_ring_load_acquire(&q->tx->tail)) < k->tx_slots;
}

/* A TX slot at tx_head, kicking the kernel once if the ring is full. */
static bool tx_room(struct kmod *k, struct kq *q, bool *kicked)
{
	if (tx_has_room(k, q))
		return true;
	if (*kicked)
		return false;
	*kicked = true;
	nio_ring_store_release(&q->tx->head, q->tx_head);
	(void)ioctl(q->fd, NETIO_IOC_KICK);
	comp_drain(k, q);
	return tx_has_room(k, q);
}

/* The region buffer p goes out of: its own (a descriptor move) or a copy into a free one of
 * the calling worker's; NULL when that worker has none left. */
static struct nio_pkt *tx_buf(struct nio_port *port, struct kmod *k, struct nio_pkt *p)
{
	struct nio_region *r = k->kr->r;
	struct nio_pkt *b;

	if (nio_region_of(p) == r)
		return p;
	b = nio_region_get(r, nio_worker_self());
	if (!b)
		return NULL;
	memcpy(b->data, p->data, p->len);
	b->len = p->len;
	nio_port_stats(port)->tx_copies++;
	return b;
}

/* Accepts a prefix of pkts; the rest count as tx-full. Those it moved are NULL in pkts: the
 * TX ring has their buffers until the completion ring gives them back. */
static uint16_t kmod_tx_burst(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	struct kmod *k = port->priv;
	struct kq *q = kq_of(port);
	uint32_t mask = nio_ring_mask(k->tx_slots);
	bool kicked = false;
	uint16_t i;

	comp_drain(k, q);
	for (i = 0; i < n && tx_room(k, q, &kicked); i++) {
		struct nio_pkt *b = tx_buf(port, k, pkts[i]);

		if (!b)
			break;
		k->held[b->buf_idx] = 1;
		nio_ring_slots(q->tx)[q->tx_head++ & mask] = (struct nio_slot){
			.buf_idx = b->buf_idx, .off = (uint32_t)(b->data - b->buf), .len = b->len
		};
		nio_port_stats(port)->tx_packets++;
		nio_port_stats(port)->tx_bytes += b->len;
		if (b == pkts[i])
			pkts[i] = NULL;
	}
	/* release: slots and buffers are written before the kernel may see the new head */
	nio_ring_store_release(&q->tx->head, q->tx_head);
	q->tx_pending |= i > 0;
	nio_port_stats(port)->drops[NIO_DROP_TX_FULL] += n - i;
	return i;
}

static void kmod_flush(struct nio_port *port)
{
	tx_doorbell(kq_of(port));
}

uint32_t nio_kmod_bind_id(const struct nio_port *port)
{
	const struct kmod *k = port->priv;

	return k ? k->bind_id : 0;
}

/* The worker asks for the fd only to sleep on it: tell the kernel to wake us (the RX
 * doorbell); the kernel's poll re-checks the ring after this, so nothing is missed. */
static int kmod_fd(struct nio_port *port)
{
	struct kq *q = kq_of(port);

	q->sleeping = true;
	__atomic_store_n(&q->rx->flags, NIO_RING_F_NEED_WAKEUP, __ATOMIC_RELAXED);
	return q->fd;
}

/* ---------------------------------------------------------------- configuration */

static const struct nio_opt kmod_options[] = {
	{ .name = "ring-frames",
	  .type = NIO_OPT_INT,
	  .def = "4096",
	  .min = 64,
	  .max = 1 << 20,
	  .help = "RX and TX ring slots (a power of two up to 32768; else the module's default)" },
	{ .name = "hold-time",
	  .type = NIO_OPT_TIME,
	  .def = "60s",
	  .help = "how long netio.ko keeps rings, claims and queued packets without netiod" },
	{ .name = NULL },
};

static int kmod_parse(struct nio_port *port, const struct nio_conf *conf, char *err, size_t errlen)
{
	struct nio_kmod_opts *o = (struct nio_kmod_opts *)(void *)port->opts;
	uint32_t n = (uint32_t)nio_conf_int(conf, "ring-frames");
	long long ns = nio_conf_int(conf, "hold-time");

	if (ns > 86400000000000ll)
		return nio_err(err, errlen, "hold-time '%s' is not a duration up to 1 day",
			       nio_conf_str(conf, "hold-time"));
	o->hold_ms = (uint32_t)(ns / 1000000);
	o->ring_slots = nio_ring_valid_size(n) && n <= 32768 ? n : 0;
	return 0;
}

/* driver = "auto" takes the module when it is loaded and netiod may use it. */
static bool kmod_probe(char *why, size_t len)
{
	/* exists, not "may open": a netiod that dropped privileges may lack access to it, and is
	 * then told so when the port opens instead of falling back to afpacket quietly */
	if (access(NETIO_DEVICE, F_OK) == 0) {
		snprintf(why, len, "%s present", NETIO_DEVICE);
		return true;
	}
	snprintf(why, len, "%s %s", NETIO_DEVICE,
		 errno == ENOENT ? "absent: netio.ko not loaded" : strerror(errno));
	return false;
}

/* The module counts the claimed frames it dropped for want of an RX slot or a fill buffer
 * (rx_full, rx_nobuf among them) in the mapped info block, the binding's total (so the first
 * call also reports what it dropped before this netiod attached). One
 * relaxed read of a word the kernel writes with WRITE_ONCE; the port's polling worker only. */
static void kmod_ring_stats(struct nio_port *port, struct nio_ring_stats *out)
{
	struct kmod *k = port->priv;
	struct kq *q;
	uint64_t now;

	if (!k->map)
		return;
	q = kq_of(port);
	now = __atomic_load_n(&q->info->rx_dropped_full, __ATOMIC_RELAXED);
	out->rx_full += now - q->rx_full_seen;
	q->rx_full_seen = now;
}

const struct nio_port_ops nio_port_kmod_ops = {
	.name = "kmod",
	.caps = NIO_CAP(CAP_NET_ADMIN), /* netio.ko's genetlink commands are GENL_ADMIN_PERM */
	.options = kmod_options,
	.parse = kmod_parse,
	.probe = kmod_probe,
	.check_claims = kmod_check_claims,
	.set_claims = kmod_set_claims,
	.open = kmod_open,
	.close = kmod_close,
	.rx_burst = kmod_rx_burst,
	.tx_burst = kmod_tx_burst,
	.flush = kmod_flush,
	.fd = kmod_fd,
	.ring_stats = kmod_ring_stats,
};

/* AF_PACKET port driver: a TPACKET_V3 RX ring and a TPACKET_V2 TX ring on the port's device. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include <netio/csum.h>
#include <linux/capability.h>

#include "netiod.h"

/*
 * RX: TPACKET_V3 packs frames back to back into blocks the kernel hands over whole, when full
 * or when the retire timer fires; at low load that timer is the added latency, hence a small
 * default. Frame size only sizes the ring (ring_frames * AFP_RX_FRAME bytes).
 * TX: a V2 ring of fixed slots, each big enough for a whole packet buffer; tx_burst fills
 * slots and flush() hands all of them to the kernel with one sendto().
 */
#define AFP_RX_FRAME   2048u
#define AFP_BLOCK      (1u << 16)
#define AFP_MIN_BLOCKS 4u
#define AFP_TX_DATA    (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define AFP_TX_FRAME   TPACKET_ALIGN(AFP_TX_DATA + NIO_PKT_BUF_SIZE)
#define AFP_RX_HDR     TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
#define VLAN_HLEN_     4u

_Static_assert(AFP_BLOCK % AFP_RX_FRAME == 0 && AFP_BLOCK >= AFP_TX_FRAME, "ring geometry");

/* The port block's afpacket options, parsed (port->opts). */
struct afp_opts {
	uint32_t ring_frames;
	uint32_t block_timeout_ms;
	bool kernel_fwd_allow; /* the kernel may forward what netiod forwards */
	bool offloads_refuse;  /* refuse to open while the device merges frames, instead of
				* turning the merging off */
};

_Static_assert(sizeof(struct afp_opts) <= NIO_PORT_OPTS_SIZE, "port->opts holds afp_opts");

static const struct afp_opts *opts_of(const struct nio_port *port)
{
	return (const struct afp_opts *)(const void *)port->opts;
}

struct afp_ring {
	uint8_t *map;
	size_t size;
	unsigned nslots;    /* RX: blocks, TX: frames */
	unsigned slot_size; /* a block or a frame */
	unsigned per_block; /* TX: frames in a block; a block's tail may be unused */
	unsigned cur;
};

struct afpacket {
	int rx_fd, tx_fd;
	struct afp_ring rx, tx;
	uint32_t rx_left; /* frames of the current RX block not yet taken */
	uint8_t *rx_next; /* the next of them */
	bool tx_queued;	  /* slots handed over since the last kick */
	int fanout_id;	  /* q[0]: the PACKET_FANOUT group the kernel chose */
	/* frames whose L4 checksum was left to offload (CHECKSUM_PARTIAL, e.g. from a veth peer) */
	uint64_t csum_done, csum_left;
};

/*
 * One RX socket (joined in a PACKET_FANOUT_HASH group) and one TX socket per worker: worker i
 * uses q[i] alone. The kernel's fanout hash is symmetric (__skb_get_hash_symmetric) and every
 * port's group has its members in worker order, so both directions of a connection reach the
 * same worker. No PACKET_FANOUT_FLAG_DEFRAG: the socket would then receive the reassembled
 * datagram, which a router must not forward as one; fragments hash by addresses only.
 */
struct afp_port {
	unsigned nq;
	struct afpacket q[];
};

/* The calling worker's queue. */
static struct afpacket *queue(struct nio_port *port)
{
	struct afp_port *ap = port->priv;

	return &ap->q[nio_worker_self() < ap->nq ? nio_worker_self() : 0];
}

/* ---------------------------------------------------------------- checksum completion */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Offset of the L3 header past any 802.1Q/802.1ad tags; *type is the L3 ethertype. */
static uint32_t l3_offset(const uint8_t *f, uint32_t len, uint16_t *type)
{
	uint32_t off = 12;

	while (off + 2 <= len) {
		*type = rd16(f + off);
		if (*type != ETH_P_8021Q && *type != ETH_P_8021AD)
			return off + 2;
		off += VLAN_HLEN_;
	}
	return 0;
}

/* Where the TCP/UDP header is and the pseudo-header sum; false if not IP or a fragment. */
static bool l4_locate(const uint8_t *f, uint32_t len, uint32_t *off, uint32_t *l4len,
		      uint8_t *proto, uint32_t *sum)
{
	uint16_t type = 0;
	uint32_t l3 = l3_offset(f, len, &type);
	const uint8_t *ip = f + l3;

	if (l3 && type == ETH_P_IP && l3 + 20 <= len && (ip[6] & 0x3f) == 0 && ip[7] == 0) {
		uint32_t ihl = (ip[0] & 0xfu) * 4u, tot = rd16(ip + 2);

		if (ihl < 20 || tot < ihl)
			return false;
		*proto = ip[9];
		*off = l3 + ihl;
		*l4len = tot - ihl;
		*sum = nio_csum_pseudo4(ip + 12, ip + 16, *proto, *l4len);
		return true;
	}
	if (l3 && type == ETH_P_IPV6 && l3 + 40 <= len) {
		*proto = ip[6];
		*off = l3 + 40;
		*l4len = rd16(ip + 4);
		*sum = nio_csum_pseudo6(ip + 8, ip + 24, *proto, *l4len);
		return true;
	}
	return false;
}

/*
 * The sender left the TCP/UDP checksum to hardware that this frame never reaches: compute it
 * in full, as a NIC would, before a service or another wire sees the packet.
 */
static bool csum_complete(uint8_t *f, uint32_t len)
{
	uint32_t off, l4len, sum, field;
	uint8_t proto;
	uint16_t c;

	if (!l4_locate(f, len, &off, &l4len, &proto, &sum))
		return false;
	if (proto == IPPROTO_TCP)
		field = 16;
	else if (proto == IPPROTO_UDP)
		field = 6;
	else
		return false;
	if ((uint64_t)off + l4len > len || l4len < field + 2)
		return false;
	f[off + field] = f[off + field + 1] = 0;
	c = nio_csum_fold(nio_csum_partial(f + off, l4len, sum));
	if (proto == IPPROTO_UDP && !c)
		c = 0xffff;
	f[off + field] = (uint8_t)(c >> 8);
	f[off + field + 1] = (uint8_t)c;
	return true;
}

/* ---------------------------------------------------------------- RX */

static struct tpacket_block_desc *rx_block(struct afpacket *a, unsigned i)
{
	return (struct tpacket_block_desc *)(void *)(a->rx.map + (size_t)i * a->rx.slot_size);
}

/* Give the current block back and move on; pairs with the kernel's read of block_status. */
static void rx_block_done(struct afpacket *a)
{
	__atomic_store_n(&rx_block(a, a->rx.cur)->hdr.bh1.block_status, TP_STATUS_KERNEL,
			 __ATOMIC_RELEASE);
	a->rx.cur = (a->rx.cur + 1) % a->rx.nslots;
}

/* True when there is a frame to take; opens the next retired block if needed. */
static bool rx_ready(struct afpacket *a)
{
	struct tpacket_block_desc *b;

	while (!a->rx_left) {
		b = rx_block(a, a->rx.cur);
		/* acquire: pairs with the kernel's release when it retires the block */
		if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			return false;
		a->rx_left = b->hdr.bh1.num_pkts;
		a->rx_next = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
		if (!a->rx_left)
			rx_block_done(a);
	}
	return true;
}

/* Hardware VLAN offload took the tag out of the frame: put it back where the wire had it. */
static uint32_t copy_vlan(uint8_t *dst, const uint8_t *src, uint32_t len,
			  const struct tpacket3_hdr *h)
{
	uint16_t tpid =
		h->tp_status & TP_STATUS_VLAN_TPID_VALID ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;

	memcpy(dst, src, 12);
	dst[12] = (uint8_t)(tpid >> 8);
	dst[13] = (uint8_t)tpid;
	dst[14] = (uint8_t)(h->hv1.tp_vlan_tci >> 8);
	dst[15] = (uint8_t)h->hv1.tp_vlan_tci;
	memcpy(dst + 16, src + 12, len - 12);
	return len + VLAN_HLEN_;
}

/*
 * Frame the daemon must not take: the host's outgoing traffic, a frame addressed to another
 * station (a router forwards only what is sent to it), or one it cannot hold.
 */
static bool rx_skip(struct nio_port *port, const struct tpacket3_hdr *h)
{
	const struct sockaddr_ll *sll =
		(const struct sockaddr_ll *)(const void *)((const uint8_t *)h + AFP_RX_HDR);
	uint32_t extra = h->tp_status & TP_STATUS_VLAN_VALID ? VLAN_HLEN_ : 0;

	if (sll->sll_pkttype == PACKET_OUTGOING)
		return true;
	if (sll->sll_pkttype == PACKET_OTHERHOST) {
		nio_port_stats(port)->rx_ignored++;
		return true;
	}
	if (h->tp_len > h->tp_snaplen || h->tp_snaplen + extra > NIO_PKT_MAX_FRAME) {
		nio_port_stats(port)->drops[NIO_DROP_OVERSIZE]++;
		return true;
	}
	if (h->tp_snaplen < ETH_HLEN) {
		nio_port_stats(port)->drops[NIO_DROP_TRUNC_L2]++;
		return true;
	}
	return false;
}

static void rx_copy(struct nio_port *port, struct afpacket *a, struct nio_pkt *p,
		    const struct tpacket3_hdr *h)
{
	const uint8_t *frame = (const uint8_t *)h + h->tp_mac;

	if (h->tp_status & TP_STATUS_VLAN_VALID) {
		p->len = copy_vlan(p->data, frame, h->tp_snaplen, h);
	} else {
		memcpy(p->data, frame, h->tp_snaplen);
		p->len = h->tp_snaplen;
	}
	if (h->tp_status & TP_STATUS_CSUMNOTREADY) {
		if (csum_complete(p->data, p->len))
			a->csum_done++;
		else
			a->csum_left++;
	}
	p->in_port = port->id;
	nio_port_stats(port)->rx_packets++;
	nio_port_stats(port)->rx_copies++;
	nio_port_stats(port)->rx_bytes += p->len;
}

static uint16_t afp_rx_burst(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
			     uint16_t max)
{
	struct afpacket *a = queue(port);
	uint64_t now = 0;
	uint16_t n = 0;

	while (n < max && rx_ready(a)) {
		const struct tpacket3_hdr *h =
			(const struct tpacket3_hdr *)(const void *)a->rx_next;
		struct nio_pkt *p;

		a->rx_next += h->tp_next_offset;
		if (!rx_skip(port, h)) {
			p = nio_pool_get(pool);
			if (p) {
				rx_copy(port, a, p, h);
				now = now ? now : nio_now_ns();
				p->ts_ns = now;
				pkts[n++] = p;
			} else {
				nio_port_stats(port)->drops[NIO_DROP_NO_BUFFER]++;
			}
		}
		if (!--a->rx_left)
			rx_block_done(a);
	}
	return n;
}

/* ---------------------------------------------------------------- TX */

/* The kernel never lets a frame straddle two blocks, so frames are addressed per block. */
static struct tpacket2_hdr *tx_slot(struct afpacket *a)
{
	unsigned block = a->tx.cur / a->tx.per_block, idx = a->tx.cur % a->tx.per_block;

	return (struct tpacket2_hdr *)(void *)(a->tx.map + (size_t)block * AFP_BLOCK +
					       (size_t)idx * a->tx.slot_size);
}

/* Hand every queued slot to the kernel; it walks the ring from where it stopped last time. */
static void tx_kick(struct afpacket *a)
{
	if (!a->tx_queued)
		return;
	a->tx_queued = false;
	/* EAGAIN/ENOBUFS leave slots queued for the next kick; nothing better to do here */
	(void)sendto(a->tx_fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

static void afp_flush(struct nio_port *port)
{
	tx_kick(queue(port));
}

/* The slot at cur is free, kicking the ring once if it was still queued. */
static bool tx_slot_free(struct afpacket *a, bool *kicked)
{
	/* acquire: pairs with the kernel's store of TP_STATUS_AVAILABLE when the skb is freed */
	if (__atomic_load_n(&tx_slot(a)->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_AVAILABLE)
		return true;
	if (*kicked)
		return false;
	*kicked = true;
	tx_kick(a);
	return __atomic_load_n(&tx_slot(a)->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_AVAILABLE;
}

/* Accepts a prefix of pkts (the caller counts bytes that way); the rest count as tx-full. */
static uint16_t afp_tx_burst(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	struct afpacket *a = queue(port);
	bool kicked = false;
	uint16_t i;

	for (i = 0; i < n && tx_slot_free(a, &kicked); i++) {
		struct tpacket2_hdr *h = tx_slot(a);

		memcpy((uint8_t *)h + AFP_TX_DATA, pkts[i]->data, pkts[i]->len);
		h->tp_len = pkts[i]->len;
		/* release: the frame is written before the kernel may see the request */
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		a->tx.cur = (a->tx.cur + 1) % a->tx.nslots;
		a->tx_queued = true;
		nio_port_stats(port)->tx_packets++;
		nio_port_stats(port)->tx_copies++;
		nio_port_stats(port)->tx_bytes += pkts[i]->len;
	}
	nio_port_stats(port)->drops[NIO_DROP_TX_FULL] += n - i;
	return i;
}

/* ---------------------------------------------------------------- open / close */

static int fail(char *err, size_t errlen, const struct nio_port *port, const char *what)
{
	snprintf(err, errlen, "%s: %s: %s", port->device, what, strerror(errno));
	return -1;
}

static int setopt(int fd, int level, int name, const void *v, socklen_t len)
{
	return setsockopt(fd, level, name, v, len);
}

static int set_int(int fd, int level, int name, int v)
{
	return setopt(fd, level, name, &v, sizeof(v));
}

static int ring_map(int fd, struct afp_ring *r)
{
	r->map = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -1;
	}
	return 0;
}

static int bind_dev(int fd, int ifindex, int proto)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons((uint16_t)proto),
		.sll_ifindex = ifindex,
	};

	return bind(fd, (struct sockaddr *)&sll, sizeof(sll));
}

static unsigned rx_blocks(const struct nio_port *port)
{
	unsigned frames = opts_of(port)->ring_frames;
	unsigned blocks = (unsigned)((uint64_t)frames * AFP_RX_FRAME / AFP_BLOCK);

	return blocks < AFP_MIN_BLOCKS ? AFP_MIN_BLOCKS : blocks;
}

/* Until every queue has joined the group a socket would get all frames: they drop them. */
static int drop_all(int fd)
{
	struct sock_filter ret0 = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &ret0 };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

/* The socket binds only once the ring exists, so no frame arrives before there is room. */
static int open_rx(struct nio_port *port, struct afpacket *a, bool fanout, char *err, size_t errlen)
{
	struct tpacket_req3 req = {
		.tp_block_size = AFP_BLOCK,
		.tp_block_nr = rx_blocks(port),
		.tp_frame_size = AFP_RX_FRAME,
		.tp_retire_blk_tov = opts_of(port)->block_timeout_ms,
	};

	req.tp_frame_nr = req.tp_block_nr * (AFP_BLOCK / AFP_RX_FRAME);
	a->rx.nslots = req.tp_block_nr;
	a->rx.slot_size = AFP_BLOCK;
	a->rx.size = (size_t)req.tp_block_nr * AFP_BLOCK;
	a->rx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (a->rx_fd < 0)
		return fail(err, errlen, port, "AF_PACKET socket");
	if (set_int(a->rx_fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3) < 0 ||
	    setopt(a->rx_fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		return fail(err, errlen, port, "TPACKET_V3 RX ring");
	if (ring_map(a->rx_fd, &a->rx) < 0)
		return fail(err, errlen, port, "mmap RX ring");
	if (set_int(a->rx_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) < 0)
		return fail(err, errlen, port, "PACKET_IGNORE_OUTGOING");
	if (fanout && drop_all(a->rx_fd) < 0)
		return fail(err, errlen, port, "SO_ATTACH_FILTER");
	if (bind_dev(a->rx_fd, port->ifindex, ETH_P_ALL) < 0)
		return fail(err, errlen, port, "bind RX socket");
	return 0;
}

/*
 * Protocol 0: this socket receives nothing. PACKET_LOSS makes the kernel skip a malformed
 * slot instead of stopping the ring. The send buffer bounds the bytes a driver may hold
 * before completing them, so it is sized to the ring.
 */
static int open_tx(struct nio_port *port, struct afpacket *a, char *err, size_t errlen)
{
	unsigned frames = opts_of(port)->ring_frames;
	unsigned per_block = AFP_BLOCK / AFP_TX_FRAME;
	struct tpacket_req req = {
		.tp_block_size = AFP_BLOCK,
		.tp_block_nr = (frames + per_block - 1) / per_block,
		.tp_frame_size = AFP_TX_FRAME,
	};

	req.tp_frame_nr = req.tp_block_nr * per_block;
	a->tx.nslots = req.tp_frame_nr;
	a->tx.slot_size = AFP_TX_FRAME;
	a->tx.per_block = per_block;
	a->tx.size = (size_t)req.tp_block_nr * AFP_BLOCK;
	a->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (a->tx_fd < 0)
		return fail(err, errlen, port, "AF_PACKET socket");
	if (set_int(a->tx_fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2) < 0 ||
	    set_int(a->tx_fd, SOL_PACKET, PACKET_LOSS, 1) < 0 ||
	    setopt(a->tx_fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0)
		return fail(err, errlen, port, "TPACKET_V2 TX ring");
	if (ring_map(a->tx_fd, &a->tx) < 0)
		return fail(err, errlen, port, "mmap TX ring");
	if (set_int(a->tx_fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)(a->tx.size / 2)) < 0)
		log_warn("port %s: SO_SNDBUFFORCE", port->name);
	if (bind_dev(a->tx_fd, port->ifindex, 0) < 0)
		return fail(err, errlen, port, "bind TX socket");
	return 0;
}

/* The kernel's figures since the last read (PACKET_STATISTICS resets them). */
static void ring_read(const struct afpacket *a, struct nio_ring_stats *out)
{
	struct tpacket_stats_v3 st = { 0 };
	socklen_t len = sizeof(st);

	if (getsockopt(a->rx_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
		return;
	out->rx_full += st.tp_drops;
	out->rx_freezes += st.tp_freeze_q_cnt;
}

/* Worker: its own queue's socket. */
static void afp_ring_stats(struct nio_port *port, struct nio_ring_stats *out)
{
	ring_read(queue(port), out);
}

/* What the port's counters cannot hold: the kernel's last ring-full drops and checksum work. */
static void log_totals(const struct nio_port *port, const struct afpacket *a)
{
	struct nio_ring_stats rs = { 0 };

	ring_read(a, &rs);
	if (rs.rx_full)
		log_info("port %s: the kernel dropped %llu frames since the last count: RX ring "
			 "full",
			 port->name, (unsigned long long)rs.rx_full);
	if (a->csum_done || a->csum_left)
		log_info("port %s: completed %llu offloaded checksums, left %llu (not TCP/UDP)",
			 port->name, (unsigned long long)a->csum_done,
			 (unsigned long long)a->csum_left);
}

static void queue_close(const struct nio_port *port, struct afpacket *a)
{
	if (a->rx_fd >= 0)
		log_totals(port, a);
	if (a->rx.map)
		munmap(a->rx.map, a->rx.size);
	if (a->tx.map)
		munmap(a->tx.map, a->tx.size);
	if (a->rx_fd >= 0)
		close(a->rx_fd);
	if (a->tx_fd >= 0)
		close(a->tx_fd);
}

static void afp_close(struct nio_port *port)
{
	struct afp_port *ap = port->priv;

	if (!ap)
		return;
	for (unsigned i = 0; i < ap->nq; i++)
		queue_close(port, &ap->q[i]);
	free(ap);
	port->priv = NULL;
}

/* The first queue creates a group with a kernel-chosen id, the others join it in order. */
static int join_fanout(struct nio_port *port, struct afp_port *ap, unsigned i, char *err,
		       size_t errlen)
{
	int v = PACKET_FANOUT_HASH << 16;
	socklen_t len = sizeof(v);

	if (i == 0)
		v |= PACKET_FANOUT_FLAG_UNIQUEID << 16;
	else
		v |= ap->q[0].fanout_id;
	if (setsockopt(ap->q[i].rx_fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof(v)) < 0)
		return fail(err, errlen, port, "PACKET_FANOUT");
	if (i == 0) {
		if (getsockopt(ap->q[0].rx_fd, SOL_PACKET, PACKET_FANOUT, &v, &len) < 0)
			return fail(err, errlen, port, "PACKET_FANOUT id");
		ap->q[0].fanout_id = v & 0xffff;
	}
	return 0;
}

static int queue_open(struct nio_port *port, struct afp_port *ap, unsigned i, char *err,
		      size_t errlen)
{
	struct afpacket *a = &ap->q[i];

	if (open_rx(port, a, ap->nq > 1, err, errlen) < 0 || open_tx(port, a, err, errlen) < 0)
		return -1;
	return ap->nq > 1 ? join_fanout(port, ap, i, err, errlen) : 0;
}

static int afp_open(struct nio_port *port, char *err, size_t errlen)
{
	unsigned nq = port->nqueues ? port->nqueues : 1;
	struct afp_port *ap = calloc(1, sizeof(*ap) + nq * sizeof(ap->q[0]));

	if (!ap)
		return fail(err, errlen, port, "calloc");
	ap->nq = nq;
	for (unsigned i = 0; i < nq; i++)
		ap->q[i].rx_fd = ap->q[i].tx_fd = -1;
	port->priv = ap;
	port->nqueues = nq;
	port->ifindex = (int)if_nametoindex(port->device);
	if (!port->ifindex) {
		fail(err, errlen, port, "no such device");
		goto err;
	}
	/* before the rings exist, so no merged frame is ever queued in them */
	if (nio_offloads_fix(port, opts_of(port)->offloads_refuse, err, errlen) < 0)
		goto err;
	for (unsigned i = 0; i < nq; i++)
		if (queue_open(port, ap, i, err, errlen) < 0)
			goto err;
	for (unsigned i = 0; nq > 1 && i < nq; i++)
		if (set_int(ap->q[i].rx_fd, SOL_SOCKET, SO_DETACH_FILTER, 0) < 0) {
			fail(err, errlen, port, "SO_DETACH_FILTER");
			goto err;
		}
	if (nio_dev_info(port, err, errlen) < 0)
		goto err;
	nio_dev_addrs(port);
	return 0;
err:
	afp_close(port);
	return -1;
}

static int afp_fd(struct nio_port *port)
{
	return queue(port)->rx_fd;
}

/* The device went down (ENETDOWN) or similar: reading SO_ERROR clears it, or poll() would
 * report it forever. The socket itself stays usable; the kernel rebinds it when the device
 * comes back up. */
static int afp_poll_error(struct nio_port *port)
{
	struct afpacket *a = queue(port);
	int e = 0;
	socklen_t len = sizeof(e);

	return getsockopt(a->rx_fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- configuration */

static const struct nio_opt afp_options[] = {
	{ .name = "ring-frames",
	  .type = NIO_OPT_INT,
	  .def = "4096",
	  .min = 64,
	  .max = 1 << 20,
	  .help = "frames the RX and TX rings of each queue hold" },
	{ .name = "block-timeout-ms",
	  .type = NIO_OPT_INT,
	  .def = "1",
	  .min = 1,
	  .max = 1000,
	  .help = "TPACKET_V3 block retire timeout: the added latency at low load" },
	{ .name = "kernel-forwarding",
	  .type = NIO_OPT_ENUM,
	  .flags = NIO_OPT_F_GLOBAL,
	  .def = "refuse",
	  .choices = "refuse|allow",
	  .help = "allow: start although the kernel forwards the device's traffic too" },
	{ .name = "offloads",
	  .type = NIO_OPT_ENUM,
	  .def = "disable",
	  .choices = "disable|refuse",
	  .help = "refuse: do not turn GRO/GSO off, refuse to start while they are on" },
	{ .name = NULL },
};

static int afp_parse(struct nio_port *port, const struct nio_conf *conf, char *err, size_t errlen)
{
	struct afp_opts *o = (struct afp_opts *)(void *)port->opts;

	(void)err;
	(void)errlen;
	o->ring_frames = (uint32_t)nio_conf_int(conf, "ring-frames");
	o->block_timeout_ms = (uint32_t)nio_conf_int(conf, "block-timeout-ms");
	o->kernel_fwd_allow = !strcmp(nio_conf_str(conf, "kernel-forwarding"), "allow");
	o->offloads_refuse = !strcmp(nio_conf_str(conf, "offloads"), "refuse");
	return 0;
}

static void afp_dump(const struct nio_port *port, FILE *out)
{
	if (opts_of(port)->kernel_fwd_allow)
		fprintf(out, " kernel-forwarding allow");
	if (opts_of(port)->offloads_refuse)
		fprintf(out, " offloads refuse");
}

/* Always there: the fallback of driver = "auto". */
static bool afp_probe(char *why, size_t len)
{
	(void)why;
	(void)len;
	return true;
}

/* A tap: unless allowed, the kernel must not forward what netiod forwards (taps.c). */
static int afp_check_host(const struct nio_config *c, const struct nio_port *port, char *err,
			  size_t errlen)
{
	return opts_of(port)->kernel_fwd_allow ? 0 : nio_tap_check_forwarding(c, port, err, errlen);
}

const struct nio_port_ops nio_port_afpacket_ops = {
	.name = "afpacket",
	/* packet sockets; SO_SNDBUFFORCE and turning GRO off (ethtool) */
	.caps = NIO_CAP(CAP_NET_RAW) | NIO_CAP(CAP_NET_ADMIN),
	.options = afp_options,
	.parse = afp_parse,
	.dump = afp_dump,
	.probe = afp_probe,
	.check_host = afp_check_host,
	.open = afp_open,
	.close = afp_close,
	.rx_burst = afp_rx_burst,
	.tx_burst = afp_tx_burst,
	.flush = afp_flush,
	.fd = afp_fd,
	.poll_error = afp_poll_error,
	.ring_stats = afp_ring_stats,
};

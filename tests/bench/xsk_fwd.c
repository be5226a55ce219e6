/*
 * The AF_XDP ceiling: the least an AF_XDP forwarder between two devices does. One UMEM shared
 * by the two devices' sockets (queue 0 each), xsk_fwd.bpf.o redirecting every IPv4 frame to
 * them; a received descriptor goes to the other device's TX ring with the frame rewritten in
 * place (afp_fwd's per-frame work), a TX kick only when need_wakeup asks, completed and
 * dropped buffers back to the fill rings. netiod's geometry: 4 KiB frames, 12288 buffers, fill
 * and RX rings of 4096, TX and completion rings of 2048.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <netio/csum.h>

#define FRAME 4096u
#define NBUFS 12288u
#define RX    4096u /* RX and fill rings */
#define TX    2048u /* TX and completion rings */
#define BATCH 64u

struct port {
	const char *dev;
	int ifindex;
	struct xdp_program *prog;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons rx, cq;
	uint8_t src[6], dst[6]; /* the MACs a frame leaving by this port gets */
	bool out;		/* frames may leave by this port (its next hop is known) */
};

/* What the loop did, in a file vethbench reads while it runs (-c). */
struct counters {
	uint64_t rx, tx, dropped, kicks;
};

static volatile sig_atomic_t stop;
static uint8_t *umem_mem;
static uint64_t free_stack[NBUFS]; /* free buffers, most recently freed on top */
static unsigned nfree;
static unsigned fill_depth = RX; /* -d: buffers kept in each fill ring */
static struct counters local, *cnt = &local;

static void on_signal(int sig)
{
	stop = sig;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "xsk_fwd: %s: %s\n", what, strerror(err));
	exit(1);
}

static void put_buf(uint64_t addr)
{
	free_stack[nfree++] = addr & ~(uint64_t)(FRAME - 1);
}

/* The same per-frame work as netiod's output: MACs rewritten, IPv4 TTL and checksum updated
 * (the XDP program redirects only IPv4). */
static void rewrite(uint8_t *f, uint32_t len, const struct port *out)
{
	uint8_t *ip = f + ETH_HLEN;
	uint16_t old, sum;

	memcpy(f, out->dst, 6);
	memcpy(f + 6, out->src, 6);
	if (len < ETH_HLEN + 20)
		return;
	old = (uint16_t)(ip[8] << 8 | ip[9]);
	ip[8]--;
	sum = nio_csum_update16((uint16_t)(ip[10] << 8 | ip[11]), old,
				(uint16_t)(ip[8] << 8 | ip[9]));
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
}

/* ---------------------------------------------------------------- the loop */

/* Keep the fill ring at fill_depth buffers, from the top of the free stack. */
static void refill(struct port *p)
{
	uint32_t in_ring = RX - xsk_prod_nb_free(&p->fq, RX), want, idx;

	if (in_ring + BATCH > fill_depth)
		return;
	want = fill_depth - in_ring;
	want = want < nfree ? want : nfree;
	if (!want || xsk_ring_prod__reserve(&p->fq, want, &idx) != want)
		return;
	for (uint32_t i = 0; i < want; i++)
		*xsk_ring_prod__fill_addr(&p->fq, idx + i) = free_stack[--nfree];
	xsk_ring_prod__submit(&p->fq, want);
}

static void reap(struct port *p)
{
	uint32_t idx, n = xsk_ring_cons__peek(&p->cq, TX, &idx);

	for (uint32_t i = 0; i < n; i++)
		put_buf(*xsk_ring_cons__comp_addr(&p->cq, idx + i));
	if (n)
		xsk_ring_cons__release(&p->cq, n);
}

/* Copy mode sends at most 32 frames per sendto (the kernel's TX_BATCH_SIZE): kick until the
 * ring is empty, bounded by its size. */
static void kick(struct port *p)
{
	for (unsigned i = 0; i < TX / 32 + 1 && xsk_ring_prod__needs_wakeup(&p->tx); i++) {
		/* acquire: pairs with the kernel's release of the consumer index */
		if (p->tx.cached_prod == __atomic_load_n(p->tx.consumer, __ATOMIC_ACQUIRE))
			break;
		if (sendto(xsk_socket__fd(p->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN)
			break;
		cnt->kicks++;
	}
}

/* One burst received on in, sent by out (or, rxonly or no next hop, recycled); frames seen. */
static uint32_t forward(struct port *in, struct port *out, bool rxonly)
{
	uint32_t ri, ti = 0, n = xsk_ring_cons__peek(&in->rx, BATCH, &ri), room = 0;

	if (!n)
		return 0;
	if (!rxonly && out->out)
		room = xsk_ring_prod__reserve(&out->tx, n, &ti);
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&in->rx, ri + i);
		struct xdp_desc *t;

		if (i >= room) {
			put_buf(d->addr);
			continue;
		}
		rewrite(xsk_umem__get_data(umem_mem, d->addr), d->len, out);
		t = xsk_ring_prod__tx_desc(&out->tx, ti + i);
		t->addr = d->addr;
		t->len = d->len;
		t->options = 0;
	}
	xsk_ring_cons__release(&in->rx, n);
	if (room)
		xsk_ring_prod__submit(&out->tx, room);
	__atomic_store_n(&cnt->rx, cnt->rx + n, __ATOMIC_RELAXED);
	__atomic_store_n(&cnt->tx, cnt->tx + room, __ATOMIC_RELAXED);
	__atomic_store_n(&cnt->dropped, cnt->dropped + n - room, __ATOMIC_RELAXED);
	return n;
}

/* An idle turn: poll(2) the sockets (a wake-up per frame at low rates), or with -n a nap of
 * that many us, so that at high rates each turn finds a batch (a NIC's interrupt moderation). */
static void idle(struct pollfd *pfd, unsigned nap_us)
{
	struct timespec ts = { .tv_nsec = (long)nap_us * 1000 };

	if (nap_us)
		(void)nanosleep(&ts, NULL);
	else
		(void)poll(pfd, 2, 100);
}

static void run(struct port *a, struct port *b, bool rxonly, bool busy, unsigned nap_us)
{
	struct pollfd pfd[2] = { { .fd = xsk_socket__fd(a->xsk), .events = POLLIN },
				 { .fd = xsk_socket__fd(b->xsk), .events = POLLIN } };

	while (!stop) {
		uint32_t n = forward(a, b, rxonly) + forward(b, a, rxonly);

		kick(a);
		kick(b);
		reap(a);
		reap(b);
		refill(a);
		refill(b);
		if (!n && !busy)
			idle(pfd, nap_us);
	}
}

/* ---------------------------------------------------------------- setup */

static struct xsk_umem *umem_create(struct xsk_ring_prod *fq, struct xsk_ring_cons *cq)
{
	struct xsk_umem_config cfg = { .fill_size = RX, .comp_size = TX, .frame_size = FRAME };
	struct xsk_umem *umem;
	int rc;

	umem_mem = mmap(NULL, (size_t)NBUFS * FRAME, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (umem_mem == MAP_FAILED)
		die("mmap UMEM", errno);
	rc = xsk_umem__create(&umem, umem_mem, (size_t)NBUFS * FRAME, fq, cq, &cfg);
	if (rc < 0)
		die("xsk_umem__create", -rc);
	for (unsigned i = NBUFS; i-- > 0;)
		put_buf((uint64_t)i * FRAME);
	return umem;
}

static void own_mac(const char *dev, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		die(dev, errno);
	close(fd);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

/* xsk_fwd.bpf.o beside this binary, attached natively; its socket map's fd. */
static int attach(struct port *p)
{
	char path[PATH_MAX], self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int rc;

	if (len < 0)
		die("/proc/self/exe", errno);
	self[len] = 0;
	snprintf(path, sizeof(path), "%s/xsk_fwd.bpf.o", dirname(self));
	p->prog = xdp_program__open_file(path, "xdp", NULL);
	if (libxdp_get_error(p->prog))
		die(path, (int)-libxdp_get_error(p->prog));
	rc = xdp_program__attach(p->prog, p->ifindex, XDP_MODE_NATIVE, 0);
	if (rc < 0)
		die("attach XDP program", -rc);
	return bpf_object__find_map_fd_by_name(xdp_program__bpf_obj(p->prog), "xsks");
}

/* The port's socket on queue 0 of its device, on the shared UMEM. */
static void port_open(struct port *p, struct xsk_umem *umem)
{
	struct xsk_socket_config cfg = { .rx_size = RX,
					 .tx_size = TX,
					 .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					 .bind_flags = XDP_USE_NEED_WAKEUP };
	int map, fd, rc, key = 0;

	p->ifindex = (int)if_nametoindex(p->dev);
	if (!p->ifindex)
		die(p->dev, errno);
	own_mac(p->dev, p->src);
	map = attach(p);
	rc = xsk_socket__create_shared(&p->xsk, p->dev, 0, umem, &p->rx, &p->tx, &p->fq, &p->cq,
				       &cfg);
	if (rc < 0)
		die("AF_XDP socket", -rc);
	fd = xsk_socket__fd(p->xsk);
	if (map < 0 || bpf_map_update_elem(map, &key, &fd, 0) < 0)
		die("XSK map", errno);
}

static void port_close(struct port *p)
{
	struct xdp_statistics st = { 0 };
	socklen_t len = sizeof(st);

	if (getsockopt(xsk_socket__fd(p->xsk), SOL_XDP, XDP_STATISTICS, &st, &len) == 0)
		fprintf(stderr,
			"xsk_fwd: %s: kernel dropped %llu (RX ring full %llu, fill ring empty "
			"%llu)\n",
			p->dev, (unsigned long long)st.rx_dropped,
			(unsigned long long)st.rx_ring_full,
			(unsigned long long)st.rx_fill_ring_empty_descs);
	xsk_socket__delete(p->xsk);
	xdp_program__detach(p->prog, p->ifindex, XDP_MODE_NATIVE, 0);
	xdp_program__close(p->prog);
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6;
}

/* -c FILE: the counters live in FILE (mapped), so another process can read them live. */
static void map_counters(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, sizeof(*cnt)) < 0)
		die(path, errno);
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (cnt == MAP_FAILED)
		die(path, errno);
	close(fd);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xsk_fwd [-r] [-b | -n US] [-d DEPTH] [-c FILE] DEV-A DEV-B B-NEXT-HOP-MAC "
		"[A-NEXT-HOP-MAC]\n"
		"  frames from A leave by B (and from B by A if A's next hop is given)\n"
		"  -r receive and recycle only, -b never sleep, -n US nap US (<= 100000) when\n"
		"  idle instead of poll(2), -d buffers per fill ring (64-%u),\n"
		"  -c FILE the counters rx, tx, dropped, kicks (4 x u64) kept in FILE\n",
		RX);
	exit(2);
}

int main(int argc, char **argv)
{
	struct port a = { 0 }, b = { .out = true };
	bool rxonly = false, busy = false;
	unsigned nap_us = 0;
	struct xsk_umem *umem;
	int opt;

	while ((opt = getopt(argc, argv, "rbn:d:c:")) != -1) {
		switch (opt) {
		case 'r':
			rxonly = true;
			break;
		case 'b':
			busy = true;
			break;
		case 'n':
			nap_us = (unsigned)atoi(optarg);
			break;
		case 'd':
			fill_depth = (unsigned)atoi(optarg);
			break;
		case 'c':
			map_counters(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 3 || argc - optind > 4 || fill_depth < BATCH || fill_depth > RX ||
	    nap_us > 100000 || !parse_mac(argv[optind + 2], b.dst) ||
	    (argc - optind == 4 && !(a.out = parse_mac(argv[optind + 3], a.dst))))
		usage();
	a.dev = argv[optind];
	b.dev = argv[optind + 1];
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	/* the UMEM's rings are the first socket's */
	umem = umem_create(&a.fq, &a.cq);
	port_open(&a, umem);
	port_open(&b, umem);
	refill(&a);
	refill(&b);
	fprintf(stderr, "xsk_fwd: ready\n");
	run(&a, &b, rxonly, busy, nap_us);
	fprintf(stderr, "xsk_fwd: received %llu, sent %llu, dropped %llu, kicks %llu\n",
		(unsigned long long)cnt->rx, (unsigned long long)cnt->tx,
		(unsigned long long)cnt->dropped, (unsigned long long)cnt->kicks);
	port_close(&a);
	port_close(&b);
	xsk_umem__delete(umem);
	return 0;
}

/* The afpacket ceiling: a bare TPACKET_V3 RX ring to TPACKET_V2 TX ring forwarder, netiod's geometry. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
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
#include <unistd.h>

#include <netio/csum.h>

#define FRAMES	 4096u
#define RX_FRAME 2048u
#define BLOCK	 (1u << 16)
#define TX_DATA	 (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define TX_FRAME TPACKET_ALIGN(TX_DATA + 2560u) /* a netiod packet buffer per slot */
#define RX_HDR	 TPACKET_ALIGN(sizeof(struct tpacket3_hdr))

struct ring {
	int fd;
	uint8_t *map;
	unsigned nslots, per_block, cur;
};

static volatile sig_atomic_t stop;
static uint64_t fwd, tx_full;

static void on_signal(int sig)
{
	stop = sig;
}

static void die(const char *what)
{
	fprintf(stderr, "afp_fwd: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void bind_dev(int fd, const char *dev, int proto)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons((uint16_t)proto),
				   .sll_ifindex = (int)if_nametoindex(dev) };

	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die(dev);
}

static void set_int(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)) < 0)
		die("setsockopt");
}

static void open_rx(struct ring *r, const char *dev)
{
	struct tpacket_req3 req = { .tp_block_size = BLOCK,
				    .tp_block_nr = FRAMES * RX_FRAME / BLOCK,
				    .tp_frame_size = RX_FRAME,
				    .tp_frame_nr = FRAMES,
				    .tp_retire_blk_tov = 1 };

	r->fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (r->fd < 0)
		die("socket");
	set_int(r->fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3);
	if (setsockopt(r->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		die("PACKET_RX_RING");
	r->nslots = req.tp_block_nr;
	r->map =
		mmap(NULL, (size_t)r->nslots * BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->map == MAP_FAILED)
		die("mmap RX");
	set_int(r->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
	bind_dev(r->fd, dev, ETH_P_ALL);
}

static void open_tx(struct ring *r, const char *dev)
{
	struct tpacket_req req = { .tp_block_size = BLOCK, .tp_frame_size = TX_FRAME };

	r->per_block = BLOCK / TX_FRAME;
	req.tp_block_nr = (FRAMES + r->per_block - 1) / r->per_block;
	req.tp_frame_nr = req.tp_block_nr * r->per_block;
	r->nslots = req.tp_frame_nr;
	r->fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (r->fd < 0)
		die("socket");
	set_int(r->fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2);
	set_int(r->fd, SOL_PACKET, PACKET_LOSS, 1);
	if (setsockopt(r->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0)
		die("PACKET_TX_RING");
	r->map = mmap(NULL, (size_t)req.tp_block_nr * BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->fd, 0);
	if (r->map == MAP_FAILED)
		die("mmap TX");
	set_int(r->fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)(req.tp_block_nr * BLOCK / 2));
	bind_dev(r->fd, dev, 0);
}

static struct tpacket_block_desc *rx_block(const struct ring *r)
{
	return (struct tpacket_block_desc *)(void *)(r->map + (size_t)r->cur * BLOCK);
}

static struct tpacket2_hdr *tx_slot(const struct ring *r)
{
	return (struct tpacket2_hdr *)(void *)(r->map + (size_t)(r->cur / r->per_block) * BLOCK +
					       (size_t)(r->cur % r->per_block) * TX_FRAME);
}

static void kick(const struct ring *tx)
{
	(void)sendto(tx->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

/* The same per-frame work as netiod's output: MACs rewritten, IPv4 TTL and checksum updated. */
static void rewrite(uint8_t *f, const uint8_t dst[6], const uint8_t src[6])
{
	uint8_t *ip = f + ETH_HLEN;
	uint16_t old = (uint16_t)(ip[8] << 8 | ip[9]), sum;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (f[12] != 0x08 || f[13] != 0x00)
		return;
	ip[8]--;
	sum = nio_csum_update16((uint16_t)(ip[10] << 8 | ip[11]), old,
				(uint16_t)(ip[8] << 8 | ip[9]));
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
}

static void forward_one(struct ring *tx, const struct tpacket3_hdr *h, const uint8_t dst[6],
			const uint8_t src[6])
{
	const struct sockaddr_ll *sll =
		(const struct sockaddr_ll *)(const void *)((const uint8_t *)h + RX_HDR);
	struct tpacket2_hdr *slot = tx_slot(tx);

	if (sll->sll_pkttype == PACKET_OUTGOING || sll->sll_pkttype == PACKET_OTHERHOST ||
	    h->tp_snaplen < ETH_HLEN + 20 || h->tp_snaplen > 2560)
		return;
	/* acquire: pairs with the kernel's release of the slot once the skb is freed */
	if (__atomic_load_n(&slot->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
		kick(tx);
		tx_full++;
		return;
	}
	memcpy((uint8_t *)slot + TX_DATA, (const uint8_t *)h + h->tp_mac, h->tp_snaplen);
	rewrite((uint8_t *)slot + TX_DATA, dst, src);
	slot->tp_len = h->tp_snaplen;
	/* release: the frame is written before the kernel may see the request */
	__atomic_store_n(&slot->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
	tx->cur = (tx->cur + 1) % tx->nslots;
	fwd++;
}

/* Forward every frame of one retired block, then hand the block back and kick the TX ring. */
static bool forward_block(struct ring *rx, struct ring *tx, const uint8_t dst[6],
			  const uint8_t src[6])
{
	struct tpacket_block_desc *b = rx_block(rx);
	const uint8_t *next;

	/* acquire: pairs with the kernel's release when it retires the block */
	if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
		return false;
	next = (const uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
	for (uint32_t i = 0; i < b->hdr.bh1.num_pkts; i++) {
		const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)(const void *)next;

		forward_one(tx, h, dst, src);
		next += h->tp_next_offset;
	}
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	rx->cur = (rx->cur + 1) % rx->nslots;
	kick(tx);
	return true;
}

static void own_mac(const char *dev, int fd, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		die("SIOCGIFHWADDR");
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

int main(int argc, char **argv)
{
	struct ring rx = { 0 }, tx = { 0 };
	uint8_t dst[6], src[6];

	if (argc != 4 || sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst[0], &dst[1], &dst[2],
				&dst[3], &dst[4], &dst[5]) != 6) {
		fprintf(stderr, "usage: afp_fwd IN-DEV OUT-DEV NEXT-HOP-MAC\n");
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	open_rx(&rx, argv[1]);
	open_tx(&tx, argv[2]);
	own_mac(argv[2], tx.fd, src);
	while (!stop) {
		struct pollfd pfd = { .fd = rx.fd, .events = POLLIN };

		if (!forward_block(&rx, &tx, dst, src))
			(void)poll(&pfd, 1, 100);
	}
	fprintf(stderr, "afp_fwd: forwarded %llu, tx-full %llu\n", (unsigned long long)fwd,
		(unsigned long long)tx_full);
	return 0;
}

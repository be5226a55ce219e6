/* VM test tool for netio.ko: bindings and claims over netlink, a ring forwarder, a hostile
 * ring writer, and a UDP sender/counter for the traffic that proves them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <netio/ring.h>
#include <netio/uapi.h>

struct nl {
	struct nl_sock *sk;
	int family;
	int err; /* negative errno of the last request */
	char msg[256];
};

/* A mapped buffer region with this process's free list (buffers no ring or skb holds). */
struct region {
	uint32_t id, nbufs, buf_size;
	uint8_t *mem;
	size_t size;
	uint32_t *free, nfree;
};

struct port {
	int fd;	      /* the file serving the queue the rings below belong to */
	int owner_fd; /* the owner's file (queue 0's), when that is another */
	uint32_t id;
	uint8_t *map;
	size_t size;
	struct nio_map_info info; /* private copy: the mapping may be scribbled on */
	struct nio_ring *rx, *fill, *tx, *comp;
	struct region *reg;
	uint32_t rx_tail, fill_head, tx_head, comp_tail;
};

static struct nl nl;

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "nioring: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *errname(int e)
{
	switch (e) {
	case EBUSY:
		return "EBUSY";
	case EPERM:
		return "EPERM";
	case EINVAL:
		return "EINVAL";
	case ENOENT:
		return "ENOENT";
	case ENODEV:
		return "ENODEV";
	default:
		return strerror(e);
	}
}

/* ---------------------------------------------------------------- netlink */

static int nl_on_err(struct sockaddr_nl *sa, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *h = (struct nlmsghdr *)e - 1;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*e));

	nl.err = e->error;
	*(int *)arg = 1;
	nl.msg[0] = 0;
	if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && (int)h->nlmsg_len > off &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)h + off),
		       (int)h->nlmsg_len - off, NULL) &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(nl.msg, sizeof(nl.msg), "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static void nl_open(void)
{
	int one = 1;

	nl.sk = nl_socket_alloc();
	if (!nl.sk || genl_connect(nl.sk))
		die("%s", "cannot open a generic netlink socket");
	setsockopt(nl_socket_get_fd(nl.sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl.sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	nl.family = genl_ctrl_resolve(nl.sk, NETIO_GENL_NAME);
	if (nl.family < 0)
		die("%s", "no generic netlink family netio (module not loaded?)");
}

static struct nl_msg *nl_req(int cmd, int flags)
{
	struct nl_msg *m = nlmsg_alloc();

	if (!m || !genlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, nl.family, 0, flags, cmd,
			       NETIO_GENL_VERSION))
		die("%s", "out of memory");
	return m;
}

static int nl_on_done(struct nl_msg *m, void *arg)
{
	*(int *)arg = 1;
	return NL_STOP;
}

/* Send m, feed every reply to cb until the ACK or the dump's end; returns 0 or the negative
 * errno the kernel sent. */
static int nl_exec(struct nl_msg *m, int (*cb)(struct nl_msg *, void *), void *arg)
{
	struct nl_cb *c = nl_cb_alloc(NL_CB_DEFAULT);
	int err, done = 0;

	nl.err = 0;
	nl.msg[0] = 0;
	nl_cb_err(c, NL_CB_CUSTOM, nl_on_err, &done);
	nl_cb_set(c, NL_CB_ACK, NL_CB_CUSTOM, nl_on_done, &done);
	nl_cb_set(c, NL_CB_FINISH, NL_CB_CUSTOM, nl_on_done, &done);
	if (cb)
		nl_cb_set(c, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
	err = nl_send_auto(nl.sk, m);
	while (err >= 0 && !done && !nl.err)
		err = nl_recvmsgs(nl.sk, c);
	nl_cb_put(c);
	nlmsg_free(m);
	if (nl.err)
		return nl.err;
	return err < 0 ? -EIO : 0;
}

static void nl_fail(const char *what, int err)
{
	fprintf(stderr, "nioring: %s: %s%s%s\n", what, errname(-err), nl.msg[0] ? ": " : "",
		nl.msg);
	exit(2);
}

struct bind_info {
	uint32_t id, owner, hold_ms, hold_state, stats_n, region, queues;
	uint64_t queue_rx[NETIO_QUEUES_MAX];
	uint64_t map_size;
	uint64_t stats[NETIO_STAT_MAX + 1];
	uint64_t kept[NETIO_KEPT_MAX + 1];
};

static int on_bind(struct nl_msg *m, void *arg)
{
	struct bind_info *bi = arg;
	struct nlattr *tb[NETIO_A_MAX + 1], *st[NETIO_STAT_MAX + 1], *kt[NETIO_KEPT_MAX + 1];
	int i;

	if (genlmsg_parse(nlmsg_hdr(m), 0, tb, NETIO_A_MAX, NULL) || !tb[NETIO_A_BIND_ID])
		return NL_SKIP;
	bi->id = nla_get_u32(tb[NETIO_A_BIND_ID]);
	bi->owner = tb[NETIO_A_OWNER_PID] ? nla_get_u32(tb[NETIO_A_OWNER_PID]) : 0;
	bi->hold_ms = tb[NETIO_A_HOLD_MS] ? nla_get_u32(tb[NETIO_A_HOLD_MS]) : 0;
	bi->hold_state = tb[NETIO_A_HOLD_STATE] ? nla_get_u32(tb[NETIO_A_HOLD_STATE]) : 0;
	bi->map_size = tb[NETIO_A_MAP_SIZE] ? nla_get_u64(tb[NETIO_A_MAP_SIZE]) : 0;
	bi->region = tb[NETIO_A_REGION_ID] ? nla_get_u32(tb[NETIO_A_REGION_ID]) : 0;
	bi->queues = tb[NETIO_A_QUEUES] ? nla_get_u32(tb[NETIO_A_QUEUES]) : 0;
	if (tb[NETIO_A_QUEUE_RX]) {
		struct nlattr *q;
		int rem;

		nla_for_each_nested (q, tb[NETIO_A_QUEUE_RX], rem)
			if (nla_type(q) >= 1 && nla_type(q) <= NETIO_QUEUES_MAX)
				bi->queue_rx[nla_type(q) - 1] = nla_get_u64(q);
	}
	if (tb[NETIO_A_KEPT] && !nla_parse_nested(kt, NETIO_KEPT_MAX, tb[NETIO_A_KEPT], NULL))
		for (i = 1; i <= NETIO_KEPT_MAX; i++)
			bi->kept[i] = kt[i] ? nla_get_u64(kt[i]) : 0;
	if (tb[NETIO_A_STATS] && !nla_parse_nested(st, NETIO_STAT_MAX, tb[NETIO_A_STATS], NULL))
		for (i = 1; i <= NETIO_STAT_MAX; i++)
			bi->stats[i] = st[i] ? nla_get_u64(st[i]) : 0;
	return NL_OK;
}

static struct bind_info get_bind(uint32_t id)
{
	struct nl_msg *m = nl_req(NETIO_CMD_GET_BIND, 0);
	struct bind_info bi = { 0 };
	int err;

	nla_put_u32(m, NETIO_A_BIND_ID, id);
	err = nl_exec(m, on_bind, &bi);
	if (err)
		nl_fail("get binding", err);
	return bi;
}

/* ---------------------------------------------------------------- claims */

static int parse_range(const char *v, uint16_t *lo, uint16_t *hi)
{
	unsigned a, b;

	/* low > high is passed on: refusing it is the kernel's job */
	if (sscanf(v, "%u-%u", &a, &b) == 2 && a <= 65535 && b <= 65535) {
		*lo = a;
		*hi = b;
		return 0;
	}
	if (sscanf(v, "%u", &a) == 1 && a <= 65535) {
		*lo = *hi = a;
		return 0;
	}
	return -1;
}

static int put_prefix(struct nl_msg *m, const char *v, int addr_attr, int plen_attr,
		      uint8_t *family)
{
	char buf[64], *slash;
	uint8_t a[16];
	int fam;

	snprintf(buf, sizeof(buf), "%s", v);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, buf, a) != 1)
		return -1;
	*family = fam;
	nla_put(m, addr_attr, fam == AF_INET ? 4 : 16, a);
	if (slash)
		nla_put_u8(m, plen_attr, (uint8_t)atoi(slash));
	return 0;
}

static uint8_t parse_proto(const char *v)
{
	if (!strcmp(v, "udp"))
		return 17;
	if (!strcmp(v, "tcp"))
		return 6;
	return !strcmp(v, "any") ? 0 : (uint8_t)atoi(v);
}

/* One claim "id=1,proto=udp,src=P/L,dst=P/L,sport=A-B,dport=A-B,mode=secure|passthrough". */
static void put_claim(struct nl_msg *m, const char *spec)
{
	struct nlattr *c = nla_nest_start(m, 0);
	char buf[256], *tok, *save = NULL;
	uint8_t family = 0;
	uint16_t lo, hi;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *v = strchr(tok, '=');

		if (!v)
			die("bad claim item %s", tok);
		*v++ = 0;
		if (!strcmp(tok, "id"))
			nla_put_u16(m, NETIO_CLAIM_A_ID, (uint16_t)atoi(v));
		else if (!strcmp(tok, "proto"))
			nla_put_u8(m, NETIO_CLAIM_A_PROTO, parse_proto(v));
		else if (!strcmp(tok, "src") &&
			 !put_prefix(m, v, NETIO_CLAIM_A_SRC, NETIO_CLAIM_A_SRC_PLEN, &family))
			;
		else if (!strcmp(tok, "dst") &&
			 !put_prefix(m, v, NETIO_CLAIM_A_DST, NETIO_CLAIM_A_DST_PLEN, &family))
			;
		else if (!strcmp(tok, "sport") && !parse_range(v, &lo, &hi)) {
			nla_put_u16(m, NETIO_CLAIM_A_SPORT_LO, lo);
			nla_put_u16(m, NETIO_CLAIM_A_SPORT_HI, hi);
		} else if (!strcmp(tok, "dport") && !parse_range(v, &lo, &hi)) {
			nla_put_u16(m, NETIO_CLAIM_A_DPORT_LO, lo);
			nla_put_u16(m, NETIO_CLAIM_A_DPORT_HI, hi);
		} else if (!strcmp(tok, "mode"))
			nla_put_u8(m, NETIO_CLAIM_A_FAIL_MODE,
				   strcmp(v, "passthrough") ? NETIO_FAIL_SECURE
							    : NETIO_FAIL_PASSTHROUGH);
		else
			die("bad claim item %s", tok);
	}
	if (family)
		nla_put_u8(m, NETIO_CLAIM_A_FAMILY, family);
	nla_nest_end(m, c);
}

/* "ADDR/PLEN" of a claim's prefix attribute, or "any". */
static const char *claim_prefix(struct nlattr **c, int addr_attr, int plen_attr, char *buf,
				size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!c[addr_attr] || !c[plen_attr])
		return "any";
	inet_ntop(nla_len(c[addr_attr]) == 4 ? AF_INET : AF_INET6, nla_data(c[addr_attr]), a,
		  sizeof(a));
	snprintf(buf, len, "%s/%u", a, nla_get_u8(c[plen_attr]));
	return buf;
}

/* One line per claim: "claim ID" then key value pairs, counters first. */
static int on_claims(struct nl_msg *m, void *arg)
{
	struct nlattr *tb[NETIO_A_MAX + 1], *c[NETIO_CLAIM_A_MAX + 1], *nest;
	char src[64], dst[64];
	int rem;

	if (genlmsg_parse(nlmsg_hdr(m), 0, tb, NETIO_A_MAX, NULL) || !tb[NETIO_A_CLAIMS])
		return NL_SKIP;
	for (nest = nla_data(tb[NETIO_A_CLAIMS]), rem = nla_len(tb[NETIO_A_CLAIMS]);
	     nla_ok(nest, rem); nest = nla_next(nest, &rem)) {
		if (nla_parse_nested(c, NETIO_CLAIM_A_MAX, nest, NULL) || !c[NETIO_CLAIM_A_ID])
			continue;
		printf("claim %u packets %" PRIu64 " queued %" PRIu64 " dropped %" PRIu64
		       " passed %" PRIu64 " family %u proto %u src %s dst %s sport %u-%u"
		       " dport %u-%u mode %s kept %" PRIu64 "\n",
		       nla_get_u16(c[NETIO_CLAIM_A_ID]), nla_get_u64(c[NETIO_CLAIM_A_PACKETS]),
		       nla_get_u64(c[NETIO_CLAIM_A_QUEUED]), nla_get_u64(c[NETIO_CLAIM_A_DROPPED]),
		       nla_get_u64(c[NETIO_CLAIM_A_PASSED]), nla_get_u8(c[NETIO_CLAIM_A_FAMILY]),
		       nla_get_u8(c[NETIO_CLAIM_A_PROTO]),
		       claim_prefix(c, NETIO_CLAIM_A_SRC, NETIO_CLAIM_A_SRC_PLEN, src, sizeof(src)),
		       claim_prefix(c, NETIO_CLAIM_A_DST, NETIO_CLAIM_A_DST_PLEN, dst, sizeof(dst)),
		       nla_get_u16(c[NETIO_CLAIM_A_SPORT_LO]),
		       nla_get_u16(c[NETIO_CLAIM_A_SPORT_HI]),
		       nla_get_u16(c[NETIO_CLAIM_A_DPORT_LO]),
		       nla_get_u16(c[NETIO_CLAIM_A_DPORT_HI]),
		       nla_get_u8(c[NETIO_CLAIM_A_FAIL_MODE]) == NETIO_FAIL_PASSTHROUGH
			       ? "passthrough"
			       : "secure",
		       c[NETIO_CLAIM_A_KEPT] ? nla_get_u64(c[NETIO_CLAIM_A_KEPT]) : 0);
	}
	return NL_OK;
}

/* ---------------------------------------------------------------- commands: control */

static int cmd_bind(int argc, char **argv)
{
	struct nl_msg *m = nl_req(NETIO_CMD_BIND, 0);
	struct bind_info bi = { 0 };
	int err;

	if (argc < 4)
		die("%s",
		    "usage: bind IFNAME NAME HOLD_MS [SLOTS [BUF_SIZE [REGION_OF_ID [HEADROOM]]]]");
	nla_put_u32(m, NETIO_A_IFINDEX, if_nametoindex(argv[2]));
	nla_put_string(m, NETIO_A_BIND_NAME, argv[3]);
	nla_put_u32(m, NETIO_A_HOLD_MS, argc > 4 ? (uint32_t)atoi(argv[4]) : 60000);
	if (argc > 5) {
		nla_put_u32(m, NETIO_A_RX_SLOTS, (uint32_t)atoi(argv[5]));
		nla_put_u32(m, NETIO_A_TX_SLOTS, (uint32_t)atoi(argv[5]));
	}
	if (argc > 6 && atoi(argv[6]))
		nla_put_u32(m, NETIO_A_BUF_SIZE, (uint32_t)atoi(argv[6]));
	if (argc > 7 && atoi(argv[7]))
		nla_put_u32(m, NETIO_A_REGION_OF, (uint32_t)atoi(argv[7]));
	if (argc > 8)
		nla_put_u32(m, NETIO_A_HEADROOM, (uint32_t)atoi(argv[8]));
	if (getenv("NIORING_QUEUES"))
		nla_put_u32(m, NETIO_A_QUEUES, (uint32_t)atoi(getenv("NIORING_QUEUES")));
	err = nl_exec(m, on_bind, &bi);
	if (err)
		nl_fail("bind", err);
	printf("%u\n", bi.id);
	return 0;
}

static int cmd_unbind(int argc, char **argv)
{
	struct nl_msg *m = nl_req(NETIO_CMD_UNBIND, 0);
	int err;

	nla_put_u32(m, NETIO_A_BIND_ID, (uint32_t)atoi(argv[2]));
	err = nl_exec(m, NULL, NULL);
	if (err)
		nl_fail("unbind", err);
	return 0;
}

static int cmd_claims(int argc, char **argv)
{
	struct nl_msg *m = nl_req(NETIO_CMD_SET_CLAIMS, 0);
	struct nlattr *list;
	int i, err;

	nla_put_u32(m, NETIO_A_BIND_ID, (uint32_t)atoi(argv[2]));
	list = nla_nest_start(m, NETIO_A_CLAIMS);
	for (i = 3; i < argc; i++)
		put_claim(m, argv[i]);
	nla_nest_end(m, list);
	err = nl_exec(m, NULL, NULL);
	if (err)
		nl_fail("set claims", err);
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	static const char *const names[] = {
		[NETIO_STAT_RX_PACKETS] = "rx_packets",
		[NETIO_STAT_RX_BYTES] = "rx_bytes",
		[NETIO_STAT_RX_FULL] = "rx_full",
		[NETIO_STAT_RX_TRUNC] = "rx_trunc",
		[NETIO_STAT_TX_PACKETS] = "tx_packets",
		[NETIO_STAT_TX_BYTES] = "tx_bytes",
		[NETIO_STAT_TX_BAD_DESC] = "tx_bad_desc",
		[NETIO_STAT_TX_ERRORS] = "tx_errors",
		[NETIO_STAT_RX_EXPIRED] = "rx_expired",
		[NETIO_STAT_RX_NOBUF] = "rx_nobuf",
		[NETIO_STAT_FILL_BAD] = "fill_bad",
		[NETIO_STAT_TX_ZEROCOPY] = "tx_zerocopy",
		[NETIO_STAT_TX_COPIED] = "tx_copied",
		[NETIO_STAT_TX_INFLIGHT] = "tx_inflight",
		[NETIO_STAT_COMP_LOST] = "comp_lost",
		[NETIO_STAT_TX_KICKS] = "tx_kicks",
		[NETIO_STAT_TX_POLLS] = "tx_polls",
		[NETIO_STAT_TX_PATH_COPIED] = "tx_path_copied",
		[NETIO_STAT_RX_WAKEUPS] = "rx_wakeups",
	};
	static const char *const kept[] = {
		[NETIO_KEPT_ND] = "nd",
		[NETIO_KEPT_MLD] = "mld",
		[NETIO_KEPT_LL_MCAST] = "ll_mcast",
		[NETIO_KEPT_BROADCAST] = "broadcast",
		[NETIO_KEPT_LOCAL] = "local",
	};
	struct bind_info bi = get_bind((uint32_t)atoi(argv[2]));
	struct nl_msg *m;
	int i, err;

	printf("owner_pid %u\nhold_ms %u\nhold_state %u\n", bi.owner, bi.hold_ms, bi.hold_state);
	printf("region %u\nqueues %u\n", bi.region, bi.queues);
	for (i = 0; i < (int)bi.queues && i < NETIO_QUEUES_MAX; i++)
		printf("queue_rx_%d %" PRIu64 "\n", i, bi.queue_rx[i]);
	for (i = 1; i <= NETIO_STAT_MAX; i++)
		if (names[i])
			printf("%s %" PRIu64 "\n", names[i], bi.stats[i]);
	for (i = NETIO_KEPT_ND; i <= NETIO_KEPT_LOCAL; i++)
		printf("kept_%s %" PRIu64 "\n", kept[i], bi.kept[i]);
	m = nl_req(NETIO_CMD_GET_CLAIMS, NLM_F_DUMP);
	nla_put_u32(m, NETIO_A_BIND_ID, bi.id);
	err = nl_exec(m, on_claims, NULL);
	if (err)
		nl_fail("get claims", err);
	return 0;
}

/* ---------------------------------------------------------------- rings */

static void must_fit(const struct port *p, uint64_t off, uint32_t slots, uint64_t bytes)
{
	if (!nio_ring_valid_size(slots) || off % NIO_CACHELINE || off + bytes > p->size)
		die("%s", "inconsistent ring geometry");
}

/* The region of a port: mapped once however many attached ports share it. */
static void map_region(struct port *p, struct port *other)
{
	struct region *r;

	if (other && other->reg->id == p->info.region_id) {
		p->reg = other->reg;
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		die("%s", "out of memory");
	r->id = p->info.region_id;
	r->nbufs = p->info.nbufs;
	r->buf_size = p->info.buf_size;
	r->size = p->info.region_size;
	if ((uint64_t)r->nbufs * r->buf_size > r->size)
		die("%s", "inconsistent region geometry");
	r->mem = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, NIO_MMAP_REGION);
	if (r->mem == MAP_FAILED)
		die("mmap of the region: %s", strerror(errno));
	r->free = calloc(r->nbufs, sizeof(*r->free));
	if (!r->free)
		die("%s", "out of memory");
	p->reg = r;
}

/* Continue where the previous owner stopped, unless it left nonsense behind. */
static void resume_indices(struct port *p)
{
	uint32_t nrx = p->info.num_rx_slots, ntx = p->info.num_tx_slots;

	p->rx_tail = p->rx->tail;
	if (nio_ring_pending(nio_ring_load_acquire(&p->rx->head), p->rx_tail, nrx) < 0)
		p->rx_tail = p->rx->head;
	p->fill_head = p->fill->head;
	if (nio_ring_pending(p->fill_head, nio_ring_load_acquire(&p->fill->tail), nrx) < 0)
		p->fill_head = p->fill->tail;
	p->tx_head = p->tx->head;
	if (nio_ring_pending(p->tx_head, nio_ring_load_acquire(&p->tx->tail), ntx) < 0)
		p->tx_head = p->tx->tail;
	p->comp_tail = p->comp->tail;
	if (nio_ring_pending(nio_ring_load_acquire(&p->comp->head), p->comp_tail, ntx) < 0)
		p->comp_tail = p->comp->head;
	nio_ring_store_release(&p->rx->tail, p->rx_tail);
	nio_ring_store_release(&p->fill->head, p->fill_head);
	nio_ring_store_release(&p->tx->head, p->tx_head);
	nio_ring_store_release(&p->comp->tail, p->comp_tail);
}

/* With NIORING_QUEUE=q (q > 0), the rings of queue q, served by a file of its own. */
static unsigned pick_queue(struct port *p)
{
	const char *env = getenv("NIORING_QUEUE");
	unsigned q = env ? (unsigned)atoi(env) : 0;
	struct netio_queue_attach a = { .bind_id = p->id, .queue = q };

	if (!q)
		return 0;
	if (q >= p->info.num_queues)
		die("%s", "no such queue");
	p->owner_fd = p->fd;
	p->fd = open(NETIO_DEVICE, O_RDWR | O_CLOEXEC);
	if (p->fd < 0 || ioctl(p->fd, NETIO_IOC_ATTACH_QUEUE, &a)) {
		fprintf(stderr, "nioring: attach queue %u: %s\n", q, errname(errno));
		exit(3);
	}
	return q;
}

static void port_attach(struct port *p, uint32_t id, struct port *other)
{
	struct bind_info bi = get_bind(id);
	const struct nio_map_info *info;
	uint64_t d;

	memset(p, 0, sizeof(*p));
	p->id = id;
	p->owner_fd = -1;
	p->fd = open(NETIO_DEVICE, O_RDWR | O_CLOEXEC);
	if (p->fd < 0)
		die("open %s failed", NETIO_DEVICE);
	if (ioctl(p->fd, NETIO_IOC_ATTACH, &id)) {
		fprintf(stderr, "nioring: attach %u: %s\n", id, errname(errno));
		exit(3);
	}
	p->size = bi.map_size;
	p->map = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
	if (p->map == MAP_FAILED) {
		fprintf(stderr, "nioring: mmap of %zu bytes: %s\n", p->size, strerror(errno));
		exit(1);
	}
	info = (const struct nio_map_info *)p->map;
	if (info->magic != NIO_RING_MAGIC || info->abi_version != NIO_ABI_VERSION)
		die("%s", "bad map magic or ABI version");
	p->info = *info; /* the mapping may be scribbled on: keep a private copy */
	if (!p->info.num_queues || p->info.num_queues > NETIO_QUEUES_MAX)
		die("%s", "inconsistent queue count");
	d = pick_queue(p) * p->info.queue_stride;
	must_fit(p, p->info.rx_off + d, p->info.num_rx_slots, nio_ring_bytes(p->info.num_rx_slots));
	must_fit(p, p->info.fill_off + d, p->info.num_rx_slots,
		 nio_ring_idx_bytes(p->info.num_rx_slots));
	must_fit(p, p->info.tx_off + d, p->info.num_tx_slots, nio_ring_bytes(p->info.num_tx_slots));
	must_fit(p, p->info.comp_off + d, p->info.num_tx_slots,
		 nio_ring_idx_bytes(p->info.num_tx_slots));
	p->rx = (struct nio_ring *)(p->map + p->info.rx_off + d);
	p->fill = (struct nio_ring *)(p->map + p->info.fill_off + d);
	p->tx = (struct nio_ring *)(p->map + p->info.tx_off + d);
	p->comp = (struct nio_ring *)(p->map + p->info.comp_off + d);
	map_region(p, other);
	resume_indices(p);
}

static void mark(uint8_t *busy, const struct region *r, uint32_t idx)
{
	if (idx < r->nbufs)
		busy[idx] = 1;
}

/* Buffers a port's rings name: what TX still has to take, fill, and RX. In this order: the
 * kernel moves a buffer out of TX and fill only after it is in flight or in RX. */
static void mark_rings(uint8_t *busy, struct port *p)
{
	uint32_t i, nrx = p->info.num_rx_slots, ntx = p->info.num_tx_slots;
	uint32_t t = nio_ring_load_acquire(&p->tx->tail), f = nio_ring_load_acquire(&p->fill->tail);
	uint32_t h;

	for (i = t; nio_ring_pending(p->tx_head, i, ntx) > 0 && i != p->tx_head; i++)
		mark(busy, p->reg, nio_ring_slots(p->tx)[i & (ntx - 1)].buf_idx);
	for (i = f; nio_ring_pending(p->fill_head, i, nrx) > 0 && i != p->fill_head; i++)
		mark(busy, p->reg, nio_ring_idx(p->fill)[i & (nrx - 1)]);
	h = nio_ring_load_acquire(&p->rx->head);
	for (i = p->rx_tail; nio_ring_pending(h, i, nrx) > 0 && i != h; i++)
		mark(busy, p->reg, nio_ring_slots(p->rx)[i & (nrx - 1)].buf_idx);
}

static void mark_comp(uint8_t *busy, struct port *p)
{
	uint32_t i, ntx = p->info.num_tx_slots, h = nio_ring_load_acquire(&p->comp->head);

	for (i = p->comp_tail; nio_ring_pending(h, i, ntx) > 0 && i != h; i++)
		mark(busy, p->reg, nio_ring_idx(p->comp)[i & (ntx - 1)]);
}

/* A restarted owner's free list: every buffer no ring names and the kernel does not hold;
 * the ones in the completion rings come back through them. */
static void rebuild_free(struct port **ports, unsigned n)
{
	struct region *r = ports[0]->reg;
	uint8_t *busy = calloc(r->nbufs, 1);
	uint64_t *inflight = calloc((r->nbufs + 63) / 64, sizeof(uint64_t));
	uint32_t i;

	if (!busy || !inflight)
		die("%s", "out of memory");
	for (i = 0; i < n; i++)
		mark_rings(busy, ports[i]);
	if (ioctl(ports[0]->fd, NETIO_IOC_INFLIGHT, inflight))
		die("inflight: %s", strerror(errno));
	for (i = 0; i < r->nbufs; i++)
		if (inflight[i / 64] >> (i % 64) & 1)
			busy[i] = 1;
	for (i = 0; i < n; i++)
		mark_comp(busy, ports[i]);
	r->nfree = 0;
	for (i = 0; i < r->nbufs; i++)
		if (!busy[i])
			r->free[r->nfree++] = i;
	free(busy);
	free(inflight);
}

/* Give the kernel free buffers to receive into. */
static void fill_top(struct port *p)
{
	uint32_t n = p->info.num_rx_slots;
	struct region *r = p->reg;

	while (r->nfree && nio_ring_used(p->fill_head, nio_ring_load_acquire(&p->fill->tail)) < n) {
		nio_ring_idx(p->fill)[p->fill_head & (n - 1)] = r->free[--r->nfree];
		p->fill_head++;
	}
	/* release: the entries are written before the kernel may see the new head */
	nio_ring_store_release(&p->fill->head, p->fill_head);
}

/* Buffers the kernel is done sending go back to the free list. */
static unsigned comp_drain(struct port *p)
{
	uint32_t n = p->info.num_tx_slots, h = nio_ring_load_acquire(&p->comp->head), idx;
	struct region *r = p->reg;
	unsigned got = 0;

	if (nio_ring_pending(h, p->comp_tail, n) < 0)
		return 0;
	for (; p->comp_tail != h; p->comp_tail++, got++) {
		idx = nio_ring_idx(p->comp)[p->comp_tail & (n - 1)];
		if (idx < r->nbufs && r->nfree < r->nbufs)
			r->free[r->nfree++] = idx;
	}
	nio_ring_store_release(&p->comp->tail, p->comp_tail);
	return got;
}

/* Publish TX and ring the doorbell only if the kernel is not draining on its own. */
static void tx_publish(struct port *p, uint64_t *kicks)
{
	nio_ring_store_release(&p->tx->head, p->tx_head);
	if (nio_ring_needs_wakeup(p->tx)) {
		(*kicks)++;
		if (ioctl(p->fd, NETIO_IOC_KICK) < 0 && errno != EINVAL)
			die("kick: %s", strerror(errno));
	}
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* The buffer to send an RX frame of in from: the same one when the regions are shared (a
 * descriptor move), else a copy into a free buffer of out's region; -1 when none is free. */
static int64_t tx_buffer(struct port *in, struct port *out, const struct nio_slot *s, uint32_t *off,
			 uint64_t *copies)
{
	struct region *ri = in->reg, *ro = out->reg;
	uint32_t b;

	if (ri == ro) {
		*off = s->off;
		return s->buf_idx;
	}
	if (!ro->nfree)
		return -1;
	b = ro->free[--ro->nfree];
	memcpy(ro->mem + (uint64_t)b * ro->buf_size,
	       ri->mem + (uint64_t)s->buf_idx * ri->buf_size + s->off, s->len);
	ri->free[ri->nfree++] = s->buf_idx;
	(*copies)++;
	*off = 0;
	return b;
}

/* Move one RX frame of in to the TX ring of out with new MACs; 0 when TX is full. */
static int fwd_one(struct port *in, struct port *out, struct nio_slot s, const uint8_t dmac[6],
		   const uint8_t smac[6], uint64_t *copies)
{
	uint32_t ntx = out->info.num_tx_slots, off;
	struct region *ri = in->reg;
	uint8_t *frame;
	int64_t b;

	if (nio_ring_used(out->tx_head, nio_ring_load_acquire(&out->tx->tail)) >= ntx)
		return 0;
	if (s.buf_idx >= ri->nbufs || s.len < 14 || (uint64_t)s.off + s.len > ri->buf_size) {
		if (s.buf_idx < ri->nbufs)
			ri->free[ri->nfree++] = s.buf_idx;
		return 1;
	}
	b = tx_buffer(in, out, &s, &off, copies);
	if (b < 0)
		return 0;
	frame = out->reg->mem + (uint64_t)b * out->reg->buf_size + off;
	memcpy(frame, dmac, 6);
	memcpy(frame + 6, smac, 6);
	nio_ring_slots(out->tx)[out->tx_head & (ntx - 1)] =
		(struct nio_slot){ .buf_idx = (uint32_t)b, .off = off, .len = s.len };
	out->tx_head++;
	return 1;
}

struct fwd_stats {
	uint64_t n, kicks, copies, sleeps;
};

static unsigned fwd_burst(struct port *in, struct port *out, const uint8_t dmac[6],
			  const uint8_t smac[6], struct fwd_stats *st)
{
	uint32_t head = nio_ring_load_acquire(&in->rx->head), mask = in->info.num_rx_slots - 1;
	unsigned n = 0;

	comp_drain(out);
	if (in->reg != out->reg)
		comp_drain(in);
	while (in->rx_tail != head && fwd_one(in, out, nio_ring_slots(in->rx)[in->rx_tail & mask],
					      dmac, smac, &st->copies)) {
		in->rx_tail++;
		n++;
	}
	nio_ring_store_release(&in->rx->tail, in->rx_tail);
	if (n)
		tx_publish(out, &st->kicks);
	fill_top(in);
	return n;
}

/* Sleep until RX has something, telling the kernel to wake us (the RX doorbell). */
static int rx_sleep(struct port *in, int timeout_ms)
{
	struct pollfd pfd = { .fd = in->fd, .events = POLLIN };
	int rc = 0;

	__atomic_store_n(&in->rx->flags, NIO_RING_F_NEED_WAKEUP, __ATOMIC_RELAXED);
	/* pairs with the kernel's barrier between publishing head and reading the flag */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (nio_ring_load_acquire(&in->rx->head) == in->rx_tail)
		rc = poll(&pfd, 1, timeout_ms) < 0 || (pfd.revents & POLLERR) ? -1 : 0;
	__atomic_store_n(&in->rx->flags, 0, __ATOMIC_RELAXED);
	return rc;
}

/* Buffers still with the kernel come back within a bounded wait. */
static void fwd_settle(struct port *in, struct port *out)
{
	uint64_t deadline = now_ms() + 3000;
	struct region *r = in->reg;

	do {
		comp_drain(out);
		if (in->reg != out->reg)
			comp_drain(in);
		if (r->nfree + nio_ring_used(in->fill_head, in->fill->tail) >= r->nbufs)
			break;
		usleep(10000);
	} while (now_ms() < deadline);
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* fwd IN OUT DMAC SMAC SECONDS [MAX]: forward claimed frames of IN out of OUT; SIGTERM ends
 * it early, after the buffers the kernel holds came back. */
static int cmd_fwd(int argc, char **argv)
{
	struct port in, out, *o = &out, *both[2] = { &in, &out };
	uint8_t dmac[6], smac[6];
	uint64_t deadline, max;
	struct fwd_stats st = { 0 };
	unsigned n, idle = 0;

	if (argc < 7 || parse_mac(argv[4], dmac) || parse_mac(argv[5], smac))
		die("%s", "usage: fwd IN OUT DMAC SMAC SECONDS [MAX]");
	port_attach(&in, (uint32_t)atoi(argv[2]), NULL);
	if (atoi(argv[3]) == atoi(argv[2]))
		o = &in;
	else
		port_attach(&out, (uint32_t)atoi(argv[3]), &in);
	rebuild_free(both, o == &in || out.reg != in.reg ? 1 : 2);
	if (o != &in && out.reg != in.reg)
		rebuild_free(both + 1, 1);
	fill_top(&in);
	deadline = now_ms() + 1000 * (uint64_t)atoi(argv[6]);
	max = argc > 7 ? strtoull(argv[7], NULL, 0) : 0;
	signal(SIGTERM, on_term);
	printf("attached region %s\n", o == &in || out.reg == in.reg ? "shared" : "separate");
	fflush(stdout);
	while (!stop && now_ms() < deadline && (!max || st.n < max)) {
		n = fwd_burst(&in, o, dmac, smac, &st);
		st.n += n;
		/* spin a little before sleeping, as netiod's workers do */
		if (n || ++idle < 64)
			continue;
		idle = 0;
		st.sleeps++;
		if (rx_sleep(&in, 50) < 0 && !stop)
			break;
	}
	fwd_settle(&in, o);
	printf("forwarded %" PRIu64 "\n", st.n);
	printf("kicks %" PRIu64 " sleeps %" PRIu64 " copies %" PRIu64 "\n", st.kicks, st.sleeps,
	       st.copies);
	printf("buffers free %u fill %u of %u\n", in.reg->nfree,
	       nio_ring_used(in.fill_head, in.fill->tail), in.reg->nbufs);
	return 0;
}

/* A frame of len bytes to a made-up station (an unused EtherType) in buffer b. */
static void put_frame(struct port *p, uint32_t b, uint32_t len)
{
	static const uint8_t hdr[14] = { 0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5 };
	uint8_t *f = p->reg->mem + (uint64_t)b * p->reg->buf_size;

	memset(f, 0x5a, len);
	memcpy(f, hdr, sizeof(hdr));
}

/* send ID COUNT LEN: COUNT frames of LEN bytes (to a made-up station) through the TX ring. */
static int cmd_send(int argc, char **argv)
{
	struct port p, *one = &p;
	uint32_t count = (uint32_t)atoi(argv[3]), len = (uint32_t)atoi(argv[4]), sent = 0;
	uint64_t kicks = 0, deadline;

	port_attach(&p, (uint32_t)atoi(argv[2]), NULL);
	rebuild_free(&one, 1);
	if (len < 14 || len > p.reg->buf_size)
		die("%s", "bad length");
	deadline = now_ms() + 30000;
	while (sent < count && now_ms() < deadline) {
		uint32_t ntx = p.info.num_tx_slots, b;

		comp_drain(&p);
		if (!p.reg->nfree ||
		    nio_ring_used(p.tx_head, nio_ring_load_acquire(&p.tx->tail)) >= ntx) {
			tx_publish(&p, &kicks);
			usleep(1000);
			continue;
		}
		b = p.reg->free[--p.reg->nfree];
		put_frame(&p, b, len);
		nio_ring_slots(p.tx)[p.tx_head++ & (ntx - 1)] =
			(struct nio_slot){ .buf_idx = b, .off = 0, .len = len };
		sent++;
	}
	tx_publish(&p, &kicks);
	printf("sent %u\n", sent);
	return 0;
}

/* send-dup ID LEN COPIES: one frame of LEN bytes in one buffer, given COPIES times in one
 * publish (one drain sees them all); then the completions for 3 s. Prints how many times the
 * buffer came back and how many other entries did. */
static int cmd_send_dup(int argc, char **argv)
{
	struct port p, *one = &p;
	uint32_t len = (uint32_t)atoi(argv[3]), copies = (uint32_t)atoi(argv[4]), b, ntx, back = 0,
		 other = 0;
	uint64_t kicks = 0, deadline;

	port_attach(&p, (uint32_t)atoi(argv[2]), NULL);
	rebuild_free(&one, 1);
	ntx = p.info.num_tx_slots;
	if (len < 14 || len > p.reg->buf_size || !p.reg->nfree || copies < 1 || copies > ntx)
		die("%s", "bad length or copies, or no free buffer");
	b = p.reg->free[--p.reg->nfree];
	put_frame(&p, b, len);
	for (uint32_t k = 0; k < copies; k++)
		nio_ring_slots(p.tx)[p.tx_head++ & (ntx - 1)] =
			(struct nio_slot){ .buf_idx = b, .off = 0, .len = len };
	tx_publish(&p, &kicks);
	deadline = now_ms() + 3000;
	while (now_ms() < deadline) {
		uint32_t h = nio_ring_load_acquire(&p.comp->head);

		for (; p.comp_tail != h; p.comp_tail++)
			*(nio_ring_idx(p.comp)[p.comp_tail & (ntx - 1)] == b ? &back : &other) += 1;
		nio_ring_store_release(&p.comp->tail, p.comp_tail);
		usleep(10000);
	}
	printf("buffer back %u other %u\n", back, other);
	return 0;
}

/* attach ID: only the ioctl, asked without looking the binding up over netlink first. */
static int cmd_attach(int argc, char **argv)
{
	uint32_t id = (uint32_t)atoi(argv[2]);
	int fd = open(NETIO_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open %s failed", NETIO_DEVICE);
	if (ioctl(fd, NETIO_IOC_ATTACH, &id)) {
		fprintf(stderr, "nioring: attach %u: %s\n", id, errname(errno));
		return 3;
	}
	printf("attached\n");
	close(fd);
	return 0;
}

/* hold ID SECONDS: own the binding and give it buffers without consuming, so packets queue. */
static int cmd_hold(int argc, char **argv)
{
	struct port p, *one = &p;
	uint64_t deadline = now_ms() + 1000 * (uint64_t)atoi(argv[3]);
	struct pollfd pfd;

	port_attach(&p, (uint32_t)atoi(argv[2]), NULL);
	rebuild_free(&one, 1);
	fill_top(&p);
	printf("attached\n");
	fflush(stdout);
	while (now_ms() < deadline) {
		pfd = (struct pollfd){ .fd = p.fd, .events = 0 };
		if (poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLERR)) {
			printf("binding gone\n");
			return 0;
		}
	}
	return 0;
}

static uint32_t hostile_value(const struct port *p)
{
	const uint32_t bs = p->info.buf_size, nb = p->info.nbufs;
	const uint32_t pick[] = { 0,
				  1,
				  13,
				  14,
				  60,
				  1514,
				  bs - 1,
				  bs,
				  bs + 1,
				  nb - 1,
				  nb,
				  nb + 1,
				  0x7fffffff,
				  0x80000000u,
				  0xfffffff0u,
				  0xffffffffu,
				  (uint32_t)rand() };

	return pick[(unsigned)rand() % (sizeof(pick) / sizeof(pick[0]))];
}

static void scribble_slot(struct port *p)
{
	uint32_t n = p->info.num_tx_slots;
	struct nio_slot *s = &nio_ring_slots(p->tx)[(p->tx_head + (unsigned)rand() % 4) & (n - 1)];

	s->buf_idx = hostile_value(p);
	s->off = hostile_value(p);
	s->len = hostile_value(p);
	s->flags = rand() % 4 ? 0 : (uint16_t)rand();
	s->claim = rand() % 4 ? 0 : (uint16_t)rand();
	s->reserved = rand() % 4 ? 0 : (uint64_t)rand();
}

/* The same valid buffer twice (or more) on TX, long enough to be sent from its pages. */
static void duplicate_tx(struct port *p)
{
	uint32_t n = p->info.num_tx_slots, b = (uint32_t)rand() % p->info.nbufs, k;

	for (k = 0; k < 2 + (unsigned)rand() % 3; k++)
		nio_ring_slots(p->tx)[p->tx_head++ & (n - 1)] =
			(struct nio_slot){ .buf_idx = b, .off = 0, .len = 1000 };
	p->tx->head = p->tx_head;
}

/* Fill entries: hostile values, or valid buffers (some given twice) for RX to write into. */
static void scribble_fill(struct port *p)
{
	uint32_t n = p->info.num_rx_slots, k;

	for (k = 0; k < 8; k++)
		nio_ring_idx(p->fill)[p->fill_head++ & (n - 1)] =
			rand() % 2 ? hostile_value(p) : (uint32_t)rand() % p->info.nbufs;
	p->fill->head = rand() % 8 ? p->fill_head : hostile_value(p);
}

/* One hostile move against the shared rings, then a kick. */
static void scribble_once(struct port *p)
{
	switch (rand() % 12) {
	case 0:
	case 1:
		scribble_slot(p);
		p->tx_head += (unsigned)rand() % 4;
		p->tx->head = p->tx_head;
		break;
	case 2:
		p->tx->head = hostile_value(p);
		break;
	case 3:
		p->tx->head = p->tx->tail + p->info.num_tx_slots + (unsigned)rand() % 2;
		break;
	case 4:
		p->rx->tail = hostile_value(p);
		break;
	case 5:
		duplicate_tx(p);
		break;
	case 6:
	case 7:
		scribble_fill(p);
		break;
	case 8:
		p->comp->tail = rand() % 2 ? hostile_value(p) : p->comp->head;
		break;
	case 9:
		p->rx->flags = (uint32_t)rand();
		p->tx->flags = (uint32_t)rand();
		break;
	case 10:
		p->reg->mem[(unsigned)rand() % p->reg->size] = (uint8_t)rand();
		break;
	default:
		p->map[(unsigned)rand() % p->size] = (uint8_t)rand();
		break;
	}
	ioctl(p->fd, NETIO_IOC_KICK);
}

/* Fill entries the kernel must skip (out of range) before a valid one, then wait (bounded)
 * until claimed traffic made it consume them all. */
static void bad_fill(struct port *p, bool wait)
{
	const uint32_t nb = p->info.nbufs, bad[] = { nb, nb + 1, 0x7fffffff, 0xffffffffu };
	uint32_t mask = p->info.num_rx_slots - 1;
	uint64_t deadline = now_ms() + (wait ? 20000 : 0);

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		nio_ring_idx(p->fill)[p->fill_head++ & mask] = bad[k];
	nio_ring_idx(p->fill)[p->fill_head++ & mask] = 0;
	nio_ring_store_release(&p->fill->head, p->fill_head);
	printf("attached\n");
	fflush(stdout);
	while (nio_ring_load_acquire(&p->fill->tail) != p->fill_head && now_ms() < deadline)
		usleep(10000);
	printf("bad fill entries %s\n",
	       nio_ring_load_acquire(&p->fill->tail) == p->fill_head ? "consumed" : "pending");
}

/* scribble ID SECONDS [wait-fill]: refused fill entries first (with wait-fill: until claimed
 * traffic made the kernel consume them), then random and boundary values written into the
 * mapped rings, each followed by a kick. */
static int cmd_scribble(int argc, char **argv)
{
	struct port p;
	uint64_t deadline, kicks = 0;
	struct pollfd pfd;

	port_attach(&p, (uint32_t)atoi(argv[2]), NULL);
	bad_fill(&p, argc > 4 && !strcmp(argv[4], "wait-fill"));
	deadline = now_ms() + 1000 * (uint64_t)atoi(argv[3]);
	srand((unsigned)getpid());
	while (now_ms() < deadline && kicks < 2000000) {
		scribble_once(&p);
		if (++kicks % 64 == 0) {
			pfd = (struct pollfd){ .fd = p.fd, .events = POLLIN | POLLOUT };
			poll(&pfd, 1, 0);
		}
	}
	printf("kicks %" PRIu64 "\n", kicks);
	return 0;
}

/* ---------------------------------------------------------------- commands: traffic */

/* An IPv4 or IPv6 socket address for addr:port; the socket's family follows it. */
static socklen_t udp_addr(const char *addr, const char *port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)atoi(port));
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			die("bad address %s", addr);
		return sizeof(*sin6);
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		die("bad address %s", addr);
	return sizeof(*sin);
}

/* udp-send DST PORT COUNT: COUNT datagrams, 1 ms apart. */
static int cmd_udp_send(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = udp_addr(argv[2], argv[3], &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM, 0), i, count = atoi(argv[4]);
	char buf[64];

	if (fd < 0)
		die("socket: %s", strerror(errno));
	for (i = 0; i < count && i < 100000; i++) {
		int n = snprintf(buf, sizeof(buf), "netio test %d", i);

		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&ss, len) < 0)
			die("sendto: %s", strerror(errno));
		usleep(1000);
	}
	return 0;
}

/* udp-flood DST PORT COUNT SIZE: COUNT datagrams of SIZE bytes as fast as the socket takes
 * them (bounded: at most 10^7, 300 s). */
static int cmd_udp_flood(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = udp_addr(argv[2], argv[3], &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	long i, count = atol(argv[4]), sent = 0;
	size_t size = (size_t)atoi(argv[5]);
	uint64_t deadline = now_ms() + 300000;
	char buf[9000] = { 0 };

	if (fd < 0 || size > sizeof(buf))
		die("socket: %s", strerror(errno));
	for (i = 0; i < count && i < 10000000 && (i % 1024 || now_ms() < deadline); i++)
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&ss, len) >= 0)
			sent++;
	printf("sent %ld\n", sent);
	return 0;
}

/* udp-recv PORT SECONDS [EXPECT]: count datagrams (IPv4 and IPv6) until the deadline or
 * EXPECT arrived. */
static int cmd_udp_recv(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = udp_addr("::", argv[2], &ss);
	struct timeval tv = { .tv_usec = 100000 };
	uint64_t deadline = now_ms() + 1000 * (uint64_t)atoi(argv[3]);
	long expect = argc > 4 ? atol(argv[4]) : 0, n = 0;
	int fd = socket(AF_INET6, SOCK_DGRAM, 0), off = 0;
	char buf[2048];

	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    bind(fd, (struct sockaddr *)&ss, len))
		die("bind: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	printf("ready\n");
	while (now_ms() < deadline && (!expect || n < expect))
		if (recv(fd, buf, sizeof(buf), 0) > 0)
			n++;
	printf("count %ld\n", n);
	return 0;
}

/* udp-flows DST PORT FLOWS ROUNDS [PAUSE_US]: FLOWS sockets (one source port each) send ROUNDS
 * datagrams each, round by round, carrying (flow, sequence number); a pause (default 500 us)
 * after every round. */
static int cmd_udp_flows(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = udp_addr(argv[2], argv[3], &ss);
	int nflows = atoi(argv[4]), rounds = atoi(argv[5]), fd[64];
	useconds_t pause = argc > 6 ? (useconds_t)atoi(argv[6]) : 500;
	uint32_t msg[2];

	if (nflows < 1 || nflows > 64 || rounds < 1 || rounds > 100000)
		die("%s", "udp-flows: 1..64 flows, 1..100000 rounds");
	for (int f = 0; f < nflows; f++) {
		fd[f] = socket(ss.ss_family, SOCK_DGRAM, 0);
		if (fd[f] < 0 || connect(fd[f], (struct sockaddr *)&ss, len))
			die("connect: %s", strerror(errno));
	}
	for (int r = 0; r < rounds; r++) {
		for (int f = 0; f < nflows; f++) {
			msg[0] = htonl((uint32_t)f);
			msg[1] = htonl((uint32_t)r);
			if (send(fd[f], msg, sizeof(msg), 0) < 0)
				die("send: %s", strerror(errno));
		}
		usleep(pause);
	}
	return 0;
}

/* udp-order PORT SECONDS EXPECT: receive udp-flows' datagrams until EXPECT arrived or the
 * deadline; count them, the flows seen, and those that came before an earlier one of their
 * flow (reordered). */
static int cmd_udp_order(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = udp_addr("::", argv[2], &ss);
	struct timeval tv = { .tv_usec = 100000 };
	uint64_t deadline = now_ms() + 1000 * (uint64_t)atoi(argv[3]);
	long expect = atol(argv[4]), n = 0, reordered = 0;
	int64_t last[64];
	int fd = socket(AF_INET6, SOCK_DGRAM, 0), off = 0, rcvbuf = 4 << 20, flows = 0;
	uint32_t msg[2];

	for (int f = 0; f < 64; f++)
		last[f] = -1;
	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    bind(fd, (struct sockaddr *)&ss, len))
		die("bind: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* FORCE: past rmem_max, so a slow reader under TCG loses nothing to its own socket */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	printf("ready\n");
	while (now_ms() < deadline && n < expect) {
		uint32_t f, seq;

		if (recv(fd, msg, sizeof(msg), 0) != (ssize_t)sizeof(msg))
			continue;
		n++;
		f = ntohl(msg[0]);
		seq = ntohl(msg[1]);
		if (f >= 64)
			continue;
		flows += last[f] < 0;
		if ((int64_t)seq <= last[f])
			reordered++;
		else
			last[f] = seq;
	}
	printf("count %ld\nflows %d\nreordered %ld\n", n, flows, reordered);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int min_args;
		int (*fn)(int, char **);
		int needs_nl;
	} cmds[] = {
		{ "bind", 4, cmd_bind, 1 },
		{ "unbind", 3, cmd_unbind, 1 },
		{ "claims", 3, cmd_claims, 1 },
		{ "show", 3, cmd_show, 1 },
		{ "fwd", 7, cmd_fwd, 1 },
		{ "hold", 4, cmd_hold, 1 },
		{ "scribble", 4, cmd_scribble, 1 },
		{ "udp-send", 5, cmd_udp_send, 0 },
		{ "udp-recv", 4, cmd_udp_recv, 0 },
		{ "attach", 3, cmd_attach, 0 },
		{ "send", 5, cmd_send, 1 },
		{ "send-dup", 5, cmd_send_dup, 1 },
		{ "udp-flood", 6, cmd_udp_flood, 0 },
		{ "udp-flows", 6, cmd_udp_flows, 0 },
		{ "udp-order", 5, cmd_udp_order, 0 },
	};
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		if (argc < cmds[i].min_args)
			die("missing arguments for %s", argv[1]);
		if (cmds[i].needs_nl)
			nl_open();
		return cmds[i].fn(argc, argv);
	}
	fprintf(stderr, "usage: nioring bind|unbind|claims|show|fwd|hold|attach|scribble|send|"
			"send-dup|udp-send|udp-flood|udp-recv|udp-flows|udp-order ...\n");
	return 1;
}

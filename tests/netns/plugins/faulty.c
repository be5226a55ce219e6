/* A test service that misbehaves on command, for the isolation tests (tests/netns/isolate.sh).
 * It passes every packet; an IPv4 UDP payload that starts with a command word makes it
 *   CRASH    segfault          ABORT  abort()          HANG  spin forever
 *   SYSCALL  call socket(2), which an isolated host's seccomp filter forbids
 *   BADLEN   answer a frame that runs past its buffer   BADL3  an IP header past the frame
 *            (isolated only: what a broken or hostile child hands back, which netiod refuses)
 * and with stamp = true a payload ending in '?' leaves with '!' (UDP checksum cleared), so a
 * receiver can tell a packet that went through the service from one that went around it. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netio/service.h>

struct faulty {
	const struct nio_host *host;
	int stamp;
	uint64_t ctr[2]; /* seen (carried in save_state), stamped */
};

static const struct nio_opt faulty_opts[] = {
	{ .name = "stamp", .type = NIO_OPT_BOOL, .def = "true", .help = "'?' -> '!' at the end" },
	{ 0 },
};

static const char *const faulty_ctrs[] = { "seen", "stamped", NULL };

static void *faulty_init(const struct nio_host *h, const struct nio_conf *c, char *err,
			 size_t errlen)
{
	struct faulty *f = calloc(1, sizeof(*f));

	(void)err;
	(void)errlen;
	if (!f)
		return NULL;
	f->host = h;
	f->stamp = (int)h->conf_int(c, "stamp");
	return f;
}

static void faulty_fini(void *inst)
{
	free(inst);
}

/* The UDP payload of an IPv4 packet, or NULL. */
static uint8_t *payload(struct nio_pkt *p, uint32_t *len)
{
	uint8_t *ip = nio_pkt_l3(p);
	uint32_t ihl, l3len = nio_pkt_l3_len(p);

	if (!(p->flags & NIO_PKT_F_IPV4) || l3len < 28 || ip[9] != 17)
		return NULL;
	ihl = (ip[0] & 0xfu) * 4;
	if (ihl < 20 || l3len < ihl + 8)
		return NULL;
	*len = l3len - ihl - 8;
	return ip + ihl + 8;
}

static void obey(const uint8_t *d, uint32_t len)
{
	if (len >= 5 && !memcmp(d, "CRASH", 5))
		*(volatile int *)(uintptr_t)len = 1; /* an address below 4 KiB: SIGSEGV */
	if (len >= 5 && !memcmp(d, "ABORT", 5))
		abort();
	if (len >= 4 && !memcmp(d, "HANG", 4))
		for (volatile int spin = 1; spin;)
			;
	if (len >= 7 && !memcmp(d, "SYSCALL", 7)) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);

		if (s >= 0)
			close(s);
	}
}

static void faulty_process(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts)
{
	struct faulty *f = inst;

	for (uint16_t i = 0; i < n; i++) {
		uint32_t len = 0;
		uint8_t *d = payload(pkts[i], &len);

		f->ctr[0]++;
		if (!d || !len)
			continue;
		obey(d, len);
		if (len >= 6 && !memcmp(d, "BADLEN", 6))
			pkts[i]->len = 0xffff;
		else if (len >= 5 && !memcmp(d, "BADL3", 5))
			pkts[i]->l3_off = (uint16_t)(pkts[i]->len + 1);
		if (f->stamp && d[len - 1] == '?') {
			d[len - 1] = '!';
			d[-2] = d[-1] = 0; /* UDP checksum: none */
			f->ctr[1]++;
		}
		verdicts[i] = NIO_V_PASS;
	}
}

static const uint64_t *faulty_counters(void *inst)
{
	return ((struct faulty *)inst)->ctr;
}

static int faulty_save(void *inst, void **blob, size_t *len)
{
	uint64_t *b = malloc(sizeof(uint64_t));

	if (!b)
		return -1;
	*b = ((struct faulty *)inst)->ctr[0];
	*blob = b;
	*len = sizeof(*b);
	return 0;
}

static int faulty_restore(void *inst, const void *blob, size_t len)
{
	if (len != sizeof(uint64_t))
		return -1;
	memcpy(&((struct faulty *)inst)->ctr[0], blob, sizeof(uint64_t));
	return 0;
}

const struct nio_service faulty_service = {
	.abi_version = NIO_SERVICE_ABI_VERSION,
	.size = sizeof(struct nio_service),
	.name = "faulty",
	.version = "1",
	.description = "test service: crashes, aborts, hangs or calls socket(2) on command",
	.options = faulty_opts,
	.counter_names = faulty_ctrs,
	.init = faulty_init,
	.fini = faulty_fini,
	.process = faulty_process,
	.counters = faulty_counters,
	.save_state = faulty_save,
	.restore_state = faulty_restore,
};

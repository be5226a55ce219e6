// SPDX-License-Identifier: GPL-2.0
/* The afxdp port's XDP program: claimed frames to netiod's XSK socket of their queue, the
 * kernel's own traffic and everything unclaimed to the stack, fail-mode while netiod is away. */
#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

#include "netio_xdp_parse.h"

/* Maps port_afxdp.c fills; they outlive netiod (attached program, pins) so fail-mode holds. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * NIO_XDP_CLAIMS_MAX);
	__type(key, __u32);
	__type(value, struct nio_xdp_claim);
} nio_claims SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nio_xdp_conf);
} nio_conf SEC(".maps");

/* An entry exists while netiod's socket for that queue is open: the kernel removes it when
 * the socket is closed, whether netiod exited or was killed. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, NIO_XDP_QUEUES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} nio_xsks SEC(".maps");

/* The network namespace's own addresses (1) and IPv4 subnet broadcasts (2), IPv4-mapped. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NIO_XDP_LOCAL_MAX);
	__type(key, __u32[4]);
	__type(value, __u8);
} nio_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NIO_XDP_STATS);
	__type(key, __u32);
	__type(value, __u64);
} nio_stats SEC(".maps");

/* Run first among libxdp's programs on the device; the next one runs on XDP_PASS. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(netio_xdp);

#define LOCAL_ADDR  1
#define LOCAL_BCAST 2

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&nio_stats, &what);

	if (v)
		(*v)++;
}

struct find {
	const struct nio_xdp_key *k;
	__u32 base; /* the active set's first entry */
	int local;
	const struct nio_xdp_claim *found;
};

/* bpf_loop's body: claim i of the set; 1 stops at the first that matches. */
static long claim_try(__u32 i, void *arg)
{
	struct find *f = arg;
	__u32 idx = f->base + i;
	const struct nio_xdp_claim *c = bpf_map_lookup_elem(&nio_claims, &idx);

	if (!c || !nio_xdp_claim_match(c, f->k, f->local))
		return 0;
	f->found = c;
	return 1;
}

/* The first claim of the active set matching k, or NULL. bpf_loop: the verifier checks the
 * body once instead of once per possible claim, so the program loads in milliseconds. */
static __always_inline const struct nio_xdp_claim *
claim_find(const struct nio_xdp_conf *conf, const struct nio_xdp_key *k, int local)
{
	__u32 set = conf->set & 1, n = conf->nclaims[set];
	struct find f = { .k = k, .base = set * NIO_XDP_CLAIMS_MAX, .local = local };

	if (n > NIO_XDP_CLAIMS_MAX)
		n = NIO_XDP_CLAIMS_MAX;
	bpf_loop(n, claim_try, &f, 0);
	return f.found;
}

SEC("xdp")
int netio_xdp(struct xdp_md *ctx)
{
	__u32 zero = 0, q = ctx->rx_queue_index;
	const struct nio_xdp_conf *conf = bpf_map_lookup_elem(&nio_conf, &zero);
	const struct nio_xdp_claim *c;
	struct nio_xdp_key k = {};
	__u8 *local;

	if (!conf || nio_xdp_parse((void *)(long)ctx->data, (void *)(long)ctx->data_end, conf, &k))
		return XDP_PASS;
	local = bpf_map_lookup_elem(&nio_local, k.dst);
	if (local && *local == LOCAL_BCAST)
		return XDP_PASS;
	if (local && k.natt_not_esp) { /* IKE and keepalives on 4500: the IKE daemon's */
		count(NIO_XDP_KEPT);
		return XDP_PASS;
	}
	c = claim_find(conf, &k, local != 0);
	if (!c) {
		count(local ? NIO_XDP_KEPT : NIO_XDP_UNCLAIMED);
		return XDP_PASS;
	}
	if (bpf_map_lookup_elem(&nio_xsks, &q)) {
		count(NIO_XDP_REDIRECTED);
		return bpf_redirect_map(&nio_xsks, q, c->passthrough ? XDP_PASS : XDP_DROP);
	}
	count(c->passthrough ? NIO_XDP_FAIL_PASS : NIO_XDP_FAIL_DROP);
	return c->passthrough ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";

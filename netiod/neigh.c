/* Mirrors the kernel's routing tables in use and neighbour table into fib snapshots for the
 * worker, and watches the links so that ports follow their devices (deleted, created again). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "netiod.h"

#define NL_RCVBUF	 (4 << 20) /* room for a burst of notifications before the socket overruns */
#define RETIRE_MAX	 8
#define REAP_US		 10000
#define PROBE_RECENT	 16
#define PROBE_HOLDOFF_NS 1000000000ull /* the kernel's own ARP/ND retries take over from here */
#define MISS_DRAIN_MAX	 128
#define NUD_USABLE	 (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)

/* A snapshot the worker may still be reading: freed once its loop counter has moved on. */
struct retired {
	struct nio_fib *fib;
	uint64_t loops[NIO_MAX_WORKERS]; /* each worker's loop count at the swap */
};

struct probe {
	uint8_t addr[16];
	int ifindex;
	uint64_t ns;
};

struct neigh {
	struct netiod *d;
	struct nl_sock *sock; /* notifications, owned here, lent to the manager */
	struct nl_sock *sync; /* dumps after an overrun */
	struct nl_cache_mngr *mngr;
	struct nl_cache *routes, *neighs, *links;
	struct event *nl_ev, *reap_ev;
	struct event *miss_ev[NIO_MAX_WORKERS]; /* one per worker's miss eventfd */
	int probe4, probe6;
	bool dirty, links_dirty;
	struct nio_fib *cur;
	struct retired retired[RETIRE_MAX];
	unsigned nretired;
	struct probe recent[PROBE_RECENT];
	unsigned recent_next;
};

/* ---------------------------------------------------------------- building a snapshot */

/* nl_addr to the 16-byte form; a zero-length address (the default route's dst) is all zero. */
static bool addr16(struct nl_addr *a, int family, uint8_t out[16])
{
	unsigned len = a ? nl_addr_get_len(a) : 0;
	uint8_t v4[4] = { 0 };

	if (family == AF_INET && (len == 4 || len == 0)) {
		if (len)
			memcpy(v4, nl_addr_get_binary_addr(a), 4);
		nio_addr_from_v4(out, v4);
		return true;
	}
	if (family == AF_INET6 && (len == 16 || len == 0)) {
		memset(out, 0, 16);
		if (len)
			memcpy(out, nl_addr_get_binary_addr(a), 16);
		return true;
	}
	return false;
}

/* The main table and those the running configuration's pipelines name (`table`). */
static bool table_used(const struct neigh *nb, uint32_t table)
{
	const struct nio_config *c = nb->d->running;

	if (table == NIO_RT_TABLE_MAIN)
		return true;
	for (unsigned i = 0; c && i < c->npipelines; i++)
		if (c->pipelines[i].table == table)
			return true;
	return false;
}

static bool nh_usable(struct rtnl_nexthop *nh)
{
	return rtnl_route_nh_get_ifindex(nh) > 0 &&
	       !(rtnl_route_nh_get_flags(nh) & (RTNH_F_DEAD | RTNH_F_LINKDOWN));
}

static int route_type(struct rtnl_route *r)
{
	switch (rtnl_route_get_type(r)) {
	case RTN_UNICAST:
		return NIO_RT_UNICAST;
	case RTN_BLACKHOLE:
		return NIO_RT_BLACKHOLE;
	case RTN_UNREACHABLE:
		return NIO_RT_UNREACHABLE;
	case RTN_PROHIBIT:
		return NIO_RT_PROHIBIT;
	default:
		return -1; /* local, broadcast, throw...: the kernel's business */
	}
}

static void nh_fill(struct rtnl_nexthop *nh, uint8_t gw16[16], bool *has_gw, int *ifindex)
{
	struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);

	*has_gw = gw && addr16(gw, nl_addr_get_family(gw), gw16);
	*ifindex = rtnl_route_nh_get_ifindex(nh);
}

/*
 * The usable next hops of r into nhs (room for all of r's): the first one inline in out and,
 * for a multipath route, all of them in nhs with their weights' shares. Dead ones are left out
 * as the kernel skips them. False when none is left.
 */
static bool nexthops_fill(struct rtnl_route *r, struct nio_fib_route *out, struct nio_fib *fib)
{
	unsigned weights[256], n = 0;
	struct nio_fib_nh *nhs = &fib->nhs[fib->nnhs];

	for (int i = 0; i < rtnl_route_get_nnexthops(r) && n < 256; i++) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, i);

		if (!nh_usable(nh))
			continue;
		nh_fill(nh, nhs[n].gw, &nhs[n].has_gw, &nhs[n].ifindex);
		/* libnl reports rtnh_hops, which is the configured weight minus one */
		weights[n++] = (unsigned)rtnl_route_nh_get_weight(nh) + 1;
	}
	if (!n)
		return false;
	memcpy(out->gw, nhs[0].gw, 16);
	out->has_gw = nhs[0].has_gw;
	out->ifindex = nhs[0].ifindex;
	if (n > 1) {
		nio_fib_rebalance(nhs, weights, n);
		out->nh = fib->nnhs;
		out->nnh = n;
		fib->nnhs += n;
	}
	return true;
}

/* Fills *out in place (calloc'ed, so padding stays zero for snapshot comparison). */
static bool route_fill(struct rtnl_route *r, struct nio_fib_route *out, struct nio_fib *fib,
		       const struct neigh *nb)
{
	int family = rtnl_route_get_family(r), type = route_type(r);
	struct nl_addr *dst = rtnl_route_get_dst(r);

	if (type < 0 || !table_used(nb, rtnl_route_get_table(r)))
		return false;
	if (!dst || !addr16(dst, family, out->dst.addr))
		return false;
	if (type == NIO_RT_UNICAST && !nexthops_fill(r, out, fib))
		return false;
	out->type = (uint8_t)type;
	out->table = rtnl_route_get_table(r);
	out->dst.family = family == AF_INET ? 4 : 6;
	out->dst.len = (uint8_t)((family == AF_INET ? 96 : 0) + nl_addr_get_prefixlen(dst));
	out->priority = rtnl_route_get_priority(r);
	return true;
}

static bool neigh_fill(struct rtnl_neigh *n, struct nio_fib_neigh *out)
{
	struct nl_addr *ll = rtnl_neigh_get_lladdr(n);
	int family = rtnl_neigh_get_family(n);

	if (!(rtnl_neigh_get_state(n) & NUD_USABLE) || !ll || nl_addr_get_len(ll) != 6 ||
	    !rtnl_neigh_get_dst(n) || !nl_addr_get_len(rtnl_neigh_get_dst(n)))
		return false;
	if (!addr16(rtnl_neigh_get_dst(n), family, out->addr))
		return false; /* AF_BRIDGE fdb entries share the cache */
	out->ifindex = rtnl_neigh_get_ifindex(n);
	memcpy(out->mac, nl_addr_get_binary_addr(ll), 6);
	return true;
}

static int cmp_int(long long a, long long b)
{
	return (a > b) - (a < b);
}

/* Longest prefix first, then lowest metric; the rest only makes the order total. */
static int route_cmp(const void *a, const void *b)
{
	const struct nio_fib_route *x = a, *y = b;
	int c;

	if ((c = cmp_int(y->dst.len, x->dst.len)) || (c = cmp_int(x->priority, y->priority)) ||
	    (c = cmp_int(x->table, y->table)) || (c = memcmp(x->dst.addr, y->dst.addr, 16)) ||
	    (c = cmp_int(x->type, y->type)) || (c = cmp_int(x->ifindex, y->ifindex)))
		return c;
	return memcmp(x->gw, y->gw, 16);
}

/* The order fib.c's binary search expects. */
static int neigh_cmp(const void *a, const void *b)
{
	const struct nio_fib_neigh *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, 16);

	return c ? c : cmp_int(x->ifindex, y->ifindex);
}

/* One allocation holds the header and the arrays, so nio_fib_free is a single free(). */
static struct nio_fib *fib_alloc(unsigned nroutes, unsigned nnhs, unsigned nneighs)
{
	struct nio_fib *fib = calloc(1, sizeof(*fib) + nroutes * sizeof(struct nio_fib_route) +
						nnhs * sizeof(struct nio_fib_nh) +
						nneighs * sizeof(struct nio_fib_neigh));

	if (!fib)
		return NULL;
	fib->routes = (struct nio_fib_route *)(void *)(fib + 1);
	fib->nhs = (struct nio_fib_nh *)(void *)(fib->routes + nroutes);
	fib->neighs = (struct nio_fib_neigh *)(void *)(fib->nhs + nnhs);
	return fib;
}

static unsigned count_nexthops(struct nl_cache *routes)
{
	unsigned n = 0;

	for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o))
		n += (unsigned)rtnl_route_get_nnexthops((struct rtnl_route *)o);
	return n;
}

static struct nio_fib *fib_build(struct neigh *nb)
{
	struct nio_fib *fib =
		fib_alloc((unsigned)nl_cache_nitems(nb->routes), count_nexthops(nb->routes),
			  (unsigned)nl_cache_nitems(nb->neighs));
	struct nl_object *o;

	if (!fib)
		return NULL;
	for (o = nl_cache_get_first(nb->routes); o; o = nl_cache_get_next(o))
		if (route_fill((struct rtnl_route *)o, &fib->routes[fib->nroutes], fib, nb))
			fib->nroutes++;
	for (o = nl_cache_get_first(nb->neighs); o; o = nl_cache_get_next(o))
		if (neigh_fill((struct rtnl_neigh *)o, &fib->neighs[fib->nneighs]))
			fib->nneighs++;
	qsort(fib->routes, fib->nroutes, sizeof(*fib->routes), route_cmp);
	qsort(fib->neighs, fib->nneighs, sizeof(*fib->neighs), neigh_cmp);
	return fib;
}

/* Neighbours flip between REACHABLE and STALE all the time; that must not invalidate flows. */
static bool fib_same(const struct nio_fib *a, const struct nio_fib *b)
{
	return a && b && a->nroutes == b->nroutes && a->nneighs == b->nneighs &&
	       a->nnhs == b->nnhs &&
	       !memcmp(a->routes, b->routes, a->nroutes * sizeof(*a->routes)) &&
	       !memcmp(a->nhs, b->nhs, a->nnhs * sizeof(*a->nhs)) &&
	       !memcmp(a->neighs, b->neighs, a->nneighs * sizeof(*a->neighs));
}

void nio_fib_free(struct nio_fib *fib)
{
	free(fib);
}

/* ---------------------------------------------------------------- publishing */

static void worker_loops(const struct neigh *nb, uint64_t *loops)
{
	for (unsigned i = 0; i < nb->d->nworkers; i++)
		loops[i] = atomic_load(&nb->d->workers[i].loops);
}

/* Has every worker passed two loop boundaries since then? */
static bool all_moved_on(const struct neigh *nb, const uint64_t *then, const uint64_t *now)
{
	for (unsigned i = 0; i < nb->d->nworkers; i++)
		if (now[i] - then[i] < 2)
			return false;
	return true;
}

/*
 * Two loop boundaries after the swap, the iteration that may have loaded the old pointer is
 * over and every later one loads the new pointer (a worker holds no fib across iterations).
 */
static void reap(struct neigh *nb)
{
	uint64_t now[NIO_MAX_WORKERS];
	unsigned keep = 0;

	worker_loops(nb, now);
	for (unsigned i = 0; i < nb->nretired; i++) {
		if (all_moved_on(nb, nb->retired[i].loops, now))
			nio_fib_free(nb->retired[i].fib);
		else
			nb->retired[keep++] = nb->retired[i];
	}
	nb->nretired = keep;
}

/* An idle worker sleeps in poll(); waking it makes it pass the boundaries reap() waits for. */
static void reap_later(struct neigh *nb)
{
	struct timeval tv = { 0, REAP_US };

	nio_workers_wake(nb->d);
	evtimer_add(nb->reap_ev, &tv);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct neigh *nb = arg;

	(void)fd;
	(void)what;
	reap(nb);
	if (nb->nretired)
		reap_later(nb);
}

/*
 * A full retire list means a worker is not looping: stop them all once and free everything.
 * A stuck worker may still hold a snapshot: then the oldest is leaked rather than freed.
 */
static void retire(struct neigh *nb, struct nio_fib *old)
{
	char err[128];

	reap(nb);
	if (nb->nretired == RETIRE_MAX) {
		if (nio_workers_pause(nb->d, err, sizeof(err)) == 0) {
			nio_workers_resume(nb->d);
			while (nb->nretired)
				nio_fib_free(nb->retired[--nb->nretired].fib);
		} else {
			memmove(nb->retired, nb->retired + 1,
				sizeof(nb->retired[0]) * --nb->nretired);
		}
	}
	nb->retired[nb->nretired].fib = old;
	worker_loops(nb, nb->retired[nb->nretired++].loops);
	reap_later(nb);
}

static void publish(struct neigh *nb, struct nio_fib *fib)
{
	struct nio_fib *old = nb->cur;

	fib->generation = old ? old->generation + 1 : 1;
	/* seq_cst: the swap is ordered before the loop count retire() reads */
	for (unsigned i = 0; i < nb->d->nworkers; i++)
		atomic_store(&nb->d->workers[i].fib, fib);
	nb->cur = fib;
	if (old)
		retire(nb, old);
	log_debug("fib generation %llu: %u routes, %u neighbours",
		  (unsigned long long)fib->generation, fib->nroutes, fib->nneighs);
}

static void rebuild(struct neigh *nb)
{
	struct nio_fib *fib = fib_build(nb);

	nb->dirty = false;
	if (!fib) {
		log_warnx("fib snapshot: out of memory; keeping generation %llu",
			  nb->cur ? (unsigned long long)nb->cur->generation : 0ull);
		return;
	}
	if (fib_same(fib, nb->cur))
		nio_fib_free(fib);
	else
		publish(nb, fib);
}

/* A reload may name other tables: mirror what the new configuration uses. */
void nio_neigh_refresh(struct netiod *d)
{
	if (d->neigh)
		rebuild(d->neigh);
}

/* ---------------------------------------------------------------- netlink */

static void on_change(struct nl_cache *cache, struct nl_object *obj, int action, void *arg)
{
	struct neigh *nb = arg;

	(void)cache;
	(void)obj;
	(void)action;
	nb->dirty = true;
}

static void on_link(struct nl_cache *cache, struct nl_object *obj, int action, void *arg)
{
	struct neigh *nb = arg;

	(void)cache;
	(void)obj;
	(void)action;
	nb->links_dirty = true;
}

/*
 * Each port against the device of its name now: gone, back, or created again meanwhile. The
 * kernel removes the IPv4 routes of a deleted device, and flips a route's linkdown flag with
 * the carrier, without telling anyone: a link change means dumping the routes again.
 */
static void ports_sync(struct neigh *nb)
{
	const struct nio_config *c = nb->d->running;
	int err;

	nb->links_dirty = false;
	if ((err = nl_cache_refill(nb->sync, nb->routes)) < 0)
		log_warnx("netlink route dump after a link change: %s", nl_geterror(err));
	nb->dirty = true;
	for (unsigned i = 0; c && i < c->nports; i++) {
		struct nio_port *p = c->ports[i];
		struct rtnl_link *l;
		int ifindex = 0;

		if (!p->device[0])
			continue; /* pcap */
		if ((l = rtnl_link_get_by_name(nb->links, p->device))) {
			ifindex = rtnl_link_get_ifindex(l);
			rtnl_link_put(l);
		}
		nio_port_device_state(nb->d, p, ifindex);
	}
}

/* Notifications were lost: dump the tables again rather than trust the caches. */
static void resync(struct neigh *nb)
{
	int err;

	if ((err = nl_cache_refill(nb->sync, nb->routes)) < 0 ||
	    (err = nl_cache_refill(nb->sync, nb->neighs)) < 0 ||
	    (err = nl_cache_refill(nb->sync, nb->links)) < 0)
		log_warnx("netlink resync: %s", nl_geterror(err));
	nb->dirty = true;
	nb->links_dirty = true;
}

/* One rebuild per batch of notifications, not one per message. */
static void on_netlink(evutil_socket_t fd, short what, void *arg)
{
	struct neigh *nb = arg;
	int err;

	(void)fd;
	(void)what;
	err = nl_cache_mngr_data_ready(nb->mngr);
	if (err < 0) {
		log_warnx("netlink notifications: %s; resynchronising", nl_geterror(err));
		resync(nb);
	}
	if (nb->links_dirty)
		ports_sync(nb);
	if (nb->dirty)
		rebuild(nb);
}

static int nl_open(struct neigh *nb)
{
	int err;

	nb->sock = nl_socket_alloc();
	nb->sync = nl_socket_alloc();
	if (!nb->sock || !nb->sync)
		return -NLE_NOMEM;
	if ((err = nl_connect(nb->sync, NETLINK_ROUTE)) < 0 ||
	    (err = nl_cache_mngr_alloc(nb->sock, NETLINK_ROUTE, 0, &nb->mngr)) < 0)
		return err;
	if (nl_socket_set_buffer_size(nb->sock, NL_RCVBUF, 0) < 0)
		log_warnx("netlink receive buffer: keeping the default size");
	if ((err = nl_cache_mngr_add(nb->mngr, "route/route", on_change, nb, &nb->routes)) < 0 ||
	    (err = nl_cache_mngr_add(nb->mngr, "route/neigh", on_change, nb, &nb->neighs)) < 0 ||
	    (err = nl_cache_mngr_add(nb->mngr, "route/link", on_link, nb, &nb->links)) < 0)
		return err;
	return 0;
}

/* ---------------------------------------------------------------- resolving next hops */

static bool probed_recently(struct neigh *nb, const uint8_t addr[16], int ifindex)
{
	uint64_t now = nio_now_ns();

	for (unsigned i = 0; i < PROBE_RECENT; i++) {
		const struct probe *p = &nb->recent[i];

		if (p->ns && now - p->ns < PROBE_HOLDOFF_NS && p->ifindex == ifindex &&
		    !memcmp(p->addr, addr, 16))
			return true;
	}
	nb->recent[nb->recent_next] = (struct probe){ .ifindex = ifindex, .ns = now };
	memcpy(nb->recent[nb->recent_next].addr, addr, 16);
	nb->recent_next = (nb->recent_next + 1) % PROBE_RECENT;
	return false;
}

static int send_probe4(struct neigh *nb, const uint8_t addr[16], int ifindex)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
	} cm = { 0 };
	struct msghdr msg = { .msg_name = &sin,
			      .msg_namelen = sizeof(sin),
			      .msg_control = cm.buf,
			      .msg_controllen = sizeof(cm.buf) };
	struct in_pktinfo pi = { .ipi_ifindex = ifindex };

	memcpy(&sin.sin_addr, addr + 12, 4);
	cm.h.cmsg_level = IPPROTO_IP;
	cm.h.cmsg_type = IP_PKTINFO;
	cm.h.cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(&cm.h), &pi, sizeof(pi));
	return (int)sendmsg(nb->probe4, &msg, MSG_DONTWAIT);
}

static int send_probe6(struct neigh *nb, const uint8_t addr[16], int ifindex)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} cm = { 0 };
	struct msghdr msg = { .msg_name = &sin6,
			      .msg_namelen = sizeof(sin6),
			      .msg_control = cm.buf,
			      .msg_controllen = sizeof(cm.buf) };
	struct in6_pktinfo pi = { .ipi6_ifindex = (unsigned)ifindex };

	memcpy(&sin6.sin6_addr, addr, 16);
	if (IN6_IS_ADDR_LINKLOCAL(&sin6.sin6_addr))
		sin6.sin6_scope_id = (uint32_t)ifindex;
	cm.h.cmsg_level = IPPROTO_IPV6;
	cm.h.cmsg_type = IPV6_PKTINFO;
	cm.h.cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(&cm.h), &pi, sizeof(pi));
	return (int)sendmsg(nb->probe6, &msg, MSG_DONTWAIT);
}

/*
 * An empty datagram to the discard port, sent out of ifindex, makes the kernel run ARP or ND
 * for addr; the resulting neighbour entry reaches the worker through the notifications.
 */
void nio_neigh_resolve(struct netiod *d, const uint8_t addr[16], int ifindex)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct neigh *nb = d->neigh;
	char buf[INET6_ADDRSTRLEN];
	int rc;

	if (!nb || probed_recently(nb, addr, ifindex))
		return;
	if (!memcmp(addr, v4mapped, sizeof(v4mapped)))
		rc = send_probe4(nb, addr, ifindex);
	else
		rc = send_probe6(nb, addr, ifindex);
	nio_addr_format(addr, buf, sizeof(buf));
	if (rc < 0)
		log_warn("resolve %s on ifindex %d", buf, ifindex);
	else
		log_debug("resolve %s on ifindex %d", buf, ifindex);
}

static void on_miss(evutil_socket_t fd, short what, void *arg)
{
	struct neigh *nb = arg;
	uint8_t addr[16];
	uint64_t v;
	int ifindex;

	(void)what;
	(void)!read(fd, &v, sizeof(v));
	for (unsigned i = 0; i < MISS_DRAIN_MAX; i++) {
		bool any = false;

		for (unsigned w = 0; w < nb->d->nworkers; w++) {
			if (nio_worker_miss_pop(&nb->d->workers[w], addr, &ifindex) < 0)
				continue;
			nio_neigh_resolve(nb->d, addr, ifindex);
			any = true;
		}
		if (!any)
			break;
	}
}

/* ---------------------------------------------------------------- for show_fib.c */

/* The snapshot the workers use now; only the control thread frees it, after a later swap. */
const struct nio_fib *nio_neigh_fib(struct netiod *d)
{
	const struct neigh *nb = d->neigh;

	return nb ? nb->cur : NULL;
}

/* The kernel's state of neighbour addr on ifindex as iproute2 names it ("reachable",
 * "stale", "incomplete", "failed"...): the snapshot keeps only usable entries, without it.
 * -1 when the kernel has no entry. */
int nio_neigh_kernel_state(struct netiod *d, const uint8_t addr[16], int ifindex, char *buf,
			   size_t len)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const struct neigh *nb = d->neigh;
	bool v4 = !memcmp(addr, v4mapped, sizeof(v4mapped));
	struct nl_addr *a;
	struct rtnl_neigh *n;

	if (!nb ||
	    !(a = nl_addr_build(v4 ? AF_INET : AF_INET6, v4 ? addr + 12 : addr, v4 ? 4 : 16)))
		return -1;
	n = rtnl_neigh_get(nb->neighs, ifindex, a);
	nl_addr_put(a);
	if (!n)
		return -1;
	rtnl_neigh_state2str(rtnl_neigh_get_state(n), buf, len);
	rtnl_neigh_put(n);
	return 0;
}

/* ---------------------------------------------------------------- init / fini */

static int events_add(struct neigh *nb)
{
	struct event_base *base = nb->d->base;

	nb->nl_ev = event_new(base, nl_cache_mngr_get_fd(nb->mngr), EV_READ | EV_PERSIST,
			      on_netlink, nb);
	nb->reap_ev = evtimer_new(base, on_reap, nb);
	if (!nb->nl_ev || !nb->reap_ev || event_add(nb->nl_ev, NULL) < 0)
		return -1;
	for (unsigned i = 0; i < nb->d->nworkers; i++) {
		if (nb->d->workers[i].miss_fd < 0)
			continue; /* no worker: nothing will ask for resolution */
		nb->miss_ev[i] = event_new(base, nb->d->workers[i].miss_fd, EV_READ | EV_PERSIST,
					   on_miss, nb);
		if (!nb->miss_ev[i] || event_add(nb->miss_ev[i], NULL) < 0)
			return -1;
	}
	return 0;
}

static void neigh_free(struct neigh *nb)
{
	if (nb->nl_ev)
		event_free(nb->nl_ev);
	for (unsigned i = 0; i < NIO_MAX_WORKERS; i++)
		if (nb->miss_ev[i])
			event_free(nb->miss_ev[i]);
	if (nb->reap_ev)
		event_free(nb->reap_ev);
	if (nb->mngr)
		nl_cache_mngr_free(nb->mngr); /* frees the caches it filled */
	if (nb->sock)
		nl_socket_free(nb->sock);
	if (nb->sync)
		nl_socket_free(nb->sync);
	if (nb->probe4 >= 0)
		close(nb->probe4);
	if (nb->probe6 >= 0)
		close(nb->probe6);
	free(nb);
}

int nio_neigh_init(struct netiod *d)
{
	struct neigh *nb = calloc(1, sizeof(*nb));
	int err;

	if (!nb)
		return -1;
	nb->d = d;
	nb->probe4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	nb->probe6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (nb->probe4 < 0 || nb->probe6 < 0)
		log_warn("neighbour probe socket");
	if ((err = nl_open(nb)) < 0) {
		log_warnx("netlink route caches: %s", nl_geterror(err));
		goto err;
	}
	if (events_add(nb) < 0) {
		log_warnx("netlink events: cannot register with the event loop");
		goto err;
	}
	d->neigh = nb;
	rebuild(nb);
	return 0;
err:
	neigh_free(nb);
	return -1;
}

/* The worker is stopped (or never started): nothing reads the snapshots any more. */
void nio_neigh_fini(struct netiod *d)
{
	struct neigh *nb = d->neigh;

	if (!nb)
		return;
	for (unsigned i = 0; i < d->nworkers; i++)
		atomic_store(&d->workers[i].fib, NULL);
	nio_fib_free(nb->cur);
	while (nb->nretired)
		nio_fib_free(nb->retired[--nb->nretired].fib);
	neigh_free(nb);
	d->neigh = NULL;
}

/* Where a packet enters: the worker thread polls the ports, classifies and runs pipelines. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netiod.h"

#define POLL_MAX_MS 100

static _Thread_local struct nio_pool *cur_pool;
static _Thread_local const struct nio_config *cur_conf; /* the worker's, for services' calls */
static struct nio_pool *main_pool; /* the control thread frees into it only while paused */

void nio_worker_pkt_free(struct nio_pkt *p)
{
	nio_pool_put(cur_pool ? cur_pool : main_pool, p);
}

/* For services' ICMP errors: the input port's own address of the family; -1 if none. */
int nio_worker_icmp_src(const struct nio_pkt *p, uint8_t family, uint8_t *out)
{
	const struct nio_port *in;

	if (!cur_conf || p->in_port >= cur_conf->nports)
		return -1;
	in = cur_conf->ports[p->in_port];
	if (family == 4 && in->has_v4)
		memcpy(out, &in->addr4, 4);
	else if (family == 6 && in->has_v6)
		memcpy(out, &in->addr6, 16);
	else
		return -1;
	return 0;
}

/* For services that turn one packet into several; NULL outside a worker. */
struct nio_pkt *nio_worker_pkt_alloc(void)
{
	return cur_pool ? nio_pool_get(cur_pool) : NULL;
}

void nio_worker_miss_push(struct nio_worker *w, const uint8_t addr[16], int ifindex)
{
	unsigned head = atomic_load_explicit(&w->miss_head, memory_order_relaxed);
	unsigned tail = atomic_load_explicit(&w->miss_tail, memory_order_acquire);
	uint64_t one = 1;

	if (head - tail >= 64)
		return; /* the control thread is behind; the next miss asks again */
	for (unsigned i = tail; i != head; i++)
		if (!memcmp(w->miss_addr[i % 64], addr, 16))
			return; /* already asked */
	memcpy(w->miss_addr[head % 64], addr, 16);
	w->miss_ifindex[head % 64] = ifindex;
	/* release: the slot is written before the control thread can see the new head */
	atomic_store_explicit(&w->miss_head, head + 1, memory_order_release);
	(void)!write(w->miss_fd, &one, sizeof(one)); /* EAGAIN: a wake-up is already pending */
}

int nio_worker_miss_pop(struct nio_worker *w, uint8_t addr[16], int *ifindex)
{
	unsigned tail = atomic_load_explicit(&w->miss_tail, memory_order_relaxed);
	unsigned head = atomic_load_explicit(&w->miss_head, memory_order_acquire);

	if (tail == head)
		return -1;
	memcpy(addr, w->miss_addr[tail % 64], 16);
	*ifindex = w->miss_ifindex[tail % 64];
	atomic_store_explicit(&w->miss_tail, tail + 1, memory_order_release);
	return 0;
}

static void flow_detach(struct nio_flow *f, void *arg)
{
	const struct nio_config *c = arg;
	const struct nio_pipeline *pl;

	if (f->pipeline < 0 || (unsigned)f->pipeline >= c->npipelines)
		return;
	pl = &c->pipelines[f->pipeline];
	for (unsigned i = 0; i < pl->nsvcs; i++)
		if (pl->svcs[i].svc->flow_detach && pl->svcs[i].svc->flow_state_size)
			pl->svcs[i].svc->flow_detach(pl->svcs[i].inst,
						     f->state + pl->svcs[i].state_off);
}

static void flow_attach(const struct nio_config *c, struct nio_flow *f)
{
	const struct nio_pipeline *pl = &c->pipelines[f->pipeline];

	for (unsigned i = 0; i < pl->nsvcs; i++)
		if (pl->svcs[i].svc->flow_attach && pl->svcs[i].svc->flow_state_size)
			pl->svcs[i].svc->flow_attach(pl->svcs[i].inst,
						     f->state + pl->svcs[i].state_off, &f->key);
}

static struct nio_flow *flow_get(struct nio_worker *w, const struct nio_config *c,
				 struct nio_pkt *p, uint64_t now)
{
	struct nio_flow *f = nio_flow_lookup(&w->flows, &p->key, p->hash);

	if (f)
		return f;
	f = nio_flow_insert(&w->flows, &p->key, p->hash, now, flow_detach, (void *)c);
	if (!f)
		return NULL;
	f->pipeline = (int16_t)(nio_is_port_addr(c, p->key.family, p->key.dst)
					? nio_classify_local(c, &p->key)
					: nio_classify(c, &p->key));
	if (f->pipeline >= 0)
		flow_attach(c, f);
	return f;
}

/* Parse, classify, and group a received burst by pipeline. */
static void process_rx(struct nio_worker *w, struct nio_config *c, struct nio_port *port,
		       struct nio_pkt **pkts, uint16_t n, uint64_t now)
{
	static _Thread_local struct nio_pkt *vec[NIO_MAX_PIPELINES][NIO_BURST_MAX];
	uint16_t cnt[NIO_MAX_PIPELINES] = { 0 };
	uint64_t used = 0; /* bit per pipeline; NIO_MAX_PIPELINES <= 64 */

	for (uint16_t i = 0; i < n; i++) {
		struct nio_pkt *p = pkts[i];
		struct nio_flow *f;
		int r = nio_parse(p);

		if (r) {
			if (r < 0)
				port->stats.rx_ignored++;
			else
				port->stats.drops[r - 1]++;
			nio_worker_pkt_free(p);
			continue;
		}
		p->hash = nio_flow_hash(&p->key);
		f = flow_get(w, c, p, now);
		if (!f || f->pipeline < 0) {
			port->stats.rx_unclaimed++;
			nio_worker_pkt_free(p);
			continue;
		}
		f->last_ns = now;
		f->packets++;
		f->bytes += p->len;
		p->flow = f;
		vec[f->pipeline][cnt[f->pipeline]++] = p;
		used |= 1ull << f->pipeline;
	}
	for (unsigned pl = 0; used; pl++, used >>= 1)
		if (used & 1)
			nio_pipeline_run(w, c, &c->pipelines[pl], vec[pl], cnt[pl]);
}

/* Open and not gone; relaxed: a port found gone a turn late only returns nothing. */
static bool port_live(struct nio_port *p)
{
	return p->open && !atomic_load_explicit(&p->gone, memory_order_relaxed);
}

static unsigned poll_ports(struct nio_worker *w, struct nio_config *c, uint64_t now)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];
	unsigned total = 0;

	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_port *port = c->ports[i];
		uint16_t n;

		if (!port_live(port))
			continue;
		n = port->ops->rx_burst(port, &w->pool, pkts, (uint16_t)c->burst);
		if (n)
			process_rx(w, c, port, pkts, n, now);
		total += n;
	}
	return total;
}

static void flush_ports(struct nio_config *c)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (c->ports[i]->open && c->ports[i]->ops->flush)
			c->ports[i]->ops->flush(c->ports[i]);
}

/* Nothing to do: sleep in poll() on every port and the wake-up eventfd. */
static void idle_wait(struct nio_worker *w, struct nio_config *c, int timeout_ms)
{
	struct pollfd fds[NIO_MAX_PORTS + 1];
	struct nio_port *ports[NIO_MAX_PORTS + 1];
	nfds_t n = 0;
	uint64_t v;

	fds[n++] = (struct pollfd){ .fd = w->wake_fd, .events = POLLIN };
	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_port *p = c->ports[i];
		int fd = port_live(p) && p->ops->fd ? p->ops->fd(p) : -1;

		if (fd >= 0) {
			ports[n] = p;
			fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
	}
	w->idle_sleeps++;
	if (poll(fds, n, timeout_ms) <= 0)
		return;
	if (fds[0].revents & POLLIN)
		(void)!read(w->wake_fd, &v, sizeof(v));
	/* An error poll() keeps reporting would never let the worker sleep again. */
	for (nfds_t i = 1; i < n; i++) {
		if (!(fds[i].revents & (POLLERR | POLLNVAL)))
			continue;
		ports[i]->stats.poll_errors++;
		if (!ports[i]->ops->poll_error || ports[i]->ops->poll_error(ports[i]) < 0)
			atomic_store(&ports[i]->gone, true);
	}
}

static void honour_pause(struct nio_worker *w)
{
	atomic_store(&w->paused, 1);
	while (atomic_load(&w->pause_req) && !atomic_load(&w->stop))
		usleep(50);
	atomic_store(&w->paused, 0);
}

static int sleep_ms(uint64_t now, uint64_t next_ns)
{
	if (!next_ns)
		return POLL_MAX_MS;
	if (next_ns <= now)
		return 0;
	return (int)((next_ns - now) / 1000000 < POLL_MAX_MS ? (next_ns - now) / 1000000
							     : POLL_MAX_MS);
}

static void *worker_main(void *arg)
{
	struct nio_worker *w = arg;
	uint64_t last_busy = nio_now_ns(), last_expire = last_busy;

	cur_pool = &w->pool;
	while (!atomic_load(&w->stop)) {
		struct nio_config *c;
		uint64_t now = nio_now_ns(), next = 0;
		unsigned n;

		if (atomic_load(&w->pause_req)) {
			honour_pause(w);
			continue;
		}
		c = atomic_load_explicit(&w->cfg, memory_order_acquire);
		cur_conf = c;
		/* before new packets, so those that waited for a neighbour leave first */
		nio_pending_run(&w->pending, c, atomic_load_explicit(&w->fib, memory_order_acquire),
				now);
		n = poll_ports(w, c, now);
		if (c->any_dequeue)
			nio_pipeline_dequeue(w, c, now, &next);
		flush_ports(c);
		/* seq_cst: neigh.c frees a fib snapshot once loops has moved on by two */
		atomic_fetch_add(&w->loops, 1);
		if (now - last_expire > 1000000000ull) {
			nio_flow_expire(&w->flows, now, (uint64_t)c->flow_idle_ms * 1000000ull,
					flow_detach, c);
			last_expire = now;
		}
		if (n) {
			last_busy = now;
			w->busy_loops++;
		} else if (now - last_busy > (uint64_t)c->spin_us * 1000ull) {
			if (next && next <= now + 50000)
				continue; /* a held packet is due within 50 us: keep spinning */
			idle_wait(w, c, sleep_ms(now, next));
		}
	}
	return NULL;
}

static size_t state_stride(const struct nio_config *c)
{
	size_t m = 0;

	for (unsigned i = 0; i < c->npipelines; i++)
		if (c->pipelines[i].flow_state_size > m)
			m = c->pipelines[i].flow_state_size;
	return m;
}

/*
 * Publish c to the worker. The caller holds the worker paused (or it has not started), so
 * no packet is in flight: flows built for the old configuration are detached and dropped.
 */
void nio_worker_set_config(struct nio_worker *w, struct nio_config *c)
{
	struct nio_config *old = atomic_load(&w->cfg);
	size_t stride = state_stride(c);

	if (old)
		nio_flow_flush(&w->flows, flow_detach, old);
	nio_pending_flush(&w->pending);
	if (!w->flows.buckets || stride > w->flows.state_stride ||
	    c->flow_table_size != w->flows.capacity) {
		nio_flow_table_fini(&w->flows);
		if (nio_flow_table_init(&w->flows, c->flow_table_size, stride) < 0)
			fatal("flow table of %u entries", c->flow_table_size);
	}
	atomic_store_explicit(&w->cfg, c, memory_order_release);
}

/* Forget every flow (their services' state detached); the worker must be paused. */
void nio_worker_flush_flows(struct nio_worker *w)
{
	struct nio_config *c = atomic_load(&w->cfg);

	if (c)
		nio_flow_flush(&w->flows, flow_detach, c);
}

int nio_worker_start(struct netiod *d, struct nio_worker *w)
{
	(void)d;
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->miss_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0 || w->miss_fd < 0)
		return -1;
	if (nio_pool_init(&w->pool, 16384) < 0)
		return -1;
	main_pool = &w->pool;
	return pthread_create(&w->thread, NULL, worker_main, w) ? -1 : 0;
}

void nio_worker_wake(struct nio_worker *w)
{
	uint64_t one = 1;

	(void)!write(w->wake_fd, &one, sizeof(one));
}

void nio_worker_stop(struct nio_worker *w)
{
	atomic_store(&w->stop, 1);
	nio_worker_wake(w);
	pthread_join(w->thread, NULL);
	nio_pending_flush(&w->pending);
}

/* Stop the worker at a quiescent point: no packet or service call in flight on return. */
void nio_worker_pause(struct nio_worker *w)
{
	atomic_store(&w->pause_req, 1);
	nio_worker_wake(w);
	while (!atomic_load(&w->paused))
		usleep(20);
}

void nio_worker_resume(struct nio_worker *w)
{
	atomic_store(&w->pause_req, 0);
	while (atomic_load(&w->paused))
		usleep(20);
}

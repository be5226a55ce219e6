/* netio.ko's events on the control thread: a binding a kmod port uses was destroyed. */
#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <netio/uapi.h>

#include "netiod.h"

/*
 * One nonblocking generic netlink socket joined to the "events" group of the netio family,
 * read by the libevent loop. When the module destroys a binding (its device was unregistered,
 * someone unbound it, the module is going away) the port using it is marked gone: the worker
 * stops polling it, `netioctl port list` shows it, and a reload opens it afresh. The worker
 * finds out on its own too (the binding's fd reports POLLERR); the event says why.
 */
struct kmod_events {
	struct netiod *d;
	struct nl_sock *sk;
	struct event *ev;
	int family;
};

static const char *gone_reason(uint32_t r)
{
	static const char *const names[] = {
		[NETIO_GONE_UNBIND] = "unbound",
		[NETIO_GONE_DEVICE] = "device removed",
		[NETIO_GONE_HOLD] = "hold time expired",
		[NETIO_GONE_UNLOAD] = "module unloading",
	};

	return r < sizeof(names) / sizeof(names[0]) && names[r] ? names[r] : "unknown reason";
}

static int on_msg(struct nl_msg *m, void *arg)
{
	struct kmod_events *k = arg;
	struct nlmsghdr *h = nlmsg_hdr(m);
	struct nlattr *tb[NETIO_A_MAX + 1];
	const struct nio_config *c = k->d->running;
	uint32_t id, reason;

	if (h->nlmsg_type != k->family || genlmsg_parse(h, 0, tb, NETIO_A_MAX, NULL) < 0 ||
	    ((struct genlmsghdr *)nlmsg_data(h))->cmd != NETIO_CMD_BIND_GONE ||
	    !tb[NETIO_A_BIND_ID] || nla_len(tb[NETIO_A_BIND_ID]) < 4)
		return NL_SKIP;
	id = nla_get_u32(tb[NETIO_A_BIND_ID]);
	reason = tb[NETIO_A_REASON] && nla_len(tb[NETIO_A_REASON]) >= 4
			 ? nla_get_u32(tb[NETIO_A_REASON])
			 : NETIO_GONE_UNSPEC;
	for (unsigned i = 0; c && i < c->nports; i++) {
		struct nio_port *p = c->ports[i];

		if (!p->open || p->ops != &nio_port_kmod_ops || nio_kmod_bind_id(p) != id)
			continue;
		atomic_store(&p->gone, true);
		log_warnx(
			"port %s: netio.ko destroyed binding %u on %s (%s); the port is down until "
			"a reload opens it again",
			p->name, id, p->device, gone_reason(reason));
	}
	return NL_OK;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct kmod_events *k = arg;
	int rc;

	(void)fd;
	(void)what;
	/* one datagram per call; the event stays armed while more are queued */
	rc = nl_recvmsgs_default(k->sk);
	if (rc < 0 && rc != -NLE_AGAIN)
		log_warnx("netio.ko events: %s%s", nl_geterror(rc),
			  rc == -NLE_NOMEM ? " (events lost: see 'netioctl port list')" : "");
}

static void events_free(struct kmod_events *k)
{
	if (k->ev)
		event_free(k->ev);
	if (k->sk)
		nl_socket_free(k->sk);
	free(k);
}

static struct kmod_events *events_open(struct netiod *d)
{
	struct kmod_events *k = calloc(1, sizeof(*k));
	int grp;

	if (!k)
		return NULL;
	k->d = d;
	k->sk = nl_socket_alloc();
	if (!k->sk || genl_connect(k->sk) < 0)
		goto err;
	k->family = genl_ctrl_resolve(k->sk, NETIO_GENL_NAME);
	grp = genl_ctrl_resolve_grp(k->sk, NETIO_GENL_NAME, NETIO_GENL_MCGRP_EVENTS);
	if (k->family < 0 || grp < 0) {
		log_info("netio.ko sends no binding events (older module): a lost binding shows "
			 "only as a poll error");
		goto err;
	}
	nl_socket_disable_seq_check(k->sk);
	nl_socket_modify_cb(k->sk, NL_CB_VALID, NL_CB_CUSTOM, on_msg, k);
	if (nl_socket_add_membership(k->sk, grp) < 0 || nl_socket_set_nonblocking(k->sk) < 0)
		goto err;
	k->ev = event_new(d->base, nl_socket_get_fd(k->sk), EV_READ | EV_PERSIST, on_readable, k);
	if (!k->ev || event_add(k->ev, NULL) < 0)
		goto err;
	return k;
err:
	events_free(k);
	return NULL;
}

/* Listen once the running configuration has a kmod port (and the loop exists). */
void nio_kmod_events_sync(struct netiod *d)
{
	bool want = false;

	if (d->kmod_events || !d->base || !d->running)
		return;
	for (unsigned i = 0; i < d->running->nports; i++)
		want |= d->running->ports[i]->open &&
			d->running->ports[i]->ops == &nio_port_kmod_ops;
	if (want)
		d->kmod_events = events_open(d);
}

void nio_kmod_events_fini(struct netiod *d)
{
	if (d->kmod_events)
		events_free(d->kmod_events);
	d->kmod_events = NULL;
}

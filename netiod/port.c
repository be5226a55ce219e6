/* Port life cycle: pick the driver, open, keep unchanged ports open across reloads, follow the
 * device when it is deleted and created again, close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netiod.h"

/* What the port reads: its device, or what its driver says (a file). */
const char *nio_port_source(const struct nio_port *port)
{
	if (port->device[0] || !port->ops->source)
		return port->device;
	return port->ops->source(port);
}

/* A live device is locked for this netiod before anything touches it (offloads, claims). */
static bool locks_device(const struct nio_port *p)
{
	return p->device[0] && !(p->ops->flags & NIO_DRV_F_NO_DEVICE);
}

/* Held from the first open to the last put, across reopens (port_reopen) and failed ones. */
static void unlock(struct nio_port *p)
{
	if (p->locked)
		nio_devlock_put(p->device);
	p->locked = false;
}

static bool same_port(const struct nio_port *a, const struct nio_port *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->device, b->device) &&
	       !strcmp(a->driver, b->driver) && a->ops == b->ops &&
	       !memcmp(a->opts, b->opts, sizeof(a->opts));
}

struct nio_port *nio_port_reusable(const struct nio_config *old, const struct nio_port *p)
{
	for (unsigned i = 0; old && i < old->nports; i++)
		if (old->ports[i]->open && !atomic_load(&old->ports[i]->gone) &&
		    same_port(old->ports[i], p))
			return old->ports[i];
	return NULL;
}

/*
 * The driver may keep one queue per worker (nqueues as given) or set 1; a port with one queue is
 * polled by one worker (single-queue ports are spread over the workers in turn) and sent on by
 * any under tx_lock.
 */
static void queues_set(struct nio_port *p, unsigned nworkers)
{
	static unsigned next_rx;

	p->tx_shared = p->nqueues < nworkers;
	if (p->nqueues == 1)
		p->rx_worker = next_rx++ % nworkers;
}

static int open_port(const struct nio_config *c, struct nio_port *p, char *err, size_t errlen)
{
	char why[256] = "";

	if (p->auto_why[0])
		log_info("port %s: driver auto -> %s (%s)", p->name, p->ops->name, p->auto_why);
	if (nio_privs_check(p, why, sizeof(why)) < 0)
		return nio_err(err, errlen, "%s:%d: port '%s' (%s %s): %s", c->file, p->line,
			       p->name, p->ops->name, nio_port_source(p), why);
	p->nqueues = c->nworkers;
	if (locks_device(p)) {
		if (nio_devlock_get(p->device, why, sizeof(why)) < 0)
			return nio_err(err, errlen, "%s:%d: port '%s' (%s %s): %s", c->file,
				       p->line, p->name, p->ops->name, p->device, why);
		p->locked = true;
	}
	if (p->ops->open(p, why, sizeof(why)) < 0) {
		unlock(p);
		return nio_err(err, errlen, "%s:%d: port '%s' (%s %s): %s", c->file, p->line,
			       p->name, p->ops->name, nio_port_source(p),
			       why[0] ? why : "open failed");
	}
	queues_set(p, c->nworkers);
	p->open = true;
	p->refs = 1;
	return 0;
}

/* Two live ports on one device would each take a copy of every frame and forward it. */
static int check_devices(const struct nio_config *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->nports; i++)
		for (unsigned j = 0; j < i; j++)
			if (locks_device(c->ports[i]) && locks_device(c->ports[j]) &&
			    !strcmp(c->ports[i]->device, c->ports[j]->device))
				return nio_err(err, errlen,
					       "%s:%d: ports '%s' and '%s' both use device %s (one "
					       "port per device)",
					       c->file, c->ports[i]->line, c->ports[j]->name,
					       c->ports[i]->name, c->ports[i]->device);
	return 0;
}

/*
 * An exclusive driver's port holds its device alone (afxdp: a queue's second AF_XDP socket is
 * refused with EINVAL), and the running port stays open until the new configuration is
 * applied: a port that is not taken over (renamed, its driver written otherwise) cannot open
 * that device meanwhile. Said here, with what to do, rather than as the driver's errno.
 */
static const struct nio_port *holder(const struct nio_config *old, const struct nio_port *p)
{
	for (unsigned i = 0; old && (p->ops->flags & NIO_DRV_F_EXCLUSIVE) && i < old->nports; i++) {
		const struct nio_port *q = old->ports[i];

		if (q->open && !atomic_load(&q->gone) && q->ops == p->ops &&
		    !strcmp(q->device, p->device))
			return q;
	}
	return NULL;
}

static int held(const struct nio_config *c, const struct nio_config *old, const struct nio_port *p,
		char *err, size_t errlen)
{
	const struct nio_port *q = holder(old, p);

	if (!q)
		return 0;
	return nio_err(err, errlen,
		       "%s:%d: port '%s' (%s %s): the running port '%s' (driver %s) holds %s; a "
		       "reload keeps it only with the same name, driver and options: keep them, or "
		       "reload once without the port and then with it",
		       c->file, p->line, p->name, p->ops->name, p->device, q->name, q->driver,
		       q->device);
}

/* Open c's ports, taking over the ones old already has open with the same settings. */
int nio_config_open_ports(struct nio_config *c, const struct nio_config *old, char *err,
			  size_t errlen)
{
	if (check_devices(c, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < c->nports; i++) {
		struct nio_port *reuse = nio_port_reusable(old, c->ports[i]);

		if (reuse) {
			free(c->ports[i]);
			c->ports[i] = reuse;
			reuse->refs++;
		} else if (held(c, old, c->ports[i], err, errlen) < 0 ||
			   open_port(c, c->ports[i], err, errlen) < 0) {
			return -1;
		}
	}
	return 0;
}

void nio_port_put(struct nio_port *p)
{
	if (p->refs > 1) {
		p->refs--;
		return;
	}
	if (p->open)
		p->ops->close(p);
	unlock(p);
	free(p);
}

/* Close and open p again in place (the configurations keep their pointer), the worker paused:
 * the new device has a new ifindex, MAC and MTU. A driver that takes claims gets them again. */
static int port_reopen(struct netiod *d, struct nio_port *p, char *err, size_t errlen)
{
	char why[256] = "";
	int rc;

	if (nio_workers_pause(d, err, errlen) < 0)
		return -1;
	if (p->open)
		p->ops->close(p);
	p->open = false;
	p->nqueues = d->nworkers;
	rc = p->ops->open(p, why, sizeof(why));
	if (rc == 0) {
		queues_set(p, d->nworkers);
		p->open = true;
		p->deleted = false;
		atomic_store(&p->gone, false);
	}
	nio_workers_resume(d);
	if (rc < 0)
		return nio_err(err, errlen, "%s", why[0] ? why : "open failed");
	return d->running ? nio_port_set_claims(p, d->running, err, errlen) : 0;
}

/*
 * The kernel says p's device now has ifindex (0: no device of that name). A deleted device
 * takes the port down whatever the driver (an AF_PACKET socket stays bound to the dead
 * ifindex); a device of that name created later brings it back without a reload. An unbind
 * by the administrator (kmod gone, device still there) is left alone.
 */
void nio_port_device_state(struct netiod *d, struct nio_port *p, int ifindex)
{
	char err[256];

	if (!ifindex) {
		if (!p->deleted)
			log_warnx("port %s: device %s deleted; the port is down until a device of "
				  "that name exists again",
				  p->name, p->device);
		p->deleted = true;
		atomic_store(&p->gone, true);
		return;
	}
	if (!p->deleted && ifindex == p->ifindex)
		return;
	if (port_reopen(d, p, err, sizeof(err)) < 0) {
		p->deleted = true; /* try again at the device's next change */
		atomic_store(&p->gone, true);
		log_warnx("port %s: device %s is back (ifindex %d) but reopening failed: %s",
			  p->name, p->device, ifindex, err);
		return;
	}
	log_info("port %s: device %s is back (ifindex %d): reopened", p->name, p->device,
		 p->ifindex);
}

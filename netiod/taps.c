/* Ports the kernel also receives (taps: drivers that install no claims): its forwarding must be
 * off, secure is not enforced. */
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "netiod.h"

/*
 * An afpacket port sees a copy of each frame; the kernel still receives the original. If the
 * kernel forwards that family on the device, every packet netiod forwards leaves twice. IPv4
 * forwards what arrives on a device whose conf/DEV/forwarding is set (net.ipv4.ip_forward sets
 * every device's); IPv6 forwards when conf/all/forwarding is set, or conf/DEV/force_forwarding
 * on kernels that have it.
 */
bool nio_port_is_tap(const struct nio_port *port)
{
	return !port->ops->set_claims;
}

/* A sysctl's value: 1 on, 0 off, -1 absent (the device went away meanwhile). */
static int sysctl_get(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = 0;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v != 0;
}

/* The families (bit 4: IPv4, bit 6: IPv6) a pipeline's match can accept. */
static unsigned families(const struct nio_pipeline *pl)
{
	const struct nio_match *m = &pl->match;
	unsigned f = 0;

	if (m->family)
		return 1u << m->family;
	for (unsigned i = 0; i < m->nsrc; i++)
		f |= 1u << m->src[i].family;
	for (unsigned i = 0; i < m->ndst; i++)
		f |= 1u << m->dst[i].family;
	return f ? f : 1u << 4 | 1u << 6;
}

/* Families netiod forwards from port p: those of the pipelines that take input there. */
static unsigned port_families(const struct nio_config *c, unsigned p)
{
	unsigned f = 0;

	for (unsigned i = 0; i < c->npipelines; i++)
		if (c->pipelines[i].match.in_port < 0 || c->pipelines[i].match.in_port == (int)p)
			f |= families(&c->pipelines[i]);
	return f;
}

/* sysctl(8) writes a '.' in a device name (VLAN eth0.100) as '/'. */
static void sysctl_dev(const char *dev, char *out, size_t len)
{
	snprintf(out, len, "%s", dev);
	for (char *s = out; *s; s++)
		if (*s == '.')
			*s = '/';
}

/* The sysctl that makes the kernel forward family fam from dev (the one to turn off), or NULL. */
static const char *forwarding(unsigned fam, const char *dev, char *name, size_t len)
{
	char path[128], sdev[IFNAMSIZ];
	int all, one;

	sysctl_dev(dev, sdev, sizeof(sdev));
	if (fam == 4) {
		all = sysctl_get("/proc/sys/net/ipv4/ip_forward") == 1;
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", dev);
		one = sysctl_get(path);
		if (one == 0 || (one < 0 && !all))
			return NULL;
		if (all) /* setting it to 0 turns every device's off */
			snprintf(name, len, "net.ipv4.ip_forward");
		else
			snprintf(name, len, "net.ipv4.conf.%s.forwarding", sdev);
		return name;
	}
	if (sysctl_get("/proc/sys/net/ipv6/conf/all/forwarding") == 1) {
		snprintf(name, len, "net.ipv6.conf.all.forwarding");
		return name;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/force_forwarding", dev);
	if (sysctl_get(path) != 1)
		return NULL;
	snprintf(name, len, "net.ipv6.conf.%s.force_forwarding", sdev);
	return name;
}

/* A tap's driver calls this unless the kernel may forward what netiod forwards. */
int nio_tap_check_forwarding(const struct nio_config *c, const struct nio_port *port, char *err,
			     size_t errlen)
{
	unsigned fams = port_families(c, port->id);
	char name[96];

	/* -t on another machine (a CI host) says nothing about the gateway's sysctls; a start
	 * needs the device anyway */
	if (!if_nametoindex(port->device))
		return 0;
	for (unsigned fam = 4; fam <= 6; fam += 2) {
		if (!(fams & 1u << fam) || !forwarding(fam, port->device, name, sizeof(name)))
			continue;
		return nio_err(err, errlen,
			       "%s:%d: port '%s' (%s %s): the kernel forwards IPv%u (%s = 1), so "
			       "every packet netiod forwards would leave twice: run 'sysctl -w "
			       "%s=0', or set kernel-forwarding = \"allow\" if that is intended",
			       c->file, port->line, port->name, port->ops->name, port->device, fam,
			       name, name);
	}
	return 0;
}

/* The host settings each port's driver needs (its check_host). */
int nio_config_check_forwarding(const struct nio_config *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->nports; i++) {
		const struct nio_port *p = c->ports[i];

		if (p->ops->check_host && p->ops->check_host(c, p, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static bool uses_port(const struct nio_pipeline *pl, unsigned p)
{
	return pl->match.in_port < 0 || pl->match.in_port == (int)p || pl->out_port < 0 ||
	       pl->out_port == (int)p;
}

/* The tap ports a pipeline may take packets from or send them to. */
unsigned nio_pipeline_taps(const struct nio_config *c, const struct nio_pipeline *pl,
			   const struct nio_port **taps, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->nports && n < max; i++)
		if (uses_port(pl, i) && nio_port_is_tap(c->ports[i]))
			taps[n++] = c->ports[i];
	return n;
}

/* Say, for each secure pipeline, that a tap cannot keep its packets from the kernel. */
void nio_config_warn_taps(const struct nio_config *c)
{
	const struct nio_port *taps[NIO_MAX_PORTS];
	char list[512];

	for (unsigned i = 0; i < c->npipelines; i++) {
		const struct nio_pipeline *pl = &c->pipelines[i];
		unsigned n = nio_pipeline_taps(c, pl, taps, NIO_MAX_PORTS);
		size_t off = 0;

		if (pl->fail_mode != NIO_FAIL_SECURE || !n)
			continue;
		for (unsigned t = 0; t < n && off < sizeof(list); t++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s (%s %s)",
						t ? ", " : "", taps[t]->name, taps[t]->ops->name,
						taps[t]->device[0] ? taps[t]->device : "file");
		log_warnx("pipeline '%s': fail-mode secure is not enforced on %s: the kernel also "
			  "receives these packets (a tap, not a claim); only driver kmod "
			  "(netio.ko) keeps them from the kernel",
			  pl->name, list);
	}
}

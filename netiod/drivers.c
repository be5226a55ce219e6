/* The port driver table: adding a driver is one entry here and one port_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "netiod.h"

/* In the order driver = "auto" tries them (those with a probe): the module first. */
const struct nio_port_ops *const nio_drivers[] = {
	&nio_port_kmod_ops, &nio_port_afxdp_ops, &nio_port_afpacket_ops, &nio_port_pcap_ops, NULL,
};

const struct nio_port_ops *nio_driver_find(const char *name)
{
	for (const struct nio_port_ops *const *d = nio_drivers; *d; d++)
		if (!strcmp((*d)->name, name))
			return *d;
	return NULL;
}

/* The first driver whose probe accepts this host; why collects what each probe found. */
const struct nio_port_ops *nio_driver_auto(char *why, size_t len)
{
	size_t off = 0;

	why[0] = '\0';
	for (const struct nio_port_ops *const *d = nio_drivers; *d; d++) {
		char found[128] = "";
		bool ok;

		if (!(*d)->probe)
			continue;
		ok = (*d)->probe(found, sizeof(found));
		if (found[0] && off < len)
			off += (size_t)snprintf(why + off, len - off, "%s%s", off ? "; " : "",
						found);
		if (ok)
			return *d;
	}
	return NULL;
}

/* "auto|kmod|afpacket|pcap", for the error naming what driver may be. */
void nio_driver_names(char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "auto");

	for (const struct nio_port_ops *const *d = nio_drivers; *d && off < len; d++)
		off += (size_t)snprintf(buf + off, len - off, "|%s", (*d)->name);
}

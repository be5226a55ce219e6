/* Receive offloads of an afpacket port's device: off, or a refusal that says how to turn them off. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>

#include "netiod.h"

/*
 * AF_PACKET receives frames after GRO: with any of these on, a TCP stream reaches netiod as
 * super-frames far over the MTU, which it cannot forward (dropped as oversize; TCP through
 * the gateway falls to well under 1 Mbit/s). Merging happens on the device that receives from
 * the wire, so the lower devices of a VLAN, bridge or bond port are fixed too. TSO/GSO only
 * shape what the gateway's own stack sends, which netiod never reads (PACKET_IGNORE_OUTGOING):
 * they stay on.
 */
static const struct {
	const char *feature; /* the kernel's name (ETH_SS_FEATURES) */
	const char *ethtool; /* the word for `ethtool -K DEV WORD off` */
} merging[] = {
	{ "rx-gro", "gro" },
	{ "rx-lro", "lro" },
	{ "rx-gro-hw", "rx-gro-hw" },
	{ "rx-gro-list", "rx-gro-list" },
	{ "rx-udp-gro-forwarding", "rx-udp-gro-forwarding" },
};
#define NMERGING    (sizeof(merging) / sizeof(merging[0]))
#define MAX_LOWER   8 /* lower devices followed (VLAN on bond on NICs...) */
#define MAX_FEATURE 1024

struct dev_features {
	unsigned n; /* feature bits the kernel names */
	char (*names)[ETH_GSTRING_LEN];
	struct ethtool_gfeatures *get;
	int idx[NMERGING]; /* bit of merging[i], -1 if this kernel lacks it */
};

static int ethtool(int fd, const char *dev, void *cmd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = cmd;
	return ioctl(fd, SIOCETHTOOL, &ifr);
}

static int read_names(int fd, const char *dev, struct dev_features *f)
{
	/* the header and the one count it returns for the one set asked for */
	uint64_t buf[(sizeof(struct ethtool_sset_info) + sizeof(uint32_t) + 7) / 8] = { 0 };
	struct ethtool_sset_info *info = (struct ethtool_sset_info *)(void *)buf;
	struct ethtool_gstrings *gs;
	uint32_t count;

	info->cmd = ETHTOOL_GSSET_INFO;
	info->sset_mask = 1ull << ETH_SS_FEATURES;
	if (ethtool(fd, dev, info) < 0 || !info->sset_mask)
		return -1;
	count = info->data[0];
	if (!count || count > MAX_FEATURE)
		return -1;
	gs = calloc(1, sizeof(*gs) + (size_t)count * ETH_GSTRING_LEN);
	if (!gs)
		return -1;
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = count;
	if (ethtool(fd, dev, gs) < 0) {
		free(gs);
		return -1;
	}
	f->n = count;
	f->names = malloc((size_t)f->n * ETH_GSTRING_LEN);
	if (f->names)
		memcpy(f->names, gs->data, (size_t)f->n * ETH_GSTRING_LEN);
	free(gs);
	return f->names ? 0 : -1;
}

static int read_state(int fd, const char *dev, struct dev_features *f)
{
	unsigned blocks = (f->n + 31) / 32;

	if (!f->get)
		f->get = calloc(1, sizeof(*f->get) + blocks * sizeof(f->get->features[0]));
	if (!f->get)
		return -1;
	f->get->cmd = ETHTOOL_GFEATURES;
	f->get->size = blocks;
	return ethtool(fd, dev, f->get);
}

static bool active(const struct dev_features *f, unsigned m)
{
	int i = f->idx[m];

	return i >= 0 && (f->get->features[i / 32].active >> (i % 32) & 1u);
}

static bool fixed(const struct dev_features *f, unsigned m)
{
	const struct ethtool_get_features_block *b = &f->get->features[f->idx[m] / 32];
	uint32_t mask = 1u << (f->idx[m] % 32);

	return (b->never_changed & mask) || !(b->available & mask);
}

static int load(int fd, const char *dev, struct dev_features *f)
{
	if (read_names(fd, dev, f) < 0 || read_state(fd, dev, f) < 0)
		return -1;
	for (unsigned m = 0; m < NMERGING; m++) {
		f->idx[m] = -1;
		for (unsigned i = 0; i < f->n; i++)
			if (!strncmp(f->names[i], merging[m].feature, ETH_GSTRING_LEN))
				f->idx[m] = (int)i;
	}
	return 0;
}

static void unload(struct dev_features *f)
{
	free(f->names);
	free(f->get);
}

/* "ethtool -K DEV gro off lro off" for the merging features now on. */
static void command(const struct dev_features *f, const char *dev, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "ethtool -K %s", dev);

	for (unsigned m = 0; m < NMERGING && off < len; m++)
		if (active(f, m))
			off += (size_t)snprintf(buf + off, len - off, " %s off",
						merging[m].ethtool);
}

static int turn_off(int fd, const char *dev, const struct dev_features *f)
{
	unsigned blocks = (f->n + 31) / 32;
	struct ethtool_sfeatures *s = calloc(1, sizeof(*s) + blocks * sizeof(s->features[0]));
	int r;

	if (!s)
		return -1;
	s->cmd = ETHTOOL_SFEATURES;
	s->size = blocks;
	for (unsigned m = 0; m < NMERGING; m++)
		if (active(f, m))
			s->features[f->idx[m] / 32].valid |= 1u << (f->idx[m] % 32);
	r = ethtool(fd, dev, s); /* requested bits stay 0: off */
	free(s);
	return r < 0 ? -1 : 0;
}

static void log_changes(const struct nio_port *port, const char *dev,
			const struct dev_features *before, const struct dev_features *after)
{
	for (unsigned m = 0; m < NMERGING; m++)
		if (active(before, m) && !active(after, m))
			log_info("port %s: turned %s off on %s (AF_PACKET would receive merged "
				 "frames bigger than the MTU)",
				 port->name, merging[m].ethtool, dev);
}

static bool any_active(const struct dev_features *f)
{
	for (unsigned m = 0; m < NMERGING; m++)
		if (active(f, m))
			return true;
	return false;
}

/* One device: 0 when nothing merges any more. */
static int fix_dev(int fd, const struct nio_port *port, const char *dev, bool refuse, char *err,
		   size_t errlen)
{
	struct dev_features f = { 0 }, g = { 0 };
	char cmd[256];
	int r = 0;

	if (load(fd, dev, &f) < 0) {
		log_debug("port %s: no ethtool features for %s: %s", port->name, dev,
			  strerror(errno));
		unload(&f);
		return 0;
	}
	command(&f, dev, cmd, sizeof(cmd));
	for (unsigned m = 0; m < NMERGING && !refuse; m++)
		if (active(&f, m) && fixed(&f, m))
			r = nio_err(err, errlen,
				    "%s has %s on and its driver cannot turn it off: AF_PACKET "
				    "would receive merged frames bigger than the MTU; use driver "
				    "kmod or another device",
				    dev, merging[m].ethtool);
	if (!r && any_active(&f)) {
		if (refuse || turn_off(fd, dev, &f) < 0 || load(fd, dev, &g) < 0 || any_active(&g))
			r = nio_err(err, errlen,
				    "%s merges received frames (GRO/LRO), which AF_PACKET would "
				    "hand over bigger than the MTU and netiod would drop: run "
				    "'%s'%s",
				    dev, cmd,
				    refuse ? " (or set offloads = \"disable\" and netiod does it)"
					   : "");
		else
			log_changes(port, dev, &f, &g);
	}
	unload(&f);
	unload(&g);
	return r;
}

/* The devices under dev (sysfs lower_* links), depth first, bounded. */
static int fix_tree(int fd, const struct nio_port *port, const char *dev, bool refuse,
		    unsigned *budget, char *err, size_t errlen)
{
	char dir[300];
	struct dirent *e;
	DIR *d;
	int r;

	if (!*budget)
		return 0;
	(*budget)--;
	r = fix_dev(fd, port, dev, refuse, err, errlen);
	snprintf(dir, sizeof(dir), "/sys/class/net/%s", dev);
	if (r < 0 || !(d = opendir(dir)))
		return r;
	while (r == 0 && (e = readdir(d)))
		if (!strncmp(e->d_name, "lower_", 6) && strlen(e->d_name + 6) < IFNAMSIZ)
			r = fix_tree(fd, port, e->d_name + 6, refuse, budget, err, errlen);
	closedir(d);
	return r;
}

int nio_offloads_fix(const struct nio_port *port, bool refuse, char *err, size_t errlen)
{
	unsigned budget = MAX_LOWER;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return nio_err(err, errlen, "socket: %s", strerror(errno));
	r = fix_tree(fd, port, port->device, refuse, &budget, err, errlen);
	close(fd);
	return r;
}

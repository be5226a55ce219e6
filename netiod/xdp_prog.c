/* The afxdp port's XDP program on its device: loaded through libxdp's dispatcher or taken over
 * from a netiod that ran before, and its maps: claims, the XSK sockets, the box's addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "netiod.h"
#include "nio_paths.h"
#include "xdp/netio_xdp.h"

#define PROG_NAME "netio_xdp"

_Static_assert(NIO_XDP_NSTATS == NIO_XDP_STATS, "netiod.h and netio_xdp.h agree");

static const char *const map_names[NIO_XDP_NMAPS] = {
	[NIO_XDP_MAP_CLAIMS] = "nio_claims", [NIO_XDP_MAP_CONF] = "nio_conf",
	[NIO_XDP_MAP_XSKS] = "nio_xsks",     [NIO_XDP_MAP_LOCAL] = "nio_local",
	[NIO_XDP_MAP_STATS] = "nio_stats",
};

static bool keep_programs; /* the daemon is exiting: programs stay, fail-mode holds */

void nio_xdp_keep_programs(void)
{
	keep_programs = true;
}

/* libbpf's and libxdp's own messages: their warnings as netiod's debug lines (the errors that
 * matter come back as return codes and are reported with context). */
__attribute__((format(printf, 2, 0))) static int lib_print(enum libbpf_print_level level,
							   const char *fmt, va_list ap)
{
	char line[512];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("%s", line); /* they name themselves ("libbpf: ", "libxdp: ") */
	return 0;
}

__attribute__((format(printf, 2, 0))) static int libxdp_print(enum libxdp_print_level level,
							      const char *fmt, va_list ap)
{
	return level == LIBXDP_DEBUG ? 0 : lib_print(LIBBPF_WARN, fmt, ap);
}

/* The bpffs libxdp pins its dispatcher in ($LIBXDP_BPFFS, else /sys/fs/bpf), mounted if absent
 * (under ip netns exec the namespace's fresh /sys has none). */
static const char *bpffs(char *err, size_t errlen)
{
	const char *dir = getenv("LIBXDP_BPFFS") ? getenv("LIBXDP_BPFFS") : "/sys/fs/bpf";
	struct statfs st;

	if (statfs(dir, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return dir;
	if (mount("bpf", dir, "bpf", 0, "mode=0700") < 0)
		return nio_err(err, errlen, "no bpffs at %s and mounting one failed: %s", dir,
			       strerror(errno)),
		       NULL;
	log_info("mounted a bpffs at %s", dir);
	return dir;
}

/* The compiled program: next to the netiod binary (build tree), else where make install put it. */
int nio_xdp_obj_path(char *path, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, len, "%s/netio_xdp.bpf.o", exe);
			if (access(path, R_OK) == 0)
				return 0;
		}
	}
	snprintf(path, len, "%s", NIO_XDP_OBJ);
	return access(path, R_OK);
}

/* The map fds of the program prog_fd, by name. */
static int maps_of(int prog_fd, int fds[NIO_XDP_NMAPS])
{
	struct bpf_prog_info info = { 0 };
	__u32 ids[16], len = sizeof(info);

	info.nr_map_ids = 16;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) < 0)
		return -1;
	for (__u32 i = 0; i < info.nr_map_ids && i < 16; i++) {
		struct bpf_map_info mi = { 0 };
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &mi, &mlen) < 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		for (int k = 0; k < NIO_XDP_NMAPS; k++)
			if (fds[k] < 0 && !strcmp(mi.name, map_names[k])) {
				fds[k] = fd;
				fd = -1;
			}
		if (fd >= 0)
			close(fd);
	}
	for (int k = 0; k < NIO_XDP_NMAPS; k++)
		if (fds[k] < 0)
			return -1;
	return 0;
}

static void maps_close(struct nio_xdp *x)
{
	for (int k = 0; k < NIO_XDP_NMAPS; k++) {
		if (x->map[k] >= 0)
			close(x->map[k]);
		x->map[k] = -1;
	}
}

/* A netio program a previous netiod left on the device: its maps, so fail-mode goes on
 * holding until this one's sockets are in. 1: taken over, 0: none there. */
static int take_over(struct nio_xdp *x, int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	int rc = 0;

	if (libxdp_get_error(mp))
		return 0;
	if (xdp_multiprog__is_legacy(mp))
		p = xdp_multiprog__main_prog(mp);
	else
		p = xdp_multiprog__next_prog(NULL, mp);
	for (; p; p = xdp_multiprog__is_legacy(mp) ? NULL : xdp_multiprog__next_prog(p, mp)) {
		if (strcmp(xdp_program__name(p), PROG_NAME))
			continue;
		if (maps_of(xdp_program__fd(p), x->map) == 0) {
			x->prog_fd = dup(xdp_program__fd(p));
			x->prog_id = xdp_program__id(p);
			x->mode = xdp_multiprog__attach_mode(mp);
			rc = 1;
		} else {
			maps_close(x);
		}
		break;
	}
	xdp_multiprog__close(mp);
	return rc;
}

/* The program from path attached in mode; NULL with err set. */
static struct xdp_program *attach(const char *path, int ifindex, enum xdp_attach_mode mode,
				  char *err, size_t errlen)
{
	struct xdp_program *p = xdp_program__open_file(path, "xdp", NULL);
	int rc;

	if (libxdp_get_error(p))
		return nio_err(err, errlen, "XDP program %s: cannot open", path), NULL;
	rc = xdp_program__attach(p, ifindex, mode, 0);
	if (rc == 0)
		return p;
	xdp_program__close(p);
	nio_err(err, errlen, "attach XDP program (%s mode): %s",
		mode == XDP_MODE_NATIVE ? "native" : "generic", strerror(-rc));
	return NULL;
}

/* The maps of obj and its program (prog_fd) in x; -1 with err set if one is missing. */
static int adopt(struct nio_xdp *x, struct bpf_object *obj, int prog_fd, const char *path,
		 char *err, size_t errlen)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	for (int k = 0; k < NIO_XDP_NMAPS; k++)
		x->map[k] = dup(bpf_object__find_map_fd_by_name(obj, map_names[k]));
	x->prog_fd = dup(prog_fd);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0)
		x->prog_id = info.id;
	for (int k = 0; k < NIO_XDP_NMAPS; k++)
		if (x->map[k] < 0)
			return nio_err(err, errlen, "XDP program %s: no map %s", path,
				       map_names[k]);
	return 0;
}

/*
 * After the privilege drop (a reload adding a port) libxdp cannot use its bpffs, which is
 * root's: the program is loaded with libbpf and attached alone, in native mode or else
 * generic, and never over a program the device has (XDP_FLAGS_UPDATE_IF_NOEXIST).
 */
static int load_plain(struct nio_xdp *x, const struct nio_port *port, const char *path, char *err,
		      size_t errlen)
{
	static const __u32 modes[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	int fd, rc = -1;

	if (libbpf_get_error(obj))
		return nio_err(err, errlen, "XDP program %s: cannot open", path);
	if (bpf_object__load(obj) < 0) {
		nio_err(err, errlen, "XDP program %s: load: %s", path, strerror(errno));
		goto out;
	}
	fd = bpf_program__fd(bpf_object__find_program_by_name(obj, PROG_NAME));
	for (unsigned i = 0; rc < 0 && i < 2; i++) {
		rc = bpf_xdp_attach(port->ifindex, fd, XDP_FLAGS_UPDATE_IF_NOEXIST | modes[i],
				    NULL);
		x->mode = i ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	}
	if (rc < 0)
		nio_err(err, errlen, "attach XDP program as uid %u: %s", (unsigned)geteuid(),
			strerror(-rc));
	else
		rc = adopt(x, obj, fd, path, err, errlen);
out:
	bpf_object__close(obj); /* the device holds the program, x its maps */
	return rc;
}

/* Native mode, or where the device's driver has no XDP, the kernel's generic (skb) mode:
 * slower (the skb is built first), but claims and fail-mode hold the same. */
static int load(struct nio_xdp *x, const struct nio_port *port, char *err, size_t errlen)
{
	char path[PATH_MAX], why[256];
	struct xdp_program *p;
	int rc;

	if (nio_xdp_obj_path(path, sizeof(path)) < 0)
		return nio_err(err, errlen, "XDP program %s: %s", path, strerror(errno));
	x->mode = XDP_MODE_NATIVE;
	p = attach(path, port->ifindex, XDP_MODE_NATIVE, why, sizeof(why));
	if (!p) {
		x->mode = XDP_MODE_SKB;
		p = attach(path, port->ifindex, XDP_MODE_SKB, err, errlen);
		if (!p && geteuid() != 0)
			return load_plain(x, port, path, err, errlen);
		if (!p)
			return -1;
		log_warnx("port %s: %s; in generic mode instead", port->name, why);
	}
	rc = adopt(x, xdp_program__bpf_obj(p), xdp_program__fd(p), path, err, errlen);
	xdp_program__close(p); /* the dispatcher holds it on the device */
	return rc;
}

/* bpffs/netio/<device>/claims: the claims that hold while netiod is away, for bpftool. */
static void pin_claims(struct nio_xdp *x, const char *dir, const char *dev)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/netio", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/netio/%s", dir, dev);
	mkdir(path, 0700);
	snprintf(x->pin, sizeof(x->pin), "%s/netio/%s/claims", dir, dev);
	unlink(x->pin); /* a pin of the map of a program no longer there */
	if (bpf_obj_pin(x->map[NIO_XDP_MAP_CLAIMS], x->pin) < 0)
		log_warn("pin %s", x->pin);
}

/* The program on port's device, ours from before or loaded now; 1 if taken over. */
int nio_xdp_attach(struct nio_xdp *x, const struct nio_port *port, char *err, size_t errlen)
{
	const char *dir = bpffs(err, errlen);
	int rc;

	for (int k = 0; k < NIO_XDP_NMAPS; k++)
		x->map[k] = -1;
	x->prog_fd = -1;
	x->ifindex = port->ifindex;
	if (!dir)
		return -1;
	libbpf_set_print(lib_print);
	libxdp_set_print(libxdp_print);
	rc = take_over(x, port->ifindex);
	if (!rc && load(x, port, err, errlen) < 0) {
		maps_close(x);
		return -1;
	}
	pin_claims(x, dir, port->device);
	return rc;
}

static int detach_libxdp(const struct nio_xdp *x)
{
	struct xdp_program *p = xdp_program__from_id(x->prog_id);
	int rc;

	if (libxdp_get_error(p))
		return -1;
	rc = xdp_program__detach(p, x->ifindex, (enum xdp_attach_mode)x->mode, 0);
	xdp_program__close(p);
	return rc ? -1 : 0;
}

/* No claims in either set: every frame goes to the kernel. */
static int claims_clear(const struct nio_xdp *x)
{
	struct nio_xdp_conf conf;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(x->map[NIO_XDP_MAP_CONF], &zero, &conf) < 0)
		return -1;
	conf.nclaims[0] = conf.nclaims[1] = 0;
	return bpf_map_update_elem(x->map[NIO_XDP_MAP_CONF], &zero, &conf, BPF_ANY);
}

/*
 * After the privilege drop libxdp cannot find programs by id (that needs CAP_SYS_ADMIN): a
 * program attached alone is detached by its own fd (CAP_NET_ADMIN), only if it is still the
 * device's; one behind libxdp's dispatcher stays, its claims emptied, passing every frame on.
 */
static void detach_unprivileged(const struct nio_xdp *x)
{
	struct bpf_xdp_attach_opts o = { .sz = sizeof(o), .old_prog_fd = x->prog_fd };
	__u32 flags = x->mode == XDP_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;

	if (x->prog_fd >= 0 && bpf_xdp_detach(x->ifindex, flags, &o) == 0)
		return;
	if (claims_clear(x) < 0) {
		log_warn("ifindex %d: XDP program left attached with its claims", x->ifindex);
		return;
	}
	log_warnx("ifindex %d: XDP program left attached behind libxdp's dispatcher (detaching "
		  "needs CAP_SYS_ADMIN), without claims: it passes every frame to the kernel",
		  x->ifindex);
}

/* The port is no longer netiod's (a reload dropped it): the program goes, the kernel gets
 * every frame. At exit it stays: its claims' fail-mode holds until netiod is back. */
void nio_xdp_detach(struct nio_xdp *x)
{
	if (!keep_programs && x->prog_id) {
		if (detach_libxdp(x) < 0)
			detach_unprivileged(x);
		if (x->pin[0])
			unlink(x->pin);
	}
	maps_close(x);
	if (x->prog_fd >= 0)
		close(x->prog_fd);
	x->prog_fd = -1;
	x->prog_id = 0;
}

int nio_xdp_set_xsk(struct nio_xdp *x, unsigned queue, int fd)
{
	__u32 q = queue, v = (__u32)fd;

	return bpf_map_update_elem(x->map[NIO_XDP_MAP_XSKS], &q, &v, BPF_ANY);
}

/* ---------------------------------------------------------------- the box's own addresses */

static void local_put(int map, const struct sockaddr *sa, __u8 what)
{
	__u32 key[4] = { 0, 0, htonl(0xffff), 0 };

	if (sa->sa_family == AF_INET)
		key[3] = ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr;
	else if (sa->sa_family == AF_INET6)
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	else
		return;
	bpf_map_update_elem(map, key, &what, BPF_ANY);
}

/* An IPv4 subnet broadcast address: glibc reports an address with none (ip addr add without
 * brd) with itself as broadcast address, which must stay claimable as a host address. */
static bool bcast_of(const struct ifaddrs *ifa)
{
	return ifa->ifa_addr->sa_family == AF_INET && (ifa->ifa_flags & IFF_BROADCAST) &&
	       ifa->ifa_broadaddr && ifa->ifa_broadaddr->sa_family == AF_INET &&
	       ((const struct sockaddr_in *)(const void *)ifa->ifa_broadaddr)->sin_addr.s_addr !=
		       ((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr.s_addr;
}

/*
 * Every address of the network namespace and every IPv4 subnet broadcast: frames to them are
 * the kernel's unless a claim names the address as a host prefix (keep.c's rule). Read when
 * the port opens and at each reload.
 */
void nio_xdp_set_local(struct nio_xdp *x)
{
	struct ifaddrs *ifa0, *ifa;

	if (getifaddrs(&ifa0) < 0) {
		log_warn("getifaddrs");
		return;
	}
	for (ifa = ifa0; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr)
			continue;
		local_put(x->map[NIO_XDP_MAP_LOCAL], ifa->ifa_addr, 1);
		if (bcast_of(ifa))
			local_put(x->map[NIO_XDP_MAP_LOCAL], ifa->ifa_broadaddr, 2);
	}
	freeifaddrs(ifa0);
}

/* ---------------------------------------------------------------- claims */

/* A prefix of len bits of its family as masks over the 128-bit (IPv4-mapped) address. */
static void prefix_put(__u32 addr[4], __u32 mask[4], const uint8_t a[16], unsigned len)
{
	memcpy(addr, a, 16);
	for (int i = 0; i < 4; i++) {
		unsigned bits = len > 32u * (unsigned)i ? len - 32u * (unsigned)i : 0;

		mask[i] = bits >= 32 ? 0xffffffffu : bits ? htonl(~0u << (32 - bits)) : 0;
		addr[i] &= mask[i];
	}
}

/* claims.c's claim as the program's entry. */
static void claim_conv(struct nio_xdp_claim *c, const struct nio_claim *cl)
{
	unsigned v4 = cl->family == 4 ? 96 : 0, host = cl->family == 4 ? 32 : 128;

	memset(c, 0, sizeof(*c));
	if (cl->has_src)
		prefix_put(c->src, c->src_mask, cl->src, v4 + cl->src_len);
	if (cl->has_dst)
		prefix_put(c->dst, c->dst_mask, cl->dst, v4 + cl->dst_len);
	c->family = cl->family;
	c->proto = cl->proto;
	c->has_ports =
		cl->sport_lo || cl->sport_hi != 65535 || cl->dport_lo || cl->dport_hi != 65535;
	c->sport_lo = cl->sport_lo;
	c->sport_hi = cl->sport_hi;
	c->dport_lo = cl->dport_lo;
	c->dport_hi = cl->dport_hi;
	c->dst_host = cl->has_dst && cl->family && cl->dst_len == host;
	c->passthrough = cl->fail_mode == NIO_FAIL_PASSTHROUGH;
}

/* Do n claims fit in the program's table? netiod -t asks, without a device. */
int nio_xdp_check_claims(const struct nio_port *port, const struct nio_claim *claims, unsigned n,
			 unsigned *refused, char *err, size_t errlen)
{
	(void)port;
	(void)claims;
	if (n <= NIO_XDP_CLAIMS_MAX)
		return 0;
	*refused = NIO_XDP_CLAIMS_MAX;
	return nio_err(err, errlen, "needs more claims than the XDP program holds (%u per port)",
		       (unsigned)NIO_XDP_CLAIMS_MAX);
}

/* Write the claims into the set the program is not using, then switch it over: a frame sees
 * the old set or the new one, never a mix. */
int nio_xdp_set_claims(struct nio_xdp *x, const struct nio_port *port,
		       const struct nio_claim *claims, unsigned n, char *err, size_t errlen)
{
	struct nio_xdp_conf conf = { 0 };
	struct nio_xdp_claim c;
	__u32 zero = 0, set;

	if (n > NIO_XDP_CLAIMS_MAX)
		return nio_err(err, errlen, "%u claims, the XDP program holds %u", n,
			       (unsigned)NIO_XDP_CLAIMS_MAX);
	if (bpf_map_lookup_elem(x->map[NIO_XDP_MAP_CONF], &zero, &conf) < 0)
		return nio_err(err, errlen, "XDP conf map: %s", strerror(errno));
	set = (conf.set & 1) ^ 1;
	for (unsigned i = 0; i < n; i++) {
		__u32 idx = set * NIO_XDP_CLAIMS_MAX + i;

		claim_conv(&c, &claims[i]);
		if (bpf_map_update_elem(x->map[NIO_XDP_MAP_CLAIMS], &idx, &c, BPF_ANY) < 0)
			return nio_err(err, errlen, "XDP claims map: %s", strerror(errno));
	}
	conf.nclaims[set] = n;
	conf.set = set;
	memcpy(conf.mac, port->mac, 6);
	nio_xdp_set_local(x);
	if (bpf_map_update_elem(x->map[NIO_XDP_MAP_CONF], &zero, &conf, BPF_ANY) < 0)
		return nio_err(err, errlen, "XDP conf map: %s", strerror(errno));
	log_debug("port %s: %u claims in the XDP program", port->name, n);
	return 0;
}

/* The program's per-CPU counters, summed (enum nio_xdp_stat). */
void nio_xdp_stats(const struct nio_xdp *x, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v;

	memset(out, 0, sizeof(uint64_t) * NIO_XDP_STATS);
	if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return;
	for (__u32 k = 0; k < NIO_XDP_STATS; k++)
		if (bpf_map_lookup_elem(x->map[NIO_XDP_MAP_STATS], &k, v) == 0)
			for (int c = 0; c < ncpu; c++)
				out[k] += v[c];
	free(v);
}

/* A second XDP program's owner for tests/netns/xdp_coexist.sh, through libxdp as netiod:
 *   xdp_other attach DEV OBJ   load OBJ's "xdp" program into DEV's dispatcher (native mode)
 *   xdp_other list DEV         "dispatcher" or "legacy", then each program's name in run order
 *   xdp_other count DEV        what the program xdp_count on DEV counted (its map "counts")
 *   xdp_other detach DEV       take xdp_count off DEV, leaving the rest */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#define NAME "xdp_count"

/* libbpf's and libxdp's warnings, not their notes on the sections libxdp reads */
__attribute__((format(printf, 2, 0))) static int warnings(enum libbpf_print_level level,
							  const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: xdp_other attach DEV OBJ | list DEV | count DEV | detach DEV\n");
	return 2;
}

static int attach(int ifindex, const char *obj)
{
	struct xdp_program *p = xdp_program__open_file(obj, "xdp", NULL);
	int rc;

	if (libxdp_get_error(p)) {
		fprintf(stderr, "xdp_other: cannot open %s\n", obj);
		return 1;
	}
	rc = xdp_program__attach(p, ifindex, XDP_MODE_NATIVE, 0);
	xdp_program__close(p);
	if (rc) {
		fprintf(stderr, "xdp_other: attach: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

/* The program called name on the device (its multiprog in *mp, to close), or NULL. */
static struct xdp_program *find(int ifindex, const char *name, struct xdp_multiprog **mp)
{
	struct xdp_program *p;

	*mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (libxdp_get_error(*mp)) {
		*mp = NULL;
		return NULL;
	}
	if (xdp_multiprog__is_legacy(*mp)) {
		p = xdp_multiprog__main_prog(*mp);
		return p && !strcmp(xdp_program__name(p), name) ? p : NULL;
	}
	for (p = xdp_multiprog__next_prog(NULL, *mp); p; p = xdp_multiprog__next_prog(p, *mp))
		if (!strcmp(xdp_program__name(p), name))
			return p;
	return NULL;
}

static int list(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p;

	if (libxdp_get_error(mp))
		return 0; /* nothing attached */
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		printf("legacy\n%s\n", p ? xdp_program__name(p) : "?");
	} else {
		printf("dispatcher\n");
		for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
			printf("%s\n", xdp_program__name(p));
	}
	xdp_multiprog__close(mp);
	return 0;
}

/* The fd of the map called "counts" among prog_fd's maps, or -1. */
static int counts_fd(int prog_fd)
{
	struct bpf_prog_info info = { 0 };
	__u32 ids[8], len = sizeof(info);

	info.nr_map_ids = 8;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) < 0)
		return -1;
	for (__u32 i = 0; i < info.nr_map_ids && i < 8; i++) {
		struct bpf_map_info mi = { 0 };
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0 &&
		    !strcmp(mi.name, "counts"))
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

static int count(int ifindex)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p = find(ifindex, NAME, &mp);
	__u32 zero = 0;
	__u64 n = 0;
	int fd = p ? counts_fd(xdp_program__fd(p)) : -1;
	int rc = fd >= 0 && bpf_map_lookup_elem(fd, &zero, &n) == 0 ? 0 : 1;

	if (fd >= 0)
		close(fd);
	xdp_multiprog__close(mp);
	if (rc)
		fprintf(stderr, "xdp_other: no %s program with its counts on the device\n", NAME);
	else
		printf("%llu\n", (unsigned long long)n);
	return rc;
}

static int detach(int ifindex)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p = find(ifindex, NAME, &mp);
	int rc = p ? xdp_program__detach(p, ifindex, XDP_MODE_NATIVE, 0) : -ENOENT;

	xdp_multiprog__close(mp);
	if (rc)
		fprintf(stderr, "xdp_other: detach: %s\n", strerror(-rc));
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	int ifindex = argc > 2 ? (int)if_nametoindex(argv[2]) : 0;

	libbpf_set_print(warnings);
	if (argc < 3)
		return usage();
	if (!ifindex) {
		fprintf(stderr, "xdp_other: %s: no such device\n", argv[2]);
		return 1;
	}
	if (!strcmp(argv[1], "attach") && argc == 4)
		return attach(ifindex, argv[3]);
	if (!strcmp(argv[1], "list"))
		return list(ifindex);
	if (!strcmp(argv[1], "count"))
		return count(ifindex);
	if (!strcmp(argv[1], "detach"))
		return detach(ifindex);
	return usage();
}

/* netioctl: what its files share (the exit statuses and the kernel verb). */
#ifndef NETIOCTL_H
#define NETIOCTL_H

#include <stdbool.h>

enum { NIO_EXIT_OK = 0, NIO_EXIT_USAGE = 1, NIO_EXIT_DAEMON = 2 };

/* netioctl_kernel.c: argv[0] is "kernel"; an exit status, or -1 on a usage error. */
int nio_ctl_kernel(int argc, char **argv, bool json);

#endif /* NETIOCTL_H */

/* netioctl: what its files share (exit statuses, output, the socket, the kernel verb). */
#ifndef NETIOCTL_H
#define NETIOCTL_H

#include <jansson.h>
#include <stdbool.h>

enum { NIO_EXIT_OK = 0, NIO_EXIT_USAGE = 1, NIO_EXIT_DAEMON = 2 };

/* version.c */
extern const char nio_version[];

/* netioctl_out.c: -j prints JSON (indented, or one line with -c), errors included */
void nio_ctl_set_output(bool json, bool compact);
bool nio_ctl_json(void);
void nio_ctl_print_json(const json_t *v);
/* print an error (text, or {"ok":false,...} under -j) on stderr; returns status */
int nio_ctl_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* netioctl_client.c: the reply, or NULL after printing why (timeout_ms 0: wait forever) */
json_t *nio_ctl_transact(const char *path, const json_t *req, int timeout_ms);

/* netioctl_kernel.c: argv[0] is "kernel"; an exit status, or -1 on a usage error. */
int nio_ctl_kernel(int argc, char **argv, bool json);

/* netioctl_trace.c: argv[0] is "trace"; the request, or NULL for an unknown command (a bad
 * argument of trace start exits 1 itself) */
json_t *nio_ctl_trace_request(int argc, char **argv);
void nio_ctl_trace_print(json_t *r); /* the reply to trace-show, as text */

/* netioctl_show.c: config, route, neigh, flow and stats with arguments */
json_t *nio_ctl_show_request(int argc, char **argv);
bool nio_ctl_show_print(const char *cmd, json_t *r);

#endif /* NETIOCTL_H */

/* The control socket's views of the running state (show_*.c, statsview.c): each builds the
 * JSON result of one request on the control thread, or returns NULL with err set. */
#ifndef NETIOD_SHOW_H
#define NETIOD_SHOW_H

#include <jansson.h>

#include "netiod.h"

/* show_config.c: the running configuration, as text (the netiod -t -v printer) and as JSON */
json_t *nio_show_config(struct netiod *d, char *err, size_t errlen);

/* show_fib.c: netiod's mirror of the kernel's routes and neighbours, and route get */
json_t *nio_show_routes(struct netiod *d, json_t *req, char *err, size_t errlen);
json_t *nio_show_neighs(struct netiod *d);
json_t *nio_route_get(struct netiod *d, json_t *req, char *err, size_t errlen);

/* show_flow.c: the workers' flow caches */
json_t *nio_show_flows(struct netiod *d, json_t *req, char *err, size_t errlen);

/* statsview.c: stats as netioctl shows them: filtered, and relative to the last clear */
json_t *nio_stats_view(json_t *stats, json_t *req, char *err, size_t errlen);
json_t *nio_stats_clear(json_t *stats);
void nio_stats_view_fini(void);

#endif /* NETIOD_SHOW_H */

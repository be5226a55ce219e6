/* VM test harness for netiod/port_kmod.c: opens one kmod port by hand and installs the claims
 * of a fixed set of pipelines with nio_port_set_claims() (claims.c builds them, the driver's
 * set_claims op sends them), then owns the port for a while.
 * usage: kmodclaims IFNAME PORTNAME SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netiod.h"

/* The harness sets the driver's options itself: no port block is ever parsed here. */
const char *nio_conf_str(const struct nio_conf *conf, const char *name)
{
	(void)conf;
	(void)name;
	return NULL;
}

long long nio_conf_int(const struct nio_conf *conf, const char *name)
{
	(void)conf;
	(void)name;
	return 0;
}

/* No workers here: a buffer the port driver frees goes straight home. */
void nio_worker_pkt_free(struct nio_pkt *p)
{
	struct nio_region *r = nio_region_of(p);

	if (r)
		nio_region_put(r, p);
}

static struct nio_config cfg;
static struct nio_port port;

static void prefix(struct nio_prefix *p, const char *s)
{
	if (nio_prefix_parse(s, p) < 0) {
		fprintf(stderr, "kmodclaims: bad prefix %s\n", s);
		exit(2);
	}
}

static struct nio_pipeline *pipeline(const char *name, int in_port)
{
	struct nio_pipeline *pl = &cfg.pipelines[cfg.npipelines];

	snprintf(pl->name, sizeof(pl->name), "%s", name);
	pl->id = (uint16_t)cfg.npipelines++;
	pl->match.in_port = in_port;
	pl->match.sport_hi = pl->match.dport_hi = 65535;
	return pl;
}

/*
 * Expected claims (id = pipeline id << 6 | index):
 *   0        udp 198.51.100.0/24 dport 5000-5001, secure
 *   64, 65   any 203.0.113.0/24 and any 2001:db8:3::/48, passthrough (a source of the other
 *            family would match nothing, so no claim)
 *   none     pipeline 2 listens on another port
 *   192-194  tcp, udp, sctp to dport 7000 (ports without a protocol)
 */
static void pipelines(void)
{
	struct nio_pipeline *pl = pipeline("udp-5000", 0);

	pl->match.proto = 17;
	pl->match.ndst = 1;
	prefix(&pl->match.dst[0], "198.51.100.0/24");
	pl->match.dport_lo = 5000;
	pl->match.dport_hi = 5001;

	pl = pipeline("two-dsts", -1);
	pl->match.ndst = 2;
	prefix(&pl->match.dst[0], "203.0.113.0/24");
	prefix(&pl->match.dst[1], "2001:db8:3::/48");
	pl->fail_mode = NIO_FAIL_PASSTHROUGH;

	pl = pipeline("other-port", 5);
	pl->match.ndst = 1;
	prefix(&pl->match.dst[0], "192.0.2.0/24");

	pl = pipeline("port-7000", 0);
	pl->match.dport_lo = pl->match.dport_hi = 7000;
}

int main(int argc, char **argv)
{
	char err[256] = "";

	if (argc != 4) {
		fprintf(stderr, "usage: kmodclaims IFNAME PORTNAME SECONDS\n");
		return 2;
	}
	log_init(0);
	snprintf(port.name, sizeof(port.name), "%s", argv[2]);
	snprintf(port.device, sizeof(port.device), "%s", argv[1]);
	snprintf(port.driver, sizeof(port.driver), "kmod");
	port.ops = &nio_port_kmod_ops;
	((struct nio_kmod_opts *)(void *)port.opts)->hold_ms = 60000;
	cfg.nports = 1;
	cfg.ports[0] = &port;
	pipelines();
	if (port.ops->open(&port, err, sizeof(err)) < 0) {
		printf("open: %s\n", err);
		return 1;
	}
	if (nio_port_set_claims(&port, &cfg, err, sizeof(err)) < 0) {
		printf("claims: %s\n", err);
		port.ops->close(&port);
		return 1;
	}
	printf("claims installed\n");
	fflush(stdout);
	sleep((unsigned)atoi(argv[3]));
	port.ops->close(&port);
	return 0;
}

/* pcap port driver: replays frames from a .pcap file and writes sent frames to another. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "netiod.h"

#define PCAP_SNAPLEN	 65535
#define PCAP_DEFAULT_MTU 1500

_Static_assert(sizeof(struct nio_pcap_opts) <= NIO_PORT_OPTS_SIZE, "port->opts holds pcap options");

static const struct nio_pcap_opts *opts_of(const struct nio_port *port)
{
	return (const struct nio_pcap_opts *)(const void *)port->opts;
}

struct pcap_port {
	pcap_t *in;
	pcap_t *dead; /* pcap_dump_open needs a handle that describes the output's link type */
	pcap_dumper_t *out;
	bool eof;
};

/* Nanosecond precision keeps replayed timestamps exact whatever the file's own resolution. */
static int open_input(struct nio_port *port, struct pcap_port *pp, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE];

	pp->in = pcap_open_offline_with_tstamp_precision(opts_of(port)->in,
							 PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!pp->in) {
		snprintf(err, errlen, "%s: %s", opts_of(port)->in, ebuf);
		return -1;
	}
	if (pcap_datalink(pp->in) != DLT_EN10MB) {
		snprintf(err, errlen, "%s: link type %s, need EN10MB (Ethernet)", opts_of(port)->in,
			 pcap_datalink_val_to_name(pcap_datalink(pp->in)));
		return -1;
	}
	return 0;
}

static int open_output(struct nio_port *port, struct pcap_port *pp, char *err, size_t errlen)
{
	pp->dead = pcap_open_dead(DLT_EN10MB, PCAP_SNAPLEN);
	if (!pp->dead) {
		snprintf(err, errlen, "%s: pcap_open_dead failed", opts_of(port)->out);
		return -1;
	}
	pp->out = pcap_dump_open(pp->dead, opts_of(port)->out);
	if (!pp->out) {
		snprintf(err, errlen, "%s: %s", opts_of(port)->out, pcap_geterr(pp->dead));
		return -1;
	}
	return 0;
}

static void pcap_port_close(struct nio_port *port)
{
	struct pcap_port *pp = port->priv;

	if (!pp)
		return;
	if (pp->in)
		pcap_close(pp->in);
	if (pp->out)
		pcap_dump_close(pp->out);
	if (pp->dead)
		pcap_close(pp->dead);
	free(pp);
	port->priv = NULL;
}

/* mac and addresses are the configuration's: a file has none to report. */
static int pcap_port_open(struct nio_port *port, char *err, size_t errlen)
{
	struct pcap_port *pp = calloc(1, sizeof(*pp));

	if (!pp) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	port->priv = pp;
	port->nqueues = 1; /* one reader; its worker spreads flows by hash */
	pp->eof = !opts_of(port)->in[0];
	if ((opts_of(port)->in[0] && open_input(port, pp, err, errlen) < 0) ||
	    (opts_of(port)->out[0] && open_output(port, pp, err, errlen) < 0)) {
		pcap_port_close(port);
		return -1;
	}
	if (!port->mtu)
		port->mtu = PCAP_DEFAULT_MTU;
	return 0;
}

/* Returns false when the record cannot become a packet (counted). */
static bool pcap_fill(struct nio_port *port, struct nio_pkt *p, const struct pcap_pkthdr *h,
		      const uint8_t *data)
{
	if (h->caplen < h->len || h->caplen > NIO_PKT_MAX_FRAME) {
		nio_port_stats(port)->drops[NIO_DROP_OVERSIZE]++;
		return false;
	}
	memcpy(p->data, data, h->caplen);
	p->len = h->caplen;
	/* with nanosecond precision libpcap puts nanoseconds in tv_usec */
	p->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
	p->in_port = port->id;
	nio_port_stats(port)->rx_packets++;
	nio_port_stats(port)->rx_copies++;
	nio_port_stats(port)->rx_bytes += p->len;
	return true;
}

/* Next record: 1 read, 0 input finished (or failed: logged once, then treated as the end). */
static int read_record(struct nio_port *port, struct pcap_port *pp, struct pcap_pkthdr **h,
		       const uint8_t **data)
{
	int rc = pcap_next_ex(pp->in, h, data);

	if (rc == 1)
		return 1;
	if (rc == PCAP_ERROR)
		log_warnx("port %s: %s: %s", port->name, opts_of(port)->in, pcap_geterr(pp->in));
	pp->eof = true;
	return 0;
}

/* A file can wait: with the pool empty, reading stops instead of dropping, so replays are
 * the same however fast the worker is. */
static uint16_t pcap_port_rx(struct nio_port *port, struct nio_pool *pool, struct nio_pkt **pkts,
			     uint16_t max)
{
	struct pcap_port *pp = port->priv;
	struct pcap_pkthdr *h;
	const uint8_t *data;
	uint16_t n = 0;

	while (n < max && !pp->eof) {
		struct nio_pkt *p = nio_pool_get(pool);

		if (!p)
			break;
		if (read_record(port, pp, &h, &data) && pcap_fill(port, p, h, data))
			pkts[n++] = p;
		else
			nio_pool_put(pool, p);
	}
	return n;
}

/* The packet's own timestamp is written, so replaying a file through the daemon is repeatable. */
static uint16_t pcap_port_tx(struct nio_port *port, struct nio_pkt **pkts, uint16_t n)
{
	struct pcap_port *pp = port->priv;

	if (!pp->out) {
		nio_port_stats(port)->drops[NIO_DROP_PORT_DOWN] += n;
		return 0;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct pcap_pkthdr h = {
			.ts.tv_sec = (time_t)(pkts[i]->ts_ns / 1000000000ull),
			.ts.tv_usec = (suseconds_t)(pkts[i]->ts_ns % 1000000000ull / 1000),
			.caplen = pkts[i]->len,
			.len = pkts[i]->len,
		};

		pcap_dump((u_char *)pp->out, &h, pkts[i]->data);
		nio_port_stats(port)->tx_packets++;
		nio_port_stats(port)->tx_copies++;
		nio_port_stats(port)->tx_bytes += pkts[i]->len;
	}
	return n;
}

static void pcap_port_flush(struct nio_port *port)
{
	struct pcap_port *pp = port->priv;

	if (pp->out)
		pcap_dump_flush(pp->out);
}

static int pcap_port_fd(struct nio_port *port)
{
	(void)port;
	return -1;
}

static bool pcap_port_eof(struct nio_port *port)
{
	struct pcap_port *pp = port->priv;

	return pp->eof;
}

/* ---------------------------------------------------------------- configuration */

static const struct nio_opt pcap_options[] = {
	{ .name = "input", .type = NIO_OPT_STR, .help = "the .pcap file replayed as received" },
	{ .name = "output", .type = NIO_OPT_STR, .help = "the .pcap file sent frames go to" },
	{ .name = NULL },
};

static int pcap_port_parse(struct nio_port *port, const struct nio_conf *conf, char *err,
			   size_t errlen)
{
	struct nio_pcap_opts *o = (struct nio_pcap_opts *)(void *)port->opts;
	const char *in = nio_conf_str(conf, "input"), *out = nio_conf_str(conf, "output");

	if (!in && !out)
		return nio_err(err, errlen, "a pcap port needs 'input' and/or 'output'");
	snprintf(o->in, sizeof(o->in), "%s", in ? in : "");
	snprintf(o->out, sizeof(o->out), "%s", out ? out : "");
	return 0;
}

static void pcap_port_dump(const struct nio_port *port, FILE *out)
{
	if (opts_of(port)->in[0])
		fprintf(out, " input %s", opts_of(port)->in);
	if (opts_of(port)->out[0])
		fprintf(out, " output %s", opts_of(port)->out);
}

static const char *pcap_port_source(const struct nio_port *port)
{
	return opts_of(port)->in;
}

const struct nio_port_ops nio_port_pcap_ops = {
	.name = "pcap",
	.caps = 0, /* files only */
	.flags = NIO_DRV_F_NO_DEVICE,
	.options = pcap_options,
	.parse = pcap_port_parse,
	.dump = pcap_port_dump,
	.source = pcap_port_source,
	.open = pcap_port_open,
	.close = pcap_port_close,
	.rx_burst = pcap_port_rx,
	.tx_burst = pcap_port_tx,
	.flush = pcap_port_flush,
	.fd = pcap_port_fd,
	.eof = pcap_port_eof,
};

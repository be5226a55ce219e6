/* Unit tests for port_pcap.c: replay a pcap through the driver, write it back, compare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "netiod.h"

struct rec {
	uint32_t caplen, len;
	long sec, frac; /* frac in the file's resolution (us or ns) */
	bool delivered;
};

/* Records the driver must pass through unchanged. */
static const struct rec good_recs[] = {
	{ 60, 60, 1700000000, 1, true },
	{ 1514, 1514, 1700000000, 999999, true },
	{ 14, 14, 1700000001, 0, true },
	{ NIO_PKT_MAX_FRAME, NIO_PKT_MAX_FRAME, 1700000002, 500000, true },
};

/* Records the driver must refuse: too big for a buffer, or cut short by the capture. */
static const struct rec bad_recs[] = {
	{ 60, 60, 1, 10, true },
	{ NIO_PKT_MAX_FRAME + 1, NIO_PKT_MAX_FRAME + 1, 2, 20, false },
	{ 64, 1514, 3, 30, false },
	{ 100, 100, 4, 40, true },
};

struct fixture {
	char dir[64];
	char in[96], out[96];
	struct nio_pool pool;
	struct nio_port port;
};

static void fill_frame(uint8_t *buf, uint32_t n, unsigned seed)
{
	for (uint32_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7);
}

static void write_pcap(const char *path, int dlt, u_int precision, const struct rec *recs, size_t n)
{
	static uint8_t frame[4096];
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(dlt, 65535, precision);
	pcap_dumper_t *d;

	assert_non_null(dead);
	d = pcap_dump_open(dead, path);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++) {
		struct pcap_pkthdr h = { .caplen = recs[i].caplen, .len = recs[i].len };

		h.ts.tv_sec = recs[i].sec;
		h.ts.tv_usec = recs[i].frac;
		fill_frame(frame, recs[i].caplen, (unsigned)i);
		pcap_dump((u_char *)d, &h, frame);
	}
	pcap_dump_close(d);
	pcap_close(dead);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_port_pcap.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->in, sizeof(f->in), "%s/in.pcap", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.pcap", f->dir);
	assert_int_equal(nio_pool_init(&f->pool, 64), 0);
	strcpy(f->port.name, "replay");
	f->port.id = 3;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nio_pool_fini(&f->pool);
	unlink(f->in);
	unlink(f->out);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The tests set the driver's options themselves (opts): no port block is parsed here. */
const char *nio_conf_str(const struct nio_conf *conf, const char *name)
{
	(void)conf;
	(void)name;
	return NULL;
}

/* The driver's parsed options, as its parse op leaves them in port->opts. */
static struct nio_pcap_opts *opts(struct fixture *f)
{
	return (struct nio_pcap_opts *)(void *)f->port.opts;
}

static void open_port(struct fixture *f, bool in, bool out)
{
	char err[256] = "";

	snprintf(opts(f)->in, sizeof(opts(f)->in), "%s", in ? f->in : "");
	snprintf(opts(f)->out, sizeof(opts(f)->out), "%s", out ? f->out : "");
	assert_int_equal(nio_port_pcap_ops.open(&f->port, err, sizeof(err)), 0);
}

/* Receive everything, sending each burst out of the same port (refused without an output). */
static unsigned pump(struct fixture *f, uint16_t burst, struct nio_pkt **seen, unsigned max_seen)
{
	struct nio_pkt *pkts[NIO_BURST_MAX];
	unsigned total = 0;

	while (!nio_port_pcap_ops.eof(&f->port)) {
		uint16_t n = nio_port_pcap_ops.rx_burst(&f->port, &f->pool, pkts, burst);

		for (uint16_t i = 0; i < n; i++) {
			assert_true(total < max_seen);
			seen[total++] = pkts[i];
		}
		assert_int_equal(nio_port_pcap_ops.tx_burst(&f->port, pkts, n),
				 opts(f)->out[0] ? n : 0);
		nio_port_pcap_ops.flush(&f->port);
	}
	return total;
}

static void release(struct fixture *f, struct nio_pkt **pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		nio_pool_put(&f->pool, pkts[i]);
}

static uint8_t *slurp(const char *path, long *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	*len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)*len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)*len, fp), (size_t)*len);
	fclose(fp);
	return buf;
}

static void assert_same_file(const char *a, const char *b)
{
	long la, lb;
	uint8_t *ba = slurp(a, &la), *bb = slurp(b, &lb);

	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, (size_t)la);
	free(ba);
	free(bb);
}

static void check_pkt(const struct fixture *f, const struct nio_pkt *p, const struct rec *r,
		      unsigned idx, uint64_t unit_ns)
{
	uint8_t want[4096];

	fill_frame(want, r->caplen, idx);
	assert_int_equal(p->len, r->caplen);
	assert_ptr_equal(p->data, p->buf + NIO_PKT_HEADROOM);
	assert_memory_equal(p->data, want, r->caplen);
	assert_int_equal(p->in_port, f->port.id);
	assert_true(p->ts_ns == (uint64_t)r->sec * 1000000000ull + (uint64_t)r->frac * unit_ns);
}

/* Every burst size must give the same output file, identical to the input. */
static void test_roundtrip(void **state)
{
	static const uint16_t bursts[] = { 1, 3, 32 };
	size_t nrec = sizeof(good_recs) / sizeof(good_recs[0]);
	struct fixture *f = *state;

	write_pcap(f->in, DLT_EN10MB, PCAP_TSTAMP_PRECISION_MICRO, good_recs, nrec);
	for (size_t b = 0; b < sizeof(bursts) / sizeof(bursts[0]); b++) {
		struct nio_pkt *seen[16];
		unsigned n;

		memset(f->port.stats, 0, sizeof(f->port.stats));
		open_port(f, true, true);
		n = pump(f, bursts[b], seen, 16);
		assert_int_equal(n, nrec);
		for (unsigned i = 0; i < n; i++)
			check_pkt(f, seen[i], &good_recs[i], i, 1000);
		assert_int_equal(f->port.stats[0].rx_packets, nrec);
		assert_int_equal(f->port.stats[0].tx_packets, nrec);
		assert_int_equal(f->port.stats[0].rx_bytes, f->port.stats[0].tx_bytes);
		release(f, seen, n);
		nio_port_pcap_ops.close(&f->port);
		assert_null(f->port.priv);
		assert_same_file(f->in, f->out);
		assert_int_equal(f->pool.nfree, f->pool.size);
	}
}

static void test_bad_records(void **state)
{
	size_t nrec = sizeof(bad_recs) / sizeof(bad_recs[0]);
	struct fixture *f = *state;
	struct nio_pkt *seen[16];
	unsigned n, j = 0;

	write_pcap(f->in, DLT_EN10MB, PCAP_TSTAMP_PRECISION_NANO, bad_recs, nrec);
	open_port(f, true, false);
	n = pump(f, 8, seen, 16);
	assert_int_equal(n, 2);
	for (unsigned i = 0; i < nrec; i++) {
		if (bad_recs[i].delivered)
			check_pkt(f, seen[j++], &bad_recs[i], i, 1);
	}
	assert_int_equal(f->port.stats[0].drops[NIO_DROP_OVERSIZE], 2);
	/* without an output file, sending is refused and counted */
	assert_int_equal(f->port.stats[0].drops[NIO_DROP_PORT_DOWN], 2);
	assert_int_equal(f->port.stats[0].tx_packets, 0);
	release(f, seen, n);
	nio_port_pcap_ops.close(&f->port);
	assert_int_equal(f->pool.nfree, f->pool.size);
}

/* A short pool stalls the replay instead of dropping records. */
static void test_pool_backpressure(void **state)
{
	size_t nrec = sizeof(good_recs) / sizeof(good_recs[0]);
	struct fixture *f = *state;
	struct nio_pkt *pkts[8];
	struct nio_pool small;
	uint16_t n;

	assert_int_equal(nio_pool_init(&small, 2), 0);
	write_pcap(f->in, DLT_EN10MB, PCAP_TSTAMP_PRECISION_MICRO, good_recs, nrec);
	open_port(f, true, false);
	assert_int_equal(nio_port_pcap_ops.rx_burst(&f->port, &small, pkts, 8), 2);
	assert_int_equal(nio_port_pcap_ops.rx_burst(&f->port, &small, pkts + 2, 8), 0);
	nio_pool_put(&small, pkts[0]);
	nio_pool_put(&small, pkts[1]);
	n = nio_port_pcap_ops.rx_burst(&f->port, &small, pkts, 8);
	assert_int_equal(n, 2);
	assert_int_equal(pkts[1]->len, good_recs[3].caplen);
	assert_int_equal(f->port.stats[0].drops[NIO_DROP_NO_BUFFER], 0);
	nio_pool_put(&small, pkts[0]);
	nio_pool_put(&small, pkts[1]);
	assert_int_equal(nio_port_pcap_ops.rx_burst(&f->port, &small, pkts, 8), 0);
	assert_true(nio_port_pcap_ops.eof(&f->port));
	nio_port_pcap_ops.close(&f->port);
	nio_pool_fini(&small);
}

static void test_no_input(void **state)
{
	struct fixture *f = *state;
	struct nio_pkt *pkts[4];
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x42 };

	memcpy(f->port.mac, mac, 6);
	f->port.has_v4 = true;
	open_port(f, false, true);
	assert_int_equal(nio_port_pcap_ops.fd(&f->port), -1);
	assert_true(nio_port_pcap_ops.eof(&f->port));
	assert_int_equal(nio_port_pcap_ops.rx_burst(&f->port, &f->pool, pkts, 4), 0);
	assert_memory_equal(f->port.mac, mac, 6);
	assert_true(f->port.has_v4);
	assert_int_equal(f->port.mtu, 1500);
	nio_port_pcap_ops.close(&f->port);
}

struct open_err_case {
	const char *name;
	int dlt;      /* input to write first, or -1 for none */
	bool bad_out; /* output in a missing directory */
};

static const struct open_err_case open_err_cases[] = {
	{ "missing input", -1, false },
	{ "not ethernet", DLT_RAW, false },
	{ "unwritable output", DLT_EN10MB, true },
};

static void test_open_errors(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(open_err_cases) / sizeof(open_err_cases[0]); i++) {
		const struct open_err_case *c = &open_err_cases[i];
		char err[256] = "";

		unlink(f->in);
		if (c->dlt >= 0)
			write_pcap(f->in, c->dlt, PCAP_TSTAMP_PRECISION_MICRO, good_recs, 1);
		snprintf(opts(f)->in, sizeof(opts(f)->in), "%s", f->in);
		snprintf(opts(f)->out, sizeof(opts(f)->out), "%s%s", f->dir,
			 c->bad_out ? "/nodir/out.pcap" : "/out.pcap");
		assert_int_equal(nio_port_pcap_ops.open(&f->port, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		assert_null(f->port.priv);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

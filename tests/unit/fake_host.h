/* A fake struct nio_host for unit and fuzz tests: option values come from a table, not a file. */
#ifndef NETIO_FAKE_HOST_H
#define NETIO_FAKE_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include <netio/service.h>

/* One option as written in a config block. A NIO_OPT_SECTION entry has the section title in
 * value and its options in sub; a NIO_OPT_LIST appears once per element. Ended by name NULL. */
struct fake_opt {
	const char *name;
	const char *value;
	const struct fake_opt *sub;
};

/* The block handed to init(): the plugin's schema plus the values set. Defaults come from
 * the schema like in netiod; naming an option the schema lacks aborts the test. */
struct nio_conf {
	const struct nio_opt *schema;
	const struct fake_opt *vals;
	const char *title;
	int line;
};

extern const struct nio_host fake_host;
extern uint64_t fake_now_ns;	   /* what now_ns() returns */
extern unsigned fake_pkts_freed;   /* pkt_free() calls */
extern unsigned fake_pkts_alloced; /* pkt_alloc() calls that returned a buffer */
extern unsigned fake_alloc_limit;  /* buffers pkt_alloc() may have out at once (<= 320) */
extern unsigned fake_log_count;	   /* log() calls */
extern char fake_log_last[256];	   /* the last message logged */
extern int fake_out_mtu;	   /* the output port's MTU (*out_mtu; 0: not open yet) */
extern bool fake_port_addrs;	   /* icmp_src() answers with fake_port4 / fake_port6 */
extern const uint8_t fake_port4[4], fake_port6[16];
extern unsigned fake_nendpoints;  /* endpoint() calls */
extern uint8_t fake_endpoint[16]; /* the last address endpoint() was given */

/* Point c at a schema and a value table (both must outlive c). */
void fake_conf(struct nio_conf *c, const struct nio_opt *schema, const struct fake_opt *vals);

#endif /* NETIO_FAKE_HOST_H */

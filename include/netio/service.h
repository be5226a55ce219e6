/* The service plugin ABI: what a plugin exports and what netiod offers it. */
#ifndef NETIO_SERVICE_H
#define NETIO_SERVICE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

/*
 * A plugin is a shared object "<name>.so" exporting one symbol, "<name>_service", of type
 * struct nio_service. netiod checks abi_version and size before it trusts anything else in it,
 * refuses a second service of the same name, and never unmaps the code while a worker may run it.
 *
 * Threads and concurrency (netiod runs `workers` worker threads, each with its own flow table,
 * packet pool and counters; every packet of a flow is handled by one worker):
 *  - init, fini, save_state, restore_state: the control thread (libevent loop). They may
 *    allocate, read files and take time; they never run while a worker runs the instance:
 *    restore_state runs before the instance is published, save_state and fini while every
 *    worker is stopped at a quiescent point (a replace or reload pauses them all).
 *  - process, dequeue, flow_attach, flow_detach: a worker thread. They must not block, sleep,
 *    allocate per packet, log per packet or call exit; errors are counted, not printed.
 *    host->pkt_alloc and host->pkt_free use the calling worker's pool.
 *  - counters, show: the control thread, while workers run; values are read without locks
 *    (aligned 64-bit words: a slightly stale figure is acceptable, a torn structure is not).
 *
 * One instance is created per pipeline block. Which workers call it depends on flags:
 *  - default (no NIO_SVC_F_MT_SAFE): the instance has one owner worker. netiod hands every
 *    packet of the instance's pipeline to that worker (over SPSC handoff rings, in bursts),
 *    so process, dequeue and the flow hooks are never called concurrently and always from the
 *    same thread: the instance may keep plain, unsynchronised state (a shaper's queues, an
 *    inbound SA's replay window, an outbound SA's sequence counter).
 *  - NIO_SVC_F_MT_SAFE: process, dequeue and the flow hooks may run on several workers at
 *    once, each with the packets of its own flows. Per-flow state (p->svc_state, flow_attach)
 *    is only ever touched by the flow's worker and needs no lock; everything else the
 *    instance shares between workers (counters, tables) must be read-only after init or
 *    updated with atomics (batched per burst, not per packet).
 * Both directions of a connection meet the same worker only in the default mode (one owner);
 * an MT-safe service must not rely on seeing a flow's reverse direction.
 *
 * Versioning: fields are only ever appended; NIO_SERVICE_ABI_VERSION changes when the meaning
 * of an existing field changes. Unused trailing slots are kept NULL.
 */
#define NIO_SERVICE_ABI_VERSION 1u

enum nio_verdict {
	NIO_V_PASS = 0,	    /* continue with the next service */
	NIO_V_DROP = 1,	    /* the daemon frees the packet and counts a drop for this service
			     * (set p->drop_ctr to name the counter, for the packet tracer) */
	NIO_V_CONSUMED = 2, /* the service keeps the packet (queued); it comes back via dequeue()
			     * or is released with host->pkt_free() */
};

/* Option schema: netiod validates the config file against it and reports file:line errors. */
enum nio_opt_type {
	NIO_OPT_STR = 1,
	NIO_OPT_INT,	 /* decimal integer within [min, max] */
	NIO_OPT_BOOL,	 /* true/false/yes/no/on/off */
	NIO_OPT_ENUM,	 /* one of the '|'-separated words in choices */
	NIO_OPT_RATE,	 /* bit rate: 100mbit, 1gbit, 64kbit, 8000bit, 1mbps (bytes) -> bits/s */
	NIO_OPT_SIZE,	 /* bytes: 64k, 1m, 1500 -> bytes */
	NIO_OPT_TIME,	 /* duration: 5ms, 100us, 1s -> nanoseconds */
	NIO_OPT_ADDR,	 /* IPv4 or IPv6 address */
	NIO_OPT_PREFIX,	 /* IPv4 or IPv6 prefix, a.b.c.d/len or x::/len */
	NIO_OPT_LIST,	 /* list of strings: { "a", "b" } */
	NIO_OPT_SECTION, /* titled, repeatable sub-block: name title { ... } with options in sub */
};

#define NIO_OPT_F_REQUIRED 0x1u

struct nio_opt {
	const char *name;
	enum nio_opt_type type;
	uint32_t flags;		   /* NIO_OPT_F_* */
	const char *def;	   /* default as config text, NULL for none */
	long long min, max;	   /* NIO_OPT_INT bounds (both 0: any) */
	const char *choices;	   /* NIO_OPT_ENUM: "a|b|c" */
	const struct nio_opt *sub; /* NIO_OPT_SECTION: its options, ended by a NULL name */
	const char *help;
};

/* A parsed option block (a "service NAME { }" block or a sub-section of one); opaque. */
struct nio_conf;

/* Services offered by netiod to an instance; valid from init until fini returns. */
struct nio_host {
	uint32_t abi_version;
	uint32_t size;

	/* log with syslog priorities (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG); control thread */
	void (*log)(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

	/* Validated option values; defaults from the schema apply. Control thread only. */
	const char *(*conf_str)(const struct nio_conf *c,
				const char *name); /* STR ENUM ADDR PREFIX */
	long long (*conf_int)(const struct nio_conf *c,
			      const char *name);		       /* INT BOOL RATE SIZE TIME */
	int (*conf_isset)(const struct nio_conf *c, const char *name); /* given in the file? */
	unsigned (*conf_count)(const struct nio_conf *c, const char *name); /* LIST / SECTION */
	const char *(*conf_list)(const struct nio_conf *c, const char *name, unsigned i);
	const struct nio_conf *(*conf_section)(const struct nio_conf *c, const char *name,
					       unsigned i);
	const char *(*conf_title)(const struct nio_conf *c);
	int (*conf_line)(const struct nio_conf *c); /* line of the block, for messages */

	/* Packets: return a packet the service owns (CONSUMED) to its pool. Worker thread, or the
	 * control thread while the worker is paused (restore_state, fini). */
	void (*pkt_free)(struct nio_pkt *p);
	uint64_t (*now_ns)(void); /* CLOCK_MONOTONIC */

	const char *state_dir; /* writable directory for state that must survive restarts */
	const char *instance;  /* "<pipeline>/<service>" of the instance being initialised */
	int check_only; /* netiod -t: validate the block, but leave no trace (files, reservations) */

	/* Appended fields: a plugin checks size before using them (NIO_HOST_HAS). */

	/* A fresh packet from the calling worker's pool (empty frame at NIO_PKT_HEADROOM,
	 * metadata cleared), or NULL when the pool is empty. Worker thread only: from process()
	 * or dequeue(). The service owns it and hands it on through dequeue() (the packet then
	 * continues with the next service) or returns it with pkt_free(). For packets a service
	 * makes out of one it was given (fragments), never per packet in the common case. */
	struct nio_pkt *(*pkt_alloc)(void);

	/* The MTU of the pipeline's `out` port, read when used: ports open after init, so the
	 * value is there once packets flow (0 until then). NULL: the route picks the port. */
	const int *out_mtu;
	/* The address the gateway answers p's sender from (the input port's own address of that
	 * family, 4 or 6) into out (4 or 16 bytes); -1 if the port has none. Worker thread. */
	int (*icmp_src)(const struct nio_pkt *p, uint8_t family, uint8_t *out);
	/* From init (control thread): packets to addr (16 bytes, IPv4 as ::ffff:a.b.c.d) end at
	 * this instance (a decap or inbound SA end), as if addressed to one of the gateway's own
	 * addresses: the daemon leaves their TTL as received and decrements what the service
	 * makes of them (the inner packet) instead, and sends no ICMP error about packets from
	 * addr (the gateway's own). */
	void (*endpoint)(const struct nio_host *h, const uint8_t addr[16]);
	/* p, a packet the service was given, does not fit a path of mtu bytes once the service
	 * has added its own headers: turn p in place into the ICMP error the kernel sends for it
	 * (IPv4 with DF: fragmentation needed, RFC 1191; IPv6: packet too big, RFC 8201) with mtu
	 * as the next-hop MTU, addressed back out of its input port, and return 0; the service
	 * then passes it on unchanged. -1: no error is due or allowed (IPv4 without DF, an ICMP
	 * error, a fragment, a port without an address of p's family): p is untouched. Worker
	 * thread only, from process(). */
	int (*icmp_too_big)(struct nio_pkt *p, uint32_t mtu);
	/* The instance runs isolated (`isolate = true`, also while `netiod -t` checks such a
	 * block in-process): in a child without capabilities, sockets or files beyond its own. */
	int isolated;
};

/*
 * One part of an instance, for nio_service.objects: kind and name say which ("class", "bulk"),
 * labels what else identifies it (nlabels key, value pairs: "parent", "root"), keys and values
 * its n numbers; bit k of gauges set: values[k] is a current value (a queue length, a maximum),
 * else a counter that only grows. NIO_OBJ_F_NO_METRICS: many and short-lived (flows): shown by
 * 'netioctl -j stats', never made /metrics series. Everything need only live until emit
 * returns.
 */
struct nio_obj {
	const char *kind, *name;
	unsigned nlabels, n;
	const char *const *labels;
	const char *const *keys;
	const uint64_t *values;
	uint64_t gauges;
	uint32_t flags;
};

#define NIO_OBJ_F_NO_METRICS 0x1u
#define NIO_OBJ_MAX_VALUES   64u /* n and nlabels are at most this (gauges is one word) */

/* Does host h (of possibly older netiod) carry field f? */
#define NIO_HOST_HAS(h, f) \
	((h)->size >= offsetof(struct nio_host, f) + sizeof(((const struct nio_host *)0)->f))

struct nio_service {
	uint32_t abi_version; /* NIO_SERVICE_ABI_VERSION */
	uint32_t size;	      /* sizeof(struct nio_service) */
	const char *name;     /* must equal the file name and the symbol prefix */
	const char *version;  /* the plugin's own version, shown by 'netioctl service list' */
	const char *description;
	const struct nio_opt *options;	  /* schema, ended by an entry with a NULL name */
	const char *const *counter_names; /* per-instance counters, NULL-terminated */
	size_t flow_state_size;		  /* bytes of zeroed per-flow state reserved per flow */

	/* Create an instance for one pipeline from its validated block. On failure return NULL
	 * and write a one-line reason into err (netiod prefixes file:line). */
	void *(*init)(const struct nio_host *host, const struct nio_conf *conf, char *err,
		      size_t errlen);
	void (*fini)(void *inst);

	/* Run a burst; write one enum nio_verdict per packet. p->svc_state points at this
	 * service's per-flow state for p's flow (NULL if flow_state_size is 0). */
	void (*process)(void *inst, struct nio_pkt **pkts, uint16_t n, uint8_t *verdicts);

	/* Optional: hand back held packets that may continue now (at most max). Called by the
	 * worker on every loop turn; *next_ns is set to when to call again (0 = nothing held,
	 * the worker may then sleep). */
	uint16_t (*dequeue)(void *inst, uint64_t now_ns, struct nio_pkt **pkts, uint16_t max,
			    uint64_t *next_ns);

	/* Optional per-flow hooks, called when a flow is created / evicted. */
	void (*flow_attach)(void *inst, void *state, const struct nio_flow_key *key);
	void (*flow_detach)(void *inst, void *state);

	/* Counter values, in the order of counter_names. */
	const uint64_t *(*counters)(void *inst);

	/* Optional state handoff for replace and restart: save returns a malloc()ed blob that
	 * netiod hands to restore of the new instance (and frees). */
	int (*save_state)(void *inst, void **blob, size_t *len);
	int (*restore_state)(void *inst, const void *blob, size_t len);

	/* Optional: human-readable status (engine, SA state, one line per class...) for netioctl;
	 * one or more lines, up to len bytes. */
	int (*show)(void *inst, char *buf, size_t len);

	uint64_t flags; /* NIO_SVC_F_* (was a spare slot: 0 in older plugins) */

	/* Optional: which of counter_names are gauges (a queue's length, a maximum: values that
	 * go down or are replaced), NULL-terminated; the others only ever grow. /metrics types
	 * them apart and 'netioctl stats clear' leaves gauges alone. (Was a spare slot.) */
	const char *const *gauge_names;

	/* Optional, control thread (like show, while workers run): the instance's parts (a qos
	 * class, a policer, a flow) as structured counters, one call of emit per part. (Was a
	 * spare slot.) */
	void (*objects)(void *inst, void (*emit)(void *ctx, const struct nio_obj *o), void *ctx);

	void *spare[5]; /* keep NULL: room to append without breaking old plugins */
};

/* process, dequeue and the flow hooks may run on several workers at once (see above). */
#define NIO_SVC_F_MT_SAFE 0x1u

#define NIO_SERVICE_SYMBOL_SUFFIX "_service"

#endif /* NETIO_SERVICE_H */

/* netio.ko internals: NICs, bindings, claims, and the functions each file offers the others. */
#ifndef NETIO_KMOD_H
#define NETIO_KMOD_H

#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/netlink.h>

#include <netio/ring.h>
#include <netio/uapi.h>

#define NIO_DEF_SLOTS	   1024u
#define NIO_MIN_SLOTS	   64u
#define NIO_MAX_SLOTS	   32768u
#define NIO_DEF_BUF_SIZE   2048u
#define NIO_MIN_BUF_SIZE   2048u
#define NIO_MAX_BUF_SIZE   65536u
#define NIO_DEF_HOLD_MS	   60000u
#define NIO_RX_HEADROOM	   64u
#define NIO_MAX_HEADROOM   1024u /* at most half the smallest buffer */
#define NIO_NIC_CLAIMS_MAX 256u
#define NIO_MIN_NBUFS	   64u
#define NIO_MAX_MAP_SIZE   (256ull << 20)

/* Module parameters (tx.c). */
extern unsigned int nio_tx_copybreak;
extern unsigned int nio_tx_poll_us;

/*
 * Locking, outermost first: genl_mutex (genl ops), rtnl, nio_lock (NIC list, binding idr,
 * claim tables, owner changes), nio_queue.tx_lock (spinlock, softirq), nio_queue.rx_lock
 * (spinlock, softirq), nio_queue.comp_lock (spinlock, irqsave: skbs are freed anywhere).
 * The ring locks are per queue: no two queues of a binding share one. The rx_handler reads
 * the claim table under RCU only.
 */
extern struct mutex nio_lock;

struct nio_claim_stats {
	u64 packets, bytes, queued, dropped, passed, kept;
};

/* The packet fields a claim looks at, and what tells the kernel's own frames apart. */
struct nio_key {
	u8 family, proto;
	bool has_ports, has_icmp6;
	u16 sport, dport;
	u16 l4_off; /* from the network header, with has_ports */
	u8 icmp6_type;
	struct in6_addr src, dst;
};

/* Frames a claim matched that the kernel kept (per CPU), by enum netio_kept. */
struct nio_kept_stats {
	u64 n[NETIO_KEPT_MAX + 1];
};

struct nio_claim {
	u16 id;
	u8 family; /* 0, AF_INET, AF_INET6 */
	u8 proto;
	u8 src_plen, dst_plen;
	u8 fail_mode;		  /* NETIO_FAIL_* */
	struct in6_addr src, dst; /* IPv4 in the first 4 bytes */
	u16 sport_lo, sport_hi, dport_lo, dport_hi;
	struct nio_bind *bind;
	struct nio_claim_stats __percpu *stats;
	struct rcu_head rcu;
};

/* Every claim of every binding on one NIC, replaced as a whole (RCU) on each change. */
struct nio_claim_table {
	unsigned int n;
	struct rcu_head rcu;
	struct nio_claim *claims[];
};

/* A NIC with an rx_handler of ours: exists while at least one binding uses it. */
struct nio_nic {
	struct net_device *dev;
	netdevice_tracker tracker;
	struct list_head node;	   /* nio_nics */
	struct list_head bindings; /* nio_bind.nic_node */
	struct nio_claim_table __rcu *table;
};

/* Kernel-private counters; the ring's copies in nio_map_info are informational only. */
struct nio_bind_stats {
	u64 rx_packets, rx_bytes, rx_full, rx_trunc;
	u64 tx_packets, tx_bytes, tx_bad_desc, tx_errors;
	u64 rx_expired, rx_nobuf, fill_bad, rx_wakeups;	       /* rx_lock */
	u64 tx_kicks, tx_polls;				       /* tx_lock */
	u64 tx_zerocopy, tx_copied, tx_path_copied, comp_lost; /* comp_lock */
};

struct nio_bind;
struct nio_queue;

/* The completion state of one region buffer while an skb refers to its pages. */
struct nio_txbuf {
	struct ubuf_info ubuf;
	struct nio_queue *q; /* whose completion ring gets the buffer back */
	bool copied;	     /* some skb path copied the frame (skb_copy_ubufs) */
};

/*
 * The buffer region (UMEM): nbufs x buf_size bytes of vmalloc_user memory, mapped by the
 * owners of every binding that uses it. The kernel's own state about the buffers is private:
 * inflight has a bit per buffer an skb may still refer to; such a buffer is refused on TX
 * (duplicate) and on fill (RX would write into a frame being sent). Lifetime: a kref held by
 * each binding using it and each mapping.
 */
struct nio_region {
	struct kref ref;
	u32 id;
	void *mem;
	u64 size;
	u32 nbufs, buf_size;
	struct page **pages; /* pages[i]: the page at offset i * PAGE_SIZE */
	unsigned long *inflight;
	struct nio_txbuf *txbufs; /* indexed by buffer */
};

/*
 * One ring set of a binding (ABI 3: a queue): RX and fill fed by the rx_handler on whatever
 * CPU the NIC's queue or the flow hash picks, TX and completion by its owner's file. Nothing
 * here is shared with the binding's other queues but the region. The kernel's ring indices
 * are private copies: nothing read back from the shared mapping is trusted.
 */
struct nio_queue {
	struct nio_bind *bind;
	u32 id;
	struct nio_queue_info *info;
	struct nio_ring *rx, *fill, *tx, *comp;
	struct net_device *dev; /* the binding's, NULL once destroyed (tx_lock) */

	spinlock_t rx_lock; /* RX producer and fill consumer: rx_handler on any CPU */
	u32 rx_head;	    /* the kernel's RX producer index */
	u32 fill_tail;	    /* the kernel's fill consumer index */
	spinlock_t tx_lock; /* TX consumer: a kick, poll or the TX timer */
	u32 tx_tail;	    /* the kernel's TX consumer index */
	struct hrtimer tx_timer;
	bool tx_polling;      /* tx_timer runs and NEED_WAKEUP is clear (tx_lock) */
	spinlock_t comp_lock; /* completion producer: wherever an skb is freed */
	u32 comp_head;	      /* the kernel's completion producer index */
	u32 comp_reserved;    /* buffers taken from TX whose completion is still due */
	struct nio_bind_stats stats;
	wait_queue_head_t wq; /* the file serving this queue sleeps here */
	atomic_t rx_armed;    /* a poll waits on wq and no RX frame has woken it yet */
} ____cacheline_aligned_in_smp;

/*
 * One NIC's binding: claims, owner, and nqueues ring sets in one mapping. Geometry is a
 * private copy. Lifetime is a kref held by the binding list (until destroyed), the owner
 * file, each queue file, each mapping, each skb built on its region and a pending hold timer.
 */
struct nio_bind {
	struct kref ref;
	u32 id;
	char name[NETIO_NAME_MAX];
	int ifindex;
	struct nio_nic *nic;	   /* NULL once destroyed (nio_lock) */
	struct net_device *dev;	   /* NULL once destroyed (nio_lock) */
	struct list_head nic_node; /* nio_nic.bindings */
	struct nio_claim **claims; /* this binding's claims, owned by the NIC table */
	unsigned int nclaims;
	struct file *owner; /* attached file or NULL (nio_lock) */
	struct pid *owner_pid;
	bool dead;    /* destroyed: wake pollers with EPOLLERR */
	bool expired; /* no owner past the hold time, kept for a secure claim (nio_lock) */
	u32 hold_ms;
	struct delayed_work hold_work;

	struct nio_region *region;
	void *map; /* vmalloc_user: nio_map_info, then each queue's info and four rings */
	u64 map_size, qinfo_off, rx_off, fill_off, tx_off, comp_off, queue_stride;
	u32 rx_slots, tx_slots;
	u32 headroom; /* bytes in front of each RX frame */
	struct nio_map_info *info;
	u32 nqueues;
	struct nio_queue *q; /* nqueues of them */
	struct nio_kept_stats __percpu *kept;
};

/* Geometry of a new binding (and of its region unless it shares one). */
struct nio_geometry {
	u32 rx_slots, tx_slots, nbufs, buf_size, headroom, nqueues;
	struct nio_region *share; /* a region to use, referenced; NULL: create one */
};

/* bind.c */
int nio_bind_init(void);
void nio_bind_uninit(void);
struct nio_bind *nio_bind_create(struct net_device *dev, const char *name,
				 const struct nio_geometry *g, u32 hold_ms);
struct nio_bind *nio_bind_find(u32 id, const struct net *net);
struct nio_bind *nio_bind_find_name(struct net_device *dev, const char *name);
struct nio_bind *nio_bind_next(int *id, const struct net *net);
void nio_bind_destroy(struct nio_bind *b, u32 reason); /* enum netio_gone_reason */
void nio_bind_get(struct nio_bind *b);
void nio_bind_put(struct nio_bind *b);
struct nio_bind *nio_bind_attach(u32 id, struct file *f);
void nio_bind_detach(struct nio_bind *b, struct file *f);
bool nio_bind_may_change(const struct nio_bind *b);
u32 nio_bind_hold_state(const struct nio_bind *b, u32 *left_ms);
void nio_bind_kept_sum(const struct nio_bind *b, struct nio_kept_stats *sum);
void nio_bind_stats_sum(const struct nio_bind *b, struct nio_bind_stats *sum, u64 *inflight);
struct nio_queue *nio_bind_attach_queue(u32 id, u32 queue, struct file *f);

/* region.c */
struct nio_region *nio_region_create(u32 nbufs, u32 buf_size);
void nio_region_get(struct nio_region *r);
void nio_region_put(struct nio_region *r);
int nio_region_mmap(struct nio_region *r, struct vm_area_struct *vma);
u8 *nio_region_buf(const struct nio_region *r, u32 idx);

/* ring.c */
int nio_ring_alloc(struct nio_bind *b, const struct nio_geometry *g);
void nio_ring_free_mem(struct nio_bind *b);
void nio_ring_republish(struct nio_bind *b);
struct nio_queue *nio_ring_queue(struct nio_bind *b, struct sk_buff *skb);
bool nio_ring_rx_enqueue(struct nio_queue *q, const struct sk_buff *skb, u16 claim_id);
void nio_ring_rx_discard(struct nio_bind *b);
bool nio_ring_rx_ready(struct nio_queue *q);

/* tx.c */
void nio_tx_init(struct nio_queue *q);
int nio_tx_kick(struct nio_queue *q);
void nio_tx_stop(struct nio_queue *q);
bool nio_tx_room(struct nio_queue *q);
bool nio_tx_pending(struct nio_queue *q);

/* claim.c */
extern const struct nla_policy nio_claim_policy[NETIO_CLAIM_A_MAX + 1];
struct nio_claim *nio_claim_alloc(void);
int nio_claim_parse(struct nlattr *nest, struct nio_claim *c, struct netlink_ext_ack *extack);
bool nio_claim_overlap(const struct nio_claim *a, const struct nio_claim *b);
struct nio_claim *nio_claim_lookup(struct nio_claim_table *t, const struct sk_buff *skb,
				   struct nio_key *k);
struct nio_claim *nio_claim_lookup_host(struct nio_claim_table *t, const struct nio_key *k);
bool nio_claims_secure(const struct nio_bind *b);
int nio_claims_replace(struct nio_bind *b, struct nio_claim **claims, unsigned int n,
		       struct netlink_ext_ack *extack);
void nio_claim_free(struct nio_claim *c);
void nio_claim_free_now(struct nio_claim *c);
void nio_nic_rebuild(struct nio_nic *nic);
void nio_claim_stats_sum(const struct nio_claim *c, struct nio_claim_stats *sum);
int nio_claim_fill(struct sk_buff *msg, const struct nio_claim *c);

/* keep.c */
u32 nio_keep_reason(const struct sk_buff *skb, struct nio_claim_table *t, const struct nio_key *k,
		    struct nio_claim **c);

/* hook.c */
struct nio_nic *nio_nic_get(struct net_device *dev);
void nio_nic_maybe_release(struct nio_nic *nic);
void nio_nic_publish(struct nio_nic *nic, struct nio_claim_table *t);
void nio_nics_teardown(struct net_device *dev);

/* dev.c */
int nio_dev_init(void);
void nio_dev_uninit(void);

/* genl.c */
int nio_genl_init(void);
void nio_genl_uninit(void);
void nio_genl_notify_gone(const struct nio_bind *b, struct net *net, u32 reason);

#endif /* NETIO_KMOD_H */

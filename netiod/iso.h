/* netiod's view of an isolated service instance (isolate.c: control thread, iso_path.c: worker). */
#ifndef NETIO_ISO_H
#define NETIO_ISO_H

#include "isolate.h"
#include "netiod.h"

/*
 * Life of an instance: UP while its host runs. The control thread sets DOWN when the host is
 * gone (its control socket closed: a crash, an abort, a kill after a hang); the owner worker
 * then takes back every buffer the host had, treats the packets by the pipeline's fail-mode
 * and sets RECLAIMED; the control thread then starts a new host (UP) or, past the restart
 * limit, leaves it FAILED: every packet of the pipeline follows the fail-mode from then on.
 */
enum nio_iso_state { NIO_ISO_UP = 1, NIO_ISO_DOWN, NIO_ISO_RECLAIMED, NIO_ISO_FAILED };

#define NIO_ISO_MAX_STARTS 64 /* restart-intensity's maximum */

struct nio_iso {
	struct nio_iso *next; /* every instance, for the watchdog and exit reports */
	struct netiod *d;
	struct nio_pipeline *pl;
	struct nio_svc_inst *si;
	char name[NIO_NAME_MAX * 2 + 2]; /* pipeline/service */
	_Atomic int state;		 /* enum nio_iso_state */

	/* shared with the host */
	struct nio_iso_shm *shm;
	size_t shm_size;
	int shm_fd, req_efd, resp_efd, ctl_fd;
	struct nio_ring *req, *resp, *fill, *freer;
	struct nio_xmeta *meta; /* one slot per arena buffer */

	/* buffers lent to the host, one bit per arena buffer (the owner worker's alone) */
	uint64_t *lent;
	uint32_t nbufs;

	/* supervision (control thread) */
	pid_t pid;
	uid_t uid; /* the host's user */
	gid_t gid;
	struct event *ev;
	char *conf_json; /* the block's options, for the host's INIT (at most NIO_ISO_CONF_MAX) */
	char state_dir[256];
	uint64_t starts[NIO_ISO_MAX_STARTS]; /* start times, a ring of restart-intensity */
	unsigned nstarts, restarts;
	uint64_t hb, hb_ns;  /* last heartbeat seen and when */
	uint64_t down_ns;    /* when it failed (a hang: its last heartbeat seen) */
	uint64_t gone_ns;    /* when it was found down */
	bool reaped;	     /* the spawner reported the host's end: a new one may start */
	uint64_t recover_ns; /* the last restart's fault-to-up time */
	bool killed;	     /* a kill for a hang is on its way */
	char why[320];	     /* the last fault, for the log and 'service list' */
	char limit[96];	     /* why it is not restarted, once FAILED */
	void *blob;	     /* the last save_state the host sent */
	size_t bloblen;
	uint64_t base[NIO_MAX_SVC_CTRS]; /* what hosts before this one counted */
	uint64_t view[NIO_MAX_SVC_CTRS];

	/* the owner worker's view of the rings: its own request head (never read back from the
	 * shared ring), the request positions answered, the buffer sent at each position
	 * (NIO_ISO_REQ of them) and the host's response head as last read */
	uint32_t req_head, done, resp_head;
	uint32_t *sent;
	bool bell_owed; /* requests published without a look at h_asleep after a fence */

	/* worker counters (the owner's) */
	uint64_t bad_desc, copied, reclaimed;
	uint64_t xcyc, xpkts; /* the worker's crossing: descriptors out and back (nio_iso_clock) */
	bool corrupt;	      /* the host broke a ring's indices: the control thread kills it */
};

#endif /* NETIO_ISO_H */

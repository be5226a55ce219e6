/* pcap capture of a pipeline's packets at one stage, readable by tcpdump and Wireshark. */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netiod.h"

struct nio_capture {
	pcap_t *dead;
	pcap_dumper_t *dumper;
	char file[256];
	unsigned stage;	    /* 0: input, k: after service k, nsvcs + 1: as sent */
	uint64_t remaining; /* packets still to write (worker) */
	uint64_t captured;  /* packets written (worker) */
	atomic_flag busy;   /* a pipeline may run on several workers: one writer per burst */
};

/* Worker: at the capture's stage, write up to the remaining count; flush when it is reached. */
void nio_capture_at(struct nio_capture *cap, unsigned stage, struct nio_pkt **pkts, uint16_t n)
{
	struct timespec ts;

	if (cap->stage != stage || !cap->remaining)
		return;
	while (atomic_flag_test_and_set_explicit(&cap->busy, memory_order_acquire))
		sched_yield();
	clock_gettime(CLOCK_REALTIME, &ts);
	for (uint16_t i = 0; i < n && cap->remaining; i++) {
		struct pcap_pkthdr h = {
			.ts = { .tv_sec = ts.tv_sec, .tv_usec = ts.tv_nsec / 1000 },
			.caplen = pkts[i]->len,
			.len = pkts[i]->len,
		};

		pcap_dump((u_char *)cap->dumper, &h, pkts[i]->data);
		cap->captured++;
		if (!--cap->remaining)
			pcap_dump_flush(cap->dumper);
	}
	atomic_flag_clear_explicit(&cap->busy, memory_order_release);
}

static void capture_free(struct nio_capture *cap)
{
	if (!cap)
		return;
	pcap_dump_close(cap->dumper);
	pcap_close(cap->dead);
	free(cap);
}

/* Detach a pipeline's capture with the workers paused, then close the file. */
static int detach(struct netiod *d, struct nio_pipeline *pl, char *err, size_t errlen)
{
	struct nio_capture *cap;

	if (nio_workers_pause(d, err, errlen) < 0)
		return -1;
	cap = atomic_exchange(&pl->capture, NULL);
	nio_workers_resume(d);
	capture_free(cap);
	return 0;
}

/*
 * The file is created, never reused: the control socket is open to the netio group, and a
 * capture written by root must not follow a symlink planted there or truncate an existing file
 * (O_NOFOLLOW | O_EXCL); packets are private to root (0600).
 */
static int open_dumper(struct nio_capture *cap, const char *file, char *err, size_t errlen)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");

	if (!f) {
		nio_err(err, errlen, "%s: %s", file,
			errno == EEXIST ? "exists (a capture never overwrites a file)"
					: strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	cap->dead = pcap_open_dead(DLT_EN10MB, 65535);
	cap->dumper = cap->dead ? pcap_dump_fopen(cap->dead, f) : NULL;
	if (!cap->dumper) {
		nio_err(err, errlen, "%s: %s", file, cap->dead ? pcap_geterr(cap->dead) : "pcap");
		if (cap->dead)
			pcap_close(cap->dead);
		fclose(f);
		unlink(file);
		return -1;
	}
	return 0;
}

static int stage_of(const struct nio_pipeline *pl, const char *s, unsigned *stage)
{
	char *end;
	unsigned long v;

	if (!s || !strcmp(s, "in")) {
		*stage = 0;
		return 0;
	}
	if (!strcmp(s, "out")) {
		*stage = pl->nsvcs + 1;
		return 0;
	}
	for (unsigned i = 0; i < pl->nsvcs; i++) {
		if (!strcmp(s, pl->svcs[i].svc->name)) {
			*stage = i + 1; /* after that service */
			return 0;
		}
	}
	v = strtoul(s, &end, 10);
	if (*end || end == s || v > pl->nsvcs + 1)
		return -1;
	*stage = (unsigned)v;
	return 0;
}

static struct nio_pipeline *find_pipeline(struct netiod *d, const char *name)
{
	for (unsigned i = 0; i < d->running->npipelines; i++)
		if (!strcmp(d->running->pipelines[i].name, name))
			return &d->running->pipelines[i];
	return NULL;
}

int nio_capture_start(struct netiod *d, const char *pipeline, const char *stage, const char *file,
		      uint64_t count, char *err, size_t errlen)
{
	struct nio_pipeline *pl = find_pipeline(d, pipeline);
	struct nio_capture *cap;

	if (!pl)
		return nio_err(err, errlen, "no pipeline '%s'", pipeline);
	cap = calloc(1, sizeof(*cap));
	if (!cap)
		return nio_err(err, errlen, "out of memory");
	if (stage_of(pl, stage, &cap->stage) < 0) {
		free(cap);
		return nio_err(err, errlen,
			       "stage '%s': use in, out, a service name of the pipeline, or 0..%u",
			       stage, pl->nsvcs + 1);
	}
	if (open_dumper(cap, file, err, errlen) < 0) {
		free(cap);
		return -1;
	}
	snprintf(cap->file, sizeof(cap->file), "%s", file);
	cap->remaining = count ? count : UINT64_MAX;
	if (atomic_load(&pl->capture) && detach(d, pl, err, errlen) < 0) {
		capture_free(cap);
		return -1;
	}
	atomic_store_explicit(&pl->capture, cap, memory_order_release);
	log_info("capturing pipeline %s at stage %u into %s", pl->name, cap->stage, file);
	return 0;
}

int nio_capture_stop(struct netiod *d, const char *pipeline, uint64_t *captured, char *err,
		     size_t errlen)
{
	struct nio_pipeline *pl = find_pipeline(d, pipeline);
	struct nio_capture *cap;

	if (!pl)
		return nio_err(err, errlen, "no pipeline '%s'", pipeline);
	cap = atomic_load(&pl->capture);
	if (!cap)
		return nio_err(err, errlen, "pipeline '%s' is not being captured", pipeline);
	*captured = cap->captured;
	return detach(d, pl, err, errlen);
}

/* Status for netioctl: NULL when not capturing. */
const char *nio_capture_file(const struct nio_pipeline *pl, unsigned *stage, uint64_t *captured)
{
	const struct nio_capture *cap = atomic_load(&pl->capture);

	if (!cap)
		return NULL;
	*stage = cap->stage;
	*captured = cap->captured;
	return cap->file;
}

/* Captures end with the configuration they belong to (the worker no longer sees it). */
void nio_capture_release(struct nio_pipeline *pl)
{
	capture_free(atomic_exchange(&pl->capture, NULL));
}

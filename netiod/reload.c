/* Configuration and plugin changes at run time: all or nothing, at a quiescent point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netiod.h"
#include "trace.h"

/* The k-th instance of service name in pl (a pipeline may run one service twice), or NULL. */
static const struct nio_svc_inst *nth_svc(const struct nio_pipeline *pl, const char *name,
					  unsigned k)
{
	for (unsigned t = 0; t < pl->nsvcs; t++)
		if (strcmp(pl->svcs[t].svc->name, name) == 0 && k-- == 0)
			return &pl->svcs[t];
	return NULL;
}

/* Of a pipeline of the same name, state then counters of each same-named service instance move
 * to the new one (ESP sequence numbers, queues); the pipeline's counters too. */
static void carry_pipeline(const struct nio_pipeline *o, struct nio_pipeline *n)
{
	nio_pipeline_stats_carry(o, n);
	for (unsigned s = 0; s < n->nsvcs; s++) {
		struct nio_svc_inst *ns = &n->svcs[s];
		unsigned k = 0;

		for (unsigned t = 0; t < s; t++)
			k += strcmp(n->svcs[t].svc->name, ns->svc->name) == 0;
		const struct nio_svc_inst *os = nth_svc(o, ns->svc->name, k);

		if (!os)
			continue;
		nio_svc_handoff(os, ns);
		nio_svc_stats_carry(os, ns);
	}
}

static void handoff(const struct nio_config *old, struct nio_config *c)
{
	for (unsigned i = 0; old && i < c->npipelines; i++)
		for (unsigned j = 0; j < old->npipelines; j++)
			if (strcmp(old->pipelines[j].name, c->pipelines[i].name) == 0)
				carry_pipeline(&old->pipelines[j], &c->pipelines[i]);
	/* a port's shaper carries on (its queue too) in the port of the same name */
	for (unsigned i = 0; old && i < c->nports; i++)
		for (unsigned j = 0; c->egress[i] && j < old->nports; j++)
			if (old->egress[j] && !strcmp(old->ports[j]->name, c->ports[i]->name))
				carry_pipeline(old->egress[j], c->egress[i]);
}

void nio_svc_handoff(const struct nio_svc_inst *from, struct nio_svc_inst *to)
{
	void *blob = NULL;
	size_t len = 0;

	if (!from->svc->save_state || !to->svc->restore_state)
		return;
	if (nio_svc_save(from, &blob, &len) == 0 && blob) {
		if (nio_svc_restore(to, blob, len) < 0)
			log_warnx("%s: state handoff refused by the new instance", to->svc->name);
	}
	free(blob);
}

/*
 * Swap in a loaded, opened configuration with every worker stopped at a quiescent point. The
 * old instances are finished before the workers resume: a service may hand back packets it
 * still holds (host->pkt_free) into a worker's pool only while no worker is using it. A worker
 * that does not stop (stuck) makes it fail with nothing changed.
 */
int nio_apply_config(struct netiod *d, struct nio_config *c, char *err, size_t errlen)
{
	struct nio_config *old = d->running;

	if (nio_workers_pause(d, err, errlen) < 0)
		return -1;
	nio_trace_reset(); /* its filter and records name the old pipelines and ports */
	c->generation = old ? old->generation + 1 : 1;
	handoff(old, c);
	for (unsigned i = 0; i < c->nports; i++)
		c->ports[i]->id = (uint16_t)i;
	nio_workers_set_config(d, c);
	d->running = c;
	nio_config_free(old);
	nio_iso_arm(d, c);
	nio_regions_collect(false); /* a closed port's buffers held until now are all back */
	nio_workers_resume(d);
	nio_kmod_events_sync(d);
	nio_neigh_refresh(d); /* the new configuration may route by other tables */
	return 0;
}

int nio_reload(struct netiod *d, const char *file, char *err, size_t errlen)
{
	unsigned workers = d->running->workers;
	struct nio_wsched wsched = d->running->wsched;
	struct nio_privs privs = d->running->privs;
	bool metrics_changed;
	struct nio_config *c;

	nio_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
		   (unsigned long long)(nio_now_ns() / 1000), file);
	c = nio_config_load(d, file, NULL, err, errlen);
	if (c && nio_config_check_forwarding(c, err, errlen) < 0) {
		nio_config_free(c);
		c = NULL;
	}
	metrics_changed = c && strcmp(c->metrics_listen, d->running->metrics_listen);
	if (c && (nio_config_open_ports(c, d->running, err, errlen) < 0 ||
		  nio_config_set_claims(c, err, errlen) < 0 ||
		  nio_apply_config(d, c, err, errlen) < 0)) {
		char ignore[256];

		/* the module may hold some of c's claims already: give it the running set back */
		nio_config_set_claims(d->running, ignore, sizeof(ignore));
		nio_config_free(c);
		c = NULL;
	}
	if (!c) {
		d->reload_failures++;
		snprintf(d->last_error, sizeof(d->last_error), "%s", err);
		log_warnx("reload failed, keeping the running configuration: %s", err);
		nio_notify("READY=1\nSTATUS=reload failed, running generation %llu: %s",
			   (unsigned long long)d->running->generation, err);
		return -1;
	}
	if (metrics_changed)
		log_warnx("metrics-listen changes take effect when netiod restarts");
	if (c->workers != workers)
		log_warnx("workers changes take effect when netiod restarts (running %u)",
			  d->nworkers);
	if (c->wsched.policy != wsched.policy || c->wsched.prio != wsched.prio)
		log_warnx("worker-sched changes take effect when netiod restarts");
	nio_privs_warn_changes(&privs, &c->privs);
	nio_config_warn_taps(c);
	if (file != d->conf_file) /* SIGHUP passes d->conf_file itself */
		snprintf(d->conf_file, sizeof(d->conf_file), "%s", file);
	d->reloads++;
	d->last_error[0] = '\0';
	log_info("configuration %s loaded (generation %llu)", file,
		 (unsigned long long)c->generation);
	nio_notify("READY=1\nSTATUS=running: generation %llu, %u port(s), %u pipeline(s)",
		   (unsigned long long)c->generation, c->nports, c->npipelines);
	return 0;
}

/* ------------------------------------------------------------------ service replace */

struct replacement {
	struct nio_pipeline *pl;
	unsigned svc;
	struct nio_svc_inst inst;
};

static void undo(struct replacement *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		nio_svc_inst_fini(&r[i].inst);
}

/*
 * Load new code for a running service: new instances are created from the same blocks
 * first (any failure leaves everything as it was), then swapped in with the worker paused,
 * with state handed over; the old code is retired after the swap, when no worker can be in it.
 */
int nio_service_replace(struct netiod *d, const char *name, const char *path, char *err,
			size_t errlen)
{
	struct nio_plugin *old = nio_plugin_find(d, name), *np;
	/* per-worker counter rows make this too big for the stack */
	static struct replacement r[(NIO_MAX_PIPELINES + NIO_MAX_PORTS) * NIO_MAX_SVCS];
	struct nio_config *c = d->running;
	unsigned n = 0;

	if (!old)
		return nio_err(err, errlen, "no service '%s' is loaded", name);
	if (nio_plugin_open(path ? path : old->path, &np, err, errlen) < 0)
		return -1;
	if (strcmp(np->name, name)) {
		snprintf(err, errlen, "%s provides service '%s', not '%s'", np->path, np->name,
			 name);
		goto fail;
	}
	for (unsigned i = 0; c && i < nio_config_nstages(c); i++) {
		struct nio_pipeline *pl = nio_config_stage(c, i);

		for (unsigned s = 0; pl && s < pl->nsvcs; s++) {
			char why[256] = "";

			if (pl->svcs[s].plugin != old)
				continue;
			r[n] = (struct replacement){ .pl = pl, .svc = s, .inst = pl->svcs[s] };
			r[n].inst.plugin = np;
			r[n].inst.svc = np->svc;
			r[n].inst.inst = NULL;
			r[n].inst.iso = NULL;
			r[n].inst.conf = NULL;
			r[n].inst.host = NULL;
			memset(r[n].inst.stats, 0, sizeof(r[n].inst.stats));
			memset(r[n].inst.ctr_base, 0, sizeof(r[n].inst.ctr_base));
			if (nio_config_check_block(c, &r[n].inst, why, sizeof(why)) < 0 ||
			    !(r[n].inst.inst =
				      nio_service_init(d, c, pl, &r[n].inst, why, sizeof(why)))) {
				snprintf(err, errlen, "pipeline '%s': new %s: %s", pl->name, name,
					 why);
				nio_svc_inst_fini(
					&r[n].inst); /* frees what init got, calls no fini */
				goto fail;
			}
			np->refs++;
			n++;
		}
	}
	if (nio_workers_pause(d, err, errlen) < 0)
		goto fail;
	nio_workers_flush_flows(d);
	for (unsigned i = 0; i < n; i++) {
		struct nio_svc_inst *cur = &r[i].pl->svcs[r[i].svc], prev = *cur;

		nio_svc_handoff(cur, &r[i].inst);
		nio_svc_stats_carry(cur, &r[i].inst);
		c->any_dequeue |= r[i].inst.svc->dequeue != NULL && !r[i].inst.iso;
		c->any_iso |= r[i].inst.iso != NULL;
		*cur = r[i].inst;
		r[i].inst = prev; /* the old instance, finished below */
		nio_iso_moved(cur);
		nio_iso_moved(&r[i].inst);
	}
	nio_plugin_unlink(d, old);
	np->next = d->plugins;
	d->plugins = np;
	nio_config_assign_owners(c); /* the new code may declare other concurrency */
	undo(r, n); /* the old instances, while no worker can touch what they free */
	nio_workers_resume(d);
	nio_plugin_close(old);
	log_info("replaced service %s with %s (%u instance(s))", name, np->path, n);
	free(old);
	return 0;
fail:
	undo(r, n);
	nio_plugin_close(np);
	free(np);
	return -1;
}

/* netioctl kernel: netio.ko's bindings over generic netlink, without netiod. */
#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <netio/uapi.h>

#include "netioctl.h"

/*
 * An administrator's view of the module: what each binding claims and whether an owner is
 * attached, and the way out for a binding nobody owns any more (a `secure` binding outlives
 * its hold time and keeps dropping until it is unbound). The module shows each caller only
 * the bindings of its own network namespace and wants CAP_NET_ADMIN.
 */
struct kctl {
	struct nl_sock *sk;
	int family;
	int err;	/* negative errno of the last request */
	char msg[160];	/* the kernel's extended ack message */
	json_t *binds;	/* array, filled by the GET_BIND dump */
	json_t *claims; /* array of the binding being dumped */
};

static const char *const stat_names[] = {
	[NETIO_STAT_RX_PACKETS] = "rx_packets", [NETIO_STAT_RX_BYTES] = "rx_bytes",
	[NETIO_STAT_RX_FULL] = "rx_full",	[NETIO_STAT_RX_TRUNC] = "rx_trunc",
	[NETIO_STAT_RX_EXPIRED] = "rx_expired", [NETIO_STAT_TX_PACKETS] = "tx_packets",
	[NETIO_STAT_TX_BYTES] = "tx_bytes",	[NETIO_STAT_TX_BAD_DESC] = "tx_bad_desc",
	[NETIO_STAT_TX_ERRORS] = "tx_errors",	[NETIO_STAT_RX_NOBUF] = "rx_nobuf",
	[NETIO_STAT_FILL_BAD] = "fill_bad",	[NETIO_STAT_TX_ZEROCOPY] = "tx_zerocopy",
	[NETIO_STAT_TX_COPIED] = "tx_copied",	[NETIO_STAT_TX_INFLIGHT] = "tx_inflight",
	[NETIO_STAT_COMP_LOST] = "comp_lost",	[NETIO_STAT_TX_KICKS] = "tx_kicks",
	[NETIO_STAT_TX_POLLS] = "tx_polls",	[NETIO_STAT_TX_PATH_COPIED] = "tx_path_copied",
	[NETIO_STAT_RX_WAKEUPS] = "rx_wakeups",
};

static const char *const kept_names[] = {
	[NETIO_KEPT_ND] = "nd",
	[NETIO_KEPT_MLD] = "mld",
	[NETIO_KEPT_LL_MCAST] = "ll_mcast",
	[NETIO_KEPT_BROADCAST] = "broadcast",
	[NETIO_KEPT_LOCAL] = "local",
	[NETIO_KEPT_NATT] = "natt",
};

static const char *const hold_names[] = {
	[NETIO_HOLD_ATTACHED] = "attached",
	[NETIO_HOLD_WAITING] = "waiting",
	[NETIO_HOLD_EXPIRED] = "expired",
};

#define NAMES(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- netlink */

static int on_err(struct sockaddr_nl *sa, struct nlmsgerr *e, void *arg)
{
	struct kctl *k = arg;
	struct nlmsghdr *h = (struct nlmsghdr *)e - 1;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*e));

	k->err = e->error ? e->error : -EIO;
	/* with NETLINK_CAP_ACK the TLVs follow the error header directly */
	if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && (int)h->nlmsg_len > off &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)(void *)((char *)h + off),
		       (int)h->nlmsg_len - off, NULL) &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(k->msg, sizeof(k->msg), "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int on_done(struct nl_msg *m, void *arg)
{
	*(bool *)arg = true;
	return NL_STOP;
}

/* Send m, feed each reply to cb until the ACK or the end of the dump; 0 or a negative errno. */
static int exec(struct kctl *k, struct nl_msg *m, int (*cb)(struct nl_msg *, void *))
{
	struct nl_cb *c = nl_cb_alloc(NL_CB_DEFAULT);
	bool done = false;
	int rc = -ENOMEM;

	k->err = 0;
	k->msg[0] = 0;
	if (c) {
		nl_cb_err(c, NL_CB_CUSTOM, on_err, k);
		nl_cb_set(c, NL_CB_ACK, NL_CB_CUSTOM, on_done, &done);
		nl_cb_set(c, NL_CB_FINISH, NL_CB_CUSTOM, on_done, &done);
		if (cb)
			nl_cb_set(c, NL_CB_VALID, NL_CB_CUSTOM, cb, k);
		rc = nl_send_auto(k->sk, m);
		while (rc >= 0 && !done && !k->err)
			rc = nl_recvmsgs(k->sk, c);
		nl_cb_put(c);
	}
	nlmsg_free(m);
	if (k->err)
		return k->err;
	return rc < 0 ? -EIO : 0;
}

static struct nl_msg *req(const struct kctl *k, int cmd, int flags)
{
	struct nl_msg *m = nlmsg_alloc();

	if (!m || !genlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, k->family, 0, flags, (uint8_t)cmd,
			       NETIO_GENL_VERSION)) {
		exit(nio_ctl_error(NIO_EXIT_DAEMON, "out of memory"));
	}
	return m;
}

static int fail(const struct kctl *k, const char *what, int err)
{
	return nio_ctl_error(NIO_EXIT_DAEMON, "%s: %s%s%s%s", what, strerror(-err),
			     k->msg[0] ? ": " : "", k->msg,
			     err == -EPERM && !k->msg[0] ? " (needs CAP_NET_ADMIN)" : "");
}

static int open_family(struct kctl *k)
{
	int one = 1;

	k->sk = nl_socket_alloc();
	if (!k->sk || genl_connect(k->sk) < 0) {
		nio_ctl_error(NIO_EXIT_DAEMON, "cannot open a generic netlink socket");
		return -1;
	}
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	k->family = genl_ctrl_resolve(k->sk, NETIO_GENL_NAME);
	if (k->family < 0) {
		nio_ctl_error(NIO_EXIT_DAEMON,
			      "netio.ko is not loaded (no generic netlink family '%s')",
			      NETIO_GENL_NAME);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- replies as JSON */

#define COUNTERS_MAX 32
_Static_assert(NETIO_STAT_MAX < COUNTERS_MAX && NETIO_KEPT_MAX < COUNTERS_MAX, "counter nests");

static json_t *counters(struct nlattr *nest, int max, const char *const *names, size_t nnames)
{
	struct nlattr *tb[COUNTERS_MAX];
	json_t *o = json_object();

	if (!nest || nla_parse_nested(tb, max, nest, NULL))
		return o;
	for (int i = 1; i <= max && (size_t)i < nnames; i++)
		if (names[i] && tb[i] && nla_len(tb[i]) >= 8)
			json_object_set_new(o, names[i],
					    json_integer((json_int_t)nla_get_u64(tb[i])));
	return o;
}

/* Each queue's RX count, in queue order (the module numbers them from 1). */
static json_t *queue_rx(struct nlattr *nest)
{
	json_t *a = json_array();
	struct nlattr *q;
	int rem;

	if (nest)
		nla_for_each_nested (q, nest, rem)
			if (nla_type(q) == (int)json_array_size(a) + 1)
				json_array_append_new(a, json_integer((json_int_t)nla_get_u64(q)));
	return a;
}

static json_int_t u32_of(struct nlattr *a)
{
	return a && nla_len(a) >= 4 ? nla_get_u32(a) : 0;
}

static int on_bind(struct nl_msg *m, void *arg)
{
	struct kctl *k = arg;
	struct nlattr *tb[NETIO_A_MAX + 1];
	char dev[IF_NAMESIZE] = "?";
	uint32_t state;
	json_t *b;

	if (genlmsg_parse(nlmsg_hdr(m), 0, tb, NETIO_A_MAX, NULL) || !tb[NETIO_A_BIND_ID])
		return NL_SKIP;
	if (!if_indextoname((unsigned)u32_of(tb[NETIO_A_IFINDEX]), dev))
		snprintf(dev, sizeof(dev), "?");
	/* a module older than the hold state tells only whether an owner is attached */
	state = u32_of(tb[NETIO_A_OWNER_PID]) ? NETIO_HOLD_ATTACHED : NETIO_HOLD_WAITING;
	if (tb[NETIO_A_HOLD_STATE])
		state = (uint32_t)u32_of(tb[NETIO_A_HOLD_STATE]);
	b = json_pack("{s:I, s:s, s:s, s:I, s:I, s:b, s:I, s:s, s:I, s:I, s:I, s:I}", "id",
		      u32_of(tb[NETIO_A_BIND_ID]), "name",
		      tb[NETIO_A_BIND_NAME] ? nla_get_string(tb[NETIO_A_BIND_NAME]) : "", "device",
		      dev, "ifindex", u32_of(tb[NETIO_A_IFINDEX]), "owner_pid",
		      u32_of(tb[NETIO_A_OWNER_PID]), "attached", state == NETIO_HOLD_ATTACHED,
		      "hold_ms", u32_of(tb[NETIO_A_HOLD_MS]), "hold_state",
		      state < NAMES(hold_names) ? hold_names[state] : "unknown", "hold_left_ms",
		      u32_of(tb[NETIO_A_HOLD_LEFT_MS]), "rx_slots", u32_of(tb[NETIO_A_RX_SLOTS]),
		      "tx_slots", u32_of(tb[NETIO_A_TX_SLOTS]), "buf_size",
		      u32_of(tb[NETIO_A_BUF_SIZE]));
	json_object_set_new(b, "queues",
			    json_integer(tb[NETIO_A_QUEUES] ? u32_of(tb[NETIO_A_QUEUES]) : 1));
	json_object_set_new(b, "queue_rx", queue_rx(tb[NETIO_A_QUEUE_RX]));
	json_object_set_new(
		b, "stats",
		counters(tb[NETIO_A_STATS], NETIO_STAT_MAX, stat_names, NAMES(stat_names)));
	json_object_set_new(
		b, "kept",
		counters(tb[NETIO_A_KEPT], NETIO_KEPT_MAX, kept_names, NAMES(kept_names)));
	json_array_append_new(k->binds, b);
	return NL_OK;
}

static const char *prefix(struct nlattr **c, int addr, int plen, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!c[addr] || !c[plen] ||
	    !inet_ntop(nla_len(c[addr]) == 4 ? AF_INET : AF_INET6, nla_data(c[addr]), a, sizeof(a)))
		return "any";
	snprintf(buf, len, "%s/%u", a, nla_get_u8(c[plen]));
	return buf;
}

static json_t *ports(struct nlattr *lo, struct nlattr *hi)
{
	return json_pack("[I, I]", lo ? (json_int_t)nla_get_u16(lo) : 0,
			 hi ? (json_int_t)nla_get_u16(hi) : 65535);
}

static json_t *claim(struct nlattr **c)
{
	static const int cnt[] = { NETIO_CLAIM_A_PACKETS, NETIO_CLAIM_A_BYTES,
				   NETIO_CLAIM_A_QUEUED,  NETIO_CLAIM_A_DROPPED,
				   NETIO_CLAIM_A_PASSED,  NETIO_CLAIM_A_KEPT };
	static const char *const cnt_names[] = { "packets", "bytes",  "queued",
						 "dropped", "passed", "kept" };
	uint8_t fam = c[NETIO_CLAIM_A_FAMILY] ? nla_get_u8(c[NETIO_CLAIM_A_FAMILY]) : 0;
	char src[64], dst[64];
	json_t *o;

	o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:o, s:s}", "id",
		      (json_int_t)nla_get_u16(c[NETIO_CLAIM_A_ID]), "family",
		      fam == AF_INET	? "ipv4"
		      : fam == AF_INET6 ? "ipv6"
					: "any",
		      "proto",
		      c[NETIO_CLAIM_A_PROTO] ? (json_int_t)nla_get_u8(c[NETIO_CLAIM_A_PROTO]) : 0,
		      "src", prefix(c, NETIO_CLAIM_A_SRC, NETIO_CLAIM_A_SRC_PLEN, src, sizeof(src)),
		      "dst", prefix(c, NETIO_CLAIM_A_DST, NETIO_CLAIM_A_DST_PLEN, dst, sizeof(dst)),
		      "sport", ports(c[NETIO_CLAIM_A_SPORT_LO], c[NETIO_CLAIM_A_SPORT_HI]), "dport",
		      ports(c[NETIO_CLAIM_A_DPORT_LO], c[NETIO_CLAIM_A_DPORT_HI]), "fail_mode",
		      c[NETIO_CLAIM_A_FAIL_MODE] && nla_get_u8(c[NETIO_CLAIM_A_FAIL_MODE]) ==
							    NETIO_FAIL_PASSTHROUGH
			      ? "passthrough"
			      : "secure");
	for (size_t i = 0; i < NAMES(cnt); i++)
		json_object_set_new(
			o, cnt_names[i],
			json_integer(c[cnt[i]] ? (json_int_t)nla_get_u64(c[cnt[i]]) : 0));
	return o;
}

static int on_claims(struct nl_msg *m, void *arg)
{
	struct kctl *k = arg;
	struct nlattr *tb[NETIO_A_MAX + 1], *c[NETIO_CLAIM_A_MAX + 1], *nest;
	int rem;

	if (genlmsg_parse(nlmsg_hdr(m), 0, tb, NETIO_A_MAX, NULL) || !tb[NETIO_A_CLAIMS])
		return NL_SKIP;
	nla_for_each_nested (nest, tb[NETIO_A_CLAIMS], rem)
		if (!nla_parse_nested(c, NETIO_CLAIM_A_MAX, nest, NULL) && c[NETIO_CLAIM_A_ID])
			json_array_append_new(k->claims, claim(c));
	return NL_OK;
}

/* Every binding of this netns with its claims into k->binds; 0 or an exit status. */
static int load(struct kctl *k)
{
	size_t i;
	json_t *b;
	int rc;

	k->binds = json_array();
	rc = exec(k, req(k, NETIO_CMD_GET_BIND, NLM_F_DUMP), on_bind);
	if (rc < 0)
		return fail(k, "list bindings", rc);
	json_array_foreach (k->binds, i, b) {
		struct nl_msg *m = req(k, NETIO_CMD_GET_CLAIMS, NLM_F_DUMP);

		k->claims = json_array();
		json_object_set_new(b, "claims", k->claims);
		nla_put_u32(m, NETIO_A_BIND_ID,
			    (uint32_t)json_integer_value(json_object_get(b, "id")));
		rc = exec(k, m, on_claims);
		/* a binding unbound between the two dumps has no claims to show */
		if (rc < 0 && rc != -ENOENT)
			return fail(k, "list claims", rc);
	}
	return 0;
}

/* ---------------------------------------------------------------- text */

static json_int_t num(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void print_counters(const json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)o, key, v)
		printf(" %s %lld", key, (long long)json_integer_value(v));
	printf("\n");
}

static void print_claim(const json_t *c)
{
	json_t *sp = json_object_get(c, "sport"), *dp = json_object_get(c, "dport");

	printf("  claim %lld %s proto %lld src %s dst %s sport %lld-%lld dport %lld-%lld %s:\n"
	       "   ",
	       (long long)num(c, "id"), json_string_value(json_object_get(c, "family")),
	       (long long)num(c, "proto"), json_string_value(json_object_get(c, "src")),
	       json_string_value(json_object_get(c, "dst")),
	       (long long)json_integer_value(json_array_get(sp, 0)),
	       (long long)json_integer_value(json_array_get(sp, 1)),
	       (long long)json_integer_value(json_array_get(dp, 0)),
	       (long long)json_integer_value(json_array_get(dp, 1)),
	       json_string_value(json_object_get(c, "fail_mode")));
	for (const char *const *k = (const char *const[]){ "packets", "bytes", "queued", "dropped",
							   "passed", "kept", NULL };
	     *k; k++)
		printf(" %s %lld", *k, (long long)num(c, *k));
	printf("\n");
}

static void print_bind(const json_t *b)
{
	const char *state = json_string_value(json_object_get(b, "hold_state"));
	size_t i;
	json_t *c = NULL; /* json_array_foreach sets it; cppcheck cannot tell */

	printf("binding %lld %s on %s: ", (long long)num(b, "id"),
	       json_string_value(json_object_get(b, "name")),
	       json_string_value(json_object_get(b, "device")));
	if (json_is_true(json_object_get(b, "attached")))
		printf("attached (pid %lld)", (long long)num(b, "owner_pid"));
	else if (!strcmp(state, "waiting") && num(b, "hold_left_ms"))
		printf("no owner, queue held %lld ms more", (long long)num(b, "hold_left_ms"));
	else if (!strcmp(state, "waiting"))
		printf("no owner, queue held until unbound");
	else
		printf("no owner, hold time over: secure claims drop until unbound");
	printf(", hold-time %lld ms, %lld queue(s) of %lld/%lld slots of %lld bytes\n",
	       (long long)num(b, "hold_ms"), (long long)num(b, "queues"),
	       (long long)num(b, "rx_slots"), (long long)num(b, "tx_slots"),
	       (long long)num(b, "buf_size"));
	if (num(b, "queues") > 1) {
		printf("  rx per queue");
		json_array_foreach (json_object_get(b, "queue_rx"), i, c)
			printf(" %lld", (long long)json_integer_value(c));
		printf("\n");
	}
	printf("  stats");
	print_counters(json_object_get(b, "stats"));
	printf("  kept for the kernel");
	print_counters(json_object_get(b, "kept"));
	json_array_foreach (json_object_get(b, "claims"), i, c)
		print_claim(c);
}

static int list(struct kctl *k, bool json)
{
	size_t i;
	json_t *b = NULL; /* json_array_foreach sets it; cppcheck cannot tell */
	int rc = load(k);

	if (rc)
		return rc;
	if (json) {
		nio_ctl_print_json(k->binds);
		return NIO_EXIT_OK;
	}
	if (!json_array_size(k->binds))
		printf("no netio.ko bindings in this network namespace\n");
	json_array_foreach (k->binds, i, b)
		print_bind(b);
	return NIO_EXIT_OK;
}

/* ---------------------------------------------------------------- unbind */

static int unbind_one(struct kctl *k, const json_t *b)
{
	struct nl_msg *m = req(k, NETIO_CMD_UNBIND, 0);
	char what[96];
	int rc;

	nla_put_u32(m, NETIO_A_BIND_ID, (uint32_t)num(b, "id"));
	snprintf(what, sizeof(what), "unbind %lld (%s on %s)", (long long)num(b, "id"),
		 json_string_value(json_object_get(b, "name")),
		 json_string_value(json_object_get(b, "device")));
	rc = exec(k, m, NULL);
	if (rc == -EPERM && num(b, "owner_pid")) {
		return nio_ctl_error(NIO_EXIT_DAEMON,
				     "%s: attached to pid %lld; stop it (or reload it without that "
				     "port) first",
				     what, (long long)num(b, "owner_pid"));
	}
	if (rc < 0)
		return fail(k, what, rc);
	printf("unbound %lld (%s on %s)\n", (long long)num(b, "id"),
	       json_string_value(json_object_get(b, "name")),
	       json_string_value(json_object_get(b, "device")));
	return NIO_EXIT_OK;
}

/* DEV|ID: a binding id, or every binding on a device of this netns. */
static int unbind(struct kctl *k, const char *what)
{
	char *end;
	unsigned long id = strtoul(what, &end, 10);
	bool by_id = *what && !*end;
	int rc = load(k), worst = NIO_EXIT_OK, n = 0;
	size_t i;
	json_t *b;

	if (rc)
		return rc;
	json_array_foreach (k->binds, i, b) {
		if (by_id ? (unsigned long)num(b, "id") != id
			  : strcmp(json_string_value(json_object_get(b, "device")), what))
			continue;
		n++;
		rc = unbind_one(k, b);
		worst = rc ? rc : worst;
	}
	if (!n) {
		return nio_ctl_error(NIO_EXIT_DAEMON,
				     "no netio.ko binding %s%s in this network namespace",
				     by_id ? "" : "on ", what);
	}
	return worst;
}

int nio_ctl_kernel(int argc, char **argv, bool json)
{
	struct kctl k = { 0 };
	int rc;

	if (argc == 2 && !strcmp(argv[1], "list"))
		rc = open_family(&k) < 0 ? NIO_EXIT_DAEMON : list(&k, json);
	else if (argc == 3 && !strcmp(argv[1], "unbind"))
		rc = open_family(&k) < 0 ? NIO_EXIT_DAEMON : unbind(&k, argv[2]);
	else
		return -1;
	json_decref(k.binds);
	if (k.sk)
		nl_socket_free(k.sk);
	return rc;
}

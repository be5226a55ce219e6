// SPDX-License-Identifier: GPL-2.0
/* The "netio" generic netlink family: bindings and claims (ABI in include/netio/uapi.h). */
#include <linux/rtnetlink.h>
#include <linux/pid.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "netio.h"

static const struct nla_policy nio_policy[NETIO_A_MAX + 1] = {
	[NETIO_A_BIND_ID] = { .type = NLA_U32 },
	[NETIO_A_IFINDEX] = { .type = NLA_U32 },
	[NETIO_A_BIND_NAME] = { .type = NLA_NUL_STRING, .len = NETIO_NAME_MAX - 1 },
	[NETIO_A_HOLD_MS] = { .type = NLA_U32 },
	[NETIO_A_RX_SLOTS] = { .type = NLA_U32 },
	[NETIO_A_TX_SLOTS] = { .type = NLA_U32 },
	[NETIO_A_BUF_SIZE] = { .type = NLA_U32 },
	[NETIO_A_NBUFS] = { .type = NLA_U32 },
	[NETIO_A_REGION_OF] = { .type = NLA_U32 },
	[NETIO_A_HEADROOM] = NLA_POLICY_MAX(NLA_U32, NIO_MAX_HEADROOM),
	[NETIO_A_QUEUES] = NLA_POLICY_RANGE(NLA_U32, 1, NETIO_QUEUES_MAX),
	[NETIO_A_CLAIMS] = NLA_POLICY_NESTED_ARRAY(nio_claim_policy),
};

static struct genl_family nio_genl_family;

static u32 nio_attr_u32(struct nlattr *a, u32 def)
{
	return a ? nla_get_u32(a) : def;
}

static int nio_fill_stats(struct sk_buff *msg, const struct nio_bind *b)
{
	struct nio_bind_stats sum, *s = &sum;
	struct nlattr *nest = nla_nest_start(msg, NETIO_A_STATS);
	u64 inflight;
	const struct {
		int type;
		const u64 *v;
	} rows[] = {
		{ NETIO_STAT_RX_PACKETS, &s->rx_packets },
		{ NETIO_STAT_RX_BYTES, &s->rx_bytes },
		{ NETIO_STAT_RX_FULL, &s->rx_full },
		{ NETIO_STAT_RX_TRUNC, &s->rx_trunc },
		{ NETIO_STAT_TX_PACKETS, &s->tx_packets },
		{ NETIO_STAT_TX_BYTES, &s->tx_bytes },
		{ NETIO_STAT_TX_BAD_DESC, &s->tx_bad_desc },
		{ NETIO_STAT_TX_ERRORS, &s->tx_errors },
		{ NETIO_STAT_RX_EXPIRED, &s->rx_expired },
		{ NETIO_STAT_RX_NOBUF, &s->rx_nobuf },
		{ NETIO_STAT_FILL_BAD, &s->fill_bad },
		{ NETIO_STAT_TX_ZEROCOPY, &s->tx_zerocopy },
		{ NETIO_STAT_TX_COPIED, &s->tx_copied },
		{ NETIO_STAT_TX_PATH_COPIED, &s->tx_path_copied },
		{ NETIO_STAT_COMP_LOST, &s->comp_lost },
		{ NETIO_STAT_TX_KICKS, &s->tx_kicks },
		{ NETIO_STAT_TX_POLLS, &s->tx_polls },
		{ NETIO_STAT_RX_WAKEUPS, &s->rx_wakeups },
	};
	unsigned int i;

	if (!nest)
		return -EMSGSIZE;
	nio_bind_stats_sum(b, &sum, &inflight);
	for (i = 0; i < ARRAY_SIZE(rows); i++)
		if (nla_put_u64_64bit(msg, rows[i].type, READ_ONCE(*rows[i].v), NETIO_STAT_PAD))
			return -EMSGSIZE;
	if (nla_put_u64_64bit(msg, NETIO_STAT_TX_INFLIGHT, inflight, NETIO_STAT_PAD))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

/* Each queue's RX count: how the NIC's traffic spreads over the queues. */
static int nio_fill_queue_rx(struct sk_buff *msg, const struct nio_bind *b)
{
	struct nlattr *nest = nla_nest_start(msg, NETIO_A_QUEUE_RX);
	u32 i;

	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < b->nqueues; i++)
		if (nla_put_u64_64bit(msg, i + 1, READ_ONCE(b->q[i].stats.rx_packets), 0))
			return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int nio_fill_kept(struct sk_buff *msg, const struct nio_bind *b)
{
	struct nlattr *nest = nla_nest_start(msg, NETIO_A_KEPT);
	struct nio_kept_stats sum;
	int i;

	if (!nest)
		return -EMSGSIZE;
	nio_bind_kept_sum(b, &sum);
	for (i = NETIO_KEPT_ND; i <= NETIO_KEPT_MAX; i++)
		if (i != NETIO_KEPT_PAD && nla_put_u64_64bit(msg, i, sum.n[i], NETIO_KEPT_PAD))
			return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int nio_fill_hold(struct sk_buff *msg, const struct nio_bind *b)
{
	u32 left, state = nio_bind_hold_state(b, &left);

	if (nla_put_u32(msg, NETIO_A_HOLD_MS, b->hold_ms) ||
	    nla_put_u32(msg, NETIO_A_HOLD_STATE, state) ||
	    (left && nla_put_u32(msg, NETIO_A_HOLD_LEFT_MS, left)))
		return -EMSGSIZE;
	return 0;
}

static int nio_fill_geometry(struct sk_buff *msg, const struct nio_bind *b)
{
	if (nla_put_u32(msg, NETIO_A_RX_SLOTS, b->rx_slots) ||
	    nla_put_u32(msg, NETIO_A_TX_SLOTS, b->tx_slots) ||
	    nla_put_u32(msg, NETIO_A_NBUFS, b->region->nbufs) ||
	    nla_put_u32(msg, NETIO_A_BUF_SIZE, b->region->buf_size) ||
	    nla_put_u32(msg, NETIO_A_HEADROOM, b->headroom) ||
	    nla_put_u32(msg, NETIO_A_REGION_ID, b->region->id) ||
	    nla_put_u32(msg, NETIO_A_QUEUES, b->nqueues) ||
	    nla_put_u64_64bit(msg, NETIO_A_MAP_SIZE, b->map_size, NETIO_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_A_RX_OFF, b->rx_off, NETIO_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_A_FILL_OFF, b->fill_off, NETIO_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_A_TX_OFF, b->tx_off, NETIO_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_A_COMP_OFF, b->comp_off, NETIO_A_PAD) ||
	    nla_put_u64_64bit(msg, NETIO_A_REGION_SIZE, b->region->size, NETIO_A_PAD))
		return -EMSGSIZE;
	return 0;
}

/* One binding as a NETIO_CMD_GET_BIND message. nio_lock held. */
static int nio_fill_bind(struct sk_buff *msg, const struct nio_bind *b, u32 portid, u32 seq,
			 int flags)
{
	void *hdr = genlmsg_put(msg, portid, seq, &nio_genl_family, flags, NETIO_CMD_GET_BIND);

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(msg, NETIO_A_BIND_ID, b->id) ||
	    nla_put_u32(msg, NETIO_A_IFINDEX, b->ifindex) ||
	    nla_put_string(msg, NETIO_A_BIND_NAME, b->name) ||
	    nla_put_u32(msg, NETIO_A_OWNER_PID, b->owner_pid ? pid_vnr(b->owner_pid) : 0) ||
	    nio_fill_hold(msg, b) || nio_fill_geometry(msg, b) || nio_fill_stats(msg, b) ||
	    nio_fill_queue_rx(msg, b) || nio_fill_kept(msg, b)) {
		genlmsg_cancel(msg, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return 0;
}

static int nio_reply_bind(struct genl_info *info, const struct nio_bind *b)
{
	struct sk_buff *msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	int err;

	if (!msg)
		return -ENOMEM;
	err = nio_fill_bind(msg, b, info->snd_portid, info->snd_seq, 0);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int nio_check_slots(struct nlattr *a, u32 *out, struct netlink_ext_ack *extack)
{
	*out = nio_attr_u32(a, NIO_DEF_SLOTS);
	if (*out < NIO_MIN_SLOTS || *out > NIO_MAX_SLOTS || !nio_ring_valid_size(*out)) {
		NL_SET_ERR_MSG_ATTR(extack, a, "slots: a power of two in [64, 32768]");
		return -EINVAL;
	}
	return 0;
}

static int nio_check_buffers(struct genl_info *info, struct nio_geometry *g)
{
	struct nlattr **a = info->attrs;

	g->buf_size = nio_attr_u32(a[NETIO_A_BUF_SIZE], NIO_DEF_BUF_SIZE);
	if (g->buf_size < NIO_MIN_BUF_SIZE || g->buf_size > NIO_MAX_BUF_SIZE || g->buf_size % 64) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[NETIO_A_BUF_SIZE],
				    "buffer size: a multiple of 64 in [2048, 65536]");
		return -EINVAL;
	}
	g->nbufs = nio_attr_u32(a[NETIO_A_NBUFS], 2 * (g->rx_slots + g->tx_slots));
	if (g->nbufs < NIO_MIN_NBUFS || g->nbufs > NETIO_NBUFS_MAX ||
	    (u64)g->nbufs * g->buf_size > NIO_MAX_MAP_SIZE) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[NETIO_A_NBUFS],
				    "buffers: at least 64, at most 2^20 and 256 MiB");
		return -EINVAL;
	}
	return 0;
}

/* The region of the binding named by NETIO_A_REGION_OF, referenced. nio_lock held. */
static int nio_share_region(struct genl_info *info, struct nio_geometry *g)
{
	struct nlattr *a = info->attrs[NETIO_A_REGION_OF];
	struct nio_bind *other = nio_bind_find(nla_get_u32(a), genl_info_net(info));

	if (!other) {
		NL_SET_ERR_MSG_ATTR(info->extack, a, "no such binding to share a region with");
		return -ENOENT;
	}
	if (!nio_bind_may_change(other)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a, "that binding is owned by another process");
		return -EPERM;
	}
	nio_region_get(other->region);
	g->share = other->region;
	return 0;
}

static int nio_check_geometry(struct genl_info *info, struct nio_geometry *g)
{
	struct nlattr **a = info->attrs;

	memset(g, 0, sizeof(*g));
	g->headroom = nio_attr_u32(a[NETIO_A_HEADROOM], NIO_RX_HEADROOM);
	g->nqueues = nio_attr_u32(a[NETIO_A_QUEUES], 1);
	if (nio_check_slots(a[NETIO_A_RX_SLOTS], &g->rx_slots, info->extack) ||
	    nio_check_slots(a[NETIO_A_TX_SLOTS], &g->tx_slots, info->extack))
		return -EINVAL;
	if (a[NETIO_A_REGION_OF])
		return nio_share_region(info, g);
	return nio_check_buffers(info, g);
}

/* Create the binding, or find the one a restarted owner comes back to. rtnl + nio_lock. */
static struct nio_bind *nio_bind_get_or_create(struct genl_info *info, struct net_device *dev)
{
	struct nlattr **a = info->attrs;
	const char *name = nla_data(a[NETIO_A_BIND_NAME]);
	u32 hold = nio_attr_u32(a[NETIO_A_HOLD_MS], NIO_DEF_HOLD_MS);
	struct nio_bind *b = nio_bind_find_name(dev, name);
	struct nio_geometry g;
	int err;

	if (b) {
		if (!nio_bind_may_change(b))
			return ERR_PTR(-EPERM);
		if (a[NETIO_A_HOLD_MS])
			b->hold_ms = hold;
		return b;
	}
	err = nio_check_geometry(info, &g);
	if (err)
		return ERR_PTR(err);
	return nio_bind_create(dev, name, &g, hold);
}

static int nio_nl_bind(struct sk_buff *skb, struct genl_info *info)
{
	struct net_device *dev;
	struct nio_bind *b;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, NETIO_A_IFINDEX) ||
	    GENL_REQ_ATTR_CHECK(info, NETIO_A_BIND_NAME))
		return -EINVAL;
	rtnl_lock();
	dev = __dev_get_by_index(genl_info_net(info), nla_get_u32(info->attrs[NETIO_A_IFINDEX]));
	if (!dev) {
		rtnl_unlock();
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NETIO_A_IFINDEX], "no such device");
		return -ENODEV;
	}
	mutex_lock(&nio_lock);
	b = nio_bind_get_or_create(info, dev);
	err = IS_ERR(b) ? PTR_ERR(b) : nio_reply_bind(info, b);
	mutex_unlock(&nio_lock);
	rtnl_unlock();
	return err;
}

/* The binding named by NETIO_A_BIND_ID, if the caller may change it. nio_lock held. */
static struct nio_bind *nio_bind_for_change(struct genl_info *info)
{
	struct nio_bind *b;

	if (GENL_REQ_ATTR_CHECK(info, NETIO_A_BIND_ID))
		return ERR_PTR(-EINVAL);
	b = nio_bind_find(nla_get_u32(info->attrs[NETIO_A_BIND_ID]), genl_info_net(info));
	if (!b) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NETIO_A_BIND_ID], "no such binding");
		return ERR_PTR(-ENOENT);
	}
	if (!nio_bind_may_change(b)) {
		NL_SET_ERR_MSG(info->extack, "binding is owned by another process");
		return ERR_PTR(-EPERM);
	}
	return b;
}

static int nio_nl_unbind(struct sk_buff *skb, struct genl_info *info)
{
	struct nio_bind *b;
	int err = 0;

	rtnl_lock();
	mutex_lock(&nio_lock);
	b = nio_bind_for_change(info);
	if (IS_ERR(b))
		err = PTR_ERR(b);
	else
		nio_bind_destroy(b, NETIO_GONE_UNBIND);
	mutex_unlock(&nio_lock);
	rtnl_unlock();
	return err;
}

static int nio_nl_get_bind(struct sk_buff *skb, struct genl_info *info)
{
	struct nio_bind *b;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, NETIO_A_BIND_ID))
		return -EINVAL;
	mutex_lock(&nio_lock);
	b = nio_bind_find(nla_get_u32(info->attrs[NETIO_A_BIND_ID]), genl_info_net(info));
	err = b ? nio_reply_bind(info, b) : -ENOENT;
	mutex_unlock(&nio_lock);
	return err;
}

static int nio_nl_dump_bind(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct net *net = sock_net(cb->skb->sk);
	int id = cb->args[0];
	struct nio_bind *b;

	mutex_lock(&nio_lock);
	for (; (b = nio_bind_next(&id, net)); id++)
		if (nio_fill_bind(skb, b, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  NLM_F_MULTI))
			break;
	mutex_unlock(&nio_lock);
	cb->args[0] = id;
	return skb->len;
}

static void nio_claims_free(struct nio_claim **claims, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		nio_claim_free_now(claims[i]);
	kfree(claims);
}

/* Parse every claim of the request before taking any lock. */
static int nio_claims_parse(struct genl_info *info, struct nio_claim ***out, unsigned int *nout)
{
	struct nlattr *list = info->attrs[NETIO_A_CLAIMS], *nest;
	struct nio_claim **claims;
	unsigned int n = 0;
	int rem, err = 0;

	if (list)
		nla_for_each_nested(nest, list, rem)
			n++;
	if (n > NETIO_CLAIMS_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, list, "too many claims for one binding");
		return -E2BIG;
	}
	claims = kcalloc(max(n, 1u), sizeof(*claims), GFP_KERNEL);
	if (!claims)
		return -ENOMEM;
	*nout = 0;
	if (list)
		nla_for_each_nested(nest, list, rem) {
			claims[*nout] = nio_claim_alloc();
			if (!claims[*nout]) {
				err = -ENOMEM;
				break;
			}
			err = nio_claim_parse(nest, claims[(*nout)++], info->extack);
			if (err)
				break;
		}
	if (err) {
		nio_claims_free(claims, *nout);
		return err;
	}
	*out = claims;
	return 0;
}

static int nio_nl_set_claims(struct sk_buff *skb, struct genl_info *info)
{
	struct nio_claim **claims;
	struct nio_bind *b;
	unsigned int n;
	int err;

	err = nio_claims_parse(info, &claims, &n);
	if (err)
		return err;
	mutex_lock(&nio_lock);
	b = nio_bind_for_change(info);
	err = IS_ERR(b) ? PTR_ERR(b) : nio_claims_replace(b, claims, n, info->extack);
	mutex_unlock(&nio_lock);
	if (err)
		nio_claims_free(claims, n);
	return err;
}

/* Claims of one binding, as many per message as fit; cb->args[0] is the next index. */
static int nio_nl_dump_claims(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nlattr **attrs = genl_dumpit_info(cb)->attrs;
	unsigned int i = cb->args[0];
	struct nlattr *nest;
	struct nio_bind *b;
	void *hdr;

	if (!attrs[NETIO_A_BIND_ID])
		return -EINVAL;
	mutex_lock(&nio_lock);
	b = nio_bind_find(nla_get_u32(attrs[NETIO_A_BIND_ID]), sock_net(cb->skb->sk));
	if (!b || i >= b->nclaims) {
		mutex_unlock(&nio_lock);
		return b || i ? 0 : -ENOENT;
	}
	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq, &nio_genl_family,
			  NLM_F_MULTI, NETIO_CMD_GET_CLAIMS);
	if (!hdr || nla_put_u32(skb, NETIO_A_BIND_ID, b->id))
		goto out_cancel;
	nest = nla_nest_start(skb, NETIO_A_CLAIMS);
	if (!nest)
		goto out_cancel;
	for (; i < b->nclaims; i++)
		if (nio_claim_fill(skb, b->claims[i]))
			break;
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	mutex_unlock(&nio_lock);
	cb->args[0] = i;
	return skb->len;

out_cancel:
	if (hdr)
		genlmsg_cancel(skb, hdr);
	mutex_unlock(&nio_lock);
	return -EMSGSIZE;
}

/*
 * Every command is GENL_ADMIN_PERM (CAP_NET_ADMIN in the initial user namespace), not
 * GENL_UNS_ADMIN_PERM: a binding pins up to 256 MiB of kernel memory and takes a NIC's traffic,
 * and only the initial namespace's admin can open /dev/netio to use one, so an admin of a user
 * namespace has no business creating or reading them. The counters and claims name the
 * traffic of the box: reading them is an admin's too. Each command sees only the bindings of
 * its socket's network namespace.
 */
static const struct genl_small_ops nio_genl_ops[] = {
	{
		.cmd = NETIO_CMD_BIND,
		.doit = nio_nl_bind,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = NETIO_CMD_UNBIND,
		.doit = nio_nl_unbind,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = NETIO_CMD_GET_BIND,
		.doit = nio_nl_get_bind,
		.dumpit = nio_nl_dump_bind,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = NETIO_CMD_SET_CLAIMS,
		.doit = nio_nl_set_claims,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = NETIO_CMD_GET_CLAIMS,
		.dumpit = nio_nl_dump_claims,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group nio_mcgrps[] = {
	{ .name = NETIO_GENL_MCGRP_EVENTS },
};

/* Cleared before the family is unregistered: bindings destroyed by module unload after that
 * have nobody to tell. */
static bool nio_genl_live;

static struct genl_family nio_genl_family __ro_after_init = {
	.name = NETIO_GENL_NAME,
	.version = NETIO_GENL_VERSION,
	.maxattr = NETIO_A_MAX,
	.policy = nio_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.small_ops = nio_genl_ops,
	.n_small_ops = ARRAY_SIZE(nio_genl_ops),
	.resv_start_op = NETIO_CMD_GET_CLAIMS + 1,
	.mcgrps = nio_mcgrps,
	.n_mcgrps = ARRAY_SIZE(nio_mcgrps),
};

/* Tell listeners in net that binding b is going away (NETIO_CMD_BIND_GONE). nio_lock held;
 * best effort: nobody listening, or no memory, loses only the event. */
void nio_genl_notify_gone(const struct nio_bind *b, struct net *net, u32 reason)
{
	struct sk_buff *skb;
	void *hdr;

	if (!READ_ONCE(nio_genl_live) || !net)
		return;
	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &nio_genl_family, 0, NETIO_CMD_BIND_GONE);
	if (!hdr || nla_put_u32(skb, NETIO_A_BIND_ID, b->id) ||
	    nla_put_u32(skb, NETIO_A_IFINDEX, b->ifindex) ||
	    nla_put_string(skb, NETIO_A_BIND_NAME, b->name) ||
	    nla_put_u32(skb, NETIO_A_REASON, reason)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&nio_genl_family, net, skb, 0, 0, GFP_KERNEL);
}

int nio_genl_init(void)
{
	int err = genl_register_family(&nio_genl_family);

	if (!err)
		WRITE_ONCE(nio_genl_live, true);
	return err;
}

void nio_genl_uninit(void)
{
	WRITE_ONCE(nio_genl_live, false);
	genl_unregister_family(&nio_genl_family);
}

/* The XFRM netlink sockets of the kernel SA source: dumps, and the SA/policy/expire events. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypto.h"

/*
 * Two sockets: events (bound to the SA, policy and expire groups) and requests (dumps), so a
 * dump's replies never interleave with events. Subscribing comes first, then the dumps: an
 * SA added meanwhile shows up in both, which is harmless (an update with the same key). Both
 * need CAP_NET_ADMIN, which every port driver keeps netiod (the dump carries the keys).
 * A full event socket (ENOBUFS: events lost) makes the thread dump everything again and
 * drop what the dump no longer shows.
 */

#define RCVBUF (1 << 20)
#define BUFSZ  (64 * 1024)

static int nl_socket(unsigned groups)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_XFRM);
	int sz = RCVBUF;

	if (fd < 0)
		return -1;
	/* FORCE needs CAP_NET_ADMIN, as the rest of this does; the plain size is the fallback */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int crypto_xfrm_open(struct crypto_ksrc *ks, char *err, size_t errlen)
{
	ks->ev_fd = nl_socket(XFRMGRP_SA | XFRMGRP_POLICY | XFRMGRP_EXPIRE);
	if (ks->ev_fd < 0) {
		snprintf(err, errlen, "XFRM netlink events: %s%s", strerror(errno),
			 errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
		return -1;
	}
	ks->req_fd = nl_socket(0);
	if (ks->req_fd < 0) {
		snprintf(err, errlen, "XFRM netlink: %s", strerror(errno));
		return -1;
	}
	ks->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (ks->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void crypto_xfrm_close(struct crypto_ksrc *ks)
{
	if (ks->ev_fd >= 0)
		close(ks->ev_fd);
	if (ks->req_fd >= 0)
		close(ks->req_fd);
	if (ks->stop_fd >= 0)
		close(ks->stop_fd);
	ks->ev_fd = ks->req_fd = ks->stop_fd = -1;
}

/* Apply every message in buf; 1 when the dump (seq) ended, -1 when it failed. */
static int apply_buf(struct crypto_ksrc *ks, const uint8_t *buf, size_t len, uint32_t seq)
{
	struct crypto_xfrm_msg *m = malloc(sizeof(*m));
	size_t off = 0, used;
	int rc = 0;

	if (!m)
		return -1;
	while (off < len && (used = crypto_xfrm_parse(buf + off, len - off, m)) > 0) {
		off += used;
		if (seq && m->seq == seq && m->kind == CRYPTO_XFRM_DONE)
			rc = 1;
		else if (seq && m->seq == seq && m->kind == CRYPTO_XFRM_ERROR && m->err)
			rc = -1;
		else
			crypto_count(ks->ci, NULL, CRYPTO_C_XFRM_EVENTS, 1);
		crypto_ksrc_apply(ks, m);
	}
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	return rc;
}

/* Wait up to 5 s for the next part of a dump (the kernel answers at once; a bound anyway). */
static ssize_t recv_wait(int fd, uint8_t *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 5000) <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return recv(fd, buf, len, MSG_DONTWAIT);
}

static int dump(struct crypto_ksrc *ks, uint16_t type, uint8_t *buf)
{
	struct {
		struct nlmsghdr h;
		uint8_t pad[64];
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(0),
			 .nlmsg_type = type,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			 .nlmsg_seq = ++ks->req_seq } };
	int rc = 0;

	/* GETPOLICY's dump wants no body; GETSA's takes an optional filter, sent empty here */
	if (send(ks->req_fd, &req, req.h.nlmsg_len, 0) < 0)
		return -1;
	while (rc == 0) {
		ssize_t n = recv_wait(ks->req_fd, buf, BUFSZ);

		if (n < 0)
			return -1;
		rc = apply_buf(ks, buf, (size_t)n, req.h.nlmsg_seq);
	}
	return rc < 0 ? -1 : 0;
}

int crypto_xfrm_dump_all(struct crypto_ksrc *ks)
{
	uint8_t *buf = malloc(BUFSZ);
	int rc;

	if (!buf)
		return -1;
	rc = dump(ks, XFRM_MSG_GETSA, buf) < 0 || dump(ks, XFRM_MSG_GETPOLICY, buf) < 0 ? -1 : 0;
	OPENSSL_cleanse(buf, BUFSZ);
	free(buf);
	if (rc == 0)
		crypto_ksrc_sweep(ks);
	return rc;
}

/* Drain the event socket; -1 when events were lost (a dump must follow). */
int crypto_xfrm_events(struct crypto_ksrc *ks)
{
	uint8_t *buf = malloc(BUFSZ);
	int rc = 0;

	if (!buf)
		return -1;
	for (;;) {
		ssize_t n = recv(ks->ev_fd, buf, BUFSZ, MSG_DONTWAIT);

		if (n < 0) {
			rc = errno == EAGAIN || errno == EINTR ? 0 : -1;
			break;
		}
		apply_buf(ks, buf, (size_t)n, 0);
	}
	OPENSSL_cleanse(buf, BUFSZ);
	free(buf);
	return rc;
}

static void addr_out(xfrm_address_t *a, const uint8_t in[16], uint8_t family)
{
	if (family == 4)
		memcpy(&a->a4, in + 12, 4);
	else
		memcpy(a->a6, in, 16);
}

/* Requests go without NLM_F_ACK: only an error is answered, read and dropped here (the
 * next attempt, or the next dump's resynchronisation, covers what failed). */
static int request(struct crypto_ksrc *ks, const void *msg, size_t len)
{
	uint8_t junk[512];

	while (recv(ks->req_fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	return send(ks->req_fd, msg, len, 0) == (ssize_t)len ? 0 : -1;
}

int crypto_xfrm_push_usage(struct crypto_ksrc *ks, const struct crypto_sa *sa, uint64_t bytes,
			   uint64_t packets)
{
	/* laid out by hand: the attribute's payload follows its 4-byte header unpadded */
	uint8_t m[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct xfrm_aevent_id)) + NLA_HDRLEN +
		  sizeof(struct xfrm_lifetime_cur)] = { 0 };
	struct nlmsghdr h = { .nlmsg_len = sizeof(m),
			      .nlmsg_type = XFRM_MSG_NEWAE,
			      .nlmsg_flags = NLM_F_REQUEST | NLM_F_REPLACE,
			      .nlmsg_seq = ++ks->req_seq };
	struct xfrm_aevent_id ae = { .reqid = sa->reqid };
	struct nlattr a = { .nla_len = NLA_HDRLEN + sizeof(struct xfrm_lifetime_cur),
			    .nla_type = XFRMA_LTIME_VAL };
	struct xfrm_lifetime_cur lt = {
		.bytes = bytes,
		.packets = packets,
		.add_time = sa->life.add_time, /* the kernel's time lifetimes count from it */
		.use_time = packets ? (uint64_t)time(NULL) : 0,
	};
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ae));

	addr_out(&ae.sa_id.daddr, sa->out ? sa->remote : sa->local, sa->family);
	addr_out(&ae.saddr, sa->out ? sa->local : sa->remote, sa->family);
	ae.sa_id.spi = htonl(sa->spi);
	ae.sa_id.family = sa->family == 4 ? AF_INET : AF_INET6;
	ae.sa_id.proto = IPPROTO_ESP;
	memcpy(m, &h, sizeof(h));
	memcpy(m + NLMSG_HDRLEN, &ae, sizeof(ae));
	memcpy(m + off, &a, sizeof(a));
	memcpy(m + off + NLA_HDRLEN, &lt, sizeof(lt));
	return request(ks, m, sizeof(m));
}

int crypto_xfrm_expire(struct crypto_ksrc *ks, const struct crypto_sa *sa, bool hard)
{
	struct {
		struct nlmsghdr h;
		struct xfrm_user_expire e;
	} m;
	const uint8_t *dst = sa->out ? sa->remote : sa->local;
	const uint8_t *src = sa->out ? sa->local : sa->remote;

	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = sizeof(m);
	m.h.nlmsg_type = XFRM_MSG_EXPIRE;
	m.h.nlmsg_flags = NLM_F_REQUEST;
	m.h.nlmsg_seq = ++ks->req_seq;
	addr_out(&m.e.state.id.daddr, dst, sa->family);
	addr_out(&m.e.state.saddr, src, sa->family);
	m.e.state.id.spi = htonl(sa->spi);
	m.e.state.id.proto = IPPROTO_ESP;
	m.e.state.family = sa->family == 4 ? AF_INET : AF_INET6;
	m.e.state.reqid = sa->reqid;
	m.e.hard = hard;
	return request(ks, &m, sizeof(m));
}

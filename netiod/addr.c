/* Parsing and matching of IPv4/IPv6 addresses and prefixes in one 128-bit space. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netiod.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void nio_addr_from_v4(uint8_t out[16], const void *v4)
{
	memcpy(out, v4mapped, 12);
	memcpy(out + 12, v4, 4);
}

int nio_addr_parse(const char *s, uint8_t out[16], uint8_t *family)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		nio_addr_from_v4(out, &a4);
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = 6;
		return 0;
	}
	return -1;
}

static void prefix_mask(uint8_t a[16], unsigned len)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;

		if (bits < 8)
			a[i] &= (uint8_t)(0xff00u >> bits);
	}
}

/* "a.b.c.d/len", "x::/len" or a bare address (host prefix). Host bits must be zero. */
int nio_prefix_parse(const char *s, struct nio_prefix *p)
{
	char buf[64], *slash, *end;
	unsigned long len;
	uint8_t masked[16];

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (nio_addr_parse(buf, p->addr, &p->family) < 0)
		return -1;
	len = p->family == 4 ? 32 : 128;
	if (slash) {
		if (!slash[1])
			return -1;
		len = strtoul(slash + 1, &end, 10);
		if (*end || len > (p->family == 4 ? 32u : 128u))
			return -1;
	}
	p->len = (uint8_t)(p->family == 4 ? 96 + len : len);
	memcpy(masked, p->addr, 16);
	prefix_mask(masked, p->len);
	if (memcmp(masked, p->addr, 16))
		return -1;
	return 0;
}

bool nio_prefix_contains(const struct nio_prefix *p, const uint8_t addr[16])
{
	unsigned full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr, addr, full))
		return false;
	if (!rest)
		return true;
	return ((p->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

void nio_addr_format(const uint8_t a[16], char *buf, size_t len)
{
	if (!memcmp(a, v4mapped, 12))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

int nio_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* Is addr (16 bytes, IPv4 mapped) one of the gateway's own port addresses? */
bool nio_is_port_addr(const struct nio_config *c, uint8_t family, const uint8_t addr[16])
{
	for (unsigned i = 0; i < c->nports; i++) {
		const struct nio_port *p = c->ports[i];

		if (family == 4 && p->has_v4 && !memcmp(addr + 12, &p->addr4, 4))
			return true;
		if (family == 6 && p->has_v6 && !memcmp(addr, &p->addr6, 16))
			return true;
	}
	return false;
}

/*
 * "address:port" as metrics-listen takes it: an IPv4 address or a bracketed IPv6 one, and a
 * port in [1, 65535]. host (if given) receives the address without brackets.
 */
int nio_hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	char h[INET6_ADDRSTRLEN + 2], *end;
	uint8_t a[16], fam;
	unsigned long p;
	size_t n;

	if (!colon || (n = (size_t)(colon - s)) < 1 || n >= sizeof(h))
		return -1;
	memcpy(h, s, n);
	h[n] = '\0';
	if (h[0] == '[' && h[n - 1] == ']') {
		memmove(h, h + 1, n - 2);
		h[n - 2] = '\0';
	} else if (strchr(h, ':')) {
		return -1; /* an IPv6 address needs brackets */
	}
	p = strtoul(colon + 1, &end, 10);
	if (nio_addr_parse(h, a, &fam) < 0 || !colon[1] || *end || p < 1 || p > 65535)
		return -1;
	if (host)
		snprintf(host, hostlen, "%s", h);
	if (port)
		*port = (uint16_t)p;
	return 0;
}

/* Could this process bind "address:port" now (netiod -t checks as start would)? 0 or an errno. */
int nio_hostport_bindable(const char *s, char *why, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char host[INET6_ADDRSTRLEN];
	uint16_t port;
	int fd, one = 1, r = 0;

	if (nio_hostport_parse(s, host, sizeof(host), &port) < 0) {
		snprintf(why, len, "not address:port");
		return EINVAL;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else {
		inet_pton(AF_INET6, host, &sin6->sin6_addr);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* as evhttp binds */
	if (bind(fd, (struct sockaddr *)&ss,
		 ss.ss_family == AF_INET ? sizeof(*sin) : sizeof(*sin6)) < 0) {
		r = errno;
		snprintf(why, len, "cannot bind: %s", strerror(r));
	}
	close(fd);
	return r;
}

/* One of the gateway's addresses: a port's, or an end a service terminates (host->endpoint). */
bool nio_is_own_addr(const struct nio_config *c, uint8_t family, const uint8_t addr[16])
{
	for (unsigned i = 0; i < c->nendpoints; i++)
		if (!memcmp(c->endpoints[i], addr, 16))
			return true;
	return nio_is_port_addr(c, family, addr);
}

/* Remember the directed broadcast address of a port's subnet addr4/plen (none for /31, /32). */
void nio_bcast4_add(struct nio_port *port, const void *addr4, unsigned plen)
{
	uint32_t a, mask;
	struct in_addr b;

	if (plen > 30 || port->nbcast4 == NIO_MAX_PREFIXES)
		return;
	memcpy(&a, addr4, 4);
	mask = plen ? htonl(~0u << (32 - plen)) : 0;
	b.s_addr = a | ~mask;
	for (unsigned i = 0; i < port->nbcast4; i++)
		if (port->bcast4[i].s_addr == b.s_addr)
			return;
	port->bcast4[port->nbcast4++] = b;
}

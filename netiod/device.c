/* What a port learns from its network device: MTU, MAC and its own IPv4/IPv6 addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netiod.h"

int nio_dev_info(struct nio_port *port, char *err, size_t errlen)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	int rc = -1;

	if (fd < 0)
		return nio_err(err, errlen, "socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", port->device);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
		snprintf(err, errlen, "%s: SIOCGIFMTU: %s", port->device, strerror(errno));
	} else {
		port->mtu = ifr.ifr_mtu;
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ||
		    ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
			snprintf(err, errlen, "%s: not an Ethernet device", port->device);
		} else {
			memcpy(port->mac, ifr.ifr_hwaddr.sa_data, 6);
			rc = 0;
		}
	}
	close(fd);
	return rc;
}

static bool v6_usable(const struct in6_addr *a)
{
	return !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_MULTICAST(a) &&
	       !IN6_IS_ADDR_UNSPECIFIED(a);
}

/* The directed broadcast address of one of the port's IPv4 subnets. */
static void bcast_add(struct nio_port *port, const struct ifaddrs *ifa)
{
	uint32_t mask = ntohl(((struct sockaddr_in *)(void *)ifa->ifa_netmask)->sin_addr.s_addr);

	nio_bcast4_add(port, &((struct sockaddr_in *)(void *)ifa->ifa_addr)->sin_addr,
		       (unsigned)__builtin_popcount(mask));
}

/* The first IPv4 and first global IPv6 address, unless the configuration gave them; the
 * broadcast addresses of every IPv4 subnet. */
void nio_dev_addrs(struct nio_port *port)
{
	struct ifaddrs *ifa0, *ifa;

	if (getifaddrs(&ifa0) < 0) {
		log_warn("port %s: getifaddrs", port->name);
		return;
	}
	for (ifa = ifa0; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || strcmp(ifa->ifa_name, port->device))
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET && ifa->ifa_netmask)
			bcast_add(port, ifa);
		if (!port->has_v4 && ifa->ifa_addr->sa_family == AF_INET) {
			port->addr4 = ((struct sockaddr_in *)(void *)ifa->ifa_addr)->sin_addr;
			port->has_v4 = true;
		} else if (!port->has_v6 && ifa->ifa_addr->sa_family == AF_INET6 &&
			   v6_usable(&((struct sockaddr_in6 *)(void *)ifa->ifa_addr)->sin6_addr)) {
			port->addr6 = ((struct sockaddr_in6 *)(void *)ifa->ifa_addr)->sin6_addr;
			port->has_v6 = true;
		}
	}
	freeifaddrs(ifa0);
}

/* Framed messages over an isolated service's control socket (netiod and netio-svchost). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iso_msg.h"
#include "isolate.h"

/* A stream socket: a message is a header (type, length) and length bytes. */
struct hdr {
	uint32_t type;
	uint32_t len;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int nio_iso_msg_send(int fd, uint32_t type, const void *data, size_t len)
{
	struct hdr h = { type, (uint32_t)len };

	if (len > NIO_ISO_MSG_MAX)
		return -1;
	if (write_all(fd, &h, sizeof(h)) < 0 || (len && write_all(fd, data, len) < 0))
		return -1;
	return 0;
}

/* Read exactly len bytes, waiting at most timeout_ms for each piece; -1 on EOF too. */
static int read_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *b = buf;

	while (len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, timeout_ms) <= 0)
			return -1;
		n = recv(fd, b, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One message: *data is malloc()ed (NUL-terminated for convenience), the caller frees it. */
int nio_iso_msg_recv(int fd, uint32_t *type, void **data, size_t *len, int timeout_ms)
{
	struct hdr h;
	char *b;

	*data = NULL;
	if (read_all(fd, &h, sizeof(h), timeout_ms) < 0 || h.len > NIO_ISO_MSG_MAX)
		return -1;
	b = malloc((size_t)h.len + 1);
	if (!b)
		return -1;
	if (h.len && read_all(fd, b, h.len, timeout_ms) < 0) {
		free(b);
		return -1;
	}
	b[h.len] = '\0';
	*type = h.type;
	*data = b;
	*len = h.len;
	return 0;
}

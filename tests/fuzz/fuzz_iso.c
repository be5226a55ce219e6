/* Fuzz what an isolated service's host hands back to netiod: a descriptor, checked against the
 * packet's buffer, then the bytes of its control socket (message framing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../netiod/iso_msg.h"
#include "../../netiod/isolate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

/* Every byte of the frame as the host described it must lie within the buffer (ASan). */
static void check_desc(const struct nio_xdesc *d)
{
	static uint8_t buf[NIO_PKT_BUF_SIZE];
	struct nio_pkt p = {
		.buf = buf, .buf_size = sizeof(buf), .data = buf + NIO_PKT_HEADROOM, .len = 60
	};

	if (nio_iso_from_desc(d, &p) < 0)
		return;
	for (uint32_t i = 0; i < p.len; i++)
		sink ^= p.data[i];
	if (p.l3_off > p.len || p.l4_off > p.len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nio_xdesc d;
	int sv[2];

	if (size < sizeof(d) || size - sizeof(d) > 65536)
		return 0;
	memcpy(&d, data, sizeof(d));
	check_desc(&d);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (write(sv[0], data + sizeof(d), size - sizeof(d)) < 0)
		abort();
	close(sv[0]);
	for (;;) {
		uint32_t type;
		void *msg;
		size_t len;

		if (nio_iso_msg_recv(sv[1], &type, &msg, &len, 0) < 0)
			break;
		free(msg);
	}
	close(sv[1]);
	return 0;
}

/* Fuzz what an isolated service's host hands back to netiod: a ring entry and (when the first
 * byte says so) the buffer's metadata slot, checked against the packet's buffer; the request
 * positions the same entry answers (the slot's bytes say which were sent); then the bytes of
 * its control socket (message framing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netio/service.h>

#include "../../netiod/iso_msg.h"
#include "../../netiod/isolate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

/* Every byte of the frame as the host described it must lie within the buffer (ASan), and
 * the header offsets within the frame. */
static void check_answer(const struct nio_xent *e, const struct nio_xmeta *m)
{
	static uint8_t buf[NIO_PKT_BUF_SIZE];
	struct nio_pkt p = { .buf = buf,
			     .buf_size = sizeof(buf),
			     .data = buf + NIO_PKT_HEADROOM,
			     .len = 60,
			     .l3_off = 14,
			     .l4_off = 34 };

	if (nio_iso_from_ent(e, m, &p) < 0)
		return;
	for (uint32_t i = 0; i < p.len; i++)
		sink ^= p.data[i];
	if (p.l3_off > p.len || p.l4_off > p.len || p.data + p.len > buf + sizeof(buf))
		abort();
}

/* The requests from done up to head went out with buffers sent[pos & mask]: an answer may
 * dispose of no more than that, of one burst at most, and one to a single request must name
 * its buffer. */
static void check_positions(const struct nio_xent *e, const struct nio_xmeta *m)
{
	static uint32_t sent[NIO_ISO_REQ];
	uint32_t done = m->hash, head = done + (uint32_t)(m->ts_ns % (NIO_ISO_REQ + 1));
	int n;

	for (uint32_t k = 0; k < NIO_ISO_REQ; k++)
		sent[k] = k * 7 + m->l3_off; /* the fuzzer finds the index at position done */
	n = nio_iso_positions(e, done, head, sent, NIO_ISO_REQ - 1);
	if (n < -1 || n > (int)(head - done) || n > (int)NIO_BURST_MAX)
		abort();
	if (n > 0 && !(e->xflags & NIO_XF_RUN) && sent[done & (NIO_ISO_REQ - 1)] != e->idx)
		abort();
	if (n > 0 && (e->xflags & NIO_XF_RUN) && e->verdict != NIO_V_PASS &&
	    e->verdict != NIO_V_CONSUMED)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t head = 1 + sizeof(struct nio_xent) + sizeof(struct nio_xmeta);
	struct nio_xent e;
	struct nio_xmeta m;
	int sv[2];

	if (size < head || size - head > 65536)
		return 0;
	memcpy(&e, data + 1, sizeof(e));
	memcpy(&m, data + 1 + sizeof(e), sizeof(m));
	check_answer(&e, data[0] & 1 ? &m : NULL);
	check_positions(&e, &m);
	data += head;
	size -= head;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (write(sv[0], data, size) < 0)
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

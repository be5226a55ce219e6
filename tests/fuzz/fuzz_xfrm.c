/* libFuzzer target for the XFRM netlink messages the crypto service's kernel SA source reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A kernel SA source built by hand (no netlink sockets, no thread) for the tunnel
 * 203.0.113.1 <-> 203.0.113.9, fed the input as the bytes of one recv() from the event
 * socket: every message is parsed and applied to the tables, then a view is published and
 * taken by the "worker", which looks a few flows up. Each input ends with a flush, so what an
 * input created is freed (LeakSanitizer sees it otherwise).
 */
static struct crypto_inst *ci;
static struct nio_host host;
static char state_dir[] = "/tmp/fuzz_xfrm.XXXXXX";

static void setup(void)
{
	char err[128];
	struct crypto_ksrc *ks;
	uint8_t fam;

	host.size = sizeof(host);
	host.abi_version = NIO_SERVICE_ABI_VERSION;
	if (!mkdtemp(state_dir))
		abort();
	host.state_dir = state_dir;
	ci = calloc(1, sizeof(*ci));
	ks = calloc(1, sizeof(*ks));
	if (!ci || !ks || crypto_engine_open(&ci->engine, "openssl", err, sizeof(err)) < 0)
		abort();
	ci->host = &host;
	ci->ks = ks;
	ks->ci = ci;
	ks->block = 1024;
	ks->ev_fd = ks->req_fd = ks->stop_fd = -1;
	pthread_mutex_init(&ks->lock, NULL);
	if (crypto_addr_parse("203.0.113.1", ks->local, &ks->family) < 0 ||
	    crypto_addr_parse("203.0.113.9", ks->remote, &fam) < 0)
		abort();
	ks->changed = true; /* the first view, as crypto_ksrc_open publishes it */
	crypto_ksrc_publish(ks);
	crypto_ksrc_enter(ci);
}

static void lookups(void)
{
	struct nio_pkt p;

	memset(&p, 0, sizeof(p));
	p.key.family = 4;
	p.key.proto = 6;
	p.key.sport = 1234;
	p.key.dport = 80;
	for (unsigned i = 0; i < 2; i++) {
		/* 192.0.2.10 -> 203.0.113.130 and back, as IPv4-mapped addresses */
		static const uint8_t a[16] = { 0, 0, 0,	   0,	 0,   0, 0, 0,
					       0, 0, 0xff, 0xff, 192, 0, 2, 10 };
		static const uint8_t b[16] = { 0, 0, 0,	   0,	 0,   0, 0,   0,
					       0, 0, 0xff, 0xff, 203, 0, 113, 130 };

		memcpy(p.key.src, i ? b : a, 16);
		memcpy(p.key.dst, i ? a : b, 16);
		(void)crypto_ksrc_select_out(ci->kv, &p);
		for (unsigned j = 0; j < ci->nsas; j++)
			(void)crypto_ksrc_in_allowed(ci->kv, ci->sas[j], &p.key);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crypto_xfrm_msg m;
	size_t off = 0, used;

	if (!ci)
		setup();
	while (off < size && (used = crypto_xfrm_parse(data + off, size - off, &m)) > 0) {
		enum crypto_cipher c;
		const char *why;

		off += used;
		if (m.kind == CRYPTO_XFRM_SA_ADD)
			(void)crypto_xfrm_cipher(&m.sa, &c, &why);
		crypto_ksrc_apply(ci->ks, &m);
	}
	crypto_ksrc_publish(ci->ks);
	crypto_ksrc_enter(ci);
	lookups();
	m.kind = CRYPTO_XFRM_SA_FLUSH;
	crypto_ksrc_apply(ci->ks, &m);
	m.kind = CRYPTO_XFRM_POL_FLUSH;
	crypto_ksrc_apply(ci->ks, &m);
	crypto_ksrc_publish(ci->ks);
	crypto_ksrc_enter(ci);
	crypto_ksrc_publish(ci->ks); /* frees what the flush retired */
	return 0;
}

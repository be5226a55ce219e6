/* Fuzz the control protocol: arbitrary bytes as one request line to a daemon with a config. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../netiod/netiod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] = "port in { driver = \"pcap\" output = \"/dev/null\" }\n"
			   "pipeline p { match { dst = \"198.51.100.0/24\" } out = \"in\" }\n";

static struct netiod *daemon_once(void)
{
	static struct netiod d;
	char err[256];

	if (!d.running) {
		d.ctl_read_only = true; /* no reload or dlopen of paths the fuzzer invents */
		d.running = nio_config_load(&d, NULL, conf, err, sizeof(err));
		if (!d.running || nio_config_open_ports(d.running, NULL, err, sizeof(err)) < 0)
			abort();
	}
	return &d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netiod *d = daemon_once();
	char *line = malloc(size + 1), *reply;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	reply = nio_control_request(d, line);
	if (!reply || strncmp(reply, "{\"ok\":", 6))
		__builtin_trap(); /* every request gets a JSON reply */
	free(reply);
	free(line);
	return 0;
}

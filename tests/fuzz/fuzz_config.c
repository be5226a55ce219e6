/* Fuzz the config loader (libConfuse grammar + netiod's validation) with arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../netiod/netiod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct netiod d;
	char err[512], *text;
	struct nio_config *c;

	if (size > 16384)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	c = nio_config_load(&d, NULL, text, err, sizeof(err));
	if (!c && !err[0])
		__builtin_trap(); /* every failure must explain itself */
	nio_config_free(c);
	free(text);
	return 0;
}

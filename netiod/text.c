/* Names from the config file (any bytes) made safe for output that must be UTF-8: control
 * replies (JSON) and /metrics label values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "show.h"

/* Length of the valid UTF-8 sequence at s (jansson's rules), 0 if the byte starts none. */
size_t nio_utf8_len(const unsigned char *s)
{
	unsigned n, cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Any text that enters a reply (file names, config names, error messages quoting a config
 * line, a service's status) goes through here: jansson refuses invalid UTF-8, and a refused
 * string would leave the client without a reply. Invalid bytes become the four characters \xNN.
 */
json_t *nio_json_text(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *out, *o;

	if (j)
		return j;
	out = o = malloc(strlen(s) * 4 + 1);
	if (!out)
		return json_string("(out of memory)");
	while (*s) {
		size_t n = nio_utf8_len((const unsigned char *)s);

		if (n) {
			memcpy(o, s, n);
			o += n;
			s += n;
		} else {
			o += sprintf(o, "\\x%02x", (unsigned char)*s++);
		}
	}
	*o = '\0';
	j = json_string(out);
	free(out);
	return j;
}

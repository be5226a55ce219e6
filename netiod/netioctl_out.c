/* netioctl's output: results and errors as text, or under -j as JSON (indented, or -c compact). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "netioctl.h"

static bool json_mode;
static size_t json_flags = JSON_INDENT(2);

void nio_ctl_set_output(bool json, bool compact)
{
	json_mode = json;
	json_flags = compact ? JSON_COMPACT : JSON_INDENT(2);
}

bool nio_ctl_json(void)
{
	return json_mode;
}

void nio_ctl_print_json(const json_t *v)
{
	char *s = json_dumps(v, json_flags | JSON_ENCODE_ANY);

	if (!s)
		exit(NIO_EXIT_DAEMON);
	puts(s);
	free(s);
}

/* An argument quoted in a message may not be UTF-8, which a JSON string must be. */
static const char *ascii(char *msg)
{
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
			*c = '?';
	return msg;
}

/*
 * Errors go to stderr, stdout carrying only results: a script piping -j output into jq sees
 * nothing on failure and the exit status says why. Under -j the error is one line of JSON in
 * the control protocol's own shape, {"ok":false,"error":"…"}, plus the exit status.
 */
int nio_ctl_error(int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_mode) {
		json_t *o =
			json_pack("{s:b, s:s, s:i}", "ok", 0, "error", ascii(msg), "exit", status);
		char *s = json_dumps(o, JSON_COMPACT);

		fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
	} else {
		fprintf(stderr, "netioctl: %s\n", msg);
	}
	return status;
}

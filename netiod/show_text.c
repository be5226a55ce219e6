/* A service's status text whole, however long: shared by netiod and netio-svchost. */
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

/*
 * show() writes at most len - 1 bytes and says nothing of what it cut (qos stops at the end of
 * the buffer, mid-line), so a buffer it filled may hold a cut text: ask again with twice the
 * room until the text leaves some, up to what one control message carries (a qos tree of
 * 1024 classes needs ~300 KB). NULL: out of memory.
 */
char *nio_show_whole(int (*show)(void *inst, char *buf, size_t len), void *inst)
{
	for (size_t len = 64 * 1024;; len *= 2) {
		char *buf = malloc(len);

		if (!buf)
			return NULL;
		buf[0] = '\0';
		show(inst, buf, len);
		buf[len - 1] = '\0';
		if (strlen(buf) < len - 1 || len >= NIO_ISO_MSG_MAX)
			return buf;
		free(buf);
	}
}

/* Framed messages over an isolated service's control socket (iso_msg.c). */
#ifndef NETIO_ISO_MSG_H
#define NETIO_ISO_MSG_H

#include <stddef.h>
#include <stdint.h>

int nio_iso_msg_send(int fd, uint32_t type, const void *data, size_t len);
int nio_iso_msg_recv(int fd, uint32_t *type, void **data, size_t *len, int timeout_ms);

#endif /* NETIO_ISO_MSG_H */

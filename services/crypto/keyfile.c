/* Loading an SA's key material (key || 4-byte salt, in hex) from a file only its owner can read. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypto.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex digits with optional "0x" prefix and whitespace anywhere; exactly want bytes. */
static int parse_hex(const char *s, size_t n, uint8_t *out, size_t want)
{
	size_t got = 0;
	int hi = -1;

	for (size_t i = 0; i < n; i++) {
		int v;

		if (isspace((unsigned char)s[i]))
			continue;
		if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X') && got == 0 &&
		    hi < 0) {
			i++;
			continue;
		}
		v = hexval((unsigned char)s[i]);
		if (v < 0 || got == want)
			return -1;
		if (hi < 0) {
			hi = v;
		} else {
			out[got++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return got == want && hi < 0 ? 0 : -1;
}

static int check_mode(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "key-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key-file %s: not a regular file", path);
		return -1;
	}
	/* a key others can read is a key others have: refuse rather than warn */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen,
			 "key-file %s: mode %04o gives group/other access; refusing it "
			 "(chmod 600 %s)",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

int crypto_key_load(const char *path, uint8_t *out, size_t want, char *err, size_t errlen)
{
	char buf[512];
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "key-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (check_mode(fd, path, err, errlen) < 0)
		goto out;
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		snprintf(err, errlen, "key-file %s: %s", path, strerror(errno));
		goto out;
	}
	if (n == (ssize_t)sizeof(buf) || parse_hex(buf, (size_t)n, out, want) < 0) {
		snprintf(err, errlen, "key-file %s: want %zu bytes (key and 4-byte salt) in hex",
			 path, want);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

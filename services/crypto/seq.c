/* Outbound sequence numbers reserved in durable blocks, so a (key, nonce) pair is never reused. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto.h"

/*
 * The guarantee. The explicit IV of every packet is its 64-bit sequence number, so the
 * AEAD nonce (salt || IV) repeats under a key only if a sequence number does. The state
 * file of a key holds the first number nobody has reserved ("next"). A reservation takes
 * [next, next + block) under an exclusive lock, writes the new "next" to a temporary file,
 * fsyncs it, renames it over the state file and fsyncs the directory, and only then hands
 * the block out. Whatever happens afterwards (crash, kill -9, power loss, a reload running
 * two instances side by side), every later reservation starts at or above that "next", so
 * no number is handed out twice. The cost is the unused rest of the blocks held at a crash.
 *
 * The file is named after a hash of the key material, not of the SA, so two SAs or two
 * pipelines configured with the same key share one counter. Losing or rolling back the state
 * directory voids the guarantee: re-key instead.
 */

/* A public name for key material: the first 8 bytes of SHA-256(label || key || salt). */
int crypto_key_id(const uint8_t *keymat, size_t keylen, uint8_t id[CRYPTO_KEY_ID_LEN])
{
	static const char label[] = "netio-crypto-seq-v1";
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (!c)
		return -1;
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(c, label, sizeof(label)) && EVP_DigestUpdate(c, keymat, keylen) &&
	     EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	if (!ok || mdlen < CRYPTO_KEY_ID_LEN)
		return -1;
	memcpy(id, md, CRYPTO_KEY_ID_LEN);
	return 0;
}

static int state_name(const uint8_t *keymat, size_t keylen, char *out, size_t outlen)
{
	uint8_t id[CRYPTO_KEY_ID_LEN];

	if (crypto_key_id(keymat, keylen, id) < 0)
		return -1;
	snprintf(out, outlen, "crypto-%02x%02x%02x%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3],
		 id[4], id[5], id[6], id[7]);
	return 0;
}

/* Reads "next" from the state file; a missing file means nothing was ever reserved. */
static int read_next(const char *path, uint64_t *next)
{
	char buf[128];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*next = 1;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	if (sscanf(buf, "netio-crypto-seq 1 next %" SCNu64, next) != 1 || *next == 0)
		return -EINVAL;
	return 0;
}

static int fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int write_next(const char *path, uint64_t next)
{
	char tmp[PATH_MAX + 8], buf[64];
	int fd, len, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = snprintf(buf, sizeof(buf), "netio-crypto-seq 1 next %" PRIu64 "\n", next);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return fsync_dir(path);
}

/* Durably reserve the next block: [*lo, *hi). -ENOSPC once the sequence space is used up. */
int crypto_seq_reserve(struct crypto_seq *s, uint64_t *lo, uint64_t *hi)
{
	uint64_t next;
	int lfd, rc;

	/* a separate lock file: the state file's inode changes with every rename */
	lfd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return -errno;
	if (flock(lfd, LOCK_EX) < 0) {
		rc = -errno;
		close(lfd);
		return rc;
	}
	rc = read_next(s->path, &next);
	if (!rc && next > s->limit)
		rc = -ENOSPC;
	if (!rc) {
		*lo = next;
		*hi = s->limit + 1 - next < s->block ? s->limit + 1 : next + s->block;
		rc = write_next(s->path, *hi);
	}
	close(lfd); /* drops the lock */
	return rc;
}

int crypto_seq_open(struct crypto_seq *s, const char *dir, const uint8_t *keymat, size_t keylen,
		    uint64_t block, bool esn, char *err, size_t errlen)
{
	char name[64];
	uint64_t lo, hi;
	int rc;

	if (!dir || !*dir) {
		snprintf(err, errlen, "outbound SA needs the daemon's state directory");
		return -1;
	}
	if (state_name(keymat, keylen, name, sizeof(name)) < 0) {
		snprintf(err, errlen, "cannot hash the key for the sequence state file");
		return -1;
	}
	/* the daemon's default state directory may not exist yet on a fresh install */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(s->path, sizeof(s->path), "%s/%s.seq", dir, name);
	snprintf(s->lock_path, sizeof(s->lock_path), "%s/%s.lock", dir, name);
	s->block = block;
	/* with ESN one number is left out so that limit + 1 never wraps */
	s->limit = esn ? UINT64_MAX - 1 : UINT32_MAX;
	atomic_init(&s->spare_ready, false);
	atomic_init(&s->exhausted, false);
	rc = crypto_seq_reserve(s, &lo, &hi);
	if (rc == -ENOSPC) {
		snprintf(err, errlen, "sequence numbers of this key are used up (%s): re-key",
			 s->path);
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "sequence state %s: %s", s->path, strerror(-rc));
		return -1;
	}
	s->next = lo;
	s->end = hi;
	return 0;
}

/* Reserver thread: does the worker need a new spare block? */
bool crypto_seq_wants_spare(const struct crypto_seq *s)
{
	return !atomic_load_explicit(&s->spare_ready, memory_order_acquire) &&
	       !atomic_load_explicit(&s->exhausted, memory_order_relaxed);
}

void crypto_seq_put_spare(struct crypto_seq *s, uint64_t lo, uint64_t hi)
{
	s->spare_lo = lo;
	s->spare_hi = hi;
	/* pairs with the acquire in crypto_seq_next: the bounds are visible before the flag */
	atomic_store_explicit(&s->spare_ready, true, memory_order_release);
}

/*
 * Worker: the next sequence number, or 0 when none may be used now (the spare block is not
 * written yet, or the space is used up: see exhausted). *took_spare asks the caller to wake
 * the reserver for a new spare.
 */
uint64_t crypto_seq_next(struct crypto_seq *s, bool *took_spare)
{
	*took_spare = false;
	if (s->next >= s->end) {
		if (!atomic_load_explicit(&s->spare_ready, memory_order_acquire))
			return 0;
		s->next = s->spare_lo;
		s->end = s->spare_hi;
		/* pairs with the acquire in crypto_seq_wants_spare */
		atomic_store_explicit(&s->spare_ready, false, memory_order_release);
		*took_spare = true;
	}
	return s->next++;
}

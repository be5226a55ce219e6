/* Internet checksum helpers (RFC 1071, incremental update per RFC 1624) for netiod and plugins. */
#ifndef NETIO_CSUM_H
#define NETIO_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* One's-complement sum of len bytes, folded to 32 bits; combine partial sums by adding. */
static inline uint32_t nio_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *b = (const uint8_t *)buf;

	while (len > 1) {
		sum += (uint32_t)b[0] << 8 | b[1];
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

/* Fold a 32-bit sum and complement it: the value to store (host order). */
static inline uint16_t nio_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint16_t nio_csum(const void *buf, size_t len)
{
	return nio_csum_fold(nio_csum_partial(buf, len, 0));
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), all 16-bit host-order words. */
static inline uint16_t nio_csum_update16(uint16_t csum, uint16_t old, uint16_t new_)
{
	uint32_t sum = (uint16_t)~csum + (uint32_t)(uint16_t)~old + new_;

	return nio_csum_fold(sum);
}

/* Pseudo-header sums for UDP/TCP over IPv4 and IPv6 (addresses in network byte order). */
static inline uint32_t nio_csum_pseudo4(const void *src, const void *dst, uint8_t proto,
					uint32_t len)
{
	uint32_t s = nio_csum_partial(src, 4, 0);

	s = nio_csum_partial(dst, 4, s);
	return s + proto + len;
}

static inline uint32_t nio_csum_pseudo6(const void *src, const void *dst, uint8_t proto,
					uint32_t len)
{
	uint32_t s = nio_csum_partial(src, 16, 0);

	s = nio_csum_partial(dst, 16, s);
	return s + proto + (len >> 16) + (len & 0xffff);
}

#endif /* NETIO_CSUM_H */

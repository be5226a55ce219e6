/* Internet checksum helpers (RFC 1071, incremental update per RFC 1624) for netiod and plugins. */
#ifndef NETIO_CSUM_H
#define NETIO_CSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * One's-complement sum of len bytes, returned folded to 16 bits (so partial sums and
 * pseudo-header terms can be added without overflow). Big-endian 32-bit words are summed
 * into 64 bits: 2^16 = 1 modulo 2^16 - 1, so folding gives the 16-bit word sum.
 */
static inline uint32_t nio_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *b = (const uint8_t *)buf;
	uint64_t s = sum;

	for (; len >= 4; b += 4, len -= 4)
		s += (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	if (len >= 2) {
		s += (uint32_t)b[0] << 8 | b[1];
		b += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)b[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
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

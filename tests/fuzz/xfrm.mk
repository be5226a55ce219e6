# The XFRM netlink messages of the crypto service's kernel SA source (SAs, policies, expiry).
include $(TOP)/services/crypto/crypto.mk
FUZZERS += fuzz_xfrm
fuzz_xfrm_SRCS := tests/fuzz/fuzz_xfrm.c $(CRYPTO_SRCS)
fuzz_xfrm_LIBS := $(CRYPTO_LIBS)

# The crypto service's ESP decap parser: raw frames, authentic plaintexts (trailer and inner
# packet checks behind the ICV) and encap/decap round trips.
include $(TOP)/services/crypto/crypto.mk
FUZZERS += fuzz_crypto
fuzz_crypto_SRCS := tests/fuzz/fuzz_crypto.c $(CRYPTO_SRCS)
fuzz_crypto_LIBS := $(CRYPTO_LIBS)

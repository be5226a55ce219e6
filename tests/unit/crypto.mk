# crypto plugin: AEAD engines (known answers), anti-replay window, ESN, sequence reservation,
# key files (test_crypto); ESP encapsulation and decapsulation through the plugin (test_crypto_esp);
# the kernel SA source: XFRM messages in, the worker's SA choices out (test_crypto_ksrc).
include $(TOP)/services/crypto/crypto.mk
TESTS += test_crypto
test_crypto_SRCS := tests/unit/test_crypto.c $(CRYPTO_SRCS)
test_crypto_LIBS := $(CRYPTO_LIBS)
CFLAGS_test_crypto := $(CRYPTO_CFLAGS)
TESTS += test_crypto_esp
test_crypto_esp_SRCS := tests/unit/test_crypto_esp.c tests/unit/fake_host.c $(CRYPTO_SRCS)
test_crypto_esp_LIBS := $(CRYPTO_LIBS)
CFLAGS_test_crypto_esp := $(CRYPTO_CFLAGS)
TESTS += test_crypto_ksrc
test_crypto_ksrc_SRCS := tests/unit/test_crypto_ksrc.c tests/unit/fake_host.c $(CRYPTO_SRCS)
test_crypto_ksrc_LIBS := $(CRYPTO_LIBS)
CFLAGS_test_crypto_ksrc := $(CRYPTO_CFLAGS)

# Sources and libraries of the crypto service, shared by its plugin, unit test and fuzz target.
# intel-ipsec-mb is optional (x86-64 only): built in when its header is installed.
ifndef CRYPTO_SRCS # included by several test makefiles
CRYPTO_SRCS := services/crypto/crypto.c services/crypto/esp.c services/crypto/replay.c \
	services/crypto/resync.c services/crypto/seq.c services/crypto/keyfile.c \
	services/crypto/engine.c services/crypto/engine_openssl.c services/crypto/state.c \
	services/crypto/ksrc.c services/crypto/xfrm_nl.c services/crypto/xfrm_msg.c \
	services/crypto/hold.c
CRYPTO_LIBS := -lcrypto -lpthread
ifneq ($(wildcard /usr/include/intel-ipsec-mb.h),)
CRYPTO_SRCS += services/crypto/engine_ipsecmb.c
CRYPTO_LIBS += -lIPSec_MB
CRYPTO_CFLAGS := -DNIO_HAVE_IPSECMB=1
CFLAGS_engine := $(CRYPTO_CFLAGS)
endif
endif

# Flags, output layout and the compile rule shared by every Makefile in the tree.
# Objects go to $(O)/obj/<path-from-top>.o, so one source may serve the daemon, a plugin and a test.
.DEFAULT_GOAL := all
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
O ?= $(TOP)/build
override O := $(abspath $(O))
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
PLUGINDIR ?= $(LIBDIR)/netio/services
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
STATEDIR ?= /var/lib/netio
RUNDIR ?= /run

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(patsubst $(O)/%,%,$(2))
endif

PKGS := libevent libevent_pthreads libnl-3.0 libnl-route-3.0 libnl-genl-3.0 libpcap libconfuse jansson
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
	-Wformat=2 -Wundef -Wvla -Wcast-align -Wno-unused-parameter -fno-common
OPT ?= -O2
CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -fPIC -fstack-protector-strong \
	-I$(TOP)/include $(EXTRA_CFLAGS)
LDFLAGS := -g $(EXTRA_LDFLAGS)

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer, aborting on the first report.
ifeq ($(SAN),1)
CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-DNIO_SANITIZED=1
LDFLAGS += -fsanitize=address,undefined
endif

DEFS := -DNIO_PLUGINDIR='"$(PLUGINDIR)"' -DNIO_SYSCONFDIR='"$(SYSCONFDIR)"' \
	-DNIO_STATEDIR='"$(STATEDIR)"' -DNIO_RUNDIR='"$(RUNDIR)"'

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

$(O)/obj/%.o: $(TOP)/%.c
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(DEFS) $(CFLAGS_$(notdir $*)) -MMD -MP -c -o $@ $<

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)

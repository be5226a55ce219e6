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
DOCDIR ?= $(PREFIX)/share/doc/netio
MANDIR ?= $(PREFIX)/share/man
# Installed text files (the systemd unit, man pages, dkms.conf) get the paths through @NAME@.
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SBINDIR@|$(BINDIR)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@PLUGINDIR@|$(PLUGINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@STATEDIR@|$(STATEDIR)|g' -e 's|@RUNDIR@|$(RUNDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	-e 's|@VERSION@|$(shell cat $(TOP)/VERSION)|g'

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

PKGS := libevent libevent_pthreads libnl-3.0 libnl-route-3.0 libnl-genl-3.0 libpcap libconfuse jansson \
	libseccomp libxdp libbpf
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

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

$(O)/obj/%.o: $(TOP)/%.c
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(CFLAGS_$(notdir $*)) -MMD -MP -c -o $@ $<

# The install paths and the version are headers in $(O)/gen, rewritten only when their text
# changes: 'make install PREFIX=/usr' after a plain 'make' rebuilds the few objects that use
# them instead of installing binaries that look under /usr/local. The version is VERSION,
# plus the git commit when built from a checkout (evaluated only when a header is checked).
CFLAGS += -I$(O)/gen
NIO_VERSION = $(shell cat $(TOP)/VERSION)$(shell git -C $(TOP) describe --always --dirty \
	--abbrev=7 2>/dev/null | sed 's/^/-g/')
GEN_paths := PLUGINDIR SYSCONFDIR STATEDIR RUNDIR DOCDIR BINDIR XDP_OBJ
GEN_version := VERSION
$(O)/gen/nio_paths.h $(O)/gen/nio_version.h: $(O)/gen/nio_%.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define NIO_%s "%s"\n' $(foreach v,$(GEN_$*),$(v) '$(NIO_$(v))') >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
NIO_PLUGINDIR = $(PLUGINDIR)
NIO_SYSCONFDIR = $(SYSCONFDIR)
NIO_STATEDIR = $(STATEDIR)
NIO_RUNDIR = $(RUNDIR)
NIO_DOCDIR = $(DOCDIR)
NIO_BINDIR = $(BINDIR)
NIO_XDP_OBJ = $(LIBDIR)/netio/netio_xdp.bpf.o
$(O)/obj/netiod/netiod.o $(O)/obj/netiod/netioctl.o $(O)/obj/netiod/xdp_prog.o: $(O)/gen/nio_paths.h
$(O)/obj/netiod/version.o: $(O)/gen/nio_version.h
.PHONY: FORCE
FORCE:

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)

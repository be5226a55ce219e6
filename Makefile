# netio top-level Makefile: builds the daemon, the plugins and the module; runs every test tier.
# make [V=1] [O=builddir] [SAN=1]      build (installs missing Debian packages first, as root)
# make demo | check | check-unit | check-config | check-pcap | check-netns | check-vm | check-fuzz
# make fuzz | bench | soak [SOAK_SECONDS=3600] | lint | check-install
# make install | uninstall [PREFIX=/usr/local DESTDIR=]    make dkms-install | dkms-uninstall
include mk/common.mk

SERVICES := $(patsubst services/%/Makefile,%,$(wildcard services/*/Makefile))
SUBDIRS := netiod $(addprefix services/,$(SERVICES)) doc
ASAN_O := $(O)/asan
export V

.PHONY: all deps build asan $(SUBDIRS) kmod demo check check-unit check-config check-pcap \
	check-netns check-vm check-fuzz check-install fuzz bench soak lint install uninstall \
	dkms-install dkms-uninstall clean

all: deps build

deps:
	@sh scripts/deps.sh

build: $(SUBDIRS)

$(SUBDIRS):
	@$(MAKE) --no-print-directory -C $@ O=$(O) SAN=$(SAN)

kmod: deps
	@$(MAKE) --no-print-directory -C netio-kmod

demo: all
	@sh scripts/demo.sh $(O)

# Everything a fresh machine can prove, in rising cost: unit and config under ASan+UBSan,
# fuzz-corpus replay, pcap replay through the ASan daemon, netns with real traffic, then the VM.
check: all
	@$(MAKE) --no-print-directory check-unit check-config check-install check-fuzz check-pcap \
		check-netns check-vm
	@echo "check: all tiers passed"

# The sanitizer build: unit tests, config and pcap tiers run against it.
asan: deps
	@for d in $(SUBDIRS); do $(MAKE) --no-print-directory -C $$d O=$(ASAN_O) SAN=1 || exit 1; done

check-unit: asan
	@$(MAKE) --no-print-directory -C tests/unit run O=$(ASAN_O) SAN=1

check-config: asan
	@sh tests/config/run.sh $(ASAN_O)

# What gets installed: tests/install/*.sh (install.sh: 'make install PREFIX=/usr', staged, and
# what it installed, run; 'make uninstall'; unit.sh: the systemd unit's hardening).
check-install: build
	@for t in tests/install/*.sh; do sh $$t $(O) || exit 1; done

check-pcap: asan
	@sh tests/pcap/run.sh $(ASAN_O)

check-netns: build
	@$(MAKE) --no-print-directory -C tests/netns O=$(O)
	@sh tests/netns/run.sh $(O)

check-vm: build
	@if [ -d netio-kmod ]; then sh scripts/vm-test.sh $(O); else echo "vm: no module yet"; fi

check-fuzz: deps
	@$(MAKE) --no-print-directory -C tests/fuzz run

fuzz: deps
	@$(MAKE) --no-print-directory -C tests/fuzz fuzz

bench: all
	@sh tests/bench/run.sh $(O)

# An hour (SOAK_SECONDS) of mixed traffic with reloads, replaces and kill -9; not part of check.
soak: all
	@bash tests/soak/soak.sh $(O)

lint:
	@sh scripts/lint.sh

EXAMPLES := $(notdir $(wildcard conf/*.conf conf/*.conf.example))
UNITDIR ?= $(LIBDIR)/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
MODLOADDIR ?= $(LIBDIR)/modules-load.d
DKMSDIR ?= /usr/src
KMOD_VERSION := $(shell cat VERSION)

# Everything but the module: 'make dkms-install' hands that to DKMS.
install: build
	@for d in $(SUBDIRS); do $(MAKE) --no-print-directory -C $$d install O=$(O) || exit 1; done
	install -d $(DESTDIR)$(SYSCONFDIR)/netio $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 conf/demo.conf $(DESTDIR)$(SYSCONFDIR)/netio/netiod.conf.example
	install -m 0644 $(addprefix conf/,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/
	$(SUBST) conf/netiod.service >$(DESTDIR)$(UNITDIR)/netiod.service
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 completions/netiod completions/netioctl $(DESTDIR)$(BASHCOMPDIR)/

# What install put there, and its own directories once empty; the operator's netiod.conf stays.
uninstall:
	@for d in $(SUBDIRS); do $(MAKE) --no-print-directory -C $$d uninstall O=$(O) || exit 1; done
	rm -f $(DESTDIR)$(SYSCONFDIR)/netio/netiod.conf.example $(DESTDIR)$(UNITDIR)/netiod.service \
		$(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/README.md \
		$(DESTDIR)$(BASHCOMPDIR)/netiod $(DESTDIR)$(BASHCOMPDIR)/netioctl
	@for d in $(DOCDIR)/examples $(DOCDIR) $(PLUGINDIR) $(LIBDIR)/netio $(SYSCONFDIR)/netio; do \
		[ ! -d "$(DESTDIR)$$d" ] || rmdir --ignore-fail-on-non-empty "$(DESTDIR)$$d"; \
	done

# The module's source where DKMS looks for it, built and installed for the running kernel (and
# again for each new kernel: AUTOINSTALL), loaded at boot. With DESTDIR only staged: a package's
# postinst runs 'dkms install netio/$(KMOD_VERSION)'.
DKMS_SRC := $(DESTDIR)$(DKMSDIR)/netio-$(KMOD_VERSION)
dkms-install:
	install -d $(DKMS_SRC)/include/netio $(DESTDIR)$(MODLOADDIR)
	install -m 0644 $(filter-out %.mod.c,$(wildcard netio-kmod/*.c)) netio-kmod/*.h \
		netio-kmod/Kbuild netio-kmod/Makefile VERSION $(DKMS_SRC)/
	install -m 0644 include/netio/*.h $(DKMS_SRC)/include/netio/
	$(SUBST) netio-kmod/dkms.conf >$(DKMS_SRC)/dkms.conf
	echo netio >$(DESTDIR)$(MODLOADDIR)/netio.conf
	@if [ -z "$(DESTDIR)" ]; then \
		command -v dkms >/dev/null || { echo "dkms-install: no dkms (apt-get install dkms)"; exit 1; }; \
		dkms install netio/$(KMOD_VERSION) && modprobe netio; \
	fi

dkms-uninstall:
	@if [ -z "$(DESTDIR)" ] && dkms status netio/$(KMOD_VERSION) | grep -q .; then \
		dkms remove netio/$(KMOD_VERSION) --all; \
	fi
	rm -rf $(DKMS_SRC)
	rm -f $(DESTDIR)$(MODLOADDIR)/netio.conf

clean:
	rm -rf $(O)
	@if [ -d netio-kmod ]; then $(MAKE) -C netio-kmod clean; fi

# netio top-level Makefile: builds the daemon, the plugins and the module; runs every test tier.
# make [V=1] [O=builddir] [SAN=1]      build (installs missing Debian packages first, as root)
# make demo | check | check-unit | check-config | check-pcap | check-netns | check-vm | check-fuzz
# make fuzz | bench | soak [SOAK_SECONDS=3600] | lint | install [PREFIX=/usr/local DESTDIR=]
include mk/common.mk

SERVICES := $(patsubst services/%/Makefile,%,$(wildcard services/*/Makefile))
SUBDIRS := netiod $(addprefix services/,$(SERVICES))
ASAN_O := $(O)/asan
export V

.PHONY: all deps build asan $(SUBDIRS) kmod demo check check-unit check-config check-pcap \
	check-netns check-vm check-fuzz fuzz bench soak lint install clean

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
	@$(MAKE) --no-print-directory check-unit check-config check-fuzz check-pcap check-netns check-vm
	@echo "check: all tiers passed"

# The sanitizer build: unit tests, config and pcap tiers run against it.
asan: deps
	@for d in $(SUBDIRS); do $(MAKE) --no-print-directory -C $$d O=$(ASAN_O) SAN=1 || exit 1; done

check-unit: asan
	@$(MAKE) --no-print-directory -C tests/unit run O=$(ASAN_O) SAN=1

check-config: asan
	@sh tests/config/run.sh $(ASAN_O)

check-pcap: asan
	@sh tests/pcap/run.sh $(ASAN_O)

check-netns: build
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

install: build
	@for d in $(SUBDIRS); do $(MAKE) --no-print-directory -C $$d install O=$(O) || exit 1; done
	install -d $(DESTDIR)$(SYSCONFDIR)/netio
	install -m 0644 conf/demo.conf $(DESTDIR)$(SYSCONFDIR)/netio/netiod.conf.example
	install -d $(DESTDIR)$(LIBDIR)/systemd/system $(DESTDIR)$(PREFIX)/share/doc/netio
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SBINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		conf/netiod.service >$(DESTDIR)$(LIBDIR)/systemd/system/netiod.service
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/netio/
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 doc/netiod.8 doc/netioctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/

clean:
	rm -rf $(O)
	@if [ -d netio-kmod ]; then $(MAKE) -C netio-kmod clean; fi

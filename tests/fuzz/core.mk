# Fuzz targets for netiod's parsers of untrusted bytes: frames, config files, control requests.
FUZZ_CORE := netiod/addr.c netiod/units.c netiod/log.c
FUZZERS += fuzz_parse fuzz_config
fuzz_parse_SRCS := tests/fuzz/fuzz_parse.c netiod/parse.c netiod/classify.c netiod/guard.c \
	$(FUZZ_CORE)
# config.c reads the drivers' option declarations from the driver table.
FUZZ_DRIVERS := netiod/drivers.c netiod/claims.c netiod/port_kmod.c netiod/port_afpacket.c netiod/port_pcap.c \
	netiod/port_afxdp.c netiod/xdp_prog.c netiod/region.c \
	netiod/device.c netiod/offload.c netiod/pool.c netiod/taps.c
fuzz_config_SRCS := tests/fuzz/fuzz_config.c tests/unit/noworker.c netiod/config.c netiod/service.c netiod/show_text.c \
	netiod/privs.c netiod/wsched.c $(FUZZ_DRIVERS) $(FUZZ_CORE)
fuzz_config_LIBS := -lconfuse -ldl -ljansson $(shell pkg-config --libs libnl-genl-3.0 libpcap libxdp libbpf)
FUZZERS += fuzz_control
fuzz_control_SRCS := tests/fuzz/fuzz_control.c $(filter-out netiod/netiod.c netiod/netioctl.c netiod/svchost%,\
	$(patsubst $(TOP)/%,%,$(wildcard $(TOP)/netiod/*.c)))
fuzz_control_LIBS := $(shell pkg-config --libs $(PKGS)) -ldl -lpthread
# What an isolated service's host hands back: descriptors and control messages.
FUZZERS += fuzz_iso
fuzz_iso_SRCS := tests/fuzz/fuzz_iso.c netiod/iso_desc.c netiod/iso_msg.c

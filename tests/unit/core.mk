# netiod core unit tests.
CORE := netiod/addr.c netiod/units.c netiod/log.c
# config.c reads the drivers' option declarations from the driver table.
DRIVERS := netiod/drivers.c netiod/claims.c netiod/port_kmod.c netiod/port_afpacket.c netiod/port_pcap.c \
	netiod/port_afxdp.c netiod/xdp_prog.c netiod/region.c \
	netiod/device.c netiod/offload.c netiod/pool.c netiod/taps.c
DRIVERS_LIBS := $(shell pkg-config --libs libnl-genl-3.0 libpcap libxdp libbpf)
TESTS += test_parse test_classify test_flow test_units test_plugin
test_parse_SRCS := tests/unit/test_parse.c netiod/parse.c $(CORE)
test_classify_SRCS := tests/unit/test_classify.c netiod/classify.c netiod/claims.c $(CORE)
test_flow_SRCS := tests/unit/test_flow.c netiod/flow.c netiod/parse.c $(CORE)
test_units_SRCS := tests/unit/test_units.c $(CORE)
test_plugin_SRCS := tests/unit/test_plugin.c tests/unit/noworker.c netiod/service.c netiod/show_text.c netiod/config.c \
	netiod/privs.c netiod/wsched.c $(DRIVERS) $(CORE)
test_plugin_LIBS := -ldl -lconfuse -ljansson $(DRIVERS_LIBS)

# Broken plugins the loader must refuse, each named after the service it pretends to be.
FIXTURES := bad_abi bad_size no_symbol wrong_name no_process fail_init
all: $(foreach f,$(FIXTURES),$(O)/tests/unit/plugins/$(f)/svc.so)
$(O)/tests/unit/plugins/%/svc.so: $(TOP)/tests/unit/plugins/broken.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -DBROKEN_$* -shared $(LDFLAGS) -o $@ $<
TESTS += test_config
test_config_SRCS := tests/unit/test_config.c tests/unit/noworker.c netiod/service.c netiod/show_text.c netiod/config.c \
	netiod/privs.c netiod/wsched.c $(DRIVERS) $(CORE)
test_config_LIBS := -ldl -lconfuse -ljansson $(DRIVERS_LIBS)
TESTS += test_pipeline
test_pipeline_SRCS := tests/unit/test_pipeline.c netiod/pipeline.c netiod/fib.c netiod/l2.c \
	netiod/guard.c netiod/parse.c netiod/pending.c netiod/trace.c netiod/egress.c $(CORE)
# The worker group: handoff rings, steering, an owned service, counter rows, a stuck worker.
TESTS += test_workers
test_workers_SRCS := tests/unit/test_workers.c $(filter-out netiod/netiod.c netiod/netioctl.c netiod/svchost%,\
	$(patsubst $(TOP)/%,%,$(wildcard $(TOP)/netiod/*.c)))
test_workers_LIBS := $(shell pkg-config --libs $(PKGS)) -ldl -lpthread
# statsview.c: stats relative to the last clear, and their filters.
TESTS += test_statsview
test_statsview_SRCS := tests/unit/test_statsview.c netiod/statsview.c $(CORE)
test_statsview_LIBS := $(shell pkg-config --libs jansson)

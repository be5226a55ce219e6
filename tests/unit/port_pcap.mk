# port_pcap.c: replay a pcap file through the driver and write it back out.
TESTS += test_port_pcap
test_port_pcap_SRCS := tests/unit/test_port_pcap.c netiod/port_pcap.c netiod/pool.c netiod/log.c
test_port_pcap_LIBS := -lpcap
CFLAGS_test_port_pcap := -I$(TOP)/netiod

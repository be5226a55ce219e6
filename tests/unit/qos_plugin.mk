# qos plugin through its service ABI, with the fake host: config errors, classify, police, shape.
TESTS += test_qos_plugin
test_qos_plugin_SRCS := tests/unit/test_qos_plugin.c tests/unit/fake_host.c services/qos/qos.c \
	services/qos/conf.c services/qos/police.c services/qos/sched.c services/qos/timers.c services/qos/codel.c \
	services/qos/fq.c services/qos/tbucket.c services/qos/classify.c services/qos/units.c \
	services/qos/objects.c services/qos/lookup.c

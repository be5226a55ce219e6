# qos plugin: token buckets, srTCM/trTCM meters, units, DSCP and match rules.
TESTS += test_qos_meter
test_qos_meter_SRCS := tests/unit/test_qos_meter.c services/qos/tbucket.c services/qos/police.c \
	services/qos/classify.c services/qos/units.c

# qos plugin: flow queues inside a class (fq_codel, host isolation, limits).
TESTS += test_qos_fq
test_qos_fq_SRCS := tests/unit/test_qos_fq.c services/qos/sched.c services/qos/timers.c services/qos/codel.c \
	services/qos/fq.c services/qos/tbucket.c services/qos/classify.c

# qos plugin: the class scheduler against a brute-force model of its rules.
TESTS += test_qos_sched_ref
test_qos_sched_ref_SRCS := tests/unit/test_qos_sched_ref.c services/qos/sched.c services/qos/timers.c \
	services/qos/codel.c services/qos/fq.c services/qos/tbucket.c services/qos/classify.c

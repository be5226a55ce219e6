# qos plugin: class tree (HTB borrowing, priority, DRR) and CoDel.
TESTS += test_qos_sched
test_qos_sched_SRCS := tests/unit/test_qos_sched.c services/qos/sched.c services/qos/timers.c services/qos/codel.c services/qos/fq.c \
	services/qos/tbucket.c services/qos/classify.c
test_qos_sched_LIBS := -lm

# qos plugin parsers: units, DSCP names, protocols, port ranges, prefixes.
FUZZERS += fuzz_qos_parse
fuzz_qos_parse_SRCS := tests/fuzz/fuzz_qos_parse.c services/qos/units.c services/qos/classify.c \
	services/qos/police.c services/qos/tbucket.c

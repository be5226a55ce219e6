#!/bin/sh
# make lint: clang-format (the root .clang-format) and cppcheck over all C in the tree.
set -u
cd "$(dirname "$0")/.." || exit 1
files=$(git ls-files '*.c' '*.h')
rc=0
# shellcheck disable=SC2086
if ! clang-format --dry-run -Werror $files 2>/tmp/netio-lint.$$; then
	grep -c "error:" /tmp/netio-lint.$$ | xargs printf 'clang-format: %s places differ (clang-format -i FILE)\n'
	grep "error:" /tmp/netio-lint.$$ | cut -d: -f1 | sort -u | sed 's/^/  /'
	rc=1
fi
rm -f /tmp/netio-lint.$$
# shellcheck disable=SC2086
# jansson's iterators are macros cppcheck cannot see; test_crypto indexes a second engine only
# after checking that one was built (cppcheck does not follow skip()). BPF programs (*.bpf.c) are
# clang -target bpf's, checked by the kernel's verifier, written in libbpf's macros.
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem -Iinclude -Inetiod \
	--library=scripts/cppcheck-jansson.cfg \
	--suppress=arrayIndexOutOfBounds:tests/unit/test_crypto.c \
	$(echo "$files" | grep '\.c$' | grep -v '^netio-kmod/' | grep -v '\.bpf\.c$') || rc=1
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc

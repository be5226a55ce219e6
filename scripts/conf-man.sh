#!/bin/sh
# netiod.conf(5) from README.md's "Configuration reference": one source for both, so the man
# page cannot fall behind. Markdown subset: ### headings, tables, "- " lists, ``` blocks,
# `code` and **bold**. usage: conf-man.sh README.md TEMPLATE.5.in >netiod.conf.5
set -eu
readme=$1
template=$2

reference() {
	sed -n '/^## Configuration reference/,/^## /p' "$readme" | sed '1d;$d' | awk '
	function inline(s) {
		gsub(/\\/, "\\e", s)
		while (match(s, /`[^`]*`/))
			s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 1, RLENGTH - 2) "\\fR" \
			    substr(s, RSTART + RLENGTH)
		while (match(s, /\*\*[^*]*\*\*/))
			s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 2, RLENGTH - 4) "\\fR" \
			    substr(s, RSTART + RLENGTH)
		return s
	}
	function out(s) {
		sub(/^[ \t]+/, "", s)
		if (s ~ /^[.'\'']/)
			s = "\\&" s
		print s
	}
	function cells(line, c,   n, i) {
		sub(/^\|/, "", line); sub(/\|[ \t]*$/, "", line)
		n = split(line, c, "|")
		for (i = 1; i <= n; i++) { sub(/^ +/, "", c[i]); sub(/ +$/, "", c[i]) }
		return n
	}
	/^```/ { if (code) { print ".fi"; print ".RE"; code = 0 } else { print ".PP"; print ".RS 4"; print ".nf"; code = 1 }; next }
	code { out(inline($0)); next }
	/^### / { h = $0; sub(/^### /, "", h); print ".SS \"" inline(h) "\""; next }
	/^\|/ {
		n = cells($0, c)
		if (!intable) { intable = 1; ncol = n; next }   # the header row
		if (c[1] ~ /^-+$/) next                          # the separator row
		print ".TP"; out(inline(c[1]))
		if (ncol == 3 && c[2] != "—") out(inline(c[3]) ". Default: " inline(c[2]) ".")
		else if (ncol == 3) out(inline(c[3]) ".")
		else out(inline(c[2]))
		next
	}
	{ intable = 0 }
	/^$/ { para = 1; next }
	/^- / { print ".IP \\(bu 2"; out(inline(substr($0, 3))); para = 0; next }
	{ if (para) { print ".PP"; para = 0 }; out(inline($0)) }
	'
}

reference >"${TMPDIR:-/tmp}/conf-man.$$"
sed -e "/^@REFERENCE@\$/{r ${TMPDIR:-/tmp}/conf-man.$$" -e 'd;}' "$template"
rm -f "${TMPDIR:-/tmp}/conf-man.$$"

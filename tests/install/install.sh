#!/bin/sh
# 'make install DESTDIR=… PREFIX=/usr' after a plain build: the tree it stages, binaries that
# look under /usr, man pages that render, completion, every example passing the installed
# netiod -t with the installed plugins, the systemd unit, and 'make uninstall' leaving nothing.
set -u
O=$(cd "${1:?usage: install.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
	echo "FAILED: $*"
	fail=$((fail + 1))
}
check() { # description, command...
	what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok; else bad "$what" && sed 's/^/  /' "$tmp/out" | head -20; fi
}

if ! make -C "$top" --no-print-directory install PREFIX=/usr DESTDIR="$root" O="$O" \
	>"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log"
	echo "install: make install failed"
	exit 1
fi

# ---- the tree
for f in usr/sbin/netiod usr/sbin/netioctl usr/sbin/netio-svchost; do
	check "$f is installed and executable" test -x "$root/$f"
done
for so in "$O"/services/*.so; do
	check "plugin $(basename "$so")" test -f "$root/usr/lib/netio/services/$(basename "$so")"
done
for f in usr/lib/netio/netio_xdp.bpf.o usr/share/man/man5/netiod.conf.5 usr/share/man/man8/netiod.8 \
	usr/share/man/man8/netioctl.8 usr/share/bash-completion/completions/netiod \
	usr/share/bash-completion/completions/netioctl usr/lib/systemd/system/netiod.service \
	etc/netio/netiod.conf.example usr/share/doc/netio/README.md; do
	check "$f is installed" test -s "$root/$f"
done
for ex in "$top"/conf/*.conf "$top"/conf/*.conf.example; do
	check "example $(basename "$ex")" cmp "$ex" "$root/usr/share/doc/netio/examples/$(basename "$ex")"
done
check "no @PLACEHOLDER@ left in installed text" \
	sh -c '! grep -l "@[A-Z]*@" "$1"/usr/share/man/man*/* "$1"/usr/lib/systemd/system/*' sh "$root"

# ---- built for PREFIX=/usr, whatever the build before it used
netiod=$root/usr/sbin/netiod
netioctl=$root/usr/sbin/netioctl
"$netiod" --help >"$tmp/help" 2>&1
check "netiod --help exits 0" test $? -eq 0
for want in "default /etc/netio/netiod.conf" "default /usr/lib/netio/services"; do
	check "netiod --help says '$want'" grep -q "$want" "$tmp/help"
done
check "netioctl --help: the socket under /run" sh -c '"$1" --help | grep -q "(default /run/"' \
	sh "$netioctl"
version=$(cat "$top/VERSION")
check "netiod --version" sh -c '"$1" --version | grep -q "^netiod $2"' sh "$netiod" "$version"
check "netioctl --version" sh -c '"$1" --version | grep -q "^netioctl $2"' sh "$netioctl" "$version"

# ---- man pages: render without a warning, with FILES and EXAMPLES; netiod.conf(5) has the
# whole configuration reference (every option the README's tables name).
for page in "$root"/usr/share/man/man*/*; do
	MANWIDTH=80 man --warnings=all -l "$page" >"$tmp/page" 2>"$tmp/warn"
	check "man -l $(basename "$page") without warnings" test ! -s "$tmp/warn" -a -s "$tmp/page"
	for sect in FILES EXAMPLES; do
		check "$(basename "$page") has $sect" grep -q "^$sect" "$tmp/page"
	done
done
MANWIDTH=200 man -l "$root/usr/share/man/man5/netiod.conf.5" 2>/dev/null >"$tmp/conf5"
sed -n '/^## Configuration reference/,/^## netioctl/p' "$top/README.md" |
	sed -n 's/^| `\([^`]*\)`.*/\1/p' | sed 's/ {.*//' >"$tmp/options"
n=0
while read -r opt; do
	grep -qF -- "$opt" "$tmp/conf5" || bad "netiod.conf(5) lacks '$opt'"
	n=$((n + 1))
done <"$tmp/options"
check "netiod.conf(5) covers the README's $n options" test "$n" -gt 50

# ---- bash completion: the installed scripts complete through the installed netioctl
for c in netiod netioctl; do
	check "completion $c parses" bash -n "$root/usr/share/bash-completion/completions/$c"
done
check "netioctl completion: service commands" bash -c '. "$1"; COMP_WORDS=("$2" service ""); \
	COMP_CWORD=2; _netioctl; [ "${COMPREPLY[*]}" = "list load unload replace" ]' sh \
	"$root/usr/share/bash-completion/completions/netioctl" "$netioctl"
check "netiod completion: options" bash -c '. "$1"; COMP_WORDS=("$2" --v); COMP_CWORD=1; \
	_netiod; [ "${COMPREPLY[*]}" = "--version" ]' sh \
	"$root/usr/share/bash-completion/completions/netiod" "$netiod"

# ---- every installed example passes the installed netiod -t with the installed plugins
# (-P: the operator's option for a plugin directory elsewhere). The ESP examples need their
# key files: made here, and the copies point at them.
mkdir -m 700 "$tmp/keys" "$tmp/state"
(umask 077 && head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/keys/a-to-b.key" &&
	head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/keys/b-to-a.key")
# In a network namespace of its own where root can make one: the host's devices and sysctls
# (an eth0 that forwards) say nothing about the gateway the example is for.
netns=""
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
	netns="unshare -n"
fi
for ex in "$root"/usr/share/doc/netio/examples/* "$root/etc/netio/netiod.conf.example"; do
	sed "s|\"/etc/netio/keys/|\"$tmp/keys/|" "$ex" >"$tmp/example.conf"
	check "installed netiod -t $(basename "$ex")" $netns "$netiod" -t -P "$root/usr/lib/netio/services" \
		-s "$tmp/state" -c "$tmp/example.conf"
done

# ---- the unit: systemd-analyze verify, with its commands pointing at the staged binaries
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$tmp/unit"
	sed "s|/usr/sbin/|$root/usr/sbin/|g" "$root/usr/lib/systemd/system/netiod.service" \
		>"$tmp/unit/netiod.service"
	check "systemd-analyze verify netiod.service" systemd-analyze verify "$tmp/unit/netiod.service"
	check "systemd-analyze verify says nothing" test ! -s "$tmp/out"
else
	echo "install: no systemd-analyze; unit not verified"
fi

# ---- make dkms-install, staged: the module's source as DKMS wants it, which builds (where
# kernel headers are installed) into a module with the version; the modules-load.d entry
src=$root/usr/src/netio-$version
check "make dkms-install DESTDIR" make -C "$top" --no-print-directory dkms-install PREFIX=/usr \
	DESTDIR="$root"
check "dkms.conf has PACKAGE_VERSION $version" grep -qx "PACKAGE_VERSION=\"$version\"" "$src/dkms.conf"
check "modules-load.d/netio.conf loads netio" grep -qx netio "$root/usr/lib/modules-load.d/netio.conf"
if ls /lib/modules/*/build/Makefile >/dev/null 2>&1; then
	cp -r "$src" "$tmp/dkms"
	check "the DKMS source builds" make -C "$tmp/dkms" modules
	check "modinfo version $version" sh -c 'modinfo -F version "$1" | grep -qx "$2"' sh \
		"$tmp/dkms/netio.ko" "$version"
fi

# ---- make uninstall (and dkms-uninstall) take away every file they installed, and netio's
# own directories
for target in uninstall dkms-uninstall; do
	check "make $target" make -C "$top" --no-print-directory $target PREFIX=/usr DESTDIR="$root" O="$O"
done
left=$(find "$root" ! -type d; find "$root" -type d -name 'netio*')
check "nothing left after uninstall: $left" test -z "$left"

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

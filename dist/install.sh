#!/usr/bin/env bash
# Install netd, netctl and libnet under PREFIX (default /usr/local), as a
# packager would: binaries, libnet.so/.a, libnet.h, libnet.pc, the systemd
# unit, config examples, the Python module, the man pages and shell
# completions.
#
#   dist/install.sh [PREFIX]
#   DESTDIR=/tmp/stage dist/install.sh /usr      # staged install for a package
#   PROFILE=debug dist/install.sh /tmp/p         # install a debug build
#
# CARGO_TARGET_DIR is honoured; the build runs first.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
dest=${DESTDIR:-}
profile=${PROFILE:-release}
target=${CARGO_TARGET_DIR:-target}
flag=--release
[ "$profile" = release ] || flag=
cargo build $flag -q -p netd -p netctl -p libnet-ffi
out=$target/$profile
root=$dest$prefix

install -D -m 0755 "$out/netd" "$root/sbin/netd"
install -D -m 0755 "$out/netctl" "$root/bin/netctl"
install -D -m 0755 "$out/libnet.so" "$root/lib/libnet.so"
install -D -m 0644 "$out/libnet.a" "$root/lib/libnet.a"
install -D -m 0644 include/libnet.h "$root/include/libnet.h"
mkdir -p "$root/lib/pkgconfig"
sed "s|@PREFIX@|$prefix|g" libnet-ffi/pkgconfig/libnet.pc.in > "$root/lib/pkgconfig/libnet.pc"
# The Python module, pointed at this prefix's libnet.so (loaded by path).
mkdir -p "$root/lib/python3/dist-packages"
sed "s|/usr/local/lib/libnet.so|$prefix/lib/libnet.so|" python/libnet.py \
  > "$root/lib/python3/dist-packages/libnet.py"
mkdir -p "$root/lib/systemd/system"
sed "s|/usr/sbin/netd|$prefix/sbin/netd|g" dist/netd.service > "$root/lib/systemd/system/netd.service"
install -D -m 0644 dist/netd.conf "$root/share/doc/netd/netd.conf.example"
install -D -m 0644 dist/sysctl.conf "$root/share/doc/netd/sysctl.conf.example"
mkdir -p "$root/share/man/man8" "$root/share/bash-completion/completions" \
         "$root/share/zsh/site-functions" "$root/share/fish/vendor_completions.d"
"$out/netd" --manpage > "$root/share/man/man8/netd.8"
"$out/netctl" manpage > "$root/share/man/man8/netctl.8"
"$out/netctl" completions bash > "$root/share/bash-completion/completions/netctl"
"$out/netctl" completions zsh > "$root/share/zsh/site-functions/_netctl"
"$out/netctl" completions fish > "$root/share/fish/vendor_completions.d/netctl.fish"
echo "installed under $root"

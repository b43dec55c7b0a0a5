#!/bin/sh
# Recipe of sandbox-kernel-base:bookworm: a minimal Debian root file system, built with no container
# registry. Run as root by `sandbox-kernel images build` with the target directory as $1; the
# directory is then imported with `docker import`, applying the `#@` lines below as image config.
#@ ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
#@ ENV LANG=C.UTF-8
#@ CMD ["bash"]
set -eu
target="$1"
debootstrap --variant=minbase bookworm "$target" http://deb.debian.org/debian
cat > "$target/etc/apt/sources.list" <<'LIST'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
rm -rf "$target"/var/cache/apt/archives/*.deb "$target"/var/cache/apt/*.bin \
    "$target"/var/lib/apt/lists/* "$target"/var/log/*.log "$target"/var/log/apt/* \
    "$target"/debootstrap

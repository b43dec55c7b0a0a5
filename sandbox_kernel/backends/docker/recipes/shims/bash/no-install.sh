#!/bin/sh
# sandbox-kernel: stands in for pip and npm in an image that has neither. A sandbox has no network,
# so installing could only fail after a name-resolution time-out; this says at once what to do.
name="$(basename "$0")"
case "$name" in
    npm | npx) language=node options="--npm PACKAGE ..." ;;
    *) language=python options="--requirements requirements.txt" ;;
esac
cat >&2 <<MESSAGE
$name: not installed in this image, and a sandbox has no network to install packages.
Build an image with the packages, then run with it by name:
  sandbox-kernel images build $language $options --tag NAME
  then use --image NAME
MESSAGE
exit 127

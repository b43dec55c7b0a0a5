#!/bin/sh
# Run at image build time (as root): the npm stand-in first on PATH, npx as npm's own, npm's global
# configuration offline (anything that still tries the registry fails at once), its cache and logs
# in /tmp (the root file system is read-only at run time), and /node_modules -> the global modules
# so that import, which ignores NODE_PATH, finds them from any directory.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
install -m 755 "$here/npm" /usr/local/bin/npm
ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
mkdir -p /usr/local/etc
cat > /usr/local/etc/npmrc <<'NPMRC'
offline=true
audit=false
fund=false
update-notifier=false
cache=/tmp/.npm
NPMRC
[ -e /node_modules ] || ln -s /usr/local/lib/node_modules /node_modules

#!/bin/sh
# Run at image build time (as root): put the pip stand-in first on sys.path and PATH, make any real
# pip that is reached anyway refuse the network (no-index), and build matplotlib's font cache.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
site="$(python3 -c 'import site; print(site.getsitepackages()[0])')"
version="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
mkdir -p "$site"
rm -rf "$site/pip"
cp -r "$here/pip" "$site/pip"
python3 -m compileall -q "$site/pip"
for name in pip pip3 "pip$version"; do
    printf '#!/bin/sh\nexec python3 -m pip "$@"\n' > "/usr/local/bin/$name"
    chmod 755 "/usr/local/bin/$name"
done
[ -e /usr/local/bin/python ] || ln -s "$(command -v python3)" /usr/local/bin/python
printf '[global]\nno-index = true\n' > /etc/pip.conf

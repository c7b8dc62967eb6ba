#!/bin/sh
# Install locked distributions into a new, empty /opt/venv (hash-checked, no dependencies),
# compile their bytecode, and copy the files they added to OUT, handed to OWNER (uid:gid). The
# kit runs it in a container of the `export` stage, whose own venv (uv, Poetry) moves aside
# first: the new venv is the one the `base` stage makes, and OUT receives exactly what the
# distributions install (`lockstep.images.packages`). A folder, not a tar on standard output:
# docker's attached output carries a few tens of MB/s.
# Usage: install-packages.sh REQUIREMENTS OUT OWNER
set -eu
mv /opt/venv /opt/toolchain
python3 -m venv --without-pip /opt/venv
cd /opt/venv
find . ! -type d | sort >/tmp/venv-files
if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi
UV_LINK_MODE=copy /opt/toolchain/bin/uv pip install --quiet --require-hashes --no-deps -r "$1"
sh /opt/lockstep/compile-bytecode /opt/venv/lib/python3*/site-packages
# uv's .lock guarded the venv while it installed; it belongs to no distribution.
find . ! -type d ! -path ./.lock | sort | comm -13 /tmp/venv-files - \
    | tar -c --no-recursion -T - | tar -x -C "$2"
chown -R "$3" "$2"

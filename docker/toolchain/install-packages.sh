#!/bin/sh
# Install locked distributions into a new, empty /opt/venv (hash-checked, no dependencies),
# compile their bytecode, and write the files they added to standard output as a tar, paths
# relative to /opt/venv. The kit runs it in a container of the `export` stage, whose own venv
# (uv, Poetry) moves aside first: the new venv is the one the `base` stage makes, and what the
# tar holds is exactly what the distributions install (`lockstep.images.packages`).
# Usage: install-packages.sh REQUIREMENTS > files.tar
set -eu
mv /opt/venv /opt/toolchain
python3 -m venv --without-pip /opt/venv
cd /opt/venv
find . ! -type d | sort >/tmp/venv-files
if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi
UV_LINK_MODE=copy /opt/toolchain/bin/uv pip install --quiet --require-hashes --no-deps \
    -r "$1" >&2
sh /opt/lockstep/compile-bytecode lib/python3*/site-packages >&2
# uv's .lock guarded the venv while it installed; it belongs to no distribution.
find . ! -type d ! -path ./.lock | sort | comm -13 /tmp/venv-files - | tar -c --no-recursion -T -

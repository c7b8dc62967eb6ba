#!/bin/sh
# Compile a venv's bytecode at build time: containers never write it, and without it every
# stage would spend seconds compiling pandas and scikit-learn. Test suites the packages ship are
# skipped (nothing imports them; 70 MB and 3 s saved). A file Python cannot compile (a package's
# Python 2 example) is left alone, as pip does; an operating-system error (a full disk) fails the
# build and shows its lines, where `|| true` would have shipped an image missing bytecode.
# Checked-hash bytecode records the source's hash, not its modification time, so two builds
# write the same bytes (and Python still notices an edited source).
# Usage: compile-bytecode.sh DIR...
set -eu
log=$(mktemp)
status=0
python -m compileall -q -j 0 --invalidation-mode checked-hash -x '/tests?/' "$@" >"$log" 2>&1 || ! grep 'Errno' "$log" || status=1
rm -f "$log"
exit "$status"

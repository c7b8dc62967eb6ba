"""Run a command; write its wall time and its peak resident memory as JSON.

Usage: python peak.py OUT.json COMMAND [ARGS...]. The peak is the largest resident set of the
command's processes that were waited for (getrusage's RUSAGE_CHILDREN), in KiB on Linux. The exit
code is the command's.
"""

import json
import resource
import subprocess
import sys
import time

if __name__ == "__main__":
    start = time.perf_counter()
    code = subprocess.call(sys.argv[2:])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(sys.argv[1], "w") as out:
        json.dump({"code": code, "seconds": seconds, "peak_kib": peak}, out)
    sys.exit(code)

"""The machine facts a numeric result can depend on, read where the stages ran.

Two runs of the same code, data and image can still differ in the last bits when the CPU, the
BLAS kernel it selects or the thread counts differ: OpenBLAS picks its kernel from the CPU's
flags (or `OPENBLAS_CORETYPE`), and a reduction split over more threads adds in another order.
The lineage records these facts for every run, so `invoke diff` can name them as a cause.

Run inside an image by `command()` (standard library, plus threadpoolctl when the image has
it): it prints the facts as JSON.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from pathlib import Path

# Variables that choose a numeric kernel or a thread count, or seed Python's hashing. A run
# passes the caller's values into the container (`lockstep.run.containers`) and records them.
NUMERIC_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "MKL_NUM_THREADS",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "PYTHONHASHSEED",
)
# The CPU flags BLAS and numpy dispatch on; the others (virtualisation, power) do not matter.
KERNEL_FLAGS = frozenset(
    {"sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw"}
    | {"avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "asimd", "sve", "sve2"}
)
# Loaded, when installed, so that threadpoolctl sees the BLAS and OpenMP libraries they bring.
NUMERIC_MODULES = ("numpy", "scipy.linalg", "sklearn")


def cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The CPU model, how many CPUs this process may use, and its kernel-relevant flags."""
    fields: dict[str, str] = {}
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {
        "model": fields.get("model name") or fields.get("CPU part") or "",
        "cpus": len(os.sched_getaffinity(0)),
        "flags": sorted(flags & KERNEL_FLAGS),
    }


def thread_pools() -> list[dict]:
    """The BLAS and OpenMP libraries loaded, with their kernel and thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    for name in NUMERIC_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    keep = ("internal_api", "version", "architecture", "threading_layer", "num_threads")
    pools = [{key: pool[key] for key in keep if key in pool} for pool in threadpool_info()]
    return sorted(pools, key=lambda pool: json.dumps(pool, sort_keys=True))


def describe() -> dict:
    """Every fact, as a JSON-ready mapping."""
    return {
        "cpu": cpu(),
        "thread_pools": thread_pools(),
        "env": {name: os.environ[name] for name in NUMERIC_ENV if name in os.environ},
    }


def command() -> list[str]:
    """The command that prints the facts in any image with a `python`: this module's source.

    Its source, not `-m`: an image built before the module existed can answer too.
    """
    return ["python", "-c", Path(__file__).read_text()]


def passed_on(environ=os.environ) -> dict[str, str]:
    """The caller's numeric variables, to set in a run's container."""
    return {name: environ[name] for name in NUMERIC_ENV if name in environ}


if __name__ == "__main__":
    json.dump(describe(), sys.stdout, sort_keys=True)

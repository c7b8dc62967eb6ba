"""Project tasks: the kit's, and this project's own (`./inv --list` shows them all)."""

from pathlib import Path

from lockstep.tasks import collection

from benchmarks.tasks import bench_
from kit.tasks import wheel

namespace = collection(Path(__file__).resolve().parent)
namespace.add_task(bench_)
namespace.add_task(wheel)

"""Project tasks: the kit's, and this project's own (`./inv --list` shows them all)."""

from pathlib import Path

from lockstep.tasks import collection

from benchmarks.tasks import bench_

namespace = collection(Path(__file__).resolve().parent)
namespace.add_task(bench_)

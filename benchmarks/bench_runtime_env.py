"""runtime_env costs beside Ray, same machine, same run.

    python benchmarks/bench_runtime_env.py     # kernelray here, Ray from RAY_PYTHON (/tmp/rayvenv)

* working_dir of 10 MB (ten 1 MB files of random bytes and a module), given to ``init`` (Ray
  takes a local folder only there): ``init`` (zip, upload), the first task (fetch on the
  node, unpack, a new worker) and later tasks (median of 20), each from ``.remote()`` to
  ``get`` returning what the module holds
* pip env with one small pure-Python package: the first task (venv built, package
  installed from PyPI) and a task in a new worker once the venv is cached (median of 5;
  each with distinct env_vars so a fresh worker starts, the venv reused)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

from _side_by_side import compare, emitter

PIP_PACKAGE = "six==1.16.0"


def make_working_dir() -> str:
    d = tempfile.mkdtemp(prefix="bench_wd_")
    for i in range(10):
        with open(os.path.join(d, f"blob{i}.bin"), "wb") as fh:
            fh.write(os.urandom(1024 * 1024))
    with open(os.path.join(d, "bench_wd_mod.py"), "w") as fh:
        fh.write("VALUE = 7\n")
    return d


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def child(engine: str) -> None:
    ray = __import__(engine)
    emit = emitter(engine)
    wd = make_working_dir()
    extra = {"include_dashboard": False} if engine == "ray" else {}
    t0 = time.perf_counter()  # Ray takes a local working_dir only at the job level: so both do
    ray.init(num_cpus=2, runtime_env={"working_dir": wd}, **extra)
    emit("init_with_10MB_working_dir_ms", (time.perf_counter() - t0) * 1e3, "ms")

    @ray.remote
    def use_wd():
        import bench_wd_mod

        return bench_wd_mod.VALUE

    @ray.remote
    def use_six():
        import six

        return six.__version__

    emit("working_dir_10MB_first_task_ms", timed(lambda: ray.get(use_wd.remote(), timeout=120)), "ms")
    later = [timed(lambda: ray.get(use_wd.remote())) for _ in range(20)]
    emit("working_dir_10MB_later_task_ms", statistics.median(later), "ms")
    first = timed(lambda: ray.get(use_six.options(runtime_env={"pip": [PIP_PACKAGE]}).remote(), timeout=600))
    emit("pip_env_first_task_build_ms", first, "ms")
    cached = [timed(lambda i=i: ray.get(use_six.options(
        runtime_env={"pip": [PIP_PACKAGE], "env_vars": {"BENCH_I": str(i)}}).remote(), timeout=300)) for i in range(5)]
    emit("pip_env_cached_new_worker_ms", statistics.median(cached), "ms", samples=cached)
    ray.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    compare(__file__, child)

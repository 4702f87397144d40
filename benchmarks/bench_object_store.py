"""Object store beside Ray, same machine, same run.

    python benchmarks/bench_object_store.py          # kernelray here, Ray from RAY_PYTHON (/tmp/rayvenv)

Each engine runs in a fresh child process of this file (``--child ENGINE``) and prints
one JSON line per metric; the parent prints both side by side.

* small put+get: 10,000 ``put`` of small ints, one ``get`` of the list (objects/s)
* 100 MB put: GB/s (median of 5); 100 MB and 1 GB get: seconds (zero-copy: constant in size)
* one 100 MB ref passed to 10 tasks that sum it: seconds (kernelray: one copy in the store)
* spill: 1 GB of live objects through a 200 MB store (GB/s written), then read back (GB/s)
"""

from __future__ import annotations

import statistics
import time

from _side_by_side import compare, emitter

MB = 2**20


def child(engine: str) -> None:
    import numpy as np

    ray = __import__(engine)

    emit = emitter(engine)

    ray.init(num_cpus=2, object_store_memory=1536 * MB)

    @ray.remote
    def total(x):
        return float(x.sum())

    ray.get(total.remote(np.zeros(8)))
    n = 10_000
    t0 = time.perf_counter()
    refs = [ray.put(i) for i in range(n)]
    assert ray.get(refs) == list(range(n))
    emit("put_get_small", n / (time.perf_counter() - t0), "objects/s")
    del refs

    array = np.random.default_rng(0).random(100_000_000 // 8)
    puts = []
    for _ in range(5):
        t0 = time.perf_counter()
        ref = ray.put(array)
        puts.append(time.perf_counter() - t0)
    emit("put_100MB_gbps", 0.1 / statistics.median(puts), "GB/s", seconds=puts)
    gets = []
    for _ in range(5):
        t0 = time.perf_counter()
        out = ray.get(ref)
        gets.append(time.perf_counter() - t0)
        del out
    emit("get_100MB_s", statistics.median(gets), "s", zero_copy=not ray.get(ref).flags.writeable)
    big = ray.put(np.ones(1_000_000_000 // 8))
    t0 = time.perf_counter()
    out = ray.get(big)
    emit("get_1GB_s", time.perf_counter() - t0, "s")
    del out, big
    for metric in ("ref_100MB_to_10_tasks_s", "ref_100MB_to_10_tasks_warm_s"):
        t0 = time.perf_counter()
        results = ray.get([total.remote(ref) for _ in range(10)])
        emit(metric, time.perf_counter() - t0, "s")
        assert len(set(results)) == 1
    del ref
    ray.shutdown()

    ray.init(num_cpus=2, object_store_memory=200 * MB)
    chunk = np.ones(100_000_000 // 8)
    t0 = time.perf_counter()
    refs = [ray.put(chunk) for _ in range(10)]
    emit("spill_1GB_gbps", 1.0 / (time.perf_counter() - t0), "GB/s")
    t0 = time.perf_counter()
    for r in refs:
        v = ray.get(r)
        assert v[0] == 1.0
        del v
    emit("restore_1GB_gbps", 1.0 / (time.perf_counter() - t0), "GB/s")
    ray.shutdown()


if __name__ == "__main__":
    compare(__file__, child)

"""The libraries beside Ray's, same machine, same run.

    python benchmarks/bench_libs.py          # kernelray here, Ray from RAY_PYTHON (/tmp/rayvenv)

* Queue: 200 put+get round trips from the driver (us each, median), and a 1,000-item batch put then get
* Pool: creating a 2-process pool (ms), map of 10,000 squares (items/s), 200 apply calls in a row (us each)
* DAG: execute-and-get of a 3-node graph (an actor made per execute), and a 3-task chain (ms, median of 20)
"""

from __future__ import annotations

import statistics
import time
import warnings

from _side_by_side import compare, emitter


def square(x):
    return x * x


class Adder:
    def __init__(self, k):
        self.k = k

    def add(self, x):
        return x + self.k


def bench_queue(ray, engine, emit):
    queue = __import__(f"{engine}.util.queue", fromlist=["Queue"])
    q = queue.Queue()
    q.put(0), q.get()
    times = []
    for i in range(200):
        t0 = time.perf_counter()
        q.put(i)
        q.get()
        times.append(time.perf_counter() - t0)
    emit("queue_put_get_roundtrip_us", statistics.median(times) * 1e6, "us")
    t0 = time.perf_counter()
    q.put_nowait_batch(list(range(1000)))
    q.get_nowait_batch(1000)
    emit("queue_batch_1000_ms", (time.perf_counter() - t0) * 1e3, "ms")
    q.shutdown()


def bench_pool(ray, engine, emit):
    mp = __import__(f"{engine}.util.multiprocessing", fromlist=["Pool"])
    t0 = time.perf_counter()
    pool = mp.Pool(2)
    emit("pool_create_2_ms", (time.perf_counter() - t0) * 1e3, "ms")
    t0 = time.perf_counter()
    assert pool.map(square, range(10_000)) == [x * x for x in range(10_000)]
    emit("pool_map_items_per_s", 10_000 / (time.perf_counter() - t0), "items/s")
    t0 = time.perf_counter()
    for i in range(200):
        pool.apply(square, (i,))
    emit("pool_apply_us", (time.perf_counter() - t0) / 200 * 1e6, "us")
    pool.terminate()


def bench_dag(ray, engine, emit):
    dag_mod = __import__(f"{engine}.dag", fromlist=["InputNode"])
    sq, adder = ray.remote(square), ray.remote(Adder)
    with dag_mod.InputNode() as inp:
        actor_dag = adder.bind(1).add.bind(sq.bind(inp))
    with dag_mod.InputNode() as inp:
        chain = sq.bind(sq.bind(sq.bind(inp)))
    for name, dag in (("dag_actor_execute_ms", actor_dag), ("dag_chain3_execute_ms", chain)):
        ray.get(dag.execute(2))
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            ray.get(dag.execute(2))
            times.append(time.perf_counter() - t0)
        emit(name, statistics.median(times) * 1e3, "ms")


def child(engine: str) -> None:
    ray = __import__(engine)
    emit = emitter(engine)
    warnings.simplefilter("ignore")
    ray.init(num_cpus=2)
    bench_queue(ray, engine, emit)
    bench_pool(ray, engine, emit)
    bench_dag(ray, engine, emit)
    ray.shutdown()


if __name__ == "__main__":
    compare(__file__, child)

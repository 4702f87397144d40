"""Actors beside Ray, same machine, same run.

    python benchmarks/bench_actors.py          # kernelray here, Ray from RAY_PYTHON (/tmp/rayvenv)

* actor creation: create one actor and wait for its first call to return (ms, median of 20),
  and 50 actors created at once then called once each (actors/s)
* async actor: 1,000 calls of an ``async def`` method that awaits ``asyncio.sleep(0.01)``,
  submitted at once (calls/s; concurrency lets them overlap)
* call throughput and sequential latency are in the common yardstick (bench_vs_ray.py)
"""

from __future__ import annotations

import statistics
import time

from _side_by_side import compare, emitter


class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


class Sleeper:
    async def nap(self, i):
        import asyncio

        await asyncio.sleep(0.01)
        return i


def child(engine: str) -> None:
    ray = __import__(engine)

    emit = emitter(engine)

    ray.init(num_cpus=2)
    counter = ray.remote(Counter)
    ray.get(counter.remote().incr.remote())  # warm-up
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        a = counter.remote()
        ray.get(a.incr.remote())
        times.append(time.perf_counter() - t0)
        ray.kill(a)
    emit("actor_create_first_call_ms", statistics.median(times) * 1e3, "ms", samples=times)
    t0 = time.perf_counter()
    actors = [counter.remote() for _ in range(50)]
    ray.get([a.incr.remote() for a in actors])
    emit("actors_created_per_s", 50 / (time.perf_counter() - t0), "actors/s")
    for a in actors:
        ray.kill(a)
    sleeper = ray.remote(Sleeper).remote()
    ray.get(sleeper.nap.remote(0))
    t0 = time.perf_counter()
    out = ray.get([sleeper.nap.remote(i) for i in range(1000)])
    emit("async_actor_calls_per_s", 1000 / (time.perf_counter() - t0), "calls/s")
    assert out == list(range(1000))
    ray.shutdown()


if __name__ == "__main__":
    compare(__file__, child)

"""Cost of submission-time signature binding, beside Ray's no-op task throughput.

    python benchmarks/bench_submit_checks.py

kernelray's ``.remote()`` binds the arguments against the function's cached
``inspect.Signature`` before submitting (kernelray/submit_checks.py).  Budget: at most 3 %
of no-op task throughput.  Two figures, since a 3 % difference in end-to-end throughput is
within the noise of a busy 2-core machine:

* ``tasks_per_s`` with binding on and off (``submit_checks.ENABLED``), rounds alternating in
  one driver, median of the rounds, and ``throughput_change_pct``, the median change of
  adjacent rounds (noisy: other processes on the machine move it by several %);
* ``binding_us_per_call``: the checks ``.remote()`` makes, timed alone (best of 30 batches
  of 10,000 calls), and
  ``binding_pct_of_task``: that time as a share of one task's time at the measured
  throughput -- the figure held to the 3 % budget.

Ray runs the same no-op tasks in a child under /tmp/rayvenv/bin/python (RAY_PYTHON).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _side_by_side import compare, emitter  # noqa: E402

N = 3000
ROUNDS = 10
BUDGET_PCT = 3.0


def noop(a, b=None, *, c=0):
    return None


def throughput(ray, fn) -> float:
    t0 = time.perf_counter()
    ray.get([fn.remote(i, c=1) for i in range(N)])
    return N / (time.perf_counter() - t0)


def binding_cost_us(remote_fn, batches: int = 30, calls: int = 10_000) -> float:
    """The best batch's time per call (as timeit reports): preemption by other processes only
    ever adds time, so the fastest batch is the checks' own cost."""
    from kernelray import submit_checks

    opts = remote_fn._options
    best = float("inf")
    for _ in range(batches):
        t0 = time.perf_counter()
        for i in range(calls):
            submit_checks.check_task(remote_fn, (i,), {"c": 1}, opts)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def child(engine: str) -> None:
    emit = emitter(engine)
    if engine == "ray":
        import ray
    else:
        import kernelray as ray
        from kernelray import submit_checks
    ray.init(num_cpus=2, include_dashboard=False) if engine == "ray" else ray.init(num_cpus=2)
    fn = ray.remote(noop)
    ray.get([fn.remote(i) for i in range(1000)])  # warm the workers
    if engine == "ray":
        emit("tasks_per_s", statistics.median(throughput(ray, fn) for _ in range(ROUNDS // 2)), "tasks/s")
        ray.shutdown()
        return
    on, off = [], []
    for _ in range(ROUNDS // 2):
        submit_checks.ENABLED = False
        off.append(throughput(ray, fn))
        submit_checks.ENABLED = True
        on.append(throughput(ray, fn))
    ray.shutdown()
    rate_on, rate_off = statistics.median(on), statistics.median(off)
    emit("tasks_per_s", rate_on, "tasks/s", rounds=[round(x) for x in on])
    emit("tasks_per_s_binding_off", rate_off, "tasks/s", rounds=[round(x) for x in off])
    paired = statistics.median(100 * (b - a) / b for a, b in zip(on, off))  # rounds side by side
    emit("throughput_change_pct", paired, "%")
    cost = binding_cost_us(fn)
    emit("binding_us_per_call", cost, "us")
    share = cost * rate_off / 1e6 * 100
    emit("binding_pct_of_task", share, "%", budget_pct=BUDGET_PCT, within_budget=share <= BUDGET_PCT)


if __name__ == "__main__":
    compare(__file__, child)

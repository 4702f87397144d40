"""Cost of task events: no-op task throughput with KERNELRAY_TASK_EVENTS on and off.

    python benchmarks/task_events_overhead.py [--n 10000] [--reps 5]

Each measurement is a fresh driver process (the flag is read at import); on and off
alternate so drift of a noisy machine hits both alike.  Prints the median of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
import kernelray as ray
n = int(sys.argv[1])
ray.init(num_cpus=2)
noop = ray.remote(lambda: None)
ray.get([noop.remote() for _ in range(2000)])  # warm the workers and leases
best = 0.0
for _ in range(2):
    t0 = time.perf_counter()
    ray.get([noop.remote() for _ in range(n)])
    best = max(best, n / (time.perf_counter() - t0))
ray.shutdown()
print(json.dumps({"tasks_per_s": best}))
"""


def run(n: int, enabled: bool) -> float:
    env = dict(os.environ, KERNELRAY_TASK_EVENTS="1" if enabled else "0")
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])["tasks_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    on, off = [], []
    for _ in range(a.reps):
        off.append(run(a.n, False))
        on.append(run(a.n, True))
    m_on, m_off = statistics.median(on), statistics.median(off)
    print(json.dumps({"n": a.n, "events_on": [round(x) for x in on], "events_off": [round(x) for x in off],
                      "median_on": round(m_on), "median_off": round(m_off),
                      "overhead_pct": round(100 * (m_off - m_on) / m_off, 1)}))


if __name__ == "__main__":
    main()

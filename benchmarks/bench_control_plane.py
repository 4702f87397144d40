"""The control plane's cost: persistence, GCS restart, and resource-view traffic.

    python benchmarks/bench_control_plane.py persistence [--actors 200] [--groups 200] [--reps 3]
    python benchmarks/bench_control_plane.py restart [--reps 5]
    python benchmarks/bench_control_plane.py simulate [--nodes 10,100] [--seconds 3]

persistence: actor creations/s and placement groups/s with the GCS tables in SQLite (the
default) and in memory (``KERNELRAY_GCS_STORAGE=memory``), fresh driver each, alternating.
restart: SIGKILL the GCS of a local cluster; time until a GCS request is answered again.
simulate: N simulated raylets (real sockets, the real signed protocol, no workers)
register and heartbeat every 100 ms against a real GCS process; prints the GCS's CPU
per second and the bytes per second each simulated node receives (the resource view).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PERSIST_CHILD = r"""
import json, sys, time
import kernelray as ray
n_actors, n_groups = int(sys.argv[1]), int(sys.argv[2])
ray.init(num_cpus=2)

@ray.remote(num_cpus=0)
class A:
    def ping(self):
        return 1

warm = [A.remote() for _ in range(10)]
ray.get([a.ping.remote() for a in warm])
for a in warm:
    ray.kill(a)
t0 = time.perf_counter()
actors = [A.remote() for _ in range(n_actors)]
ray.get([a.ping.remote() for a in actors])
actors_s = n_actors / (time.perf_counter() - t0)
for a in actors:
    ray.kill(a)
t0 = time.perf_counter()
for _ in range(n_groups):
    pg = ray.util.placement_group([{"CPU": 0.01}])
    ray.get(pg.ready(), timeout=30)
    ray.util.remove_placement_group(pg)
groups_s = n_groups / (time.perf_counter() - t0)
ray.shutdown()
print(json.dumps({"actors_per_s": actors_s, "groups_per_s": groups_s}))
"""

RESTART_CHILD = r"""
import json, os, signal, time
import kernelray as ray
ray.init(num_cpus=1)
core = ray.api._driver.core
sup = ray.api._driver.processes.supervisor
times = []
for i in range(int(os.environ["REPS"])):
    core.call(core.gcs, "kv_put_request", {"key": "k", "value": str(i)})
    t0 = time.perf_counter()
    os.kill(sup.spawned.proc.pid, signal.SIGKILL)
    while True:
        try:
            assert core.call(core.gcs, "kv_get_request", {"key": "k"}, timeout=0.05).content["value"] == str(i)
            break
        except ray.exceptions.RaySystemError:
            pass
    times.append(time.perf_counter() - t0)
ray.shutdown()
print(json.dumps({"kill_to_serving_s": times}))
"""


def _child(code: str, args: list, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], env=dict(os.environ, **env), capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_persistence(args) -> None:
    results = {"sqlite": [], "memory": []}
    for _ in range(args.reps):
        for backend in results:
            results[backend].append(_child(PERSIST_CHILD, [str(args.actors), str(args.groups)],
                                           {"KERNELRAY_GCS_STORAGE": backend}))
    for metric in ("actors_per_s", "groups_per_s"):
        mem = statistics.median(r[metric] for r in results["memory"])
        sql = statistics.median(r[metric] for r in results["sqlite"])
        print(f"{metric:14s} memory {mem:8.1f}   sqlite {sql:8.1f}   cost of persistence {100 * (1 - sql / mem):5.1f} %")


def bench_restart(args) -> None:
    times = _child(RESTART_CHILD, [], {"REPS": str(args.reps)})["kill_to_serving_s"]
    print(f"GCS kill-to-serving: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
          f"over {len(times)} kills")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["persistence", "restart", "simulate"])
    p.add_argument("--actors", type=int, default=200)
    p.add_argument("--groups", type=int, default=200)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--nodes", default="10,100")
    p.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    if args.what == "simulate":
        from _control_plane_sim import bench_simulate

        bench_simulate(args)
    else:
        {"persistence": bench_persistence, "restart": bench_restart}[args.what](args)


if __name__ == "__main__":
    main()

"""Several nodes beside Ray (ray.cluster_utils.Cluster of the same shape), same run.

    python benchmarks/bench_multinode.py

Three nodes on this machine (head 1 CPU, two nodes of 2 CPUs):
* cross-node transfer: a 100 MB array made on one node and read on the head (GB/s, median of 3)
* placement groups: create (wait ready) + remove of a 1-bundle group, per second
* spillback throughput: 2,000 no-op tasks submitted on the 1-CPU head that must spill (tasks/s)
"""

from __future__ import annotations

import statistics
import time

from _side_by_side import compare, emitter

MB = 2**20


def child(engine: str) -> None:
    import numpy as np

    ray = __import__(engine)
    cluster_mod = __import__(f"{engine}.cluster_utils", fromlist=["Cluster"])
    util = __import__(f"{engine}.util", fromlist=["placement_group"])

    emit = emitter(engine)

    cluster = cluster_mod.Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 400 * MB})
    cluster.add_node(num_cpus=2, resources={"far": 1}, object_store_memory=400 * MB)
    cluster.add_node(num_cpus=2, object_store_memory=400 * MB)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)

    @ray.remote(resources={"far": 1})
    def make():
        return np.ones(100_000_000 // 8)

    seconds = []
    for _ in range(3):
        ref = make.remote()
        ray.wait([ref], fetch_local=False)
        t0 = time.perf_counter()
        value = ray.get(ref)
        seconds.append(time.perf_counter() - t0)
        assert value[0] == 1.0
        del value, ref
    emit("cross_node_100MB_gbps", 0.1 / statistics.median(seconds), "GB/s", seconds=seconds)

    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 3:
        pg = util.placement_group([{"CPU": 0.01}])
        ray.get(pg.ready())
        util.remove_placement_group(pg)
        n += 1
    emit("placement_group_create_remove_per_s", n / (time.perf_counter() - t0), "groups/s")

    noop = ray.remote(lambda: None)
    ray.get([noop.remote() for _ in range(100)])
    t0 = time.perf_counter()
    ray.get([noop.remote() for _ in range(2000)])
    emit("spillback_task_throughput", 2000 / (time.perf_counter() - t0), "tasks/s")
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    compare(__file__, child)

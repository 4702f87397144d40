"""Several raylets on one machine (kernelray.cluster_utils.Cluster): scheduling across
nodes, strategies, object transfer, infeasible tasks and a node killed mid-workload."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import kernelray as ray
from kernelray.exceptions import TaskUnschedulableError
from kernelray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .conftest import multi_node_cluster, wait_until

MB = 2**20


@pytest.fixture(scope="module")
def three_nodes():
    with multi_node_cluster({"num_cpus": 1, "object_store_memory": 400 * MB},
                            {"num_cpus": 2, "resources": {"TPU": 2}, "object_store_memory": 400 * MB},
                            {"num_cpus": 1, "num_gpus": 1, "object_store_memory": 200 * MB}) as (cluster, (tpu, gpu)):
        yield cluster, tpu, gpu


def node_of():
    return ray.get_runtime_context().get_node_id()


def test_cluster_resources_add_up(three_nodes):
    total = ray.cluster_resources()
    assert total["CPU"] == 4 and total["TPU"] == 2 and total["GPU"] == 1
    assert sum(n["Alive"] for n in ray.nodes()) == 3


def test_custom_and_gpu_resources_pick_their_node(three_nodes):
    cluster, tpu, gpu = three_nodes
    assert ray.get(ray.remote(resources={"TPU": 1})(node_of).remote()) == tpu.node_id

    @ray.remote(num_gpus=1)
    def gpu_task():
        return node_of(), os.environ.get("CUDA_VISIBLE_DEVICES")

    assert ray.get(gpu_task.remote()) == (gpu.node_id, "0")


def test_spillback_uses_every_cpu(three_nodes):
    @ray.remote
    def sleeper():
        start = time.time()
        time.sleep(1.0)
        return node_of(), (start, time.time())

    ray.get([ray.remote(lambda: None).remote() for _ in range(4)])
    out = ray.get([sleeper.remote() for _ in range(6)], timeout=60)
    spans = [span for _, span in out]
    # the head has 1 CPU: the others spilled and ran at the same time (overlap, not wall-clock bounds,
    # so a slow machine cannot fail it)
    most_at_once = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most_at_once >= 3, spans
    assert len({n for n, _ in out}) == 3


def test_spread_and_node_affinity(three_nodes):
    cluster, tpu, gpu = three_nodes

    @ray.remote
    def slow_node():
        time.sleep(0.2)
        return node_of()

    spread = ray.get([slow_node.options(scheduling_strategy="SPREAD").remote() for _ in range(6)])
    assert len(set(spread)) >= 2
    hard = NodeAffinitySchedulingStrategy(gpu.node_id, soft=False)
    assert set(ray.get([slow_node.options(scheduling_strategy=hard).remote() for _ in range(2)])) == {gpu.node_id}
    gone = NodeAffinitySchedulingStrategy("ab" * 16, soft=False)
    with pytest.raises(TaskUnschedulableError):
        ray.get(slow_node.options(scheduling_strategy=gone).remote(), timeout=30)
    soft = NodeAffinitySchedulingStrategy("ab" * 16, soft=True)
    assert ray.get(slow_node.options(scheduling_strategy=soft).remote(), timeout=30)


def test_objects_move_between_nodes(three_nodes):
    cluster, tpu, gpu = three_nodes

    @ray.remote(resources={"TPU": 1})
    def make():
        return np.arange(5_000_000, dtype=np.float64)  # 40 MB in the TPU node's store

    @ray.remote(num_gpus=1)
    def total(x):
        return float(x.sum()), node_of()

    ref = make.remote()
    value = ray.get(ref)  # pulled to the head in chunks
    assert value[-1] == 4_999_999 and not value.flags.writeable
    assert ray.get(total.remote(ref)) == (float(value.sum()), gpu.node_id)  # and to the GPU node
    mine = ray.put(np.ones(3_000_000))
    assert ray.get(ray.remote(resources={"TPU": 1})(lambda a: float(a.sum())).remote(mine)) == 3e6


def test_infeasible_until_a_node_joins(three_nodes, capfd):
    cluster, _, _ = three_nodes
    ref = ray.remote(resources={"FPGA": 1})(node_of).remote()
    deadline = time.monotonic() + 5
    err = ""
    while time.monotonic() < deadline and "infeasible" not in err:
        time.sleep(0.1)
        err += capfd.readouterr().err
    assert "FPGA" in err
    fpga = cluster.add_node(num_cpus=1, resources={"FPGA": 1}, object_store_memory=100 * MB)
    assert ray.get(ref, timeout=30) == fpga.node_id
    cluster.remove_node(fpga)


def test_node_killed_mid_workload_every_result_correct(three_nodes):
    cluster, _, _ = three_nodes
    extra = cluster.add_node(num_cpus=2, resources={"victim": 10}, object_store_memory=100 * MB)

    @ray.remote(max_retries=5)
    def square(i):
        time.sleep(0.3)
        return i * i

    refs = [square.remote(i) for i in range(16)]
    time.sleep(0.5)
    cluster.remove_node(extra, allow_graceful=False)
    assert ray.get(refs, timeout=90) == [i * i for i in range(16)]
    wait_until(lambda: any(n["NodeID"] == extra.node_id and not n["Alive"] for n in ray.nodes()), 10,
               what="the GCS to declare the killed node dead")


def test_placement_groups(three_nodes):
    from kernelray.util import (get_placement_group, placement_group, placement_group_table,
                                remove_placement_group)
    from kernelray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    cluster, tpu, gpu = three_nodes
    total = ray.cluster_resources()["CPU"]
    wait_until(lambda: ray.available_resources().get("CPU", 0) == total, 10, what="earlier leases to go back")
    before = total
    pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD", name="pair")
    assert ray.get(pg.ready(), timeout=30) == pg
    row = placement_group_table(pg)
    assert row["state"] == "CREATED" and len(set(row["bundles_to_node_id"].values())) == 2
    wait_until(lambda: ray.available_resources().get("CPU", 0) == before - 2, 5, what="bundles to reserve CPUs")

    @ray.remote(num_cpus=1)
    def where():
        return node_of()

    for i in range(2):
        strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i)
        assert ray.get(where.options(scheduling_strategy=strategy).remote(), timeout=30) == row["bundles_to_node_id"][i]

    @ray.remote(num_cpus=1)
    class InBundle:
        def node(self):
            return node_of()

    actor = InBundle.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 1)).remote()
    assert ray.get(actor.node.remote(), timeout=30) == row["bundles_to_node_id"][1]
    ray.kill(actor)
    assert get_placement_group("pair") == pg
    packed = placement_group([{"CPU": 1}, {"TPU": 1}], strategy="STRICT_PACK")
    assert packed.wait(10) and set(placement_group_table(packed)["bundles_to_node_id"].values()) == {tpu.node_id}
    too_big = placement_group([{"CPU": 50}])
    assert not too_big.wait(1) and placement_group_table(too_big)["state"] == "PENDING"
    for g in (pg, packed, too_big):
        remove_placement_group(g)
    assert placement_group_table(pg)["state"] == "REMOVED"
    wait_until(lambda: ray.available_resources().get("CPU", 0) == before, 10, what="the bundles' CPUs to come back")
    with pytest.raises(ValueError):
        placement_group([{"CPU": 1}], strategy="NOPE")


def test_placement_group_reschedules_when_its_node_dies(three_nodes):
    from kernelray.util import placement_group, placement_group_table, remove_placement_group

    cluster, _, _ = three_nodes
    doomed = cluster.add_node(num_cpus=1, resources={"doomed": 1}, object_store_memory=100 * MB)
    spare = cluster.add_node(num_cpus=1, resources={"doomed": 1}, object_store_memory=100 * MB)
    pg = placement_group([{"doomed": 1}])
    assert pg.wait(10)
    first = placement_group_table(pg)["bundles_to_node_id"][0]
    victim = doomed if first == doomed.node_id else spare
    cluster.remove_node(victim, allow_graceful=False)
    wait_until(lambda: placement_group_table(pg)["state"] in ("RESCHEDULING", "CREATED")
               and placement_group_table(pg)["bundles_to_node_id"][0] not in (None, victim.node_id), 20,
               what="the bundle to move to the surviving node")
    assert placement_group_table(pg)["state"] == "CREATED"
    remove_placement_group(pg)
    cluster.remove_node(doomed if victim is spare else spare)


def test_lost_objects_rebuilt_from_lineage_or_reported(three_nodes):
    from kernelray.exceptions import ObjectLostError

    cluster, _, _ = three_nodes
    node = cluster.add_node(num_cpus=1, resources={"lost": 1}, object_store_memory=100 * MB)

    @ray.remote(resources={"lost": 1}, max_retries=2)
    def make(v):
        return np.full(1_000_000, v)

    @ray.remote(resources={"lost": 1})
    def put_there():
        return [ray.put(np.ones(1_000_000))]

    made = make.remote(7.0)
    ray.wait([made], fetch_local=False)
    inner = ray.get(put_there.remote())[0]  # owned by a worker on that node: lost with it
    ray.wait([inner], fetch_local=False)
    spare = cluster.add_node(num_cpus=1, resources={"lost": 1}, object_store_memory=100 * MB)
    cluster.remove_node(node, allow_graceful=False)
    value = ray.get(made, timeout=60)  # re-run on the spare node from its lineage
    assert value[0] == 7.0 and value.shape == (1_000_000,)
    with pytest.raises(ObjectLostError):
        ray.get(inner, timeout=60)
    cluster.remove_node(spare)


def test_placement_groups_go_with_their_job_unless_detached(three_nodes, run_python):
    from kernelray.util import placement_group_table

    cluster, _, _ = three_nodes
    code, out, err = run_python(f"""
        import kernelray as ray
        from kernelray.util import placement_group
        ray.init(address="{cluster.address}")
        mine = placement_group([{{"CPU": 0.1}}], name="job-scoped")
        kept = placement_group([{{"CPU": 0.1}}], name="kept", lifetime="detached")
        assert mine.wait(10) and kept.wait(10)
        print(mine.id.hex(), kept.id.hex())
        ray.shutdown()
    """)
    assert code == 0, err
    mine, kept = out.split()
    wait_until(lambda: placement_group_table()[mine]["state"] == "REMOVED", 15, what="the job's group to be removed")
    assert placement_group_table()[kept]["state"] == "CREATED"  # detached: outlives its job
    from kernelray.util import PlacementGroup, remove_placement_group

    remove_placement_group(PlacementGroup(kept))


def test_a_finished_jobs_tasks_stay_listed(three_nodes, run_python):
    """A driver of a cluster that outlives it reports its tasks before its job ends."""
    from kernelray.util import state

    cluster, _, _ = three_nodes
    code, out, err = run_python(f"""
        import kernelray as ray
        ray.init(address="{cluster.address}")
        @ray.remote
        def short_lived_job_task():
            return 1
        assert ray.get(short_lived_job_task.remote()) == 1
        ray.shutdown()
    """)
    assert code == 0, err
    rows = state.list_tasks(filters=[("name", "=", "short_lived_job_task")])
    assert [r["state"] for r in rows] == ["FINISHED"], rows
    # its worker, stopped with the job, reported where and how long it ran before it went
    wait_until(lambda: state.list_tasks(filters=[("name", "=", "short_lived_job_task")])[0]["worker_pid"], 5,
               what="the worker's RUNNING event")

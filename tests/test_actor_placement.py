"""Actors on several nodes (kernelray.cluster_utils.Cluster): the GCS places them by their
resources and scheduling strategy, and restarts them elsewhere when their node dies."""

from __future__ import annotations

import os

import pytest

import kernelray as ray
from kernelray.exceptions import ActorDiedError
from kernelray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .conftest import multi_node_cluster

MB = 2**20


@pytest.fixture(scope="module")
def two_nodes():
    with multi_node_cluster({"num_cpus": 1, "object_store_memory": 200 * MB},
                            {"num_cpus": 2, "resources": {"special": 1}, "object_store_memory": 200 * MB}) as (cluster, (other,)):
        yield cluster, other


@ray.remote
class Where:
    def node(self):
        return ray.get_runtime_context().get_node_id()


def test_actor_resources_pick_the_node(two_nodes):
    _, other = two_nodes
    a = Where.options(resources={"special": 1}).remote()
    assert ray.get(a.node.remote(), timeout=30) == other.node_id
    ray.kill(a)


def test_node_affinity(two_nodes):
    cluster, other = two_nodes
    head_id = ray.get_runtime_context().get_node_id()
    for node_id in (other.node_id, head_id):
        a = Where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote()
        assert ray.get(a.node.remote(), timeout=30) == node_id


def test_actor_restarts_on_another_node_when_its_node_dies(two_nodes):
    cluster, _ = two_nodes
    spare = cluster.add_node(num_cpus=1, resources={"spare": 1}, object_store_memory=100 * MB)
    strategy = NodeAffinitySchedulingStrategy(spare.node_id, soft=True)
    survivor = Where.options(max_restarts=1, max_task_retries=-1, scheduling_strategy=strategy).remote()
    mortal = Where.options(scheduling_strategy=strategy).remote()
    assert ray.get([survivor.node.remote(), mortal.node.remote()], timeout=30) == [spare.node_id] * 2
    cluster.remove_node(spare, allow_graceful=False)
    # the call may reach the dead worker before anyone knows the node died: at-least-once sends it again
    assert ray.get(survivor.node.remote(), timeout=60) != spare.node_id  # its soft affinity lets it move
    with pytest.raises(ActorDiedError):
        ray.get(mortal.node.remote(), timeout=60)


def test_gpu_actor_sees_its_gpu(two_nodes):
    cluster, _ = two_nodes
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=2, object_store_memory=100 * MB)

    @ray.remote(num_gpus=1)
    class GpuUser:
        def devices(self):
            return ray.get_runtime_context().get_node_id(), os.environ.get("CUDA_VISIBLE_DEVICES")

    a, b = GpuUser.remote(), GpuUser.remote()
    (node_a, dev_a), (node_b, dev_b) = ray.get([a.devices.remote(), b.devices.remote()], timeout=30)
    assert node_a == node_b == gpu_node.node_id and {dev_a, dev_b} == {"0", "1"}
    ray.kill(a)
    ray.kill(b)
    cluster.remove_node(gpu_node)


def test_removing_a_placement_group_kills_its_work_on_another_node(two_nodes, tmp_path):
    """The bundles live on the other node: its raylet kills the group's actor and task there,
    and the driver's own raylet refuses the group's later tasks."""
    import time

    import psutil

    from kernelray.exceptions import TaskPlacementGroupRemoved
    from kernelray.util import placement_group, placement_group_table, remove_placement_group
    from kernelray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from .conftest import wait_until

    _, other = two_nodes
    total = ray.cluster_resources()["CPU"]
    wait_until(lambda: ray.available_resources().get("CPU", 0) == total, 15, what="earlier work to free its CPUs")
    pg = placement_group([{"special": 1, "CPU": 1}, {"CPU": 1}], strategy="STRICT_PACK", name="far")
    assert ray.get(pg.ready(), timeout=30) == pg
    assert set(placement_group_table(pg)["bundles_to_node_id"].values()) == {other.node_id}

    @ray.remote(num_cpus=1)
    class Pid:
        def pid(self):
            return os.getpid(), ray.get_runtime_context().get_node_id()

    @ray.remote(num_cpus=1)
    def long_task(path):
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(600)

    def gone(pid):
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    actor = Pid.options(resources={"special": 1},
                        scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 0)).remote()
    actor_pid, node = ray.get(actor.pid.remote(), timeout=30)
    assert node == other.node_id
    pid_file = tmp_path / "pid"
    running = long_task.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 1)).remote(str(pid_file))
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, what="the task to start on the other node")
    task_pid = int(pid_file.read_text())
    remove_placement_group(pg)
    with pytest.raises(ActorDiedError, match="placement group 'far'"):
        ray.get(actor.pid.remote(), timeout=30)
    with pytest.raises(TaskPlacementGroupRemoved):
        ray.get(running, timeout=30)
    with pytest.raises(TaskPlacementGroupRemoved):
        ray.get(long_task.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote("/dev/null"),
                timeout=30)
    wait_until(lambda: gone(actor_pid) and gone(task_pid), 15, what="the group's worker processes to exit")
    wait_until(lambda: ray.available_resources().get("CPU", 0) == total
               and not any("_group_" in k for k in ray.available_resources()), 15,
               what="the bundles' resources to come back")

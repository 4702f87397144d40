"""What a task sees: its resources, OMP_NUM_THREADS, Ray's runtime-context accessors, its
placement group; actor methods resolve on the class; named actors are listed."""

import os

import pytest

import kernelray
from kernelray.util.placement_group import PlacementGroupSchedulingStrategy

pytestmark = pytest.mark.timeout(60)


def test_wait_on_empty_list(cluster):
    assert kernelray.wait([]) == ([], [])
    assert kernelray.wait([], num_returns=3) == ([], [])


def test_assigned_resources_of_a_task(cluster):
    @kernelray.remote(num_cpus=2)
    def two():
        return kernelray.get_runtime_context().get_assigned_resources()

    @kernelray.remote
    def default():
        return kernelray.get_runtime_context().get_assigned_resources()

    assert kernelray.get(two.remote(), timeout=30) == {"CPU": 2.0}
    assert kernelray.get(default.remote(), timeout=30) == {"CPU": 1.0}


def test_assigned_resources_in_a_placement_group_use_rays_names(cluster):
    pg = kernelray.util.placement_group([{"CPU": 1}])
    assert pg.wait(20)

    @kernelray.remote(num_cpus=1)
    def inside():
        ctx = kernelray.get_runtime_context()
        current = kernelray.util.get_current_placement_group()
        return ctx.get_assigned_resources(), ctx.get_placement_group_id(), current.id.hex() if current else None

    try:
        strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
        resources, pg_hex, current_hex = kernelray.get(inside.options(scheduling_strategy=strategy).remote(),
                                                       timeout=30)
        assert resources == {"CPU": 1.0}
        assert pg_hex == current_hex == pg.id.hex()
    finally:
        kernelray.util.remove_placement_group(pg)


def test_no_placement_group_outside_one(cluster):
    @kernelray.remote
    def outside():
        return kernelray.util.get_current_placement_group(), kernelray.get_runtime_context().get_placement_group_id()

    assert kernelray.get(outside.remote(), timeout=30) == (None, None)
    assert kernelray.util.get_current_placement_group() is None


def test_omp_num_threads_follows_the_tasks_cpus(cluster):
    @kernelray.remote(num_cpus=2)
    def two():
        return os.environ.get("OMP_NUM_THREADS")

    @kernelray.remote(num_cpus=0.5)
    def half():
        return os.environ.get("OMP_NUM_THREADS")

    @kernelray.remote(num_cpus=2, runtime_env={"env_vars": {"OMP_NUM_THREADS": "7"}})
    def user_set():
        return os.environ.get("OMP_NUM_THREADS")

    assert kernelray.get(two.remote(), timeout=30) == "2"
    assert kernelray.get(half.remote(), timeout=30) == "1"
    assert kernelray.get(user_set.remote(), timeout=30) == "7"


def test_runtime_context_accessors_and_properties(cluster):
    @kernelray.remote
    def ids():
        ctx = kernelray.get_runtime_context()
        return (ctx.get_job_id(), ctx.job_id, ctx.get_task_id(), ctx.task_id, ctx.get_node_id(), ctx.node_id,
                ctx.get_worker_id(), ctx.get(), ctx.get_actor_id(), ctx.actor_id, ctx.is_canceled(),
                ctx.get_task_function_name())

    (job_hex, job, task_hex, task, node_hex, node, worker_hex, got, actor_hex, actor, canceled,
     fn_name) = kernelray.get(ids.remote(), timeout=30)
    assert job == kernelray.JobID.from_hex(job_hex) and task == kernelray.TaskID.from_hex(task_hex)
    assert node == kernelray.NodeID.from_hex(node_hex) and len(bytes.fromhex(worker_hex)) == kernelray.WorkerID.size()
    assert set(got) == {"job_id", "node_id", "namespace", "task_id"}
    assert got["task_id"] == task and got["job_id"] == job
    assert actor_hex is None and actor is None and canceled is False and "ids" in fn_name
    driver = kernelray.get_runtime_context()
    assert set(driver.get()) == {"job_id", "node_id", "namespace"} and driver.get_job_id() == job_hex
    assert driver.get_placement_group_id() is None


def test_actor_context_and_resources(cluster):
    @kernelray.remote(num_cpus=1)
    class Worker:
        def where(self):
            ctx = kernelray.get_runtime_context()
            return ctx.get_actor_id(), ctx.actor_id, ctx.get_assigned_resources(), ctx.get_actor_name(), ctx.get()

    w = Worker.options(name="ctx-worker").remote()
    actor_hex, actor_id, resources, name, got = kernelray.get(w.where.remote(), timeout=30)
    assert actor_hex == w._actor_id.hex() and actor_id == kernelray.ActorID.from_hex(actor_hex)
    assert resources == {"CPU": 1.0} and name == "ctx-worker"
    assert got["actor_id"] == actor_id
    kernelray.kill(w)


def test_get_assigned_resources_is_for_workers(cluster):
    with pytest.raises(AssertionError, match="only available when the process is a worker"):
        kernelray.get_runtime_context().get_assigned_resources()


def test_actor_method_is_not_hidden_by_an_instance_attribute(cluster):
    @kernelray.remote
    class Shadowed:
        def __init__(self):
            self.value = "an instance attribute"

        def value(self):
            return "the method"

    a = Shadowed.remote()
    assert kernelray.get(a.value.remote(), timeout=30) == "the method"
    kernelray.kill(a)


def test_list_named_actors(cluster):
    @kernelray.remote
    class Named:
        def ping(self):
            return 1

    a = Named.options(name="listed-here").remote()
    b = Named.options(name="listed-elsewhere", namespace="other-ns").remote()
    kernelray.get([a.ping.remote(), b.ping.remote()], timeout=30)
    assert "listed-here" in kernelray.util.list_named_actors()
    assert "listed-elsewhere" not in kernelray.util.list_named_actors()
    everywhere = kernelray.util.list_named_actors(all_namespaces=True)
    assert {"name": "listed-elsewhere", "namespace": "other-ns"} in everywhere
    kernelray.kill(a)
    kernelray.kill(b)


def test_get_gpu_ids(cluster):
    @kernelray.remote
    def gpus():
        return kernelray.get_gpu_ids()

    assert kernelray.get(gpus.remote(), timeout=30) == []
    assert kernelray.get_gpu_ids() == []


def test_as_completed_and_map_unordered(cluster):
    @kernelray.remote
    def square(x):
        return x * x

    refs = [square.remote(i) for i in range(5)]
    assert sorted(kernelray.util.as_completed(refs, chunk_size=2)) == [0, 1, 4, 9, 16]
    assert sorted(kernelray.util.map_unordered(square, range(6), backpressure_size=2, chunk_size=1)) == [
        0, 1, 4, 9, 16, 25]
    with pytest.raises(ValueError, match="Use the `chunk_size` argument instead of `num_returns`."):
        list(kernelray.util.as_completed(refs, num_returns=2))


def test_default_actor_holds_no_resources_and_one_omp_thread(cluster):
    @kernelray.remote
    class Default:
        def seen(self):
            return kernelray.get_runtime_context().get_assigned_resources(), os.environ.get("OMP_NUM_THREADS")

    a = Default.remote()
    assert kernelray.get(a.seen.remote(), timeout=30) == ({}, "1")
    kernelray.kill(a)


def test_taken_actor_name_raises_actor_already_exists_error(cluster):
    from kernelray.exceptions import ActorAlreadyExistsError

    @kernelray.remote
    class Single:
        pass

    first = Single.options(name="only-one").remote()
    with pytest.raises(ActorAlreadyExistsError, match="is already taken") as info:
        Single.options(name="only-one").remote()
    assert isinstance(info.value, ValueError)
    kernelray.kill(first)


def test_accelerator_ids_have_rays_keys(cluster):
    ids = kernelray.get_runtime_context().get_accelerator_ids()
    assert {"GPU", "TPU", "NPU", "HPU", "neuron_cores"} <= set(ids) and ids["GPU"] == []

"""The public names a Ray program imports exist under Ray's names (no cluster needed)."""

import importlib
import pickle

import pytest

import kernelray
from kernelray import cluster_utils
pg_module = importlib.import_module("kernelray.util.placement_group")  # the attribute is the function, as in Ray

RAY_TOP_LEVEL = [
    "ActorClassID", "ActorID", "FunctionID", "JobID", "NodeID", "ObjectID", "ObjectRef", "ObjectRefGenerator",
    "PlacementGroupID", "SCRIPT_MODE", "TaskID", "UniqueID", "WORKER_MODE", "WorkerID", "available_resources",
    "cancel", "cloudpickle", "cluster_resources", "exceptions", "get", "get_actor", "get_gpu_ids",
    "get_runtime_context", "init", "is_initialized", "kill", "method", "nodes", "put", "remote", "shutdown",
    "timeline", "util", "wait", "actor", "runtime_context", "cluster_utils",
]
RAY_UTIL = ["ActorPool", "placement_group", "placement_group_table", "get_placement_group",
            "get_current_placement_group", "remove_placement_group", "list_named_actors", "get_node_ip_address"]
ID_TYPES = ["ActorID", "JobID", "NodeID", "PlacementGroupID", "TaskID", "WorkerID", "UniqueID", "FunctionID",
            "ActorClassID"]


@pytest.mark.parametrize("name", RAY_TOP_LEVEL)
def test_ray_top_level_name(name):
    assert getattr(kernelray, name) is not None


@pytest.mark.parametrize("name", RAY_UTIL)
def test_ray_util_name(name):
    assert callable(getattr(kernelray.util, name))


@pytest.mark.parametrize("name", ID_TYPES)
def test_id_type_round_trips(name):
    cls = getattr(kernelray, name)
    nil = cls.nil()
    assert nil.is_nil() and len(nil.binary()) == cls.size()
    some = cls(bytes(range(cls.size())))
    assert not some.is_nil()
    assert cls.from_hex(some.hex()) == some and cls.from_binary(some.binary()) == some
    assert pickle.loads(pickle.dumps(some)) == some and hash(some) == hash(cls.from_hex(some.hex()))
    with pytest.raises(ValueError):
        cls(b"short")


def test_object_id_is_object_ref_with_id_methods():
    assert kernelray.ObjectID is kernelray.ObjectRef
    nil = kernelray.ObjectID.nil()
    assert nil.is_nil() and kernelray.ObjectID.from_hex(nil.hex()) == nil and len(nil.binary()) == 28


def test_job_id_int():
    assert kernelray.JobID.from_int(7).int() == 7


def test_cloudpickle_is_the_one_ray_programs_import():
    assert kernelray.cloudpickle.loads(kernelray.cloudpickle.dumps(lambda x: x + 1))(1) == 2


def test_validate_placement_group_with_rays_messages():
    assert pg_module.VALID_PLACEMENT_GROUP_STRATEGIES == {"PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"}
    assert pg_module.PLACEMENT_GROUP_BUNDLE_RESOURCE_NAME == "bundle"
    assert pg_module.validate_placement_group([{"CPU": 1}], "PACK")
    with pytest.raises(ValueError, match="Invalid placement group strategy FOO"):
        pg_module.validate_placement_group([{"CPU": 1}], "FOO")
    with pytest.raises(ValueError, match="Got empty list instead"):
        pg_module.validate_placement_group([], "PACK")
    with pytest.raises(ValueError, match="only 0 values"):
        pg_module.validate_placement_group([{"CPU": 0}], "PACK")
    with pytest.raises(ValueError, match="`lifetime` argument must be either `None` or 'detached'"):
        pg_module.validate_placement_group([{"CPU": 1}], "PACK", lifetime="forever")


def test_cluster_not_supported_is_rays_flag():
    assert cluster_utils.cluster_not_supported is False


def test_cluster_before_add_node_behaves_as_rays():
    with pytest.raises(RuntimeError, match="Cannot connect to uninitialized cluster."):
        cluster_utils.Cluster(connect=True, shutdown_at_exit=False)
    cluster = cluster_utils.Cluster(shutdown_at_exit=False)
    try:
        assert cluster.address is None and cluster.list_all_nodes() == []
        with pytest.raises(AssertionError):
            cluster.connect()
        with pytest.raises(kernelray.exceptions.RaySystemError, match="Ray has not been started yet"):
            cluster.wait_for_nodes()
    finally:
        cluster.shutdown()


def test_scheduling_strategies_module_has_rays_classes():
    from kernelray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

    assert PlacementGroupSchedulingStrategy is pg_module.PlacementGroupSchedulingStrategy
    assert NodeAffinitySchedulingStrategy("ab", soft=True).soft

"""``wait(fetch_local=True)`` on several nodes: an object counts as ready once it is in the
caller's node's store; ``fetch_local=False`` leaves it on the node that made it."""

import numpy as np
import pytest

import kernelray
from kernelray.core import context

from .conftest import multi_node_cluster

pytestmark = pytest.mark.timeout(90)
MB = 2**20


@kernelray.remote(max_retries=0)
def big():
    return np.ones(2 * MB, dtype=np.uint8)


def objects_in_store(raylet_address: str) -> set:
    core = context.require_core()
    table = core.call(raylet_address, "store_stats_request", {"objects": True}, timeout=10).content
    return {row["object_id"] for row in table.get("objects", [])}


def test_wait_fetch_local_copies_the_object_here():
    with multi_node_cluster({"num_cpus": 1, "object_store_memory": 100 * MB},
                            {"num_cpus": 1, "resources": {"far": 1}, "object_store_memory": 100 * MB}) as (
            cluster, (far,)):
        on_far = big.options(resources={"far": 1})  # only the far node has it
        fetched, left = on_far.remote(), on_far.remote()
        assert kernelray.wait([left], fetch_local=False, timeout=30)[0] == [left]
        assert kernelray.wait([fetched], fetch_local=True, timeout=30)[0] == [fetched]
        here = objects_in_store(cluster.head_node.address)
        assert fetched.hex() in here
        assert left.hex() not in here
        assert {fetched.hex(), left.hex()} <= objects_in_store(far.address)

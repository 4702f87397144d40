"""The shared-memory object store: zero-copy reads, counting back to zero, spilling,
a clear error when live references pin everything, and no corruption from a killed writer."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

import kernelray as ray
from kernelray.core import context
from kernelray.exceptions import ObjectStoreFullError
from kernelray.util import state

from .conftest import assert_no_leak, local_cluster, wait_until

MB = 2**20


def store():
    core = context.core
    return core.call(core.raylet, "store_stats_request", {}).content


def wait_store_empty(timeout=10):
    wait_until(lambda: store()["used"] == 0 and store()["num_objects"] == 0, timeout, what="the store to be empty")


@pytest.fixture(scope="module")
def small_store():
    with local_cluster(num_cpus=2, object_store_memory=300 * MB) as info:
        yield info


def test_get_is_zero_copy_and_read_only(small_store):
    array = np.random.default_rng(0).random(100 * MB // 8)
    ref = ray.put(array)
    rss = psutil.Process().memory_info().rss
    out = ray.get(ref)
    assert not out.flags.writeable and not out.flags.owndata
    assert psutil.Process().memory_info().rss - rss < 20 * MB  # not a copy of 100 MB
    assert np.array_equal(out, array)
    array[0] = -1.0  # put took a snapshot: mutating the source changes nothing stored
    assert ray.get(ref)[0] != -1.0
    with pytest.raises(ValueError):
        out[0] = 1.0
    del out, ref
    wait_store_empty()


def test_view_keeps_object_pinned_after_ref_is_gone(small_store):
    view = ray.get(ray.put(np.arange(1_000_000, dtype=np.int64)))  # the ref is dropped at once
    time.sleep(0.3)
    assert store()["num_objects"] == 1  # pinned by the live view, not freed under it
    assert int(view.sum()) == sum(range(1_000_000))
    del view
    wait_store_empty()


def test_task_args_and_returns_go_through_the_store(small_store):
    @ray.remote
    def stats(x):
        return float(x.sum()), bool(x.flags.writeable)

    @ray.remote
    def make(n):
        return np.ones(n)

    big = np.ones(1_000_000)
    assert ray.get(stats.remote(big)) == (1e6, False)  # a large by-value argument is put once
    ref = make.remote(1_000_000)
    assert ray.get(stats.remote(ref)) == (1e6, False)
    assert store()["num_objects"] >= 1
    del ref
    wait_store_empty()


def test_counting_returns_to_zero(small_store):
    big = lambda v: np.full(200_000, v)  # noqa: E731 - 1.6 MB each

    @ray.remote
    def total(refs):
        return float(sum(ray.get(r).sum() for r in refs))

    @ray.remote
    def nested(refs):
        return ray.get(total.remote(refs))

    @ray.remote
    def identity(x):
        return x

    @ray.remote
    def make_inner():
        return [ray.put(big(3))]

    @ray.remote
    class Keeper:
        def keep(self, refs):
            self.refs = refs
            return len(refs)

        def total(self):
            return float(sum(ray.get(r).sum() for r in self.refs))

        def drop(self):
            self.refs = None
            return True

    r = ray.put(big(1))
    assert ray.get(total.remote([r])) == 200_000  # borrowed by a task
    assert ray.get(nested.remote([r])) == 200_000  # and by a nested task
    inner = ray.get(identity.remote([r]))[0]  # returned inside a value
    assert ray.get(inner).sum() == 200_000
    outer = ray.put([r])  # captured inside another object
    del r, inner
    time.sleep(0.2)
    assert store()["num_objects"] == 1  # the outer object still holds it
    assert ray.get(ray.get(outer)[0]).sum() == 200_000
    del outer
    wait_store_empty()

    keeper = Keeper.remote()  # borrowed by an actor beyond the call
    r = ray.put(big(2))
    assert ray.get(keeper.keep.remote([r])) == 1
    del r
    time.sleep(0.3)
    assert ray.get(keeper.total.remote()) == 400_000
    assert store()["num_objects"] == 1
    assert ray.get(keeper.drop.remote())
    wait_store_empty()

    x = ray.get(make_inner.remote())[0]  # owned by a worker, held by the driver
    assert ray.get(x).sum() == 600_000
    del x
    wait_store_empty()

    @ray.remote(num_returns="streaming")
    def stream_inner(n):
        for i in range(n):
            yield [ray.put(big(i + 1))]

    got = [ray.get(item, timeout=30)[0] for item in stream_inner.remote(3)]  # inside streamed items
    assert [ray.get(r).sum() for r in got] == [200_000, 400_000, 600_000]
    assert store()["num_objects"] == 3
    del got
    wait_store_empty()


def test_many_workers_putting_at_once(small_store):
    @ray.remote
    def producer(i):
        return [ray.put(np.full(150_000, i * 10 + k)) for k in range(5)]

    lists = ray.get([producer.remote(i) for i in range(8)])
    for i, refs in enumerate(lists):
        for k, ref in enumerate(refs):
            assert float(ray.get(ref)[0]) == i * 10 + k
    del lists, refs, ref
    wait_store_empty()


def test_writer_killed_mid_write_leaves_nothing(small_store):
    @ray.remote(max_retries=0)
    def die_while_writing():
        from kernelray.core import context as ctx
        from kernelray.core.memory_store import StoredObject
        from kernelray.object_store.client import layout_of

        core = ctx.core
        obj = StoredObject("value", b"x" * 1000, [np.ones(500_000)])
        size, layout = layout_of(obj)
        offset = core.store_client._create(core.next_put_id(), size, layout)
        core.store_client.arena.view[offset : offset + 1000] = b"y" * 1000  # half written, never sealed
        os._exit(1)

    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(die_while_writing.remote())
    wait_store_empty()


def test_memory_listing_and_cli(small_store):
    keep = ray.put(np.ones(300_000))  # noqa: F841 - the object listed
    view = ray.get(keep)
    rows = [r for r in state.list_objects() if r["object_id"] == keep.hex()]
    assert rows and rows[0]["location"] == "IN_STORE"
    assert "LOCAL_REFERENCE" in rows[0]["reference_types"] and "PINNED_IN_MEMORY" in rows[0]["reference_types"]
    assert rows[0]["call_site"].startswith(__file__)
    env = dict(os.environ, COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "kernelray.cli", "memory", "--address", small_store["address"]],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "test_object_store.py" in out.stdout and "PINNED_IN_MEMORY" in out.stdout
    out = subprocess.run([sys.executable, "-m", "kernelray.cli", "memory", "--group-by", "cell",
                          "--address", small_store["address"]], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "(not made in a notebook cell)" in out.stdout  # this test file is no notebook
    del view


def test_store_full_error_names_the_way_out(small_store):
    views = [ray.get(ray.put(np.ones(12 * MB))) for _ in range(2)]  # 2 x 96 MB pinned by live views
    held = ray.put(np.ones(10 * MB))  # 80 MB held by a ref (spillable)
    with pytest.raises(ObjectStoreFullError, match="kernelray memory"):
        ray.put(np.ones(20 * MB))  # 160 MB: more than what is not pinned
    del views, held
    wait_store_empty(20)


def test_spilling_holds_ten_times_the_store():
    if ray.is_initialized():
        ray.shutdown()
    info = ray.init(num_cpus=2, object_store_memory=100 * MB)
    sid = os.path.basename(info["session_dir"])
    try:
        refs = [ray.put(np.full(40 * MB // 8, i, dtype=np.float64)) for i in range(25)]  # 1 GB live
        st = store()
        assert st["num_spilled_now"] >= 20 and st["spill_files"] >= 1
        assert st["spill_files"] < 20  # objects are fused into files
        for i, ref in enumerate(refs):
            value = ray.get(ref)
            assert value[0] == i and value[-1] == i
            del value
        spill_dir = os.path.join(info["session_dir"], "spill")
        assert any(os.scandir(os.path.join(spill_dir, d)) for d in os.listdir(spill_dir))
        del refs, ref
        wait_store_empty()
        assert store()["spill_files"] == 0
        assert not any(os.listdir(os.path.join(spill_dir, d)) for d in os.listdir(spill_dir))
    finally:
        ray.shutdown()
        assert_no_leak(sid)


def test_shm_too_small_is_one_clear_message():
    if ray.is_initialized():
        ray.shutdown()
    with pytest.raises(RuntimeError, match="shm-size"):
        ray.init(num_cpus=1, object_store_memory=10**15)
    assert not ray.is_initialized()

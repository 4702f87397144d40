"""Ray's task API on a real local cluster: semantics checked against Ray's documentation."""

from __future__ import annotations

import threading
import time

import pytest

import kernelray as ray
from kernelray.exceptions import GetTimeoutError, RayTaskError, TaskCancelledError


@ray.remote
def add(a, b):
    return a + b


@ray.remote
def identity(x):
    return x


@ray.remote
def sleeper(s):
    time.sleep(s)
    return s


@ray.remote(num_returns=2)
def pair(x):
    return x, x + 1


@ray.remote
def fail():
    raise ValueError("raised on purpose")


def test_remote_and_get(cluster):
    assert ray.get(add.remote(1, 2)) == 3
    assert ray.get([add.remote(i, i) for i in range(10)]) == [2 * i for i in range(10)]


def test_options_and_num_returns(cluster):
    a, b = pair.remote(1)
    assert ray.get([a, b]) == [1, 2]
    x, y, z = ray.remote(lambda: (1, 2, 3)).options(num_returns=3).remote()
    assert ray.get([x, y, z]) == [1, 2, 3]
    assert ray.remote(num_returns=0)(lambda: None).remote() is None


def test_wrong_num_returns_is_an_error(cluster):
    with pytest.raises(TypeError, match="object of type 'int' has no len()"):  # Ray 2.60's error
        ray.get(list(ray.remote(num_returns=2)(lambda: 1).remote()))
    with pytest.raises(ValueError, match="Task returned 3 objects, but num_returns=2."):
        ray.get(list(ray.remote(num_returns=2)(lambda: (1, 2, 3)).remote()))


def test_object_ref_semantics(cluster):
    ref = ray.put(5)
    assert isinstance(ref, ray.ObjectRef)
    assert repr(ref) == f"ObjectRef({ref.hex()})" and len(ref.hex()) == 56
    assert {ref: 1}[ref] == 1 and ref == ray.ObjectRef(ref.binary(), ref.owner_address)
    r = add.remote(1, 1)
    assert r.task_id() == r.hex()[:48]  # object id = task id + index


def test_refs_at_top_level_are_resolved_nested_are_not(cluster):
    assert ray.get(identity.remote(ray.put(7))) == 7
    inner = ray.get(identity.remote([ray.put(7)]))[0]
    assert isinstance(inner, ray.ObjectRef) and ray.get(inner) == 7
    assert ray.get(identity.remote({"a": ray.put(3)}))["a"] != 3


def test_chained_dependencies(cluster):
    x = add.remote(0, 1)
    for _ in range(5):
        x = add.remote(x, 1)
    assert ray.get(x) == 6


def test_task_error_keeps_type_and_remote_traceback(cluster):
    with pytest.raises(ValueError) as info:
        ray.get(fail.remote())
    err = info.value
    assert isinstance(err, RayTaskError)
    assert type(err).__name__ == "RayTaskError(ValueError)"
    assert "raised on purpose" in str(err) and "in fail" in str(err)
    assert any("fail" in ln for ln in err._render_traceback_())


def test_error_propagates_through_dependencies(cluster):
    with pytest.raises(ValueError, match="raised on purpose"):
        ray.get(identity.remote(fail.remote()))


def test_get_timeout(cluster):
    with pytest.raises(GetTimeoutError) as info:
        ray.get(sleeper.remote(1.0), timeout=0.1)
    assert isinstance(info.value, TimeoutError)


def test_wait(cluster):
    slow, fast = sleeper.remote(1.5), sleeper.remote(0.0)
    ready, pending = ray.wait([slow, fast], num_returns=1, timeout=1.0)
    assert ready == [fast] and pending == [slow]
    ready, pending = ray.wait([slow], timeout=0)
    assert ready == [] and pending == [slow]
    with pytest.raises(ValueError):
        ray.wait([fast, fast])
    with pytest.raises(ValueError):
        ray.wait([fast], num_returns=2)
    with pytest.raises(TypeError):
        ray.wait(fast)


def test_nested_tasks_do_not_deadlock(cluster):
    @ray.remote
    def sub(i, j):
        return i + j

    @ray.remote
    def experiment(i):
        return sum(ray.get([sub.remote(i, j) for j in range(10)]))

    # more blocked parents than CPUs: each gives its CPU back while it waits
    assert ray.get([experiment.remote(i) for i in range(5)], timeout=60) == [45, 55, 65, 75, 85]


def test_parallelism(cluster):
    @ray.remote
    def span(s):
        start = time.time()
        time.sleep(s)
        return start, time.time()

    (s1, e1), (s2, e2) = ray.get([span.remote(0.5) for _ in range(2)], timeout=60)
    assert s1 < e2 and s2 < e1, ((s1, e1), (s2, e2))  # they ran at the same time, on the 2 CPUs


def test_cancel_running_and_queued(cluster):
    r = sleeper.remote(30)
    time.sleep(0.3)
    ray.cancel(r)
    with pytest.raises(TaskCancelledError):
        ray.get(r, timeout=10)
    blockers = [sleeper.remote(1) for _ in range(2)]
    queued = sleeper.remote(1)
    ray.cancel(queued)
    with pytest.raises(TaskCancelledError):
        ray.get(queued, timeout=10)
    ray.get(blockers)


def test_cancel_force(cluster):
    r = sleeper.remote(30)
    time.sleep(0.3)
    ray.cancel(r, force=True)
    with pytest.raises(TaskCancelledError):
        ray.get(r, timeout=10)
    assert ray.get(add.remote(1, 1)) == 2  # the cluster keeps working


def test_cancel_recursive(cluster):
    @ray.remote
    def parent():
        child = sleeper.remote(30)
        return ray.get(child)

    r = parent.remote()
    time.sleep(0.5)
    ray.cancel(r, recursive=True)
    with pytest.raises(TaskCancelledError):
        ray.get(r, timeout=10)
    ray.get([sleeper.remote(0) for _ in range(2)], timeout=10)  # the CPUs are free again


def test_streaming_generator(cluster):
    @ray.remote(num_returns="streaming")
    def gen(n):
        for i in range(n):
            yield i, time.time()
            time.sleep(0.5 if i == 0 else 0.05)

    g = gen.remote(4)
    first = next(g)
    assert ray.get(first, timeout=30)[0] == 0
    got_first = time.time()
    rest = [ray.get(r, timeout=30) for r in g]
    assert [i for i, _ in rest] == [1, 2, 3]
    assert got_first < rest[0][1]  # the first item arrived while the task was still running

    @ray.remote(num_returns="streaming")
    def bad():
        yield 1
        raise KeyError("late")

    g = bad.remote()
    assert ray.get(next(g)) == 1
    with pytest.raises(KeyError):
        ray.get(next(g))
    with pytest.raises(StopIteration):
        next(g)


def test_retry_exceptions(cluster, tmp_path):
    path = str(tmp_path / "count")

    @ray.remote(retry_exceptions=[ValueError], max_retries=2)
    def flaky():
        import os

        n = int(open(path).read()) if os.path.exists(path) else 0
        open(path, "w").write(str(n + 1))
        if n < 2:
            raise ValueError("flaky")
        return n

    assert ray.get(flaky.remote()) == 2

    @ray.remote(retry_exceptions=[KeyError], max_retries=2)
    def other():
        raise ValueError("not retried")

    with pytest.raises(ValueError):
        ray.get(other.remote())


def test_bad_input_errors(cluster):
    with pytest.raises(TypeError, match="'s' \\(position 0\\)"):
        sleeper.remote(threading.Lock())
    with pytest.raises(TypeError, match="cannot be called directly"):
        sleeper(1)
    with pytest.raises(ValueError, match="ObjectRef"):
        ray.get(5)
    with pytest.raises(ValueError, match="Invalid option keyword"):
        sleeper.options(num_cpu=1)
    with pytest.raises(TypeError):
        ray.put(ray.put(1))
    with pytest.raises(RuntimeError, match="twice"):
        ray.init()
    assert ray.init(ignore_reinit_error=True)


def test_infeasible_task_warns_and_waits(cluster, capfd):
    r = ray.remote(num_cpus=64)(lambda: 1).remote()
    deadline = time.monotonic() + 5
    err = ""
    while time.monotonic() < deadline and "infeasible" not in err:
        time.sleep(0.1)
        err += capfd.readouterr().err
    assert "requires {'CPU': 64.0}" in err
    ready, _ = ray.wait([r], timeout=0.2)
    assert ready == []
    ray.cancel(r)


def test_worker_output_is_prefixed(cluster, capfd):
    @ray.remote
    def talk():
        print("hello from a task")
        return 1

    ray.get(talk.remote())
    deadline = time.monotonic() + 5
    out = ""
    while time.monotonic() < deadline and "hello from a task" not in out:
        time.sleep(0.05)
        out += capfd.readouterr().out
    assert "(talk pid=" in out and "hello from a task" in out


def test_runtime_context_and_resources(cluster):
    ctx = ray.get_runtime_context()
    assert len(ctx.get_job_id()) == 8 and ctx.get_task_id() is None
    task_id = ray.get(ray.remote(lambda: ray.get_runtime_context().get_task_id()).remote())
    assert task_id and len(task_id) == 48
    assert ray.cluster_resources()["CPU"] == 2.0
    assert ray.is_initialized()
    assert ray.nodes()[0]["Alive"]


def test_runtime_env_env_vars(cluster):
    @ray.remote(runtime_env={"env_vars": {"KR_TEST_VAR": "yes"}})
    def read():
        import os

        return os.environ.get("KR_TEST_VAR")

    assert ray.get(read.remote()) == "yes"
    assert ray.get(ray.remote(lambda: __import__("os").environ.get("KR_TEST_VAR")).remote()) is None


def test_many_tasks(cluster):
    noop = ray.remote(lambda: None)
    assert ray.get([noop.remote() for _ in range(3000)]) == [None] * 3000

"""Ray's actor API on a real local cluster: semantics checked against Ray's documentation."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

import kernelray as ray
from kernelray.core import context
from kernelray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError, TaskCancelledError
from kernelray.util import ActorPool

from .conftest import wait_until


@ray.remote
class Counter:
    def __init__(self, start=0):
        self.n = start

    def incr(self, k=1):
        self.n += k
        return self.n

    def value(self):
        return self.n

    def pid(self):
        return os.getpid()

    def sleep(self, s):
        time.sleep(s)
        return os.getpid()


@ray.remote
class Recorder:
    def __init__(self):
        self.seen = []

    def add(self, i):
        self.seen.append(i)

    def get(self):
        return self.seen


def pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] == "Z"
    except OSError:
        return True


def gcs_actor_row(actor) -> dict:
    core = context.core
    rows = core.call(core.gcs, "list_actors_request", {}).content["actors"]
    return next(r for r in rows if r["actor_id"] == actor._actor_id.hex())


def _answers(method) -> bool:
    """Whether a call goes through (not ActorUnavailableError: this process still sees a restart)."""
    try:
        ray.get(method.remote(), timeout=30)
        return True
    except ActorUnavailableError:
        return False


def _wait_restarted(actor, restarts: int = 1) -> None:
    """Until the actor's restart is over (a call made while it restarts fails fast, as in Ray)."""
    wait_until(lambda: gcs_actor_row(actor)["num_restarts"] == restarts and gcs_actor_row(actor)["state"] == "ALIVE",
               20, what="the restart")
    wait_until(lambda: _answers(actor.__ray_ready__), 10, interval=0.1, what="the restarted actor to answer")


def raylet_workers() -> list:
    core = context.core
    return core.call(core.raylet, "get_node_info_request", {}).content["workers"]


# -- basics ------------------------------------------------------------------------------------
def test_counter_semantics(cluster):
    c = Counter.remote(10)
    assert ray.get(c.incr.remote(), timeout=30) == 11
    assert ray.get([c.incr.remote(2) for _ in range(3)], timeout=30) == [13, 15, 17]
    assert ray.get(c.value.remote()) == 17
    other = Counter.remote()
    assert ray.get(other.incr.remote()) == 1  # separate state
    assert repr(c).startswith("Actor(Counter, ") and len(c._actor_id.hex()) == 32
    assert ray.get(c.__ray_ready__.remote()) is True


def test_direct_instantiation_and_bad_use(cluster):
    with pytest.raises(TypeError, match=r"Actors cannot be instantiated directly. Instead of 'Counter\(\)', "
                                        r"use 'Counter.remote\(\)'."):
        Counter()
    c = Counter.remote()
    with pytest.raises(TypeError, match="Actor methods cannot be called directly"):
        c.incr()
    with pytest.raises(AttributeError):
        c.no_such_method
    with pytest.raises(ValueError, match="Invalid option keyword"):
        Counter.options(num_returns=2)
    with pytest.raises(ValueError, match="only supported for actors"):
        ray.kill(ray.put(1))


def test_method_num_returns(cluster):
    @ray.remote
    class Splitter:
        @ray.method(num_returns=2)
        def split(self, x):
            return x, -x

        def pair(self):
            return 1, 2

    s = Splitter.remote()
    a, b = s.split.remote(3)
    assert ray.get([a, b]) == [3, -3]
    x, y = s.pair.options(num_returns=2).remote()
    assert ray.get([x, y]) == [1, 2]


def test_method_errors_keep_the_actor(cluster):
    @ray.remote
    class Fragile:
        def boom(self):
            raise KeyError("method failed")

        def ok(self):
            return "fine"

    f = Fragile.remote()
    with pytest.raises(KeyError) as info:
        ray.get(f.boom.remote())
    assert isinstance(info.value, RayTaskError) and "Fragile.boom" in str(info.value)
    assert ray.get(f.ok.remote()) == "fine"


def test_ordering_of_10000_calls(cluster):
    r = Recorder.remote()
    ray.get(r.get.remote(), timeout=30)
    t0 = time.monotonic()
    for i in range(10_000):
        r.add.remote(i)
    seen = ray.get(r.get.remote(), timeout=60)
    elapsed = time.monotonic() - t0
    assert seen == list(range(10_000))
    print(f"10,000 ordered actor calls in {elapsed:.2f} s ({10_000 / elapsed:,.0f} calls/s)")


def test_calls_wait_for_their_object_ref_arguments(cluster):
    @ray.remote
    def slow_value(x):
        time.sleep(0.3)
        return x

    r = Recorder.remote()
    r.add.remote(slow_value.remote("first"))  # its argument is late: the next call waits for it
    r.add.remote("second")
    assert ray.get(r.get.remote(), timeout=30) == ["first", "second"]


# -- handles travel -------------------------------------------------------------------------------
def test_handles_passed_to_tasks_and_actors(cluster):
    c = Counter.remote()

    @ray.remote
    def bump(counter, times):
        return ray.get([counter.incr.remote() for _ in range(times)])[-1]

    assert ray.get(bump.remote(c, 3), timeout=30) == 3
    assert ray.get(c.incr.remote()) == 4

    @ray.remote
    class Caller:
        def __init__(self, counter):
            self.counter = counter

        def call(self):
            return ray.get(self.counter.incr.remote())

        def make_and_use(self):
            inner = Counter.remote(100)  # an actor created by an actor
            return ray.get(inner.incr.remote())

    caller = Caller.remote(c)
    assert ray.get(caller.call.remote(), timeout=30) == 5
    assert ray.get(caller.make_and_use.remote(), timeout=30) == 101
    assert ray.get(ray.get(ray.put([c]))[0].incr.remote()) == 6  # through the object store


# -- names, namespaces, lifetimes --------------------------------------------------------------------
def test_named_actor_and_get_actor(cluster):
    c = Counter.options(name="named-counter").remote(1)
    again = ray.get_actor("named-counter")
    assert again == c
    assert ray.get(again.incr.remote()) == 2
    with pytest.raises(ValueError, match="is already taken"):
        Counter.options(name="named-counter").remote()
    with pytest.raises(ValueError, match="Failed to look up actor with name 'nobody'"):
        ray.get_actor("nobody")
    ray.kill(c)
    wait_until(lambda: _lookup_fails("named-counter"), 10, what="the name to be freed")
    fresh = Counter.options(name="named-counter").remote(7)  # a dead actor's name is free again
    assert ray.get(fresh.value.remote()) == 7
    ray.kill(fresh)


def _lookup_fails(name, namespace=None) -> bool:
    try:
        ray.get_actor(name, namespace=namespace)
    except ValueError:
        return True
    return False


def test_get_if_exists(cluster):
    a = Counter.options(name="singleton", get_if_exists=True).remote(0)
    b = Counter.options(name="singleton", get_if_exists=True).remote(99)
    assert a == b
    ray.get(a.incr.remote())
    assert ray.get(b.incr.remote()) == 2
    with pytest.raises(ValueError, match="name must be specified"):
        Counter.options(get_if_exists=True).remote()
    ray.kill(a)


def test_namespaces_isolate_names(cluster):
    a = Counter.options(name="same", namespace="ns-a").remote(1)
    b = Counter.options(name="same", namespace="ns-b").remote(2)
    assert ray.get(ray.get_actor("same", namespace="ns-a").value.remote()) == 1
    assert ray.get(ray.get_actor("same", namespace="ns-b").value.remote()) == 2
    assert _lookup_fails("same")  # not in this job's namespace
    ray.kill(a)
    ray.kill(b)


def test_named_actor_from_a_second_driver(cluster, run_python):
    c = Counter.options(name="shared-counter", namespace="shared").remote(40)
    ray.get(c.value.remote())
    code, out, err = run_python(f"""
        import kernelray as ray
        ray.init(address="{cluster['address']}", namespace="shared")
        c = ray.get_actor("shared-counter")
        print("VALUE", ray.get(c.incr.remote(), timeout=30))
        ray.shutdown()
    """)
    assert code == 0, err
    assert "VALUE 41" in out
    assert ray.get(c.value.remote()) == 41


def test_detached_actor_outlives_its_driver(cluster, run_python):
    code, out, err = run_python(f"""
        import os
        import kernelray as ray
        ray.init(address="{cluster['address']}", namespace="detached-ns")

        @ray.remote
        class Keeper:
            def __init__(self):
                self.v = 41
            def bump(self):
                self.v += 1
                return self.v
            def pid(self):
                return os.getpid()

        k = Keeper.options(name="keeper", lifetime="detached").remote()
        t = Keeper.options(name="temporary").remote()
        print("VALUE", ray.get(k.bump.remote(), timeout=30), "TEMP_PID", ray.get(t.pid.remote(), timeout=30))
    """)
    assert code == 0, err
    assert "VALUE 42" in out
    temp_pid = int(out.split("TEMP_PID")[1].split()[0])
    # the driver is gone: its non-detached actor dies with it, the detached one stays
    wait_until(lambda: _lookup_fails("temporary", "detached-ns"), 15, what="the job's actor to die")
    wait_until(lambda: pid_gone(temp_pid), 10, what="the job's actor process to exit")
    keeper = ray.get_actor("keeper", namespace="detached-ns")
    assert ray.get(keeper.bump.remote(), timeout=30) == 43
    pid = ray.get(keeper.pid.remote())
    ray.kill(keeper)
    wait_until(lambda: pid_gone(pid), 10, what="the detached actor to exit")
    assert _lookup_fails("keeper", "detached-ns")


def test_temporary_handle_lives_until_its_calls_are_done(cluster):
    for i in range(20):  # the handle is garbage right after .remote(): the call still runs
        assert ray.get(Counter.remote(i).incr.remote(), timeout=30) == i + 1


def test_actor_dies_when_its_last_handle_is_dropped(cluster):
    c = Counter.remote()
    pid = ray.get(c.pid.remote())
    actor_id = c._actor_id.hex()
    ref = c.sleep.remote(0.3)  # a call in flight completes before the actor goes
    del c
    assert ray.get(ref, timeout=30) == pid
    wait_until(lambda: pid_gone(pid), 10, what="the out-of-scope actor to exit")
    core = context.core
    row = next(r for r in core.call(core.gcs, "list_actors_request", {}).content["actors"] if r["actor_id"] == actor_id)
    assert row["state"] == "DEAD" and "references to the actor were removed" in row["death_cause"]

    # a handle that went to a task and came back to nobody: once the task is done and the owner drops
    # its handle, no handle is left anywhere (Ray's rule; tests/test_actor_lifetime.py has the rest)
    passed = Counter.remote()
    assert ray.get(ray.remote(lambda h: ray.get(h.incr.remote())).remote(passed), timeout=30) == 1
    passed_pid = ray.get(passed.pid.remote())
    del passed
    wait_until(lambda: pid_gone(passed_pid), 10, what="the actor whose handle a finished task borrowed to exit")


# -- failures ------------------------------------------------------------------------------------------
def test_constructor_error_kills_the_actor(cluster):
    @ray.remote
    class Broken:
        def __init__(self):
            raise ValueError("bad init on purpose")

        def f(self):
            return 1

    b = Broken.remote()
    for _ in range(2):  # every call, including later ones
        with pytest.raises(ActorDiedError) as info:
            ray.get(b.f.remote(), timeout=30)
        msg = str(info.value)
        assert "error raised in its creation task" in msg and "bad init on purpose" in msg
        assert isinstance(info.value.cause, RayTaskError)
    assert gcs_actor_row(b)["state"] == "DEAD"


def test_sigkill_without_restart(cluster):
    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    in_flight = c.sleep.remote(10)
    time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ActorDiedError, match="worker process died"):
        ray.get(in_flight, timeout=30)
    with pytest.raises(ActorDiedError):
        ray.get(c.incr.remote(), timeout=30)
    assert isinstance(ActorDiedError(), RayActorError)


def test_sigkill_with_max_restarts(cluster):
    c = Counter.options(max_restarts=1).remote(0)
    assert ray.get(c.incr.remote(), timeout=30) == 1
    pid = ray.get(c.pid.remote())
    os.kill(pid, signal.SIGKILL)
    # once this process knows the actor restarts (the GCS's notice comes before its reply), calls made
    # while it restarts wait for the new incarnation; the state starts over
    # with max_task_retries=0 a call made while it is RESTARTING fails fast (ActorUnavailableError, as in Ray)
    wait_until(lambda: (lambda row: row["num_restarts"] == 1 and row["state"] == "ALIVE")(gcs_actor_row(c)), 10,
               what="the GCS to restart the actor")
    assert ray.get(c.incr.remote(), timeout=30) == 1
    new_pid = ray.get(c.pid.remote())
    assert new_pid != pid
    assert gcs_actor_row(c)["num_restarts"] == 1
    os.kill(new_pid, signal.SIGKILL)  # restarts used up
    with pytest.raises(ActorDiedError):
        ray.get(c.sleep.remote(5), timeout=30)


def test_max_task_retries(cluster):
    c = Counter.options(max_restarts=-1, max_task_retries=1).remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    ref = c.sleep.remote(1.0)
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    assert ray.get(ref, timeout=30) != pid  # sent again, to the restarted actor

    no_retry = Counter.options(max_restarts=1).remote()
    pid = ray.get(no_retry.pid.remote(), timeout=30)
    ref = no_retry.sleep.remote(5)
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(RayActorError) as info:  # at-most-once by default
        ray.get(ref, timeout=30)
    assert isinstance(info.value, (ActorUnavailableError, ActorDiedError))
    # the actor itself comes back (a call made while it restarts fails fast, as in Ray: wait for ALIVE)
    wait_until(lambda: gcs_actor_row(no_retry)["state"] == "ALIVE", 30, what="the actor to restart")
    wait_until(lambda: _answers(no_retry.incr), 10, interval=0.1, what="the restarted actor to answer")
    assert ray.get(no_retry.value.remote(), timeout=30) == 1

    retried = Counter.options(max_restarts=1).remote()  # a per-call override
    pid = ray.get(retried.pid.remote(), timeout=30)
    ref = retried.sleep.options(max_task_retries=2).remote(1.0)
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    assert ray.get(ref, timeout=30) != pid


def test_kill(cluster):
    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    queued = [c.sleep.remote(5), c.incr.remote()]
    time.sleep(0.2)
    ray.kill(c)
    for ref in queued:
        with pytest.raises(ActorDiedError, match="killed by `kernelray.kill`"):
            ray.get(ref, timeout=30)
    with pytest.raises(ActorDiedError):
        ray.get(c.incr.remote(), timeout=30)
    wait_until(lambda: pid_gone(pid), 10, what="the killed actor to exit")

    r = Counter.options(max_restarts=1).remote()
    pid = ray.get(r.pid.remote(), timeout=30)
    ray.kill(r, no_restart=False)  # restarts, as its max_restarts allows
    wait_until(lambda: gcs_actor_row(r)["state"] == "ALIVE" and gcs_actor_row(r)["num_restarts"] == 1, 30,
               what="the actor to restart")  # (a call made while it restarts fails fast, as in Ray)
    wait_until(lambda: _answers(r.pid), 10, interval=0.1, what="the restarted actor to answer")
    assert ray.get(r.pid.remote(), timeout=30) != pid


def test_exit_actor(cluster):
    @ray.remote(max_restarts=3)
    class Quitter:
        def pid(self):
            return os.getpid()

        def quit(self):
            ray.actor.exit_actor()

    q = Quitter.remote()
    pid = ray.get(q.pid.remote(), timeout=30)
    with pytest.raises(ActorDiedError, match="exit_actor"):
        ray.get(q.quit.remote(), timeout=30)
    with pytest.raises(ActorDiedError):  # an intended exit is never restarted
        ray.get(q.pid.remote(), timeout=30)
    wait_until(lambda: pid_gone(pid), 10, what="the exited actor's process to end")
    assert gcs_actor_row(q)["num_restarts"] == 0
    with pytest.raises(TypeError, match="non-actor"):
        ray.actor.exit_actor()


# -- concurrency -------------------------------------------------------------------------------------------
def test_threaded_actor(cluster):
    @ray.remote(max_concurrency=4)
    class Threaded:
        def work(self, s):
            time.sleep(s)
            return threading.get_ident()

    t = Threaded.remote()
    ray.get(t.work.remote(0), timeout=30)
    idents = ray.get([t.work.remote(0.5) for _ in range(4)], timeout=30)
    assert len(set(idents)) == 4


def test_default_actor_runs_one_call_at_a_time(cluster):
    c = Counter.remote()
    ray.get(c.pid.remote(), timeout=30)
    t0 = time.monotonic()
    ray.get([c.sleep.remote(0.2) for _ in range(3)], timeout=30)
    assert time.monotonic() - t0 >= 0.6


def test_async_actor_100_concurrent_calls(cluster):
    @ray.remote
    class AsyncActor:
        def __init__(self):
            self.running = 0
            self.peak = 0

        async def wait(self, s):
            self.running += 1
            self.peak = max(self.peak, self.running)
            await asyncio.sleep(s)
            self.running -= 1
            return s

        def peak_concurrency(self):
            return self.peak

    a = AsyncActor.remote()
    ray.get(a.wait.remote(0), timeout=30)
    assert ray.get([a.wait.remote(0.5) for _ in range(100)], timeout=30) == [0.5] * 100
    assert ray.get(a.peak_concurrency.remote()) == 100  # all 100 were awaiting at once

    limited = AsyncActor.options(max_concurrency=10).remote()
    ray.get([limited.wait.remote(0.05) for _ in range(30)], timeout=30)
    assert ray.get(limited.peak_concurrency.remote()) == 10


# -- ActorPool ----------------------------------------------------------------------------------------------
def test_actor_pool(cluster):
    @ray.remote
    class Doubler:
        def double(self, v):
            time.sleep(0.01 * (v % 3))
            return 2 * v

    actors = [Doubler.remote() for _ in range(2)]
    pool = ActorPool(actors)
    assert list(pool.map(lambda a, v: a.double.remote(v), range(10))) == [2 * v for v in range(10)]
    assert sorted(pool.map_unordered(lambda a, v: a.double.remote(v), range(10))) == [2 * v for v in range(10)]
    pool.submit(lambda a, v: a.double.remote(v), 1)
    pool.submit(lambda a, v: a.double.remote(v), 2)
    assert not pool.has_free()
    pool.submit(lambda a, v: a.double.remote(v), 3)  # waits for a free actor
    assert pool.has_next()
    assert [pool.get_next(), pool.get_next(), pool.get_next()] == [2, 4, 6]
    assert not pool.has_next() and pool.has_free()
    with pytest.raises(StopIteration):
        pool.get_next()
    idle = pool.pop_idle()
    assert idle in actors
    pool.push(idle)
    with pytest.raises(ValueError, match="already belongs"):
        pool.push(idle)
    pool.submit(lambda a, v: a.double.remote(v), 5)
    assert pool.get_next_unordered(timeout=30) == 10


# -- many actors, no leak -----------------------------------------------------------------------------------
def test_many_actors_created_and_dropped_leave_no_process(cluster):
    @ray.remote
    class Tiny:
        def pid(self):
            return os.getpid()

    baseline = {w["pid"] for w in raylet_workers()}
    total, batch = 1000, 100
    t0 = time.monotonic()
    pids = set()
    for _ in range(total // batch):
        actors = [Tiny.remote() for _ in range(batch)]
        pids.update(ray.get([a.pid.remote() for a in actors], timeout=60))
        del actors
    created = time.monotonic() - t0
    assert len(pids) == total
    wait_until(lambda: {w["pid"] for w in raylet_workers()} <= baseline, 60, what="every actor worker to exit")
    wait_until(lambda: all(pid_gone(p) for p in pids), 30, what="every actor process to be reaped")
    print(f"{total} actors created, called and dropped in {created:.1f} s "
          f"({total / created:.0f} actors/s); all gone after {time.monotonic() - t0:.1f} s")


# -- more of Ray's surface -------------------------------------------------------------------------------
def test_runtime_context_inside_actors(cluster):
    @ray.remote(max_restarts=1)
    class Introspect:
        def ids(self):
            ctx = ray.get_runtime_context()
            return ctx.get_actor_id(), ctx.was_current_actor_reconstructed

        def me(self):
            return ray.get_runtime_context().current_actor

        def pid(self):
            return os.getpid()

    a = Introspect.remote()
    assert ray.get(a.ids.remote(), timeout=30) == (a._actor_id.hex(), False)
    assert ray.get(a.me.remote()) == a
    os.kill(ray.get(a.pid.remote()), signal.SIGKILL)
    _wait_restarted(a)
    assert ray.get(a.ids.remote(), timeout=30) == (a._actor_id.hex(), True)
    assert ray.get_runtime_context().get_actor_id() is None


def test_actor_resources(cluster):
    def free_cpus():
        return ray.available_resources().get("CPU", 0.0)

    plain = [Counter.remote() for _ in range(3)]
    ray.get([p.pid.remote() for p in plain], timeout=30)
    wait_until(lambda: free_cpus() == 2.0, 5, what="default actors to hold no CPU")
    holder = Counter.options(num_cpus=1).remote()
    ray.get(holder.pid.remote(), timeout=30)
    wait_until(lambda: free_cpus() == 1.0, 5, what="a num_cpus=1 actor to hold its CPU")
    ray.kill(holder)
    wait_until(lambda: free_cpus() == 2.0, 5, what="the CPU to come back")


def test_infeasible_actor_warns(cluster, capfd):
    a = Counter.options(num_cpus=64).remote()
    err = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "infeasible" not in err:
        time.sleep(0.05)
        err += capfd.readouterr().err
    assert "the actor Counter requires {'CPU': 64.0}" in err
    assert gcs_actor_row(a)["state"] == "PENDING_CREATION"
    ray.kill(a)
    assert gcs_actor_row(a)["state"] == "DEAD"


def test_streaming_method(cluster):
    @ray.remote
    class Gen:
        @ray.method(num_returns="streaming")
        def count(self, n):
            for i in range(n):
                yield i

    g = Gen.remote()
    assert [ray.get(r) for r in g.count.remote(4)] == [0, 1, 2, 3]


def test_async_actor_awaits_object_refs(cluster):
    @ray.remote
    def later(x):
        time.sleep(0.1)
        return x

    @ray.remote
    class Awaiter:
        async def add_one(self, boxed):
            return await boxed[0] + 1

        async def fails(self):
            raise ValueError("async failure")

    a = Awaiter.remote()
    assert ray.get(a.add_one.remote([later.remote(41)]), timeout=30) == 42
    with pytest.raises(ValueError, match="async failure"):
        ray.get(a.fails.remote(), timeout=30)


def test_cancel_a_queued_actor_call(cluster):
    c = Counter.remote()
    ray.get(c.pid.remote(), timeout=30)
    blocker = c.sleep.remote(1.0)
    queued = c.incr.remote()
    time.sleep(0.1)
    ray.cancel(queued)
    with pytest.raises(TaskCancelledError):
        ray.get(queued, timeout=10)
    ray.get(blocker, timeout=10)
    assert ray.get(c.value.remote()) == 0  # the cancelled call never ran
    with pytest.raises(ValueError, match="force=True is not supported for actor tasks"):
        ray.cancel(c.value.remote(), force=True)


def test_list_actors_rows(cluster):
    c = Counter.options(name="listed", namespace="rows").remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    row = gcs_actor_row(c)
    assert row["class_name"] == "Counter" and row["name"] == "listed" and row["namespace"] == "rows"
    assert row["state"] == "ALIVE" and row["pid"] == pid and row["node_id"] and row["num_restarts"] == 0
    assert row["death_cause"] is None
    ray.kill(c)
    row = gcs_actor_row(c)
    assert row["state"] == "DEAD" and "kernelray.kill" in row["death_cause"]


def test_actors_die_with_their_owner_worker(cluster):
    @ray.remote
    def make_actor():
        c = Counter.remote(5)  # owned by this task's worker
        ray.get(c.value.remote())
        return [c], os.getpid()  # the handle escapes: the actor lives as long as its owner

    [c], owner_pid = ray.get(make_actor.remote(), timeout=30)
    assert ray.get(c.incr.remote(), timeout=30) == 6
    os.kill(owner_pid, signal.SIGKILL)
    wait_until(lambda: gcs_actor_row(c)["state"] == "DEAD", 10, what="the owner's death to reach the actor")
    with pytest.raises(ActorDiedError, match="owner has died"):
        ray.get(c.incr.remote(), timeout=30)


def test_exit_actor_from_threaded_and_async_actors(cluster):
    @ray.remote(max_concurrency=2)
    class ThreadedQuitter:
        def quit(self):
            ray.actor.exit_actor()

        def pid(self):
            return os.getpid()

    @ray.remote
    class AsyncQuitter:
        async def quit(self):
            ray.actor.exit_actor()

        async def pid(self):
            return os.getpid()

    for cls in (ThreadedQuitter, AsyncQuitter):
        q = cls.remote()
        pid = ray.get(q.pid.remote(), timeout=30)
        with pytest.raises(ActorDiedError, match="exit_actor"):
            ray.get(q.quit.remote(), timeout=30)
        wait_until(lambda: pid_gone(pid), 10, what=f"the {cls.__name__} process to end")


def test_sys_exit_in_a_method_is_a_crash(cluster):
    @ray.remote(max_restarts=1)
    class Exiter:
        def bye(self):
            import sys

            sys.exit(3)

        def pid(self):
            return os.getpid()

    e = Exiter.remote()
    pid = ray.get(e.pid.remote(), timeout=30)
    with pytest.raises(RayActorError):
        ray.get(e.bye.remote(), timeout=30)
    _wait_restarted(e)
    assert ray.get(e.pid.remote(), timeout=30) != pid  # restarted, as a crash is


def test_constructor_arguments_and_runtime_env(cluster):
    @ray.remote
    def fails():
        raise KeyError("no argument for you")

    c = Counter.remote(ray.put(5))  # ObjectRef arguments are resolved first
    assert ray.get(c.incr.remote(), timeout=30) == 6
    broken = Counter.remote(fails.remote())
    with pytest.raises(ActorDiedError, match="no argument for you"):
        ray.get(broken.incr.remote(), timeout=30)

    @ray.remote(runtime_env={"env_vars": {"KR_ACTOR_VAR": "set"}})
    class EnvReader:
        def read(self):
            return os.environ.get("KR_ACTOR_VAR")

    assert ray.get(EnvReader.remote().read.remote(), timeout=30) == "set"


def test_method_retry_exceptions(cluster):
    @ray.remote(max_task_retries=2)
    class Flaky:
        def __init__(self):
            self.calls = 0

        @ray.method(retry_exceptions=[ConnectionError])
        def sometimes(self):
            self.calls += 1
            if self.calls < 3:
                raise ConnectionError("try again")
            return self.calls

        def never(self):
            self.calls += 1
            raise ConnectionError("not retried: no retry_exceptions")

    f = Flaky.remote()
    assert ray.get(f.sometimes.remote(), timeout=30) == 3  # two failures, retried on the same actor
    with pytest.raises(ConnectionError):
        ray.get(f.never.remote(), timeout=30)


def test_actors_keep_borrowed_refs(cluster):
    import gc

    @ray.remote
    class Keeper:
        def keep(self, box):
            self.ref = box[0]

        def read(self):
            return ray.get(self.ref)

    @ray.remote(max_concurrency=2)
    class ThreadedKeeper(Keeper.__wrapped__):
        pass

    @ray.remote
    class AsyncKeeper:
        async def keep(self, box):
            self.ref = box[0]

        async def read(self):
            return await self.ref

    for cls in (Keeper, ThreadedKeeper, AsyncKeeper):
        k = cls.remote()
        ref = ray.put(f"kept by {cls.__name__}")
        ray.get(k.keep.remote([ref]), timeout=30)
        del ref  # the owner's last reference: the actor's borrow keeps the object
        gc.collect()
        time.sleep(0.2)
        assert ray.get(k.read.remote(), timeout=30) == f"kept by {cls.__name__}"


def test_actor_messages_are_catalogued():
    from kernelray.gcs.actor_manager import ActorManager
    from kernelray.protocol import messages

    for msg_type in ActorManager.msg_types:
        assert hasattr(ActorManager, "handle_" + msg_type)
        if msg_type.endswith("_request"):
            assert msg_type in messages.REQUESTS, msg_type
        else:
            assert msg_type in messages.NOTIFICATIONS or msg_type in messages.PARTIAL_REPLIES, msg_type
    assert "actor_state_changed" in messages.NOTIFICATIONS


def test_failed_streaming_call_does_not_block_later_calls(cluster):
    """A streaming actor call whose argument failed is finished before it is sent; the caller's queue moves on."""

    @ray.remote
    class Streamer:
        def gen(self, x):
            yield x

        def ping(self):
            return "pong"

    s = Streamer.remote()
    failed = ray.remote(lambda: 1 / 0).remote()
    g = s.gen.options(num_returns="streaming").remote(failed)
    with pytest.raises(ZeroDivisionError):
        for ref in g:
            ray.get(ref, timeout=30)
    assert ray.get(s.ping.remote(), timeout=30) == "pong"

"""Actor options that shape concurrency: ``max_pending_calls`` and ``concurrency_groups``.

Nothing here asserts on elapsed time: calls block on gates (an async actor, or a
threading.Event inside the actor) and the actors count what runs at once, so the tests
mean the same on a loaded 2-core machine.  Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import kernelray as ray
from kernelray.core import context
from kernelray.exceptions import ActorDiedError, PendingCallsLimitExceeded, RayError

from .conftest import wait_until

pytestmark = pytest.mark.timeout(120)


@ray.remote
class Gate:
    """Calls to ``wait`` block until ``open`` (an async actor: many can wait at once)."""

    def __init__(self):
        self.event = asyncio.Event()

    async def wait(self):
        await asyncio.wait_for(self.event.wait(), 60)
        return True

    async def open(self):
        self.event.set()


@ray.remote(max_pending_calls=2)
class Limited:
    def hold(self, gate):
        return ray.get(gate.wait.remote(), timeout=60)

    def fail(self):
        raise ValueError("boom")

    def echo(self, x):
        return x


def pending_slots(actor) -> int:
    sub = context.core.actor_submitter
    with sub.pending_lock:
        return len(sub.pending_calls.get(actor._actor_id.binary(), {}))


# -- max_pending_calls -----------------------------------------------------------------------------
def test_max_pending_calls_refuses_the_call_over_the_limit(cluster):
    gate = Gate.remote()
    a = Limited.remote()
    first = a.hold.remote(gate)
    second = a.echo.remote(2)
    with pytest.raises(PendingCallsLimitExceeded, match=r"max_pending_calls is 2") as info:
        a.echo.remote(3)
    assert isinstance(info.value, RayError)
    assert "Limited.echo" in str(info.value)
    with pytest.raises(PendingCallsLimitExceeded):  # a refused call took no slot
        a.echo.remote(4)
    assert pending_slots(a) == 2

    other = Limited.remote()  # the limit is per actor
    assert ray.get(other.echo.remote("other"), timeout=30) == "other"

    ray.get(gate.open.remote(), timeout=30)
    assert ray.get(first, timeout=30) is True
    third = a.echo.remote(3)  # at once after get returned: the finished call's slot is free
    assert ray.get([second, third], timeout=30) == [2, 3]
    wait_until(lambda: pending_slots(a) == 0, 10, what="every slot to be given back")


def test_failed_calls_give_their_slot_back(cluster):
    a = Limited.remote()
    for _ in range(3):  # more than the limit, one after the other
        with pytest.raises(ValueError, match="boom"):
            ray.get(a.fail.remote(), timeout=30)
    refs = [a.fail.remote(), a.fail.remote()]
    for r in refs:
        with pytest.raises(ValueError):
            ray.get(r, timeout=30)
    assert ray.get(a.echo.remote("ok"), timeout=30) == "ok"

    gate = Gate.remote()
    held = [a.hold.remote(gate), a.hold.remote(gate)]
    with pytest.raises(PendingCallsLimitExceeded):
        a.echo.remote(1)
    ray.kill(a)  # the held calls fail with ActorDiedError: their slots are free again
    for r in held:
        with pytest.raises(ActorDiedError):
            ray.get(r, timeout=30)
    with pytest.raises(ActorDiedError):  # submitted (not refused), and fails as the actor is dead
        ray.get(a.echo.remote(1), timeout=30)
    ray.get(gate.open.remote(), timeout=30)


def test_max_pending_calls_is_exact_under_concurrent_callers(cluster):
    gate = Gate.remote()
    a = Limited.options(max_pending_calls=3).remote()
    ray.get(a.echo.remote(0), timeout=30)
    accepted, refused = [], []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def caller():
        start.wait(10)
        for _ in range(5):
            try:
                ref = a.hold.remote(gate)
            except PendingCallsLimitExceeded:
                with lock:
                    refused.append(1)
            else:
                with lock:
                    accepted.append(ref)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(accepted) == 3 and len(refused) == 37
    assert pending_slots(a) == 3
    ray.get(gate.open.remote(), timeout=30)
    assert ray.get(accepted, timeout=30) == [True] * 3
    wait_until(lambda: pending_slots(a) == 0, 10, what="every slot to be given back")
    assert ray.get([a.echo.remote(i) for i in range(3)], timeout=30) == [0, 1, 2]


def test_max_pending_calls_travels_with_the_handle(cluster):
    gate = Gate.remote()
    a = Limited.options(name="limited-by-name").remote()
    assert ray.get_actor("limited-by-name")._meta.max_pending_calls == 2

    @ray.remote
    def call_three_times(actor, gate):
        refused = 0
        refs = []
        for _ in range(3):
            try:
                refs.append(actor.hold.remote(gate))
            except PendingCallsLimitExceeded:
                refused += 1
        return refused

    assert ray.get(call_three_times.remote(a, gate), timeout=60) == 1  # counted in the task's process
    ray.get(gate.open.remote(), timeout=30)
    assert ray.get(a.echo.remote("done"), timeout=30) == "done"


def test_max_pending_calls_values(cluster):
    with pytest.raises(ValueError, match="max_pending_calls"):
        Limited.options(max_pending_calls=-2)
    with pytest.raises(TypeError):
        Limited.options(max_pending_calls=1.5)
    unlimited = Limited.options(max_pending_calls=0).remote()  # 0 and -1: no limit, as in Ray
    gate = Gate.remote()
    held = [unlimited.hold.remote(gate) for _ in range(5)]
    ray.get(gate.open.remote(), timeout=30)
    assert ray.get(held, timeout=30) == [True] * 5


# -- concurrency groups: threaded actors -------------------------------------------------------------
@ray.remote(concurrency_groups={"io": 2, "compute": 1})
class Grouped:
    def __init__(self):
        self.lock = threading.Lock()
        self.running = {}
        self.peak = {}
        self.open = {"io": threading.Event(), "default": threading.Event()}

    def _run(self, group, block):
        with self.lock:
            self.running[group] = self.running.get(group, 0) + 1
            self.peak[group] = max(self.peak.get(group, 0), self.running[group])
        try:
            if block:
                assert self.open[block].wait(60), "never released"
            return threading.current_thread().name
        finally:
            with self.lock:
                self.running[group] -= 1

    @ray.method(concurrency_group="io")
    def io(self):
        return self._run("io", "io")

    @ray.method(concurrency_group="compute")
    def compute(self):
        return self._run("compute", None)

    def work(self, block=False):
        return self._run("default", "default" if block else None)

    @ray.method(concurrency_group="compute")
    def state(self):
        with self.lock:
            return dict(self.running), dict(self.peak)

    @ray.method(concurrency_group="compute")
    def release(self, group):
        self.open[group].set()


def running(actor, group) -> int:
    return ray.get(actor.state.remote(), timeout=30)[0].get(group, 0)


def test_threaded_groups_limit_each_group_and_run_independently(cluster):
    g = Grouped.remote()
    io_calls = [g.io.remote() for _ in range(5)]
    wait_until(lambda: running(g, "io") == 2, 30, what="two io calls to run")
    # io is full (2 of 2, 3 queued); the default group and "compute" still run
    assert ray.get(g.work.remote(), timeout=30).startswith("kernelray-Grouped_")
    assert "compute" in ray.get(g.compute.remote(), timeout=30)
    assert running(g, "io") == 2
    ray.get(g.release.remote("io"), timeout=30)
    names = ray.get(io_calls, timeout=30)
    assert all("-io_" in n for n in names) and len(set(names)) == 2
    assert ray.get(g.state.remote(), timeout=30)[1]["io"] == 2


def test_default_group_is_sized_by_max_concurrency(cluster):
    one = Grouped.remote()  # default group: 1 thread, as for any non-async actor
    calls = [one.work.remote(block=True) for _ in range(3)]
    wait_until(lambda: running(one, "default") == 1, 30, what="a default-group call to run")
    assert "-compute_" in ray.get(one.compute.remote(), timeout=30)  # other groups still run
    assert running(one, "default") == 1
    ray.get(one.release.remote("default"), timeout=30)
    ray.get(calls, timeout=30)
    assert ray.get(one.state.remote(), timeout=30)[1]["default"] == 1

    three = Grouped.options(max_concurrency=3).remote()
    calls = [three.work.remote(block=True) for _ in range(5)]
    wait_until(lambda: running(three, "default") == 3, 30, what="three default-group calls to run")
    ray.get(three.release.remote("default"), timeout=30)
    ray.get(calls, timeout=30)
    assert ray.get(three.state.remote(), timeout=30)[1]["default"] == 3


def test_concurrency_group_chosen_at_call_time(cluster):
    g = Grouped.remote()
    assert "-compute_" in ray.get(g.work.options(concurrency_group="compute").remote(), timeout=30)
    assert "-io_" in ray.get(g.compute.options(concurrency_group="io").remote(), timeout=30)
    assert ray.get(g.work.remote(), timeout=30).startswith("kernelray-Grouped_")  # the default again
    ray.get(g.release.remote("io"), timeout=30)  # (io calls wait for this)
    assert "-io_" in ray.get(g.io.options().remote(), timeout=30)  # the decorator's group


# -- concurrency groups: async actors ----------------------------------------------------------------
@ray.remote(concurrency_groups={"io": 2, "compute": 1})
class AsyncGrouped:
    def __init__(self):
        self.lock = threading.Lock()  # each group has its own event loop thread
        self.running = {}
        self.peak = {}
        self.open = threading.Event()

    def _enter(self, group):
        with self.lock:
            self.running[group] = self.running.get(group, 0) + 1
            self.peak[group] = max(self.peak.get(group, 0), self.running[group])

    def _leave(self, group):
        with self.lock:
            self.running[group] -= 1

    @ray.method(concurrency_group="io")
    async def io(self):
        self._enter("io")
        deadline = time.monotonic() + 60
        while not self.open.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._leave("io")
        return threading.current_thread().name

    @ray.method(concurrency_group="io")
    async def block_io_thread(self):
        self._enter("io")
        self.open.wait(60)  # blocks the io group's loop thread, not the others
        self._leave("io")

    async def wait_default(self):
        self._enter("default")
        deadline = time.monotonic() + 60
        while not self.open.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._leave("default")

    @ray.method(concurrency_group="compute")
    async def state(self):
        with self.lock:
            return dict(self.running), dict(self.peak), threading.current_thread().name

    @ray.method(concurrency_group="compute")
    def release(self):
        self.open.set()


def test_async_groups(cluster):
    a = AsyncGrouped.options(max_concurrency=3).remote()
    io_calls = [a.io.remote() for _ in range(5)]
    defaults = [a.wait_default.remote() for _ in range(5)]
    wait_until(lambda: ray.get(a.state.remote(), timeout=30)[0] == {"io": 2, "default": 3}, 30,
               what="io (2) and default (max_concurrency=3) to be full")
    ray.get(a.release.remote(), timeout=30)
    names = ray.get(io_calls, timeout=30)
    ray.get(defaults, timeout=30)
    _, peak, compute_thread = ray.get(a.state.remote(), timeout=30)
    assert peak == {"io": 2, "default": 3}
    assert len(set(names)) == 1 and names[0] != compute_thread  # one loop thread per group

    b = AsyncGrouped.remote()
    blocked = b.block_io_thread.remote()
    wait_until(lambda: ray.get(b.state.remote(), timeout=30)[0].get("io") == 1, 30, what="the io thread to block")
    ray.get(b.state.remote(), timeout=30)  # compute still answers while io's thread is blocked
    ray.get(b.release.remote(), timeout=30)
    ray.get(blocked, timeout=30)


# -- concurrency groups: mistakes --------------------------------------------------------------------
def test_unknown_concurrency_groups_are_refused(cluster):
    with pytest.raises(ValueError, match=r"'nope'.*does not define.*'io'"):
        @ray.remote(concurrency_groups={"io": 1})
        class BadMethod:
            @ray.method(concurrency_group="nope")
            def f(self):
                pass

    with pytest.raises(ValueError, match="defines no concurrency groups"):
        @ray.remote
        class NoGroups:
            @ray.method(concurrency_group="io")
            def f(self):
                pass

    g = Grouped.remote()
    with pytest.raises(ValueError, match=r"Grouped.work asks for the concurrency group 'nope'"):
        g.work.options(concurrency_group="nope").remote()
    with pytest.raises(ValueError, match="not supported in '.options"):
        Grouped.options(concurrency_groups={"x": 1})
    for bad in ({"io": 0}, {"io": "2"}, {"": 1}, {"io": True}):
        with pytest.raises(ValueError, match="concurrency_groups"):
            @ray.remote(concurrency_groups=bad)
            class BadSize:
                pass
    assert ray.get(g.work.remote(), timeout=30)  # the actor is unaffected

"""Actor lifetime across processes, as in Ray: a non-detached actor lives while any handle to it
does, in any process, and dies once the last one is gone and its calls are done.

Handles hold a ref to the actor's "dummy" object, owned by the creator, so the ordinary borrower
protocol counts handles passed to tasks and actors, stored in objects, and returned.  Handles got
with ``get_actor`` do not keep an actor alive; detached actors live until ``kill``.
"""

from __future__ import annotations

import gc
import os

import kernelray as ray
from kernelray.core import context

from .conftest import wait_until
from .test_actors import Counter, pid_gone


@ray.remote
class Progress:
    """What a task reports while it works, and when it should stop."""

    def __init__(self):
        self.n = 0
        self.stop = False

    def report(self, n):
        self.n = n
        return self.stop

    def value(self):
        return self.n

    def set_stop(self):
        self.stop = True


@ray.remote
class Holder:
    def keep(self, handle):
        self.handle = handle
        return os.getpid()

    def call(self):
        return ray.get(self.handle.incr.remote())

    def drop(self):
        self.handle = None
        gc.collect()

    def keep_named(self, name):
        self.handle = ray.get_actor(name)
        return ray.get(self.handle.incr.remote())


@ray.remote
def call_until_stopped(handle, progress):
    """Call the actor until told to stop; every call goes through the handle this task borrowed."""
    n = 0
    while True:
        n = ray.get(handle.incr.remote())
        if ray.get(progress.report.remote(n)):
            return n


def drop_and_flush():
    """Let go of handles and make sure the owner has counted the drops (they are posted to its loop)."""
    gc.collect()
    core = context.core
    core.run_in_loop(core.refs.drain)
    core.run_in_loop(lambda: None)


def out_of_scope(actor_id: str) -> bool:
    core = context.core
    rows = core.call(core.gcs, "list_actors_request", {}).content["actors"]
    row = next(r for r in rows if r["actor_id"] == actor_id)
    return row["state"] == "DEAD" and "references to the actor were removed" in row["death_cause"]


def test_a_task_using_a_handle_keeps_the_actor_until_it_ends(cluster):
    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    actor_id = c._actor_id.hex()
    progress = Progress.remote()
    task = call_until_stopped.remote(c, progress)
    wait_until(lambda: ray.get(progress.value.remote()) > 0, 30, what="the task to call the actor")
    del c  # the driver's only handle: the task's borrowed one keeps the actor
    drop_and_flush()
    seen = ray.get(progress.value.remote())
    wait_until(lambda: ray.get(progress.value.remote()) >= seen + 20, 30,
               what="the task to keep calling the actor after the driver dropped its handle")
    assert gcs_actor_row_by_id(actor_id)["state"] == "ALIVE"
    assert not pid_gone(pid)
    ray.get(progress.set_stop.remote())
    assert ray.get(task, timeout=30) >= seen + 20  # every call succeeded
    wait_until(lambda: pid_gone(pid), 15, what="the actor's process to exit once the task ended")
    assert out_of_scope(actor_id)


def test_a_handle_stored_by_an_actor_keeps_it_until_dropped(cluster):
    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    holder = Holder.remote()
    ray.get(holder.keep.remote(c), timeout=30)
    del c
    drop_and_flush()
    for expected in range(1, 21):  # the holder's handle still reaches a live actor
        assert ray.get(holder.call.remote(), timeout=30) == expected
    assert not pid_gone(pid)
    ray.get(holder.drop.remote(), timeout=30)
    wait_until(lambda: pid_gone(pid), 15, what="the actor to exit once the holder dropped its handle")
    ray.kill(holder)


def test_a_handle_stored_by_an_actor_keeps_it_until_that_actor_dies(cluster):
    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    actor_id = c._actor_id.hex()
    holder = Holder.remote()
    holder_pid = ray.get(holder.keep.remote(c), timeout=30)
    del c
    drop_and_flush()
    assert ray.get(holder.call.remote(), timeout=30) == 1
    assert gcs_actor_row_by_id(actor_id)["state"] == "ALIVE"
    ray.kill(holder)  # its borrow goes with its process
    wait_until(lambda: pid_gone(holder_pid), 15, what="the holder to exit")
    wait_until(lambda: pid_gone(pid), 15, what="the actor to exit once its only holder died")
    assert out_of_scope(actor_id)


def test_a_handle_inside_a_put_object_keeps_it_while_the_object_lives(cluster):
    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    box = ray.put({"counter": c})
    del c
    drop_and_flush()
    for expected in range(1, 11):
        handle = ray.get(box)["counter"]
        assert ray.get(handle.incr.remote(), timeout=30) == expected
        del handle
    drop_and_flush()
    assert not pid_gone(pid)
    del box  # the object and the handle inside it are gone
    wait_until(lambda: pid_gone(pid), 15, what="the actor to exit once the object was freed")


def test_a_handle_returned_from_a_task_keeps_it(cluster):
    @ray.remote
    def echo(box):
        return box

    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    ref = echo.remote([c])
    del c
    drop_and_flush()
    [back] = ray.get(ref, timeout=30)
    del ref
    drop_and_flush()
    assert ray.get(back.incr.remote(), timeout=30) == 1
    del back
    wait_until(lambda: pid_gone(pid), 15, what="the actor to exit once the returned handle was dropped")


def test_a_handle_passed_on_by_a_borrower(cluster):
    """A task borrows the handle and hands it to an actor: the owner counts that actor too."""

    @ray.remote
    def hand_over(handle, holder):
        return ray.get(holder.keep.remote(handle))

    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    holder = Holder.remote()
    ray.get(hand_over.remote(c, holder), timeout=30)
    del c
    drop_and_flush()
    for expected in range(1, 11):
        assert ray.get(holder.call.remote(), timeout=30) == expected
    assert not pid_gone(pid)
    ray.get(holder.drop.remote(), timeout=30)
    wait_until(lambda: pid_gone(pid), 15, what="the actor to exit once the last borrower dropped it")
    ray.kill(holder)


def test_a_handle_in_constructor_arguments_lives_with_that_actor(cluster):
    @ray.remote
    class User:
        def __init__(self, counter):
            self.counter = counter

        def call(self):
            return ray.get(self.counter.incr.remote())

    c = Counter.remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    user = User.remote(c)
    del c
    drop_and_flush()
    assert ray.get(user.call.remote(), timeout=30) == 1
    assert ray.get(user.call.remote(), timeout=30) == 2
    assert not pid_gone(pid)
    del user  # the user actor goes out of scope, and with it the handle it was built with
    wait_until(lambda: pid_gone(pid), 15, what="the actor to exit once the actor built with its handle died")


def test_named_actor_goes_when_its_handles_go_and_get_actor_does_not_keep_it(cluster):
    """Ray: a named (non-detached) actor is still garbage-collected when no handles exist; a handle got
    by name does not count."""
    c = Counter.options(name="lifetime-named").remote()
    pid = ray.get(c.pid.remote(), timeout=30)
    actor_id = c._actor_id.hex()
    holder = Holder.remote()
    assert ray.get(holder.keep_named.remote("lifetime-named"), timeout=30) == 1
    del c
    wait_until(lambda: pid_gone(pid), 15, what="the named actor to exit when its owner's handles are gone")
    assert out_of_scope(actor_id)
    ray.kill(holder)


def test_many_handles_passed_around_leave_no_actor(cluster):
    @ray.remote
    def touch(handles):
        return sum(ray.get([h.incr.remote() for h in handles]))

    actors = [Counter.remote() for _ in range(10)]
    pids = ray.get([a.pid.remote() for a in actors], timeout=60)
    box = ray.put(actors)
    refs = [touch.remote(actors) for _ in range(4)]
    del actors
    drop_and_flush()
    assert sum(ray.get(refs, timeout=60)) == sum(range(1, 5)) * 10
    assert not any(pid_gone(p) for p in pids)
    del refs, box
    wait_until(lambda: all(pid_gone(p) for p in pids), 30, what="every actor to exit")


def gcs_actor_row_by_id(actor_id: str) -> dict:
    core = context.core
    rows = core.call(core.gcs, "list_actors_request", {}).content["actors"]
    return next(r for r in rows if r["actor_id"] == actor_id)

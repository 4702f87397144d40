"""Actor exit and shutdown hooks, as Ray 2.60 behaves (each scenario was run on Ray first).

A graceful exit (exit_actor(), __ray_terminate__, the last handle going out of scope)
runs the actor's __ray_shutdown__ once and the process's atexit handlers; ray.kill runs
neither.  The hooks write marker files, which the tests read back.
"""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import threading
import time

import pytest

import kernelray as ray
from kernelray.core import context
from kernelray.exceptions import ActorDiedError, ActorUnavailableError

from .conftest import wait_until

pytestmark = pytest.mark.timeout(60)


def pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] == "Z"
    except OSError:
        return True


def marks(folder, tag: str) -> dict:
    """{hook: how many times it ran} for the actor tagged ``tag``."""
    found = {}
    for path in glob.glob(os.path.join(folder, tag + ".*")):
        with open(path) as f:
            found[path.rsplit(".", 1)[1]] = len(f.read())
    return found


def _mark(folder, tag, hook):
    with open(os.path.join(folder, f"{tag}.{hook}"), "a") as f:
        f.write("x")


class _Hooked:
    """An actor class body whose hooks leave marks: ``<tag>.atexit`` and ``<tag>.shutdown``."""

    def __init__(self, folder, tag):
        import atexit

        self.folder, self.tag = folder, tag
        atexit.register(_mark, folder, tag, "atexit")

    def __ray_shutdown__(self):
        _mark(self.folder, self.tag, "shutdown")

    def pid(self):
        return os.getpid()

    def quit(self):
        ray.actor.exit_actor()

    def quit_but_catch(self):
        try:
            ray.actor.exit_actor()
        except SystemExit:
            return "caught"
        return "not raised"


Hooked = ray.remote(_Hooked)


def _started(handle) -> int:
    return ray.get(handle.pid.remote(), timeout=30)


def _wait_gone(pid: int) -> None:
    wait_until(lambda: pid_gone(pid), 15, what="the actor's process to end")


def test_exit_actor_runs_ray_shutdown_and_atexit(cluster, tmp_path):
    a = Hooked.remote(str(tmp_path), "exit")
    pid = _started(a)
    with pytest.raises(ActorDiedError, match="exit_actor"):
        ray.get(a.quit.remote(), timeout=30)
    _wait_gone(pid)
    assert marks(tmp_path, "exit") == {"atexit": 1, "shutdown": 1}


def test_ray_terminate_runs_ray_shutdown_and_atexit(cluster, tmp_path):
    a = Hooked.remote(str(tmp_path), "term")
    pid = _started(a)
    with pytest.raises(ActorDiedError, match="INTENDED_USER_EXIT"):
        ray.get(a.__ray_terminate__.remote(), timeout=30)
    _wait_gone(pid)
    assert marks(tmp_path, "term") == {"atexit": 1, "shutdown": 1}


def test_out_of_scope_runs_ray_shutdown_and_atexit(cluster, tmp_path):
    a = Hooked.remote(str(tmp_path), "scope")
    pid = _started(a)
    del a
    _wait_gone(pid)
    assert marks(tmp_path, "scope") == {"atexit": 1, "shutdown": 1}


def test_kill_runs_no_hook(cluster, tmp_path):
    a = Hooked.remote(str(tmp_path), "kill")
    pid = _started(a)
    ray.kill(a)
    _wait_gone(pid)
    assert marks(tmp_path, "kill") == {}


def test_ray_shutdown_error_is_logged_and_the_exit_goes_on(cluster, tmp_path):
    @ray.remote
    class Failing(_Hooked):
        def __ray_shutdown__(self):
            super().__ray_shutdown__()
            raise ValueError("boom in shutdown")

    a = Failing.remote(str(tmp_path), "raise")
    pid = _started(a)
    with pytest.raises(ActorDiedError):
        ray.get(a.quit.remote(), timeout=30)
    _wait_gone(pid)
    assert marks(tmp_path, "raise") == {"atexit": 1, "shutdown": 1}
    logs = glob.glob(os.path.join(cluster["session_dir"], "logs", "worker-*.log"))
    texts = [open(p, errors="replace").read() for p in logs]
    logged = [t for t in texts if "Error during actor __ray_shutdown__ method" in t]
    assert logged and "ValueError: boom in shutdown" in logged[0]


def test_ray_shutdown_runs_once_when_two_calls_exit(cluster, tmp_path):
    @ray.remote(max_concurrency=2)
    class TwoQuitters(_Hooked):
        def quit_later(self, barrier_s):
            time.sleep(barrier_s)
            ray.actor.exit_actor()

    a = TwoQuitters.remote(str(tmp_path), "once")
    pid = _started(a)
    refs = [a.quit_later.remote(0.3), a.quit_later.remote(0.3)]
    for ref in refs:
        with pytest.raises(ActorDiedError):
            ray.get(ref, timeout=30)
    _wait_gone(pid)
    assert marks(tmp_path, "once") == {"atexit": 1, "shutdown": 1}


def test_exit_actor_exits_even_if_system_exit_is_caught(cluster, tmp_path):
    a = Hooked.remote(str(tmp_path), "caught")
    pid = _started(a)
    with pytest.raises(ActorDiedError, match="exit_actor"):  # Ray: no "caught" value, the actor is gone
        ray.get(a.quit_but_catch.remote(), timeout=30)
    _wait_gone(pid)
    assert marks(tmp_path, "caught") == {"atexit": 1, "shutdown": 1}


@ray.remote
class AsyncQuitter:
    async def pid(self):
        return os.getpid()

    async def quit_and_catch(self):
        try:
            ray.actor.exit_actor()
        except Exception as exc:  # noqa: BLE001 - AsyncioActorExit is an Exception, as in Ray
            return type(exc).__name__

    async def slow(self, s):
        await asyncio.sleep(s)
        return "slow done"


def test_async_exit_actor_raises_asyncio_actor_exit_and_still_exits(cluster):
    @ray.remote
    class Catcher:
        async def pid(self):
            return os.getpid()

        async def quit_and_record(self):
            try:
                ray.actor.exit_actor()
            except Exception as exc:  # noqa: BLE001
                self.caught = type(exc).__name__  # (the actor exits anyway)
                print(f"caught {type(exc).__name__} {[c.__name__ for c in type(exc).__mro__]}", flush=True)

    a = Catcher.remote()
    pid = _started(a)
    with pytest.raises(ActorDiedError, match="exit_actor"):
        ray.get(a.quit_and_record.remote(), timeout=30)
    _wait_gone(pid)
    logs = glob.glob(os.path.join(cluster["session_dir"], "logs", "worker-*.log"))
    texts = [open(p, errors="replace").read() for p in logs]
    assert any("caught AsyncioActorExit ['AsyncioActorExit', 'RayError', 'Exception'" in t for t in texts)


def test_async_exit_lets_running_calls_finish(cluster):
    a = AsyncQuitter.remote()
    pid = _started(a)
    slow = a.slow.remote(1.0)
    time.sleep(0.3)
    with pytest.raises(ActorDiedError):
        ray.get(a.quit_and_catch.remote(), timeout=30)
    assert ray.get(slow, timeout=30) == "slow done"  # as in Ray: it ran to completion before the exit
    with pytest.raises(ActorDiedError):
        ray.get(a.pid.remote(), timeout=30)
    _wait_gone(pid)


def test_call_while_restarting_fails_fast_without_task_retries(cluster, tmp_path):
    @ray.remote(max_restarts=1, max_task_retries=0)
    class SlowToRestart:
        def __init__(self, marker):
            if os.path.exists(marker):
                time.sleep(4)  # the restart takes a while
            open(marker, "w").close()

        def pid(self):
            return os.getpid()

    a = SlowToRestart.remote(str(tmp_path / "started"))
    pid = _started(a)
    os.kill(pid, signal.SIGKILL)

    def state():
        core = context.core
        rows = core.call(core.gcs, "list_actors_request", {}).content["actors"]
        return next(r for r in rows if r["actor_id"] == a._actor_id.hex())["state"]

    wait_until(lambda: state() == "RESTARTING", 10, what="the actor to be restarting")
    t0 = time.monotonic()
    with pytest.raises(ActorUnavailableError, match="The actor is restarting") as info:
        ray.get(a.pid.remote(), timeout=30)
    assert time.monotonic() - t0 < 2.0  # it did not wait for the restart (4 s)
    assert f"The actor {a._actor_id.hex()} is unavailable" in str(info.value)

    def answers():  # then the restarted actor does (once this process heard it is back)
        try:
            return ray.get(a.pid.remote(), timeout=30) != pid
        except ActorUnavailableError:
            return False

    wait_until(answers, 20, interval=0.2, what="the restarted actor to answer")


def test_async_actor_constructor_runs_on_its_event_loop(cluster):
    @ray.remote
    class Looped:
        def __init__(self):
            self.ctor_loop = id(asyncio.get_running_loop())  # Ray: the actor's default loop is running here
            self.ctor_thread = threading.current_thread().name

        async def where(self):
            return id(asyncio.get_running_loop()), threading.current_thread().name

        def ctor(self):
            return self.ctor_loop, self.ctor_thread

    a = Looped.remote()
    loop_id, thread = ray.get(a.where.remote(), timeout=30)
    assert ray.get(a.ctor.remote(), timeout=30) == (loop_id, thread)
    assert thread == "AsyncIO Thread: default"  # Ray's name for it

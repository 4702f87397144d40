"""SIGKILL the real GCS: the driver that started it brings it back, with its tables."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import kernelray
from tests.conftest import local_cluster, wait_until

pytestmark = pytest.mark.timeout(90)


@kernelray.remote
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


@kernelray.remote
def square(x):
    return x * x


def _kv_put(key, value, timeout=60):
    core = kernelray.api._driver.core
    return core.call(core.gcs, "kv_put_request", {"key": key, "value": value}, timeout=timeout).content["added"]


def _kv_get(key):
    core = kernelray.api._driver.core
    return core.call(core.gcs, "kv_get_request", {"key": key}).content["value"]


def _kill_gcs(info) -> int:
    procs = kernelray.api._driver.processes
    old = procs.supervisor.spawned.proc.pid
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: procs.supervisor.spawned.proc.pid != old, 5, what="the GCS to be restarted")
    return procs.supervisor.spawned.proc.pid


def test_named_actor_kv_and_group_survive_gcs_kill():
    with local_cluster(num_cpus=2) as info:
        c = Counter.options(name="keeper", lifetime="detached").remote()
        assert kernelray.get(c.incr.remote()) == 1
        _kv_put("k", "v")
        pg = kernelray.util.placement_group([{"CPU": 1}])
        kernelray.get(pg.ready(), timeout=10)
        _kill_gcs(info)
        again = kernelray.get_actor("keeper")
        assert kernelray.get(again.incr.remote(), timeout=10) == 2  # its state, on the same worker
        assert _kv_get("k") == "v"
        table = kernelray.util.placement_group_table(pg)
        assert table["state"] == "CREATED", table
        fresh = Counter.remote()
        assert kernelray.get(fresh.incr.remote(), timeout=20) == 1
        assert kernelray.get(square.remote(3), timeout=10) == 9
        kernelray.kill(again)


def test_call_during_outage_waits_and_succeeds():
    with local_cluster(num_cpus=2) as info:
        procs = kernelray.api._driver.processes
        procs.supervisor.stop()  # restart by hand, later, to have an outage
        procs.supervisor = None
        gcs = next(sp for sp in procs.spawned if sp.role == "gcs")
        os.kill(gcs.proc.pid, signal.SIGKILL)
        gcs.proc.wait(5)
        procs.spawned.remove(gcs)
        result = {}

        def put():
            result["added"] = _kv_put("during", "outage", timeout=5)

        t = threading.Thread(target=put)
        t.start()
        time.sleep(6.0)
        assert t.is_alive()  # waits for the GCS, past its 5 s timeout
        new = procs.spawn_gcs(info["port"])
        procs.wait_ready([new])
        t.join(20)
        assert not t.is_alive() and "added" in result
        assert _kv_get("during") == "outage"


def test_gcs_request_fails_clearly_when_gcs_stays_away(monkeypatch):
    monkeypatch.setenv("KERNELRAY_GCS_RECONNECT_TIMEOUT_S", "2")
    with local_cluster(num_cpus=1):
        procs = kernelray.api._driver.processes
        procs.supervisor.stop()
        procs.supervisor = None
        gcs = next(sp for sp in procs.spawned if sp.role == "gcs")
        os.kill(gcs.proc.pid, signal.SIGKILL)
        gcs.proc.wait(5)
        started = time.monotonic()
        with pytest.raises(kernelray.exceptions.RaySystemError, match="control store .* is unreachable"):
            _kv_put("k", "v", timeout=5)
        assert time.monotonic() - started < 8


@kernelray.remote
class Pid:
    def pid(self):
        return os.getpid()


def _outage(procs):
    """Kill the GCS and keep it down; returns a function that starts it again."""
    procs.supervisor.stop()
    procs.supervisor = None
    gcs = next(sp for sp in procs.spawned if sp.role == "gcs")
    os.kill(gcs.proc.pid, signal.SIGKILL)
    gcs.proc.wait(5)
    procs.spawned.remove(gcs)

    def bring_back(port):
        procs.wait_ready([procs.spawn_gcs(port)])

    return bring_back


@pytest.mark.parametrize("max_restarts", [1, 0])
def test_actor_dying_during_outage_restarts_or_dies_per_max_restarts(max_restarts):
    with local_cluster(num_cpus=2) as info:
        a = Pid.options(max_restarts=max_restarts).remote()
        pid = kernelray.get(a.pid.remote(), timeout=10)
        bring_back = _outage(kernelray.api._driver.processes)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        bring_back(info["port"])
        if max_restarts:
            def restarted():
                try:
                    return kernelray.get(a.pid.remote(), timeout=10) != pid
                except kernelray.exceptions.ActorUnavailableError:  # a call in the restart window, as in Ray
                    return False

            wait_until(restarted, 20, interval=0.3, what="the actor to be restarted on a new process")
        else:
            with pytest.raises(kernelray.exceptions.RayActorError):
                kernelray.get(a.pid.remote(), timeout=20)


def test_binary_kv_values_survive_gcs_kill():
    """runtime_env packages are binary KV values: they reload as bytes, not text."""
    with local_cluster(num_cpus=1) as info:
        core = kernelray.api._driver.core
        blob = bytes(range(256)) * 4
        core.call(core.gcs, "kv_put_request", {"key": "pkg", "value": None}, buffers=[blob], timeout=10)
        _kv_put("text", "plain")
        _kill_gcs(info)
        reply = core.call(core.gcs, "kv_get_request", {"key": "pkg"}, timeout=30)
        assert reply.content.get("binary") and bytes(reply.buffers[0]) == blob
        assert _kv_get("text") == "plain"

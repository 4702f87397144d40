"""Failures: killed workers, bad messages, bad addresses; nothing hangs, nothing is lost."""

from __future__ import annotations

import os
import signal
import time

import pytest
import zmq

import kernelray as ray
from kernelray.core import context
from kernelray.exceptions import WorkerCrashedError
from kernelray.protocol.session import SignedSession, recv_frames

from .conftest import wait_until


def test_killed_worker_is_retried(fresh_cluster, tmp_path):
    marker = str(tmp_path / "attempts")

    @ray.remote(max_retries=2)
    def crash_twice():
        n = int(open(marker).read()) if os.path.exists(marker) else 0
        open(marker, "w").write(str(n + 1))
        if n < 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    assert ray.get(crash_twice.remote(), timeout=30) == 2


def test_worker_crashed_error_once_retries_spent(fresh_cluster):
    @ray.remote(max_retries=1)
    def always_crash():
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(WorkerCrashedError, match="SIGKILL"):
        ray.get(always_crash.remote(), timeout=30)

    @ray.remote(max_retries=0)
    def exits():
        os._exit(3)

    with pytest.raises(WorkerCrashedError, match="code 3"):
        ray.get(exits.remote(), timeout=30)
    assert ray.get(ray.remote(lambda: 1).remote(), timeout=30) == 1  # the pool recovered


def test_worker_killed_from_outside_mid_task(fresh_cluster):
    @ray.remote(max_retries=3)
    def slow_pid():
        time.sleep(2)
        return os.getpid()

    @ray.remote
    def my_pid():
        return os.getpid()

    ref = slow_pid.remote()
    time.sleep(0.5)
    core = context.core
    info = core.call(core.raylet, "get_node_info_request", {}).content
    leased = [w for w in info["workers"] if w["state"] == "LEASED"]
    assert leased
    for w in leased:
        os.kill(w["pid"], signal.SIGKILL)
    pid = ray.get(ref, timeout=30)
    assert pid not in [w["pid"] for w in leased]  # it ran again, on another worker


def _send_forged(address: str, msg_type: str) -> None:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    SignedSession(b"not-the-cluster-key").send(sock, msg_type, {"job_id": "00000000", "key": "x", "value": "y"})
    time.sleep(0.05)
    sock.close(0)


def test_bad_signature_dropped_by_every_server(cluster):
    core = context.core
    ray.get([ray.remote(lambda: 1).remote() for _ in range(4)])

    def registered():
        return [w for w in core.call(core.raylet, "get_node_info_request", {}).content["workers"] if w["address"]]

    wait_until(lambda: registered(), 10, what="a registered worker")
    worker = registered()[0]
    targets = {
        "gcs": (cluster["gcs_address"], "kv_put_request"),
        "raylet": (cluster["raylet_address"], "request_worker_lease_request"),
        "worker": (worker["address"], "get_object_request"),
        "worker task socket": (worker["task_address"], "push_task_request"),
        "driver": (core.address, "get_object_request"),
    }
    before = core.session.dropped
    for address, msg_type in targets.values():
        _send_forged(address, msg_type)
    wait_until(lambda: core.session.dropped > before, 5, what="the driver to drop the forged message")
    # every server keeps serving
    assert ray.get(ray.remote(lambda: 42).remote(), timeout=30) == 42
    reply = core.call(core.gcs, "kv_get_request", {"key": "x"})
    assert reply.content["value"] is None  # the forged kv_put was never applied
    logs = os.path.join(cluster["session_dir"], "logs")
    wait_until(lambda: "dropped a message" in open(os.path.join(logs, "gcs.log")).read(), 5, what="the GCS log line")


def test_bad_address_is_a_clear_error():
    if ray.is_initialized():
        ray.shutdown()
    with pytest.raises(ConnectionError, match="no kernelray cluster is known"):
        ray.init(address="127.0.0.1:1")
    with pytest.raises(ValueError, match="bad address"):
        ray.init(address="not an address")
    assert not ray.is_initialized()


def test_owner_of_borrowed_ref_gone_is_an_error(fresh_cluster):
    from kernelray.exceptions import OwnerDiedError

    @ray.remote
    def make():
        return [ray.put("from a worker")]

    @ray.remote
    def die():
        os._exit(1)

    inner = ray.get(make.remote())[0]  # owned by the worker that ran make()
    assert ray.get(inner, timeout=10) == "from a worker"
    core = context.core
    info = core.call(core.raylet, "get_node_info_request", {}).content
    owner = next(w for w in info["workers"] if w["address"] == inner.owner_address)
    os.kill(owner["pid"], signal.SIGKILL)
    fresh = ray.ObjectRef(inner.binary()[:-4] + (0x80000002).to_bytes(4, "little"), inner.owner_address)
    with pytest.raises(OwnerDiedError, match="owner"):
        ray.get(fresh, timeout=15)

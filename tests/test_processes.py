"""Processes: real, recognisable, and gone when their cluster is (also after SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import time

import kernelray as ray
from kernelray import node as krnode

from .conftest import assert_no_leak, session_pids, wait_until


def _titles(pids):
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append(f.read().replace(b"\0", b" ").decode().strip())
        except OSError:
            pass
    return out


def test_processes_are_real_and_named_and_shutdown_leaves_nothing():
    if ray.is_initialized():
        ray.shutdown()
    info = ray.init(num_cpus=2)
    sid = os.path.basename(info["session_dir"])
    try:
        ray.get(ray.remote(lambda: 1).remote())

        def named():  # a worker takes its task's title while it runs, then kernelray::IDLE again
            titles = _titles(session_pids(sid))
            return (any("kernelray::gcs" in t for t in titles) and any("kernelray::raylet" in t for t in titles)
                    and any("kernelray::worker_factory" in t for t in titles)
                    and sum("kernelray::IDLE" in t for t in titles) >= 2)

        wait_until(named, 5, what=f"the processes' titles (now {_titles(session_pids(sid))})")
        mode = os.stat(krnode.connection_file(info["ip"], info["port"])).st_mode & 0o777
        assert mode == 0o600
    finally:
        t0 = time.monotonic()
        ray.shutdown()
        assert_no_leak(sid, timeout=5)
        assert time.monotonic() - t0 < 5
    assert not os.path.exists(krnode.connection_file(info["ip"], info["port"]))


def test_sigkill_of_the_driver_leaves_nothing(run_python):
    proc = run_python(
        """
        import json, os, time, kernelray as ray
        info = ray.init(num_cpus=2)
        ray.get([ray.remote(lambda: 1).remote() for _ in range(10)])
        print(json.dumps({"session": os.path.basename(info["session_dir"])}), flush=True)
        time.sleep(120)
        """,
        wait=False,
    )
    line = proc.stdout.readline()
    sid = json.loads(line)["session"]
    assert len(session_pids(sid)) >= 4
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    wait_until(lambda: not session_pids(sid), 5, what="every process of the killed driver's cluster to exit")


def test_second_driver_connects_and_its_death_is_noticed(cluster, run_python):
    code, out, err = run_python(
        f"""
        import kernelray as ray
        ray.init(address="{cluster['address']}")
        print(ray.get(ray.remote(lambda x: x * 2).remote(21)))
        print(ray.get_runtime_context().get_job_id())
        ray.shutdown()
        """
    )
    assert code == 0, err
    result, job = out.split()
    assert result == "42" and job != ray.get_runtime_context().get_job_id()
    # a second driver that is SIGKILLed: its job is marked finished and its workers are freed
    proc = run_python(
        f"""
        import time, kernelray as ray
        ray.init(address="{cluster['address']}")
        ref = ray.remote(lambda: time.sleep(60)).remote()
        print("submitted", flush=True)
        time.sleep(60)
        """,
        wait=False,
    )
    assert proc.stdout.readline().strip() == "submitted"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    core = ray.core.context.core if hasattr(ray, "core") else None
    from kernelray.core import context

    core = context.core

    def job_done():
        jobs = core.call(core.gcs, "get_all_jobs_request", {}).content["jobs"]
        return any(j["state"] != "RUNNING" and j["driver_pid"] == proc.pid for j in jobs)

    wait_until(job_done, 15, what="the GCS to notice the dead driver")
    wait_until(lambda: ray.available_resources().get("CPU", 0) == 2.0, 10, what="the dead driver's CPU to be freed")


def test_address_auto_without_cluster_is_clear(monkeypatch, tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    monkeypatch.setenv("KERNELRAY_CONNECTION_FILE", str(tmp_path / "none.json"))
    try:
        ray.init(address="auto")
    except ConnectionError as exc:
        assert "kernelray start --head" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("init(address='auto') should fail without a cluster")

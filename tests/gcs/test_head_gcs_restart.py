"""The head started by ``kernelray start --head`` restarts its GCS (gcs/keeper.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from kernelray import node as krnode
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(90)


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "kernelray.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def _gcs_pids(session_id: str) -> list:
    pids = []
    for pid, _ in krnode.session_processes(session_id):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0].strip()
        except OSError:
            continue
        if title == b"kernelray::gcs":  # the GCS itself, not its keeper (kernelray::gcs_keeper)
            pids.append(pid)
    return pids


def test_head_gcs_restarts_with_its_tables(tmp_path):
    env = dict(os.environ, KERNELRAY_TMPDIR=str(tmp_path / "root"))
    storage = str(tmp_path / "tables.sqlite3")
    port = krnode.free_port()
    r = _cli(["start", "--head", "--port", str(port), "--num-cpus", "1", "--gcs-storage", storage], env)
    assert r.returncode == 0, r.stderr + r.stdout
    info = json.load(open(os.path.join(env["KERNELRAY_TMPDIR"], "current_cluster.json")))
    sid = os.path.basename(info["session_dir"])
    driver = textwrap.dedent("""
        import sys, kernelray as ray
        ray.init(address="auto")
        core = ray.api._driver.core
        if sys.argv[1] == "put":
            core.call(core.gcs, "kv_put_request", {"key": "k", "value": "kept"})
        else:
            print(core.call(core.gcs, "kv_get_request", {"key": "k"}).content["value"])
            print(ray.get(ray.remote(lambda: 7).remote()))
        ray.shutdown()
    """)
    try:
        subprocess.run([sys.executable, "-c", driver, "put"], env=env, check=True, timeout=60)
        assert os.path.exists(storage)
        [old] = _gcs_pids(sid)
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: [p for p in _gcs_pids(sid) if p != old], 5, what="the keeper to restart the GCS")
        out = subprocess.run([sys.executable, "-c", driver, "get"], env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.stdout.split() == ["kept", "7"], out.stderr
    finally:
        _cli(["stop"], env)
    wait_until(lambda: not krnode.session_processes(sid), 10, what="stop to end everything")

"""The CLI: start a head, connect a driver, status, stop with nothing left."""

from __future__ import annotations

import os
import subprocess
import sys

from kernelray import node as krnode

from .conftest import wait_until


def run_cli(args, env, timeout=60):
    return subprocess.run([sys.executable, "-m", "kernelray.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_start_head_connect_status_stop(tmp_path, run_python):
    env = dict(os.environ, KERNELRAY_TMPDIR=str(tmp_path / "root"), COLUMNS="200")
    port = krnode.free_port()
    r = run_cli(["start", "--head", "--port", str(port), "--num-cpus", "2", "--resources", '{"Custom": 3}'], env)
    assert r.returncode == 0, r.stderr + r.stdout
    assert f"127.0.0.1:{port}" in r.stdout
    try:
        code, out, err = run_python(
            f"""
            import kernelray as ray
            ray.init(address="auto")
            print(ray.get(ray.remote(lambda: 7).remote()), ray.cluster_resources()["Custom"])
            ray.shutdown()
            """,
            env={"KERNELRAY_TMPDIR": env["KERNELRAY_TMPDIR"]},
        )
        assert code == 0, err
        assert out.split() == ["7", "3.0"]
        def idle_status():  # the ended job's worker goes within a moment (after reporting its task)
            r = run_cli(["status"], env)
            assert r.returncode == 0, r.stderr + r.stdout
            return "ALIVE" in r.stdout and "0/2" in r.stdout

        wait_until(idle_status, 10, what="status to show the head ALIVE with its 2 CPUs free")
        r = run_cli(["start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1"], env)
        assert r.returncode == 0, r.stderr + r.stdout
        r = run_cli(["status"], env)
        assert r.stdout.count("ALIVE") == 2, r.stdout
    finally:
        r = run_cli(["stop"], env)
        assert r.returncode == 0, r.stderr
    sessions = [sid for _, sid in krnode.session_processes() if os.path.isdir(os.path.join(env["KERNELRAY_TMPDIR"], sid))]
    wait_until(lambda: not [s for _, s in krnode.session_processes() if s in sessions], 5, what="stop to end everything")


def test_join_unknown_address_is_clear(tmp_path):
    env = dict(os.environ, KERNELRAY_TMPDIR=str(tmp_path / "root"))
    r = run_cli(["start", "--address", "127.0.0.1:1"], env)
    assert r.returncode == 1 and "no kernelray cluster is known" in r.stdout

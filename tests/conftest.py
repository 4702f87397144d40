"""Fixtures: real clusters behind guaranteed teardown and a leak check.

``cluster`` (module scope) is one local cluster shared by a module's tests;
``fresh_cluster`` (function scope) is for tests that break things.  After each, every
process of the session must be gone: the leak check reads KERNELRAY_SESSION from
/proc/*/environ, so a worker forked by the raylet counts too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time

import pytest

import kernelray
from kernelray import node as krnode

os.environ.setdefault("KERNELRAY_TMPDIR", f"/tmp/kernelray-test-{os.getuid()}")
krnode.ROOT = os.environ["KERNELRAY_TMPDIR"]
krnode.CLUSTERS_DIR = os.path.join(krnode.ROOT, "clusters")
krnode.CURRENT_CLUSTER = os.path.join(krnode.ROOT, "current_cluster.json")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    if not predicate():
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def session_pids(session_id: str) -> list:
    return [pid for pid, _ in krnode.session_processes(session_id)]


def assert_no_leak(session_id: str, timeout: float = 5.0) -> None:
    try:
        wait_until(lambda: not session_pids(session_id), timeout, what=f"processes of {session_id} to exit")
    except AssertionError:
        left = session_pids(session_id)
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        raise AssertionError(f"leaked processes of session {session_id}: {left}")


@contextlib.contextmanager
def local_cluster(**kwargs):
    """A local cluster, shut down and leak-checked however the block ends."""
    if kernelray.is_initialized():
        kernelray.shutdown()
    info = kernelray.init(**kwargs)
    sid = os.path.basename(info["session_dir"])
    try:
        yield info
    finally:
        kernelray.shutdown()
        assert_no_leak(sid)


@contextlib.contextmanager
def multi_node_cluster(head: dict, *nodes: dict):
    """A kernelray.cluster_utils.Cluster (head, then ``nodes``), connected; yields (cluster, handles)."""
    from kernelray.cluster_utils import Cluster

    if kernelray.is_initialized():
        kernelray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args=head)
    sid = os.path.basename(cluster.session_dir)
    try:
        handles = [cluster.add_node(**n) for n in nodes]
        cluster.connect()
        yield cluster, handles
    finally:
        cluster.shutdown()
        wait_until(lambda: not krnode.session_processes(sid), 10, what="every node's processes to exit")


@pytest.fixture(scope="module")
def cluster():
    """One 2-CPU local cluster for the module."""
    with local_cluster(num_cpus=2) as info:
        yield info


@pytest.fixture
def fresh_cluster():
    """A cluster for one test (fault tests)."""
    with local_cluster(num_cpus=2) as info:
        yield info


@pytest.fixture
def run_python():
    """Run a Python snippet in a subprocess (a second driver, a driver to SIGKILL)."""
    procs = []

    def run(code: str, wait: bool = True, timeout: float = 60, env=None):
        full_env = dict(os.environ, **(env or {}))
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=full_env)
        procs.append(proc)
        if wait:
            out, err = proc.communicate(timeout=timeout)
            return proc.returncode, out, err
        return proc

    yield run
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(5)

"""Two real addresses: a node inside its own network namespace joins a head on the host
side of a veth pair; tasks run there and objects come back across the link.

Needs root and `ip netns` (iproute2); skipped with the reason otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import kernelray as ray
from kernelray import node as krnode
from kernelray.cluster_utils import Cluster

from .conftest import wait_until


def _sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@pytest.fixture
def namespace():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (`ip netns`) to make a second network namespace")
    tag = os.getpid() % 200 + 20
    ns, host_if, ns_if = f"kr{os.getpid()}", f"krh{tag}", f"krn{tag}"
    host_ip, ns_ip = f"10.213.{tag}.1", f"10.213.{tag}.2"
    try:
        _sh("ip", "netns", "add", ns)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"this machine does not allow network namespaces: {exc.stderr.strip()}")
    try:
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _sh("ip", "link", "set", ns_if, "netns", ns)
        _sh("ip", "addr", "add", f"{host_ip}/24", "dev", host_if)
        _sh("ip", "link", "set", host_if, "up")
        _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/24", "dev", ns_if)
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, host_ip, ns_ip
    finally:
        _sh("ip", "link", "del", host_if, check=False)
        _sh("ip", "netns", "del", ns, check=False)


def test_node_in_another_namespace(namespace):
    ns, host_ip, ns_ip = namespace
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 200 * 2**20},
                      ip=host_ip)
    sid = os.path.basename(cluster.session_dir)
    try:
        joined = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "kernelray.cli", "start", "--address",
             cluster.address, "--node-ip-address", ns_ip, "--num-cpus", "1", "--resources", '{"remote": 1}',
             "--object-store-memory", str(200 * 2**20)],
            capture_output=True, text=True, timeout=60, env=dict(os.environ),
        )
        assert joined.returncode == 0, joined.stdout + joined.stderr
        cluster.connect()
        wait_until(lambda: len([n for n in ray.nodes() if n["Alive"]]) == 2, 15, what="the namespaced node")
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {host_ip, ns_ip}

        @ray.remote(resources={"remote": 1})
        def where_and_data():
            import socket

            return ray.get_runtime_context().get_node_id(), np.arange(2_000_000, dtype=np.float64)

        node_id, data = ray.get(where_and_data.remote(), timeout=60)  # 16 MB pulled over the veth link
        assert node_id != cluster.head_node.node_id and data[-1] == 1_999_999
        mine = ray.put(np.ones(500_000))
        assert ray.get(ray.remote(resources={"remote": 1})(lambda a: float(a.sum())).remote(mine), timeout=60) == 5e5
    finally:
        cluster.shutdown()
        for pid, _ in krnode.session_processes(sid):  # the node started inside the namespace, detached
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        wait_until(lambda: not krnode.session_processes(sid), 10, what="the namespaced node to stop")

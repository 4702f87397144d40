"""``Cluster``: several nodes (raylets) on one machine, as ``ray.cluster_utils.Cluster``.

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=2, resources={"TPU": 1})
    cluster.wait_for_nodes()
    kernelray.init(address=cluster.address)
    ...
    cluster.remove_node(worker)       # a node failure, as the others see it
    cluster.shutdown()

Each node is a real raylet process with its own shared-memory store, worker factory and
workers; the head also runs the GCS.  Every process dies with the process that made the
Cluster (and all of them at ``shutdown``).
"""

from __future__ import annotations

import atexit
import os
import signal
import time

from . import node as krnode


cluster_not_supported = os.name == "nt"  # as Ray's: True where Cluster is not supported


class NodeHandle:
    def __init__(self, spawned, resources: dict, head: bool):
        self._spawned = spawned
        self.node_id = spawned.info["node_id"]
        self.address = spawned.info["address"]
        self.pid = spawned.proc.pid
        self.resources = resources
        self.head = head

    def __repr__(self):
        return f"<kernelray node {self.node_id[:8]}{' head' if self.head else ''} pid={self.pid} {self.resources}>"


class Cluster:
    def __init__(self, initialize_head: bool = False, connect: bool = False, head_node_args: dict | None = None,
                 shutdown_at_exit: bool = True, ip: str = "127.0.0.1"):
        self.ip = ip
        self.session_dir = krnode.new_session_dir()
        self.key = krnode.new_key_hex()
        self.processes = krnode.ClusterProcesses(self.session_dir, self.key, ip)
        self.head_node: NodeHandle | None = None
        self.worker_nodes: list[NodeHandle] = []
        self.port = None
        self.info: dict = {}
        self._connected = False
        if shutdown_at_exit:
            atexit.register(self.shutdown)
        if not initialize_head and connect:
            raise RuntimeError("Cannot connect to uninitialized cluster.")
        if initialize_head:
            self.add_node(**(head_node_args or {}))
            if connect:
                self.connect()

    @property
    def address(self) -> str | None:
        """``ip:port`` of the head (None before the first ``add_node``, as Ray's)."""
        if self.port is None:
            return None
        return f"{self.ip}:{self.port}"

    @property
    def gcs_address(self) -> str | None:
        return self.address

    def _total(self, num_cpus, num_gpus, resources, object_store_memory) -> dict:
        from .raylet.resources import node_resources

        store = int(object_store_memory or 256 * 2**20)
        return node_resources(num_cpus, num_gpus or 0, resources, 2 * 2**30, store, self.ip)

    def add_node(self, num_cpus: int = 1, num_gpus: int = 0, resources: dict | None = None,
                 object_store_memory: int | None = None, wait: bool = True, **_ignored) -> NodeHandle:
        """Start a raylet (the first one is the head, with the GCS)."""
        total = self._total(num_cpus, num_gpus, resources, object_store_memory)
        try:
            if self.head_node is None:
                self.port = krnode.free_port(self.ip)
                gcs = self.processes.spawn_gcs(self.port)
                raylet = self.processes.spawn_raylet(f"tcp://{self.ip}:{self.port}", total, int(num_cpus), head=True)
                self.processes.wait_ready([gcs, raylet])
                self.info = {
                    "ip": self.ip, "port": self.port, "gcs_address": f"tcp://{self.ip}:{self.port}",
                    "address": self.address, "raylet_address": raylet.info["address"],
                    "node_id": raylet.info["node_id"], "session_dir": self.session_dir, "key": self.key,
                    "gcs_pid": gcs.info["pid"], "started_by_pid": os.getpid(),
                }
                krnode.write_connection_file(self.info)
                node = self.head_node = NodeHandle(raylet, total, head=True)
            else:
                raylet = self.processes.spawn_raylet(self.info["gcs_address"], total, int(num_cpus), head=False)
                self.processes.wait_ready([raylet])
                node = NodeHandle(raylet, total, head=False)
                self.worker_nodes.append(node)
        except BaseException:
            if self.head_node is None:
                self.processes.stop()
            raise
        if wait:
            self.wait_for_nodes()
        return node

    def remove_node(self, node: NodeHandle, allow_graceful: bool = True) -> None:
        """Stop a node's raylet and its workers (SIGKILL unless graceful)."""
        sig = signal.SIGTERM if allow_graceful else signal.SIGKILL
        try:
            os.killpg(node.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            node._spawned.proc.wait(5)
        except Exception:  # noqa: BLE001
            os.killpg(node.pid, signal.SIGKILL)
        if node in self.worker_nodes:
            self.worker_nodes.remove(node)
        self.processes.spawned = [sp for sp in self.processes.spawned if sp is not node._spawned]

    def list_all_nodes(self) -> list:
        return ([self.head_node] if self.head_node else []) + list(self.worker_nodes)

    def wait_for_nodes(self, timeout: float = 30.0) -> None:
        """Until the GCS lists every node added and alive."""
        import zmq

        from .protocol.session import SignedSession, recv_frames

        if self.head_node is None:
            from .exceptions import RaySystemError

            raise RaySystemError("Ray has not been started yet. Trying to use state API before ray.init() has "
                                 "been called.")
        want = {n.node_id for n in self.list_all_nodes()}
        session = SignedSession(bytes.fromhex(self.key))
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.info["gcs_address"])
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                session.send(sock, "get_all_nodes_request", {})
                if sock.poll(2000):
                    msg = session.unpack(recv_frames(sock, 0))
                    alive = {n["node_id"] for n in (msg.content.get("nodes", []) if msg else []) if n["state"] == "ALIVE"}
                    if want <= alive:
                        return
                time.sleep(0.05)
        finally:
            sock.close(0)
            ctx.term()
        raise TimeoutError(f"nodes did not all register with the GCS within {timeout} s")

    def connect(self, namespace: str | None = None):
        import kernelray

        assert self.address is not None
        assert not self._connected
        ctx = kernelray.init(address=self.address, namespace=namespace)
        self._connected = True
        return ctx

    def shutdown(self) -> None:
        import kernelray

        if self._connected and kernelray.is_initialized():
            kernelray.shutdown()
        self._connected = False
        self.processes.stop()
        if self.port is not None:
            try:
                os.unlink(krnode.connection_file(self.ip, self.port))
            except OSError:
                pass
        self.head_node = None
        self.worker_nodes = []

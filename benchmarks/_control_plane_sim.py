"""N simulated raylets against a real GCS process (see bench_control_plane.py simulate).

Each simulated raylet is a DEALER with the real signed session: it registers,
subscribes to the resource view and heartbeats every 100 ms, as raylet/server.py does;
there are no workers and no object store.  One node changes its free CPUs once; we time
until every other node has seen the change.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

import zmq

from kernelray import _process
from kernelray.node import free_port
from kernelray.protocol.session import SignedSession

HEARTBEAT_S = 0.1


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_gcs(key: str, port: int, session_dir: str) -> subprocess.Popen:
    os.makedirs(os.path.join(session_dir, "logs"), exist_ok=True)
    env = dict(os.environ, KERNELRAY_KEY=key, KERNELRAY_GCS_STORAGE="memory")
    proc = subprocess.Popen([sys.executable, "-m", "kernelray.gcs", "--port", str(port), "--session-dir", session_dir],
                            stdout=subprocess.PIPE, env=env, start_new_session=True)
    line = proc.stdout.readline().decode()
    if not line.startswith(_process.READY_PREFIX):
        proc.kill()
        raise SystemExit(f"the GCS did not start: {line!r}")
    return proc


class SimulatedNodes:
    def __init__(self, n: int, key: bytes, gcs: str):
        self.ctx = zmq.Context()
        self.sessions = []  # one per simulated raylet, as each has its own (replay checks are per receiver)
        self.socks, self.ids = [], []
        self.poller = zmq.Poller()
        self.bytes_in = 0
        self.seen: dict[int, float] = {}  # node index -> when it saw the change
        for i in range(n):
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(gcs)
            self.socks.append(s)
            self.sessions.append(SignedSession(key))
            self.ids.append(secrets.token_hex(16))
            self.poller.register(s, zmq.POLLIN)

    def info(self, i: int, cpus: float) -> dict:
        return {"node_id": self.ids[i], "address": f"tcp://127.0.0.1:{20000 + i}", "ip": "127.0.0.1",
                "resources_total": {"CPU": 8.0}, "resources_available": {"CPU": cpus}}

    def register_all(self) -> None:
        for i, s in enumerate(self.socks):
            self.sessions[i].send(s, "register_node_request", self.info(i, 8.0))
            self.sessions[i].send(s, "subscribe_request", {"channels": ["resource_view", "node_removed"]})

    def heartbeat_all(self, changed_cpus: float | None) -> None:
        for i, s in enumerate(self.socks):
            cpus = changed_cpus if (i == 0 and changed_cpus is not None) else 8.0
            self.sessions[i].send(s, "node_heartbeat", dict(self.info(i, cpus), pending=0, workers=0))

    def drain(self, timeout_ms: int, watching: bool) -> None:
        for sock, _ in self.poller.poll(timeout_ms):
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
                except zmq.Again:
                    break
                self.bytes_in += sum(len(f) for f in frames)
                if watching:
                    self._watch(sock, frames)

    def _watch(self, sock, frames) -> None:
        msg = self.sessions[self.socks.index(sock)].unpack(frames)
        if msg is None or msg.msg_type != "resource_view":
            return
        for n in msg.content.get("nodes", ()):
            if n["node_id"] == self.ids[0] and (n.get("resources_available") or {}).get("CPU") == 3.0:
                self.seen.setdefault(id(sock), time.monotonic())

    def close(self) -> None:
        self.ctx.destroy(linger=0)


def run_one(n: int, seconds: float) -> dict:
    key = secrets.token_hex(32)
    port = free_port()
    proc = _start_gcs(key, port, tempfile.mkdtemp(prefix="kr-sim-"))
    nodes = SimulatedNodes(n, bytes.fromhex(key), f"tcp://127.0.0.1:{port}")
    try:
        nodes.register_all()
        warm_until = time.monotonic() + 1.0
        while time.monotonic() < warm_until:
            nodes.heartbeat_all(None)
            nodes.drain(int(HEARTBEAT_S * 1000), False)
        cpu0, t0, nodes.bytes_in = _cpu_seconds(proc.pid), time.monotonic(), 0
        while time.monotonic() - t0 < seconds:  # idle: heartbeats only
            nodes.heartbeat_all(None)
            nodes.drain(int(HEARTBEAT_S * 1000), False)
        idle_s = time.monotonic() - t0
        cpu = (_cpu_seconds(proc.pid) - cpu0) / idle_s
        bytes_per_node_s = nodes.bytes_in / n / idle_s
        changed_at = time.monotonic()
        while len(nodes.seen) < n - 1 and time.monotonic() - changed_at < 10:
            nodes.heartbeat_all(3.0)
            nodes.drain(int(HEARTBEAT_S * 1000), True)
        spread = (max(nodes.seen.values()) - changed_at) if len(nodes.seen) >= n - 1 else float("nan")
        return {"nodes": n, "gcs_cpu": cpu, "bytes_in_per_node_s": bytes_per_node_s, "change_reaches_all_s": spread}
    finally:
        nodes.close()
        proc.kill()
        proc.wait(5)


def bench_simulate(args) -> None:
    print(f"{'nodes':>6} {'GCS CPU (cores)':>16} {'B/s into each node (idle)':>26} {'change reaches all (ms)':>24}")
    for n in (int(x) for x in args.nodes.split(",")):
        r = run_one(n, args.seconds)
        print(f"{n:6d} {r['gcs_cpu']:16.3f} {r['bytes_in_per_node_s']:26.0f} {r['change_reaches_all_s'] * 1000:24.0f}")
        print(json.dumps(r), file=sys.stderr)

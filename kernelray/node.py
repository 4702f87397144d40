"""Starting and stopping cluster processes: the head (GCS + raylet) and worker nodes.

Each server is spawned in its own session (so a notebook's Ctrl-C for the kernel's
process group never reaches it), tagged with ``KERNELRAY_SESSION``, and reports a ready
line on stdout; we wait for it with a deadline and fail fast, quoting its log, if it
exits first.  The cluster key travels in the environment and, for other drivers, in a
connection file written with ``secure_write`` (mode 0600) as Jupyter writes its own.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import _process
from .exceptions import RaySystemError

ROOT = os.environ.get("KERNELRAY_TMPDIR") or os.path.join(tempfile.gettempdir(), f"kernelray-{os.getuid()}")
CLUSTERS_DIR = os.path.join(ROOT, "clusters")
CURRENT_CLUSTER = os.path.join(ROOT, "current_cluster.json")
READY_TIMEOUT_S = 30.0


def new_session_dir() -> str:
    name = time.strftime("session_%Y-%m-%d_%H-%M-%S") + f"_{os.getpid()}_{secrets.token_hex(3)}"
    path = os.path.join(ROOT, name)
    os.makedirs(os.path.join(path, "logs"), exist_ok=True)
    return path


def free_port(ip: str = "127.0.0.1") -> int:
    """A port to listen on, below the kernel's ephemeral range when one is free there.

    A port the kernel hands out for ``bind(0)`` comes from the range it also uses for the source ports of
    outgoing connections, so between this probe and the server's own bind, or after a GCS restart on the
    same port, another process's ``connect`` can take it ("Address already in use")."""
    low = _ephemeral_low()
    for _ in range(50):
        port = secrets.randbelow(low - 20000) + 20000 if low > 21000 else 0
        with socket.socket() as s:
            try:
                s.bind((ip, port))
            except OSError:
                continue
            return s.getsockname()[1]
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def connection_file(ip: str, port: int) -> str:
    return os.path.join(CLUSTERS_DIR, f"{ip}_{port}.json")


def write_connection_file(info: dict, current: bool = False) -> str:
    """Write the cluster's address and key, readable by this user only."""
    from jupyter_core.paths import secure_write

    os.makedirs(CLUSTERS_DIR, exist_ok=True)
    path = connection_file(info["ip"], info["port"])
    with secure_write(path) as f:
        json.dump(info, f)
    if current:
        with secure_write(CURRENT_CLUSTER) as f:
            json.dump(info, f)
    return path


def read_connection_file(address: str | None) -> dict:
    """The connection info for ``address`` ("auto", "host:port", or a file path)."""
    if address in (None, "auto"):
        path = os.environ.get("KERNELRAY_CONNECTION_FILE") or CURRENT_CLUSTER
        if not os.path.exists(path):
            raise ConnectionError(
                "address='auto' found no running cluster: start one with `kernelray start --head`, "
                "or call kernelray.init() without an address to start a local one"
            )
    elif os.path.isfile(address):
        path = address
    else:
        host, port = parse_address(address)
        path = connection_file(host, port)
        if not os.path.exists(path):
            alt = connection_file("127.0.0.1", port) if host in ("localhost",) else path
            path = alt
        if not os.path.exists(path):
            raise ConnectionError(
                f"no kernelray cluster is known at {address}: no connection file {path}. "
                "Start one with `kernelray start --head`, or set KERNELRAY_CONNECTION_FILE to its file."
            )
    with open(path) as f:
        info = json.load(f)
    if not _process.pid_alive(info.get("gcs_pid", 0)) and info.get("ip") in ("127.0.0.1", "localhost"):
        raise ConnectionError(f"the cluster recorded in {path} is not running any more (GCS pid {info.get('gcs_pid')})")
    return info


def parse_address(address: str) -> tuple:
    addr = address
    for prefix in ("tcp://", "kernelray://", "ray://"):
        if addr.startswith(prefix):
            addr = addr[len(prefix):]
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"bad address {address!r}: expected 'host:port', 'auto' or None")
    return host, int(port)


class Spawned:
    def __init__(self, role: str, proc: subprocess.Popen, log_path: str):
        self.role = role
        self.proc = proc
        self.log_path = log_path
        self.info: dict = {}


class ClusterProcesses:
    """The processes this Python process started, and how to stop them."""

    def __init__(self, session_dir: str, key_hex: str, ip: str = "127.0.0.1", watch_parent: bool = True):
        self.session_dir = session_dir
        self.key_hex = key_hex
        self.ip = ip
        self.watch_parent = watch_parent
        self.spawned: list[Spawned] = []
        self.session_id = os.path.basename(session_dir)
        self.supervisor = None  # restarts the GCS when it dies (gcs/supervisor.py)

    def _spawn(self, role: str, module: str, args: list) -> Spawned:
        env = dict(os.environ)
        env["KERNELRAY_KEY"] = self.key_hex
        env["KERNELRAY_SESSION"] = self.session_id
        env.pop("KERNELRAY_ADDRESS", None)
        err_path = os.path.join(self.session_dir, "logs", f"{role}.err")
        if self.watch_parent:
            args = args + ["--parent-pid", str(os.getpid())]
        with open(err_path, "ab") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        sp = Spawned(role, proc, err_path)
        self.spawned.append(sp)
        return sp

    def spawn_gcs(self, port: int, storage: str = "") -> Spawned:
        args = ["--ip", self.ip, "--port", str(port), "--session-dir", self.session_dir]
        return self._spawn("gcs", "kernelray.gcs", args + (["--gcs-storage", storage] if storage else []))

    def spawn_gcs_keeper(self, port: int, storage: str = "") -> Spawned:
        """The head's GCS behind a keeper that restarts it (gcs/keeper.py)."""
        args = ["--ip", self.ip, "--port", str(port), "--session-dir", self.session_dir, "--gcs-storage", storage]
        return self._spawn("gcs", "kernelray.gcs.keeper", args)

    def spawn_raylet(self, gcs_address: str, total: dict, prestart: int, head: bool, port: int = 0) -> Spawned:
        args = ["--gcs-address", gcs_address, "--session-dir", self.session_dir, "--ip", self.ip,
                "--resources", json.dumps(total), "--prestart", str(prestart), "--port", str(port)]
        if head:
            args.append("--head")
        return self._spawn("raylet", "kernelray.raylet", args)

    def wait_ready(self, spawned: list, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        bufs = {}
        for sp in spawned:
            sel.register(sp.proc.stdout, selectors.EVENT_READ, sp)
            bufs[sp] = b""
        waiting = set(spawned)
        try:
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    sp = next(iter(waiting))
                    raise RaySystemError(f"the {sp.role} did not start within {timeout} s; its log: {sp.log_path}")
                for key, _ in sel.select(min(left, 0.2)):
                    sp = key.data
                    chunk = os.read(sp.proc.stdout.fileno(), 65536)
                    if not chunk:
                        sel.unregister(sp.proc.stdout)
                        sp.proc.wait(timeout=5)
                        raise RaySystemError(
                            f"the {sp.role} exited while starting (code {sp.proc.returncode}):\n{_tail(sp.log_path)}"
                        )
                    bufs[sp] += chunk
                    for line in bufs[sp].split(b"\n"):
                        text = line.decode(errors="replace")
                        if text.startswith(_process.READY_PREFIX):
                            sp.info = json.loads(text[len(_process.READY_PREFIX):])
                            waiting.discard(sp)
                            sel.unregister(sp.proc.stdout)
                            break
                for sp in list(waiting):
                    if sp.proc.poll() is not None:
                        raise RaySystemError(
                            f"the {sp.role} exited while starting (code {sp.proc.returncode}):\n{_tail(sp.log_path)}"
                        )
        finally:
            sel.close()
            for sp in spawned:
                if sp.proc.stdout is not None:
                    sp.proc.stdout.close()
                    sp.proc.stdout = None

    def pids(self) -> list:
        return [sp.proc.pid for sp in self.spawned]

    def stop(self, timeout: float = 2.0) -> None:
        """SIGTERM every server we started (each stops and reaps its own children), then
        SIGKILL whatever is left of their process groups; reap."""
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        for sp in self.spawned:
            try:
                sp.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for sp in self.spawned:
            try:
                sp.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for sp in self.spawned:
            _signal_group(sp.proc.pid, signal.SIGKILL)
            try:
                sp.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
        self.spawned.clear()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _tail(path: str, n: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def new_key_hex() -> str:
    return secrets.token_hex(32)


def session_processes(session_id: str | None = None) -> list:
    """PIDs of processes whose environment carries KERNELRAY_SESSION (all, or one session)."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"KERNELRAY_SESSION="):
                sid = item.split(b"=", 1)[1].decode()
                if session_id is None or sid == session_id:
                    found.append((int(entry), sid))
                break
    return found

"""Addresses: every socket is reachable over TCP, and over a Unix socket on its host.

Processes advertise ``tcp://ip:port`` (the cluster-wide address).  Each bound socket
also listens on ``ipc://<dir>/<ip>-<port>``; a peer on the same host that finds that
file connects there instead, which saves a third of a round trip on loopback (the
machine's floor: ipc 76-116 us, tcp 99-167 us).  The mapping is by convention, so
nothing extra travels on the wire.
"""

from __future__ import annotations

import os
import tempfile

import zmq

IPC_DIR = os.path.join(os.environ.get("KERNELRAY_TMPDIR") or os.path.join(tempfile.gettempdir(), f"kernelray-{os.getuid()}"), "s")
_USE_IPC = os.environ.get("KERNELRAY_IPC", "0") == "1"  # opt-in: no measurable gain here, see README


def ipc_path(tcp_address: str) -> str | None:
    if not tcp_address.startswith("tcp://"):
        return None
    hostport = tcp_address[6:].replace(":", "-")
    return os.path.join(IPC_DIR, hostport)


def bind(sock, ip: str, port: int | None = None) -> tuple:
    """Bind ``sock`` on TCP (given or random port) and on its ipc twin; (port, address)."""
    if port:
        sock.bind(f"tcp://{ip}:{port}")
    else:
        port = sock.bind_to_random_port(f"tcp://{ip}")
    address = f"tcp://{ip}:{port}"
    if _USE_IPC:
        path = ipc_path(address)
        try:
            os.makedirs(IPC_DIR, mode=0o700, exist_ok=True)
            if os.path.exists(path):
                os.unlink(path)  # a stale file of a dead process that had this port
            sock.bind(f"ipc://{path}")
        except (OSError, zmq.ZMQError):
            pass
    return port, address


def connect_address(address: str) -> str:
    """The fastest way to reach ``address`` from here."""
    if _USE_IPC:
        path = ipc_path(address)
        if path is not None and os.path.exists(path):
            return f"ipc://{path}"
    return address


def unlink_ipc(address: str) -> None:
    path = ipc_path(address)
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass

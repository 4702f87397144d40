"""Waiting out a GCS outage: requests to a GCS that is down wait for it to come back.

A request sent while the GCS is away stays queued in our DEALER and reaches the GCS when
it listens again (ZeroMQ reconnects by itself).  So when a GCS request times out, we ask
whether the GCS is down (its port refuses connections) rather than slow; if it is down,
we keep waiting for the reply, up to ``KERNELRAY_GCS_RECONNECT_TIMEOUT_S`` (default 60 s,
as Ray's ``gcs_rpc_server_reconnect_timeout_s``) from the first request, then fail with
an error that says the control store is unreachable.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import time

from ..exceptions import RaySystemError
from . import transport

DEFAULT_RECONNECT_TIMEOUT_S = 60.0
POLL_S = 0.25


def reconnect_timeout() -> float:
    return float(os.environ.get("KERNELRAY_GCS_RECONNECT_TIMEOUT_S", DEFAULT_RECONNECT_TIMEOUT_S))


def gcs_is_down(address: str) -> bool:
    """True if nothing listens on the GCS's TCP port (an ipc:// GCS is never judged down)."""
    url = transport.connect_address(address)
    if not url.startswith("tcp://"):
        return False
    host, _, port = url[len("tcp://"):].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        return False
    except OSError:
        return True


def wait_through_outage(fut: concurrent.futures.Future, address: str, msg_type: str, started: float):
    """The reply once the GCS answers; RaySystemError if it stays unreachable too long."""
    limit = started + reconnect_timeout()
    while True:
        left = limit - time.monotonic()
        if left <= 0:
            raise RaySystemError(
                f"the control store (GCS) at {address} is unreachable: no reply to {msg_type} within "
                f"{reconnect_timeout():.0f} s (KERNELRAY_GCS_RECONNECT_TIMEOUT_S); is the head node running?")
        try:
            return fut.result(min(POLL_S, left))
        except concurrent.futures.TimeoutError:
            continue

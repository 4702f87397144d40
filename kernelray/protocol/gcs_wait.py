"""Waiting out a GCS outage: requests to a GCS that is down wait for it to come back.

A request sent while the GCS is away stays queued in our DEALER and reaches the GCS when
it listens again (ZeroMQ reconnects by itself).  A request sent just as the GCS died can be
lost with the connection, so when a GCS request times out we look whether the GCS is
down (its port refuses connections); while it is, we keep waiting, and once it is up
again we send the request again (GCS requests are safe to repeat).  We give up after
``KERNELRAY_GCS_RECONNECT_TIMEOUT_S`` (default 60 s, as Ray's
``gcs_rpc_server_reconnect_timeout_s``) from the first request, with an error that says
the control store is unreachable.
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
MIN_TIMEOUT_S = 5.0  # shorter GCS requests (shutdown's) do not wait through an outage


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


def wait_through_outage(fut, resend, address: str, msg_type: str, started: float, timeout: float):
    """The reply once the GCS answers; RaySystemError if it stays unreachable too long.

    A request sent just as the GCS died can be lost with its connection, so the request
    is sent again (``resend()`` returns the new future) whenever the GCS is up and has not
    answered for ``timeout``; a GCS that is up and never answers fails as any peer does.
    """
    limit = started + reconnect_timeout()
    was_down = True  # the first request may have been lost: one resend even if the GCS looks up
    sent_at = started
    while True:
        down = gcs_is_down(address)
        was_down = was_down or down
        if not down and time.monotonic() - sent_at >= timeout:
            if not was_down:
                raise RaySystemError(f"no reply to {msg_type} from the GCS at {address} within {timeout} s")
            fut, sent_at, was_down = resend(), time.monotonic(), False
        left = limit - time.monotonic()
        if left <= 0:
            raise RaySystemError(
                f"the control store (GCS) at {address} is unreachable: no reply to {msg_type} within "
                f"{reconnect_timeout():.0f} s (KERNELRAY_GCS_RECONNECT_TIMEOUT_S); is the head node running?")
        try:
            return fut.result(min(POLL_S, left))
        except concurrent.futures.TimeoutError:
            continue

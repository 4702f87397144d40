"""Stopping an actor's worker gracefully (the actor went out of scope, as in Ray).

The raylet sends SIGTERM: the worker lets its running calls finish, runs the actor's
``__ray_shutdown__`` and the atexit handlers, and exits (core/actor_exit.py).  A worker
still there ``GRACEFUL_EXIT_TIMEOUT_S`` later is killed.
"""

from __future__ import annotations

import os
import signal

from ..core.actor_exit import GRACEFUL_EXIT_TIMEOUT_S

DEAD = "DEAD"


def stop_gracefully(raylet, w) -> None:
    """SIGTERM ``w`` (never leased again), SIGKILL it if it outlives the grace period."""
    w.state = DEAD  # (_on_worker_exit forgets it when it is gone)
    if not w.pid:
        return
    try:
        os.kill(w.pid, signal.SIGTERM)
    except OSError:
        return
    raylet.loop.call_later(GRACEFUL_EXIT_TIMEOUT_S, raylet._kill_if_still_there, w)

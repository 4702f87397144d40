"""Task events: every process records its tasks' state changes, the GCS keeps the table.

Owners record PENDING_ARGS_AVAIL (with the task's name), PENDING_NODE_ASSIGNMENT,
SUBMITTED_TO_WORKER (with the leased node and worker) and FINISHED/FAILED; workers record
RUNNING when a task starts and RUN_END when it returns.  Actor calls go the same way
without PENDING_NODE_ASSIGNMENT (the owner pushes them straight to the actor's worker,
as Ray does).  An actor's creation task is reported by its owner (PENDING_ARGS_AVAIL,
typed ACTOR_CREATION_TASK) and its worker (RUNNING); the GCS, which schedules it,
records the rest itself (``gcs/actor_manager.py``).  On the hot path an event is one
tuple appended to a bounded deque (no dict, no formatting); the core worker's loop thread
sends what piled up to the GCS every ``FLUSH_INTERVAL_S`` as one ``task_events_reported``
notification whose single frame is the pickled list of tuples.

Event tuples (``tid`` is the 24-byte task id, ``t`` is ``time.time()``)::

    (tid, PENDING_ARGS_AVAIL, t, attempt, name, job_id, actor_id | None, parent_task_id | None[, type])
    (tid, PENDING_NODE_ASSIGNMENT, t, attempt)
    (tid, PENDING_NODE_ASSIGNMENT, t, attempt, name, job_id, actor_id, parent)   both states at t (a
                                        task with no dependencies goes straight to the lease queue)
    (tid, SUBMITTED_TO_WORKER, t, attempt, node_id hex, worker_id hex)
    (tid, FINISHED | FAILED, t, attempt, error type | None)
    (tid, RUNNING, t, attempt)          recorded by the worker; node, worker and pid are the batch's
    (tid, RUN_END, t, attempt)
    (tid, RUNNING, t, attempt, end)     a RUNNING and the RUN_END right after it, folded at flush

``KERNELRAY_TASK_EVENTS=0`` turns recording off (``ENABLED`` is then False and nothing is
appended or sent).
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections import deque

from .task_spec import RUNNING

log = logging.getLogger("kernelray.task_events")

ENABLED = os.environ.get("KERNELRAY_TASK_EVENTS", "1").strip().lower() not in ("0", "false", "no", "off")
BUFFER_SIZE = int(os.environ.get("KERNELRAY_TASK_EVENTS_BUFFER", "100000"))
FLUSH_INTERVAL_S = 0.5
MAX_EVENTS_PER_MESSAGE = 50_000
RUN_END = "RUN_END"

_buffer: deque = deque(maxlen=BUFFER_SIZE)
record = _buffer.append  # record((tid, state, time.time(), attempt, ...)): the hot path
now = time.time
_appended_total = 0  # events sent so far, and an estimate of those dropped by the bounded buffer
dropped = 0


def pending() -> int:
    return len(_buffer)


def drain() -> list:
    """Take every buffered event (any thread; appends may go on meanwhile)."""
    buf = _buffer
    n = len(buf)
    pop = buf.popleft
    out = []
    for _ in range(n):
        try:
            out.append(pop())
        except IndexError:  # pragma: no cover - another drain raced us
            break
    return out


def flush(core) -> int:
    """Loop thread: send the buffered events to the GCS; returns how many went."""
    global dropped
    if not _buffer:
        return 0
    if len(_buffer) >= _buffer.maxlen:
        dropped += 1  # the buffer was full: older events may have been dropped
    events = drain()
    if core.mode != "driver":
        events = _fold_runs(events)
    header = {
        "node_id": core.node_id.hex(),
        "worker_id": core.worker_id.hex(),
        "pid": os.getpid(),
        "address": core.address,
        "mode": core.mode,
    }
    sent = 0
    try:
        for i in range(0, len(events), MAX_EVENTS_PER_MESSAGE):
            chunk = events[i : i + MAX_EVENTS_PER_MESSAGE]
            core.send(core.gcs, "task_events_reported", dict(header, count=len(chunk)),
                      [pickle.dumps(chunk, protocol=5)])
            sent += len(chunk)
    except Exception:  # noqa: BLE001 - losing events must never break the loop
        log.debug("could not report task events", exc_info=True)
    return sent


def _fold_runs(events: list) -> list:
    """A task's RUNNING followed at once by its RUN_END becomes one event (tid, RUNNING, t, attempt, end):
    half the events a worker sends for short tasks, the common case."""
    out = []
    append = out.append
    i, n = 0, len(events)
    while i < n:
        ev = events[i]
        if ev[1] == RUNNING and i + 1 < n:
            nxt = events[i + 1]
            if nxt[1] == RUN_END and nxt[0] == ev[0] and nxt[3] == ev[3]:
                append((ev[0], RUNNING, ev[2], ev[3], nxt[2]))
                i += 2
                continue
        append(ev)
        i += 1
    return out


def start(core) -> None:
    """Arm the periodic flush on ``core``'s loop (before or after the loop started)."""
    _buffer.clear()  # events a previous core (a cluster shut down since) left unsent belong to no task here
    if ENABLED:
        core.loop.call_every(FLUSH_INTERVAL_S, lambda: flush(core))


def flush_now(core, timeout: float = 5.0) -> None:
    """From a user thread: push this process's events to the GCS before a query."""
    if ENABLED and _buffer and core is not None:
        core.run_in_loop(lambda: flush(core), timeout=timeout)


__all__ = ["ENABLED", "RUN_END", "record", "now", "flush", "flush_now", "start", "drain", "pending"]

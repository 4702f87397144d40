"""Calls to an actor that is restarting, as Ray 2.60 treats them.

A call whose ``max_task_retries`` is 0, sent (its arguments resolved) while this process
knows the actor is RESTARTING, fails at once with ActorUnavailableError instead of waiting
for the restart (Ray's ``fail_if_actor_unreachable``, checked where Ray's
SendPendingTasks checks it).  Calls queued before the restart was heard of, and calls
that may be retried, wait and go to the restarted actor.
"""

from __future__ import annotations

from collections import deque

from ..exceptions import ActorUnavailableError

RESTARTING = "RESTARTING"


def restarting_error(actor_id: bytes) -> ActorUnavailableError:
    return ActorUnavailableError(
        f"The actor {actor_id.hex()} is unavailable: The actor is temporarily unavailable: IOError: "
        "The actor is restarting.. The task may or may not have been executed on the actor."
    )


def fail_calls_without_retries(q, fail) -> None:
    """RESTARTING: fail (``fail(spec, error)``) the queued calls that are ready and may not be retried."""
    if q.state != RESTARTING:
        return
    doomed = [s for s in q.pending if s.task_id in q.ready and s.max_retries == 0]
    if not doomed:
        return
    ids = {s.task_id for s in doomed}
    q.pending = deque(s for s in q.pending if s.task_id not in ids)
    q.ready -= ids
    for spec in doomed:
        fail(spec, restarting_error(q.actor_id))

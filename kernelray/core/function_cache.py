"""A worker's cache of the functions (and actor classes) owners pushed to it.

An owner sends a function's code once per worker, with the first task that needs it, and
afterwards only its id.  That first task can be dropped before it runs (a cancel that
overtakes the push, a retry), so the code is kept from every task that carries it, run or
not, and unpickled on first use.  Should a task still arrive for a function this worker
lacks, the worker says so (``fn_missing``) and the owner pushes it again with the code.
"""

from __future__ import annotations

import cloudpickle


class FunctionNotSent(Exception):
    """A task named a function whose code never reached this worker."""


class FunctionCache:
    def __init__(self):
        self._loaded: dict = {}  # fn_id -> the callable
        self._blobs: dict = {}  # fn_id -> its pickled code, not unpickled yet

    def clear(self) -> None:
        self._loaded.clear()
        self._blobs.clear()

    def remember(self, d: dict, frames) -> None:
        """Keep the code a task carries, even when the task itself does not run."""
        if d.get("has_fn") and d["fn_id"] not in self._loaded:
            self._blobs[d["fn_id"]] = bytes(frames[0])

    def load(self, d: dict, frames):
        """(callable, index of the task's first argument frame)."""
        fn_id = d["fn_id"]
        if d["has_fn"]:
            fn = cloudpickle.loads(frames[0])
            self._loaded[fn_id] = fn
            self._blobs.pop(fn_id, None)
            return fn, 1
        fn = self._loaded.get(fn_id)
        if fn is None:
            blob = self._blobs.get(fn_id)
            if blob is None:
                raise FunctionNotSent(f"function {d['name']} ({fn_id}) was never sent to this worker")
            fn = cloudpickle.loads(blob)  # may raise the code's own import error, each time
            self._loaded[fn_id] = fn
            del self._blobs[fn_id]
        return fn, 0


def fn_missing_result(t) -> tuple:
    """The reply asking the owner to push the task again, with the function's code."""
    r = {"task_id": t.d["task_id"], "status": "fn_missing", "returns": [], "nframes": 0}
    return (t.idents, t.lease_id, r, [])


def resend_with_function(submitter, lease, spec) -> None:
    """Owner side: the worker lacks the code of ``spec``'s function; forget we sent it and queue
    the task again (not a retry: it never ran)."""
    sent = submitter.sent_fns.get(lease.address)
    if sent is not None:
        sent.discard(spec.fn_id)
    spec.lease = None
    if spec.cancelled:
        from ..exceptions import TaskCancelledError

        submitter._fail(spec, TaskCancelledError(spec.task_id.hex()))
        return
    submitter._enqueue(spec)

"""Errors, under Ray's names.

::

    RayError
    ├── RayTaskError            a task raised; also an instance of the user's exception class
    │                           (via ``as_instanceof_cause``), carrying the remote traceback
    ├── RayActorError
    │   ├── ActorDiedError      the actor is dead (constructor raised, process died, killed)
    │   └── ActorUnavailableError  the actor is restarting or unreachable for now
    ├── WorkerCrashedError      the worker process died while running the task, retries spent
    ├── TaskCancelledError      ``cancel()`` stopped the task
    ├── TaskPlacementGroupRemoved  the task's placement group was removed (it was killed, or
    │                           never ran); never retried
    ├── GetTimeoutError         also a ``TimeoutError``: ``get(timeout=)`` ran out
    ├── ObjectLostError         no copy of the object is left
    │   └── OwnerDiedError      the process that owned the object died
    ├── ObjectStoreFullError    live references pin the whole object store
    ├── RaySystemError          kernelray itself failed (a bug, or a process vanished)
    ├── PendingCallsLimitExceeded  ``.remote()`` on an actor whose ``max_pending_calls`` are all pending
    ├── NodeDiedError           a node was lost
    ├── RuntimeEnvSetupError    a runtime_env could not be applied
    └── ... the rest of Ray 2.60's tree (AsyncioActorExit, ActorUnschedulableError, ObjectFetchTimedOutError,
        ReferenceCountingAssertionError, OutOfDiskError, CrossLanguageError, ...), same names and bases

On the wire an error is ``{status: "error", ename, evalue, traceback}`` plus, for task
errors, the pickled exception.  Every message says what happened and where to look.
"""

from __future__ import annotations

import os
import socket


class RayError(Exception):
    """Base of every kernelray error."""


class RaySystemError(RayError):
    def __init__(self, client_exc="", traceback_str: str | None = None):
        self.client_exc = client_exc
        self.traceback_str = traceback_str
        super().__init__(client_exc)

    def __str__(self):
        out = f"System error: {self.client_exc}"
        if self.traceback_str:
            out += f"\ntraceback: {self.traceback_str}"
        return out


class RayTaskError(RayError):
    """A task raised.  ``str()`` shows the remote traceback; ``cause`` is the original."""

    def __init__(self, function_name, traceback_str, cause=None, proctitle=None, pid=None, ip=None, actor_repr=None):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.proctitle = proctitle or f"kernelray::{function_name}"
        self.pid = pid if pid is not None else os.getpid()
        self.ip = ip or _local_ip()
        self.actor_repr = actor_repr
        super().__init__(function_name, traceback_str, cause)

    def __reduce__(self):
        return (
            RayTaskError,
            (self.function_name, self.traceback_str, self.cause, self.proctitle, self.pid, self.ip, self.actor_repr),
        )

    def __str__(self):
        head = f"{self.proctitle}() (pid={self.pid}, ip={self.ip}"
        if self.actor_repr:
            head += f", actor={self.actor_repr}"
        head += ")"
        body = self.traceback_str.rstrip("\n")
        return f"{head}\n{_indent(body)}" if body else head

    def _render_traceback_(self):
        """IPython shows this instead of the local frames: the remote stack, then the error."""
        name = type(self).__name__
        lines = [f"{name}: {self.proctitle}() (pid={self.pid}, ip={self.ip})"]
        lines += ["  " + ln for ln in self.traceback_str.rstrip("\n").splitlines()]
        return lines

    def as_instanceof_cause(self):
        """An exception that is both a RayTaskError and an instance of the cause's class."""
        cause = self.cause
        if cause is None:
            return self
        cause_cls = type(cause)
        if issubclass(RayTaskError, cause_cls) or isinstance(cause, RayTaskError):
            return self
        try:
            cls = _dual_class(cause_cls)
        except TypeError:  # the cause's class cannot be subclassed
            return self
        inst = cls.__new__(cls)
        inst.__dict__.update(self.__dict__)
        inst.args = (cause,) if not cause.args else cause.args
        return inst


_dual_classes: dict = {}


def _dual_class(cause_cls):
    cls = _dual_classes.get(cause_cls)
    if cls is None:
        name = f"RayTaskError({cause_cls.__name__})"

        def __getattr__(self, attr):
            if attr == "cause" or attr.startswith("__"):
                raise AttributeError(attr)
            return getattr(self.cause, attr)

        cls = type(
            name,
            (RayTaskError, cause_cls),
            {
                "__init__": lambda self, *a, **k: None,
                "__str__": RayTaskError.__str__,
                "__reduce__": RayTaskError.__reduce__,
                "__getattr__": __getattr__,
                "__module__": "kernelray.exceptions",
                "__qualname__": name,
            },
        )
        _dual_classes[cause_cls] = cls
    return cls


class RayActorError(RayError):
    def __init__(self, message: str = "The actor died unexpectedly before finishing this task.", cause=None):
        self.error_msg = message
        self.cause = cause
        super().__init__(message)

    def __str__(self):
        return self.error_msg


class ActorDiedError(RayActorError):
    pass


class ActorUnavailableError(RayActorError):
    pass


class WorkerCrashedError(RayError):
    def __init__(self, message: str = "The worker died unexpectedly while executing this task."):
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class TaskCancelledError(RayError):
    def __init__(self, task_id: str | None = None, message: str | None = None):
        self.task_id = task_id
        self.message = message
        super().__init__(task_id, message)

    def __str__(self):
        if self.message:
            return self.message
        return f"Task {self.task_id} was cancelled." if self.task_id else "This task or its dependency was cancelled."


class TaskPlacementGroupRemoved(RayError):
    """The placement group the task was to run in (or was running in) was removed.

    Removing a group kills what runs in its bundles; a task of the group still queued, or
    asked for later, fails with this too instead of waiting for resources that are gone.
    """

    def __init__(self, message: str = "The placement group corresponding to this task has been removed."):
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class ActorPlacementGroupRemoved(RayError):
    """Under Ray's name, for imports.  An actor whose group is removed is DEAD, and its calls
    raise ``ActorDiedError`` whose message names the removed group, as Ray's do."""

    def __init__(self, message: str = "The placement group corresponding to this actor has been removed."):
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class GetTimeoutError(RayError, TimeoutError):
    """``get`` timed out; also a TimeoutError, as in Ray."""


class ObjectLostError(RayError):
    def __init__(self, object_ref_hex: str = "", owner_address: str = "", call_site: str = "", reason: str = ""):
        self.object_ref_hex = object_ref_hex
        self.owner_address = owner_address
        self.call_site = call_site
        self.reason = reason
        super().__init__(object_ref_hex, owner_address, call_site, reason)

    def _base_str(self):
        return f"Failed to retrieve object {self.object_ref_hex}."

    def __str__(self):
        out = self._base_str()
        if self.reason:
            out += f" {self.reason}"
        if self.call_site:
            out += f"\nThe object was created at: {self.call_site}"
        return out


class OwnerDiedError(ObjectLostError):
    def _base_str(self):
        return (
            f"Failed to retrieve object {self.object_ref_hex}: its owner ({self.owner_address}) died, "
            "and an object is lost with its owner."
        )


class ObjectStoreFullError(RayError):
    pass


class OutOfMemoryError(RayError):
    pass


class NodeDiedError(RayError):
    pass


class RuntimeEnvSetupError(RayError):
    pass


class PlacementGroupSchedulingError(RayError):
    pass


class TaskUnschedulableError(RayError):
    """A task can never be scheduled (e.g. hard node affinity to a dead node)."""

    def __init__(self, error_message: str = ""):
        self.error_message = error_message
        super().__init__(error_message)

    def __str__(self):
        return f"The task is not schedulable: {self.error_message}"


class PendingCallsLimitExceeded(RayError):
    """An actor call was refused at ``.remote()``: this process already has the actor's
    ``max_pending_calls`` calls submitted and not finished.  Nothing was submitted."""


# --- The rest of Ray's exception tree, under Ray's names and bases (ray.exceptions, Ray 2.60) ---


class CrossLanguageError(RayError):
    """Raised from another language (kernelray runs Python only; here for imports)."""


class LocalRayletDiedError(RayError):
    def __str__(self):
        return "The task's local raylet died. Check raylet.out for more information."


class AuthenticationError(RayError):
    def __init__(self, message: str = ""):
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class UserCodeException(RayError):
    """Wraps an exception raised by user code."""


class OutOfDiskError(RayError):
    def __str__(self):
        return super().__str__() + (
            "\nThe object cannot be created because the local object store is full and the local disk's "
            "utilization is over capacity (95% by default).")


class RpcError(RayError):
    def __init__(self, message: str = "", rpc_code=None):
        self.message = message
        self.rpc_code = rpc_code
        super().__init__(message)

    def __str__(self):
        return self.message


class ObjectFetchTimedOutError(ObjectLostError):
    def __str__(self):
        return (f"{self._base_str()}\n\nFetch for object {self.object_ref_hex} timed out because no "
                "locations were found for the object. This may indicate a system-level bug.")


class ReferenceCountingAssertionError(ObjectLostError, AssertionError):
    def __str__(self):
        return (f"{self._base_str()}\n\nThe object has already been deleted by the reference counting "
                "protocol. This should not happen.")


class ObjectFreedError(ObjectLostError):
    def __str__(self):
        return (f"{self._base_str()}\n\nThe object was manually freed using the internal `free` call. "
                "Please ensure that `free` is only called once the object is no longer needed.")


class ObjectReconstructionFailedError(ObjectLostError):
    """The object is lost and cannot be made again (``reason`` says why)."""


class ObjectReconstructionFailedMaxAttemptsExceededError(ObjectReconstructionFailedError):
    """Older Ray's name (before 2.5x folded the variants into ``reason``), for old imports."""


class ObjectReconstructionFailedLineageEvictedError(ObjectReconstructionFailedError):
    """Older Ray's name (before 2.5x folded the variants into ``reason``), for old imports."""


class PlasmaObjectNotAvailable(RayError):
    """An object was not available within the given timeout."""


class AsyncioActorExit(RayError):
    """Raised when an asyncio actor intentionally exits via ``exit_actor()``."""


class ActorUnschedulableError(RayError):
    def __init__(self, error_message: str = ""):
        self.error_message = error_message
        super().__init__(error_message)

    def __str__(self):
        return f"The actor is not schedulable: {self.error_message}"


class ObjectRefStreamEndOfStreamError(RayError):
    """A streaming generator has no more ObjectRefs to read."""


class StreamingGeneratorReplayInconsistentError(RaySystemError):
    """A retried streaming generator yielded a different number of objects than before."""


class OufOfBandObjectRefSerializationException(RayError):
    """An ObjectRef was pickled out of band (Ray's spelling of the name, kept)."""


class RayChannelError(RaySystemError):
    """Compiled-graph channels (not in kernelray; here for imports)."""


class RayChannelTimeoutError(RayChannelError, TimeoutError):
    """Compiled-graph channels (not in kernelray; here for imports)."""


class RayCgraphCapacityExceeded(RaySystemError):
    """Compiled-graph channels (not in kernelray; here for imports)."""


class RayDirectTransportError(RaySystemError):
    """Ray direct transport (not in kernelray; here for imports)."""


class UnserializableException(RayError):
    def __init__(self, original_stack_trace: str = ""):
        self._original_stack_trace = original_stack_trace
        super().__init__(original_stack_trace)

    def __str__(self):
        return f"Failed to deserialize exception.\nOriginal exception:\n{self._original_stack_trace}"


class ActorAlreadyExistsError(ValueError, RayError):
    """A named actor already exists (also a ValueError, as in Ray)."""

    def __init__(self, error_message: str = ""):
        self.error_message = error_message
        super().__init__(error_message)

    def __str__(self):
        return self.error_message


class ActorHandleNotFoundError(ValueError, RayError):
    """An actor handle from an earlier session (also a ValueError, as in Ray)."""

    def __init__(self, error_message: str = ""):
        self.error_message = error_message
        super().__init__(error_message)

    def __str__(self):
        return self.error_message


# --- end of Ray's tree; other errors may follow ---


def _indent(text: str) -> str:
    return "\n".join("  " + ln for ln in text.splitlines())


_ip_cache: list = []


def _local_ip() -> str:
    if not _ip_cache:
        try:
            _ip_cache.append(socket.gethostbyname(socket.gethostname()))
        except OSError:
            _ip_cache.append("127.0.0.1")
    return _ip_cache[0]


__all__ = [
    "RayError",
    "CrossLanguageError",
    "LocalRayletDiedError",
    "AuthenticationError",
    "UserCodeException",
    "OutOfDiskError",
    "RpcError",
    "ObjectFetchTimedOutError",
    "ReferenceCountingAssertionError",
    "ObjectFreedError",
    "ObjectReconstructionFailedError",
    "ObjectReconstructionFailedMaxAttemptsExceededError",
    "ObjectReconstructionFailedLineageEvictedError",
    "PlasmaObjectNotAvailable",
    "AsyncioActorExit",
    "ActorUnschedulableError",
    "ObjectRefStreamEndOfStreamError",
    "StreamingGeneratorReplayInconsistentError",
    "OufOfBandObjectRefSerializationException",
    "RayChannelError",
    "RayChannelTimeoutError",
    "RayCgraphCapacityExceeded",
    "RayDirectTransportError",
    "UnserializableException",
    "ActorAlreadyExistsError",
    "ActorHandleNotFoundError",
    "RaySystemError",
    "RayTaskError",
    "RayActorError",
    "ActorDiedError",
    "ActorUnavailableError",
    "WorkerCrashedError",
    "TaskCancelledError",
    "TaskPlacementGroupRemoved",
    "ActorPlacementGroupRemoved",
    "GetTimeoutError",
    "ObjectLostError",
    "OwnerDiedError",
    "ObjectStoreFullError",
    "OutOfMemoryError",
    "NodeDiedError",
    "RuntimeEnvSetupError",
    "PlacementGroupSchedulingError",
    "TaskUnschedulableError",
    "PendingCallsLimitExceeded",
]


class ActorClassInheritanceException(TypeError):
    """Raised when a class is defined with an actor class as a base (Ray: ``ray.actor``)."""


__all__.append("ActorClassInheritanceException")


"""The objects a ``num_returns="dynamic"`` task yields: put by the worker running it (which owns them;
they travel to the caller inside the task's one return, like any ref returned in a value)."""

from __future__ import annotations

from ..object_ref import ObjectRef
from .serialization import serialize_error


def put_item(core, value) -> ObjectRef:
    return core.put(value)


def put_error(core, exc) -> ObjectRef:
    """An object whose get() raises ``exc`` (the error the generator raised)."""
    obj = serialize_error(exc)
    oid = core.next_put_id()
    core.store.put(oid, obj)
    core.loop.call_soon(core._put_local_from_user, oid, obj, ())
    return ObjectRef(oid, core.address)

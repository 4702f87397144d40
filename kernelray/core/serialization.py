"""Values to frames and back: cloudpickle, pickle protocol 5, out-of-band buffers.

``serialize`` returns the pickle bytes, the out-of-band buffers (numpy arrays and
anything else exposing the buffer protocol travel as separate zero-copy frames) and
the ObjectRefs found inside the value, which the reference counter must know about.
"""

from __future__ import annotations

import pickle
import threading

import cloudpickle

from .memory_store import ERROR, VALUE, StoredObject

_local = threading.local()


class SerializationError(TypeError):
    pass


def contained_refs_sink() -> list | None:
    return getattr(_local, "refs", None)


def serialize(value) -> StoredObject:
    buffers: list = []
    refs: list = []
    prev = getattr(_local, "refs", None)
    _local.refs = refs
    try:
        data = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    finally:
        _local.refs = prev
    return StoredObject(VALUE, data, [b.raw() for b in buffers], tuple(refs))


def serialize_inband(value) -> tuple:
    """(pickle bytes, contained refs) with every buffer in-band (task arguments)."""
    refs: list = []
    prev = getattr(_local, "refs", None)
    _local.refs = refs
    try:
        data = cloudpickle.dumps(value, protocol=5)
    finally:
        _local.refs = prev
    return data, refs


def serialize_error(exc: BaseException) -> StoredObject:
    try:
        data = cloudpickle.dumps(exc, protocol=5)
    except Exception:
        from ..exceptions import RaySystemError

        data = cloudpickle.dumps(RaySystemError(f"{type(exc).__name__}: {exc}"), protocol=5)
    return StoredObject(ERROR, data)


def deserialize(obj: StoredObject):
    """The Python value; raises the stored error for error objects."""
    value = pickle.loads(obj.data, buffers=obj.buffers)
    if obj.kind == ERROR:
        raise _as_raisable(value)
    return value


def load_error(obj: StoredObject) -> BaseException:
    return _as_raisable(pickle.loads(obj.data, buffers=obj.buffers))


def _as_raisable(exc):
    from ..exceptions import RayTaskError

    if isinstance(exc, RayTaskError):
        return exc.as_instanceof_cause()
    return exc


def export_code(obj, what: str, qualname: str, hint: str) -> tuple:
    """(id, blob): a function or class pickled by value once, named by its content's hash."""
    import hashlib

    try:
        blob = cloudpickle.dumps(obj, protocol=5)
    except Exception as exc:
        raise TypeError(f"Could not serialize the {what} {qualname}: {type(exc).__name__}: {exc}. {hint}") from exc
    return hashlib.sha1(blob).hexdigest()[:24], blob


def describe_unpicklable(value, where: str) -> str:
    """Name the part of ``value`` that fails to pickle, for an error message."""
    try:
        cloudpickle.dumps(value)
    except Exception as exc:  # noqa: BLE001
        return f"{where} could not be serialized: {type(exc).__name__}: {exc}"
    return f"{where} could not be serialized"


def frames_of(obj: StoredObject) -> list:
    return [obj.data, *obj.buffers]


def stored_from_frames(kind: str, frames: list) -> StoredObject:
    data = frames[0]
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    return StoredObject(kind, data, frames[1:])

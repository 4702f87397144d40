"""Identifiers, laid out as Ray lays them out.

========  =====  ==========================================================
JobID       4 B  assigned by the GCS, counting from 1
ActorID    16 B  12 unique bytes + JobID
TaskID     24 B  8 unique bytes + ActorID (12 x ff + JobID for normal tasks)
ObjectID   28 B  TaskID + 4-byte little-endian index: 1..n for a task's returns,
                 0x8000_0001.. for ``put`` objects made while that task ran
========  =====  ==========================================================

The unique part of a TaskID is 4 bytes of the submitting process (random per process)
and a 4-byte counter, so IDs are cheap to make and never collide within a cluster run.
"""

from __future__ import annotations

import itertools
import os
import struct

NIL_ACTOR_UNIQUE = b"\xff" * 12
PUT_INDEX_BASE = 0x8000_0000
_pack_index = struct.Struct("<I").pack
_unpack_index = struct.Struct("<I").unpack

_process_prefix = os.urandom(4)
_counter = itertools.count(1)
_pack_counter = struct.Struct("<I").pack


def reset_after_fork() -> None:
    global _process_prefix, _counter
    _process_prefix = os.urandom(4)
    _counter = itertools.count(1)


def job_id_bytes(job_int: int) -> bytes:
    return struct.pack("<I", job_int)


def new_task_id(job_id: bytes, actor_id: bytes | None = None) -> bytes:
    actor = actor_id if actor_id is not None else NIL_ACTOR_UNIQUE + job_id
    return _process_prefix + _pack_counter(next(_counter) & 0xFFFFFFFF) + actor


def new_actor_id(job_id: bytes) -> bytes:
    return os.urandom(12) + job_id


def driver_task_id(job_id: bytes) -> bytes:
    """The task ID of a driver: all ff but the job."""
    return b"\xff" * 8 + NIL_ACTOR_UNIQUE + job_id


def object_id(task_id: bytes, index: int) -> bytes:
    return task_id + _pack_index(index)


ACTOR_HANDLE_PREFIX = b"\x00" * 8


def actor_handle_object_id(actor_id: bytes) -> bytes:
    """The actor's "dummy" object (as Ray's ``ObjectID::ForActorHandle``): never stored, only
    reference-counted.  Every handle that can keep the actor alive holds a ref to it, so the
    owner's borrower protocol tells when the last handle anywhere is gone."""
    return ACTOR_HANDLE_PREFIX + actor_id + _pack_index(1)


def actor_of_handle_object(oid: bytes) -> bytes | None:
    """The actor ID if ``oid`` is an actor's dummy object, else None."""
    if len(oid) == 28 and oid[:8] == ACTOR_HANDLE_PREFIX and oid[24:] == _pack_index(1):
        return oid[8:24]
    return None


def object_index(oid: bytes) -> int:
    return _unpack_index(oid[24:28])[0]


def task_id_of(oid: bytes) -> bytes:
    return oid[:24]


def job_id_of(task_or_object_id: bytes) -> bytes:
    return task_or_object_id[20:24]


def new_worker_id() -> bytes:
    return os.urandom(16)


def new_node_id() -> bytes:
    return os.urandom(16)


# --- Public ID types, under Ray's names (``kernelray.JobID`` ...) ----------------------------


class BaseID:
    """An ID as Ray's Python API shows it: ``hex()``, ``binary()``, ``from_hex()``, ``nil()``."""

    __slots__ = ("_bytes",)
    SIZE = 16

    def __init__(self, id_bytes):
        if isinstance(id_bytes, BaseID):
            id_bytes = id_bytes.binary()
        if not isinstance(id_bytes, bytes):
            raise TypeError(f"Unsupported type: {type(id_bytes)}")
        if len(id_bytes) != self.SIZE:
            raise ValueError(f"ID string needs to have length {self.SIZE}, got {len(id_bytes)}")
        self._bytes = id_bytes

    @classmethod
    def size(cls) -> int:
        return cls.SIZE

    @classmethod
    def from_hex(cls, hex_id: str):
        return cls(bytes.fromhex(hex_id))

    @classmethod
    def from_binary(cls, id_bytes: bytes):
        return cls(id_bytes)

    @classmethod
    def nil(cls):
        return cls(b"\xff" * cls.SIZE)

    def is_nil(self) -> bool:
        return self._bytes == b"\xff" * self.SIZE

    def binary(self) -> bytes:
        return self._bytes

    def hex(self) -> str:
        return self._bytes.hex()

    def __eq__(self, other):
        return type(other) is type(self) and other._bytes == self._bytes

    def __hash__(self):
        return hash(self._bytes)

    def __repr__(self):
        return f"{type(self).__name__}({self.hex()})"

    def __reduce__(self):
        return type(self), (self._bytes,)


class UniqueID(BaseID):
    SIZE = 28


class JobID(BaseID):
    SIZE = 4

    @classmethod
    def from_int(cls, value: int):
        return cls(job_id_bytes(value))

    def int(self) -> int:
        return struct.unpack("<I", self._bytes)[0]


class ActorID(BaseID):
    SIZE = 16

    @classmethod
    def of(cls, job_id: JobID, *_ignored):
        return cls(new_actor_id(job_id.binary()))

    @property
    def job_id(self) -> JobID:
        return JobID(self._bytes[12:])


class TaskID(BaseID):
    SIZE = 24

    def actor_id(self) -> ActorID:
        return ActorID(self._bytes[8:])

    def job_id(self) -> JobID:
        return JobID(self._bytes[20:])


class NodeID(BaseID):
    SIZE = 16


class WorkerID(BaseID):
    SIZE = 16


class FunctionID(BaseID):
    SIZE = 28


class ActorClassID(BaseID):
    SIZE = 28


class PlacementGroupID(BaseID):
    """A placement group's ID (14 bytes here).  Also built from its hex, as kernelray's
    placement-group code passes it around."""

    SIZE = 14

    def __init__(self, id_bytes):
        super().__init__(bytes.fromhex(id_bytes) if isinstance(id_bytes, str) else id_bytes)

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

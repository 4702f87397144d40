"""The in-process store: small objects, results inline, errors; one per process.

Written by the loop thread, read by any thread.  A waiter registers the IDs it lacks
and is woken once enough of them arrive, so a ``get`` of 10,000 refs costs O(n), not
O(n^2) wake-ups.
"""

from __future__ import annotations

import threading
import time

VALUE = "value"
ERROR = "error"


class StoredObject:
    """A serialized value: pickle data and out-of-band buffers (or a raised error)."""

    __slots__ = ("kind", "data", "buffers", "nbytes", "contained")

    def __init__(self, kind: str, data, buffers=(), contained=()):
        self.kind = kind
        self.data = data
        self.buffers = list(buffers)
        self.nbytes = len(data) + sum(memoryview(b).nbytes for b in self.buffers)
        self.contained = contained

    def frames(self) -> list:
        return [self.data, *self.buffers]


class _Waiter:
    __slots__ = ("missing", "needed", "event")

    def __init__(self, missing: set, needed: int):
        self.missing = missing
        self.needed = needed
        self.event = threading.Event()


class MemoryStore:
    def __init__(self):
        self._objects: dict[bytes, StoredObject] = {}
        self._lock = threading.Lock()
        self._waiters: dict[bytes, list[_Waiter]] = {}

    def __contains__(self, oid: bytes) -> bool:
        return oid in self._objects

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, oid: bytes) -> StoredObject | None:
        return self._objects.get(oid)

    def put(self, oid: bytes, obj: StoredObject) -> None:
        with self._lock:
            self._objects[oid] = obj
            waiters = self._waiters.pop(oid, None)
            if waiters:
                for w in waiters:
                    if oid in w.missing:
                        w.missing.discard(oid)
                        w.needed -= 1
                        if w.needed <= 0:
                            w.event.set()

    def delete(self, oid: bytes) -> StoredObject | None:
        with self._lock:
            return self._objects.pop(oid, None)

    def wait(self, oids, num_ready: int, timeout: float | None, poll=None) -> set:
        """Block until ``num_ready`` of ``oids`` are stored; return the stored ones.

        ``poll`` (called about every 50 ms) lets the caller give up early, e.g. on an
        interrupt; ``timeout`` None waits as long as it takes.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            present = {o for o in oids if o in self._objects}
            missing = set(oids) - present
            needed = num_ready - len(present)
            if needed <= 0 or not missing:
                return present
            waiter = _Waiter(missing, needed)
            for o in missing:
                self._waiters.setdefault(o, []).append(waiter)
        try:
            while True:
                step = 0.05 if poll is not None else None
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    step = left if step is None else min(step, left)
                if waiter.event.wait(step):
                    break
                if poll is not None:
                    poll()
        finally:
            with self._lock:
                for o in waiter.missing:
                    lst = self._waiters.get(o)
                    if lst is not None:
                        try:
                            lst.remove(waiter)
                        except ValueError:
                            pass
                        if not lst:
                            del self._waiters[o]
        return {o for o in oids if o in self._objects}

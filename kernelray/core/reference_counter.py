"""Owner-side reference counting (loop thread only).

Every ObjectRef created or dropped in any thread appends ``(+1|-1, oid, owner)`` to the
CoreWorker's ``ref_events`` deque (``__del__`` may run anywhere, even inside the GC, so
it never takes a lock); the loop thread applies them in order.  An entry counts:

* ``local``      Python ObjectRef instances in this process,
* ``submitted``  pending tasks that take the object as an argument,
* ``escaped``    the ref was serialized into a value that left this process; until the
                 borrower protocol lands the owner keeps such objects for its lifetime.

At zero an owned object is freed; a borrowed one drops its cached copy.
"""

from __future__ import annotations

LOCAL_REFERENCE = "LOCAL_REFERENCE"
USED_BY_PENDING_TASK = "USED_BY_PENDING_TASK"
CAPTURED_IN_OBJECT = "CAPTURED_IN_OBJECT"
BORROWED = "BORROWED"


class RefEntry:
    __slots__ = ("local", "submitted", "owned", "owner", "escaped", "held")

    def __init__(self, owned: bool, owner: str):
        self.local = 0
        self.submitted = 0
        self.owned = owned
        self.owner = owner
        self.escaped = False
        self.held = 0  # held by a streaming generator until handed out


class ReferenceCounter:
    def __init__(self, core):
        self.core = core
        self.entries: dict[bytes, RefEntry] = {}
        self._events = core.ref_events

    def drain(self) -> None:
        events = self._events
        entries = self.entries
        me = self.core.address
        while events:
            kind, oid, extra = events.popleft()
            if kind == 1:
                e = entries.get(oid)
                if e is None:
                    e = entries[oid] = RefEntry(extra == me, extra)
                e.local += 1
            elif kind == -1:
                e = entries.get(oid)
                if e is not None:
                    e.local -= 1
                    self._maybe_free(oid, e)
            elif kind == 2:  # escaped
                e = entries.get(oid)
                if e is not None:
                    e.escaped = True
            elif kind == 0:  # a streaming generator was dropped
                self.core.submitter.release_generator(oid, extra)

    def ensure(self, oid: bytes, owner: str) -> RefEntry:
        e = self.entries.get(oid)
        if e is None:
            e = self.entries[oid] = RefEntry(owner == self.core.address, owner)
        return e

    def add_submitted(self, refs) -> None:
        for r in refs:
            self.ensure(r._id, r._owner).submitted += 1

    def remove_submitted(self, refs) -> None:
        for r in refs:
            e = self.entries.get(r._id)
            if e is not None:
                e.submitted -= 1
                self._maybe_free(r._id, e)

    def hold(self, oid: bytes, delta: int) -> None:
        e = self.ensure(oid, self.core.address)
        e.held += delta
        if delta < 0:
            self._maybe_free(oid, e)

    def wanted(self, oid: bytes) -> bool:
        """Does anything still reference this object (is a result worth keeping)?"""
        return oid in self.entries

    def _maybe_free(self, oid: bytes, e: RefEntry) -> None:
        if e.local > 0 or e.submitted > 0 or e.held > 0:
            return
        if e.owned and e.escaped:
            return
        del self.entries[oid]
        self.core.object_freed(oid, e)

    def reference_types(self, e: RefEntry) -> list:
        out = []
        if e.local:
            out.append(LOCAL_REFERENCE)
        if e.submitted:
            out.append(USED_BY_PENDING_TASK)
        if e.escaped:
            out.append(CAPTURED_IN_OBJECT)
        if not e.owned:
            out.append(BORROWED)
        return out

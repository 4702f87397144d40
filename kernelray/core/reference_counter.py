"""Reference counting with ownership and borrowers (loop thread only).

Every ObjectRef created or dropped in any thread appends an event to the CoreWorker's
``ref_events`` deque (``__del__`` may run anywhere, even inside the GC, so it never takes
a lock); the loop thread applies them in order.  An owner's entry counts:

* ``local``      Python ObjectRef instances in this process (including refs held for a
                 pending task's arguments and refs captured inside values it owns),
* ``submitted``  pending tasks that take the object as a top-level argument,
* ``borrowers``  other processes holding refs: a count per borrower address, so a
                 ``borrow_removed`` that overtakes its ``borrow_added`` still balances.

A process that gets a ref it does not own registers with the owner (``borrow_added``)
when its first instance appears and unregisters (``borrow_removed``) when its last one
goes.  Refs a worker picks up while running a task are registered through the task's
reply instead, which the owner handles before it lets go of the task's arguments, so a
ref is never unprotected while in flight.  At zero an owned object is freed everywhere;
a borrower just drops its cached copy.
"""

from __future__ import annotations

LOCAL_REFERENCE = "LOCAL_REFERENCE"
USED_BY_PENDING_TASK = "USED_BY_PENDING_TASK"
CAPTURED_IN_OBJECT = "CAPTURED_IN_OBJECT"
BORROWED = "BORROWED"
PINNED_IN_MEMORY = "PINNED_IN_MEMORY"

# event kinds in ref_events
REF_ADDED = 1  # (1, oid, owner)
REF_ADDED_IN_TASK = 3  # (3, oid, (owner, task_id)): created while a worker ran that task
REF_DROPPED = -1  # (-1, oid, None)
REF_ESCAPED = 2  # (2, oid, None): left in a way nothing tracks (kept for the owner's lifetime)
GENERATOR_DROPPED = 0  # (0, task_id, GeneratorState)


class RefEntry:
    __slots__ = ("local", "submitted", "owned", "owner", "escaped", "held", "borrowers", "registered",
                 "first_task", "call_site", "captured")

    def __init__(self, owned: bool, owner: str):
        self.local = 0
        self.submitted = 0
        self.owned = owned
        self.owner = owner
        self.escaped = False
        self.held = 0  # held by a streaming generator until handed out
        self.borrowers: dict[str, int] | None = None
        self.registered = False  # (borrowed refs) the owner knows we hold it
        self.first_task = None  # (borrowed refs) the task during which we first got it
        self.call_site = ""
        self.captured = 0  # (owned) instances held because a value we own contains it


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
            if kind == REF_ADDED or kind == REF_ADDED_IN_TASK:
                owner, task = (extra, None) if kind == REF_ADDED else extra
                e = entries.get(oid)
                if e is None:
                    e = entries[oid] = RefEntry(owner == me, owner)
                    if not e.owned:
                        if task is None:
                            self._register(oid, e)
                        else:
                            e.first_task = task
                e.local += 1
            elif kind == REF_DROPPED:
                e = entries.get(oid)
                if e is not None:
                    e.local -= 1
                    self._maybe_free(oid, e)
            elif kind == REF_ESCAPED:
                e = entries.get(oid)
                if e is not None:
                    e.escaped = True
            elif kind == GENERATOR_DROPPED:
                self.core.submitter.release_generator(oid, extra)

    def _register(self, oid: bytes, e: RefEntry) -> None:
        e.registered = True
        self.core.send_borrow("borrow_added", oid, e.owner, self.core.address)

    def ensure(self, oid: bytes, owner: str) -> RefEntry:
        e = self.entries.get(oid)
        if e is None:
            e = self.entries[oid] = RefEntry(owner == self.core.address, owner)
        return e

    # -- pending tasks -------------------------------------------------------------------
    def add_submitted(self, refs) -> None:
        for r in refs:
            self.ensure(r._id, r._owner).submitted += 1

    def remove_submitted(self, refs) -> None:
        for r in refs:
            e = self.entries.get(r._id)
            if e is not None:
                e.submitted -= 1
                self._maybe_free(r._id, e)

    # -- borrowers (owner side) ------------------------------------------------------------
    def borrower_delta(self, oid: bytes, borrower: str, delta: int) -> bool:
        e = self.entries.get(oid)
        if e is None or not e.owned:
            return False
        if e.borrowers is None:
            e.borrowers = {}
        n = e.borrowers.get(borrower, 0) + delta
        if n:
            e.borrowers[borrower] = n
        else:
            e.borrowers.pop(borrower, None)
        if delta < 0:
            self._maybe_free(oid, e)
        return True

    def borrower_gone(self, address: str) -> None:
        for oid, e in list(self.entries.items()):
            if e.borrowers and address in e.borrowers:
                e.borrowers.pop(address)
                self._maybe_free(oid, e)

    # -- borrowed refs picked up during a task (worker side) --------------------------------
    def borrowed_during(self, task_id: bytes) -> list:
        """Refs first got while ``task_id`` ran and still held: registered via the task's reply."""
        out = []
        for oid, e in self.entries.items():
            if e.first_task == task_id:
                e.first_task = None
                if e.local > 0:
                    e.registered = True
                    out.append([oid.hex(), e.owner])
        return out

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
        if e.borrowers:
            return
        if e.owned and e.escaped:
            return
        del self.entries[oid]
        if not e.owned and e.registered:
            self.core.send_borrow("borrow_removed", oid, e.owner, self.core.address)
        self.core.object_freed(oid, e)

    def reference_types(self, e: RefEntry) -> list:
        out = []
        if e.local > e.captured:
            out.append(LOCAL_REFERENCE)
        if e.submitted:
            out.append(USED_BY_PENDING_TASK)
        if e.captured or e.escaped:
            out.append(CAPTURED_IN_OBJECT)
        if not e.owned:
            out.append(BORROWED)
        return out

"""The object table of one node's store: create, seal, get (pin), release, free, spill.

No sockets here: the raylet turns messages into calls and sends what comes back.
Copies are *primary* (the one an owner made; kept until the owner frees it, spilled to
disk under pressure) or *restored* (read back from a spill file; evictable at once, the
file still holds the object).  Reader pins (zero-copy views alive in some process) keep
a copy in memory; nothing pinned is ever spilled or evicted.
"""

from __future__ import annotations

import time

from .allocator import Allocator
from .spill import SpillFiles

CREATED, SEALED = "CREATED", "SEALED"


class StoreEntry:
    __slots__ = ("oid", "offset", "size", "layout", "owner", "state", "pins", "freed", "spilled",
                 "in_memory", "last_access", "waiters", "created", "secondary", "copies")

    def __init__(self, oid, offset, size, layout, owner):
        self.oid = oid
        self.offset = offset
        self.size = size
        self.layout = layout
        self.owner = owner
        self.state = CREATED
        self.pins: dict[str, int] = {}
        self.freed = False
        self.spilled = None  # (path, offset, length) once written to disk
        self.in_memory = True
        self.last_access = time.monotonic()
        self.waiters: list = []
        self.created = time.time()
        self.secondary = False  # a copy pulled from another node: evicted first, never spilled
        self.copies: set = set()  # (primary) raylets that pulled a copy: told when it is freed

    @property
    def pinned(self) -> bool:
        return self.state == CREATED or bool(self.pins)

    def info(self) -> dict:
        return {"object_id": self.oid, "offset": self.offset, "size": self.size, "layout": self.layout}


class StoreFull(Exception):
    pass


class ObjectStore:
    def __init__(self, arena, spill_dir: str):
        self.arena = arena
        self.alloc = Allocator(arena.size)
        self.entries: dict[str, StoreEntry] = {}
        self.spill = SpillFiles(spill_dir)
        self.num_spilled = 0
        self.num_restored = 0
        self.num_evicted = 0

    # -- creating --------------------------------------------------------------------
    def create(self, oid: str, size: int, layout, owner: str) -> StoreEntry:
        existing = self.entries.get(oid)
        if existing is not None:  # a retried task made it again: keep the first copy
            return existing
        offset = self._allocate(size)
        entry = StoreEntry(oid, offset, size, layout, owner)
        self.entries[oid] = entry
        return entry

    def seal(self, oid: str) -> list:
        entry = self.entries.get(oid)
        if entry is None or entry.state == SEALED:
            return []
        entry.state = SEALED
        waiters, entry.waiters = entry.waiters, []
        return waiters

    def abort(self, oid: str) -> None:
        entry = self.entries.pop(oid, None)
        if entry is not None and entry.in_memory:
            self.alloc.free(entry.offset)

    # -- reading -----------------------------------------------------------------------
    def pin(self, oid: str, client: str) -> StoreEntry:
        """Pin a sealed copy in memory for ``client`` (restoring it from disk if needed)."""
        entry = self.entries[oid]
        if not entry.in_memory:
            self._restore(entry)
        entry.pins[client] = entry.pins.get(client, 0) + 1
        entry.last_access = time.monotonic()
        return entry

    def release(self, oid: str, client: str) -> None:
        entry = self.entries.get(oid)
        if entry is None:
            return
        n = entry.pins.get(client, 0) - 1
        if n > 0:
            entry.pins[client] = n
        else:
            entry.pins.pop(client, None)
        if entry.freed and not entry.pins:
            self._delete(entry)

    # -- freeing -----------------------------------------------------------------------
    def free(self, oid: str) -> None:
        """The owner dropped its last reference: delete once no reader pins the copy."""
        entry = self.entries.get(oid)
        if entry is None:
            return
        entry.freed = True
        if not entry.pins:
            self._delete(entry)

    def client_gone(self, client: str) -> None:
        for entry in list(self.entries.values()):
            if client in entry.pins:
                entry.pins.pop(client)
                if entry.freed and not entry.pins:
                    self._delete(entry)

    def owner_gone(self, owner: str) -> list:
        gone = [e for e in self.entries.values() if e.owner == owner]
        for entry in gone:
            self.free(entry.oid)
        return [e.oid for e in gone]

    def _delete(self, entry: StoreEntry) -> None:
        self.entries.pop(entry.oid, None)
        if entry.in_memory:
            self.alloc.free(entry.offset)
            entry.in_memory = False
        if entry.spilled is not None:
            self.spill.release(entry.spilled)
            entry.spilled = None
        waiters, entry.waiters = entry.waiters, []
        for waiter in waiters:  # readers waiting for a seal that will never come: they get an error
            waiter()

    # -- memory pressure ----------------------------------------------------------------
    def _allocate(self, size: int) -> int:
        offset = self.alloc.alloc(size)
        if offset is not None:
            return offset
        if size > self.arena.size:
            raise StoreFull(f"an object of {size / 2**20:.1f} MiB is larger than the whole store "
                            f"({self.arena.size / 2**20:.1f} MiB)")
        self._make_room(size)
        offset = self.alloc.alloc(size)
        if offset is None:
            raise StoreFull(self._full_message(size))
        return offset

    def _make_room(self, size: int) -> None:
        """Evict restored copies, then spill primary copies, least recently used first."""
        candidates = sorted(
            (e for e in self.entries.values() if e.in_memory and e.state == SEALED and not e.pins),
            key=lambda e: e.last_access,
        )
        for entry in [e for e in candidates if e.secondary]:  # copies of other nodes' objects go first
            if self.alloc.largest_free() >= size:
                return
            self._delete(entry)
            self.num_evicted += 1
        candidates = [e for e in candidates if not e.secondary]
        restored = [e for e in candidates if e.spilled is not None]
        for entry in restored:
            if self.alloc.largest_free() >= size:
                return
            self._drop_memory_copy(entry)
            self.num_evicted += 1
        batch = []
        freed = 0
        for entry in candidates:
            if entry.spilled is not None or not entry.in_memory:
                continue
            if self.alloc.largest_free() + freed >= size and batch:
                break
            batch.append(entry)
            freed += entry.size
        if batch:
            self._spill(batch)

    def _spill(self, batch: list) -> None:
        view = self.arena.view
        locations = self.spill.write([view[e.offset : e.offset + e.size] for e in batch])
        for entry, loc in zip(batch, locations):
            entry.spilled = loc
            self._drop_memory_copy(entry)
            self.num_spilled += 1

    def _drop_memory_copy(self, entry: StoreEntry) -> None:
        self.alloc.free(entry.offset)
        entry.in_memory = False
        entry.offset = -1

    def _restore(self, entry: StoreEntry) -> None:
        offset = self._allocate(entry.size)
        self.spill.read_into(entry.spilled, self.arena.view[offset : offset + entry.size])
        entry.offset = offset
        entry.in_memory = True
        self.num_restored += 1

    def _full_message(self, size: int) -> str:
        pinned = [e for e in self.entries.values() if e.in_memory and e.pinned]
        pinned_bytes = sum(e.size for e in pinned)
        return (
            f"The object store is full: {size / 2**20:.1f} MiB were requested, "
            f"{self.alloc.free_bytes / 2**20:.1f} MiB of {self.arena.size / 2**20:.1f} MiB are free "
            f"(largest free block {self.alloc.largest_free() / 2**20:.1f} MiB), and "
            f"{len(pinned)} objects ({pinned_bytes / 2**20:.1f} MiB) are pinned by live references "
            "(values returned by get() that are still in use), so nothing more can be spilled. "
            "Run `kernelray memory` to see which references hold them, drop the ones you no longer need, "
            "or start the cluster with a larger object_store_memory."
        )

    # -- stats -------------------------------------------------------------------------
    def stats(self) -> dict:
        in_mem = [e for e in self.entries.values() if e.in_memory]
        secondary = sum(e.size for e in in_mem if e.secondary)
        spilled = [e for e in self.entries.values() if e.spilled is not None and not e.in_memory]
        return {
            "primary_bytes": sum(e.size for e in in_mem) - secondary,  # copies this node's owners made
            "secondary_bytes": secondary,  # copies pulled from other nodes (evicted first, never spilled)
            "spilled_bytes_now": sum(e.size for e in spilled),  # on disk only
            "capacity": self.arena.size,
            "used": self.alloc.used,
            "num_objects": len(self.entries),
            "num_in_memory": len(in_mem),
            "num_spilled_now": len(spilled),
            "spilled_bytes_total": self.spill.spilled_bytes,
            "restored_bytes_total": self.spill.restored_bytes,
            "num_spilled_total": self.num_spilled,
            "num_restored_total": self.num_restored,
            "spill_files": len(self.spill.files()),
        }

    def table(self) -> list:
        return [
            {
                "object_id": e.oid,
                "size": e.size,
                "owner": e.owner,
                "state": e.state,
                "pinned_by_readers": sum(e.pins.values()),
                "in_memory": e.in_memory,
                "spilled": e.spilled is not None,
                "freed": e.freed,
            }
            for e in self.entries.values()
        ]

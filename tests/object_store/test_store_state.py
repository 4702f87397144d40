"""The store's pure parts, no processes: allocator, pins, spilling and eviction decisions."""

from __future__ import annotations

import mmap

import pytest

from kernelray.object_store.allocator import ALIGN, Allocator
from kernelray.object_store.store import ObjectStore, StoreFull


class FakeArena:
    def __init__(self, size):
        self.size = size
        self.mm = mmap.mmap(-1, size)
        self.view = memoryview(self.mm)


def test_allocator_first_fit_coalesces():
    a = Allocator(1024)
    x, y, z = a.alloc(100), a.alloc(100), a.alloc(100)
    assert (x, y, z) == (0, 128, 256) and a.used == 3 * 128
    a.free(y)
    assert a.alloc(64) == 128  # reuses the hole
    a.free(128)
    a.free(x)
    a.free(z)
    assert a.used == 0 and a.largest_free() == 1024  # all neighbours merged back
    assert a.alloc(2048) is None
    assert all(off % ALIGN == 0 for off in (a.alloc(1), a.alloc(65)))


def make(store, oid, size, fill=b"x"):
    e = store.create(oid, size, [[0, size]], owner="o")
    store.arena.view[e.offset : e.offset + size] = fill * size
    store.seal(oid)
    return e


def test_spills_unpinned_primaries_and_restores(tmp_path):
    store = ObjectStore(FakeArena(4096), str(tmp_path))
    make(store, "a", 2000, b"a")
    make(store, "b", 2000, b"b")
    make(store, "c", 2000, b"c")  # no room: the least recently used copy is spilled
    assert not store.entries["a"].in_memory and store.entries["a"].spilled is not None
    assert store.stats()["spill_files"] == 1
    store.pin("a", "reader")  # restore: something else goes to disk
    e = store.entries["a"]
    assert e.in_memory and bytes(store.arena.view[e.offset : e.offset + 2000]) == b"a" * 2000
    store.release("a", "reader")
    for oid in "abc":
        store.free(oid)
    assert store.alloc.used == 0 and store.stats()["spill_files"] == 0 and not list(tmp_path.glob("*/*"))


def test_pinned_objects_are_never_spilled(tmp_path):
    store = ObjectStore(FakeArena(4096), str(tmp_path))
    make(store, "a", 2000)
    make(store, "b", 2000)
    store.pin("a", "r1")
    store.pin("b", "r2")
    with pytest.raises(StoreFull, match="kernelray memory"):
        store.create("c", 2000, None, owner="o")
    store.free("a")  # freed by its owner but still pinned by a reader: kept until released
    assert "a" in store.entries
    store.release("a", "r1")
    assert "a" not in store.entries
    store.create("c", 2000, None, owner="o")


def test_secondary_copies_go_first_and_dead_clients_release(tmp_path):
    store = ObjectStore(FakeArena(4096), str(tmp_path))
    make(store, "primary", 2000)
    copy = make(store, "copy", 2000)
    copy.secondary = True
    store.pin("primary", "gone")
    store.create("new", 2000, None, owner="o")
    assert "copy" not in store.entries and store.entries["primary"].in_memory  # evicted, not spilled
    store.free("primary")
    store.client_gone("gone")
    assert "primary" not in store.entries


def test_unsealed_object_of_a_dead_writer_wakes_its_readers(tmp_path):
    store = ObjectStore(FakeArena(4096), str(tmp_path))
    store.create("half", 1000, None, owner="w")
    woken = []
    store.entries["half"].waiters.append(lambda: woken.append(1))
    assert store.owner_gone("w") == ["half"]
    assert woken == [1] and store.alloc.used == 0

"""First-fit allocation over one arena, with coalescing of neighbours on free (pure)."""

from __future__ import annotations

import bisect

ALIGN = 64


def align(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


class Allocator:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._starts: list[int] = [0]  # free blocks, sorted by offset
        self._sizes: dict[int, int] = {0: capacity}
        self.allocated: dict[int, int] = {}
        self.used = 0

    def alloc(self, nbytes: int) -> int | None:
        size = align(max(nbytes, 1))
        for i, start in enumerate(self._starts):
            free = self._sizes[start]
            if free >= size:
                del self._sizes[start]
                self._starts.pop(i)
                if free > size:
                    rest = start + size
                    bisect.insort(self._starts, rest)
                    self._sizes[rest] = free - size
                self.allocated[start] = size
                self.used += size
                return start
        return None

    def free(self, offset: int) -> None:
        size = self.allocated.pop(offset)
        self.used -= size
        i = bisect.bisect_left(self._starts, offset)
        # merge with the next free block
        if i < len(self._starts) and self._starts[i] == offset + size:
            nxt = self._starts.pop(i)
            size += self._sizes.pop(nxt)
        # merge with the previous free block
        if i > 0:
            prev = self._starts[i - 1]
            if prev + self._sizes[prev] == offset:
                self._sizes[prev] += size
                return
        self._starts.insert(i, offset)
        self._sizes[offset] = size

    def largest_free(self) -> int:
        return max(self._sizes.values(), default=0)

    @property
    def free_bytes(self) -> int:
        return self.capacity - self.used

"""Fused spill files: objects are appended to one file until it passes 100 MB (the seeds'
rule), and a file is deleted once every object in it has been freed."""

from __future__ import annotations

import os

FILE_TARGET = 100 * 1024 * 1024


class SpillFiles:
    def __init__(self, directory: str):
        self.directory = directory
        self._current: str | None = None
        self._current_size = 0
        self._live: dict[str, int] = {}
        self._n = 0
        self.spilled_bytes = 0
        self.restored_bytes = 0

    def write(self, chunks: list) -> list:
        """Append each memoryview in ``chunks``; returns [(path, offset, length)]."""
        os.makedirs(self.directory, exist_ok=True)
        out = []
        if self._current is None or self._current_size >= FILE_TARGET:
            self._n += 1
            self._current = os.path.join(self.directory, f"spill-{os.getpid()}-{self._n}.bin")
            self._current_size = 0
            self._live[self._current] = 0
        with open(self._current, "ab") as f:
            for chunk in chunks:
                offset = f.tell()
                f.write(chunk)
                out.append((self._current, offset, len(chunk)))
                self._live[self._current] += 1
                self.spilled_bytes += len(chunk)
        self._current_size = os.path.getsize(self._current)
        return out

    def read_into(self, location: tuple, target: memoryview) -> None:
        path, offset, length = location
        with open(path, "rb") as f:
            f.seek(offset)
            n = f.readinto(target[:length])
        if n != length:
            raise OSError(f"spill file {path} is short: read {n} of {length} bytes")
        self.restored_bytes += length

    def release(self, location: tuple) -> None:
        path = location[0]
        left = self._live.get(path, 0) - 1
        if left > 0:
            self._live[path] = left
            return
        self._live.pop(path, None)
        if path == self._current:
            self._current = None
        try:
            os.unlink(path)
        except OSError:
            pass

    def files(self) -> list:
        return list(self._live)

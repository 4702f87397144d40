"""The node's shared-memory arena: one file in /dev/shm, unlinked as soon as it is open.

The raylet creates it before it forks the worker factory, so every worker inherits the
mapping.  Other processes on the node (drivers) open ``/proc/<raylet pid>/fd/<fd>``.  No
name stays in /dev/shm, so a killed node can never leak shared memory.
"""

from __future__ import annotations

import mmap
import os

SHM_DIR = "/dev/shm"


class ArenaTooBig(RuntimeError):
    pass


def default_size(total_memory: float) -> int:
    """30 % of RAM, capped by what /dev/shm can hold (leaving 10 % of it free)."""
    want = int(total_memory * 0.3)
    try:
        st = os.statvfs(SHM_DIR)
        room = int(st.f_bavail * st.f_frsize * 0.9)
    except OSError:
        return want
    return max(min(want, room), 64 * 1024 * 1024) if room > 64 * 1024 * 1024 else min(want, room)


def check_room(size: int) -> None:
    try:
        st = os.statvfs(SHM_DIR)
    except OSError:
        return
    room = st.f_bavail * st.f_frsize
    if size > room:
        raise ArenaTooBig(
            f"The object store needs {size / 2**20:.0f} MiB of shared memory but {SHM_DIR} has only "
            f"{room / 2**20:.0f} MiB free. Pass a smaller object_store_memory to init() or `kernelray start`, "
            f"or give the machine more shared memory (in Docker: `docker run --shm-size={max(1, size // 2**30 + 1)}g ...`)."
        )


class Arena:
    def __init__(self, fd: int, size: int, owner_pid: int):
        self.fd = fd
        self.size = size
        self.owner_pid = owner_pid
        self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.mm)

    @classmethod
    def create(cls, size: int, tag: str) -> "Arena":
        check_room(size)
        path = os.path.join(SHM_DIR, f"kernelray-{tag}-{os.getpid()}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size)
        finally:
            os.unlink(path)
        return cls(fd, size, os.getpid())

    @classmethod
    def attach(cls, owner_pid: int, fd: int, size: int) -> "Arena":
        path = f"/proc/{owner_pid}/fd/{fd}"
        try:
            my_fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise RuntimeError(f"cannot open the node's object store ({path}): {exc}") from exc
        return cls(my_fd, size, owner_pid)

    def describe(self) -> dict:
        return {"pid": self.owner_pid, "fd": self.fd, "size": self.size}


# Set in the raylet before the worker factory forks: workers use the inherited mapping.
inherited: Arena | None = None

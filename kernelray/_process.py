"""Process hygiene: titles, dying with the parent, the session tag, ready lines.

Every process kernelray starts carries ``KERNELRAY_SESSION`` in its environment and a
``kernelray::<role>`` title, asks the kernel to kill it when its parent dies
(``PR_SET_PDEATHSIG``), and also checks its parent pid from its loop, so a SIGKILLed
driver or kernel leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

READY_PREFIX = "KERNELRAY_READY "
PR_SET_PDEATHSIG = 1

# Keep /proc/<pid>/environ readable (KERNELRAY_SESSION is how leftovers are found):
# by default setproctitle grows the title over the environment block.
os.environ.setdefault("SPT_NOENV", "1")

try:
    from setproctitle import setproctitle as _setproctitle
except ImportError:  # pragma: no cover - setproctitle is a dependency; keep working without it
    _setproctitle = None


def set_title(title: str) -> None:
    if _setproctitle is not None:
        _setproctitle(title)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent thread exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


class ParentWatch:
    """Exit when the parent is gone (the pdeathsig fallback, checked from a timer)."""

    def __init__(self, parent_pid: int | None):
        self.parent_pid = parent_pid

    def alive(self) -> bool:
        if not self.parent_pid:
            return True
        return os.getppid() == self.parent_pid

    def check(self, on_gone=None) -> None:
        if not self.alive():
            if on_gone is not None:
                on_gone()
            os._exit(0)


def announce_ready(info: dict) -> None:
    """Tell the spawner we are up (one line on the original stdout), then detach stdout."""
    sys.stdout.write(READY_PREFIX + json.dumps(info) + "\n")
    sys.stdout.flush()


def redirect_std_streams(log_path: str) -> None:
    """Point fds 1 and 2 at ``log_path`` (after the ready line went out)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
